mod insert;
mod quota;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

#[cfg(doc)]
use tower_hmac_core::NonceStoreErrorKind;
use tower_hmac_core::{
    NonceLifetime, NonceOutcome, NonceStore, NonceStoreError, StoreFuture, unix_millis,
};

use self::table::{Slot, Table};
use super::horizon::Horizon;
use crate::error::ConfigError;

/// How many independently locked shards the store has: enough that one shard's table stays
/// small (16 Ki slots, 256 KiB, at the default budget), so that rebuilding it never stalls a
/// request for long.
const SHARDS: usize = 1024;
/// How often a shard looks for expired nonces (and whenever it is full).
const SWEEP_EVERY_MILLIS: u64 = 2000;
/// Key ids are counted in this many buckets (by a keyed hash) for the per-key share.
const KEY_BUCKETS: usize = 1 << 16;
/// A slot's expiry takes the low 48 bits of its meta word (Unix milliseconds until the year
/// 10889), the key bucket the high 16.
const EXPIRY_MASK: u64 = (1 << 48) - 1;
/// The smallest table a shard has.
const MIN_SLOTS: usize = 64;
/// Bytes of one slot.
const SLOT_BYTES: u64 = 16;

/// The default memory budget of a [`MemoryNonceStore`]: 256 MiB, about 11 million live nonces —
/// with the default 300 s skew, about 36,000 accepted requests per second, every second.
pub const DEFAULT_MEMORY_BUDGET: u64 = 256 * 1024 * 1024;
/// The default share of a [`MemoryNonceStore`] one key id may hold: half.
pub const DEFAULT_KEY_SHARE_PERCENT: u8 = 50;

/// The in-process replay store built for the job (the default).
///
/// - **Small**: a (key id, nonce) pair is kept as a 64-bit keyed fingerprint (SipHash with a
///   random per-process key, so nobody can aim collisions), its expiry in milliseconds and its
///   key's bucket, in a 16-byte slot of an open-addressing table at most 3/4 full: about 35 bytes
///   per live nonce, one cache line per check. A fingerprint collision can only make a fresh
///   request look like a replay (odds about live nonces / 2⁶⁴ per request), never the reverse.
/// - **Exact**: a nonce is kept until the millisecond its request stops being acceptable, on the
///   layer's clock ([`NonceLifetime`]) — no rounding of its own.
/// - **Atomic**: the check and the insert happen under one shard lock.
/// - **Sized by memory**: the tables start small and grow into a memory budget (default
///   [`DEFAULT_MEMORY_BUDGET`]); the capacity follows from it. 1024 shards, each locked only for
///   its own work and never larger than budget / 1024, so growing or cleaning one never stalls
///   the others, nor itself for long.
/// - **Fair**: one key id may hold at most a share of the capacity (default
///   [`DEFAULT_KEY_SHARE_PERCENT`]); beyond it that key's requests are refused
///   ([`NonceStoreErrorKind::KeyQuotaExceeded`], `429`) while every other key goes on.
/// - **Bounded, failing closed**: at capacity, after every shard dropped its expired nonces (at
///   most once a second), new nonces are refused ([`NonceStoreErrorKind::CapacityExceeded`],
///   `503`). A live nonce is never evicted. At 80 % a warning is logged (target
///   `tower_hmac::store`) and, with the `metrics` feature, the gauges
///   `tower_hmac_replay_store_nonces` and `tower_hmac_replay_store_capacity` show it.
/// - **Knows its start**: a request that may have been signed before the store was created is
///   answered [`NonceOutcome::BeforeHorizon`]: after a restart, a request captured before it is
///   not accepted again.
///
/// It protects one process. Several instances behind a load balancer need a shared store.
#[derive(Clone)]
pub struct MemoryNonceStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    /// Slots in use over all shards, expired ones included until swept.
    held: AtomicU64,
    capacity: u64,
    /// The most slots one shard's table may have.
    max_slots: usize,
    /// The most slots one key bucket may hold.
    key_limit: u32,
    key_counts: Box<[AtomicU32]>,
    keys: std::hash::RandomState,
    horizon: Horizon,
    /// The second of the last store-wide sweep forced by a full store: at most one per second,
    /// so that a flood against a full store cannot make every request pay for one.
    forced_at: AtomicU64,
    /// Whether the 80 % warning was given (re-armed below 70 %).
    warned: AtomicBool,
}

#[derive(Default)]
struct Shard {
    table: Table,
    next_sweep: u64,
}

impl MemoryNonceStore {
    /// A store sized by a memory budget: its tables grow into `bytes` (1 MiB to 1 TiB), and it
    /// holds as many live nonces as fit (about `bytes / 24`).
    pub fn with_memory_budget(bytes: u64) -> Result<Self, ConfigError> {
        if !(1 << 20..=1 << 40).contains(&bytes) {
            return Err(ConfigError::MemoryBudgetOutOfRange { bytes });
        }
        let (capacity, max_slots) = sizing(bytes);
        Ok(Self::build(capacity, max_slots))
    }

