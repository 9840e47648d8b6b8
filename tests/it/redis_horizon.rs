//! The Redis store against private `redis-server` processes: it refuses a Redis that may evict
//! nonce keys (review item 12), and a Redis that lost its data does not reopen replays (item 11).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::time::Duration;

use tower_hmac::protocol::{NonceLifetime, NonceOutcome, NonceStoreErrorKind};
use tower_hmac::store::NonceStore;
use tower_hmac_integration::{lifetime, lifetime_at, now_millis, unique_key_id};
use tower_hmac_redis::{RedisNonceStore, RedisStoreError};

use crate::support::{RedisServer, eventually, patient_redis_store};

/// `RedisNonceStore::connect`'s answer: tried again while Redis only answered too late for the
/// connection's 250 ms timeouts (a busy machine), which is not the answer these tests look at.
async fn connect(url: &str) -> Result<RedisNonceStore, RedisStoreError> {
    eventually("RedisNonceStore::connect gets an answer", || async move {
        match RedisNonceStore::connect(url).await {
            Err(RedisStoreError::Connection(_)) => None,
            other => Some(other),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_may_evict_nonces_is_refused_at_start_and_per_request() {
    let server =
        RedisServer::start(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]).await;
    let err = connect(&server.url()).await.unwrap_err();
    assert!(
        matches!(&err, RedisStoreError::EvictingPolicy { policy } if policy == "allkeys-lru"),
        "{err}"
    );
    assert!(err.to_string().contains("noeviction"), "{err}");
    // A lazily opened store refuses every request instead (fail closed), never admits one.
    let store = patient_redis_store(&server.url());
    let err = store
        .check_and_insert(
            "k",
            "nonce-nonce-nonce-1",
            lifetime(Duration::from_secs(60)),
        )
        .await
        .unwrap_err();
    assert!(err.retry_after().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_policies_evict_nonces_too_and_are_refused() {
    let server = RedisServer::start(&["--maxmemory-policy", "volatile-ttl"]).await;
    assert!(matches!(
        connect(&server.url()).await,
        Err(RedisStoreError::EvictingPolicy { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_config_is_not_allowed_the_store_starts_with_a_warning() {
    // A managed Redis that disables CONFIG.
    let server = RedisServer::start(&["--rename-command", "CONFIG", ""]).await;
    let store = &connect(&server.url()).await.unwrap();
    // A new nonce for each try: one refused as not answered in time may still have been stored.
    let outcome = eventually("the store answers in time", || async move {
        match store
            .check_and_insert(
                "k",
                &unique_key_id("nonce"),
                lifetime(Duration::from_secs(60)),
            )
            .await
        {
            // Not answered within the connection's 250 ms: Timeout, or Unavailable with the
            // connection's timeout as its source. Always so, the test fails at the deadline.
            Err(e)
                if matches!(
                    e.kind(),
                    NonceStoreErrorKind::Timeout | NonceStoreErrorKind::Unavailable
                ) =>
            {
                None
            }
            other => Some(other.unwrap()),
        }
    })
    .await;
    assert_eq!(outcome, NonceOutcome::Fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restarted_without_its_data_does_not_accept_a_replay() {
    let mut server = RedisServer::start(&[]).await;
    let store = patient_redis_store(&server.url());
    let key = unique_key_id("restart");
    // Accepted before the restart.
    let accepted = lifetime(Duration::from_secs(60));
    assert_eq!(
        store
            .check_and_insert(&key, "captured-nonce-0001", accepted)
            .await
            .unwrap(),
        NonceOutcome::Fresh
    );
    // Redis restarts without persistence: every key is gone, the horizon marker too. (Its own
    // server, on a Unix socket: the restarted one is reached at the same address, with no port
    // released and taken again.)
    server.restart().await;
    // The same request again (signed at the same time): the store cannot know it, and says so.
    let (store, key) = (&store, key.as_str());
    let answer = eventually(
        "the store reconnects to the restarted Redis",
        || async move {
            // The layer's clock now; the request's own signing time.
            let replay = NonceLifetime::from_millis(
                now_millis(),
                accepted.signed_at_millis(),
                accepted.expires_millis(),
            );
            // The connection manager reconnects after the first failure.
            store
                .check_and_insert(key, "captured-nonce-0001", replay)
                .await
                .ok()
        },
    )
    .await;
    let NonceOutcome::BeforeHorizon { horizon_millis } = answer else {
        panic!("{answer:?}")
    };
    // A request signed now (after the new horizon: at it, if the system clock has not moved on
    // since) is fresh.
    let now = now_millis().max(horizon_millis);
    assert_eq!(
        store
            .check_and_insert(
                key,
                "new-nonce-000000001",
                lifetime_at(now, Duration::from_secs(60))
            )
            .await
            .unwrap(),
        NonceOutcome::Fresh
    );
}
