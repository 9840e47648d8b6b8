//! A cache in front of any registry.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tower_hmac_core::{Clock, KeyRecord, KeyRegistry, RegistryError, StoreFuture, SystemClock};

/// A cache in front of any [`KeyRegistry`] (one over a database, a secrets manager): found keys
/// are kept for `positive_ttl`, unknown key ids for `negative_ttl`, at most `capacity` entries;
/// concurrent misses of one key id make **one** backend lookup; when the backend fails, a key
/// found within `max_stale` keeps working and anything else is `key_store_unavailable` (`503`
/// with `Retry-After`), never `unknown_key`.
///
/// ```
/// use std::time::Duration;
/// use tower_hmac::InMemoryRegistry;
/// use tower_hmac::registry::CachingRegistry;
///
/// let database = InMemoryRegistry::new(); // stands for a registry over a database
/// let cached = CachingRegistry::builder(database)
///     .positive_ttl(Duration::from_secs(30))
///     .negative_ttl(Duration::from_secs(5))
///     .max_stale(Duration::from_secs(600))
///     .capacity(10_000)
///     .build();
/// cached.invalidate("partner-2026-11"); // after revoking it in the database
/// ```
pub struct CachingRegistry<R> {
    inner: Arc<Inner<R>>,
}

impl<R> Clone for CachingRegistry<R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<R> {
    backend: R,
    settings: Settings,
    entries: Mutex<HashMap<Box<str>, Entry>>,
    /// One lock per key id being fetched: the first miss fetches, the others wait and read the
    /// cache.
    inflight: Mutex<HashMap<Box<str>, Arc<tokio::sync::Mutex<()>>>>,
}

struct Settings {
    positive_ttl: Duration,
    negative_ttl: Duration,
    max_stale: Duration,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

#[derive(Clone)]
struct Entry {
    record: Option<KeyRecord>,
    fetched: SystemTime,
}

/// Configures a [`CachingRegistry`].
pub struct CachingRegistryBuilder<R> {
    backend: R,
    settings: Settings,
}

impl<R: KeyRegistry> CachingRegistryBuilder<R> {
    /// How long a found key is served from the cache (30 s by default; a revocation elsewhere
    /// takes this long to be seen, unless [`invalidate`](CachingRegistry::invalidate)d).
    pub fn positive_ttl(mut self, ttl: Duration) -> Self {
        self.settings.positive_ttl = ttl;
        self
    }

    /// How long an unknown key id is answered from the cache (5 s by default: a new key takes
    /// this long to be seen).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.settings.negative_ttl = ttl;
        self
    }

    /// How long after it was fetched a found key keeps working while the backend fails
    /// (10 minutes by default).
    pub fn max_stale(mut self, max: Duration) -> Self {
        self.settings.max_stale = max;
        self
    }

    /// The most entries kept (100,000 by default; expired entries go first when it is reached,
    /// then, at worst, all).
    pub fn capacity(mut self, entries: usize) -> Self {
        self.settings.capacity = entries.max(1);
        self
    }

