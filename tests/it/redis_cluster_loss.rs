//! The Redis store when part of its data is lost — a Redis Cluster node restarted without
//! persistence, or flushed, while the others keep theirs: no nonce it held is accepted again.
//! Each nonce key shares its hash slot with the horizon marker of its bucket, so whatever loses a
//! nonce loses the marker that covers it too, and the store refuses what was signed before the
//! loss (`BeforeHorizon`, `401 stale_timestamp`) while the other buckets still see replays.
//!
//! Before that layout (one `<prefix>horizon` marker on one node), the nonces of any other node
//! were accepted again after that node's flush: the cluster test failed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use tower_hmac::protocol::{NonceLifetime, NonceOutcome};
use tower_hmac::store::NonceStore;
use tower_hmac_integration::{now_millis, require_redis, unique_key_id, unique_prefix};
use tower_hmac_redis::RedisNonceStore;

use crate::cluster::{Cluster, NODES, node};
use crate::support::{PATIENCE, patient, patient_redis_store};

/// Nonces recorded per round: spread over every node (the test checks that each holds some).
const NONCES: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_node_that_loses_its_data_reopens_no_replay() {
    let cluster = Cluster::start().await;
    // Patient: a busy machine answers late, which is not what this test looks at.
    let store = RedisNonceStore::from_connection(cluster.connection().await)
        .with_prefix(unique_prefix("cluster-loss"))
        .with_timeout(PATIENCE);
    // The layer's clock, set by the test (never waited for): each round is signed 10 s after the
    // last, so after any horizon the round before may have set; the store started before all.
    let base = now_millis() + 1000;
    let window = 60_000;

    // Each node in turn loses its data: whichever holds a marker, every node's loss is covered.
    for (round, lost) in (0..NODES).enumerate() {
        let signed = base + 10_000 * round as u64;
        let key = unique_key_id("loss");
        let recorded = NonceLifetime::from_millis(signed, signed, signed + window);
        for i in 0..NONCES {
            let outcome = store
                .check_and_insert(&key, &format!("nonce-{i:012}"), recorded)
                .await
                .unwrap();
            assert_eq!(outcome, NonceOutcome::Fresh, "round {round}, nonce {i}");
        }
        let counts = cluster.keys_per_node().await;
        assert!(counts.iter().all(|&n| n > 0), "keys per node: {counts:?}");

        // Node `lost` forgets everything; the cluster still serves its slots.
        let mut conn = node(cluster.ports()[lost]).await;
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();

        // The captured requests again, a second later on the layer's clock, within their window.
        let replay = NonceLifetime::from_millis(signed + 1000, signed, signed + window);
        let (mut replayed, mut before_horizon) = (0, 0);
        for i in 0..NONCES {
            match store
                .check_and_insert(&key, &format!("nonce-{i:012}"), replay)
                .await
                .unwrap()
            {
                NonceOutcome::Replayed => replayed += 1,
                NonceOutcome::BeforeHorizon { horizon_millis } => {
                    assert!(horizon_millis > signed, "horizon {horizon_millis}");
                    before_horizon += 1;
                }
                other => panic!(
                    "round {round}: node {lost} was flushed and nonce {i}, recorded before, is \
                     {other:?}: a replay accepted"
                ),
            }
        }
        println!(
            "round {round}, node {lost} flushed: {replayed} replayed, {before_horizon} before \
             the horizon"
        );
        // The flushed node held some of them, the others kept theirs.
        assert!(before_horizon > 0 && replayed > 0, "{counts:?}");

        // A request signed after the loss is fresh, in every bucket.
        let after = signed + 2000;
        let fresh = NonceLifetime::from_millis(after, after, after + window);
        for i in 0..NONCES {
            let outcome = store
                .check_and_insert(&key, &format!("after-{i:012}"), fresh)
                .await
                .unwrap();
            assert_eq!(outcome, NonceOutcome::Fresh, "round {round}, nonce {i}");
        }
    }
}

/// On one Redis: one bucket's slot lost (its marker and its nonces deleted, as a cluster node
/// holding that slot loses them) reopens no replay of that bucket, and the others are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_loss_of_one_bucket_refuses_its_requests_signed_before() {
    let url = require_redis().await;
    let store = patient_redis_store(&url).with_prefix(unique_prefix("bucket-loss"));
    let key = unique_key_id("bucket");
    // The layer's clock, set by the test: signed after the store started, replayed a second
    // later (inside the window), and a new request signed after that.
    let signed = now_millis() + 1000;
    let window = 60_000;
    let recorded = NonceLifetime::from_millis(signed, signed, signed + window);
    let replay = NonceLifetime::from_millis(signed + 1000, signed, signed + window);

    // Two nonces of different buckets.
    let lost = "captured-nonce-0001";
    let kept = (0..)
        .map(|i| format!("other-nonce-{i:06}"))
        .find(|n| store.horizon_key(&key, n) != store.horizon_key(&key, lost))
        .unwrap();
    for nonce in [lost, kept.as_str()] {
        let outcome = store.check_and_insert(&key, nonce, recorded).await;
        assert_eq!(outcome.unwrap(), NonceOutcome::Fresh);
    }

    // The lost bucket's slot loses its keys: the marker and every nonce under its hash tag.
    let marker = store.horizon_key(&key, lost);
    let tag = marker.strip_suffix("horizon").unwrap();
    assert!(store.key(&key, lost).starts_with(tag), "{marker}");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&patient())
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{tag}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    redis::cmd("DEL")
        .arg(&keys)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    // The request of the lost bucket, replayed: refused as signed before its new horizon
    // (created now, on the layer's clock) — never fresh; again on a second try.
    for _ in 0..2 {
        let outcome = store.check_and_insert(&key, lost, replay).await.unwrap();
        assert_eq!(
            outcome,
            NonceOutcome::BeforeHorizon {
                horizon_millis: signed + 1000
            }
        );
    }
    let horizon: u64 = redis::cmd("GET")
        .arg(&marker)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(horizon, signed + 1000);
    // The other bucket lost nothing: still a replay.
    let outcome = store.check_and_insert(&key, &kept, replay).await.unwrap();
    assert_eq!(outcome, NonceOutcome::Replayed);
    // A request of the lost bucket signed after the loss is fresh.
    let after = NonceLifetime::from_millis(signed + 2000, signed + 2000, signed + window);
    let fresh = (0..)
        .map(|i| format!("new-nonce-{i:06}"))
        .find(|n| store.horizon_key(&key, n) == marker)
        .unwrap();
    let outcome = store.check_and_insert(&key, &fresh, after).await.unwrap();
    assert_eq!(outcome, NonceOutcome::Fresh);
}
