//! The failure throttle with a shared store, through the layer, against stores of the test's own
//! (the Redis one is tested in the workspace's integration tests): what the layer asks, when, and
//! what it does when the store fails or hangs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use crate::common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::protocol::StoreFuture;
use tower_hmac::server::{
    ActivityAnswer, ActivityCall, BucketAnswer, BucketCall, FailureThrottle, OnStoreError,
    PeerAddr, PolicyStoreError, PolicyStoreErrorKind, ResponseBody, SharedPolicyStore,
    VerifiedBody,
};
use tower_hmac::test_util::ManualClock;
use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, SecretKey};

const T0: u64 = 1_700_000_000;

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

async fn ok(_: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

type Svc = tower::util::BoxCloneService<
    Request<Full<Bytes>>,
    Response<ResponseBody<Full<Bytes>>>,
    Infallible,
>;

fn service(clock: &ManualClock, throttle: FailureThrottle) -> Svc {
    let registry = InMemoryRegistry::new();
    registry.insert("alice", "app-a", key(1));
    let layer = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.example.com"]).unwrap())
        .clock(clock.clone())
        .throttle_failures(throttle)
        .build()
        .unwrap();
    tower::util::BoxCloneService::new(ServiceBuilder::new().layer(layer).service_fn(ok))
}

fn get(secret: &SecretKey, clock: &ManualClock) -> Request<Full<Bytes>> {
    let mut req = common::signed_get(
        "http://api.example.com/orders",
        "alice",
        secret,
        clock.unix(),
    );
    req.extensions_mut()
        .insert(PeerAddr(SocketAddr::from(([192, 0, 2, 1], 40000))));
    req
}

async fn answer(svc: &Svc, req: Request<Full<Bytes>>) -> (StatusCode, Option<String>) {
    let res = svc.clone().oneshot(req).await.unwrap();
    let retry = res
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let status = res.status();
    let _ = res.into_body().collect().await.unwrap();
    (status, retry)
}

/// A store that is down, or that never answers.
struct Broken {
    hangs: bool,
}

impl SharedPolicyStore for Broken {
    fn buckets(&self, _: BucketCall) -> StoreFuture<Result<BucketAnswer, PolicyStoreError>> {
        if self.hangs {
            return StoreFuture::new(std::future::pending());
        }
        StoreFuture::ready(Err(PolicyStoreError::new(
            PolicyStoreErrorKind::Unavailable,
        )))
    }

    fn key_activity(
        &self,
        _: ActivityCall,
    ) -> StoreFuture<Result<ActivityAnswer, PolicyStoreError>> {
        StoreFuture::ready(Err(PolicyStoreError::new(
            PolicyStoreErrorKind::Unavailable,
        )))
    }
}

/// A store that writes down what it is asked and answers `answer`.
#[derive(Clone, Default)]
struct Recording {
    calls: Arc<Mutex<Vec<BucketCall>>>,
    answer: BucketAnswer,
}

impl SharedPolicyStore for Recording {
    fn buckets(&self, call: BucketCall) -> StoreFuture<Result<BucketAnswer, PolicyStoreError>> {
        self.calls.lock().unwrap().push(call);
        StoreFuture::ready(Ok(self.answer))
    }

    fn key_activity(
        &self,
        _: ActivityCall,
    ) -> StoreFuture<Result<ActivityAnswer, PolicyStoreError>> {
        StoreFuture::ready(Ok(ActivityAnswer::default()))
    }
}

#[tokio::test]
async fn one_call_checks_the_address_and_the_key_id_and_a_failure_is_recorded() {
    let clock = ManualClock::at_unix(T0);
    let store = Recording::default();
    let calls = Arc::clone(&store.calls);
    let svc = service(
        &clock,
        FailureThrottle::new(3, Duration::from_secs(60)).shared(store),
    );
    assert_eq!(answer(&svc, get(&key(1), &clock)).await.0, StatusCode::OK);
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 1, "an accepted request: one look, no count");
        let call = &calls[0];
        assert!(!call.record());
        assert!(call.address_bucket());
        assert_eq!(call.address(), "192.0.2.1");
        assert_eq!(call.key_id(), Some("alice"));
        assert_eq!(call.now_micros(), T0 * 1_000_000);
        assert_eq!(call.rate().emission_micros(), 20_000_000);
        assert_eq!(call.rate().tolerance_micros(), 40_000_000);
    }
    assert_eq!(
        answer(&svc, get(&key(9), &clock)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 3, "a failure: one look, one count");
    assert!(calls[2].record());
    assert_eq!(calls[2].key_id(), Some("alice"));
}

#[tokio::test]
async fn the_stores_wait_is_the_answer_before_the_key_is_looked_up() {
    let clock = ManualClock::at_unix(T0);
    let store = Recording {
        answer: BucketAnswer::new(None, Some(Duration::from_millis(29_001)), false),
        ..Recording::default()
    };
    let svc = service(
        &clock,
        FailureThrottle::new(3, Duration::from_secs(60)).shared(store),
    );
    let (status, retry) = answer(&svc, get(&key(1), &clock)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry.as_deref(), Some("30"));
}

#[tokio::test]
async fn fail_open_counts_in_process_while_the_store_is_down() {
    let clock = ManualClock::at_unix(T0);
    let svc = service(
        &clock,
        FailureThrottle::new(2, Duration::from_secs(60)).shared(Broken { hangs: false }),
    );
    assert_eq!(answer(&svc, get(&key(1), &clock)).await.0, StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(
            answer(&svc, get(&key(9), &clock)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, retry) = answer(&svc, get(&key(1), &clock)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry.as_deref(), Some("30"));
}

#[tokio::test]
async fn fail_closed_refuses_while_the_store_is_down() {
    let clock = ManualClock::at_unix(T0);
    let svc = service(
        &clock,
        FailureThrottle::new(2, Duration::from_secs(60))
            .shared(Broken { hangs: false })
            .on_store_error(OnStoreError::FailClosed),
    );
    let (status, retry) = answer(&svc, get(&key(1), &clock)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_store_that_never_answers_is_bounded_by_the_timeout() {
    let clock = ManualClock::at_unix(T0);
    let svc = service(
        &clock,
        FailureThrottle::new(2, Duration::from_secs(60))
            .shared(Broken { hangs: true })
            .store_timeout(Duration::from_millis(5)),
    );
    assert_eq!(answer(&svc, get(&key(1), &clock)).await.0, StatusCode::OK);
    assert_eq!(
        answer(&svc, get(&key(9), &clock)).await.0,
        StatusCode::UNAUTHORIZED
    );
}
