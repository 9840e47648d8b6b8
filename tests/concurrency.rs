//! Races and floods through the layer: of 1,000 concurrent copies of one signed request exactly
//! one is accepted, for every nonce store; a nonce flood fills a store to its capacity and no
//! further, is refused with `503`, and service returns when the window passes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::Request;
use http::header::{AUTHORIZATION, HOST, RETRY_AFTER};
use tower::ServiceExt;
use tower_hmac::store::NonceStore;
use tower_hmac::{MemoryNonceStore, MokaNonceStore, SecretKey};
use tower_hmac_integration::{authorization_now, guarded_app};
use tower_hmac_integration::{require_redis, unique_prefix};
use tower_hmac_redis::RedisNonceStore;

fn key() -> SecretKey {
    SecretKey::from_bytes(&[0x55; 32]).unwrap()
}

fn app(store: impl NonceStore, max_skew: Duration) -> Router {
    guarded_app("race-key", key(), store, max_skew)
}

fn authorization() -> String {
    authorization_now("race-key", &key(), &http::Method::GET, "api.test", "/", b"")
}

fn request(auth: &str) -> Request<Body> {
    Request::get("/")
        .header(HOST, "api.test")
        .header(AUTHORIZATION, auth)
        .body(Body::empty())
        .unwrap()
}

async fn exactly_one_of_1000(store: impl NonceStore) {
    let app = app(store, Duration::from_secs(300));
    let auth = Arc::new(authorization());
    let barrier = Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let (app, auth, barrier) = (app.clone(), Arc::clone(&auth), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            let req = request(&auth);
            barrier.wait().await;
            app.oneshot(req).await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for task in tasks {
        *statuses.entry(task.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&200), Some(&1), "{statuses:?}");
    assert_eq!(statuses.get(&401), Some(&999), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_admits_exactly_one_of_1000_concurrent_copies() {
    exactly_one_of_1000(MemoryNonceStore::new(10_000).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_admits_exactly_one_of_1000_concurrent_copies() {
    exactly_one_of_1000(MokaNonceStore::new(10_000).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_admits_exactly_one_of_1000_concurrent_copies() {
    let url = require_redis().await;
    let store = RedisNonceStore::open(&url)
        .unwrap()
        .with_prefix(unique_prefix("race-1000"))
        .with_timeout(Duration::from_secs(5));
    exactly_one_of_1000(store).await;
}

/// Floods with fresh signed requests until the store is full; checks the refusals and the
/// recovery once the 1 s window (and so every nonce's TTL) has passed.
async fn flood(app: &Router, capacity: usize, held: impl Fn() -> u64) {
    let mut accepted = 0;
    let mut refused = 0;
    for _ in 0..capacity + 50 {
        let res = app
            .clone()
            .oneshot(request(&authorization()))
            .await
            .unwrap();
        match res.status().as_u16() {
            200 => accepted += 1,
            503 => {
                refused += 1;
                assert!(res.headers().contains_key(RETRY_AFTER));
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(accepted, capacity, "accepted up to the capacity");
    assert_eq!(refused, 50, "refused past the capacity (fail closed)");
    assert!(
        held() <= capacity as u64,
        "store holds {} > {capacity}",
        held()
    );
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let res = app
        .clone()
        .oneshot(request(&authorization()))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "service returns once the window has passed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_flood_fails_closed_and_recovers() {
    // One key floods here, so it may take the whole store (the per-key share has its own test).
    let store = MemoryNonceStore::new(500)
        .unwrap()
        .with_key_share_percent(100)
        .unwrap();
    let app = app(store.clone(), Duration::from_secs(1));
    flood(&app, 500, || store.len()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_flood_fails_closed_and_recovers() {
    let store = MokaNonceStore::new(500).unwrap();
    let app = app(store.clone(), Duration::from_secs(1));
    flood(&app, 500, || store.live()).await;
}
