//! Races and floods through the layer: of 1,000 concurrent copies of one signed request exactly
//! one is accepted, for every nonce store; a nonce flood fills a store to its capacity and no
//! further, is refused with `503`, and service returns when the window passes (on the layer's
//! clock, set by the test; and for moka on its own housekeeping, waited for).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http::Request;
use http::header::{AUTHORIZATION, HOST, RETRY_AFTER};
use tower::ServiceExt;
use tower_hmac::protocol::{Clock as _, ManualClock, SystemClock};
use tower_hmac::store::NonceStore;
use tower_hmac::{
    AllowedHosts, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore, MokaNonceStore, SecretKey,
};
use tower_hmac_integration::{authorization_now, guarded_app, sign_at};
use tower_hmac_integration::{require_redis, unique_prefix};

use crate::support::{eventually, patient_redis_store};

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
    let store = patient_redis_store(&url).with_prefix(unique_prefix("race-1000"));
    exactly_one_of_1000(store).await;
}

/// A layer on the test's clock: one key, host `api.test`, `store` as the replay store.
fn app_on(store: impl NonceStore, max_skew: Duration, clock: &ManualClock) -> Router {
    let registry = InMemoryRegistry::new();
    registry.insert("race-key", "test-app", key());
    let layer = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.test"]).unwrap())
        .max_skew(max_skew)
        .nonce_store(store)
        .clock(clock.clone())
        .build()
        .unwrap();
    Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .layer(layer)
}

/// A fresh request signed at the test clock's time.
fn signed_at(clock: &ManualClock) -> Request<Body> {
    let auth = sign_at(
        "race-key",
        &key(),
        &http::Method::GET,
        "api.test",
        "/",
        b"",
        clock.unix(),
    );
    request(&auth.to_string())
}

/// Floods with fresh signed requests until the store is full and checks the refusals. Returns
/// whether the counts were conclusive: with `conclusive_within`, the flood must have ended within
/// that much real time (a store that frees nonces on its own clock may have done so by then).
async fn flood(
    app: &Router,
    clock: &ManualClock,
    capacity: usize,
    held: &impl Fn() -> u64,
    conclusive_within: Option<Duration>,
) -> bool {
    let started = Instant::now();
    let mut statuses = Vec::with_capacity(capacity + 50);
    for _ in 0..capacity + 50 {
        let res = app.clone().oneshot(signed_at(clock)).await.unwrap();
        let status = res.status().as_u16();
        if status == 503 {
            assert!(res.headers().contains_key(RETRY_AFTER));
        }
        statuses.push(status);
    }
    let held_now = held();
    let accepted = statuses.iter().filter(|&&s| s == 200).count();
    let refused = statuses.iter().filter(|&&s| s == 503).count();
    assert_eq!(
        accepted + refused,
        statuses.len(),
        "unexpected statuses: {statuses:?}"
    );
    if conclusive_within.is_some_and(|within| started.elapsed() >= within) {
        return false;
    }
    assert_eq!(accepted, capacity, "accepted up to the capacity");
    assert_eq!(refused, 50, "refused past the capacity (fail closed)");
    assert!(
        held_now <= capacity as u64,
        "store holds {held_now} > {capacity}"
    );
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_flood_fails_closed_and_recovers() {
    // One key floods here, so it may take the whole store (the per-key share has its own test).
    let store = MemoryNonceStore::new(500)
        .unwrap()
        .with_key_share_percent(100)
        .unwrap();
    let clock = ManualClock::at_unix(SystemClock.unix_seconds());
    let skew = Duration::from_secs(1);
    let app = app_on(store.clone(), skew, &clock);
    // The memory store expires nonces on the layer's clock alone: the counts hold whatever real
    // time the flood takes.
    assert!(flood(&app, &clock, 500, &|| store.len(), None).await);
    // The window (and so every nonce's lifetime) passes on the layer's clock.
    clock.advance(skew + Duration::from_secs(2));
    let res = app.clone().oneshot(signed_at(&clock)).await.unwrap();
    assert_eq!(
        res.status(),
        200,
        "service returns once the window has passed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_flood_fails_closed_and_recovers() {
    // Moka removes a nonce a second after its lifetime on its own (real, monotonic) clock, and
    // only then is there room again. A nonce's lifetime is at least the window, so a flood that
    // ended within the window freed nothing and its counts are exact; a slower one (a busy
    // machine) is run again with a wider window.
    let mut skew = Duration::from_secs(2);
    let (app, clock) = loop {
        let store = MokaNonceStore::new(500).unwrap();
        let clock = ManualClock::at_unix(SystemClock.unix_seconds());
        let app = app_on(store.clone(), skew, &clock);
        if flood(&app, &clock, 500, &|| store.live(), Some(skew)).await {
            break (app, clock);
        }
        assert!(
            skew < Duration::from_secs(60),
            "no flood of 550 requests ended within {skew:?}"
        );
        skew *= 2;
    };
    // The window passes on the layer's clock; moka then frees the nonces on its own: until it
    // has, a new request is refused `503` with `Retry-After` (never admitted by evicting).
    clock.advance(skew + Duration::from_secs(2));
    let app = &app;
    let clock = &clock;
    eventually(
        "service returns once the window has passed",
        || async move {
            let res = app.clone().oneshot(signed_at(clock)).await.unwrap();
            match res.status().as_u16() {
                200 => Some(()),
                503 => {
                    assert!(res.headers().contains_key(RETRY_AFTER));
                    None
                }
                other => panic!("unexpected status {other}"),
            }
        },
    )
    .await;
}
