//! Risk signals on the layer's decisions, and the hook that carries high-risk ones to alerting.
//!
//! | signal | raised when | level |
//! |---|---|---|
//! | `failure_burst` | a key id or client address reaches `burst_failures` failures within `burst_window` (once per burst) | high |
//! | `new_address` | an accepted request's key id, already seen from other addresses, comes from an address it has not used | high |
//! | `rate_spike` | an accepted key's calls in the current 10 s interval pass `rate_factor` times its average (and at least `rate_floor`), once the key has a minute of history (once per interval) | high |
//! | `far_outside_window` | a `stale_timestamp` request is more than `far_factor` times the allowed skew away from the server's clock | medium |
//! | `throttled` | the request was refused by the failure throttle | medium |
//!
//! An event's risk is its highest signal's level, `low` without any. High-risk events are logged at
//! `warn` and handed to the monitor's alert hook, if one is set. The monitor (`RiskMonitor`) is the
//! `policy` feature's.

use std::fmt;

/// How worrying a decision is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum RiskLevel {
    /// Nothing unusual.
    #[default]
    Low,
    /// Worth a look: a request far outside the time window, throttled requests.
    Medium,
    /// Likely an attack or a leaked key: a burst of failures, a key from a new address, a key
    /// called far above its usual rate.
    High,
}

impl RiskLevel {
    /// `low`, `medium` or `high`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One risk signal (see the module docs for when each is raised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// Failures from one key id or address reached the burst threshold.
    FailureBurst,
    /// A key id came from an address it had not used.
    NewAddress,
    /// A key's call rate passed a multiple of its average.
    RateSpike,
    /// A request's time was far outside the allowed skew.
    FarOutsideWindow,
    /// The failure throttle refused the request.
    Throttled,
}

impl Signal {
    /// The signal's name in events and alerts.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FailureBurst => "failure_burst",
            Self::NewAddress => "new_address",
            Self::RateSpike => "rate_spike",
            Self::FarOutsideWindow => "far_outside_window",
            Self::Throttled => "throttled",
        }
    }

    /// The level the signal alone gives an event.
    pub const fn level(self) -> RiskLevel {
        match self {
            Self::FarOutsideWindow | Self::Throttled => RiskLevel::Medium,
            _ => RiskLevel::High,
        }
    }
}

/// The signals of one decision (a small set, no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Signals(u8);

impl Signals {
    const ALL: [Signal; 5] = [
        Signal::FailureBurst,
        Signal::NewAddress,
        Signal::RateSpike,
        Signal::FarOutsideWindow,
        Signal::Throttled,
    ];

    fn bit(signal: Signal) -> u8 {
        1 << Self::ALL.iter().position(|s| *s == signal).unwrap_or(0)
    }

    #[cfg_attr(not(feature = "policy"), allow(dead_code))]
    pub(crate) fn add(&mut self, signal: Signal) {
        self.0 |= Self::bit(signal);
    }

    /// Whether `signal` was raised.
    pub fn contains(&self, signal: Signal) -> bool {
        self.0 & Self::bit(signal) != 0
    }

    /// The signals raised.
    pub fn iter(&self) -> impl Iterator<Item = Signal> + '_ {
        Self::ALL.into_iter().filter(|s| self.contains(*s))
    }

    /// Whether none was raised.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The event's level: its highest signal's.
    pub fn level(&self) -> RiskLevel {
        self.iter()
            .map(Signal::level)
            .max()
            .unwrap_or(RiskLevel::Low)
    }
}

impl fmt::Display for Signals {
    /// The names, comma-separated (`new_address,rate_spike`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}
