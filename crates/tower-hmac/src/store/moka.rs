use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use tower_hmac_core::{
    NonceOutcome, NonceStore, NonceStoreError, NonceStoreErrorKind, StoreFuture,
};

use crate::error::ConfigError;

/// An in-process replay store on [moka](https://docs.rs/moka).
///
/// - **Atomic**: one `entry().or_insert_with()` per request, so of two concurrent requests with
///   one nonce exactly one is fresh.
/// - **Never forgets early**: moka is given no size bound (a size-bounded cache evicts live
///   nonces, and an evicted nonce is a replayable request); each entry lives for exactly the TTL
///   the layer computes.
/// - **Bounded, failing closed**: the store counts its live nonces itself and, at capacity,
///   refuses new ones with [`NonceStoreErrorKind::CapacityExceeded`] (`503`) until old ones expire.
///
/// It protects one process. Several instances behind a load balancer need a shared store.
#[derive(Clone)]
pub struct MokaNonceStore {
    cache: Cache<Box<str>, Duration>,
    live: Arc<AtomicU64>,
    capacity: u64,
}

struct PerEntryTtl;

impl Expiry<Box<str>, Duration> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &Box<str>,
        ttl: &Duration,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(*ttl)
    }
}

impl MokaNonceStore {
    /// The default capacity: one million live nonces (enough for about 1,600 requests per second
    /// with the default 300 s skew; size it as requests per second × (2 × skew + 1 s)).
    pub const DEFAULT_CAPACITY: u64 = 1_000_000;

    /// A store that holds at most `capacity` live nonces.
    pub fn new(capacity: u64) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        let live = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&live);
        let cache = Cache::builder()
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_key, _ttl, _cause| {
                counter.fetch_sub(1, Ordering::AcqRel);
            })
            .build();
        Ok(Self {
            cache,
            live,
            capacity,
        })
    }

    /// The configured capacity.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// How many nonces are counted as live (expired ones count until moka's housekeeping
    /// removes them).
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::Acquire)
    }

    fn reserve(&self) -> bool {
        if self.live.fetch_add(1, Ordering::AcqRel) < self.capacity {
            return true;
        }
        self.live.fetch_sub(1, Ordering::AcqRel);
        false
    }

    fn insert(
        &self,
        key_id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> Result<NonceOutcome, NonceStoreError> {
        let mut key = String::with_capacity(key_id.len() + 1 + nonce.len());
        key.push_str(key_id);
        key.push('\n');
        key.push_str(nonce);
        if !self.reserve() {
            // Expired entries may still be counted: let moka remove them, then try once more.
            self.cache.run_pending_tasks();
            if !self.reserve() {
                // Full. Nothing is inserted, so this read only picks the more precise answer: a
                // replay of a recorded nonce is still reported as a replay.
                if self.cache.contains_key(key.as_str()) {
                    return Ok(NonceOutcome::Replayed);
                }
                return Err(NonceStoreError::new(NonceStoreErrorKind::CapacityExceeded)
                    .with_retry_after(Duration::from_secs(1)));
            }
        }
        let entry = self
            .cache
            .entry(key.into_boxed_str())
            .or_insert_with(|| ttl);
        if entry.is_fresh() {
            Ok(NonceOutcome::Fresh)
        } else {
            self.live.fetch_sub(1, Ordering::AcqRel);
            Ok(NonceOutcome::Replayed)
        }
    }
}

impl NonceStore for MokaNonceStore {
    fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>> {
        StoreFuture::ready(self.insert(key_id, nonce, ttl))
    }
}

impl fmt::Debug for MokaNonceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MokaNonceStore")
            .field("capacity", &self.capacity)
            .field("live", &self.live())
            .finish()
    }
}
