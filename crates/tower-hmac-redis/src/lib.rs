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

#[cfg(feature = "policy")]
pub mod policy;

#[cfg(feature = "policy")]
pub use policy::{DEFAULT_POLICY_PREFIX, DEFAULT_POLICY_TIMEOUT, RedisPolicyStore};

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
/// The name, after the prefix and the bucket's hash tag, of the key that records when Redis's
/// memory of that bucket's nonces began: `<prefix>{h<bucket>}horizon`.
pub const HORIZON_KEY: &str = "horizon";
/// How many horizon buckets the nonces are spread over: each bucket has its own horizon marker,
/// in the hash slot of its nonces (see [`RedisNonceStore::key`]).
///
/// Part of the stored format, with the bucket function: never changed without a new prefix.
pub const HORIZON_BUCKETS: u32 = 1024;
/// The only `maxmemory-policy` that never evicts a nonce key (each has a TTL, so every
/// `volatile-*` policy may evict it too).
const SAFE_POLICY: &str = "noeviction";

/// The whole check, atomic, on the keys of one hash slot. `KEYS[1]`: the nonce's key,
/// `KEYS[2]`: its bucket's horizon marker; `ARGV[1]`: now, `ARGV[2]`: the nonce's TTL (both in
/// milliseconds). A missing marker means Redis lost the bucket's nonces: it is re-created at
/// now. The nonce is recorded in every case (`SET NX PX`). Returns `{fresh, horizon, lost}`.
const CHECK_SCRIPT: &str = "\
local horizon = redis.call('GET', KEYS[2])
local lost = 0
if not horizon then
  horizon = ARGV[1]
  redis.call('SET', KEYS[2], horizon)
  lost = 1
end
local fresh = 0
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2]) then
  fresh = 1
end
return {fresh, horizon, lost}
";
/// [`CHECK_SCRIPT`], sent as `EVALSHA` (and loaded once into a Redis, or a cluster node, that
/// does not hold it yet).
static CHECK: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(CHECK_SCRIPT));

/// A nonce store on Redis (see the crate docs).
#[derive(Clone)]
pub struct RedisNonceStore<C = ConnectionManager> {
    conn: C,
    prefix: Arc<str>,
    timeout: Duration,
    state: Arc<State>,
}

