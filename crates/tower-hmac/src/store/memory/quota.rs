//! The accounting of slots in use: the store's capacity, one key's share of it, the 80 % warning
//! and the gauges.

use std::sync::atomic::Ordering;

use super::MemoryNonceStore;
use super::table::Slot;

impl MemoryNonceStore {
    /// Counts one more slot in use unless the store is full.
    pub(super) fn reserve(&self) -> bool {
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
    pub(super) fn take_key_share(&self, bucket: usize) -> bool {
        let count = &self.inner.key_counts[bucket];
        if count.fetch_add(1, Ordering::AcqRel) < self.inner.key_limit {
            return true;
        }
        count.fetch_sub(1, Ordering::AcqRel);
        false
    }

    pub(super) fn release(&self, slot: Slot) {
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
    pub(super) fn report(&self) {
        #[cfg(feature = "metrics")]
        {
            metrics::gauge!("tower_hmac_replay_store_nonces").set(self.len() as f64);
            metrics::gauge!("tower_hmac_replay_store_capacity").set(self.inner.capacity as f64);
        }
    }
}
