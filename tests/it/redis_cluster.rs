//! The Redis store against a real Redis Cluster: three `redis-server` processes started by the
//! test itself (cluster mode, slots split three ways, no replicas: [`crate::cluster`]), reached
//! through `redis::cluster_async::ClusterConnection`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::{Duration, Instant};

use tower_hmac::protocol::{NonceOutcome, NonceStoreErrorKind};
use tower_hmac::store::NonceStore;
use tower_hmac_integration::{
    StoreClock, lifetime, nonce_store_conformance, unique_key_id, unique_prefix,
};
use tower_hmac_redis::RedisNonceStore;

use crate::cluster::Cluster;
use crate::support::PATIENCE;

/// The replay store on `cluster`, its own cluster connection, under `prefix`.
async fn nonce_store(
    cluster: &Cluster,
    prefix: &str,
) -> RedisNonceStore<redis::cluster_async::ClusterConnection> {
    // Patient (a busy machine answers late); the test of a dead node sets its own timeout.
    RedisNonceStore::from_connection(cluster.connection().await)
        .with_prefix(prefix)
        .with_timeout(PATIENCE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_conforms_and_is_shared_across_instances() {
    let cluster = Cluster::start().await;
    let prefix = unique_prefix("cluster");

    // The suite written once for every store: fresh, replayed, per-key isolation, 200 concurrent
    // identical inserts admit one, remembered for the TTL and forgotten after.
    nonce_store_conformance(
        Arc::new(nonce_store(&cluster, &prefix).await),
        StoreClock::Own,
    )
    .await;

    // Two instances, each with its own cluster connection, share one replay window, and the
    // nonces are spread over every node (slots) — no cross-slot command is ever needed.
    let (a, b) = (
        nonce_store(&cluster, &prefix).await,
        nonce_store(&cluster, &prefix).await,
    );
    let key = unique_key_id("instances");
    for i in 0..300 {
        let nonce = format!("nonce-{i:012}");
        assert_eq!(
            a.check_and_insert(&key, &nonce, lifetime(Duration::from_secs(60)))
                .await
                .unwrap(),
            NonceOutcome::Fresh
        );
        assert_eq!(
            b.check_and_insert(&key, &nonce, lifetime(Duration::from_secs(60)))
                .await
                .unwrap(),
            NonceOutcome::Replayed,
            "instance b accepted what instance a had seen"
        );
    }
    let counts = cluster.keys_per_node().await;
    assert!(counts.iter().all(|&n| n > 0), "keys per node: {counts:?}");
    println!("keys per node after the run: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_fails_closed_when_a_node_dies() {
    let mut cluster = Cluster::start().await;
    let patient = nonce_store(&cluster, &unique_prefix("cluster-down")).await;
    let key = unique_key_id("down");
    for i in 0..10 {
        let nonce = format!("before-{i:012}");
        assert_eq!(
            patient
                .check_and_insert(&key, &nonce, lifetime(Duration::from_secs(60)))
                .await
                .unwrap(),
            NonceOutcome::Fresh
        );
    }

    // The same store (its connection, its state) with the timeout a service would set.
    let store = patient.clone().with_timeout(Duration::from_millis(300));
    cluster.kill_node(2);

    // A third of the slots have no node: those nonces cannot be recorded, so they must be
    // refused (an error the layer turns into 503 with Retry-After), promptly — by the store's own
    // timeout or at once, never after the cluster client's retries — and never admitted.
    let (mut fresh, mut refused) = (0, 0);
    for i in 0..60 {
        let nonce = format!("after-{i:012}");
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            PATIENCE,
            store.check_and_insert(&key, &nonce, lifetime(Duration::from_secs(60))),
        )
        .await
        .unwrap_or_else(|_| panic!("a call did not end within {PATIENCE:?}"));
        match outcome {
            Ok(NonceOutcome::Fresh) => fresh += 1,
            Ok(other) => panic!("a new nonce reported as {other:?}"),
            Err(e) => {
                assert!(e.retry_after().is_some(), "{e:?}");
                assert!(
                    matches!(
                        e.kind(),
                        NonceStoreErrorKind::Timeout | NonceStoreErrorKind::Unavailable
                    ),
                    "{e:?}"
                );
                refused += 1;
            }
        }
        if i == 0 {
            println!(
                "the first call after the node died took {:?}",
                started.elapsed()
            );
        }
    }
    println!("with one node of three down: {fresh} recorded, {refused} refused");
    assert!(refused > 0, "nothing was refused with a node down");
}
