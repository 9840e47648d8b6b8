//! Failed-authentication throttling: token buckets per client address and per (key id, client
//! address), on [`governor`]'s GCRA, in a bounded state store of our own.
//!
//! Each failure takes a token from its address's bucket and from its key id's bucket *at that
//! address*: key ids travel in clear, so a bucket per key id alone would let anyone lock a key's
//! owner out by failing in its name. A key id failing from many addresses is the risk monitor's
//! `failure_burst` (a high-risk event and alert), never a lock-out. A bucket
//! holds `max_failures` tokens and refills at `max_failures` per `window`. While either bucket of
//! a request is empty, the request is answered `429 too_many_failures` with `Retry-After` before
//! its body is read or a MAC computed. Successful requests take no token. The store holds at most
//! `capacity` buckets per dimension: past it, buckets that have refilled go first, then those of a
//! single failure (a flood of random key ids), then the fullest one.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use tower_hmac_core::{Clock, unix_millis};

use super::remote::SharedThrottle;
use super::shared::{DEFAULT_STORE_TIMEOUT, GcraRate, OnStoreError, SharedPolicyStore};
use crate::error::ConfigError;

/// The default number of buckets kept per dimension (key ids, addresses): 65 536.
pub const DEFAULT_THROTTLE_CAPACITY: usize = 65_536;

/// Failed-authentication throttling, off unless given to
/// [`HmacAuthBuilder::throttle_failures`](crate::server::HmacAuthBuilder::throttle_failures).
///
/// After `max_failures` failed authentications within `window` from one client address, or
/// claiming one key id from one client address, further requests from that address (or for that
/// key id from that address) are answered `429 too_many_failures` with `Retry-After` — before
/// their body is read or any MAC computed — until the bucket refills (one failure's worth every
/// `window / max_failures`). Other key ids and addresses are unaffected; successful requests cost
/// nothing. A correctly signed request is never refused for failures other addresses caused: a
/// key id failing from many addresses raises the risk monitor's `failure_burst` alert instead
/// ([`RiskMonitor`](crate::server::RiskMonitor)). Without a known client address nothing is throttled.
///
/// The client address is the connection's (Axum's `ConnectInfo`), or the one a trusted proxy
/// forwards ([`TrustedProxies`](crate::server::TrustedProxies)); IPv6 addresses count per `/64` by
/// default, since one host commonly holds a whole `/64`.
///
/// ```
/// # use std::time::Duration;
/// # use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry};
/// use tower_hmac::server::FailureThrottle;
/// let layer = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["api.example.com"]).unwrap())
///     .throttle_failures(FailureThrottle::new(20, Duration::from_secs(60)))
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct FailureThrottle {
    max_failures: u32,
    window: Duration,
    capacity: usize,
    per_key_id: bool,
    per_address: bool,
    ipv6_prefix: u8,
    shared: Option<StoreHandle>,
    on_store_error: OnStoreError,
    store_timeout: Duration,
}

/// A shared store, as the settings hold it.
#[derive(Clone)]
pub(crate) struct StoreHandle(pub(crate) Arc<dyn SharedPolicyStore>);

impl fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedPolicyStore")
    }
}

