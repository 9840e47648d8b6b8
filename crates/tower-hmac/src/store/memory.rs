use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tower_hmac_core::{
    NonceOutcome, NonceStore, NonceStoreError, NonceStoreErrorKind, StoreFuture,
};

use crate::error::ConfigError;

/// How many independently locked shards the store has.
const SHARDS: usize = 64;
/// How often a shard drops its expired nonces (and whenever it is full).
const SWEEP_EVERY_SECS: u32 = 2;

/// The in-process replay store built for the job (the default).
///
/// - **Small**: a (key id, nonce) pair is kept as a 64-bit keyed fingerprint (SipHash with a
///   random per-process key, so nobody can aim collisions) and a 32-bit expiry second: about
///   36 bytes per live nonce with the hash table's slack (measured in `docs/PERFORMANCE.md`).
///   A fingerprint collision can only make a fresh request look like a replay (odds about
///   live nonces / 2⁶⁴ per request), never the reverse.
/// - **Atomic**: the check and the insert happen under one shard lock.
/// - **No stalls**: 64 shards, each locked only for its own work; expired nonces are dropped by
///   the shard itself every 2 s (and when it is full), which touches only that shard's entries.
/// - **Bounded, failing closed**: the store counts the nonces it holds; at capacity, after the
///   shard at hand dropped its expired ones, new nonces are refused
///   ([`NonceStoreErrorKind::CapacityExceeded`], `503`). A live nonce is never evicted.
///
/// It protects one process. Several instances behind a load balancer need a shared store.
#[derive(Clone)]
pub struct MemoryNonceStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    /// Entries held, expired ones included until swept.
    held: AtomicU64,
    capacity: u64,
    keys: std::hash::RandomState,
    epoch: Instant,
}

#[derive(Default)]
struct Shard {
    /// fingerprint → the second (since `epoch`) after which it may be forgotten.
    entries: HashMap<u64, u32, BuildHasherDefault<Identity>>,
    next_sweep: u32,
    /// The second of the last sweep forced by a full store: at most one per second, so that a
    /// flood against a full store cannot make every request pay for a sweep.
    forced_at: Option<u32>,
}

/// The fingerprints are already uniformly random: hash them as themselves.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in for completeness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Shard {
    /// Drops expired entries; returns how many.
    fn sweep(&mut self, now: u32) -> u64 {
        let before = self.entries.len();
        self.entries.retain(|_, expires| *expires > now);
        self.next_sweep = now.saturating_add(SWEEP_EVERY_SECS);
        (before - self.entries.len()) as u64
    }
}

impl MemoryNonceStore {
    /// The default capacity: one million live nonces (enough for about 1,600 requests per second
    /// with the default 300 s skew; size it as requests per second × (2 × skew + 1 s)).
    pub const DEFAULT_CAPACITY: u64 = 1_000_000;

    /// A store that holds at most `capacity` live nonces.
    pub fn new(capacity: u64) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
        Ok(Self {
            inner: Arc::new(Inner {
                shards,
                held: AtomicU64::new(0),
                capacity,
                keys: std::hash::RandomState::new(),
                epoch: Instant::now(),
            }),
        })
    }

    /// The configured capacity.
    pub fn capacity(&self) -> u64 {
        self.inner.capacity
    }

    /// How many nonces are held (expired ones count until their shard drops them).
    pub fn len(&self) -> u64 {
        self.inner.held.load(Ordering::Acquire)
    }

    /// Whether no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the hash tables hold, allocated (for sizing; `docs/PERFORMANCE.md`).
    pub fn allocated_bytes(&self) -> usize {
        let per_bucket = std::mem::size_of::<(u64, u32)>() + 1;
        self.inner
            .shards
            .iter()
            .map(|s| {
                let capacity = lock(s).entries.capacity();
                // hashbrown keeps capacity at 7/8 of a power-of-two bucket count.
                let buckets = if capacity == 0 {
                    0
                } else {
                    (capacity * 8 / 7).next_power_of_two()
                };
                buckets * per_bucket
            })
            .sum()
    }

    fn fingerprint(&self, key_id: &str, nonce: &str) -> u64 {
        let mut hasher = self.inner.keys.build_hasher();
        hasher.write(key_id.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(nonce.as_bytes());
        hasher.finish()
    }

    /// Counts one more entry unless the store is full.
    fn reserve(&self) -> bool {
        let held = &self.inner.held;
        if held.fetch_add(1, Ordering::AcqRel) < self.inner.capacity {
            return true;
        }
        held.fetch_sub(1, Ordering::AcqRel);
        false
    }

    fn now(&self) -> u32 {
        u32::try_from(self.inner.epoch.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    fn insert(
        &self,
        key_id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> Result<NonceOutcome, NonceStoreError> {
        let fingerprint = self.fingerprint(key_id, nonce);
        // Bits 32..38 pick the shard: the table itself uses the low bits (bucket) and the top 7
        // (tag), which must stay varied within a shard.
        let shard = &self.inner.shards[(fingerprint >> 32) as usize % SHARDS];
        let now = self.now();
        let ttl_secs = u32::try_from(
            ttl.as_secs()
                .saturating_add(u64::from(ttl.subsec_nanos() > 0)),
        )
        .unwrap_or(u32::MAX);
        let expires = now.saturating_add(ttl_secs.max(1));

        let held = &self.inner.held;
        let mut shard = lock(shard);
        if now >= shard.next_sweep {
            held.fetch_sub(shard.sweep(now), Ordering::AcqRel);
        }
        if let Some(existing) = shard.entries.get_mut(&fingerprint) {
            if *existing > now {
                return Ok(NonceOutcome::Replayed);
            }
            *existing = expires;
            return Ok(NonceOutcome::Fresh);
        }
        if !self.reserve() {
            if shard.forced_at != Some(now) {
                shard.forced_at = Some(now);
                held.fetch_sub(shard.sweep(now), Ordering::AcqRel);
            }
            if !self.reserve() {
                return Err(NonceStoreError::new(NonceStoreErrorKind::CapacityExceeded)
                    .with_retry_after(Duration::from_secs(1)));
            }
        }
        shard.entries.insert(fingerprint, expires);
        Ok(NonceOutcome::Fresh)
    }
}

fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl NonceStore for MemoryNonceStore {
    fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>> {
        StoreFuture::ready(self.insert(key_id, nonce, ttl))
    }
}

impl fmt::Debug for MemoryNonceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryNonceStore")
            .field("capacity", &self.inner.capacity)
            .field("shards", &SHARDS)
            .finish_non_exhaustive()
    }
}
