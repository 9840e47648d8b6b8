//! The risk monitor (feature `policy`): the signals of `risk.rs` from the layer's decisions, and
//! the hook that carries high-risk ones to alerting.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tower_hmac_core::{Clock, clock::unix_seconds};

use super::remote::SharedRisk;
use super::shared::{
    ADDRESSES_PER_KEY, ActivityAnswer, DEFAULT_STORE_TIMEOUT, RATE_INTERVAL_SECS,
    RATE_WARM_INTERVALS, SharedPolicyStore,
};
use super::throttle::{FailureThrottle, StoreHandle, Throttle};
use crate::error::ConfigError;
use crate::server::observe::{RiskLevel, Signal, Signals};

/// A high-risk decision, as handed to an [`AlertHook`]. Never a secret, a signature or a header
/// value beyond the request id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Alert {
    /// `high`.
    pub risk: RiskLevel,
    /// What raised it.
    pub signals: Signals,
    /// `accepted` or `rejected`.
    pub outcome: &'static str,
    /// The rejection's code, `ok` for an accepted request.
    pub code: &'static str,
    /// The app, when known.
    pub app_id: Option<String>,
    /// The key id the request named, when it named one.
    pub key_id: Option<String>,
    /// The scheme's name, when one was picked.
    pub scheme: Option<&'static str>,
    /// The client's address, when known.
    pub client: Option<IpAddr>,
    /// The request's `X-Request-Id`, when it had a short one.
    pub request_id: Option<String>,
    /// When, on the layer's clock.
    pub at: SystemTime,
}

/// Where high-risk alerts go: a pager, a chat channel, a SIEM. Called on the request's task, so
/// it must not block: hand the alert to a channel or a spawned task.
///
/// Implemented for closures and for Tokio's `mpsc::Sender<Alert>` (a full channel drops the
/// alert rather than slowing requests down).
pub trait AlertHook: Send + Sync + 'static {
    /// One high-risk decision.
    fn alert(&self, alert: Alert);
}

impl<F: Fn(Alert) + Send + Sync + 'static> AlertHook for F {
    fn alert(&self, alert: Alert) {
        self(alert);
    }
}

impl AlertHook for tokio::sync::mpsc::Sender<Alert> {
    fn alert(&self, alert: Alert) {
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(_)) = self.try_send(alert) {
            // As the audit hook's channel: the decision's event is in the log, at `warn`.
            tracing::warn!(
                target: crate::server::observe::TRACING_TARGET,
                "the alert hook's channel is full: this alert is in the log only"
            );
        }
    }
}

/// The risk monitor's settings, given to
/// [`HmacAuthBuilder::risk_monitor`](crate::server::HmacAuthBuilder::risk_monitor); off unless given.
///
/// ```
/// # use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry};
/// use tower_hmac::server::{Alert, RiskMonitor};
/// let (alerts, mut rx) = tokio::sync::mpsc::channel::<Alert>(64);
/// let layer = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["api.example.com"]).unwrap())
///     .risk_monitor(RiskMonitor::new().alert_hook(alerts))
///     .build()
///     .unwrap();
/// # let _ = (layer, rx.try_recv());
/// ```
#[derive(Clone)]
pub struct RiskMonitor {
    burst_failures: u32,
    burst_window: Duration,
    rate_factor: u32,
    rate_floor: u32,
    far_factor: u32,
    capacity: usize,
    hook: Option<Arc<dyn AlertHook>>,
    shared: Option<StoreHandle>,
    memory: Duration,
    store_timeout: Duration,
}

impl fmt::Debug for RiskMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RiskMonitor")
            .field("burst_failures", &self.burst_failures)
            .field("burst_window", &self.burst_window)
            .field("rate_factor", &self.rate_factor)
            .field("rate_floor", &self.rate_floor)
            .field("far_factor", &self.far_factor)
            .field("capacity", &self.capacity)
            .field("hook", &self.hook.is_some())
            .field("shared", &self.shared)
            .field("memory", &self.memory)
            .field("store_timeout", &self.store_timeout)
            .finish()
    }
}

impl Default for RiskMonitor {
    fn default() -> Self {
        Self::new()
    }
}

