//! Two demo-server processes sharing one Redis replay store, over real TCP: a request accepted by
//! one instance is a replay at the other, and of 200 concurrent copies of one signed request
//! spread over both, exactly one is accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use tower_hmac::SecretKey;
use tower_hmac_integration::authorization_now;
use tower_hmac_integration::{require_redis, unique_prefix};

/// The name both instances answer for, as behind a load balancer.
const SHARED_HOST: &str = "api.shared.test";

mod common;

use common::{Instance, send, start_demo};

/// An instance sharing the Redis store, without failure throttling (the test sends 199
/// replays on purpose; the throttle would answer them 429 instead of `replayed_nonce`).
async fn start_instance(redis_url: &str, prefix: &str) -> Instance {
    start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_REPLAY_STORE", redis_url),
        ("TOWER_HMAC_DEMO_REDIS_PREFIX", prefix),
        ("TOWER_HMAC_DEMO_HOSTS", SHARED_HOST),
        ("TOWER_HMAC_DEMO_THROTTLE", "off"),
    ])
    .await
}

fn signed_request() -> Vec<u8> {
    let key = SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    let auth = authorization_now(
        demo_server::DEMO_KEY_ID,
        &key,
        &http::Method::GET,
        SHARED_HOST,
        "/whoami",
        b"",
    );
    common::get("/whoami", SHARED_HOST, &auth)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_accepted_by_one_instance_is_a_replay_at_the_other() {
    let url = require_redis().await;
    let prefix = unique_prefix("scale-out");
    let (a, b) = (
        start_instance(&url, &prefix).await,
        start_instance(&url, &prefix).await,
    );
    let request = signed_request();

    let (status, text) = send(a.addr, &request).await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = send(b.addr, &request).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("replayed_nonce"), "{text}");
    let (status, _) = send(a.addr, &request).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_200_concurrent_copies_over_two_instances_exactly_one_is_accepted() {
    let url = require_redis().await;
    let prefix = unique_prefix("scale-out-race");
    let (a, b) = (
        start_instance(&url, &prefix).await,
        start_instance(&url, &prefix).await,
    );
    let request = Arc::new(signed_request());
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        let (request, barrier) = (Arc::clone(&request), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            send(addr, &request).await
        }));
    }
    let mut accepted = 0;
    let mut replayed = 0;
    for task in tasks {
        let (status, text) = task.await.unwrap();
        match status {
            200 => accepted += 1,
            401 if text.contains("replayed_nonce") => replayed += 1,
            other => panic!("unexpected answer {other}: {text}"),
        }
    }
    assert_eq!((accepted, replayed), (1, 199));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_with_in_process_stores_do_not_share_nonces() {
    // The reason for a shared store: with the default in-process store, each instance accepts
    // a captured request once.
    let a = start_instance("memory", "unused").await;
    let b = start_instance("memory", "unused").await;
    let request = signed_request();
    assert_eq!(send(a.addr, &request).await.0, 200);
    assert_eq!(send(b.addr, &request).await.0, 200);
    assert_eq!(send(b.addr, &request).await.0, 401);
}