    /// A store that holds at most `capacity` live nonces, with tables allowed to grow as far as
    /// that needs.
    pub fn new(capacity: u64) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        let per_shard = capacity.div_ceil(SHARDS as u64) * 8 / 7 + 1;
        let max_slots = usize::try_from((per_shard * 4).div_ceil(3))
            .unwrap_or(usize::MAX / 2)
            .next_power_of_two()
            .max(MIN_SLOTS);
        Ok(Self::build(capacity, max_slots))
    }

    fn build(capacity: u64, max_slots: usize) -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
        let key_counts = (0..KEY_BUCKETS).map(|_| AtomicU32::new(0)).collect();
        Self {
            inner: Arc::new(Inner {
                shards,
                held: AtomicU64::new(0),
                capacity,
                max_slots,
                key_limit: share_of(capacity, DEFAULT_KEY_SHARE_PERCENT),
                key_counts,
                keys: std::hash::RandomState::new(),
                horizon: Horizon::now(),
                forced_at: AtomicU64::new(u64::MAX),
                warned: AtomicBool::new(false),
            }),
        }
    }

    /// The share of the capacity one key id may hold, in percent (default 50). At 100 one key can
    /// fill the store and make the server answer `503` to every other key.
    pub fn with_key_share_percent(self, percent: u8) -> Result<Self, ConfigError> {
        if !(1..=100).contains(&percent) {
            return Err(ConfigError::KeyShareOutOfRange { percent });
        }
        Ok(self.map_inner(|inner| inner.key_limit = share_of(inner.capacity, percent)))
    }

    /// Sets when the store's memory begins (default: its creation). A request signed before it is
    /// answered [`NonceOutcome::BeforeHorizon`]. For tests that set the layer's clock far from
    /// the system's, and for a store that was restored from a snapshot taken at that time.
    pub fn with_horizon(self, horizon: SystemTime) -> Self {
        self.map_inner(|inner| inner.horizon = Horizon::at(unix_millis(horizon)))
    }

    fn map_inner(self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                f(&mut inner);
                Self {
                    inner: Arc::new(inner),
                }
            }
            // Already shared (cloned): settings are for a new store; keep it as it is.
            Err(inner) => Self { inner },
        }
    }

    /// The most live nonces the store holds.
    pub fn capacity(&self) -> u64 {
        self.inner.capacity
    }

    /// The most live nonces one key id may hold.
    pub fn key_limit(&self) -> u64 {
        u64::from(self.inner.key_limit)
    }

    /// The most bytes the tables may take.
    pub fn memory_budget(&self) -> u64 {
        self.inner.max_slots as u64 * SLOT_BYTES * SHARDS as u64
    }

    /// How many nonces are held (expired ones count until their shard drops them).
    pub fn len(&self) -> u64 {
        self.inner.held.load(Ordering::Acquire)
    }

    /// Whether no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the tables hold, allocated (for sizing; `docs/PERFORMANCE.md`).
    pub fn allocated_bytes(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| lock(s).table.slots.len() * std::mem::size_of::<Slot>())
            .sum()
    }
}

impl Default for MemoryNonceStore {
    /// A store of the default memory budget ([`DEFAULT_MEMORY_BUDGET`]).
    fn default() -> Self {
        let (capacity, max_slots) = sizing(DEFAULT_MEMORY_BUDGET);
        Self::build(capacity, max_slots)
    }
}

/// The capacity and the largest shard table of a memory budget: each shard's table at the largest
/// power of two that fits, 3/4 of it usable, less 1/8 for shards that fill faster than average.
fn sizing(budget: u64) -> (u64, usize) {
    let per_shard = usize::try_from(budget / SLOT_BYTES / SHARDS as u64).unwrap_or(usize::MAX);
    let max_slots = (per_shard / 2 + 1).next_power_of_two().max(MIN_SLOTS);
    let capacity = (max_slots as u64 * 3 / 4) * SHARDS as u64 * 7 / 8;
    (capacity, max_slots)
}

fn share_of(capacity: u64, percent: u8) -> u32 {
    u32::try_from((capacity * u64::from(percent) / 100).max(1)).unwrap_or(u32::MAX)
}

fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl NonceStore for MemoryNonceStore {
    fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &str,
        lifetime: NonceLifetime,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>> {
        StoreFuture::ready(self.insert(key_id, nonce, lifetime))
    }
}

impl fmt::Debug for MemoryNonceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryNonceStore")
            .field("capacity", &self.inner.capacity)
            .field("key_limit", &self.inner.key_limit)
            .field("shards", &SHARDS)
            .finish_non_exhaustive()
    }
}
