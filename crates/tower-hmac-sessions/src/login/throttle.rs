//! The login throttle's state: GCRA buckets of failures in a bounded table, and the addresses
//! each user name failed from (for the spray alert). Time is milliseconds on the guard's clock.
//!
//! tower-hmac's `FailureThrottle` (on `governor`) does the same for the HMAC layer, but its
//! buckets are crate-private there; the algorithm is the same GCRA, kept small here.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

const SHARDS: usize = 16;

/// Failure buckets: each key's theoretical arrival time (GCRA), at most `capacity` keys.
pub(crate) struct Buckets {
    shards: Box<[Mutex<HashMap<u64, u64>>]>,
    per_shard: usize,
    /// One failure's worth of time, ms (`window / burst`).
    period: u64,
    /// How far ahead of now a key's time may run before it is blocked: `(burst - 1) * period`.
    tolerance: u64,
}

impl Buckets {
    pub(crate) fn new(burst: u32, window: Duration, capacity: usize) -> Self {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let period = (window_ms / u64::from(burst.max(1))).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            period,
            tolerance: period.saturating_mul(u64::from(burst.saturating_sub(1))),
        }
    }

    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        let index = usize::try_from(key % SHARDS as u64).unwrap_or(0);
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How long `key` must wait, if its bucket is empty (looking takes no token).
    pub(crate) fn blocked(&self, key: u64, now: u64) -> Option<Duration> {
        let tat = *self.shard(key).get(&key)?;
        let free_at = tat.saturating_sub(self.tolerance);
        (free_at > now).then(|| Duration::from_millis(free_at - now))
    }

    /// Counts one failure of `key`; whether it emptied the bucket (once per burst).
    pub(crate) fn record(&self, key: u64, now: u64) -> bool {
        let mut shard = self.shard(key);
        let previous = shard.get(&key).copied();
        if previous.is_none() && shard.len() >= self.per_shard {
            self.make_room(&mut shard, now);
        }
        let tat = previous.unwrap_or(now).max(now).saturating_add(self.period);
        shard.insert(key, tat);
        let was_free = previous.is_none_or(|p| p.saturating_sub(self.tolerance) <= now);
        was_free && tat.saturating_sub(self.tolerance) > now
    }

    /// Room for one more key in a full shard: refilled buckets go first, then those of a single
    /// failure (what a flood of fresh keys leaves), then the fullest. A blocked key stays.
    fn make_room(&self, shard: &mut HashMap<u64, u64>, now: u64) {
        shard.retain(|_, tat| *tat > now);
        if shard.len() < self.per_shard {
            return;
        }
        let one = now.saturating_add(self.period);
        shard.retain(|_, tat| *tat > one);
        if shard.len() < self.per_shard {
            return;
        }
        if let Some(fullest) = shard.iter().min_by_key(|(_, tat)| **tat).map(|(k, _)| *k) {
            shard.remove(&fullest);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// Keyed hashes of user names and addresses: a bucket costs the same whatever the name's length,
/// and nobody outside can aim two names at one bucket.
pub(crate) struct Keys {
    hasher: RandomState,
    ipv6_prefix: u8,
}

impl Keys {
    pub(crate) fn new(ipv6_prefix: u8) -> Self {
        Self {
            hasher: RandomState::new(),
            ipv6_prefix,
        }
    }

    /// An address, IPv6 counted per prefix (one host commonly holds a whole `/64`).
    pub(crate) fn address(&self, address: IpAddr) -> u64 {
        let masked: u128 = match address.to_canonical() {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => {
                let keep = u32::from(self.ipv6_prefix);
                // A tag bit keeps IPv4 and IPv6 apart.
                (u128::from(v6) & u128::MAX.checked_shl(128 - keep).unwrap_or(0)) | 1
            }
        };
        self.hasher.hash_one((0u8, masked))
    }

    /// A user name, ASCII case folded and trimmed: `Alice` and `alice ` share their buckets.
    pub(crate) fn user(&self, username: &str) -> u64 {
        let folded = username.trim().to_ascii_lowercase();
        self.hasher.hash_one((1u8, folded))
    }

    /// A (user name, address) pair.
    pub(crate) fn pair(&self, user: u64, address: u64) -> u64 {
        self.hasher.hash_one((2u8, user, address))
    }
}

/// The addresses a user name failed from lately: `slots` of them, each with when it last failed.
#[derive(Default)]
struct Recent {
    addresses: Vec<(u64, u64)>,
    alerted_at: Option<u64>,
}

/// Which user names fail from many addresses (a password spray, or a botnet guessing one
/// account): counted, never throttled by name, raised as a high-risk alert.
pub(crate) struct Spread {
    shards: Box<[Mutex<HashMap<u64, Recent>>]>,
    per_shard: usize,
    threshold: usize,
    window: u64,
}

impl Spread {
    pub(crate) fn new(threshold: u32, window: Duration, capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            threshold: usize::try_from(threshold.max(2)).unwrap_or(usize::MAX),
            window: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Counts a failure of `user` from `address`: `Some(n)` when `n` distinct addresses have
    /// failed within the window and no alert was raised for this name within it (once per
    /// window), `None` otherwise.
    pub(crate) fn record(&self, user: u64, address: u64, now: u64) -> Option<usize> {
        let index = usize::try_from(user % SHARDS as u64).unwrap_or(0);
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let since = now.saturating_sub(self.window);
        if !shard.contains_key(&user) && shard.len() >= self.per_shard {
            shard.retain(|_, r| r.addresses.iter().any(|(_, at)| *at > since));
            if shard.len() >= self.per_shard {
                // The name whose latest failure is oldest.
                if let Some(oldest) = shard
                    .iter()
                    .min_by_key(|(_, r)| r.addresses.iter().map(|(_, at)| *at).max())
                    .map(|(k, _)| *k)
                {
                    shard.remove(&oldest);
                }
            }
        }
        let recent = shard.entry(user).or_default();
        recent.addresses.retain(|(_, at)| *at > since);
        if let Some(slot) = recent.addresses.iter_mut().find(|(a, _)| *a == address) {
            slot.1 = now;
        } else if recent.addresses.len() < self.threshold {
            recent.addresses.push((address, now));
        }
        let distinct = recent.addresses.len();
        let quiet = recent.alerted_at.is_none_or(|at| at <= since);
        (distinct >= self.threshold && quiet).then(|| {
            recent.alerted_at = Some(now);
            distinct
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_bucket_blocks_after_its_burst_and_refills_one_failure_a_period() {
        let b = Buckets::new(3, Duration::from_secs(60), 1024);
        let now = 1_000_000;
        assert!(!b.record(7, now));
        assert!(!b.record(7, now));
        assert!(b.blocked(7, now).is_none());
        assert!(b.record(7, now), "the third failure empties it");
        assert_eq!(b.blocked(7, now), Some(Duration::from_secs(20)));
        assert!(b.blocked(8, now).is_none(), "other keys are not touched");
        assert!(b.blocked(7, now + 20_000).is_none(), "one failure back");
        assert!(b.record(7, now + 20_000));
        assert!(b.blocked(7, now + 20_000).is_some());
    }

    #[test]
    fn the_table_is_bounded_and_a_flood_does_not_free_a_blocked_key() {
        let b = Buckets::new(5, Duration::from_secs(60), 256);
        let now = 5_000_000;
        for _ in 0..5 {
            b.record(42, now);
        }
        for key in 1_000..200_000 {
            b.record(key, now);
        }
        assert!(b.len() <= 256 + SHARDS, "{}", b.len());
        assert!(b.blocked(42, now).is_some());
    }

    #[test]
    fn one_name_from_many_addresses_is_raised_once_a_window() {
        let s = Spread::new(4, Duration::from_secs(60), 1024);
        let now = 9_000_000;
        for address in 0..3 {
            assert_eq!(s.record(1, address, now), None);
            assert_eq!(s.record(1, address, now), None, "the same address again");
        }
        assert_eq!(s.record(1, 3, now), Some(4));
        assert_eq!(s.record(1, 4, now), None, "once per window");
        assert_eq!(s.record(2, 0, now), None, "per name");
        for address in 10..14 {
            let raised = s.record(1, address, now + 61_000);
            assert_eq!(raised.is_some(), address == 13);
        }
    }
}
