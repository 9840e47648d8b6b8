//! The demo's one HMAC layer, for every signed route, and its replay store.

use std::net::SocketAddr;
use std::time::Duration;

use tower_hmac::protocol::HostError;
use tower_hmac::registry::KeyRegistry;
use tower_hmac::{AllowedHosts, HmacAuthBuilder, HmacAuthLayer};

use crate::schemes::{demo_schemes, reserve_routes};
use crate::settings::{ReplayStore, Settings, Throttle};

/// The hosts a client may name for a server bound to `addr`: the address itself, for loopback
/// `localhost` with the same port, and `extra` (a load balancer's name, for example).
pub fn hosts_for(addr: SocketAddr, extra: &[String]) -> Result<AllowedHosts, HostError> {
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        hosts.push(format!("localhost:{}", addr.port()));
    }
    hosts.extend(extra.iter().cloned());
    AllowedHosts::new(hosts)
}

/// A builder of the demo's layer with its schemes ([`demo_schemes`]) and route reservations
/// ([`reserve_routes`]), every other setting at the library's default (no throttle, the system
/// clock, a replay store of its own): what [`layer`] starts from.
pub fn demo_builder(registry: impl KeyRegistry, hosts: AllowedHosts) -> HmacAuthBuilder {
    reserve_routes(HmacAuthBuilder::new(demo_schemes(), registry, hosts))
}

/// The demo's one replay store, that of its one layer: a value recorded through one scheme is a
/// replay through every other, and with Redis through every instance.
pub type SharedNonceStore = std::sync::Arc<dyn tower_hmac::protocol::NonceStore>;

/// Opens the replay store the settings name: one in-process store, or a Redis client (connected
/// on first use). A Redis Cluster needs a connection first: [`open_replay_store`].
pub fn replay_store(
    settings: &Settings,
) -> Result<SharedNonceStore, Box<dyn std::error::Error + Send + Sync>> {
    Ok(match &settings.replay_store {
        ReplayStore::Memory => std::sync::Arc::new(tower_hmac::MemoryNonceStore::default()),
        ReplayStore::Redis { url, prefix } => std::sync::Arc::new(
            tower_hmac_redis::RedisNonceStore::open(url)?.with_prefix(prefix.as_str()),
        ),
        ReplayStore::RedisCluster { .. } => {
            return Err("a Redis Cluster replay store is opened with `open_replay_store`".into());
        }
    })
}

/// Opens the replay store the settings name, a Redis Cluster's connected to its seed nodes.
pub async fn open_replay_store(
    settings: &Settings,
) -> Result<SharedNonceStore, Box<dyn std::error::Error + Send + Sync>> {
    match &settings.replay_store {
        ReplayStore::RedisCluster { nodes, prefix } => {
            let conn = crate::settings::RedisTarget::cluster_connection(nodes)
                .await
                .map_err(|e| format!("the Redis Cluster replay store did not answer: {e}"))?;
            Ok(std::sync::Arc::new(
                tower_hmac_redis::RedisNonceStore::from_connection(conn)
                    .with_prefix(prefix.as_str()),
            ))
        }
        _ => replay_store(settings),
    }
}

/// The demo's one layer, for every signed route: every scheme ([`demo_schemes`]), the token
/// and the webhook signatures kept to their routes ([`reserve_routes`]), the registry, the hosts
/// of `addr`, the replay `store` and the settings.
///
/// Every setting applies to every scheme, the token and the webhooks included: the clock, the
/// allowed skew (Stripe's and Slack's window, how far ahead a token may be stamped), the failure
/// throttle, the risk monitor and the trusted proxies. Until the demo mounted one layer, its
/// token and webhook routes had layers of their own that ignored these settings: they ran on the
/// system clock with the default skew, unthrottled and unmonitored, and believed no proxy.
pub fn layer(
    registry: impl KeyRegistry,
    addr: SocketAddr,
    settings: &Settings,
    store: &SharedNonceStore,
) -> Result<HmacAuthLayer, Box<dyn std::error::Error + Send + Sync>> {
    let mut builder =
        demo_builder(registry, hosts_for(addr, &settings.extra_hosts)?).nonce_store(store.clone());
    if let Some(skew) = settings.max_skew {
        builder = builder.max_skew(skew);
    }
    if let Some(clock) = &settings.clock {
        builder = builder.clock(clock.clone());
    }
    if let Throttle::Failures { failures, seconds } = settings.throttle {
        let mut throttle =
            tower_hmac::server::FailureThrottle::new(failures, Duration::from_secs(seconds));
        if let Some(shared) = &settings.policy_store {
            throttle = throttle.shared_arc(shared.0.clone());
        }
        builder = builder.throttle_failures(throttle);
    }
    if !settings.trusted_proxies.is_empty() {
        builder = builder.trusted_proxies(tower_hmac::server::TrustedProxies::x_forwarded(
            &settings.trusted_proxies,
        )?);
    }
    // Risk signals on every decision; high-risk ones also go to the alert hook, here a log line
    // of its own (a real service would page someone).
    let mut monitor = tower_hmac::server::RiskMonitor::new();
    if let Some(shared) = &settings.policy_store {
        monitor = monitor.shared_arc(shared.0.clone());
    }
    let builder = builder.risk_monitor(monitor.alert_hook(|alert: tower_hmac::server::Alert| {
        tracing::warn!(
            target: "demo_server::alerts",
            signals = %alert.signals,
            code = alert.code,
            key_id = alert.key_id.as_deref().unwrap_or(""),
            client = %alert.client.map(|c| c.to_string()).unwrap_or_default(),
            "high-risk authentication event"
        );
    }));
    Ok(builder.build()?)
}

/// The demo's layer with a Redis store checked at start: refuses to start when Redis may evict
/// nonce keys (`maxmemory-policy`) or does not answer.
pub async fn layer_checked(
    registry: impl KeyRegistry,
    addr: SocketAddr,
    settings: &Settings,
    store: &SharedNonceStore,
) -> Result<HmacAuthLayer, Box<dyn std::error::Error + Send + Sync>> {
    if let ReplayStore::Redis { url, .. } = &settings.replay_store {
        tower_hmac_redis::RedisNonceStore::connect(url).await?;
    }
    layer(registry, addr, settings, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_include_localhost() {
        let hosts = hosts_for("127.0.0.1:8080".parse().unwrap(), &["api.test".into()]).unwrap();
        assert!(hosts.allows(b"api.test"));
        assert!(hosts.allows(b"127.0.0.1:8080"));
        assert!(hosts.allows(b"localhost:8080"));
        assert!(!hosts.allows(b"localhost"));
    }
}
