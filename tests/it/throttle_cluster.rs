//! The shared throttle and risk state on a Redis Cluster of the test's own (`cluster.rs`): each
//! check's keys are in one slot, two instances allow together what one allows, and a node down
//! leaves the instances throttling on their own (fail-open) rather than refusing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::server::{
    BucketCall, BucketScope, FailureThrottle, GcraRate, PeerAddr, ResponseBody, SharedPolicyStore,
    VerifiedBody,
};
use tower_hmac::test_util::ManualClock;
use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, SecretKey};
use tower_hmac_integration::{sign_at, unique_prefix};
use tower_hmac_redis::RedisPolicyStore;

use crate::cluster::Cluster;

const T0: u64 = 1_800_000_000;
const ADDRESS: [u8; 4] = [198, 51, 100, 7];

type Svc = tower::util::BoxCloneService<
    Request<Full<Bytes>>,
    Response<ResponseBody<Full<Bytes>>>,
    Infallible,
>;

async fn ok(_: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

fn service(clock: &ManualClock, store: Arc<dyn SharedPolicyStore>, timeout: Duration) -> Svc {
    let registry = InMemoryRegistry::new();
    registry.insert("alice", "app-a", SecretKey::from_bytes(&[1; 32]).unwrap());
    let layer = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.test"]).unwrap())
        .clock(clock.clone())
        .throttle_failures(
            FailureThrottle::new(4, Duration::from_secs(60))
                .shared_arc(store)
                .store_timeout(timeout),
        )
        .build()
        .unwrap();
    tower::util::BoxCloneService::new(ServiceBuilder::new().layer(layer).service_fn(ok))
}

async fn failed_login(svc: &Svc, clock: &ManualClock) -> StatusCode {
    let wrong = SecretKey::from_bytes(&[9; 32]).unwrap();
    let auth = sign_at(
        "alice",
        &wrong,
        &Method::GET,
        "api.test",
        "/",
        b"",
        clock.unix(),
    );
    let mut req = Request::get("/")
        .header(HOST, "api.test")
        .header(AUTHORIZATION, auth.to_string())
        .body(Full::default())
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr(SocketAddr::from((ADDRESS, 40000))));
    let res = svc.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let _ = res.into_body().collect().await.unwrap();
    status
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
    let first = service(&clock, store.clone(), Duration::from_secs(10));
    let second = service(&clock, store.clone(), Duration::from_secs(10));
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
    let alone = service(&clock, store, Duration::from_millis(200));
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
