//! Shared helpers of the integration tests: the nonce-store conformance suite, written once and
//! run against every store.
//!
//! This library is test code: a failed expectation is a failed test, hence `expect`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod fuzz;

use std::sync::Arc;
use std::time::Duration;

use tower_hmac::NonceStore;
use tower_hmac::core::{NonceOutcome, generate_nonce};

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
) -> tower_hmac::core::Authorization {
    let uri: http::Uri = target.parse().expect("target");
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, host.parse().expect("host"));
    tower_hmac::core::Signer::new(key_id, key.clone())
        .expect("key id")
        .sign(
            method,
            &uri,
            &headers,
            &tower_hmac::core::body_sha256(body),
            timestamp,
            &nonce(),
            &[],
        )
        .expect("sign")
}

/// The `Authorization` value of a request to `host`, signed now (see [`sign_at`]).
pub fn authorization_now(
    key_id: &str,
    key: &tower_hmac::SecretKey,
    method: &http::Method,
    host: &str,
    target: &str,
    body: &[u8],
) -> String {
    use tower_hmac::core::clock::Clock as _;
    let now = tower_hmac::core::SystemClock.unix_seconds();
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
    let layer = tower_hmac::HmacAuthLayer::builder(registry)
        .allowed_hosts(tower_hmac::AllowedHosts::new(["api.test"]).expect("host"))
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
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(3), reachable).await;
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

async fn insert(store: &dyn NonceStore, key_id: &str, nonce: &str, ttl: Duration) -> NonceOutcome {
    store
        .check_and_insert(key_id, nonce, ttl)
        .await
        .expect("store answers")
}

/// A new nonce is fresh; the same again is a replay.
pub async fn fresh_then_replayed(store: &dyn NonceStore) {
    let key = unique_key_id("fresh");
    let n = nonce();
    assert_eq!(
        insert(store, &key, &n, Duration::from_secs(60)).await,
        NonceOutcome::Fresh
    );
    assert_eq!(
        insert(store, &key, &n, Duration::from_secs(60)).await,
        NonceOutcome::Replayed
    );
    assert_eq!(
        insert(store, &key, &n, Duration::from_secs(60)).await,
        NonceOutcome::Replayed
    );
}

/// One nonce under two key ids is two different entries.
pub async fn isolates_key_ids(store: &dyn NonceStore) {
    let (a, b) = (unique_key_id("iso-a"), unique_key_id("iso-b"));
    let n = nonce();
    assert_eq!(
        insert(store, &a, &n, Duration::from_secs(60)).await,
        NonceOutcome::Fresh
    );
    assert_eq!(
        insert(store, &b, &n, Duration::from_secs(60)).await,
        NonceOutcome::Fresh
    );
    assert_eq!(
        insert(store, &a, &n, Duration::from_secs(60)).await,
        NonceOutcome::Replayed
    );
}

/// A nonce is remembered for its whole TTL, and forgotten after it.
pub async fn remembers_for_the_ttl_then_forgets(store: &dyn NonceStore) {
    let key = unique_key_id("ttl");
    let n = nonce();
    let ttl = Duration::from_secs(2);
    assert_eq!(insert(store, &key, &n, ttl).await, NonceOutcome::Fresh);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        insert(store, &key, &n, ttl).await,
        NonceOutcome::Replayed,
        "forgotten before its TTL"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        insert(store, &key, &n, ttl).await,
        NonceOutcome::Fresh,
        "remembered after its TTL"
    );
}

/// Of many concurrent inserts of one pair, exactly one is fresh.
pub async fn concurrent_identical_inserts_admit_one(store: Arc<dyn NonceStore>, copies: usize) {
    let key = unique_key_id("race");
    let n = nonce();
    let barrier = Arc::new(tokio::sync::Barrier::new(copies));
    let mut tasks = Vec::with_capacity(copies);
    for _ in 0..copies {
        let (store, key, n, barrier) = (
            Arc::clone(&store),
            key.clone(),
            n.clone(),
            Arc::clone(&barrier),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .check_and_insert(&key, &n, Duration::from_secs(60))
                .await
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        if task.await.expect("task").expect("store answers") == NonceOutcome::Fresh {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1, "{copies} concurrent copies");
}

/// Runs the whole suite against `store`.
pub async fn nonce_store_conformance(store: Arc<dyn NonceStore>) {
    fresh_then_replayed(&*store).await;
    isolates_key_ids(&*store).await;
    concurrent_identical_inserts_admit_one(Arc::clone(&store), 200).await;
    remembers_for_the_ttl_then_forgets(&*store).await;
}
