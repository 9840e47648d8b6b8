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
    /// A Redis Cluster shared by every instance (`redis+cluster://host:port[,host:port…]`),
    /// with a key prefix.
    RedisCluster {
        /// The seed nodes, as `redis://host:port` URLs.
        nodes: Vec<String>,
        /// The key prefix.
        prefix: String,
    },
}

/// Where several instances share state: one Redis, or a Redis Cluster through its seed nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis (`redis://…`, `rediss://…`).
    Single(String),
    /// A Redis Cluster (`redis+cluster://host:port[,host:port…]`): its seed nodes, as
    /// `redis://host:port` URLs.
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// From a setting's text: a `redis://`/`rediss://` URL, or `redis+cluster://` followed by
    /// comma-separated `host:port` seed nodes; `None` for anything else.
    pub fn parse(setting: &str) -> Option<Self> {
        if let Some(list) = setting.strip_prefix("redis+cluster://") {
            let nodes: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|node| !node.is_empty())
                .map(|node| format!("redis://{node}"))
                .collect();
            return (!nodes.is_empty()).then_some(Self::Cluster(nodes));
        }
        (setting.starts_with("redis://") || setting.starts_with("rediss://"))
            .then(|| Self::Single(setting.to_owned()))
    }

    /// A connection to the cluster's seed `nodes` (it learns the others from them).
    pub async fn cluster_connection(
        nodes: &[String],
    ) -> Result<redis::cluster_async::ClusterConnection, redis::RedisError> {
        redis::cluster::ClusterClient::new(nodes.to_vec())?
            .get_async_connection()
            .await
    }
}

/// A store setting as an error may show it: its URL scheme only (the rest may hold a user
/// name and a password, as `redis://user:password@host` does).
pub(crate) fn shown(setting: &str) -> String {
    match setting.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme.len() <= 32
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
        {
            format!("a {scheme}:// URL")
        }
        _ => "a value that is not a URL".to_owned(),
    }
}

/// Where a demo store lives (the session store, the token vault): in this process, Redis, a
/// Redis Cluster or PostgreSQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreTarget {
    /// In this process (the default): lost on restart.
    #[default]
    Memory,
    /// Redis at this URL, under this prefix.
    Redis(String, String),
    /// A Redis Cluster through these seed nodes (`redis://host:port`), under this prefix.
    RedisCluster(Vec<String>, String),
    /// PostgreSQL at this URL, in this schema.
    Postgres(String, Option<String>),
}

impl StoreTarget {
    /// From a setting: `memory` (or nothing), `redis://…`, `redis+cluster://host:port,…`,
    /// `postgres://…`; `namespace` is the key prefix (`default_prefix` when `None`) or the
    /// schema; `what` names the store in errors.
    pub fn parse(
        setting: &str,
        namespace: Option<String>,
        default_prefix: &str,
        what: &str,
    ) -> Result<Self, String> {
        let prefix = |namespace: Option<String>| namespace.unwrap_or_else(|| default_prefix.into());
        match setting {
            "" | "memory" => Ok(Self::Memory),
            url if url.starts_with("redis") => match RedisTarget::parse(url) {
                Some(RedisTarget::Single(url)) => Ok(Self::Redis(url, prefix(namespace))),
                Some(RedisTarget::Cluster(nodes)) => {
                    Ok(Self::RedisCluster(nodes, prefix(namespace)))
                }
                None => Err(format!(
                    "{what} ({}): expected a redis:// URL or redis+cluster://host:port,…",
                    shown(url)
                )),
            },
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Self::Postgres(url.to_owned(), namespace))
            }
            other => Err(format!(
                "{what} ({}): expected \"memory\", a redis:// or a postgres:// URL",
                shown(other)
            )),
        }
    }

    /// The kind of store, for messages (never its URL, which may hold a password).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis(..) => "Redis",
            Self::RedisCluster(..) => "Redis Cluster",
            Self::Postgres(..) => "PostgreSQL",
        }
    }
}

impl ReplayStore {
    /// From the setting's text: `memory` (or nothing), a `redis://`/`rediss://` URL, or
    /// `redis+cluster://host:port[,host:port…]`.
    pub fn parse(setting: &str, prefix: Option<String>) -> Result<Self, String> {
        if matches!(setting, "" | "memory") {
            return Ok(Self::Memory);
        }
        let prefix = prefix.unwrap_or_else(|| tower_hmac_redis::DEFAULT_PREFIX.to_owned());
        match RedisTarget::parse(setting) {
            Some(RedisTarget::Single(url)) => Ok(Self::Redis { url, prefix }),
            Some(RedisTarget::Cluster(nodes)) => Ok(Self::RedisCluster { nodes, prefix }),
            None => Err(format!(
                "replay store ({}): expected \"memory\", a redis:// URL or \
                 redis+cluster://host:port,…",
                shown(setting)
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
    /// The store the failure throttle and the risk monitor share with the other instances
    /// (`TOWER_HMAC_DEMO_POLICY_STORE`): each instance's own state when `None`.
    pub policy_store: Option<SharedPolicy>,
}

/// A store of the failure throttle's buckets and the risk monitor's per-key state, shared by
/// every instance (see [`Settings::policy_store`] and [`SharedPolicy::open`]).
#[derive(Clone)]
pub struct SharedPolicy(pub std::sync::Arc<dyn tower_hmac::server::SharedPolicyStore>);

impl std::fmt::Debug for SharedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedPolicy")
    }
}

impl SharedPolicy {
    /// Opens `TOWER_HMAC_DEMO_POLICY_STORE`'s store: `memory` (or nothing) for none, a
    /// `redis://` URL (connected on first use) or `redis+cluster://host:port,…` (connected
    /// now), under `prefix` (`TOWER_HMAC_DEMO_POLICY_PREFIX`, or the library's default).
    pub async fn open(
        setting: &str,
        prefix: Option<&str>,
    ) -> Result<Option<Self>, Box<dyn std::error::Error + Send + Sync>> {
        let prefix = prefix.unwrap_or(tower_hmac_redis::DEFAULT_POLICY_PREFIX);
        Ok(match setting {
            "" | "memory" => None,
            other => match RedisTarget::parse(other) {
                Some(RedisTarget::Single(url)) => Some(Self(std::sync::Arc::new(
                    tower_hmac_redis::RedisPolicyStore::open(&url)?.with_prefix(prefix),
                ))),
                Some(RedisTarget::Cluster(nodes)) => {
                    let conn = RedisTarget::cluster_connection(&nodes).await.map_err(|e| {
                        format!("the Redis Cluster policy store did not answer: {e}")
                    })?;
                    Some(Self(std::sync::Arc::new(
                        tower_hmac_redis::RedisPolicyStore::from_connection(conn)
                            .with_prefix(prefix),
                    )))
                }
                None => {
                    return Err(format!(
                        "policy store ({}): expected \"memory\", a redis:// URL or \
                         redis+cluster://host:port,…",
                        shown(other)
                    )
                    .into());
                }
            },
        })
    }
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