/// What the store learns once per process: that Redis is safe to use, and when the store began.
struct State {
    created: Instant,
    /// The policy check and the first horizon markers; a connection failure is not cached.
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
    ///
    /// On Redis Cluster, a prefix without `{` spreads the nonces over every node. A prefix that
    /// holds a hash tag (`{…}`) puts every key of the store in that tag's slot, on one node: still
    /// correct, not spread. A prefix whose first `{` is followed at once by `}` separates a
    /// nonce from its marker, and a cluster refuses every check (`503`).
    pub fn with_prefix(mut self, prefix: impl Into<Arc<str>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a request waits for Redis before it is refused with `503` (default 250 ms).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Redis key of a (key id, nonce) pair: `<prefix>{h<bucket>}<key id>:<nonce>`, where
    /// `<bucket>` (decimal, `0..HORIZON_BUCKETS`) is the FNV-1a 32-bit hash of the bytes
    /// `<key id>:<nonce>`, modulo [`HORIZON_BUCKETS`]. The hash tag `{h<bucket>}` puts the nonce
    /// in the hash slot of its bucket's [`horizon_key`](Self::horizon_key), so a Redis Cluster
    /// node that loses a nonce loses the marker that covers it too. Neither the key id nor the
    /// nonce may contain `:`, so keys never collide with each other nor with a marker.
    ///
    /// This layout and the bucket function are the stored format: every instance and every
    /// future version must compute them alike, so they never change without a new prefix.
    pub fn key(&self, key_id: &str, nonce: &str) -> String {
        self.key_in(bucket(key_id, nonce), key_id, nonce)
    }

    /// [`key`](Self::key), its bucket already known.
    fn key_in(&self, bucket: u32, key_id: &str, nonce: &str) -> String {
        let mut key = self.bucket_prefix(bucket, key_id.len() + 1 + nonce.len());
        key.push_str(key_id);
        key.push(':');
        key.push_str(nonce);
        key
    }

    /// The horizon marker of the bucket of a (key id, nonce) pair (`<prefix>{h<bucket>}horizon`,
    /// the bucket as in [`key`](Self::key)): the Unix millisecond from which Redis remembers
    /// every nonce of that bucket. Every bucket's marker is created when the first store starts;
    /// when Redis — or the cluster node that holds the bucket's slot — loses its data (a
    /// restart without persistence, a flush), the bucket's next request finds its marker missing
    /// and creates it anew, so requests of that bucket signed before then are refused once as
    /// `stale_timestamp`.
    pub fn horizon_key(&self, key_id: &str, nonce: &str) -> String {
        self.marker(bucket(key_id, nonce))
    }

    /// `<prefix>{h<bucket>}`, with room for `more` bytes.
    fn bucket_prefix(&self, bucket: u32, more: usize) -> String {
        use fmt::Write as _;
        let mut key = String::with_capacity(self.prefix.len() + 7 + more);
        key.push_str(&self.prefix);
        // Writing to a `String` cannot fail.
        let _ = write!(key, "{{h{bucket}}}");
        key
    }

    /// `<prefix>{h<bucket>}horizon`.
    fn marker(&self, bucket: u32) -> String {
        let mut key = self.bucket_prefix(bucket, HORIZON_KEY.len());
        key.push_str(HORIZON_KEY);
        key
    }

    /// Checks the eviction policy and records the store's start as the horizon of every bucket
    /// that has none (once per store; a failure to reach Redis is tried again on the next call).
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
                self.set_markers(started).await
            })
            .await
            .map(|_| ())
    }

    /// `SET <marker> started NX` for every bucket, as concurrent single-key commands: a pipeline
    /// would be one round trip on one Redis, but a cluster connection sends a pipeline to one
    /// node and refuses one whose keys are in several slots; the multiplexed connection sends
    /// these together anyway, and a cluster connection routes each to its node.
    async fn set_markers(&self, started: u64) -> Result<(), RedisStoreError> {
        let mut tasks = tokio::task::JoinSet::new();
        for bucket in 0..HORIZON_BUCKETS {
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.marker(bucket)).arg(started).arg("NX");
            let mut conn = self.conn.clone();
            tasks.spawn(async move { cmd.query_async::<Option<String>>(&mut conn).await });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(answer) => {
                    answer.map_err(RedisStoreError::Connection)?;
                }
                // A task that panicked or was cancelled: not set, so not ready; tried again.
                Err(e) => {
                    return Err(RedisStoreError::Connection(std::io::Error::other(e).into()));
                }
            }
        }
        Ok(())
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

    async fn insert(
        &self,
        [key, marker]: [String; 2],
        lifetime: NonceLifetime,
    ) -> Result<NonceOutcome, Failure> {
        self.prepare().await.map_err(Failure::Setup)?;
        let mut conn = self.conn.clone();
        let (fresh, horizon_millis, lost) = run_check(
            &mut conn,
            &key,
            &marker,
            lifetime.now_millis(),
            lifetime.ttl(),
        )
        .await
        .map_err(Failure::Redis)?;
        if lost {
            tracing::warn!(
                target: "tower_hmac::store",
                marker = marker.as_str(),
                "the Redis nonce store's horizon marker is missing: Redis lost its data (restart \
                 without persistence, flush, eviction); requests signed before now are refused once"
            );
        }
        // Recorded all the same (as it always was): a client signs again, with another nonce.
        if lifetime.signed_at_millis() < horizon_millis {
            return Ok(NonceOutcome::BeforeHorizon { horizon_millis });
        }
        Ok(if fresh {
            NonceOutcome::Fresh
        } else {
            NonceOutcome::Replayed
        })
    }
}