impl FailureThrottle {
    /// At most `max_failures` failures per `window`, per key id and per client address.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            capacity: DEFAULT_THROTTLE_CAPACITY,
            per_key_id: true,
            per_address: true,
            ipv6_prefix: 64,
            shared: None,
            on_store_error: OnStoreError::FailOpen,
            store_timeout: DEFAULT_STORE_TIMEOUT,
        }
    }

    /// Keeps the buckets in `store`, shared by every instance of the service (default: in this
    /// process), so that N instances allow together what one allows. Each request with
    /// credentials then waits for one call to the store before its key is looked up, and each
    /// counted failure for one more before it is answered; the accepted path takes nothing more.
    /// `tower-hmac-redis`'s `RedisPolicyStore` is one.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_hmac::server::{SharedPolicyStore, FailureThrottle, OnStoreError};
    /// # fn with(store: impl SharedPolicyStore) -> FailureThrottle {
    /// FailureThrottle::new(20, Duration::from_secs(60))
    ///     .shared(store)
    ///     .on_store_error(OnStoreError::FailOpen)
    ///     .store_timeout(Duration::from_millis(50))
    /// # }
    /// ```
    pub fn shared(mut self, store: impl SharedPolicyStore) -> Self {
        self.shared = Some(StoreHandle(Arc::new(store)));
        self
    }

    /// [`shared`](Self::shared) with a store already behind an `Arc` (one store for the
    /// throttle and the risk monitor).
    pub fn shared_arc(mut self, store: Arc<dyn SharedPolicyStore>) -> Self {
        self.shared = Some(StoreHandle(store));
        self
    }

    /// What a shared throttle does while its store fails (default
    /// [`OnStoreError::FailOpen`]: each instance throttles with its own buckets; see
    /// docs/SECURITY.md). [`OnStoreError::FailClosed`] answers `429` to every checked request
    /// until the store is back: it **turns a store outage into an outage of the service**.
    pub fn on_store_error(mut self, mode: OnStoreError) -> Self {
        self.on_store_error = mode;
        self
    }

    /// How long a request waits for the shared store before it counts as failed (default
    /// [`DEFAULT_STORE_TIMEOUT`], 100 ms; clamped to 1 ms – 10 s).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout.clamp(Duration::from_millis(1), Duration::from_secs(10));
        self
    }

    /// The in-process throttle, or the shared one with its in-process fallback.
    pub(crate) fn build_policy(
        &self,
        clock: Arc<dyn Clock>,
    ) -> Result<(Option<Throttle>, Option<Arc<SharedThrottle>>), ConfigError> {
        let local = self.build(Arc::clone(&clock))?;
        Ok(match &self.shared {
            None => (Some(local), None),
            Some(store) => (
                None,
                Some(Arc::new(SharedThrottle {
                    store: Arc::clone(&store.0),
                    rate: self.rate(),
                    per_address: self.per_address,
                    per_key_id: self.per_key_id,
                    ipv6_prefix: self.ipv6_prefix,
                    on_error: self.on_store_error,
                    timeout: self.store_timeout,
                    local,
                    clock,
                    degraded: Default::default(),
                })),
            ),
        })
    }

    /// The buckets' rate: `max_failures` tokens, one back every `window / max_failures`.
    pub(crate) fn rate(&self) -> GcraRate {
        GcraRate::new(self.window / self.max_failures.max(1), self.max_failures)
    }

    /// How many buckets each dimension keeps at most (default
    /// [`DEFAULT_THROTTLE_CAPACITY`]; at least 64), whatever the traffic. A bucket is one
    /// 16-byte hash table entry: the key's keyed hash and its GCRA state.
    pub fn capacity(mut self, buckets: usize) -> Self {
        self.capacity = buckets;
        self
    }

    /// Whether failures are counted per key id at each client address (default: yes).
    pub fn per_key_id(mut self, enabled: bool) -> Self {
        self.per_key_id = enabled;
        self
    }

    /// Whether failures are counted per client address (default: yes).
    pub fn per_address(mut self, enabled: bool) -> Self {
        self.per_address = enabled;
        self
    }

    /// The IPv6 prefix length an address counts as (default 64; 32 to 128).
    pub fn ipv6_prefix(mut self, len: u8) -> Self {
        self.ipv6_prefix = len;
        self
    }

    pub(crate) fn build(&self, clock: Arc<dyn Clock>) -> Result<Throttle, ConfigError> {
        let invalid = || ConfigError::ThrottleOutOfRange {
            max_failures: self.max_failures,
            window: self.window,
            capacity: self.capacity,
            ipv6_prefix: self.ipv6_prefix,
        };
        let burst = NonZeroU32::new(self.max_failures).ok_or_else(invalid)?;
        if self.window < Duration::from_secs(1)
            || self.window > Duration::from_secs(86_400)
            || self.capacity < 64
            || !(32..=128).contains(&self.ipv6_prefix)
        {
            return Err(invalid());
        }
        // Whole microseconds, as a shared store counts them: both give the same answers.
        let period = self.rate().period();
        let quota = Quota::with_period(period)
            .ok_or_else(invalid)?
            .allow_burst(burst);
        let clock = LayerClock(clock);
        let limiter = |enabled: bool| {
            enabled.then(|| {
                RateLimiter::new(quota, Buckets::new(self.capacity, period), clock.clone())
            })
        };
        Ok(Throttle {
            key_ids: limiter(self.per_key_id),
            addresses: limiter(self.per_address),
            hasher: RandomState::new(),
            clock,
            ipv6_prefix: self.ipv6_prefix,
        })
    }
}

