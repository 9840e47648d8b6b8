//! The nonce-store conformance suite against every store, plus each store's own limits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::Duration;

use tower_hmac::protocol::{NonceOutcome, NonceStoreErrorKind};
use tower_hmac::store::NonceStore;
use tower_hmac::{MemoryNonceStore, MokaNonceStore};
use tower_hmac_integration::{
    StoreClock, lifetime, lifetime_at, nonce_store_conformance, now_millis, require_redis,
    unique_key_id, unique_prefix,
};
use tower_hmac_redis::RedisNonceStore;

use crate::support::{eventually, patient, patient_redis_store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_conforms() {
    nonce_store_conformance(
        Arc::new(MokaNonceStore::new(10_000).unwrap()),
        StoreClock::Layer,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_conforms() {
    let url = require_redis().await;
    let store = patient_redis_store(&url).with_prefix(unique_prefix("conformance"));
    nonce_store_conformance(Arc::new(store), StoreClock::Own).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_sets_the_ttl_the_layer_asks_for() {
    let url = require_redis().await;
    let prefix = unique_prefix("ttl");
    let store = patient_redis_store(&url).with_prefix(prefix.clone());
    let key = unique_key_id("ttl");
    let started = std::time::Instant::now();
    store
        .check_and_insert(
            &key,
            "nonce-nonce-nonce",
            lifetime(Duration::from_millis(300_456)),
        )
        .await
        .unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&patient())
        .await
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(store.key(&key, "nonce-nonce-nonce"))
        .query_async(&mut conn)
        .await
        .unwrap();
    // To the millisecond: Redis keeps it at least as long as the layer's lifetime, minus the time
    // that passed between the two commands — at most what this test measured around them (plus
    // the millisecond Redis's whole-millisecond clock may round off), however long that was.
    let measured = i64::try_from(started.elapsed().as_millis()).unwrap() + 1;
    assert!(
        (300_456 - measured - 1..=300_456).contains(&pttl),
        "PTTL {pttl}, {measured} ms measured around the two commands"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_fails_closed_when_redis_is_unreachable() {
    // Nothing listens on port 1.
    let store = RedisNonceStore::open("redis://127.0.0.1:1").unwrap();
    let err = store
        .check_and_insert("k", "nonce-nonce-nonce", lifetime(Duration::from_secs(60)))
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
    nonce_store_conformance(
        Arc::new(MemoryNonceStore::new(10_000).unwrap()),
        StoreClock::Layer,
    )
    .await;
}

/// At capacity an in-process store refuses new nonces (fail closed) and recovers when they expire:
/// on the layer's clock for the memory store, after moka's own housekeeping for moka.
async fn fails_closed_at_capacity_and_recovers(store: &dyn NonceStore, clock: StoreClock) {
    let key = unique_key_id("cap");
    let start = now_millis() + 1000;
    let ttl = Duration::from_secs(1);
    for i in 0..100 {
        let outcome = store
            .check_and_insert(&key, &format!("nonce-{i:012}"), lifetime_at(start, ttl))
            .await
            .unwrap();
        assert_eq!(outcome, NonceOutcome::Fresh);
    }
    let err = store
        .check_and_insert(&key, "one-too-many-0000", lifetime_at(start, ttl))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), NonceStoreErrorKind::CapacityExceeded);
    assert!(err.retry_after().is_some());
    // A replay of a stored nonce is still recognised as a replay, not refused as "full".
    let replay = store
        .check_and_insert(&key, "nonce-000000000007", lifetime_at(start, ttl))
        .await
        .unwrap();
    assert_eq!(replay, NonceOutcome::Replayed);
    let outcome = match clock {
        // The layer's clock, moved past the window.
        StoreClock::Layer => store
            .check_and_insert(&key, "after-expiry-0000", lifetime_at(start + 2100, ttl))
            .await
            .unwrap(),
        // Moka drops its entries on its own clock (a second after their lifetime): tried until
        // it has, each try refused as full (never an eviction, never another answer) until then.
        StoreClock::Own => {
            let key = key.as_str();
            eventually("moka frees the expired nonces", || async move {
                match store
                    .check_and_insert(
                        key,
                        "after-expiry-0000",
                        lifetime_at(now_millis() + 1000, ttl),
                    )
                    .await
                {
                    Err(e) if e.kind() == NonceStoreErrorKind::CapacityExceeded => None,
                    other => Some(other.unwrap()),
                }
            })
            .await
        }
    };
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
        .check_and_insert(
            &key,
            "the-captured-nonce",
            lifetime(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    for i in 0..50 {
        let _ = store
            .check_and_insert(
                &key,
                &format!("flood-{i:012}"),
                lifetime(Duration::from_secs(60)),
            )
            .await;
    }
    let outcome = store
        .check_and_insert(
            &key,
            "the-captured-nonce",
            lifetime(Duration::from_secs(60)),
        )
        .await;
    assert!(
        matches!(outcome, Ok(NonceOutcome::Replayed)),
        "the captured nonce must still be known: {outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_fails_closed_at_capacity_and_recovers() {
    // One key may fill it here: the per-key share has its own test.
    let store = MemoryNonceStore::new(100)
        .unwrap()
        .with_key_share_percent(100)
        .unwrap();
    fails_closed_at_capacity_and_recovers(&store, StoreClock::Layer).await;
    assert!(store.len() <= store.capacity());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moka_store_fails_closed_at_capacity_and_recovers() {
    let store = MokaNonceStore::new(100).unwrap();
    fails_closed_at_capacity_and_recovers(&store, StoreClock::Own).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_gives_one_key_at_its_share_its_own_refusal_while_others_go_on() {
    // Capacity 1000, half per key: a key holder flooding with fresh nonces stops at 500.
    let store = MemoryNonceStore::new(1000).unwrap();
    assert_eq!(store.key_limit(), 500);
    let flooder = unique_key_id("flood");
    let mut refused = None;
    for i in 0..600 {
        match store
            .check_and_insert(
                &flooder,
                &format!("flood-{i:012}"),
                lifetime(Duration::from_secs(60)),
            )
            .await
        {
            Ok(outcome) => assert_eq!(outcome, NonceOutcome::Fresh),
            Err(e) => {
                refused = Some((i, e.kind()));
                break;
            }
        }
    }
    assert_eq!(refused, Some((500, NonceStoreErrorKind::KeyQuotaExceeded)));
    // Every other key goes on.
    for other in 0..5 {
        let key = unique_key_id(&format!("other-{other}"));
        for i in 0..50 {
            let outcome = store
                .check_and_insert(
                    &key,
                    &format!("n-{i:014}"),
                    lifetime(Duration::from_secs(60)),
                )
                .await
                .unwrap();
            assert_eq!(outcome, NonceOutcome::Fresh);
        }
    }
    // The flooder's own replays are still replays.
    let replay = store
        .check_and_insert(
            &flooder,
            "flood-000000000007",
            lifetime(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(replay, NonceOutcome::Replayed);
}

#[test]
fn memory_store_capacity_follows_its_memory_budget() {
    let store = MemoryNonceStore::default();
    assert_eq!(
        store.memory_budget(),
        tower_hmac::store::DEFAULT_MEMORY_BUDGET
    );
    // 256 MiB of 16-byte slots, 3/4 usable, 7/8 of that for uneven shards: about 11 million.
    assert!(store.capacity() > 10_000_000, "{}", store.capacity());
    // It starts small and grows into the budget.
    assert!(
        store.allocated_bytes() <= 2 * 1024 * 1024,
        "{}",
        store.allocated_bytes()
    );
    let small = MemoryNonceStore::with_memory_budget(1 << 20).unwrap();
    assert!(small.capacity() < store.capacity());
    assert!(MemoryNonceStore::with_memory_budget(1000).is_err());
    assert!(
        MemoryNonceStore::new(10)
            .unwrap()
            .with_key_share_percent(0)
            .is_err()
    );
}

#[test]
fn memory_store_reports_its_fill_as_gauges() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let store = MemoryNonceStore::new(100)
            .unwrap()
            .with_key_share_percent(100)
            .unwrap();
        let key = unique_key_id("gauge");
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for i in 0..85 {
            let mut future = std::pin::pin!(store.check_and_insert(
                &key,
                &format!("nonce-{i:012}"),
                lifetime(Duration::from_secs(60))
            ));
            assert!(future.as_mut().poll(&mut cx).is_ready());
        }
    });
    let gauges: std::collections::HashMap<String, f64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Gauge(v) => Some((key.key().name().to_owned(), v.into_inner())),
            _ => None,
        })
        .collect();
    // Set when the store passed 80 % and at shard sweeps since: the count at its last report.
    assert_eq!(gauges.get("tower_hmac_replay_store_capacity"), Some(&100.0));
    let nonces = gauges["tower_hmac_replay_store_nonces"];
    assert!((80.0..=85.0).contains(&nonces), "{nonces}");
}