/// The bucket of a (key id, nonce) pair: FNV-1a 32 of `<key id>:<nonce>`, modulo
/// [`HORIZON_BUCKETS`]. Part of the stored format.
fn bucket(key_id: &str, nonce: &str) -> u32 {
    let text = key_id.bytes().chain([b':']).chain(nonce.bytes());
    fnv1a_32(text) % HORIZON_BUCKETS
}

/// FNV-1a, 32 bits (offset basis 2166136261, prime 16777619).
fn fnv1a_32(bytes: impl IntoIterator<Item = u8>) -> u32 {
    bytes.into_iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// One `EVALSHA` of [`CHECK_SCRIPT`] over the nonce's key and its bucket's marker (the script
/// loaded first where Redis does not hold it: first use, a restart, `SCRIPT FLUSH`). Returns
/// (fresh, horizon, marker was missing).
async fn run_check<C: ConnectionLike>(
    conn: &mut C,
    key: &str,
    marker: &str,
    now_millis: u64,
    ttl: Duration,
) -> redis::RedisResult<(bool, u64, bool)> {
    CHECK
        .key(key)
        .key(marker)
        .arg(now_millis)
        .arg(ttl_millis(ttl))
        .invoke_async(conn)
        .await
}

/// Why a check failed.
enum Failure {
    Setup(RedisStoreError),
    Redis(redis::RedisError),
}

/// A TTL in the whole milliseconds `SET … PX` accepts: at least 1, at most `i64::MAX`.
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, i64::MAX as u64)
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
        let bucket = bucket(key_id, nonce);
        let keys = [self.key_in(bucket, key_id, nonce), self.marker(bucket)];
        let store = self.clone();
        StoreFuture::new(async move {
            match tokio::time::timeout(store.timeout, store.insert(keys, lifetime)).await {
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

    fn store(prefix: &str) -> RedisNonceStore {
        RedisNonceStore::open("redis://127.0.0.1:6379")
            .unwrap()
            .with_prefix(prefix)
    }

    #[test]
    fn fnv1a_32_gives_the_published_values() {
        assert_eq!(fnv1a_32(*b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(*b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(*b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn buckets_are_the_stored_format_and_never_change() {
        // Frozen: a new value here means nonces stored by the previous version are not found.
        assert_eq!(bucket("k1", "abc"), fnv1a_32(*b"k1:abc") % 1024);
        assert_eq!(bucket("k1", "abc"), 255);
        assert_eq!(bucket("backoffice-2026-11", "nonce-nonce-nonce"), 757);
        assert_eq!(HORIZON_BUCKETS, 1024);
    }

    #[test]
    fn buckets_spread_nonces() {
        let mut seen = vec![0u32; HORIZON_BUCKETS as usize];
        for i in 0..100_000 {
            seen[bucket("key", &format!("nonce-{i:012}")) as usize] += 1;
        }
        // 97.7 on average: every bucket used, none more than twice its share.
        assert!(seen.iter().all(|&n| (1..200).contains(&n)), "{seen:?}");
    }

    #[tokio::test]
    async fn a_nonce_and_its_marker_share_one_hash_tag() {
        let store = store("x:");
        let b = bucket("k1", "abc");
        assert_eq!(store.key("k1", "abc"), format!("x:{{h{b}}}k1:abc"));
        assert_eq!(store.horizon_key("k1", "abc"), format!("x:{{h{b}}}horizon"));
    }

    #[test]
    fn ttls_are_whole_milliseconds_clamped_to_what_redis_accepts() {
        assert_eq!(ttl_millis(Duration::from_secs(301)), 301_000);
        // Milliseconds, not whole seconds: the store keeps exactly the lifetime asked for.
        assert_eq!(ttl_millis(Duration::from_millis(300_456)), 300_456);
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::from_secs(u64::MAX)), i64::MAX as u64);
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
}
