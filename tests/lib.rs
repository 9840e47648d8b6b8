//! Shared helpers of the integration tests. The nonce-store conformance suite they run against
//! every store is the published one, `tower_hmac::conformance`.
//!
//! This library is test code: a failed expectation is a failed test, hence `expect`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod cluster;
pub mod fuzz;
pub mod wait;

pub use tower_hmac::conformance::{StoreClock, nonce_store_conformance};

use std::time::Duration;

use tower_hmac::protocol::{NonceLifetime, generate_nonce};
use tower_hmac::store::NonceStore;

/// The `Authorization` header of a request to `host`, signed at `timestamp` with a fresh nonce;
/// `host` and nothing else is signed.
pub fn sign_at(
    key_id: &str,
    key: &tower_hmac::SecretKey,
    method: &http::Method,
    host: &str,
    target: &str,
    body: &[u8],
    timestamp: u64,
) -> tower_hmac::protocol::Authorization {
    let uri: http::Uri = target.parse().expect("target");
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, host.parse().expect("host"));
    tower_hmac::protocol::Signer::new(key_id, key.clone())
        .expect("key id")
        .sign(
            &(method, &uri, &headers),
            &tower_hmac::protocol::body_sha256(body),
            &tower_hmac::protocol::SignParams::new(timestamp, &nonce()),
        )
        .expect("sign")
}

/// The `Authorization` value of a request to `host`, signed now (see [`sign_at`]) — with the next
/// second's timestamp: a server whose replay store started within this second cannot know whether
/// a request stamped with this second was signed before its start, and refuses it once as
/// `stale_timestamp` (this project's clients then retry by themselves; a raw request does not).
pub fn authorization_now(
    key_id: &str,
    key: &tower_hmac::SecretKey,
    method: &http::Method,
    host: &str,
    target: &str,
    body: &[u8],
) -> String {
    use tower_hmac::protocol::clock::Clock as _;
    let now = tower_hmac::protocol::SystemClock.unix_seconds() + 1;
    sign_at(key_id, key, method, host, target, body, now).to_string()
}

/// An Axum app answering `ok` to `GET /` behind the layer: one key, host `api.test`, `store` as
/// the replay store.
pub fn guarded_app(
    key_id: &str,
    key: tower_hmac::SecretKey,
    store: impl NonceStore,
    max_skew: Duration,
) -> axum::Router {
    let registry = tower_hmac::InMemoryRegistry::new();
    registry.insert(key_id, "test-app", key);
    let layer = tower_hmac::HmacAuthLayer::builder(
        registry,
        tower_hmac::AllowedHosts::new(["api.test"]).expect("host"),
    )
    .max_skew(max_skew)
    .nonce_store(store)
    .build()
    .expect("layer");
    axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .layer(layer)
}

/// The Redis the tests use: `$REDIS_URL`, or the project's usual 127.0.0.1:6379.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Fails — never skips — when Redis is not reachable, saying how to start one.
pub async fn require_redis() -> String {
    let url = redis_url();
    let reachable = async {
        let client = redis::Client::open(url.as_str()).ok()?;
        // Patient: the client's defaults (1 s to connect, 500 ms to answer) are not.
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(30)))
            .set_response_timeout(Some(Duration::from_secs(30)));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    // A Redis that is down refuses at once; this only bounds one that hangs (patiently: a busy
    // machine must not make a running Redis look absent).
    let answer = tokio::time::timeout(std::time::Duration::from_secs(30), reachable).await;
    assert!(
        matches!(answer, Ok(Some(_))),
        "Redis is not reachable at {url}. These tests need a real Redis: start one with\n  \
         redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no\n\
         or point REDIS_URL at another."
    );
    url
}

/// A Redis key prefix no other run uses.
pub fn unique_prefix(label: &str) -> String {
    format!("tower-hmac-test:{label}:{}:", nonce())
}

fn nonce() -> String {
    generate_nonce().expect("random nonce")
}

/// A key id no other run uses, so that stores shared between runs (Redis) never collide.
pub fn unique_key_id(label: &str) -> String {
    format!("{label}-{}", nonce())
}

/// Unix milliseconds now, on the system clock.
pub fn now_millis() -> u64 {
    tower_hmac::protocol::unix_millis(std::time::SystemTime::now())
}

/// The lifetime of a nonce recorded now, signed now, kept for `ttl`.
pub fn lifetime(ttl: Duration) -> NonceLifetime {
    lifetime_at(now_millis(), ttl)
}

/// The lifetime of a nonce recorded and signed at `now` (Unix milliseconds), kept for `ttl`.
pub fn lifetime_at(now: u64, ttl: Duration) -> NonceLifetime {
    NonceLifetime::from_millis(now, now, now + ttl.as_millis() as u64)
}
