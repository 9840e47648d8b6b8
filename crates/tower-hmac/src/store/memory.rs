use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tower_hmac_core::{
    NonceLifetime, NonceOutcome, NonceStore, NonceStoreError, NonceStoreErrorKind, StoreFuture,
    unix_millis,
};

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

/// One slot: a fingerprint (0: empty) and a meta word — the Unix millisecond from which it may
/// be forgotten (low 48 bits) and its key's bucket (high 16 bits).
#[derive(Clone, Copy, Default)]
struct Slot {
    fingerprint: u64,
    meta: u64,
}

impl Slot {
    fn expires(self) -> u64 {
        self.meta & EXPIRY_MASK
    }

    fn bucket(self) -> usize {
        (self.meta >> 48) as usize
    }

    fn live(self, now: u64) -> bool {
        self.fingerprint != 0 && self.expires() > now
    }
}

/// An open-addressing table with linear probing, kept at most 3/4 full. Inserts reuse expired
/// slots; sweeps rebuild the table from its live slots.
#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    /// Slots in use, expired ones included.
    used: usize,
}

/// What a probe found.
enum Probe {
    /// The fingerprint is live.
    Live,
    /// Not live: this slot may take it (`true`: the slot is empty, so one more will be in use).
    Vacant(usize, bool),
}

