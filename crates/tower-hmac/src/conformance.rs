//! The suite every [`NonceStore`] passes (feature `conformance`): run it on your own store, as
//! this project runs it on `MemoryNonceStore`, `MokaNonceStore` and the Redis stores (single
//! node and Cluster).
//!
//! ```no_run
//! # async fn check() {
//! use std::sync::Arc;
//! use tower_hmac::MemoryNonceStore;
//! use tower_hmac::conformance::{StoreClock, nonce_store_conformance};
//!
//! nonce_store_conformance(Arc::new(MemoryNonceStore::default()), StoreClock::Layer).await;
//! # }
//! ```
//!
//! Each check uses key ids of its own (random), so that runs sharing one store (a Redis) never
//! collide. Panics on a violated property: call it from a test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tower_hmac_core::{NonceLifetime, NonceOutcome, NonceStore, generate_nonce};

fn nonce() -> String {
    generate_nonce().expect("random nonce")
}

/// A key id no other run uses, so that stores shared between runs (Redis) never collide.
fn unique_key_id(label: &str) -> String {
    format!("{label}-{}", nonce())
}

/// Unix milliseconds now, on the system clock.
fn now_millis() -> u64 {
    tower_hmac_core::unix_millis(std::time::SystemTime::now())
}

/// The lifetime of a nonce recorded now, signed now, kept for `ttl`.
fn lifetime(ttl: Duration) -> NonceLifetime {
    lifetime_at(now_millis(), ttl)
}

/// The lifetime of a nonce recorded and signed at `now` (Unix milliseconds), kept for `ttl`.
fn lifetime_at(now: u64, ttl: Duration) -> NonceLifetime {
    NonceLifetime::from_millis(now, now, now + ttl.as_millis() as u64)
}

async fn insert_at(
    store: &dyn NonceStore,
    key_id: &str,
    nonce: &str,
    lifetime: NonceLifetime,
) -> NonceOutcome {
    store
        .check_and_insert(key_id, nonce, lifetime)
        .await
        .expect("store answers")
}

async fn insert(store: &dyn NonceStore, key_id: &str, nonce: &str, ttl: Duration) -> NonceOutcome {
    insert_at(store, key_id, nonce, lifetime(ttl)).await
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

/// Whose clock expires a store's nonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreClock {
    /// The layer's, passed with each call (in-process stores): tests set it, nothing sleeps.
    Layer,
    /// The store's own (Redis, moka's housekeeping): tests bound what it may answer by the
    /// time they measured around each call, and wait for an expiry by polling.
    Own,
}

