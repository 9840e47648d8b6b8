//! Throttle and risk state shared by every instance of a service (feature `policy`): the
//! backend trait, [`SharedPolicyStore`], and what the layer asks of it.
//!
//! One instance keeps its buckets in process ([`FailureThrottle`] alone). Several instances
//! behind one load balancer each see a share of an attack: given a shared store
//! ([`FailureThrottle::shared`], [`RiskMonitor::shared`]), they count every failure and every
//! accepted request in one place, so that N instances allow together what one allows, and an
//! attack spread over them raises the alert one instance would raise. The crate
//! `tower-hmac-redis` has the Redis implementation (`RedisPolicyStore`), correct on Redis Cluster.
//!
//! The store does arithmetic only: the layer passes the time (its
//! [`Clock`](crate::protocol::clock::Clock)), the rates and the thresholds, so a store keeps the
//! in-process throttle's GCRA exactly and tests set the time.
//!
//! [`FailureThrottle`]: super::FailureThrottle
//! [`FailureThrottle::shared`]: super::FailureThrottle::shared
//! [`RiskMonitor::shared`]: super::RiskMonitor::shared

use std::error::Error as StdError;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use tower_hmac_core::StoreFuture;

/// A GCRA rate in whole microseconds: a token every `emission`, `tolerance` the time a full
/// bucket is ahead of an empty one less one token (governor's `t` and `tau`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraRate {
    emission_micros: u64,
    tolerance_micros: u64,
}

impl GcraRate {
    /// `burst` tokens, one back every `period` (rounded up to a whole microsecond).
    pub fn new(period: Duration, burst: u32) -> Self {
        let emission_micros = u64::try_from(period.as_nanos().div_ceil(1000))
            .unwrap_or(u64::MAX)
            .max(1);
        Self {
            emission_micros,
            tolerance_micros: emission_micros.saturating_mul(u64::from(burst.saturating_sub(1))),
        }
    }

    /// The time one token is worth, in microseconds.
    pub fn emission_micros(&self) -> u64 {
        self.emission_micros
    }

    /// How far ahead of now a bucket's theoretical arrival time may be and still admit one
    /// more, in microseconds.
    pub fn tolerance_micros(&self) -> u64 {
        self.tolerance_micros
    }

    pub(crate) fn period(&self) -> Duration {
        Duration::from_micros(self.emission_micros)
    }
}

/// Which buckets a [`BucketCall`] is about: the throttle's, or the risk monitor's burst counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BucketScope {
    /// The failure throttle's buckets.
    Throttle,
    /// The risk monitor's failure-burst counters.
    Burst,
    /// A login guard's buckets (tower-hmac-sessions): per address and per (user name, address).
    Login,
    /// The risk monitor's failure-burst counter of a key id across every address (a guess
    /// spread over addresses and instances): one bucket per key id, no address bucket; the
    /// call's address is `*` and is not part of the bucket. A store keeps it by key id (on Redis
    /// Cluster, in the key id's slot).
    KeyBurst,
}

impl BucketScope {
    /// A short name for key names: `t`, `b`, `l` or `kb`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttle => "t",
            Self::Burst => "b",
            Self::Login => "l",
            Self::KeyBurst => "kb",
        }
    }
}

/// One atomic GCRA step over one client address's buckets: its address bucket, and the bucket of
/// one key id at that address. Both belong to the address, so a store can keep them together
/// (one Redis Cluster slot).
#[derive(Debug, Clone)]
pub struct BucketCall {
    pub(crate) scope: BucketScope,
    pub(crate) address: String,
    pub(crate) address_bucket: bool,
    pub(crate) key_id: Option<String>,
    pub(crate) rate: GcraRate,
    pub(crate) key_id_rate: Option<GcraRate>,
    pub(crate) now_micros: u64,
    pub(crate) record: bool,
}

impl BucketCall {
    /// A call over `address`'s bucket (IPv6 counted per `/64`) and, when given, `key_id`'s at
    /// that address: what a layer sends, for a store's own tests.
    pub fn new(
        scope: BucketScope,
        address: IpAddr,
        key_id: Option<&str>,
        rate: GcraRate,
        now_micros: u64,
        record: bool,
    ) -> Self {
        Self {
            scope,
            address: masked_text(address, 64),
            address_bucket: true,
            key_id: key_id.map(str::to_owned),
            rate,
            key_id_rate: None,
            now_micros,
            record,
        }
    }

