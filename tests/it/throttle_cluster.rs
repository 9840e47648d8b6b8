//! The shared throttle and risk state on a Redis Cluster of the test's own (`cluster.rs`): each
//! check's keys are in one slot, two instances allow together what one allows, and a node down
//! leaves the instances throttling on their own (fail-open) rather than refusing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tower_hmac::server::{BucketCall, BucketScope, FailureThrottle, GcraRate, SharedPolicyStore};
use tower_hmac::test_util::ManualClock;
use tower_hmac_integration::unique_prefix;
use tower_hmac_redis::RedisPolicyStore;

use crate::cluster::Cluster;
use crate::throttle_shared::{A as ADDRESS, Svc, T0, answer, key, request, service};

/// A layer whose throttle (4 failures a minute) keeps its buckets in `store`.
fn shared(clock: &ManualClock, store: Arc<dyn SharedPolicyStore>, timeout: Duration) -> Svc {
    let throttle = FailureThrottle::new(4, Duration::from_secs(60))
        .shared_arc(store)
        .store_timeout(timeout);
    service(clock, Some(throttle), None)
}

/// A request of `alice` signed with a wrong key, from [`ADDRESS`]: its status.
async fn failed_login(svc: &Svc, clock: &ManualClock) -> StatusCode {
    answer(svc, request("alice", &key(9), clock, ADDRESS))
        .await
        .0
}

#[tokio::test]
async fn the_shared_throttle_runs_on_a_cluster_one_slot_per_check() {
    let mut cluster = Cluster::start().await;
    let prefix = unique_prefix("throttle-cluster");
    let store = RedisPolicyStore::from_connection(cluster.connection().await)
        .with_prefix(&prefix)
        .with_timeout(Duration::from_secs(10));
    // Every key of one check hashes to one slot, as the cluster computes it.
    let call = BucketCall::new(
        BucketScope::Throttle,
        ADDRESS.into(),
        Some("a}{b:c"),
        GcraRate::new(Duration::from_secs(15), 4),
        0,
        false,
    );
    let keys = store.bucket_keys(&call);
    assert_eq!(keys.len(), 2);
    let slot = cluster.slot_of(&keys[0]).await;
    assert_eq!(cluster.slot_of(&keys[1]).await, slot);
    let [addrs, rate] = store.activity_keys("a}{b:c");
    assert_eq!(cluster.slot_of(&addrs).await, cluster.slot_of(&rate).await);

    let store: Arc<dyn SharedPolicyStore> = Arc::new(store);
    let clock = ManualClock::at_unix(T0);
    let first = shared(&clock, store.clone(), Duration::from_secs(10));
    let second = shared(&clock, store.clone(), Duration::from_secs(10));
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(failed_login(if i % 2 == 0 { &first } else { &second }, &clock).await);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ]
    );

    // The node that holds the address's slot goes down: each instance counts on its own.
    cluster.kill_node(Cluster::node_of_slot(slot));
    let clock = ManualClock::at_unix(T0 + 3600);
    let alone = shared(&clock, store, Duration::from_millis(200));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(failed_login(&alone, &clock).await);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
        ],
        "fail-open: the instance's own buckets"
    );
}