impl Table {
    /// Probes for a non-zero `fingerprint`. The probe runs on to an empty slot before an expired
    /// slot is chosen for reuse, so a live copy further along is never missed.
    fn probe(&self, fingerprint: u64, now: u64) -> Probe {
        if self.slots.is_empty() {
            return Probe::Vacant(0, true);
        }
        let mask = self.slots.len() - 1;
        let mut i = fingerprint as usize & mask;
        let mut reusable = None;
        loop {
            let slot = self.slots[i];
            if slot.fingerprint == 0 {
                return match reusable {
                    Some(r) => Probe::Vacant(r, false),
                    None => Probe::Vacant(i, true),
                };
            }
            if slot.fingerprint == fingerprint {
                return if slot.expires() > now {
                    Probe::Live
                } else {
                    Probe::Vacant(i, false)
                };
            }
            if slot.expires() <= now && reusable.is_none() {
                reusable = Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Puts a slot; returns the one it replaced when that was in use (an expired slot).
    fn put(&mut self, index: usize, empty: bool, slot: Slot) -> Option<Slot> {
        let old = std::mem::replace(&mut self.slots[index], slot);
        if empty {
            self.used += 1;
            None
        } else {
            Some(old)
        }
    }

    /// Whether one more slot in use would pass 3/4 (an empty table has no room at all).
    fn crowded(&self) -> bool {
        (self.used + 1) * 4 > self.slots.len() * 3
    }

    /// How many slots in use have expired.
    fn expired(&self, now: u64) -> usize {
        self.slots
            .iter()
            .filter(|s| s.fingerprint != 0 && s.expires() <= now)
            .count()
    }

    /// Rebuilds the table from its live slots; calls `dropped` with each expired slot left out.
    /// A table whose live slots fill at most 5/8 of it (room for 1/8 more below the 3/4 limit,
    /// while inserts also reuse expired slots) and that is not over twice the size it needs is
    /// rebuilt in place: steady churn allocates nothing and never changes the table's size.
    /// Otherwise a new table with room for half as many again below the 3/4 limit, at most
    /// `max_slots`.
    fn rebuild(&mut self, now: u64, max_slots: usize, mut dropped: impl FnMut(Slot)) {
        let live = self.slots.iter().filter(|s| s.live(now)).count();
        // The headroom comes from the live slots only, and only when growing: sizing from
        // "used" (expired slots included), or growing whenever a shard's live count passed a
        // power of two for a moment, doubled tables under churn (issue 16: 1.66x the memory
        // after 5 minutes).
        let extra = live / 2 + 1;
        let wanted = ((live + extra) * 4).div_ceil(3).next_power_of_two();
        let needed = (live * 4 / 3 + 1).next_power_of_two();
        let size = wanted.min(max_slots).max(needed).max(MIN_SLOTS);
        let len = self.slots.len();
        if live * 8 <= len * 5 && len / 2 <= size && self.rehash_in_place(now, &mut dropped) {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        self.used = 0;
        for slot in old {
            self.reinsert(slot, now, &mut dropped);
        }
    }

    /// Puts a slot taken out of a table back at the first empty slot from its home, or hands
    /// it to `dropped` when it has expired (an empty slot is ignored).
    fn reinsert(&mut self, slot: Slot, now: u64, dropped: &mut impl FnMut(Slot)) {
        if slot.fingerprint == 0 {
            return;
        }
        if slot.expires() <= now {
            dropped(slot);
            return;
        }
        let mask = self.slots.len() - 1;
        let mut i = slot.fingerprint as usize & mask;
        while self.slots[i].fingerprint != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
        self.used += 1;
    }

    /// Drops the expired slots and re-places the live ones without a new table: starting after
    /// an empty slot (no probe run crosses it), each slot in turn is taken out and put back at
    /// the first empty slot from its home. Every slot before it is final by then, so no run is
    /// ever broken. `false` (nothing changed) when no slot is empty.
    fn rehash_in_place(&mut self, now: u64, dropped: &mut impl FnMut(Slot)) -> bool {
        let Some(start) = self.slots.iter().position(|s| s.fingerprint == 0) else {
            return false;
        };
        let mask = self.slots.len() - 1;
        self.used = 0;
        for step in 1..=self.slots.len() {
            let slot = std::mem::take(&mut self.slots[(start + step) & mask]);
            self.reinsert(slot, now, dropped);
        }
        true
    }
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

    /// The pair's fingerprint (never 0) and its key's bucket.
    fn fingerprint(&self, key_id: &str, nonce: &str) -> (u64, usize) {
        let mut hasher = self.inner.keys.build_hasher();
        hasher.write(key_id.as_bytes());
        hasher.write_u8(0xff);
        let bucket = hasher.clone().finish() as usize % KEY_BUCKETS;
        hasher.write(nonce.as_bytes());
        // 0 marks an empty slot.
        (hasher.finish().max(1), bucket)
    }

    /// Counts one more slot in use unless the store is full.
    fn reserve(&self) -> bool {
        let held = &self.inner.held;
        let before = held.fetch_add(1, Ordering::AcqRel);
        if before < self.inner.capacity {
            if (before + 1) * 5 >= self.inner.capacity * 4
                && !self.inner.warned.swap(true, Ordering::AcqRel)
            {
                self.warn_filling(before + 1);
            }
            return true;
        }
        held.fetch_sub(1, Ordering::AcqRel);
        false
    }

    /// Counts one more slot for a key's bucket unless the key holds its share.
    fn take_key_share(&self, bucket: usize) -> bool {
        let count = &self.inner.key_counts[bucket];
        if count.fetch_add(1, Ordering::AcqRel) < self.inner.key_limit {
            return true;
        }
        count.fetch_sub(1, Ordering::AcqRel);
        false
    }

    fn release(&self, slot: Slot) {
        self.inner.key_counts[slot.bucket()].fetch_sub(1, Ordering::AcqRel);
    }

    fn warn_filling(&self, held: u64) {
        tracing::warn!(
            target: "tower_hmac::store",
            held,
            capacity = self.inner.capacity,
            "the replay store is over 80 % full; at 100 % new requests are refused with 503 \
             (raise the memory budget: size it as requests per second × (2 × skew + 1 s))"
        );
        self.report();
    }

    /// Publishes the gauges (feature `metrics`).
    fn report(&self) {
        #[cfg(feature = "metrics")]
        {
            metrics::gauge!("tower_hmac_replay_store_nonces").set(self.len() as f64);
            metrics::gauge!("tower_hmac_replay_store_capacity").set(self.inner.capacity as f64);
        }
    }

    /// Drops a shard's expired slots: every sweep period (rebuilding only when at least 1/8 of
    /// its slots in use expired), or at once when it is crowded.
    fn sweep(&self, shard: &mut Shard, now: u64, force: bool) {
        shard.next_sweep = now.saturating_add(SWEEP_EVERY_MILLIS);
        if !force && shard.table.expired(now) * 8 < shard.table.used.max(1) {
            return;
        }
        let mut dropped = 0u64;
        shard.table.rebuild(now, self.inner.max_slots, |slot| {
            self.release(slot);
            dropped += 1;
        });
        let held = self.inner.held.fetch_sub(dropped, Ordering::AcqRel) - dropped;
        if held * 10 < self.inner.capacity * 7 {
            self.inner.warned.store(false, Ordering::Release);
        }
        self.report();
    }

    fn insert(
        &self,
        key_id: &str,
        nonce: &str,
        lifetime: NonceLifetime,
    ) -> Result<NonceOutcome, NonceStoreError> {
        let now = lifetime.now_millis();
        let horizon_millis = self.inner.horizon.get(now);
        if lifetime.signed_at_millis() < horizon_millis {
            return Ok(NonceOutcome::BeforeHorizon { horizon_millis });
        }
        let (fingerprint, bucket) = self.fingerprint(key_id, nonce);
        let expires = lifetime.expires_millis().clamp(now + 1, EXPIRY_MASK);
        let slot = Slot {
            fingerprint,
            meta: expires | ((bucket as u64) << 48),
        };
        // Bits 32.. pick the shard; the table indexes with the low bits.
        let shard = &self.inner.shards[(fingerprint >> 32) as usize % SHARDS];
        for attempt in 0..2 {
            let mut guard = lock(shard);
            if now >= guard.next_sweep {
                self.sweep(&mut guard, now, false);
            }
            let (mut index, mut empty) = match guard.table.probe(fingerprint, now) {
                Probe::Live => return Ok(NonceOutcome::Replayed),
                Probe::Vacant(index, empty) => (index, empty),
            };
            if empty && guard.table.crowded() {
                // Growth (up to the budget), dropping the expired slots on the way.
                self.sweep(&mut guard, now, true);
                (index, empty) = match guard.table.probe(fingerprint, now) {
                    Probe::Live => return Ok(NonceOutcome::Replayed),
                    Probe::Vacant(index, empty) => (index, empty),
                };
            }
            let refusal = if empty && (guard.table.crowded() || !self.reserve()) {
                Some(NonceStoreErrorKind::CapacityExceeded)
            } else if !self.take_key_share(bucket) {
                if empty {
                    self.inner.held.fetch_sub(1, Ordering::AcqRel);
                }
                Some(NonceStoreErrorKind::KeyQuotaExceeded)
            } else {
                None
            };
            match refusal {
                None => {
                    if let Some(old) = guard.table.put(index, empty, slot) {
                        self.release(old);
                    }
                    return Ok(NonceOutcome::Fresh);
                }
                // Expired slots that other shards have not dropped yet may be counted: drop
                // them everywhere (at most once a second), then look again.
                Some(_) if attempt == 0 => {
                    drop(guard);
                    self.sweep_all(now);
                }
                Some(kind) => {
                    return Err(NonceStoreError::new(kind).with_retry_after(Duration::from_secs(1)));
                }
            }
        }
        Err(NonceStoreError::new(NonceStoreErrorKind::CapacityExceeded)
            .with_retry_after(Duration::from_secs(1)))
    }

    /// Sweeps every shard, one lock at a time, unless that was already done this second. Only
    /// shards with at least 1/8 of their slots expired are rebuilt: a caller that keeps hitting
    /// its share (or a full store) cannot make the server rebuild every table every second.
    fn sweep_all(&self, now: u64) {
        let second = now / 1000;
        if self.inner.forced_at.swap(second, Ordering::AcqRel) == second {
            return;
        }
        for shard in &self.inner.shards {
            self.sweep(&mut lock(shard), now, false);
        }
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A tiny deterministic generator, so the model test needs no dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn the_table_agrees_with_a_model_under_random_inserts_expiry_and_rebuilds() {
        let mut table = Table::default();
        let mut model: HashMap<u64, u64> = HashMap::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..200_000u64 {
            let now = step / 1000;
            // Few distinct fingerprints (so that many collide in probe runs) and short lives.
            let fingerprint = next(&mut state) % 4096 + 1;
            let expires = now + next(&mut state) % 5 + 1;
            if table.crowded() || step % 7919 == 0 {
                let before = table.used;
                let mut dropped = 0;
                table.rebuild(now, 1 << 20, |_| dropped += 1);
                assert_eq!(table.used, before - dropped);
                model.retain(|_, e| *e > now);
                assert_eq!(
                    table.used,
                    model.len(),
                    "after a rebuild only live slots remain"
                );
            }
            let live_in_model = model.get(&fingerprint).is_some_and(|e| *e > now);
            match table.probe(fingerprint, now) {
                Probe::Live => assert!(live_in_model, "step {step}: live in the table only"),
                Probe::Vacant(index, empty) => {
                    assert!(!live_in_model, "step {step}: a live fingerprint was missed");
                    table.put(
                        index,
                        empty,
                        Slot {
                            fingerprint,
                            meta: expires,
                        },
                    );
                    model.insert(fingerprint, expires);
                }
            }
            assert!(table.used * 4 <= table.slots.len() * 3);
        }
    }

    #[test]
    fn steady_churn_keeps_the_table_and_its_size() {
        // Issue 16: the headroom counted expired slots, so a crowded table of mostly expired
        // slots doubled under churn; and every rebuild allocated a new table.
        let mut table = Table::default();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut insert = |table: &mut Table, now: u64, expires: u64| loop {
            let fingerprint = next(&mut state) | 1;
            if let Probe::Vacant(index, empty) = table.probe(fingerprint, now) {
                if table.crowded() {
                    table.rebuild(now, 1 << 20, |_| {});
                    continue;
                }
                table.put(
                    index,
                    empty,
                    Slot {
                        fingerprint,
                        meta: expires,
                    },
                );
                return;
            }
        };
        // 1000 live slots, then 52 arriving and about 50 expiring per tick, each living 20
        // ticks: the live count drifts to 1040, past the 1024 at which the headroom asks for
        // a larger table.
        for n in 0..1000u64 {
            insert(&mut table, 0, 1 + n / 50);
        }
        let (size, buffer) = (table.slots.len(), table.slots.as_ptr());
        for now in 1..400u64 {
            for _ in 0..52 {
                insert(&mut table, now, now + 20);
            }
        }
        assert_eq!(
            table.slots.len(),
            size,
            "the table changed size under steady churn"
        );
        assert_eq!(
            table.slots.as_ptr(),
            buffer,
            "a rebuild allocated a new table"
        );
        let live = table.slots.iter().filter(|s| s.live(399)).count();
        assert!((1000..=1040).contains(&live), "{live} live");
    }

    #[test]
    fn a_live_copy_behind_an_expired_slot_is_found() {
        let mut table = Table::default();
        table.rebuild(0, 1 << 20, |_| {});
        let mask = table.slots.len() as u64 - 1;
        // Three fingerprints with the same home slot.
        let (a, b, c) = (1 + mask + 1, 1 + 2 * (mask + 1), 1 + 3 * (mask + 1));
        for (fp, expires) in [(a, 1), (b, 100), (c, 100)] {
            match table.probe(fp, 0) {
                Probe::Vacant(i, empty) => {
                    table.put(
                        i,
                        empty,
                        Slot {
                            fingerprint: fp,
                            meta: expires,
                        },
                    );
                }
                Probe::Live => panic!("fresh table"),
            }
        }
        // At time 5, `a` has expired but `b` and `c` further along are live.
        assert!(matches!(table.probe(b, 5), Probe::Live));
        assert!(matches!(table.probe(c, 5), Probe::Live));
        // A new fingerprint with the same home reuses `a`'s slot.
        assert!(matches!(
            table.probe(1 + 4 * (mask + 1), 5),
            Probe::Vacant(_, false)
        ));
    }
}
