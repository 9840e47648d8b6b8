//! The Redis store through the layer when Redis goes away: `503` with `Retry-After`, then service
//! again without a restart. It kills Redis client connections (`CLIENT KILL`), so it does so on
//! a `redis-server` of its own, never on the Redis the tests beside it use.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::header::{AUTHORIZATION, HOST, RETRY_AFTER};
use http::{Request, StatusCode};
use tower::ServiceExt;
use tower_hmac::SecretKey;
use tower_hmac::protocol::DEFAULT_MAX_SKEW;
use tower_hmac_integration::{authorization_now, guarded_app, unique_prefix};
use tower_hmac_redis::RedisNonceStore;

use crate::support::{PATIENCE, RedisServer, patient, patient_redis_store};

fn key() -> SecretKey {
    SecretKey::from_bytes(&[0x33; 32]).unwrap()
}

fn app(store: RedisNonceStore) -> Router {
    guarded_app("redis-key", key(), store, DEFAULT_MAX_SKEW)
}

fn signed() -> Request<Body> {
    let auth = authorization_now(
        "redis-key",
        &key(),
        &http::Method::GET,
        "api.test",
        "/",
        b"",
    );
    Request::get("/")
        .header(HOST, "api.test")
        .header(AUTHORIZATION, auth)
        .body(Body::empty())
        .unwrap()
}

async fn status(app: &Router) -> (StatusCode, Option<String>) {
    let res = app.clone().oneshot(signed()).await.unwrap();
    let retry = res
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status(), retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_is_a_503_with_retry_after() {
    let store = RedisNonceStore::open("redis://127.0.0.1:1").unwrap();
    let (status, retry) = status(&app(store)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_resumes_after_the_connection_is_killed() {
    let server = RedisServer::start(&[]).await;
    let url = server.url();
    // Patient with a slow answer (a busy machine), not with a killed connection: that one fails
    // at once, and the connection manager reconnects as `RedisNonceStore::open`'s does.
    let store = patient_redis_store(&url).with_prefix(unique_prefix("recovery"));
    let app = app(store);
    assert_eq!(status(&app).await.0, StatusCode::OK);

    // Kill every other client connection of this test's own Redis: the store's.
    let admin = redis::Client::open(url.as_str()).unwrap();
    let mut admin = admin
        .get_multiplexed_async_connection_with_config(&patient())
        .await
        .unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(killed >= 1, "no connection was killed");

    // Requests right after may be refused (fail closed, never an unchecked pass) …
    let mut statuses = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, retry) = status(&app).await;
        statuses.push(status);
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{statuses:?}");
        assert!(retry.is_some());
        assert!(
            tokio::time::Instant::now() < deadline,
            "did not recover: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // … and then it serves again, without a restart.
    assert_eq!(status(&app).await.0, StatusCode::OK, "{statuses:?}");
    println!("statuses after CLIENT KILL: {statuses:?}");
}
