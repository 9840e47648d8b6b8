//! What the layer logs, read through `common::capture` (this thread's events only).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use crate::common;

use std::convert::Infallible;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::protocol::{Signer, body_sha256, generate_nonce};
use tower_hmac::server::VerifiedBody;
use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, SecretKey};

const NOW: u64 = 1_700_000_000;

fn key() -> SecretKey {
    SecretKey::from_bytes(&[7; 32]).unwrap()
}

async fn ok(_: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

fn signed(key: &SecretKey) -> (Request<Full<Bytes>>, String) {
    let uri: http::Uri = "/orders".parse().unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, "api.example.com".parse().unwrap());
    let auth = Signer::new("k1", key.clone())
        .unwrap()
        .sign(
            &(&http::Method::GET, &uri, &headers),
            &body_sha256(b""),
            &tower_hmac::protocol::SignParams::new(NOW, &generate_nonce().unwrap()),
        )
        .unwrap()
        .to_string();
    let req = Request::get(uri)
        .header(http::header::HOST, "api.example.com")
        .header(AUTHORIZATION, auth.clone())
        .body(Full::default())
        .unwrap();
    (req, auth)
}

#[tokio::test(flavor = "current_thread")]
async fn logs_one_event_per_decision_without_secrets_or_signatures() {
    let (captured, _guard) = common::capture(tracing::Level::DEBUG);

    let registry = InMemoryRegistry::new();
    registry.insert("k1", "backoffice", key());
    let layer = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.example.com"]).unwrap())
        .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
        .build()
        .unwrap();
    let svc = ServiceBuilder::new().layer(layer).service_fn(ok);
    let (good, good_auth) = signed(&key());
    assert_eq!(svc.clone().oneshot(good).await.unwrap().status(), 200);
    let (bad, bad_auth) = signed(&SecretKey::from_bytes(&[8; 32]).unwrap());
    // With a request id and the client's address (as axum's ConnectInfo gives it).
    let (mut parts, body) = bad.into_parts();
    parts
        .headers
        .insert("x-request-id", "req-42".parse().unwrap());
    parts
        .extensions
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [203, 0, 113, 7],
            41234,
        ))));
    let bad = Request::from_parts(parts, body);
    assert_eq!(svc.clone().oneshot(bad).await.unwrap().status(), 401);
    // An unknown key id: answered as a bad signature, logged with the real reason.
    let (unknown, _) = signed(&key());
    let (mut parts, body) = unknown.into_parts();
    let value = parts.headers[AUTHORIZATION]
        .to_str()
        .unwrap()
        .replace("Credential=k1", "Credential=k9");
    parts.headers.insert(AUTHORIZATION, value.parse().unwrap());
    let res = svc.oneshot(Request::from_parts(parts, body)).await.unwrap();
    assert_eq!(res.status(), 401);

    let text = captured.text();
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("tower_hmac::auth"))
        .collect();
    assert_eq!(events.len(), 3, "{text}");
    assert!(
        events[0].contains("outcome=\"accepted\"") && events[0].contains("app_id=\"backoffice\"")
    );
    assert!(
        events[1].contains("code=\"invalid_signature\"") && events[1].contains("key_id=\"k1\"")
    );
    // Who, from where, which request, through which scheme, how long it took.
    for field in [
        "client=203.0.113.7",
        "request_id=\"req-42\"",
        "scheme=\"v1\"",
        "latency_us=",
    ] {
        assert!(events[1].contains(field), "{field} in {}", events[1]);
    }
    assert!(
        events[0].contains("scheme=\"v1\"") && events[0].contains("latency_us="),
        "{}",
        events[0]
    );
    assert!(
        events[2].contains("code=\"unknown_key\"")
            && events[2].contains("answered=\"invalid_signature\"")
            && events[2].contains("key_id=\"k9\""),
        "{}",
        events[2]
    );
    for auth in [good_auth, bad_auth] {
        let signature = auth.rsplit("Signature=").next().unwrap();
        assert!(!text.contains(signature), "a signature was logged: {text}");
    }
    assert!(!text.contains(&hex::encode([7u8; 32])));
}