type Limiter = RateLimiter<Probe, Buckets, LayerClock, NoOpMiddleware<Nanos>>;

/// The throttle of a built layer.
pub(crate) struct Throttle {
    key_ids: Option<Limiter>,
    addresses: Option<Limiter>,
    /// Keys are hashed with a random key: a bucket costs 8 bytes whatever the key id's length,
    /// and nobody outside can aim two key ids at one bucket.
    hasher: RandomState,
    clock: LayerClock,
    ipv6_prefix: u8,
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("key_ids", &self.key_ids.as_ref().map(Limiter::len))
            .field("addresses", &self.addresses.as_ref().map(Limiter::len))
            .finish_non_exhaustive()
    }
}

impl Throttle {
    /// A key id's bucket is its bucket *from one address*: failures that other addresses cause
    /// never empty it (anyone can claim any key id: key ids travel in clear).
    fn key_probe(&self, key_id: &str, address: IpAddr, dry: bool) -> Probe {
        Probe {
            hash: self.hasher.hash_one((key_id, self.masked(address))),
            dry,
        }
    }

    fn address_probe(&self, address: IpAddr, dry: bool) -> Probe {
        Probe {
            hash: self.hasher.hash_one(self.masked(address)),
            dry,
        }
    }

    /// An address as it counts: IPv4 whole, IPv6 by its prefix.
    fn masked(&self, address: IpAddr) -> u128 {
        match address.to_canonical() {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let keep = u32::from(self.ipv6_prefix);
                // A distinct tag bit keeps IPv4 and IPv6 apart.
                (bits & u128::MAX.checked_shl(128 - keep).unwrap_or(0)) | 1
            }
        }
    }

    /// How long this key id must wait from this address, if that bucket is empty.
    pub(crate) fn key_id_blocked(&self, key_id: &str, address: IpAddr) -> Option<Duration> {
        let limiter = self.key_ids.as_ref()?;
        self.wait(limiter, &self.key_probe(key_id, address, true))
    }

    /// How long this address must wait, if its bucket is empty.
    pub(crate) fn address_blocked(&self, address: IpAddr) -> Option<Duration> {
        let limiter = self.addresses.as_ref()?;
        self.wait(limiter, &self.address_probe(address, true))
    }

    fn wait(&self, limiter: &Limiter, probe: &Probe) -> Option<Duration> {
        limiter
            .check_key(probe)
            .err()
            .map(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Counts a failure against its key id and address; whether it emptied either bucket (the
    /// failure that ends a burst: once per burst).
    pub(crate) fn record_failure(&self, key_id: Option<&str>, address: Option<IpAddr>) -> bool {
        let mut exhausted = false;
        if let (Some(limiter), Some(key_id), Some(address)) = (&self.key_ids, key_id, address) {
            exhausted |= limiter
                .check_key(&self.key_probe(key_id, address, false))
                .is_ok()
                && self.key_id_blocked(key_id, address).is_some();
        }
        if let (Some(limiter), Some(address)) = (&self.addresses, address) {
            exhausted |= limiter
                .check_key(&self.address_probe(address, false))
                .is_ok()
                && self.address_blocked(address).is_some();
        }
        exhausted
    }

    /// How many buckets each dimension holds now (key ids, addresses).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> (usize, usize) {
        (
            self.key_ids.as_ref().map_or(0, Limiter::len),
            self.addresses.as_ref().map_or(0, Limiter::len),
        )
    }
}

/// The layer's clock as governor's: nanoseconds since the Unix epoch, so that tests that set the
/// layer's time set the throttle's too.
#[derive(Clone)]
struct LayerClock(Arc<dyn Clock>);

impl GovernorClock for LayerClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(unix_millis(self.0.now()).saturating_mul(1_000_000))
    }
}

