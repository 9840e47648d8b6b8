#![cfg_attr(docsrs, feature(doc_cfg))]
// The README is the crate documentation: one text for docs.rs, crates.io and GitHub. Its links
// go to docs.rs, so that they work everywhere; these definitions come first, so they win here and
// are intra-doc links.
//! [`RedisNonceStore::connect`]: RedisNonceStore::connect
//! [`RedisNonceStore::open`]: RedisNonceStore::open
//! [`RedisNonceStore::from_connection`]: RedisNonceStore::from_connection
#![doc = include_str!("../README.md")]
// Checked by `cargo test --doc`: the README shows examples/nonce_store.rs as it is, and
// says the Rust version of Cargo.toml's `rust-version`.
#![cfg_attr(
    doctest,
    doc = r#"```
let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
let example = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nonce_store.rs"));
let code: String = example
    .lines()
    .skip_while(|line| line.starts_with("//!") || line.is_empty())
    .map(|line| format!("{line}\n"))
    .collect();
assert!(readme.contains(&code), "README.md does not show examples/nonce_store.rs as it is");
let msrv = format!("Rust {} or newer", env!("CARGO_PKG_RUST_VERSION"));
assert!(readme.contains(&msrv), "README.md does not say {msrv:?}, as Cargo.toml does");
```"#
)]

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;
use tower_hmac_core::{
    NonceLifetime, NonceOutcome, NonceStore, NonceStoreError, NonceStoreErrorKind, StoreFuture,
};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "tower-hmac:nonce:";
/// The default time a request waits for Redis before it is refused.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// The `Retry-After` hint sent while Redis is unavailable.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The name, after the prefix, of the key that records when this Redis's memory of nonces began.
pub const HORIZON_KEY: &str = "horizon";
/// The only `maxmemory-policy` that never evicts a nonce key (each has a TTL, so every
/// `volatile-*` policy may evict it too).
const SAFE_POLICY: &str = "noeviction";

/// A nonce store on Redis (see the crate docs).
#[derive(Clone)]
pub struct RedisNonceStore<C = ConnectionManager> {
    conn: C,
    prefix: Arc<str>,
    /// `<prefix>horizon`, made once (it is read on every call).
    horizon_key: Arc<str>,
    timeout: Duration,
    state: Arc<State>,
}

/// What the store learns once per process: that Redis is safe to use, and when the store began.
struct State {
    created: Instant,
    /// The policy check and the first horizon marker; a connection failure is not cached.
    ready: OnceCell<()>,
    /// A policy that can evict nonces: every request is refused.
    refused_policy: std::sync::OnceLock<String>,
    warned_config: AtomicBool,
}

/// The store could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(#[source] redis::RedisError),
    /// The connection manager could not be created, or Redis did not answer.
    #[error("cannot use Redis: {0}")]
    Connection(#[source] redis::RedisError),
    /// Redis may evict keys under memory pressure: an evicted nonce is a replayable request.
    #[error(
        "Redis maxmemory-policy is {policy:?}, which can evict nonce keys (an evicted nonce is a \
         replayable request); set `maxmemory-policy noeviction` on this Redis, or use one of its own"
    )]
    EvictingPolicy {
        /// The policy found.
        policy: String,
    },
    /// Called outside a Tokio runtime.
    #[error("RedisNonceStore::open must be called inside a Tokio runtime")]
    NoRuntime,
}

impl RedisNonceStore<ConnectionManager> {
    /// A store on the Redis at `url` (`redis://host:port/db`, `rediss://` for TLS if the `redis`
    /// crate's TLS feature is on). The connection is opened on first use and reopened after a
    /// failure; this call does not wait for Redis, and the first request checks its eviction
    /// policy (see [`connect`](Self::connect) to check at start). Must be called inside a Tokio
    /// runtime.
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

    /// [`open`](Self::open), then checks Redis now: refuses to start on a `maxmemory-policy` that
    /// can evict nonce keys, or when Redis does not answer. Where `CONFIG` is not allowed (managed
    /// Redis) it logs a warning saying what to check, and starts.
    pub async fn connect(url: &str) -> Result<Self, RedisStoreError> {
        let store = Self::open(url)?;
        store.prepare().await?;
        Ok(store)
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
            horizon_key: format!("{DEFAULT_PREFIX}{HORIZON_KEY}").into(),
            timeout: DEFAULT_TIMEOUT,
            state: Arc::new(State {
                created: Instant::now(),
                ready: OnceCell::new(),
                refused_policy: std::sync::OnceLock::new(),
                warned_config: AtomicBool::new(false),
            }),
        }
    }

    /// The key prefix (default `tower-hmac:nonce:`). Give each service (or test run) its own.
    pub fn with_prefix(mut self, prefix: impl Into<Arc<str>>) -> Self {
        self.prefix = prefix.into();
        self.horizon_key = format!("{}{HORIZON_KEY}", self.prefix).into();
        self
    }

    /// How long a request waits for Redis before it is refused with `503` (default 250 ms).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Redis key of a (key id, nonce) pair. Neither may contain `:`, so keys never collide
    /// with each other nor with the horizon key.
    pub fn key(&self, key_id: &str, nonce: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + key_id.len() + 1 + nonce.len());
        key.push_str(&self.prefix);
        key.push_str(key_id);
        key.push(':');
        key.push_str(nonce);
        key
    }

    /// The key that holds the Unix millisecond from which this Redis remembers every nonce
    /// (`<prefix>horizon`). Created when the first store starts; when Redis loses its data
    /// (a restart without persistence, a flush), the next request finds it missing and creates
    /// it anew, so requests signed before then are refused once as `stale_timestamp`.
    pub fn horizon_key(&self) -> &str {
        &self.horizon_key
    }

    /// Checks the eviction policy and records the store's start as the horizon if there is none
    /// (once per store; a failure to reach Redis is tried again on the next call).
    async fn prepare(&self) -> Result<(), RedisStoreError> {
        if let Some(policy) = self.state.refused_policy.get() {
            return Err(RedisStoreError::EvictingPolicy {
                policy: policy.clone(),
            });
        }
        self.state
            .ready
            .get_or_try_init(|| async {
                let mut conn = self.conn.clone();
                self.check_policy(&mut conn).await?;
                // Rounded up: whole milliseconds of two clocks must not put the horizon after a
                // request signed right after the store was created.
                let elapsed = u64::try_from(self.state.created.elapsed().as_millis())
                    .unwrap_or(0)
                    .saturating_add(1);
                let started = tower_hmac_core::unix_millis(std::time::SystemTime::now())
                    .saturating_sub(elapsed);
                redis::cmd("SET")
                    .arg(self.horizon_key())
                    .arg(started)
                    .arg("NX")
                    .query_async::<Option<String>>(&mut conn)
                    .await
                    .map_err(RedisStoreError::Connection)?;
                Ok(())
            })
            .await
            .map(|_| ())
    }

    async fn check_policy(&self, conn: &mut C) -> Result<(), RedisStoreError> {
        let answer = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async::<Vec<String>>(conn)
            .await;
        match answer {
            Ok(pair) => match pair.get(1) {
                Some(policy) if policy == SAFE_POLICY => Ok(()),
                Some(policy) => {
                    let _ = self.state.refused_policy.set(policy.clone());
                    tracing::error!(
                        target: "tower_hmac::store",
                        policy = policy.as_str(),
                        "Redis may evict nonce keys under memory pressure (maxmemory-policy is not \
                         noeviction): every request is refused until it is changed"
                    );
                    Err(RedisStoreError::EvictingPolicy {
                        policy: policy.clone(),
                    })
                }
                None => {
                    self.warn_unverified("CONFIG GET returned no policy");
                    Ok(())
                }
            },
            Err(e) if e.kind() == redis::ErrorKind::Io || e.is_timeout() => {
                Err(RedisStoreError::Connection(e))
            }
            Err(e) => {
                self.warn_unverified(&e.to_string());
                Ok(())
            }
        }
    }

    fn warn_unverified(&self, why: &str) {
        if !self.state.warned_config.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                target: "tower_hmac::store",
                why,
                "cannot read Redis's maxmemory-policy (CONFIG is not allowed here): make sure it \
                 is noeviction, or that maxmemory leaves room for every live nonce — an evicted \
                 nonce is a replayable request"
            );
        }
    }

    /// The horizon: the marker's value, or — when Redis lost it — a new one from now.
    async fn horizon_after_loss(conn: &mut C, key: &str, now: u64) -> redis::RedisResult<u64> {
        tracing::warn!(
            target: "tower_hmac::store",
            "the Redis nonce store's horizon marker is missing: Redis lost its data (restart \
             without persistence, flush, eviction); requests signed before now are refused once"
        );
        redis::cmd("SET")
            .arg(key)
            .arg(now)
            .arg("NX")
            .query_async::<Option<String>>(conn)
            .await?;
        let marker: Option<u64> = redis::cmd("GET").arg(key).query_async(conn).await?;
        Ok(marker.unwrap_or(now))
    }

    async fn insert(&self, key: String, lifetime: NonceLifetime) -> Result<NonceOutcome, Failure> {
        self.prepare().await.map_err(Failure::Setup)?;
        let mut conn = self.conn.clone();
        let horizon_key = self.horizon_key();
        let mut marker_conn = self.conn.clone();
        // Two commands sent together on the multiplexed connection: one round trip, and in a
        // cluster each goes to its own node.
        let marker_cmd = redis::cmd("GET").arg(horizon_key).clone();
        let marker = marker_cmd.query_async::<Option<u64>>(&mut marker_conn);
        let set_cmd = set_nx_px(&key, lifetime.ttl());
        let set = set_cmd.query_async::<Option<String>>(&mut conn);
        let (marker, set) = tokio::join!(marker, set);
        let (marker, set) = (
            marker.map_err(Failure::Redis)?,
            set.map_err(Failure::Redis)?,
        );
        let horizon_millis = match marker {
            Some(h) => h,
            None => Self::horizon_after_loss(&mut conn, horizon_key, lifetime.now_millis())
                .await
                .map_err(Failure::Redis)?,
        };
        if lifetime.signed_at_millis() < horizon_millis {
            return Ok(NonceOutcome::BeforeHorizon { horizon_millis });
        }
        Ok(match set {
            Some(_) => NonceOutcome::Fresh,
            None => NonceOutcome::Replayed,
        })
    }
}

/// Why a check failed.
enum Failure {
    Setup(RedisStoreError),
    Redis(redis::RedisError),
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
        lifetime: NonceLifetime,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>> {
        let key = self.key(key_id, nonce);
        let store = self.clone();
        StoreFuture::new(async move {
            match tokio::time::timeout(store.timeout, store.insert(key, lifetime)).await {
                Ok(Ok(outcome)) => Ok(outcome),
                Ok(Err(Failure::Setup(RedisStoreError::Connection(e)) | Failure::Redis(e))) => {
                    Err(unavailable(NonceStoreErrorKind::Unavailable).with_source(e))
                }
                Ok(Err(Failure::Setup(e))) => {
                    Err(unavailable(NonceStoreErrorKind::Unavailable).with_source(e))
                }
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
        // Milliseconds, not whole seconds: the store keeps exactly the lifetime asked for.
        let cmd = set_nx_px("p:k:n", Duration::from_millis(300_456));
        assert_eq!(args(&cmd).pop().unwrap(), "300456");
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
