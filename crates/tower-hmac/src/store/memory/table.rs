//! The open-addressing table of one shard: 16-byte slots, linear probing, at most 3/4 full.

use super::{EXPIRY_MASK, MIN_SLOTS};

/// One slot: a fingerprint (0: empty) and a meta word — the Unix millisecond from which it may
/// be forgotten (low 48 bits) and its key's bucket (high 16 bits).
#[derive(Clone, Copy, Default)]
pub(super) struct Slot {
    pub(super) fingerprint: u64,
    pub(super) meta: u64,
}

impl Slot {
    pub(super) fn expires(self) -> u64 {
        self.meta & EXPIRY_MASK
    }

    pub(super) fn bucket(self) -> usize {
        (self.meta >> 48) as usize
    }

    pub(super) fn live(self, now: u64) -> bool {
        self.fingerprint != 0 && self.expires() > now
    }
}

/// An open-addressing table with linear probing, kept at most 3/4 full. Inserts reuse expired
/// slots; sweeps rebuild the table from its live slots.
#[derive(Default)]
pub(super) struct Table {
    pub(super) slots: Vec<Slot>,
    /// Slots in use, expired ones included.
    pub(super) used: usize,
}

/// What a probe found.
pub(super) enum Probe {
    /// The fingerprint is live.
    Live,
    /// Not live: this slot may take it (`true`: the slot is empty, so one more will be in use).
    Vacant(usize, bool),
}

impl Table {
    /// Probes for a non-zero `fingerprint`. The probe runs on to an empty slot before an expired
    /// slot is chosen for reuse, so a live copy further along is never missed.
    pub(super) fn probe(&self, fingerprint: u64, now: u64) -> Probe {
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
    pub(super) fn put(&mut self, index: usize, empty: bool, slot: Slot) -> Option<Slot> {
        let old = std::mem::replace(&mut self.slots[index], slot);
        if empty {
            self.used += 1;
            None
        } else {
            Some(old)
        }
    }

    /// Whether one more slot in use would pass 3/4 (an empty table has no room at all).
    pub(super) fn crowded(&self) -> bool {
        (self.used + 1) * 4 > self.slots.len() * 3
    }

    /// How many slots in use have expired.
    pub(super) fn expired(&self, now: u64) -> usize {
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
    pub(super) fn rebuild(&mut self, now: u64, max_slots: usize, mut dropped: impl FnMut(Slot)) {
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