    /// The clock of the TTLs (tests set time instead of sleeping).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.settings.clock = Arc::new(clock);
        self
    }

    /// The cache.
    pub fn build(self) -> CachingRegistry<R> {
        CachingRegistry {
            inner: Arc::new(Inner {
                backend: self.backend,
                settings: self.settings,
                entries: Mutex::new(HashMap::new()),
                inflight: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl<R: fmt::Debug> fmt::Debug for CachingRegistryBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingRegistryBuilder")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl<R: KeyRegistry> CachingRegistry<R> {
    /// A cache with the defaults: found keys for 30 s, unknown ids for 5 s, up to 10 minutes
    /// stale while the backend fails, 100,000 entries.
    pub fn new(backend: R) -> Self {
        Self::builder(backend).build()
    }

    /// A cache to configure.
    pub fn builder(backend: R) -> CachingRegistryBuilder<R> {
        CachingRegistryBuilder {
            backend,
            settings: Settings {
                positive_ttl: Duration::from_secs(30),
                negative_ttl: Duration::from_secs(5),
                max_stale: Duration::from_secs(600),
                capacity: 100_000,
                clock: Arc::new(SystemClock),
            },
        }
    }

    /// Forgets `key_id`: its next lookup asks the backend.
    pub fn invalidate(&self, key_id: &str) {
        self.inner.entries().remove(key_id);
    }

    /// Forgets every key.
    pub fn invalidate_all(&self) {
        self.inner.entries().clear();
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.inner.entries().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The backend.
    pub fn backend(&self) -> &R {
        &self.inner.backend
    }
}

impl<R> Inner<R> {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached answer when it is fresh.
    fn fresh(&self, key_id: &str, now: SystemTime) -> Option<Option<KeyRecord>> {
        let entries = self.entries();
        let entry = entries.get(key_id)?;
        let ttl = if entry.record.is_some() {
            self.settings.positive_ttl
        } else {
            self.settings.negative_ttl
        };
        let age = now.duration_since(entry.fetched).unwrap_or_default();
        (age < ttl).then(|| entry.record.clone())
    }

    /// A found key fetched within `max_stale`, for when the backend fails.
    fn stale(&self, key_id: &str, now: SystemTime) -> Option<KeyRecord> {
        let entries = self.entries();
        let entry = entries.get(key_id)?;
        let age = now.duration_since(entry.fetched).unwrap_or_default();
        entry
            .record
            .clone()
            .filter(|_| age <= self.settings.max_stale)
    }

    fn store(&self, key_id: &str, record: Option<KeyRecord>, now: SystemTime) {
        let mut entries = self.entries();
        if entries.len() >= self.settings.capacity && !entries.contains_key(key_id) {
            let keep = self.settings.positive_ttl.max(self.settings.max_stale);
            entries.retain(|_, e| now.duration_since(e.fetched).unwrap_or_default() < keep);
            if entries.len() >= self.settings.capacity {
                entries.clear();
            }
        }
        entries.insert(
            key_id.into(),
            Entry {
                record,
                fetched: now,
            },
        );
    }

    fn flight(&self, key_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(inflight.entry(key_id.into()).or_default())
    }

    fn land(&self, key_id: &str) {
        let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        // Only when no one else holds it: a waiter still needs the same lock.
        if inflight
            .get(key_id)
            .is_some_and(|f| Arc::strong_count(f) == 1)
        {
            inflight.remove(key_id);
        }
    }
}

impl<R: KeyRegistry> KeyRegistry for CachingRegistry<R> {
    fn lookup(&self, key_id: &str) -> StoreFuture<Result<Option<KeyRecord>, RegistryError>> {
        let now = self.inner.settings.clock.now();
        if let Some(answer) = self.inner.fresh(key_id, now) {
            count("hit");
            return StoreFuture::ready(Ok(answer));
        }
        let inner = Arc::clone(&self.inner);
        let key_id: Box<str> = key_id.into();
        StoreFuture::new(async move {
            let flight = inner.flight(&key_id);
            let result = {
                let _turn = flight.lock().await;
                let now = inner.settings.clock.now();
                // Fetched by the miss we waited for.
                if let Some(answer) = inner.fresh(&key_id, now) {
                    count("hit");
                    Ok(answer)
                } else {
                    match inner.backend.lookup(&key_id).await {
                        Ok(found) => {
                            count("miss");
                            inner.store(&key_id, found.clone(), now);
                            Ok(found)
                        }
                        Err(e) => match inner.stale(&key_id, now) {
                            Some(record) => {
                                count("stale");
                                tracing::warn!(
                                    target: "tower_hmac::registry",
                                    key_id = %key_id,
                                    "key registry unavailable, serving a cached key: {e}"
                                );
                                Ok(Some(record))
                            }
                            None => {
                                count("error");
                                Err(e)
                            }
                        },
                    }
                }
            };
            drop(flight);
            inner.land(&key_id);
            result
        })
    }
}

/// Counts a lookup by how it was answered (`metrics` feature): `hit` (from the cache), `miss`
/// (from the backend), `stale` (a cached key while the backend fails), `error`.
fn count(result: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("tower_hmac_registry_lookups_total", "result" => result).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

impl<R: fmt::Debug> fmt::Debug for CachingRegistry<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner.settings;
        f.debug_struct("CachingRegistry")
            .field("backend", &self.inner.backend)
            .field("positive_ttl", &s.positive_ttl)
            .field("negative_ttl", &s.negative_ttl)
            .field("max_stale", &s.max_stale)
            .field("capacity", &s.capacity)
            .field("entries", &self.inner.entries().len())
            .finish()
    }
}