    /// With `address` counted as its IPv6 `/prefix` (default 64; 32 to 128).
    pub fn with_address(mut self, address: IpAddr, ipv6_prefix: u8) -> Self {
        self.address = masked_text(address, ipv6_prefix.clamp(32, 128));
        self
    }

    /// Whether the address's own bucket takes part (default: yes).
    pub fn with_address_bucket(mut self, enabled: bool) -> Self {
        self.address_bucket = enabled;
        self
    }

    /// The throttle's or the monitor's buckets.
    pub fn scope(&self) -> BucketScope {
        self.scope
    }

    /// The client address as it counts: an IPv4 address, or an IPv6 network
    /// (`2001:db8:1:2::/64`). Never contains `{` or `}`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether the address's own bucket takes part.
    pub fn address_bucket(&self) -> bool {
        self.address_bucket
    }

    /// The key id whose bucket at this address takes part, if any. As the client sent it:
    /// escape it before putting it in a key name.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The address bucket's rate (and the key id bucket's, unless
    /// [`key_id_rate`](Self::key_id_rate) differs).
    pub fn rate(&self) -> GcraRate {
        self.rate
    }

    /// The key id bucket's rate (a login guard's pairs refill at their own rate).
    pub fn key_id_rate(&self) -> GcraRate {
        self.key_id_rate.unwrap_or(self.rate)
    }

    /// With a rate of its own for the key id's bucket.
    pub fn with_key_id_rate(mut self, rate: GcraRate) -> Self {
        self.key_id_rate = Some(rate);
        self
    }

    /// Now, on the layer's clock, in microseconds since the Unix epoch.
    pub fn now_micros(&self) -> u64 {
        self.now_micros
    }

    /// `false`: only look (the check before verifying, which takes no token); `true`: count one
    /// failure in each bucket that has a token left.
    pub fn record(&self) -> bool {
        self.record
    }
}

/// A store's answer to a [`BucketCall`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BucketAnswer {
    /// How long the address must wait, when its bucket is empty (after the call).
    pub address_wait: Option<Duration>,
    /// How long the key id must wait at this address, when that bucket is empty.
    pub key_id_wait: Option<Duration>,
    /// When recording: whether this failure took a bucket's last token (once per burst).
    pub exhausted: bool,
}

impl BucketAnswer {
    /// An answer.
    pub fn new(
        address_wait: Option<Duration>,
        key_id_wait: Option<Duration>,
        exhausted: bool,
    ) -> Self {
        Self {
            address_wait,
            key_id_wait,
            exhausted,
        }
    }
}

/// One accepted request of a key, for the risk monitor's `new_address` and `rate_spike` signals.
#[derive(Debug, Clone)]
pub struct ActivityCall {
    pub(crate) key_id: String,
    pub(crate) address: Option<String>,
    pub(crate) now_secs: u64,
    pub(crate) rate_factor: u32,
    pub(crate) rate_floor: u32,
    pub(crate) memory: Duration,
}

impl ActivityCall {
    /// The key id (escape it before putting it in a key name).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The client's address (canonical: an IPv4-mapped address is its IPv4 address), when known.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// Now, on the layer's clock, in seconds since the Unix epoch.
    pub fn now_secs(&self) -> u64 {
        self.now_secs
    }

    /// A spike is more than this many times the key's average calls per interval…
    pub fn rate_factor(&self) -> u32 {
        self.rate_factor
    }

    /// …and more than this many calls.
    pub fn rate_floor(&self) -> u32 {
        self.rate_floor
    }

    /// How long a key's addresses and rate are remembered after its last accepted request.
    pub fn memory(&self) -> Duration {
        self.memory
    }
}

/// The seconds of one rate interval (the in-process monitor's).
pub const RATE_INTERVAL_SECS: u64 = 10;
/// Intervals of history a key needs before a spike counts.
pub const RATE_WARM_INTERVALS: u32 = 6;
/// Addresses remembered per key.
pub const ADDRESSES_PER_KEY: usize = 8;

/// A store's answer to an [`ActivityCall`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActivityAnswer {
    /// A key already seen came from an address not among its last
    /// [`ADDRESSES_PER_KEY`].
    pub new_address: bool,
    /// The calls of this interval just passed the spike threshold (once per interval).
    pub rate_spike: bool,
}

