//! Failed-authentication throttling, trusted proxies and HTTPS-only, through the layer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use crate::common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::server::{
    FailureThrottle, PeerAddr, ResponseBody, Tls, TrustedProxies, VerifiedBody,
};
use tower_hmac::test_util::ManualClock;
use tower_hmac::{AllowedHosts, HmacAuthBuilder, HmacAuthLayer, InMemoryRegistry, SecretKey};

const T0: u64 = 1_700_000_000;

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

fn registry() -> InMemoryRegistry {
    let registry = InMemoryRegistry::new();
    registry.insert("alice", "app-a", key(1));
    registry.insert("bob", "app-b", key(2));
    registry
}

fn builder(clock: &ManualClock) -> HmacAuthBuilder {
    HmacAuthLayer::builder(registry(), AllowedHosts::new(["api.example.com"]).unwrap())
        .clock(clock.clone())
}

async fn ok(_: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

type Svc = tower::util::BoxCloneService<
    Request<Full<Bytes>>,
    Response<ResponseBody<Full<Bytes>>>,
    Infallible,
>;

fn service(layer: HmacAuthLayer) -> Svc {
    tower::util::BoxCloneService::new(ServiceBuilder::new().layer(layer).service_fn(ok))
}

fn from(mut req: Request<Full<Bytes>>, addr: [u8; 4]) -> Request<Full<Bytes>> {
    req.extensions_mut()
        .insert(PeerAddr(SocketAddr::from((addr, 40000))));
    req
}

fn get(key_id: &str, secret: &SecretKey, clock: &ManualClock) -> Request<Full<Bytes>> {
    common::signed_get(
        "http://api.example.com/orders",
        key_id,
        secret,
        clock.unix(),
    )
}

async fn status(svc: &Svc, req: Request<Full<Bytes>>) -> Response<Bytes> {
    let (parts, body) = svc.clone().oneshot(req).await.unwrap().into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn a_key_id_past_its_failures_is_throttled_before_its_body_and_recovers() {
    let clock = ManualClock::at_unix(T0);
    let svc = service(
        builder(&clock)
            .throttle_failures(FailureThrottle::new(3, Duration::from_secs(60)).per_address(false))
            .build()
            .unwrap(),
    );
    let wrong = key(9);
    for _ in 0..3 {
        let res = status(&svc, from(get("alice", &wrong, &clock), [192, 0, 2, 1])).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even alice's right key is refused, before the body is read.
    let polled = Arc::new(AtomicBool::new(false));
    let (parts, _) = from(get("alice", &key(1), &clock), [192, 0, 2, 1]).into_parts();
    let watched = Request::from_parts(parts, Watched(Arc::clone(&polled)));
    // (A layer of its own, throttled by one failure.)
    let one = tower::Layer::layer(
        &builder(&clock)
            .throttle_failures(FailureThrottle::new(1, Duration::from_secs(60)))
            .build()
            .unwrap(),
        tower::service_fn(ok),
    );
    let bad = from(get("alice", &wrong, &clock), [192, 0, 2, 1]);
    let res = ServiceExt::<Request<Full<Bytes>>>::oneshot(one.clone(), bad)
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = ServiceExt::<Request<Watched>>::oneshot(one, watched)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!polled.load(Ordering::SeqCst), "the body was read");

    let res = status(&svc, from(get("alice", &key(1), &clock), [192, 0, 2, 1])).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()[RETRY_AFTER], "20", "one token per 60 s / 3");
    let problem: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(problem["code"], "too_many_failures");
    // Another key id is unaffected, from the same address.
    let res = status(&svc, from(get("bob", &key(2), &clock), [192, 0, 2, 1])).await;
    assert_eq!(res.status(), StatusCode::OK);
    // After window / N, one more try; after the window, the whole budget.
    clock.advance(Duration::from_secs(20));
    let res = status(&svc, from(get("alice", &key(1), &clock), [192, 0, 2, 1])).await;
    assert_eq!(res.status(), StatusCode::OK);
    clock.advance(Duration::from_secs(60));
    for _ in 0..2 {
        let res = status(&svc, from(get("alice", &wrong, &clock), [192, 0, 2, 1])).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = status(&svc, from(get("alice", &key(1), &clock), [192, 0, 2, 1])).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn failures_claiming_a_key_id_from_elsewhere_never_lock_its_owner_out() {
    // The red team's lock-out: 20 bad signatures claiming a key id from one address, then one
    // every 3 s, kept its owner's correctly signed requests from another address at 429.
    let clock = ManualClock::at_unix(T0);
    let svc = service(
        builder(&clock)
            .throttle_failures(FailureThrottle::new(20, Duration::from_secs(60)))
            .build()
            .unwrap(),
    );
    let wrong = key(9);
    let mut accepted = 0;
    for round in 0..20 {
        let burst = if round == 0 { 20 } else { 1 };
        for _ in 0..burst {
            let res = status(&svc, from(get("alice", &wrong, &clock), [127, 0, 0, 3])).await;
            assert!(res.status() == 401 || res.status() == 429);
        }
        let res = status(&svc, from(get("alice", &key(1), &clock), [127, 0, 0, 2])).await;
        accepted += u32::from(res.status() == StatusCode::OK);
        clock.advance(Duration::from_secs(3));
    }
    assert_eq!(accepted, 20, "the owner was locked out by another address");
    // The attacker's own address is what is throttled.
    let _ = status(&svc, from(get("alice", &wrong, &clock), [127, 0, 0, 3])).await;
    let res = status(&svc, from(get("alice", &key(1), &clock), [127, 0, 0, 3])).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn successes_cost_nothing_and_addresses_are_throttled_apart() {
    let clock = ManualClock::at_unix(T0);
    let svc = service(
        builder(&clock)
            .throttle_failures(FailureThrottle::new(3, Duration::from_secs(60)).per_key_id(false))
            .build()
            .unwrap(),
    );
    for _ in 0..50 {
        let res = status(&svc, from(get("alice", &key(1), &clock), [192, 0, 2, 1])).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // An attacker cycling random key ids from one address.
    for i in 0..3 {
        let res = status(
            &svc,
            from(
                get(&format!("guess-{i}"), &key(7), &clock),
                [198, 51, 100, 9],
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = status(
        &svc,
        from(get("guess-9", &key(7), &clock), [198, 51, 100, 9]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // A request without credentials from that address too: nothing is parsed before.
    let res = status(
        &svc,
        from(
            Request::get("http://api.example.com/")
                .body(Full::default())
                .unwrap(),
            [198, 51, 100, 9],
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Others are unaffected.
    let res = status(&svc, from(get("alice", &key(1), &clock), [192, 0, 2, 1])).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_trusted_proxy_forwards_host_client_and_scheme() {
    let clock = ManualClock::at_unix(T0);
    let svc = service(
        builder(&clock)
            .trusted_proxies(TrustedProxies::x_forwarded(["10.0.0.0/8"]).unwrap())
            .require_https(true)
            .throttle_failures(FailureThrottle::new(1, Duration::from_secs(60)).per_key_id(false))
            .build()
            .unwrap(),
    );
    // Signed for api.example.com; the proxy rewrote Host to its upstream's name.
    let proxied = |clock: &ManualClock, secret: &SecretKey, client: &str| {
        let mut req = get("alice", secret, clock);
        req.headers_mut()
            .insert(HOST, "backend:8080".parse().unwrap());
        req.headers_mut()
            .insert("x-forwarded-host", "api.example.com".parse().unwrap());
        req.headers_mut()
            .insert("x-forwarded-proto", "https".parse().unwrap());
        req.headers_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
        req
    };
    let res = status(
        &svc,
        from(proxied(&clock, &key(1), "203.0.113.5"), [10, 0, 0, 2]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The same headers from anyone else are not believed: Host is backend:8080, and plain HTTP.
    let res = status(
        &svc,
        from(proxied(&clock, &key(1), "203.0.113.5"), [192, 0, 2, 50]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let problem: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(problem["code"], "https_required");
    // The client the proxy names is the one throttled, not the proxy: others go on.
    let res = status(
        &svc,
        from(proxied(&clock, &key(9), "203.0.113.5"), [10, 0, 0, 2]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = status(
        &svc,
        from(proxied(&clock, &key(1), "203.0.113.5"), [10, 0, 0, 2]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = status(
        &svc,
        from(proxied(&clock, &key(1), "203.0.113.6"), [10, 0, 0, 2]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // A client cannot name another address past the proxy: the proxy appends what it saw.
    let res = status(
        &svc,
        from(
            proxied(&clock, &key(1), "203.0.113.6, 203.0.113.5"),
            [10, 0, 0, 2],
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn https_only_accepts_tls_connections_and_refuses_plain_http() {
    let clock = ManualClock::at_unix(T0);
    let svc = service(builder(&clock).require_https(true).build().unwrap());
    let res = status(&svc, from(get("alice", &key(1), &clock), [192, 0, 2, 1])).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let mut tls = get("alice", &key(1), &clock);
    tls.extensions_mut().insert(Tls);
    assert_eq!(status(&svc, tls).await.status(), StatusCode::OK);
    // An X-Forwarded-Proto without a trusted proxy is not believed.
    let mut claimed = get("alice", &key(1), &clock);
    claimed
        .headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    assert_eq!(
        status(&svc, from(claimed, [10, 0, 0, 2])).await.status(),
        StatusCode::FORBIDDEN
    );
}

/// A body that records whether anyone polled it.
struct Watched(Arc<AtomicBool>);

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0.store(true, Ordering::SeqCst);
        Poll::Ready(None)
    }
}

#[tokio::test]
async fn refusals_the_servers_state_caused_never_charge_the_callers_bucket() {
    // After a restart, the requests the replay store's horizon refuses once were charged to the
    // throttle: a busy honest client got 429.
    let clock = ManualClock::at_unix(T0);
    let svc = service(
        builder(&clock)
            .nonce_store(
                tower_hmac::MemoryNonceStore::new(1000)
                    .unwrap()
                    .with_horizon(std::time::UNIX_EPOCH + Duration::from_secs(T0 + 1)),
            )
            .throttle_failures(FailureThrottle::new(3, Duration::from_secs(60)))
            .build()
            .unwrap(),
    );
    for _ in 0..10 {
        // Signed before the horizon: maybe accepted before the restart, so refused once.
        let res = status(&svc, from(get("alice", &key(1), &clock), [192, 0, 2, 1])).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let problem: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(problem["code"], "stale_timestamp");
    }
    clock.advance(Duration::from_secs(2));
    let res = status(&svc, from(get("alice", &key(1), &clock), [192, 0, 2, 1])).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the horizon's refusals were charged"
    );
}

#[tokio::test]
async fn replays_are_counted_against_their_address_only() {
    // Whoever captured a request can repeat it at will: each replay costs the server a body, a
    // MAC and a store call, so it counts against the sender's address — never against the key
    // id, whose holder did not send it.
    let clock = ManualClock::at_unix(T0);
    let svc = service(
        builder(&clock)
            .throttle_failures(FailureThrottle::new(3, Duration::from_secs(60)))
            .build()
            .unwrap(),
    );
    let captured = from(get("alice", &key(1), &clock), [198, 51, 100, 7]);
    let (parts, body) = captured.into_parts();
    let copy = || {
        let mut req = Request::from_parts(parts.clone(), body.clone());
        req.extensions_mut()
            .insert(PeerAddr(SocketAddr::from(([198, 51, 100, 7], 40000))));
        req
    };
    assert_eq!(status(&svc, copy()).await.status(), StatusCode::OK);
    for _ in 0..3 {
        let res = status(&svc, copy()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        status(&svc, copy()).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the replaying address is throttled"
    );
    let res = status(&svc, from(get("alice", &key(1), &clock), [192, 0, 2, 1])).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the key's holder elsewhere goes on"
    );
}
