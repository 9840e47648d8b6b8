//! The failure throttle and the risk monitor with their state in Redis (`RedisPolicyStore`):
//! instances that share one Redis allow together what one allows and raise the alerts one
//! would; the same answers as the in-process throttle; every key expires; a Redis that does not
//! answer is handled as configured (fail-open: each instance's own buckets; fail-closed: 429).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::server::{
    Alert, FailureThrottle, OnStoreError, PeerAddr, ResponseBody, RiskMonitor, SharedPolicyStore,
    Signal, VerifiedBody,
};
use tower_hmac::test_util::ManualClock;
use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, SecretKey};
use tower_hmac_integration::{require_redis, sign_at, unique_prefix};
use tower_hmac_redis::RedisPolicyStore;

pub(crate) const T0: u64 = 1_800_000_000;
pub(crate) const A: [u8; 4] = [198, 51, 100, 7];
const B: [u8; 4] = [203, 0, 113, 9];

pub(crate) fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

pub(crate) type Svc = tower::util::BoxCloneService<
    Request<Full<Bytes>>,
    Response<ResponseBody<Full<Bytes>>>,
    Infallible,
>;

async fn ok(_: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

pub(crate) fn service(
    clock: &ManualClock,
    throttle: Option<FailureThrottle>,
    risk: Option<RiskMonitor>,
) -> Svc {
    let registry = InMemoryRegistry::new();
    registry.insert("alice", "app-a", key(1));
    registry.insert("bob", "app-b", key(2));
    let mut builder = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.test"]).unwrap())
        .clock(clock.clone());
    if let Some(throttle) = throttle {
        builder = builder.throttle_failures(throttle);
    }
    if let Some(risk) = risk {
        builder = builder.risk_monitor(risk);
    }
    let layer = builder.build().unwrap();
    tower::util::BoxCloneService::new(ServiceBuilder::new().layer(layer).service_fn(ok))
}

/// A request claiming `key_id`, signed with `secret` (a wrong one fails), from `addr`.
pub(crate) fn request(
    key_id: &str,
    secret: &SecretKey,
    clock: &ManualClock,
    addr: [u8; 4],
) -> Request<Full<Bytes>> {
    let auth = sign_at(
        key_id,
        secret,
        &Method::GET,
        "api.test",
        "/orders",
        b"",
        clock.unix(),
    );
    let mut req = Request::get("/orders")
        .header(HOST, "api.test")
        .header(AUTHORIZATION, auth.to_string())
        .body(Full::default())
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr(SocketAddr::from((addr, 40000))));
    req
}

/// The status and `Retry-After` of one request.
pub(crate) async fn answer(svc: &Svc, req: Request<Full<Bytes>>) -> (StatusCode, Option<String>) {
    let res = svc.clone().oneshot(req).await.unwrap();
    let retry = res
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let status = res.status();
    let _ = res.into_body().collect().await.unwrap();
    (status, retry)
}

fn store(url: &str, prefix: &str) -> RedisPolicyStore {
    RedisPolicyStore::open(url)
        .unwrap()
        .with_prefix(prefix)
        // Patient: a busy machine must not make a running Redis look down.
        .with_timeout(Duration::from_secs(10))
}

fn shared_throttle(max: u32, store: Arc<dyn SharedPolicyStore>) -> FailureThrottle {
    FailureThrottle::new(max, Duration::from_secs(60))
        .shared_arc(store)
        .store_timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn two_instances_sharing_redis_allow_together_what_one_allows() {
    let url = require_redis().await;
    let clock = ManualClock::at_unix(T0);
    let store: Arc<dyn SharedPolicyStore> = Arc::new(store(&url, &unique_prefix("throttle-two")));
    let first = service(&clock, Some(shared_throttle(4, store.clone())), None);
    let second = service(&clock, Some(shared_throttle(4, store)), None);
    let wrong = key(9);
    let mut statuses = Vec::new();
    for i in 0..8 {
        let svc = if i % 2 == 0 { &first } else { &second };
        statuses.push(answer(svc, request("alice", &wrong, &clock, A)).await.0);
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
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ],
        "four failures in all, not four per instance"
    );
    // Another address is not affected, on either instance.
    assert_eq!(
        answer(&second, request("alice", &key(1), &clock, B))
            .await
            .0,
        StatusCode::OK
    );
}

