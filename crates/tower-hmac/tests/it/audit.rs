//! Audit events with risk signals: each signal raised by a scripted scenario, high-risk events at
//! `warn` and through the alert hook, and a hostile run whose every event is free of secrets.
//! Logs are read through `common::capture` (this thread's events only).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use crate::common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::server::{
    Alert, FailureThrottle, PeerAddr, RiskLevel, RiskMonitor, Signal, VerifiedBody,
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

fn from(mut req: Request<Full<Bytes>>, addr: [u8; 4]) -> Request<Full<Bytes>> {
    req.extensions_mut()
        .insert(PeerAddr(SocketAddr::from((addr, 40000))));
    req
}

#[tokio::test(flavor = "current_thread")]
async fn each_signal_is_raised_by_its_scenario_and_no_event_holds_a_secret() {
    let (captured, _guard) = common::capture(tracing::Level::DEBUG);
    let clock = ManualClock::at_unix(T0);
    let alerts: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let sink = Arc::clone(&alerts);
    let registry = InMemoryRegistry::new();
    registry.insert("alice", "app-a", key(1));
    registry.insert("bob", "app-b", key(2));
    registry.insert("carol", "app-c", key(4));
    registry.insert("dave", "app-d", key(5));
    registry.insert("erin", "app-e", key(6));
    registry.insert("frank", "app-f", key(7));
    registry.insert("gina", "app-g", key(8));
    registry.revoke("erin");
    let layer = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.example.com"]).unwrap())
        .clock(clock.clone())
        .body_limit(1024)
        .throttle_failures(FailureThrottle::new(5, Duration::from_secs(60)).per_address(false))
        .risk_monitor(
            RiskMonitor::new()
                .failure_burst(3, Duration::from_secs(60))
                .rate_spike(10, 20)
                .alert_hook(move |alert: Alert| sink.lock().unwrap().push(alert)),
        )
        .build()
        .unwrap();
    let svc = ServiceBuilder::new().layer(layer).service_fn(ok);
    let send = |req: Request<Full<Bytes>>| {
        let svc = svc.clone();
        async move { svc.oneshot(req).await.unwrap().status().as_u16() }
    };
    let url = "http://api.example.com/orders";
    let mut authorizations = Vec::new();
    let mut signed = |key_id: &str, secret: &SecretKey, ts: u64| {
        let req = common::signed_get(url, key_id, secret, ts);
        authorizations.push(req.headers()[AUTHORIZATION].to_str().unwrap().to_owned());
        req
    };

    // A known key from a new address: a leaked key's misuse.
    assert_eq!(
        send(from(signed("alice", &key(1), clock.unix()), [192, 0, 2, 1])).await,
        200
    );
    assert_eq!(
        send(from(signed("alice", &key(1), clock.unix()), [192, 0, 2, 1])).await,
        200
    );
    assert_eq!(
        send(from(
            signed("alice", &key(1), clock.unix()),
            [203, 0, 113, 66]
        ))
        .await,
        200
    );

    // Bob's usual five calls per 10 s for over a minute, then a spike.
    for _ in 0..8 {
        for _ in 0..5 {
            assert_eq!(
                send(from(signed("bob", &key(2), clock.unix()), [192, 0, 2, 2])).await,
                200
            );
        }
        clock.advance(Duration::from_secs(10));
    }
    for _ in 0..60 {
        assert_eq!(
            send(from(signed("bob", &key(2), clock.unix()), [192, 0, 2, 2])).await,
            200
        );
    }

    // A request a day old.
    let old = signed("bob", &key(2), clock.unix() - 86_400);
    assert_eq!(send(from(old, [192, 0, 2, 2])).await, 401);

    // A burst of wrong signatures for alice, then the throttle.
    for _ in 0..5 {
        assert_eq!(
            send(from(
                signed("alice", &key(9), clock.unix()),
                [198, 51, 100, 4]
            ))
            .await,
            401
        );
    }
    assert_eq!(
        send(from(
            signed("alice", &key(1), clock.unix()),
            [198, 51, 100, 4]
        ))
        .await,
        429
    );

    // The rest of a hostile run: one request for each code it can reach.
    let plain = || Request::get(url).body(Full::default()).unwrap();
    assert_eq!(send(plain()).await, 401); // missing_authorization
    let with_auth = |value: &str| {
        let mut req = plain();
        req.headers_mut()
            .insert(AUTHORIZATION, value.parse().unwrap());
        req
    };
    assert_eq!(send(with_auth("HMAC-SHA256 Credential=")).await, 401); // malformed
    assert_eq!(send(with_auth("Basic YWxpY2U6cGFzcw==")).await, 401); // unsupported_scheme
    assert_eq!(send(signed("mallory", &key(3), clock.unix())).await, 401); // unknown_key
    let elsewhere =
        common::signed_get("http://evil.example/orders", "carol", &key(4), clock.unix());
    assert_eq!(send(elsewhere).await, 401); // host_not_allowed
    let once = signed("dave", &key(5), clock.unix());
    let twice = once.clone();
    assert_eq!(send(once).await, 200);
    assert_eq!(send(twice).await, 401); // replayed_nonce
    let mut big = signed("dave", &key(5), clock.unix());
    *big.body_mut() = Full::new(Bytes::from(vec![b'x'; 4096]));
    assert_eq!(send(big).await, 413); // body_too_large

    // More codes: a revoked key (answered as a bad signature, logged as what it is), an
    // authority other than the Host, a signed header taken away, plain HTTP where HTTPS is
    // required, and the two stores failing.
    assert_eq!(send(signed("erin", &key(6), clock.unix())).await, 401); // revoked_key
    let mut other_authority = signed("frank", &key(7), clock.unix());
    *other_authority.uri_mut() = "http://elsewhere.example/orders".parse().unwrap();
    assert_eq!(send(other_authority).await, 400); // authority_mismatch
    let mut typed = Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    tower_hmac::test_util::sign_request(&mut typed, b"{}", "gina", &key(8), clock.unix()).unwrap();
    let typed_auth = typed.headers()[AUTHORIZATION].to_str().unwrap().to_owned();
    typed.headers_mut().remove("content-type");
    assert_eq!(send(typed).await, 401); // missing_signed_header
    let strict = |registry: InMemoryRegistry| {
        HmacAuthLayer::builder(registry, AllowedHosts::new(["api.example.com"]).unwrap())
            .clock(clock.clone())
    };
    let one = || {
        let r = InMemoryRegistry::new();
        r.insert("bob", "app-b", key(2));
        r
    };
    let https_only = ServiceBuilder::new()
        .layer(strict(one()).require_https(true).build().unwrap())
        .service_fn(ok);
    let res = https_only
        .oneshot(signed("bob", &key(2), clock.unix()))
        .await
        .unwrap();
    assert_eq!(res.status(), 403); // https_required
    let down = ServiceBuilder::new()
        .layer(
            HmacAuthLayer::builder(Unavailable, AllowedHosts::new(["api.example.com"]).unwrap())
                .clock(clock.clone())
                .build()
                .unwrap(),
        )
        .service_fn(ok);
    let res = down
        .oneshot(signed("bob", &key(2), clock.unix()))
        .await
        .unwrap();
    assert_eq!(res.status(), 503); // key_store_unavailable
    let full = ServiceBuilder::new()
        .layer(strict(one()).nonce_store(Unavailable).build().unwrap())
        .service_fn(ok);
    let res = full
        .oneshot(signed("bob", &key(2), clock.unix()))
        .await
        .unwrap();
    assert_eq!(res.status(), 503); // replay_store_unavailable

    let text = captured.text();
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("tower_hmac::auth"))
        .collect();
    let find = |needle: &str| {
        events
            .iter()
            .filter(|e| e.contains(needle))
            .copied()
            .collect::<Vec<_>>()
    };
    // new_address: high, at warn, alerted.
    let new_address = find("signals=new_address");
    assert_eq!(new_address.len(), 1, "{text}");
    assert!(new_address[0].contains("WARN") && new_address[0].contains("risk=\"high\""));
    assert!(
        new_address[0].contains("client=203.0.113.66")
            && new_address[0].contains("key_id=\"alice\"")
    );
    // rate_spike: once.
    let spike = find("signals=rate_spike");
    assert_eq!(spike.len(), 1, "{text}");
    assert!(spike[0].contains("WARN") && spike[0].contains("key_id=\"bob\""));
    // far_outside_window: medium, at info.
    let far = find("signals=far_outside_window");
    assert_eq!(far.len(), 1, "{text}");
    assert!(
        far[0].contains("INFO")
            && far[0].contains("risk=\"medium\"")
            && far[0].contains("code=\"stale_timestamp\"")
    );
    // failure_burst: the third failure, once.
    let burst = find("signals=failure_burst");
    assert_eq!(burst.len(), 1, "{text}");
    assert!(burst[0].contains("WARN") && burst[0].contains("client=198.51.100.4"));
    // throttled: medium.
    let throttled = find("code=\"too_many_failures\"");
    assert_eq!(throttled.len(), 1);
    assert!(throttled[0].contains("signals=throttled") && throttled[0].contains("risk=\"medium\""));
    // Every code of the run has its event, and a plain event is low-risk.
    for code in [
        "ok",
        "missing_authorization",
        "malformed_authorization",
        "unsupported_scheme",
        "unknown_key",
        "host_not_allowed",
        "stale_timestamp",
        "invalid_signature",
        "replayed_nonce",
        "body_too_large",
        "too_many_failures",
        "revoked_key",
        "authority_mismatch",
        "missing_signed_header",
        "https_required",
        "key_store_unavailable",
        "replay_store_unavailable",
    ] {
        assert!(
            !find(&format!("code=\"{code}\"")).is_empty(),
            "no event for {code}: {text}"
        );
    }
    assert!(find("code=\"missing_authorization\"")[0].contains("risk=\"low\""));

    // The hook got the high-risk ones, and only those.
    let alerts = alerts.lock().unwrap();
    let raised: Vec<Signal> = alerts.iter().flat_map(|a| a.signals.iter()).collect();
    assert_eq!(
        raised,
        [Signal::NewAddress, Signal::RateSpike, Signal::FailureBurst]
    );
    assert!(alerts.iter().all(|a| a.risk == RiskLevel::High));
    assert_eq!(alerts[0].key_id.as_deref(), Some("alice"));
    assert_eq!(alerts[0].client, Some("203.0.113.66".parse().unwrap()));

    // No secret, signature or Authorization value in any event.
    for byte in [1u8, 2, 3, 4, 5, 6, 7, 8, 9] {
        assert!(!text.contains(&hex::encode([byte; 32])));
        assert!(!text.contains(key(byte).to_base64().as_str()));
        assert!(!text.contains(key(byte).text_form().as_str()));
    }
    for auth in authorizations.iter().chain([&typed_auth]) {
        let signature = auth.rsplit("Signature=").next().unwrap();
        assert!(!text.contains(signature), "a signature was logged");
        assert!(!text.contains(auth.as_str()));
    }
    assert!(!text.contains("YWxpY2U6cGFzcw=="));
}

