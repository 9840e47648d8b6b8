//! A Redis replay store for [tower-hmac](https://docs.rs/tower-hmac): every instance of a service
//! that shares one Redis shares one replay window, so a captured request replayed to another
//! replica is refused too.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry};
//! use tower_hmac_redis::RedisNonceStore;
//!
//! let store = RedisNonceStore::open("redis://127.0.0.1:6379")?
//!     .with_prefix("orders-api:nonce:");
//! let layer = HmacAuthLayer::builder(InMemoryRegistry::from_toml_file("registry.toml")?)
//!     .allowed_hosts(AllowedHosts::new(["api.example.com"])?)
//!     .nonce_store(store)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! - **One atomic command per request**: `SET <prefix><key-id>:<nonce> 1 NX PX <ttl>` — set only
//!   if absent, with the TTL the layer computes (the rest of the timestamp's validity window,
//!   exactly as for the in-process store). Never a `GET` followed by a `SET`.
//! - **Fails closed**: when Redis is unreachable, errors, or does not answer within the timeout
//!   (default 250 ms), the request is refused with `503 replay_store_unavailable` and
//!   `Retry-After` — never accepted unchecked. There is no fail-open mode.
//! - **Recovers by itself**: the connection is a [`ConnectionManager`], multiplexed and
//!   reconnecting; it is opened lazily, so a service can start while Redis is down and serves
//!   again as soon as Redis returns.
//! - **Redis Cluster**: each nonce is one independent key and one single-key command, so any slot
//!   layout works; with the `cluster` feature pass a `ClusterConnection` to
//!   [`RedisNonceStore::from_connection`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use tower_hmac_core::{
    NonceOutcome, NonceStore, NonceStoreError, NonceStoreErrorKind, StoreFuture,
};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "tower-hmac:nonce:";
/// The default time a request waits for Redis before it is refused.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// The `Retry-After` hint sent while Redis is unavailable.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A nonce store on Redis (see the crate docs).
#[derive(Clone)]
pub struct RedisNonceStore<C = ConnectionManager> {
    conn: C,
    prefix: Arc<str>,
    timeout: Duration,
}

/// The store could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(#[source] redis::RedisError),
    /// The connection manager could not be created.
    #[error("cannot create the Redis connection manager: {0}")]
    Connection(#[source] redis::RedisError),
    /// Called outside a Tokio runtime.
    #[error("RedisNonceStore::open must be called inside a Tokio runtime")]
    NoRuntime,
}

impl RedisNonceStore<ConnectionManager> {
    /// A store on the Redis at `url` (`redis://host:port/db`, `rediss://` for TLS if the `redis`
    /// crate's TLS feature is on). The connection is opened on first use and reopened after a
    /// failure; this call does not wait for Redis. Must be called inside a Tokio runtime.
    pub fn open(url: &str) -> Result<Self, RedisStoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisStoreError::NoRuntime);
        }
        let client = redis::Client::open(url).map_err(RedisStoreError::InvalidUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(DEFAULT_TIMEOUT))
            .set_response_timeout(Some(DEFAULT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(RedisStoreError::Connection)?;
        Ok(Self::from_connection(conn))
    }
}

impl<C> RedisNonceStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store on an existing connection: a [`ConnectionManager`] with settings of your own, or a
    /// Redis Cluster connection.
    pub fn from_connection(conn: C) -> Self {
        Self {
            conn,
            prefix: DEFAULT_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The key prefix (default `tower-hmac:nonce:`). Give each service (or test run) its own.
    pub fn with_prefix(mut self, prefix: impl Into<Arc<str>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a request waits for Redis before it is refused with `503` (default 250 ms).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Redis key of a (key id, nonce) pair. Neither may contain `:`, so keys never collide.
    pub fn key(&self, key_id: &str, nonce: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + key_id.len() + 1 + nonce.len());
        key.push_str(&self.prefix);
        key.push_str(key_id);
        key.push(':');
        key.push_str(nonce);
        key
    }
}

/// `SET key 1 NX PX ttl`: `Some("OK")` when set, `None` when the key existed.
fn set_nx_px(key: &str, ttl: Duration) -> redis::Cmd {
    let millis = u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, i64::MAX as u64);
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(1).arg("NX").arg("PX").arg(millis);
    cmd
}

fn unavailable(kind: NonceStoreErrorKind) -> NonceStoreError {
    NonceStoreError::new(kind).with_retry_after(RETRY_AFTER)
}

impl<C> NonceStore for RedisNonceStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>> {
        let cmd = set_nx_px(&self.key(key_id, nonce), ttl);
        let mut conn = self.conn.clone();
        let timeout = self.timeout;
        StoreFuture::new(async move {
            match tokio::time::timeout(timeout, cmd.query_async::<Option<String>>(&mut conn)).await
            {
                Ok(Ok(Some(_))) => Ok(NonceOutcome::Fresh),
                Ok(Ok(None)) => Ok(NonceOutcome::Replayed),
                Ok(Err(e)) => Err(unavailable(NonceStoreErrorKind::Unavailable).with_source(e)),
                Err(_) => Err(unavailable(NonceStoreErrorKind::Timeout)),
            }
        })
    }
}

impl<C> fmt::Debug for RedisNonceStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisNonceStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &redis::Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => "<other>".into(),
            })
            .collect()
    }

    #[test]
    fn the_command_is_one_atomic_set_nx_px() {
        let cmd = set_nx_px("p:k:n", Duration::from_secs(301));
        assert_eq!(args(&cmd), ["SET", "p:k:n", "1", "NX", "PX", "301000"]);
    }

    #[test]
    fn ttls_are_clamped_to_what_redis_accepts() {
        let last = |ttl| args(&set_nx_px("k", ttl)).pop().unwrap();
        assert_eq!(last(Duration::ZERO), "1");
        assert_eq!(last(Duration::from_secs(u64::MAX)), i64::MAX.to_string());
    }

    #[test]
    fn open_outside_a_runtime_is_an_error() {
        assert!(matches!(
            RedisNonceStore::open("redis://127.0.0.1:6379"),
            Err(RedisStoreError::NoRuntime)
        ));
    }

    #[tokio::test]
    async fn open_rejects_a_bad_url() {
        assert!(matches!(
            RedisNonceStore::open("http://nope"),
            Err(RedisStoreError::InvalidUrl(_))
        ));
    }

    #[tokio::test]
    async fn keys_join_prefix_key_id_and_nonce() {
        let store = RedisNonceStore::open("redis://127.0.0.1:6379")
            .unwrap()
            .with_prefix("x:");
        assert_eq!(store.key("k1", "abc"), "x:k1:abc");
    }
}