impl RiskMonitor {
    /// The defaults: a burst is 10 failures in 60 s; a spike is 10 times a key's average and at
    /// least 100 calls in 10 s; far outside is 10 times the skew; 65 536 keys tracked.
    pub fn new() -> Self {
        Self {
            burst_failures: 10,
            burst_window: Duration::from_secs(60),
            rate_factor: 10,
            rate_floor: 100,
            far_factor: 10,
            capacity: 65_536,
            hook: None,
            shared: None,
            memory: DEFAULT_RISK_MEMORY,
            store_timeout: DEFAULT_STORE_TIMEOUT,
        }
    }

    /// Keeps the per-key state in `store`, shared by every instance (default: in this process):
    /// the addresses a key came from, its rate, its failure bursts. An attack spread over the
    /// instances then raises the alert an attack on one raises. The signals of an accepted
    /// request wait for one call to the store (bounded by [`store_timeout`](Self::store_timeout))
    /// before the inner service is called; a failure's signals wait with the failure's count.
    /// While the store fails, the instance's own state gives the signals (the monitor never
    /// refuses a request).
    pub fn shared(mut self, store: impl SharedPolicyStore) -> Self {
        self.shared = Some(StoreHandle(Arc::new(store)));
        self
    }

    /// [`shared`](Self::shared) with a store already behind an `Arc`.
    pub fn shared_arc(mut self, store: Arc<dyn SharedPolicyStore>) -> Self {
        self.shared = Some(StoreHandle(store));
        self
    }

    /// How long a shared store remembers a key's addresses and rate after its last accepted
    /// request (default [`DEFAULT_RISK_MEMORY`], 7 days; clamped to 1 minute – 365 days). A key
    /// idle for longer starts afresh: its next address is not `new_address`.
    pub fn memory(mut self, memory: Duration) -> Self {
        self.memory = memory.clamp(Duration::from_secs(60), Duration::from_secs(365 * 86_400));
        self
    }

    /// How long a request waits for the shared store (default 100 ms; clamped to 1 ms – 10 s).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout.clamp(Duration::from_millis(1), Duration::from_secs(10));
        self
    }

    /// A burst: `failures` failures within `window`, from one key id or one address.
    pub fn failure_burst(mut self, failures: u32, window: Duration) -> Self {
        self.burst_failures = failures;
        self.burst_window = window;
        self
    }

    /// A spike: more than `factor` times the key's average calls per 10 s, and more than `floor`.
    pub fn rate_spike(mut self, factor: u32, floor: u32) -> Self {
        self.rate_factor = factor.max(1);
        self.rate_floor = floor;
        self
    }

    /// Far outside the window: more than `factor` times the allowed skew away.
    pub fn far_outside_window(mut self, factor: u32) -> Self {
        self.far_factor = factor.max(1);
        self
    }

    /// How many keys' addresses and rates are tracked at most (default 65 536); keys past it are
    /// not tracked for `new_address` and `rate_spike`.
    pub fn capacity(mut self, keys: usize) -> Self {
        self.capacity = keys;
        self
    }

    /// Where high-risk alerts go.
    pub fn alert_hook(mut self, hook: impl AlertHook) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    pub(crate) fn build(&self, clock: Arc<dyn Clock>) -> Result<Monitor, ConfigError> {
        let burst_settings = FailureThrottle::new(self.burst_failures, self.burst_window)
            .capacity(self.capacity.max(64));
        let bursts = burst_settings.build(Arc::clone(&clock))?;
        // A key id's failures from every address in one bucket (the address dimension off, every
        // failure counted at one stand-in address): a guess spread over addresses is a burst too.
        let key_bursts = burst_settings
            .clone()
            .per_address(false)
            .build(Arc::clone(&clock))?;
        let shared = self.shared.as_ref().map(|store| {
            Arc::new(SharedRisk {
                store: Arc::clone(&store.0),
                burst_rate: burst_settings.rate(),
                rate_factor: self.rate_factor,
                rate_floor: self.rate_floor,
                memory: self.memory,
                timeout: self.store_timeout,
                clock: Arc::clone(&clock),
                degraded: Default::default(),
            })
        });
        Ok(Monitor {
            shared,
            settings: self.clone(),
            bursts,
            key_bursts,
            keys: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            clock,
        })
    }
}

/// The stand-in address at which a key id's failures from every address are counted together.
const ANY_ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// The default time a shared store remembers a key's addresses and rate: 7 days.
pub const DEFAULT_RISK_MEMORY: Duration = Duration::from_secs(7 * 86_400);

