//! The registry an instance serves from: the keys in memory, kept in step with the database by
//! `LISTEN`/`NOTIFY` and a periodic full refresh, every change applied in order ([`cache`]).

mod cache;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Semaphore;
use tower_hmac_core::{KeyRecord, KeyRegistry, RegistryError, StoreFuture};

use self::cache::{Cache, Held, Ticket};
use crate::db::{Version, pool, read_key, read_snapshot};
use crate::{CHANNEL, Keyring, PostgresError, RegistryOptions, TRACING_TARGET};

/// The keys of an instance, kept in step with the database.
///
/// A key held is answered from memory. An id not held is looked up in the database (within
/// [`RegistryOptions::lookup_timeout`]): unknown only if the database says so, the registry's
/// error (`503 key_store_unavailable`) when it cannot be asked — from the first request of an
/// outage on.
#[derive(Clone)]
pub struct PostgresRegistry {
    shared: Arc<Shared>,
}

struct Shared {
    pool: PgPool,
    keyring: Keyring,
    options: RegistryOptions,
    keys: RwLock<Cache>,
    /// The slots of lookups of ids not held.
    lookups: Semaphore,
    /// Milliseconds since `started` of the last successful full refresh.
    last_ok: AtomicU64,
    started: Instant,
    /// Whether the last contact of the listener or the refresh with the database succeeded.
    healthy: AtomicBool,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

impl PostgresRegistry {
    /// Connects, applies the migrations, loads every key — refusing to start when a row does not
    /// decrypt with the keyring — and follows changes (`LISTEN` and the periodic refresh) until
    /// the last clone is dropped. Needs a Tokio runtime.
    pub async fn connect(
        url: &str,
        keyring: Keyring,
        options: RegistryOptions,
    ) -> Result<Self, PostgresError> {
        let shared = Shared::open(url, keyring, options).await?;
        let weak = Arc::downgrade(&shared);
        let listen = tokio::spawn(listen(weak.clone()));
        let refresh = tokio::spawn(refresh_periodically(weak));
        shared
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend([listen, refresh]);
        Ok(Self { shared })
    }