/// A nonce is remembered for its whole lifetime, and forgotten after it — to the millisecond on
/// the layer's clock for the in-process stores.
pub async fn remembers_for_the_lifetime_then_forgets(store: &dyn NonceStore, clock: StoreClock) {
    let key = unique_key_id("ttl");
    let n = nonce();
    match clock {
        StoreClock::Layer => {
            let start = now_millis() + 60_000;
            let life = NonceLifetime::from_millis(start, start, start + 2000);
            assert_eq!(insert_at(store, &key, &n, life).await, NonceOutcome::Fresh);
            let at = |t: u64| NonceLifetime::from_millis(t, start, start + 2000);
            assert_eq!(
                insert_at(store, &key, &n, at(start + 1999)).await,
                NonceOutcome::Replayed,
                "forgotten a millisecond before its lifetime ends"
            );
            assert_eq!(
                insert_at(store, &key, &n, at(start + 2000)).await,
                NonceOutcome::Fresh,
                "remembered after its lifetime"
            );
        }
        StoreClock::Own => {
            // The store's clock is not the test's: what a check may answer depends on when the
            // store saw it, which only an interval measured around it bounds. A nonce stored at
            // `sent` or later lives until `sent + ttl` or later; so a check answered before then
            // must be a replay, and a check answered as fresh must have been answered after
            // then — however slow the machine. The forgetting is waited for by polling.
            let mut ttl = Duration::from_millis(400);
            let (n, sent) = loop {
                let n = nonce();
                let sent = Instant::now();
                assert_eq!(insert(store, &key, &n, ttl).await, NonceOutcome::Fresh);
                let outcome = insert(store, &key, &n, ttl).await;
                if sent.elapsed() < ttl {
                    assert_eq!(
                        outcome,
                        NonceOutcome::Replayed,
                        "forgotten before its lifetime ends"
                    );
                    break (n, sent);
                }
                // Answered too late to tell (a busy machine): again with a longer lifetime.
                assert!(
                    ttl < Duration::from_secs(60),
                    "no check was answered within a nonce's lifetime, up to {ttl:?}"
                );
                ttl *= 2;
            };
            let deadline = sent + ttl + Duration::from_secs(60);
            loop {
                let outcome = insert(store, &key, &n, ttl).await;
                if outcome == NonceOutcome::Fresh {
                    assert!(sent.elapsed() >= ttl, "forgotten before its lifetime ends");
                    break;
                }
                assert_eq!(outcome, NonceOutcome::Replayed);
                assert!(
                    Instant::now() < deadline,
                    "remembered a minute after its lifetime"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The window's edge (review item 1): a request accepted at the first instant it is fresh is a
/// replay at every later millisecond at which the layer would still accept it, by `is_fresh` on
/// whole seconds and the lifetime the layer computes — both clocks set by the test.
pub async fn remembers_until_the_request_stops_being_fresh(store: &dyn NonceStore) {
    use tower_hmac_core::policy::is_fresh;
    let key = unique_key_id("edge");
    let skew = Duration::from_secs(2);
    for offset_ms in [0u64, 1, 499, 999] {
        let n = nonce();
        // Signed 60 s from now (so after the store's horizon), first seen at the earliest fresh
        // instant plus `offset_ms`: the store's own rounding must not matter.
        let timestamp = now_millis() / 1000 + 60;
        let first = (timestamp - skew.as_secs()) * 1000 + offset_ms;
        let at = |t: u64| {
            NonceLifetime::for_request(
                timestamp,
                std::time::UNIX_EPOCH + Duration::from_millis(t),
                skew,
            )
        };
        assert_eq!(
            insert_at(store, &key, &n, at(first)).await,
            NonceOutcome::Fresh
        );
        let mut t = first + 1;
        while is_fresh(timestamp, t / 1000, skew) {
            assert_eq!(
                insert_at(store, &key, &n, at(t)).await,
                NonceOutcome::Replayed,
                "a copy at {} ms past the timestamp was accepted (first seen +{offset_ms} ms)",
                t as i64 - (timestamp * 1000) as i64
            );
            t += 7;
        }
        assert!(t >= (timestamp + skew.as_secs() + 1) * 1000);
    }
}

/// A request that may have been signed before the store existed is not taken as fresh.
pub async fn refuses_requests_signed_before_its_horizon(store: &dyn NonceStore) {
    let key = unique_key_id("horizon");
    let now = now_millis() + 5;
    let before = NonceLifetime::from_millis(now, now - 60_000, now + 60_000);
    let outcome = insert_at(store, &key, &nonce(), before).await;
    assert!(
        matches!(outcome, NonceOutcome::BeforeHorizon { horizon_millis } if horizon_millis > now - 60_000),
        "{outcome:?}"
    );
    let after = NonceLifetime::from_millis(now, now, now + 60_000);
    assert_eq!(
        insert_at(store, &key, &nonce(), after).await,
        NonceOutcome::Fresh
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
                .check_and_insert(&key, &n, lifetime(Duration::from_secs(60)))
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
pub async fn nonce_store_conformance(store: Arc<dyn NonceStore>, clock: StoreClock) {
    fresh_then_replayed(&*store).await;
    isolates_key_ids(&*store).await;
    concurrent_identical_inserts_admit_one(Arc::clone(&store), 200).await;
    refuses_requests_signed_before_its_horizon(&*store).await;
    remembers_for_the_lifetime_then_forgets(&*store, clock).await;
    if clock == StoreClock::Layer {
        remembers_until_the_request_stops_being_fresh(&*store).await;
    }
}