/// The seconds of one rate interval.
const INTERVAL_SECS: u64 = RATE_INTERVAL_SECS;
/// Intervals of history a key needs before a spike counts.
const WARM_INTERVALS: u32 = RATE_WARM_INTERVALS;
/// Addresses remembered per key.
const ADDRESSES: usize = ADDRESSES_PER_KEY;
/// Shards of the per-key state.
const SHARDS: usize = 16;

/// What the monitor remembers of one key.
#[derive(Default)]
struct KeyStats {
    /// Keyed hashes of the addresses it came from; 0 is empty.
    addresses: [u64; ADDRESSES],
    next_slot: usize,
    /// The current interval, its calls so far, and the average calls per interval (× 1000).
    interval: u64,
    calls: u32,
    average_milli: u64,
    intervals_seen: u32,
}

/// The monitor of a built layer.
pub(crate) struct Monitor {
    settings: RiskMonitor,
    /// The state every instance shares, when a store is given.
    pub(crate) shared: Option<Arc<SharedRisk>>,
    /// Failure bursts per address and per (key id, address).
    bursts: Throttle,
    /// Failure bursts per key id, from every address.
    key_bursts: Throttle,
    /// Per key (its keyed hash), in shards: concurrent requests of different keys do not wait
    /// for one lock.
    keys: Box<[Mutex<HashMap<u64, KeyStats>>]>,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// The signals of a failure; `burst`: whether it ended a burst, when a shared store said
    /// so (otherwise it is counted here).
    pub(crate) fn on_failure(
        &self,
        key_id: Option<&str>,
        client: Option<IpAddr>,
        off_by: Option<u64>,
        skew: Duration,
        burst: Option<bool>,
    ) -> Signals {
        let mut signals = Signals::default();
        let burst = match burst {
            Some(burst) => burst,
            None => {
                // Both counted: `|` not `||`.
                self.bursts.record_failure(key_id, client)
                    | (client.is_some()
                        && self.key_bursts.record_failure(key_id, Some(ANY_ADDRESS)))
            }
        };
        if burst {
            signals.add(Signal::FailureBurst);
        }
        if off_by.is_some_and(|off| {
            off > skew
                .as_secs()
                .saturating_mul(u64::from(self.settings.far_factor))
        }) {
            signals.add(Signal::FarOutsideWindow);
        }
        signals
    }

    /// The signals of an accepted request.
    pub(crate) fn on_accepted(&self, key_id: &str, client: Option<IpAddr>) -> Signals {
        let mut signals = Signals::default();
        let key = self.hasher.hash_one(key_id);
        let address = client.map(|c| self.hasher.hash_one(c.to_canonical()) | 1);
        let interval = unix_seconds(self.clock.now()) / INTERVAL_SECS;
        let shard = &self.keys[usize::try_from(key % SHARDS as u64).unwrap_or(0)];
        let mut keys = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if !keys.contains_key(&key) && keys.len() >= self.settings.capacity.div_ceil(SHARDS) {
            return signals;
        }
        let stats = keys.entry(key).or_default();
        if let Some(address) = address
            && !stats.addresses.contains(&address)
        {
            if stats.addresses.iter().any(|a| *a != 0) {
                signals.add(Signal::NewAddress);
            }
            stats.addresses[stats.next_slot] = address;
            stats.next_slot = (stats.next_slot + 1) % ADDRESSES;
        }
        if stats.interval != interval {
            if stats.interval != 0 {
                // Fold the finished interval, then the empty ones after it, into the average
                // (each weighs one fifth).
                let gap = interval.saturating_sub(stats.interval).min(64);
                let calls = u64::from(stats.calls) * 1000;
                // The first interval is the average; later ones weigh one fifth.
                let mut average = if stats.intervals_seen == 0 {
                    calls
                } else {
                    (stats.average_milli * 4 + calls) / 5
                };
                for _ in 1..gap {
                    average = average * 4 / 5;
                }
                stats.average_milli = average;
                stats.intervals_seen = stats
                    .intervals_seen
                    .saturating_add(u32::try_from(gap).unwrap_or(u32::MAX));
            }
            stats.interval = interval;
            stats.calls = 0;
        }
        stats.calls = stats.calls.saturating_add(1);
        let threshold = (stats.average_milli * u64::from(self.settings.rate_factor) / 1000)
            .max(u64::from(self.settings.rate_floor));
        if stats.intervals_seen >= WARM_INTERVALS && u64::from(stats.calls) == threshold + 1 {
            signals.add(Signal::RateSpike);
        }
        signals
    }