    /// Reloads every key now.
    pub async fn refresh(&self) -> Result<usize, PostgresError> {
        self.shared.refresh().await
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.shared.read().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shared {
    /// The pool, the migrations and every key; no task started.
    async fn open(
        url: &str,
        keyring: Keyring,
        options: RegistryOptions,
    ) -> Result<Arc<Self>, PostgresError> {
        let slots = options.max_concurrent_lookups.clamp(1, 64);
        // Two connections beyond the lookups' slots: a notification's reload and the refresh.
        let connections = u32::try_from(slots + 2).unwrap_or(u32::MAX);
        let pool = pool(url, options.schema.as_deref(), connections).await?;
        let mut keys = Cache::default();
        let ticket = keys.ticket();
        keys.apply_snapshot(read_snapshot(&pool, &keyring).await?, ticket);
        Ok(Arc::new(Self {
            pool,
            keyring,
            options,
            keys: RwLock::new(keys),
            lookups: Semaphore::new(slots),
            last_ok: AtomicU64::new(0),
            started: Instant::now(),
            healthy: AtomicBool::new(true),
            tasks: std::sync::Mutex::new(Vec::new()),
        }))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn mark(&self, ok: bool) {
        if ok {
            let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.last_ok.store(now, Ordering::SeqCst);
        }
        if self.healthy.swap(ok, Ordering::SeqCst) != ok {
            if ok {
                tracing::info!(target: TRACING_TARGET, "key database reachable again");
            } else {
                tracing::warn!(target: TRACING_TARGET, "key database unreachable: serving the keys held");
            }
        }
    }

    fn stale(&self) -> bool {
        let age = self
            .started
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last_ok.load(Ordering::SeqCst)));
        age > self.options.max_staleness
    }

    /// A full refresh: the snapshot, read from a ticket on, then applied in order.
    async fn refresh(&self) -> Result<usize, PostgresError> {
        let ticket = self.read().ticket();
        let snapshot = read_snapshot(&self.pool, &self.keyring).await;
        self.finish_refresh(ticket, snapshot)
    }

    fn finish_refresh(
        &self,
        ticket: Ticket,
        snapshot: Result<std::collections::HashMap<Box<str>, (Version, KeyRecord)>, PostgresError>,
    ) -> Result<usize, PostgresError> {
        match snapshot {
            Ok(keys) => {
                let n = keys.len();
                self.write().apply_snapshot(keys, ticket);
                self.mark(true);
                Ok(n)
            }
            Err(e) => {
                if matches!(e, PostgresError::Database(_)) {
                    self.mark(false);
                }
                tracing::error!(target: TRACING_TARGET, "key refresh failed, keeping the keys held: {e}");
                Err(e)
            }
        }
    }

    /// A notification's reload of one key.
    async fn reload_key(&self, key_id: &str) -> Result<(), PostgresError> {
        let ticket = self.read().ticket();
        let found = read_key(&self.pool, &self.keyring, key_id).await?;
        self.write().apply(key_id, found, ticket);
        Ok(())
    }

    /// The lookup of an id not held: a slot, a connection and the answer within
    /// `lookup_timeout`, else the registry's error.
    async fn look_up(
        self: Arc<Self>,
        key_id: Box<str>,
    ) -> Result<Option<KeyRecord>, RegistryError> {
        let bound = self.options.lookup_timeout;
        let ask = async {
            let _slot = self
                .lookups
                .acquire()
                .await
                .map_err(|_| RegistryError::unavailable())?;
            let ticket = self.read().ticket();
            let found = read_key(&self.pool, &self.keyring, &key_id)
                .await
                .map_err(|e| {
                    tracing::debug!(target: TRACING_TARGET, "lookup of a key id not held failed: {e}");
                    RegistryError::new(e)
                })?;
            Ok(self.write().apply(&key_id, found, ticket))
        };
        match tokio::time::timeout(bound, ask).await {
            Ok(answer) => answer,
            Err(_) => {
                tracing::debug!(target: TRACING_TARGET, "lookup of a key id not held: no answer within {bound:?}");
                Err(RegistryError::new(format!(
                    "the key database did not answer within {bound:?}"
                )))
            }
        }
    }
}

/// Follows `NOTIFY`s; a lost connection (notifications may be lost with it) is a full refresh.
async fn listen(shared: Weak<Shared>) {
    loop {
        let Some(pool) = shared.upgrade().map(|s| s.pool.clone()) else {
            return;
        };
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => listener,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            },
            Err(_) => {
                if let Some(s) = shared.upgrade() {
                    s.mark(false);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        // Listening: catch up on what happened before (or while the connection was down).
        if let Some(s) = shared.upgrade() {
            let _ = s.refresh().await;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let Some(s) = shared.upgrade() else { return };
                    if let Err(e) = s.reload_key(notification.payload()).await {
                        tracing::error!(target: TRACING_TARGET, key_id = notification.payload(), "key reload failed: {e}");
                        let _ = s.refresh().await;
                    }
                }
                // The connection was lost: reconnect, then refresh everything.
                Ok(None) | Err(_) => {
                    if let Some(s) = shared.upgrade() {
                        s.mark(false);
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    break;
                }
            }
        }
    }
}

async fn refresh_periodically(shared: Weak<Shared>) {
    loop {
        let Some(every) = shared.upgrade().map(|s| s.options.refresh_interval) else {
            return;
        };
        tokio::time::sleep(every).await;
        let Some(s) = shared.upgrade() else { return };
        let _ = s.refresh().await;
    }
}

impl KeyRegistry for PostgresRegistry {
    fn lookup(&self, key_id: &str) -> StoreFuture<Result<Option<KeyRecord>, RegistryError>> {
        let shared = &self.shared;
        let stale = shared.stale();
        let held = match shared.read().get(key_id) {
            // What is held (a key, or its deletion) is the answer until the keys are too stale.
            Held::Key(record) if !stale => Some(Ok(Some(record.clone()))),
            Held::Deleted if !stale => Some(Ok(None)),
            Held::Key(_) | Held::Deleted => Some(Err(RegistryError::new(
                "the key database has been unreachable for too long",
            ))),
            Held::No => None,
        };
        if let Some(answer) = held {
            return StoreFuture::ready(answer);
        }
        // Not held: the database decides (the key may be new). Known to be down: the error at
        // once; otherwise asked, within the bound.
        if !shared.healthy.load(Ordering::SeqCst) {
            return StoreFuture::ready(Err(RegistryError::new("the key database is unreachable")));
        }
        StoreFuture::new(Shared::look_up(Arc::clone(shared), key_id.into()))
    }
}

impl fmt::Debug for PostgresRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresRegistry")
            .field("keys", &self.len())
            .field("healthy", &self.shared.healthy.load(Ordering::SeqCst))
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}