/// A bucket's key: the keyed hash of a key id or an address, and whether this call only looks
/// (`dry`: the check of a request before it is verified, which must not take a token).
#[derive(Clone, Copy)]
struct Probe {
    hash: u64,
    dry: bool,
}

impl PartialEq for Probe {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
    }
}

impl Eq for Probe {}

impl Hash for Probe {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The keys are already keyed hashes: the map uses them as they are.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

const SHARDS: usize = 16;

type Shard = HashMap<u64, u64, BuildHasherDefault<Identity>>;

/// A bounded keyed state store: each bucket's GCRA state (its theoretical arrival time), at most
/// `per_shard` in each of [`SHARDS`] shards.
struct Buckets {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    /// The time one token is worth (governor's `t`), in nanoseconds.
    token: u64,
}

impl Buckets {
    fn new(capacity: usize, token: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            token: u64::try_from(token.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// Makes room for one more bucket in a full shard, `now` being the limiter's time.
    fn make_room(&self, shard: &mut Shard, now: u64) {
        // Refilled buckets are the same as none.
        shard.retain(|_, tat| *tat > now);
        if shard.len() < self.per_shard {
            return;
        }
        // Then buckets of one recent failure: what a flood of random keys leaves.
        let one = now.saturating_add(self.token);
        shard.retain(|_, tat| *tat > one);
        if shard.len() < self.per_shard {
            return;
        }
        // Then the fullest bucket.
        if let Some(fullest) = shard.iter().min_by_key(|(_, tat)| **tat).map(|(k, _)| *k) {
            shard.remove(&fullest);
        }
    }
}

impl StateStore for Buckets {
    type Key = Probe;

    fn measure_and_replace<T, F, E>(&self, key: &Probe, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let shard = &self.shards[usize::try_from(key.hash % SHARDS as u64).unwrap_or(0)];
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = shard.get(&key.hash).copied();
        let (outcome, next) = f(previous.map(Nanos::from))?;
        if key.dry {
            return Ok(outcome);
        }
        if previous.is_none() && shard.len() >= self.per_shard {
            // A new bucket starts at now: its next state is now plus one token.
            let now = next.as_u64().saturating_sub(self.token);
            self.make_room(&mut shard, now);
        }
        shard.insert(key.hash, next.as_u64());
        Ok(outcome)
    }
}

impl governor::state::keyed::ShrinkableKeyedStateStore<Probe> for Buckets {
    fn retain_recent(&self, drop_below: Nanos) {
        for shard in &*self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            shard.retain(|_, tat| *tat > drop_below.as_u64());
        }
    }

    fn shrink_to_fit(&self) {
        for shard in &*self.shards {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_hmac_core::ManualClock;

    fn throttle(config: FailureThrottle) -> (Throttle, ManualClock) {
        let clock = ManualClock::at_unix(1_700_000_000);
        (config.build(Arc::new(clock.clone())).unwrap(), clock)
    }

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const THERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_key_id_is_blocked_after_its_failures_and_recovers() {
        let (t, clock) =
            throttle(FailureThrottle::new(3, Duration::from_secs(60)).per_address(false));
        for _ in 0..2 {
            assert!(!t.record_failure(Some("k"), Some(HERE)));
            assert_eq!(t.key_id_blocked("k", HERE), None);
        }
        assert!(
            t.record_failure(Some("k"), Some(HERE)),
            "the third failure ends the burst"
        );
        let wait = t.key_id_blocked("k", HERE).expect("blocked");
        assert!(
            wait <= Duration::from_secs(20) && wait > Duration::from_secs(19),
            "{wait:?}"
        );
        assert_eq!(t.key_id_blocked("other", HERE), None);
        // Looking does not take a token.
        for _ in 0..100 {
            assert!(t.key_id_blocked("other", HERE).is_none());
        }
        clock.advance(Duration::from_secs(20));
        assert_eq!(
            t.key_id_blocked("k", HERE),
            None,
            "one token back after window / N"
        );
        clock.advance(Duration::from_secs(40));
        for _ in 0..2 {
            assert!(!t.record_failure(Some("k"), Some(HERE)));
        }
    }

    #[test]
    fn failures_from_one_address_never_block_a_key_id_at_another() {
        // The red team's lock-out: failures claiming a key id from one address kept its owner,
        // at another address, at 429.
        let (t, _) = throttle(FailureThrottle::new(3, Duration::from_secs(60)));
        for _ in 0..50 {
            t.record_failure(Some("demo-2026"), Some(THERE));
        }
        assert!(t.key_id_blocked("demo-2026", THERE).is_some());
        assert!(t.address_blocked(THERE).is_some());
        assert_eq!(t.key_id_blocked("demo-2026", HERE), None);
        assert_eq!(t.address_blocked(HERE), None);
        // Without an address there is nothing to count a key id's failures against.
        assert!(!t.record_failure(Some("demo-2026"), None));
    }

    #[test]
    fn ipv6_addresses_count_per_prefix() {
        let (t, _) = throttle(FailureThrottle::new(2, Duration::from_secs(60)));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        t.record_failure(None, Some(a));
        t.record_failure(None, Some(b));
        assert!(t.address_blocked(a).is_some());
        assert!(t.address_blocked(b).is_some());
        assert!(t.address_blocked(c).is_none());
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        t.record_failure(None, Some(v4));
        t.record_failure(None, Some(mapped));
        assert!(
            t.address_blocked(v4).is_some(),
            "an IPv4-mapped address is its IPv4 address"
        );
    }

    #[test]
    fn memory_is_bounded_under_a_flood_and_a_real_attacker_stays_blocked() {
        let (t, _) = throttle(FailureThrottle::new(5, Duration::from_secs(60)).capacity(1024));
        let attacker: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..5 {
            t.record_failure(Some("target"), Some(attacker));
        }
        assert!(t.key_id_blocked("target", attacker).is_some());
        for i in 0..200_000u32 {
            let address = IpAddr::from(i.to_be_bytes());
            t.record_failure(Some(&format!("random-{i}")), Some(address));
        }
        let (keys, addresses) = t.len();
        assert!(keys <= 1024 && addresses <= 1024, "{keys} {addresses}");
        assert!(
            t.key_id_blocked("target", attacker).is_some(),
            "a flood of one-failure keys does not evict a blocked one"
        );
    }

    #[test]
    fn settings_are_checked() {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_unix(1_700_000_000));
        for bad in [
            FailureThrottle::new(0, Duration::from_secs(60)),
            FailureThrottle::new(5, Duration::from_millis(10)),
            FailureThrottle::new(5, Duration::from_secs(60)).capacity(1),
            FailureThrottle::new(5, Duration::from_secs(60)).ipv6_prefix(8),
        ] {
            assert!(matches!(
                bad.build(Arc::clone(&clock)),
                Err(ConfigError::ThrottleOutOfRange { .. })
            ));
        }
    }
}