/// A registry and a replay store that are down.
struct Unavailable;

impl tower_hmac::registry::KeyRegistry for Unavailable {
    fn lookup(
        &self,
        _: &str,
    ) -> tower_hmac::registry::StoreFuture<
        Result<Option<tower_hmac::registry::KeyRecord>, tower_hmac::registry::RegistryError>,
    > {
        tower_hmac::registry::StoreFuture::new(async {
            Err(tower_hmac::registry::RegistryError::new(
                "connection refused",
            ))
        })
    }
}

impl tower_hmac::store::NonceStore for Unavailable {
    fn check_and_insert(
        &self,
        _: &str,
        _: &str,
        _: tower_hmac::protocol::NonceLifetime,
    ) -> tower_hmac::registry::StoreFuture<
        Result<tower_hmac::protocol::NonceOutcome, tower_hmac::protocol::NonceStoreError>,
    > {
        tower_hmac::registry::StoreFuture::new(async {
            Err(tower_hmac::protocol::NonceStoreError::new(
                tower_hmac::protocol::NonceStoreErrorKind::Unavailable,
            ))
        })
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_scope_refusal_is_one_rejected_event_after_the_accepted_signature() {
    // A 403 insufficient_scope was neither logged nor counted: the log said "accepted" only.
    let (captured, _guard) = common::capture(tracing::Level::DEBUG);
    let clock = ManualClock::at_unix(T0);
    let registry = InMemoryRegistry::new();
    registry.insert("alice", "app-a", key(1));
    let layer = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.example.com"]).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .layer(tower_hmac::server::RequireScope::new("orders:write"))
        .service_fn(ok);
    let req = common::signed_get("http://api.example.com/orders", "alice", &key(1), T0);
    let req = from(req, [192, 0, 2, 9]);
    assert_eq!(svc.oneshot(req).await.unwrap().status(), 403);
    let text = captured.text();
    let refusals: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("outcome=\"rejected\""))
        .collect();
    assert_eq!(refusals.len(), 1, "{text}");
    for field in [
        "code=\"insufficient_scope\"",
        "app_id=\"app-a\"",
        "key_id=\"alice\"",
        "scheme=\"v1\"",
        "client=192.0.2.9",
    ] {
        assert!(refusals[0].contains(field), "{field} in {}", refusals[0]);
    }
}