#[derive(Clone, Copy)]
enum Act {
    Bad(&'static str, [u8; 4]),
    Good(&'static str, [u8; 4]),
    Advance(u64),
}

#[tokio::test]
async fn the_shared_throttle_answers_as_the_in_process_one() {
    use Act::{Advance, Bad, Good};
    let url = require_redis().await;
    let script = [
        Bad("alice", A),
        Bad("alice", A),
        Bad("alice", A),
        Bad("alice", A),
        Good("alice", A),
        Good("alice", B),
        Bad("bob", B),
        Bad("bob", B),
        Advance(7),
        Good("alice", A),
        Advance(13),
        Good("alice", A),
        Bad("alice", A),
        Bad("alice", A),
        Good("bob", B),
        Bad("bob", B),
        Bad("bob", B),
        Good("bob", B),
        Advance(1),
        Bad("bob", A),
        Advance(61),
        Bad("alice", A),
        Bad("alice", A),
        Bad("alice", A),
        Bad("alice", A),
    ];
    let run = |svc: Svc, clock: ManualClock| async move {
        let mut answers = Vec::new();
        for act in script {
            match act {
                Bad(id, addr) => {
                    answers.push(answer(&svc, request(id, &key(9), &clock, addr)).await)
                }
                Good(id, addr) => {
                    let secret = if id == "alice" { key(1) } else { key(2) };
                    answers.push(answer(&svc, request(id, &secret, &clock, addr)).await);
                }
                Advance(secs) => clock.advance(Duration::from_secs(secs)),
            }
        }
        answers
    };
    // Seven failures a minute: a token every 8.571… s, not a whole number of milliseconds.
    let settings = || FailureThrottle::new(3, Duration::from_secs(60) / 7 * 3);
    let local_clock = ManualClock::at_unix(T0);
    let local = run(service(&local_clock, Some(settings()), None), local_clock).await;
    let shared_clock = ManualClock::at_unix(T0);
    let store = store(&url, &unique_prefix("throttle-same"));
    let shared = run(
        service(
            &shared_clock,
            Some(
                settings()
                    .shared(store)
                    .store_timeout(Duration::from_secs(10)),
            ),
            None,
        ),
        shared_clock,
    )
    .await;
    assert!(
        local
            .iter()
            .any(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    assert!(local.iter().any(|(s, _)| *s == StatusCode::OK));
    assert_eq!(shared, local);
}

#[tokio::test]
async fn every_key_the_shared_state_writes_expires() {
    let url = require_redis().await;
    let prefix = unique_prefix("throttle-ttl");
    let clock = ManualClock::at_unix(T0);
    let store: Arc<dyn SharedPolicyStore> = Arc::new(store(&url, &prefix));
    let svc = service(
        &clock,
        Some(shared_throttle(3, store.clone())),
        Some(
            RiskMonitor::new()
                .shared_arc(store)
                .memory(Duration::from_secs(3600))
                .store_timeout(Duration::from_secs(10)),
        ),
    );
    for _ in 0..5 {
        answer(&svc, request("alice", &key(9), &clock, A)).await;
    }
    answer(&svc, request("bob", &key(2), &clock, B)).await;
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    // Throttle: the address and (alice, address); bursts: the same two and alice across
    // addresses; bob: addresses, rate.
    assert_eq!(keys.len(), 7, "{keys:?}");
    for key in keys {
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let most = if key.contains("{k:") && !key.ends_with(":kb") {
            3_600_000
        } else {
            60_000
        };
        assert!(pttl > 0 && pttl <= most, "{key}: PTTL {pttl}");
    }
}

#[tokio::test]
async fn risk_signals_come_from_the_state_every_instance_shares() {
    let url = require_redis().await;
    let clock = ManualClock::at_unix(T0);
    let store: Arc<dyn SharedPolicyStore> = Arc::new(store(&url, &unique_prefix("risk")));
    let (alerts, mut rx) = tokio::sync::mpsc::channel::<Alert>(16);
    let monitor = || {
        RiskMonitor::new()
            .failure_burst(3, Duration::from_secs(60))
            .shared_arc(store.clone())
            .store_timeout(Duration::from_secs(10))
            .alert_hook(alerts.clone())
    };
    let first = service(&clock, None, Some(monitor()));
    let second = service(&clock, None, Some(monitor()));
    // A key seen at one instance from A, then at the other from B: a new address.
    assert_eq!(
        answer(&first, request("alice", &key(1), &clock, A)).await.0,
        StatusCode::OK
    );
    assert!(rx.try_recv().is_err());
    assert_eq!(
        answer(&second, request("alice", &key(1), &clock, B))
            .await
            .0,
        StatusCode::OK
    );
    let alert = rx.try_recv().expect("new_address across instances");
    assert!(alert.signals.contains(Signal::NewAddress), "{alert:?}");
    // A burst of failures spread over the two instances.
    for i in 0..3 {
        let svc = if i % 2 == 0 { &first } else { &second };
        answer(svc, request("bob", &key(9), &clock, A)).await;
    }
    let alert = rx.try_recv().expect("failure_burst across instances");
    assert!(alert.signals.contains(Signal::FailureBurst), "{alert:?}");
    assert!(rx.try_recv().is_err(), "once per burst");
}

/// A Redis that never answers: a port the OS gave, bound, never accepted from.
async fn silent_redis() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    (listener, url)
}

#[tokio::test]
async fn fail_open_counts_in_process_while_redis_does_not_answer() {
    let (_listener, url) = silent_redis().await;
    let clock = ManualClock::at_unix(T0);
    let store = RedisPolicyStore::open(&url)
        .unwrap()
        .with_timeout(Duration::from_millis(50));
    let svc = service(
        &clock,
        Some(
            FailureThrottle::new(2, Duration::from_secs(60))
                .shared(store)
                .store_timeout(Duration::from_millis(50)),
        ),
        None,
    );
    assert_eq!(
        answer(&svc, request("alice", &key(1), &clock, B)).await.0,
        StatusCode::OK,
        "the default is fail-open"
    );
    let statuses: Vec<_> = [0; 3]
        .iter()
        .map(|_| request("alice", &key(9), &clock, A))
        .collect();
    let mut answers = Vec::new();
    for req in statuses {
        answers.push(answer(&svc, req).await.0);
    }
    assert_eq!(
        answers,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "the instance's own buckets count meanwhile"
    );
}

#[tokio::test]
async fn fail_closed_refuses_while_redis_does_not_answer() {
    let (_listener, url) = silent_redis().await;
    let clock = ManualClock::at_unix(T0);
    let store = RedisPolicyStore::open(&url)
        .unwrap()
        .with_timeout(Duration::from_millis(50));
    let svc = service(
        &clock,
        Some(
            FailureThrottle::new(2, Duration::from_secs(60))
                .shared(store)
                .on_store_error(OnStoreError::FailClosed)
                .store_timeout(Duration::from_millis(50)),
        ),
        None,
    );
    let (status, retry) = answer(&svc, request("alice", &key(1), &clock, B)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry.as_deref(), Some("1"));
}

/// The cost of a refused request (its address's bucket empty: one script) next to a `PING`, in
/// the same run on the same Redis. Prints figures, asserts nothing:
/// `cargo test -p tower-hmac-integration --test it throttle_shared::cost -- --ignored --nocapture`
#[tokio::test(flavor = "current_thread")]
#[ignore = "a measurement: run by hand"]
async fn cost_of_a_refused_request_against_a_ping() {
    const N: u32 = 5000;
    let url = require_redis().await;
    let clock = ManualClock::at_unix(T0);
    let store = store(&url, &unique_prefix("throttle-cost"));
    let svc = service(&clock, Some(shared_throttle(1, Arc::new(store))), None);
    answer(&svc, request("alice", &key(9), &clock, A)).await;
    let local_clock = ManualClock::at_unix(T0);
    let local = service(
        &local_clock,
        Some(FailureThrottle::new(1, Duration::from_secs(60))),
        None,
    );
    answer(&local, request("alice", &key(9), &local_clock, A)).await;
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let requests: Vec<_> = (0..N)
        .map(|_| request("alice", &key(9), &clock, A))
        .collect();
    let local_requests: Vec<_> = (0..N)
        .map(|_| request("alice", &key(9), &local_clock, A))
        .collect();
    for round in 0..2 {
        let started = std::time::Instant::now();
        for _ in 0..N {
            let _: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
        }
        let ping = started.elapsed() / N;
        let started = std::time::Instant::now();
        for req in requests
            .iter()
            .take(if round == 0 { 500 } else { N as usize })
        {
            let mut copy = Request::get("/orders").body(Full::default()).unwrap();
            *copy.headers_mut() = req.headers().clone();
            copy.extensions_mut()
                .insert(PeerAddr(SocketAddr::from((A, 40000))));
            let (status, _) = answer(&svc, copy).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        }
        let refused = started.elapsed() / if round == 0 { 500 } else { N };
        let started = std::time::Instant::now();
        for req in local_requests.iter() {
            let mut copy = Request::get("/orders").body(Full::default()).unwrap();
            *copy.headers_mut() = req.headers().clone();
            copy.extensions_mut()
                .insert(PeerAddr(SocketAddr::from((A, 40000))));
            answer(&local, copy).await;
        }
        let in_process = started.elapsed() / N;
        if round == 1 {
            println!(
                "PING round trip: {ping:?}; refused request, shared throttle: {refused:?} \
                 ({:.2} PINGs); refused request, in-process throttle: {in_process:?}",
                refused.as_secs_f64() / ping.as_secs_f64()
            );
        }
    }
}
