//! The nonce-store conformance suite against every store, plus each store's own limits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::Duration;

use tower_hmac::MokaNonceStore;
use tower_hmac::NonceStore;
use tower_hmac::core::{NonceOutcome, NonceStoreErrorKind};
use tower_hmac_integration::{nonce_store_conformance, unique_key_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_conforms() {
    nonce_store_conformance(Arc::new(MokaNonceStore::new(10_000).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_fails_closed_at_capacity_and_recovers_when_nonces_expire() {
    let store = MokaNonceStore::new(100).unwrap();
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
    assert!(store.live() <= store.capacity());
    // A replay of a stored nonce is still recognised as a replay, not refused as "full".
    tokio::time::sleep(Duration::from_millis(1500)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_never_evicts_a_live_nonce_to_make_room() {
    let store = MokaNonceStore::new(10).unwrap();
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
