//! The demo's settings beyond the registry: the replay store, the allowed skew, the failure
//! throttle, the trusted proxies and the clock.

use std::time::Duration;

/// Where the demo keeps nonces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ReplayStore {
    /// The in-process `MemoryNonceStore` (the default): protects this instance only.
    #[default]
    Memory,
    /// A Redis shared by every instance, with a key prefix.
    Redis {
        /// The Redis URL.
        url: String,
        /// The key prefix.
        prefix: String,
    },
}

impl ReplayStore {
    /// From the setting's text: `memory` (or nothing), or a `redis://`/`rediss://` URL.
    pub fn parse(setting: &str, prefix: Option<String>) -> Result<Self, String> {
        match setting {
            "" | "memory" => Ok(Self::Memory),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => Ok(Self::Redis {
                url: url.to_owned(),
                prefix: prefix.unwrap_or_else(|| tower_hmac_redis::DEFAULT_PREFIX.to_owned()),
            }),
            other => Err(format!(
                "replay store {other:?}: expected \"memory\" or a redis:// URL"
            )),
        }
    }
}

/// The demo's settings beyond the registry (the defaults need no other service).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Hosts allowed besides the listening address.
    pub extra_hosts: Vec<String>,
    /// Where nonces are kept.
    pub replay_store: ReplayStore,
    /// The allowed clock skew (`TOWER_HMAC_DEMO_MAX_SKEW`, whole seconds); the layer's default
    /// (300 s) when unset.
    pub max_skew: Option<Duration>,
    /// Failed-authentication throttling (`TOWER_HMAC_DEMO_THROTTLE`): [`DEMO_THROTTLE`] unless
    /// set to `off` or `N/SECONDS`.
    pub throttle: Throttle,
    /// The proxies whose `X-Forwarded-*` headers are believed (`TOWER_HMAC_DEMO_TRUSTED_PROXIES`,
    /// comma-separated addresses or networks); none by default.
    pub trusted_proxies: Vec<String>,
    /// The layer's clock: the system's by default; a test's own, so that it sets the time
    /// instead of waiting for it.
    pub clock: Option<DemoClock>,
}

/// A clock for the demo's layer (see [`Settings::clock`]).
#[derive(Clone)]
pub struct DemoClock(pub std::sync::Arc<dyn tower_hmac::protocol::Clock>);

impl tower_hmac::protocol::Clock for DemoClock {
    fn now(&self) -> std::time::SystemTime {
        self.0.now()
    }
}

impl std::fmt::Debug for DemoClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoClock")
    }
}

/// The demo's throttle: 20 failed authentications a minute per client address and per key id at an address,
/// then `429 too_many_failures` (one more try every 3 s).
pub const DEMO_THROTTLE: (u32, u64) = (20, 60);

/// Whether and how the demo throttles failed authentications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// No throttling.
    Off,
    /// `failures` per `seconds`, per client address and per key id at an address.
    Failures {
        /// Failures allowed in the window.
        failures: u32,
        /// The window, in seconds.
        seconds: u64,
    },
}

impl Default for Throttle {
    fn default() -> Self {
        Self::Failures {
            failures: DEMO_THROTTLE.0,
            seconds: DEMO_THROTTLE.1,
        }
    }
}

impl Throttle {
    /// Parses `TOWER_HMAC_DEMO_THROTTLE`: `off`, or `N/SECONDS` (`20/60`).
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        let parsed = value.split_once('/').and_then(|(n, s)| {
            Some(Self::Failures {
                failures: n.trim().parse().ok().filter(|n| *n >= 1)?,
                seconds: s.trim().parse().ok().filter(|s| (1..=86_400).contains(s))?,
            })
        });
        parsed.ok_or_else(|| {
            format!(
                "TOWER_HMAC_DEMO_THROTTLE={value:?}: expected \"off\" or FAILURES/SECONDS, like 20/60"
            )
        })
    }
}

impl Settings {
    /// Parses `TOWER_HMAC_DEMO_MAX_SKEW`: whole seconds, 1 to 3600.
    pub fn parse_max_skew(value: &str) -> Result<Duration, String> {
        match value.trim().parse::<u64>() {
            Ok(secs @ 1..=3600) => Ok(Duration::from_secs(secs)),
            _ => Err(format!(
                "TOWER_HMAC_DEMO_MAX_SKEW={value:?}: expected whole seconds from 1 to 3600"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_skew_is_whole_seconds_in_range() {
        assert_eq!(
            Settings::parse_max_skew("2").unwrap(),
            Duration::from_secs(2)
        );
        assert!(Settings::parse_max_skew("0").is_err());
        assert!(Settings::parse_max_skew("1.5").is_err());
        assert!(Settings::parse_max_skew("3601").is_err());
    }

    #[test]
    fn the_replay_store_setting_is_memory_or_a_redis_url() {
        assert_eq!(ReplayStore::parse("", None).unwrap(), ReplayStore::Memory);
        assert_eq!(
            ReplayStore::parse("memory", None).unwrap(),
            ReplayStore::Memory
        );
        assert!(matches!(
            ReplayStore::parse("redis://127.0.0.1:6379", None).unwrap(),
            ReplayStore::Redis { .. }
        ));
        assert!(ReplayStore::parse("postgres://x", None).is_err());
    }
}
