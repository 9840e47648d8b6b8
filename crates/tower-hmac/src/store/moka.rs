use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::ops::compute::{CompResult, Op};
use moka::sync::Cache;
use tower_hmac_core::{
    NonceLifetime, NonceOutcome, NonceStore, NonceStoreError, NonceStoreErrorKind, StoreFuture,
};

use super::horizon::Horizon;
use crate::error::ConfigError;

/// An in-process replay store on [moka](https://docs.rs/moka).
///
/// - **Atomic**: one `entry().and_compute_with()` per request, so of two concurrent requests with
///   one nonce exactly one is fresh.
/// - **Exact, on the layer's clock**: each entry holds the millisecond its request stops being
///   acceptable ([`NonceLifetime`]) and is a replay until then, whatever moka's own clock says;
///   moka removes it one second after that, on its monotonic clock.
/// - **Never forgets early**: moka is given no size bound (a size-bounded cache evicts live
///   nonces, and an evicted nonce is a replayable request).
/// - **Bounded, failing closed**: the store counts its entries itself and, at capacity, refuses
///   new ones with [`NonceStoreErrorKind::CapacityExceeded`] (`503`) until old ones expire.
/// - **Knows its start**: like [`MemoryNonceStore`](super::MemoryNonceStore), it answers
///   [`NonceOutcome::BeforeHorizon`] for a request that may have been signed before it existed.
///
/// It has no per-key share and moka's housekeeping can stall single requests at a million live
/// nonces (`docs/PERFORMANCE.md`); [`MemoryNonceStore`](super::MemoryNonceStore) is the default.
/// It protects one process. Several instances behind a load balancer need a shared store.
#[derive(Clone)]
pub struct MokaNonceStore {
    cache: Cache<Box<str>, Lease>,
    live: Arc<AtomicU64>,
    capacity: u64,
    horizon: Arc<Horizon>,
}

/// What an entry holds: when it may be forgotten (layer clock) and for how long moka keeps it.
#[derive(Clone, Copy)]
struct Lease {
    expires_millis: u64,
    keep: Duration,
}

/// How much longer than the lifetime moka keeps an entry: its clock is not the layer's.
const KEEP_MARGIN: Duration = Duration::from_secs(1);

struct PerEntryTtl;

impl Expiry<Box<str>, Lease> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &Box<str>,
        lease: &Lease,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(lease.keep)
    }

    fn expire_after_update(
        &self,
        _key: &Box<str>,
        lease: &Lease,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(lease.keep)
    }
}

impl MokaNonceStore {
    /// A store that holds at most `capacity` live nonces.
    pub fn new(capacity: u64) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        let live = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&live);
        let cache = Cache::builder()
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_key, _lease, _cause| {
                counter.fetch_sub(1, Ordering::AcqRel);
            })
            .build();
        Ok(Self {
            cache,
            live,
            capacity,
            horizon: Arc::new(Horizon::now()),
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
        lifetime: NonceLifetime,
    ) -> Result<NonceOutcome, NonceStoreError> {
        let now = lifetime.now_millis();
        let horizon_millis = self.horizon.get(now);
        if lifetime.signed_at_millis() < horizon_millis {
            return Ok(NonceOutcome::BeforeHorizon { horizon_millis });
        }
        let mut key = String::with_capacity(key_id.len() + 1 + nonce.len());
        key.push_str(key_id);
        key.push('\n');
        key.push_str(nonce);
        let live_at = |lease: &Lease| lease.expires_millis > now;
        if !self.reserve() {
            // Expired entries may still be counted: let moka remove them, then try once more.
            self.cache.run_pending_tasks();
            if !self.reserve() {
                // Full. Nothing is inserted, so this read only picks the more precise answer: a
                // replay of a recorded nonce is still reported as a replay.
                if self.cache.get(key.as_str()).is_some_and(|l| live_at(&l)) {
                    return Ok(NonceOutcome::Replayed);
                }
                return Err(NonceStoreError::new(NonceStoreErrorKind::CapacityExceeded)
                    .with_retry_after(Duration::from_secs(1)));
            }
        }
        let lease = Lease {
            expires_millis: lifetime.expires_millis(),
            keep: lifetime.ttl().saturating_add(KEEP_MARGIN),
        };
        let result = self
            .cache
            .entry(key.into_boxed_str())
            .and_compute_with(|entry| match entry {
                Some(entry) if live_at(entry.value()) => Op::Nop,
                _ => Op::Put(lease),
            });
        match result {
            // A replaced (expired) entry was counted once and is reported to the listener.
            CompResult::Inserted(_) | CompResult::ReplacedWith(_) => Ok(NonceOutcome::Fresh),
            _ => {
                self.live.fetch_sub(1, Ordering::AcqRel);
                Ok(NonceOutcome::Replayed)
            }
        }
    }
}

impl NonceStore for MokaNonceStore {
    fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &str,
        lifetime: NonceLifetime,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>> {
        StoreFuture::ready(self.insert(key_id, nonce, lifetime))
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
