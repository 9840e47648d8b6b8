//! The nonce-store conformance suite against every store, plus each store's own limits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::Duration;

use tower_hmac::NonceStore;
use tower_hmac::core::{NonceOutcome, NonceStoreErrorKind};
use tower_hmac::{MemoryNonceStore, MokaNonceStore};
use tower_hmac_integration::{
    nonce_store_conformance, require_redis, unique_key_id, unique_prefix,
};
use tower_hmac_redis::RedisNonceStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_conforms() {
    nonce_store_conformance(Arc::new(MokaNonceStore::new(10_000).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_conforms() {
    let url = require_redis().await;
    let store = RedisNonceStore::open(&url)
        .unwrap()
        .with_prefix(unique_prefix("conformance"));
    nonce_store_conformance(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_sets_the_ttl_the_layer_asks_for() {
    let url = require_redis().await;
    let prefix = unique_prefix("ttl");
    let store = RedisNonceStore::open(&url)
        .unwrap()
        .with_prefix(prefix.clone());
    let key = unique_key_id("ttl");
    store
        .check_and_insert(&key, "nonce-nonce-nonce", Duration::from_secs(301))
        .await
        .unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(store.key(&key, "nonce-nonce-nonce"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((300_000..=301_000).contains(&pttl), "PTTL {pttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_fails_closed_when_redis_is_unreachable() {
    // Nothing listens on port 1.
    let store = RedisNonceStore::open("redis://127.0.0.1:1").unwrap();
    let err = store
        .check_and_insert("k", "nonce-nonce-nonce", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            NonceStoreErrorKind::Unavailable | NonceStoreErrorKind::Timeout
        ),
        "{err:?}"
    );
    assert!(err.retry_after().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    nonce_store_conformance(Arc::new(MemoryNonceStore::new(10_000).unwrap())).await;
}

/// At capacity an in-process store refuses new nonces (fail closed) and recovers when they expire.
async fn fails_closed_at_capacity_and_recovers(store: &dyn NonceStore) {
    let key = unique_key_id("cap");
    for i in 0..100 {
        let outcome = store
            .check_and_insert(&key, &format!("nonce-{i:012}"), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(outcome, NonceOutcome::Fresh);
    }
    let err = store
        .check_and_insert(&key, "one-too-many-0000", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), NonceStoreErrorKind::CapacityExceeded);
    assert!(err.retry_after().is_some());
    // A replay of a stored nonce is still recognised as a replay, not refused as "full".
    let replay = store
        .check_and_insert(&key, "nonce-000000000007", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(replay, NonceOutcome::Replayed);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let outcome = store
        .check_and_insert(&key, "after-expiry-0000", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        NonceOutcome::Fresh,
        "the window passed, so there is room again"
    );
}

/// Flooding a full store never pushes out a live nonce.
async fn never_evicts_a_live_nonce(store: &dyn NonceStore) {
    let key = unique_key_id("evict");
    store
        .check_and_insert(&key, "the-captured-nonce", Duration::from_secs(60))
        .await
        .unwrap();
    for i in 0..50 {
        let _ = store
            .check_and_insert(&key, &format!("flood-{i:012}"), Duration::from_secs(60))
            .await;
    }
    let outcome = store
        .check_and_insert(&key, "the-captured-nonce", Duration::from_secs(60))
        .await;
    assert!(
        matches!(outcome, Ok(NonceOutcome::Replayed)),
        "the captured nonce must still be known: {outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_fails_closed_at_capacity_and_recovers() {
    let store = MemoryNonceStore::new(100).unwrap();
    fails_closed_at_capacity_and_recovers(&store).await;
    assert!(store.len() <= store.capacity());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_fails_closed_at_capacity_and_recovers() {
    let store = MokaNonceStore::new(100).unwrap();
    fails_closed_at_capacity_and_recovers(&store).await;
    assert!(store.live() <= store.capacity());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_never_evicts_a_live_nonce_to_make_room() {
    never_evicts_a_live_nonce(&MemoryNonceStore::new(10).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_never_evicts_a_live_nonce_to_make_room() {
    never_evicts_a_live_nonce(&MokaNonceStore::new(10).unwrap()).await;
}
