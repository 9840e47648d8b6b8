use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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
///   random per-process key, so nobody can aim collisions) and a 32-bit expiry second, in a
///   16-byte slot of an open-addressing table at most 3/4 full: about 34 bytes per live nonce
///   at a million (measured in `docs/PERFORMANCE.md`), one cache line per check. A fingerprint
///   collision can only make a fresh request look like a replay (odds about live nonces / 2⁶⁴
///   per request), never the reverse.
/// - **Atomic**: the check and the insert happen under one shard lock.
/// - **No stalls**: 64 shards, each locked only for its own work; expired nonces are dropped by
///   the shard itself every 2 s (and when it is full), which touches only that shard's slots.
/// - **Bounded, failing closed**: the store counts the nonces it holds; at capacity, after every
///   shard dropped its expired ones (at most once a second), new nonces are refused
///   ([`NonceStoreErrorKind::CapacityExceeded`], `503`). A live nonce is never evicted.
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
    keys: std::hash::RandomState,
    epoch: Instant,
    /// The second of the last store-wide sweep forced by a full store: at most one per second,
    /// so that a flood against a full store cannot make every request pay for one.
    forced_at: AtomicU32,
}

#[derive(Default)]
struct Shard {
    table: Table,
    next_sweep: u32,
}

/// One slot: a fingerprint (0: empty) and the second (since the store's epoch) after which it
/// may be forgotten.
#[derive(Clone, Copy, Default)]
struct Slot {
    fingerprint: u64,
    expires: u32,
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
    const MIN_SLOTS: usize = 64;

    /// Probes for a non-zero `fingerprint`. The probe runs on to an empty slot before an expired
    /// slot is chosen for reuse, so a live copy further along is never missed.
    fn probe(&self, fingerprint: u64, now: u32) -> Probe {
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
                return if slot.expires > now {
                    Probe::Live
                } else {
                    Probe::Vacant(i, false)
                };
            }
            if slot.expires <= now && reusable.is_none() {
                reusable = Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn put(&mut self, index: usize, empty: bool, fingerprint: u64, expires: u32) {
        self.slots[index] = Slot {
            fingerprint,
            expires,
        };
        if empty {
            self.used += 1;
        }
    }

    /// Whether one more slot in use would pass 3/4 (an empty table has no room at all).
    fn crowded(&self) -> bool {
        (self.used + 1) * 4 > self.slots.len() * 3
    }

    /// Rebuilds the table from its live slots at a size with room for `extra` more below the
    /// 3/4 limit; returns how many expired slots were dropped.
    fn rebuild(&mut self, now: u32, extra: usize) -> usize {
        let live: Vec<Slot> = self
            .slots
            .iter()
            .copied()
            .filter(|s| s.fingerprint != 0 && s.expires > now)
            .collect();
        let dropped = self.used - live.len();
        let size = ((live.len() + extra) * 4)
            .div_ceil(3)
            .max(Self::MIN_SLOTS)
            .next_power_of_two();
        self.slots = vec![Slot::default(); size];
        self.used = 0;
        let mask = size - 1;
        for slot in live {
            let mut i = slot.fingerprint as usize & mask;
            while self.slots[i].fingerprint != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
            self.used += 1;
        }
        dropped
    }
}

impl Shard {
    /// Drops the expired slots; returns how many.
    fn sweep(&mut self, now: u32) -> u64 {
        self.next_sweep = now.saturating_add(SWEEP_EVERY_SECS);
        let headroom = self.table.used / 2 + 1;
        self.table.rebuild(now, headroom) as u64
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
                forced_at: AtomicU32::new(u32::MAX),
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

    /// Bytes the tables hold, allocated (for sizing; `docs/PERFORMANCE.md`).
    pub fn allocated_bytes(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| lock(s).table.slots.len() * std::mem::size_of::<Slot>())
            .sum()
    }

    fn fingerprint(&self, key_id: &str, nonce: &str) -> u64 {
        let mut hasher = self.inner.keys.build_hasher();
        hasher.write(key_id.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(nonce.as_bytes());
        // 0 marks an empty slot.
        hasher.finish().max(1)
    }

    /// Counts one more slot in use unless the store is full.
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
        // Bits 32..38 pick the shard; the table indexes with the low bits.
        let shard = &self.inner.shards[(fingerprint >> 32) as usize % SHARDS];
        let now = self.now();
        let ttl_secs = u32::try_from(
            ttl.as_secs()
                .saturating_add(u64::from(ttl.subsec_nanos() > 0)),
        )
        .unwrap_or(u32::MAX);
        let expires = now.saturating_add(ttl_secs.max(1));

        let held = &self.inner.held;
        let mut guard = lock(shard);
        if now >= guard.next_sweep || guard.table.crowded() {
            // Periodic cleaning, or growth (which drops the expired slots on the way).
            held.fetch_sub(guard.sweep(now), Ordering::AcqRel);
        }
        let (mut index, mut empty) = match guard.table.probe(fingerprint, now) {
            Probe::Live => return Ok(NonceOutcome::Replayed),
            Probe::Vacant(index, empty) => (index, empty),
        };
        if empty && !self.reserve() {
            // Full, counting expired slots that other shards have not dropped yet: drop them
            // everywhere (at most once a second), then look again.
            drop(guard);
            self.sweep_all(now);
            guard = lock(shard);
            (index, empty) = match guard.table.probe(fingerprint, now) {
                Probe::Live => return Ok(NonceOutcome::Replayed),
                Probe::Vacant(index, empty) => (index, empty),
            };
            if empty && !self.reserve() {
                return Err(full());
            }
        }
        guard.table.put(index, empty, fingerprint, expires);
        Ok(NonceOutcome::Fresh)
    }

    /// Sweeps every shard, one lock at a time, unless that was already done this second.
    fn sweep_all(&self, now: u32) {
        let forced = &self.inner.forced_at;
        if forced.swap(now, Ordering::AcqRel) == now {
            return;
        }
        for shard in &self.inner.shards {
            let dropped = lock(shard).sweep(now);
            self.inner.held.fetch_sub(dropped, Ordering::AcqRel);
        }
    }
}

fn full() -> NonceStoreError {
    NonceStoreError::new(NonceStoreErrorKind::CapacityExceeded)
        .with_retry_after(Duration::from_secs(1))
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
        let mut model: HashMap<u64, u32> = HashMap::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..200_000u32 {
            let now = step / 1000;
            // Few distinct fingerprints (so that many collide in probe runs) and short lives.
            let fingerprint = next(&mut state) % 4096 + 1;
            let expires = now + (next(&mut state) % 5) as u32 + 1;
            if table.crowded() || step % 7919 == 0 {
                let before = table.used;
                let dropped = table.rebuild(now, table.used / 2 + 1);
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
                    table.put(index, empty, fingerprint, expires);
                    model.insert(fingerprint, expires);
                }
            }
            assert!(table.used * 4 <= table.slots.len() * 3);
        }
    }

    #[test]
    fn a_live_copy_behind_an_expired_slot_is_found() {
        let mut table = Table::default();
        table.rebuild(0, 1);
        let mask = table.slots.len() as u64 - 1;
        // Three fingerprints with the same home slot.
        let (a, b, c) = (1 + mask + 1, 1 + 2 * (mask + 1), 1 + 3 * (mask + 1));
        for (fp, expires) in [(a, 1), (b, 100), (c, 100)] {
            match table.probe(fp, 0) {
                Probe::Vacant(i, empty) => table.put(i, empty, fp, expires),
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
