//! The check and insert of one nonce: the horizon, the pair's fingerprint, its shard, and the
//! sweeps that drop expired slots.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tower_hmac_core::{NonceLifetime, NonceOutcome, NonceStoreError, NonceStoreErrorKind};

use super::table::{Probe, Slot};
use super::{EXPIRY_MASK, KEY_BUCKETS, MemoryNonceStore, SHARDS, SWEEP_EVERY_MILLIS, Shard, lock};

impl MemoryNonceStore {
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

    pub(super) fn insert(
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