    /// The signals a shared store's answer gives.
    pub(crate) fn from_activity(answer: ActivityAnswer) -> Signals {
        let mut signals = Signals::default();
        if answer.new_address {
            signals.add(Signal::NewAddress);
        }
        if answer.rate_spike {
            signals.add(Signal::RateSpike);
        }
        signals
    }

    /// Whether a hook is set to hand alerts to.
    pub(crate) fn alerts(&self) -> bool {
        self.settings.hook.is_some()
    }

    /// Hands a high-risk decision to the hook.
    pub(crate) fn alert(&self, make: impl FnOnce(SystemTime) -> Alert) {
        if let Some(hook) = &self.settings.hook {
            hook.alert(make(self.clock.now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_hmac_core::ManualClock;

    const T0: u64 = 1_700_000_000;

    fn monitor(settings: RiskMonitor) -> (Monitor, ManualClock) {
        let clock = ManualClock::at_unix(T0);
        (settings.build(Arc::new(clock.clone())).unwrap(), clock)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_known_key_from_a_new_address_is_high_risk() {
        let (m, _) = monitor(RiskMonitor::new());
        assert!(
            m.on_accepted("k", ip("192.0.2.1")).is_empty(),
            "first address"
        );
        assert!(m.on_accepted("k", ip("192.0.2.1")).is_empty());
        let s = m.on_accepted("k", ip("203.0.113.5"));
        assert!(s.contains(Signal::NewAddress));
        assert_eq!(s.level(), RiskLevel::High);
        assert!(
            m.on_accepted("k", ip("203.0.113.5")).is_empty(),
            "known now"
        );
    }

    #[test]
    fn a_rate_far_above_the_average_is_a_spike_once() {
        let (m, clock) = monitor(RiskMonitor::new().rate_spike(10, 20));
        // A minute and more of 5 calls per interval.
        for i in 0..8 {
            clock.set_unix(T0 + i * INTERVAL_SECS);
            for _ in 0..5 {
                assert!(m.on_accepted("k", None).is_empty());
            }
        }
        clock.set_unix(T0 + 8 * INTERVAL_SECS);
        let raised: Vec<_> = (0..200)
            .map(|_| m.on_accepted("k", None).contains(Signal::RateSpike))
            .collect();
        assert_eq!(
            raised.iter().filter(|r| **r).count(),
            1,
            "once per interval"
        );
        let first = raised.iter().position(|r| *r).unwrap();
        assert!(
            (45..=55).contains(&first),
            "at ten times the average: {first}"
        );
    }

    #[test]
    fn bursts_and_far_requests() {
        let (m, _) = monitor(RiskMonitor::new().failure_burst(3, Duration::from_secs(60)));
        let skew = Duration::from_secs(300);
        let raised: Vec<_> = (0..5)
            .map(|_| m.on_failure(Some("k"), ip("192.0.2.1"), None, skew, None))
            .collect();
        assert!(raised[0].is_empty() && raised[1].is_empty());
        assert!(raised[2].contains(Signal::FailureBurst));
        assert!(!raised[3].contains(Signal::FailureBurst), "once per burst");
        let far = m.on_failure(None, None, Some(86_400), skew, None);
        assert!(far.contains(Signal::FarOutsideWindow));
        assert_eq!(far.level(), RiskLevel::Medium);
        assert!(m.on_failure(None, None, Some(600), skew, None).is_empty());
        assert_eq!(far.to_string(), "far_outside_window");
    }

    #[test]
    fn a_key_id_failing_from_many_addresses_is_a_burst() {
        // A guess at one key id spread over addresses (one failure from each): no address's nor
        // any (key id, address)'s counter fills, the key id's across addresses does.
        let (m, _) = monitor(RiskMonitor::new().failure_burst(3, Duration::from_secs(60)));
        let skew = Duration::from_secs(300);
        let raised: Vec<_> = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
            .into_iter()
            .map(|a| m.on_failure(Some("k"), ip(a), None, skew, None))
            .collect();
        assert!(raised[0].is_empty() && raised[1].is_empty());
        assert!(raised[2].contains(Signal::FailureBurst));
        assert!(!raised[3].contains(Signal::FailureBurst), "once per burst");
        // Another key id is not part of it.
        assert!(
            m.on_failure(Some("other"), ip("192.0.2.9"), None, skew, None)
                .is_empty()
        );
    }
}