impl ActivityAnswer {
    /// An answer.
    pub fn new(new_address: bool, rate_spike: bool) -> Self {
        Self {
            new_address,
            rate_spike,
        }
    }
}

/// Why a shared store did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyStoreErrorKind {
    /// The store could not be reached or refused the command.
    Unavailable,
    /// The store did not answer in time.
    Timeout,
}

/// A shared store's failure, with its cause.
#[derive(Debug)]
pub struct PolicyStoreError {
    kind: PolicyStoreErrorKind,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl PolicyStoreError {
    /// An error of this kind.
    pub fn new(kind: PolicyStoreErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// With its cause.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> PolicyStoreErrorKind {
        self.kind
    }
}

impl fmt::Display for PolicyStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PolicyStoreErrorKind::Unavailable => {
                f.write_str("the shared policy store is unavailable")
            }
            PolicyStoreErrorKind::Timeout => {
                f.write_str("the shared policy store did not answer in time")
            }
        }
    }
}

impl StdError for PolicyStoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Where the failure throttle and the risk monitor keep state shared by every instance.
///
/// Each call is one atomic step (one Redis script): never a read followed by a write another
/// instance could slip between. The layer bounds each call with its own timeout
/// ([`FailureThrottle::store_timeout`](super::FailureThrottle::store_timeout)).
pub trait SharedPolicyStore: Send + Sync + 'static {
    /// One GCRA step over an address's buckets. With `tau` the rate's tolerance and `t` its
    /// emission interval, a bucket whose theoretical arrival time is `tat` (`now` when it has
    /// none) is empty while `now < tat - tau` (wait `tat - tau - now`); recording a failure in a
    /// bucket that is not empty sets `tat = max(tat, now) + t`. Every key written must expire
    /// once its bucket is full again (at `tat`).
    fn buckets(&self, call: BucketCall) -> StoreFuture<Result<BucketAnswer, PolicyStoreError>>;

    /// One accepted request of a key: the `new_address` and `rate_spike` signals, computed as
    /// the in-process monitor computes them, from state every instance shares.
    fn key_activity(
        &self,
        call: ActivityCall,
    ) -> StoreFuture<Result<ActivityAnswer, PolicyStoreError>>;
}

/// What the layer does when the shared store fails (down, timed out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnStoreError {
    /// The default: the instance throttles with its own in-process buckets until the store
    /// answers again, as if it ran alone (an attacker gets at most N instances' allowance, not an
    /// unlimited one), and logs a warning.
    #[default]
    FailOpen,
    /// Every request that would be checked is answered `429 too_many_failures` (`Retry-After:
    /// 1`) while the store fails: no failure goes uncounted, and no client is served.
    /// **Turns a store outage into an outage of the service.**
    FailClosed,
}

/// The default bound on one call to a shared store: 100 ms.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(100);

/// An address as the throttle counts it, as text: IPv4 whole, IPv6 by its `prefix`.
pub(crate) fn masked_text(address: IpAddr, prefix: u8) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let keep = u32::from(prefix.min(128));
            let bits = u128::from(v6) & u128::MAX.checked_shl(128 - keep).unwrap_or(0);
            format!("{}/{keep}", std::net::Ipv6Addr::from(bits))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_whole_microseconds() {
        let rate = GcraRate::new(Duration::from_secs(60) / 7, 7);
        assert_eq!(rate.emission_micros(), 8_571_429);
        assert_eq!(rate.tolerance_micros(), 6 * 8_571_429);
        assert_eq!(
            GcraRate::new(Duration::from_nanos(1), 1).emission_micros(),
            1
        );
    }

    #[test]
    fn addresses_count_by_network() {
        assert_eq!(masked_text("192.0.2.1".parse().unwrap(), 64), "192.0.2.1");
        assert_eq!(
            masked_text("::ffff:192.0.2.1".parse().unwrap(), 64),
            "192.0.2.1"
        );
        assert_eq!(
            masked_text("2001:db8:1:2::ffff".parse().unwrap(), 64),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            masked_text("2001:db8:1:2::ffff".parse().unwrap(), 128),
            "2001:db8:1:2::ffff/128"
        );
    }
}
