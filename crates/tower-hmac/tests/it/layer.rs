//! The verifying layer driven in memory (`oneshot`): one test per rejection code and per edge.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, DATE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderName, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_hmac::protocol::policy::verify_time_mac;
use tower_hmac::protocol::{
    KeyRecord, NonceLifetime, NonceOutcome, NonceStoreError, NonceStoreErrorKind, RegistryError,
    StoreFuture, body_sha256,
};
use tower_hmac::registry::KeyRegistry;
use tower_hmac::server::{HmacAuthLayer, VerifiedBody};
use tower_hmac::store::NonceStore;
use tower_hmac::{
    AllowedHosts, Authenticated, ConfigError, InMemoryRegistry, MemoryNonceStore, MokaNonceStore,
    Rejection, RejectionKind, SecretKey,
};

const NOW: u64 = 1_700_000_000;
const HOST_OK: &str = "api.example.com";

fn key() -> SecretKey {
    SecretKey::from_bytes(&[7; 32]).unwrap()
}

fn key2() -> SecretKey {
    SecretKey::from_bytes(&[8; 32]).unwrap()
}

fn registry() -> InMemoryRegistry {
    let registry = InMemoryRegistry::new();
    registry.insert("k1", "backoffice", key());
    registry.insert("k2", "backoffice", key2());
    registry.insert("old", "backoffice", key());
    registry.revoke("old");
    registry
}

fn fixed_clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn layer_with(store: impl NonceStore) -> HmacAuthLayer {
    HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST_OK]).unwrap())
        .clock(fixed_clock)
        .body_limit(1024)
        .nonce_store(store)
        .build()
        .unwrap()
}

/// The replay store of these tests: its memory began an hour before the fixed clock, so requests
/// signed anywhere in the window are not "before its horizon".
fn store() -> MemoryNonceStore {
    MemoryNonceStore::new(1000)
        .unwrap()
        .with_horizon(UNIX_EPOCH + Duration::from_secs(NOW - 3600))
}

fn layer() -> HmacAuthLayer {
    layer_with(store())
}

/// Echoes the body and the identity: `<app>/<key>:<body>`.
async fn echo(req: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    let auth = req.extensions().get::<Authenticated>().cloned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let who = auth.map_or("anonymous".to_owned(), |a| {
        format!("{}/{}", a.app_id(), a.key_id())
    });
    let mut out = who.into_bytes();
    out.push(b':');
    out.extend_from_slice(&body);
    Ok(Response::new(Full::new(Bytes::from(out))))
}

struct Req {
    method: Method,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    key_id: String,
    key: SecretKey,
    ts: u64,
    nonce: String,
    signed: Vec<HeaderName>,
}

impl Req {
    fn get(target: &str) -> Self {
        Self {
            method: Method::GET,
            target: target.to_owned(),
            headers: vec![("host".into(), HOST_OK.into())],
            body: Vec::new(),
            key_id: "k1".into(),
            key: key(),
            ts: NOW,
            nonce: tower_hmac::protocol::generate_nonce().unwrap(),
            signed: Vec::new(),
        }
    }

    fn post(target: &str, body: &[u8]) -> Self {
        let mut req = Self::get(target);
        req.method = Method::POST;
        req.body = body.to_vec();
        req.headers
            .push(("content-type".into(), "application/json".into()));
        req.signed.push(CONTENT_TYPE);
        req
    }

    fn authorization(&self) -> String {
        let (parts, ()) = self.builder().body(()).unwrap().into_parts();
        tower_hmac::protocol::Signer::new(self.key_id.clone(), self.key.clone())
            .unwrap()
            .sign(
                &(&parts.method, &parts.uri, &parts.headers),
                &body_sha256(&self.body),
                &tower_hmac::protocol::SignParams::new(self.ts, &self.nonce).headers(&self.signed),
            )
            .unwrap()
            .to_string()
    }

    fn builder(&self) -> http::request::Builder {
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(self.target.as_str());
        for (n, v) in &self.headers {
            b = b.header(n.as_str(), v.as_str());
        }
        b
    }

    /// The signed request.
    fn signed(&self) -> Request<Full<Bytes>> {
        let auth = self.authorization();
        self.builder()
            .header(AUTHORIZATION, auth)
            .body(Full::new(Bytes::from(self.body.clone())))
            .unwrap()
    }
}

async fn send<S>(
    svc: S,
    req: Request<Full<Bytes>>,
) -> (StatusCode, http::HeaderMap, Option<Rejection>, Bytes)
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<tower_hmac::server::ResponseBody<Full<Bytes>>>,
            Error = Infallible,
        >,
{
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let rejection = res.extensions().get::<Rejection>().cloned();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, rejection, body)
}

async fn call(
    layer: &HmacAuthLayer,
    req: Request<Full<Bytes>>,
) -> (StatusCode, http::HeaderMap, Option<Rejection>, Bytes) {
    send(
        ServiceBuilder::new().layer(layer.clone()).service_fn(echo),
        req,
    )
    .await
}

async fn expect_code(
    layer: &HmacAuthLayer,
    req: Request<Full<Bytes>>,
    kind: RejectionKind,
) -> http::HeaderMap {
    let (status, headers, rejection, body) = call(layer, req).await;
    assert_eq!(status, kind.status(), "{kind:?}: body {body:?}");
    assert_eq!(rejection.map(|r| r.kind()), Some(kind));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["code"], kind.code());
    assert_eq!(json["status"], status.as_u16());
    assert_eq!(headers[CONTENT_TYPE], "application/problem+json");
    assert!(headers.contains_key(DATE), "Date header missing");
    if status == StatusCode::UNAUTHORIZED {
        let challenge = headers[WWW_AUTHENTICATE].to_str().unwrap().to_owned();
        assert!(
            challenge.starts_with(&format!("HMAC-SHA256 error=\"{}\"", kind.code())),
            "{challenge}"
        );
    }
    headers
}

#[tokio::test]
async fn accepts_a_signed_get_and_hands_over_the_identity() {
    let (status, _, rejection, body) = call(&layer(), Req::get("/orders?id=7").signed()).await;
    assert_eq!(status, 200);
    assert!(rejection.is_none());
    assert_eq!(&body[..], b"backoffice/k1:");
}

#[tokio::test]
async fn accepts_a_signed_post_and_passes_the_body_unchanged() {
    let body = br#"{"amount":7,"note":"caf\u00e9"}"#;
    let (status, _, _, out) = call(&layer(), Req::post("/payments", body).signed()).await;
    assert_eq!(status, 200);
    assert_eq!(&out[..], [&b"backoffice/k1:"[..], &body[..]].concat());
}

#[tokio::test]
async fn accepts_every_live_key_of_an_app_during_rotation() {
    let layer = layer();
    let mut req = Req::get("/");
    req.key_id = "k2".into();
    req.key = key2();
    let (status, _, _, body) = call(&layer, req.signed()).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"backoffice/k2:");
    let (status, _, _, _) = call(&layer, Req::get("/").signed()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn rejects_missing_authorization() {
    let req = Req::get("/").builder().body(Full::default()).unwrap();
    expect_code(&layer(), req, RejectionKind::MissingAuthorization).await;
}

#[tokio::test]
async fn rejects_malformed_authorization() {
    let req = Req::get("/")
        .builder()
        .header(AUTHORIZATION, "HMAC-SHA256 Credential=k1")
        .body(Full::default())
        .unwrap();
    expect_code(&layer(), req, RejectionKind::MalformedAuthorization).await;
}

#[tokio::test]
async fn rejects_duplicate_authorization_headers() {
    let r = Req::get("/");
    let auth = r.authorization();
    let req = r
        .builder()
        .header(AUTHORIZATION, auth.clone())
        .header(AUTHORIZATION, auth)
        .body(Full::default())
        .unwrap();
    expect_code(&layer(), req, RejectionKind::MalformedAuthorization).await;
}

#[tokio::test]
async fn rejects_an_authorization_header_over_the_length_limit() {
    let r = Req::get("/");
    let auth = format!("{}{}", r.authorization(), " ".repeat(5000));
    let req = r
        .builder()
        .header(AUTHORIZATION, auth)
        .body(Full::default())
        .unwrap();
    expect_code(&layer(), req, RejectionKind::MalformedAuthorization).await;
}

#[tokio::test]
async fn rejects_non_utf8_authorization_bytes() {
    let r = Req::get("/");
    let mut auth = r.authorization().into_bytes();
    auth[20] = 0xfe;
    let value = http::HeaderValue::from_bytes(&auth).unwrap();
    let req = r
        .builder()
        .header(AUTHORIZATION, value)
        .body(Full::default())
        .unwrap();
    expect_code(&layer(), req, RejectionKind::MalformedAuthorization).await;
}

#[tokio::test]
async fn rejects_unsupported_scheme() {
    let req = Req::get("/")
        .builder()
        .header(AUTHORIZATION, "Bearer abc.def")
        .body(Full::default())
        .unwrap();
    expect_code(&layer(), req, RejectionKind::UnsupportedScheme).await;
}

/// A layer that answers unknown and revoked keys with their own codes.
fn revealing_layer() -> HmacAuthLayer {
    HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST_OK]).unwrap())
        .clock(fixed_clock)
        .nonce_store(store())
        .reveal_key_errors(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn rejects_unknown_key() {
    let mut r = Req::get("/");
    r.key_id = "nobody".into();
    expect_code(&revealing_layer(), r.signed(), RejectionKind::UnknownKey).await;
}

#[tokio::test]
async fn rejects_revoked_key() {
    let mut r = Req::get("/");
    r.key_id = "old".into();
    expect_code(&revealing_layer(), r.signed(), RejectionKind::RevokedKey).await;
}

#[tokio::test]
async fn a_key_outside_its_validity_is_refused_with_its_own_code() {
    // Scheduled rotation: "next" starts at NOW + 60, "last" ended at NOW - 1, "now" spans NOW.
    let at = |s: u64| Some(UNIX_EPOCH + Duration::from_secs(s));
    let registry = registry();
    registry.insert_record(
        "next",
        KeyRecord::new("backoffice", key()).with_validity(at(NOW + 60), None),
    );
    registry.insert_record(
        "last",
        KeyRecord::new("backoffice", key()).with_validity(None, at(NOW - 1)),
    );
    registry.insert_record(
        "now",
        KeyRecord::new("backoffice", key()).with_validity(at(NOW), at(NOW)),
    );
    let layer = |reveal: bool, offset: u64| {
        HmacAuthLayer::builder(registry.clone(), AllowedHosts::new([HOST_OK]).unwrap())
            .clock(move || UNIX_EPOCH + Duration::from_secs(NOW + offset))
            .nonce_store(store())
            .reveal_key_errors(reveal)
            .build()
            .unwrap()
    };
    let signed = |key_id: &str, ts: u64| {
        let mut r = Req::get("/");
        r.key_id = key_id.into();
        r.ts = ts;
        r.signed()
    };
    expect_code(
        &layer(true, 0),
        signed("next", NOW),
        RejectionKind::KeyNotYetValid,
    )
    .await;
    expect_code(
        &layer(true, 0),
        signed("last", NOW),
        RejectionKind::KeyExpired,
    )
    .await;
    assert_eq!(call(&layer(true, 0), signed("now", NOW)).await.0, 200);
    // Hidden by default, as unknown and revoked keys are.
    expect_code(
        &layer(false, 0),
        signed("next", NOW),
        RejectionKind::InvalidSignature,
    )
    .await;
    // On the layer's clock: a minute later "next" is in force, "now" is over.
    assert_eq!(
        call(&layer(true, 60), signed("next", NOW + 60)).await.0,
        200
    );
    expect_code(
        &layer(true, 60),
        signed("now", NOW + 60),
        RejectionKind::KeyExpired,
    )
    .await;
}

#[tokio::test]
async fn unknown_and_revoked_keys_answer_as_a_bad_signature_by_default() {
    // Review item 10: the answer does not tell which key ids exist.
    for key_id in ["nobody", "old"] {
        let mut r = Req::get("/");
        r.key_id = key_id.into();
        let (status, headers, rejection, body) = call(&layer(), r.signed()).await;
        assert_eq!(status, 401, "{key_id}");
        assert_eq!(
            rejection.unwrap().kind(),
            RejectionKind::InvalidSignature,
            "{key_id}"
        );
        assert_eq!(
            headers[WWW_AUTHENTICATE],
            "HMAC-SHA256 error=\"invalid_signature\""
        );
        // Diagnostics are present as for a wrong key (made with a random key: they say nothing).
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json["diagnostics"]["string_to_sign_lines"]
                .as_array()
                .unwrap()
                .len(),
            10
        );
        // An earlier check fails first, as it would for a known key.
        let mut r = Req::get("/");
        r.key_id = key_id.into();
        r.ts = NOW - 1000;
        let (_, headers, rejection, _) = call(&layer(), r.signed()).await;
        assert_eq!(rejection.unwrap().kind(), RejectionKind::StaleTimestamp);
        assert!(headers[WWW_AUTHENTICATE].to_str().unwrap().contains("tsm="));
    }
}

#[tokio::test]
async fn a_request_signed_before_the_stores_horizon_is_stale_with_a_time_after_it() {
    // Review item 11: after a restart the store cannot know what the previous process accepted.
    let horizon = UNIX_EPOCH + Duration::from_millis(NOW * 1000 - 400);
    let layer = layer_with(MemoryNonceStore::new(100).unwrap().with_horizon(horizon));
    let mut r = Req::get("/");
    r.ts = NOW - 1; // fresh, but signed before the horizon
    let nonce = r.nonce.clone();
    let (status, headers, rejection, _) = call(&layer, r.signed()).await;
    assert_eq!(status, 401);
    assert_eq!(rejection.unwrap().kind(), RejectionKind::StaleTimestamp);
    let challenge =
        tower_hmac::protocol::Challenge::parse(headers[WWW_AUTHENTICATE].as_bytes()).unwrap();
    // The time sent is past the horizon, MACed for this request: a client's one retry succeeds.
    assert_eq!(challenge.verified_server_time(&key(), &nonce), Some(NOW));
    // Signed in the horizon's second (timestamp NOW = 400 ms before the horizon): still refused.
    let mut r = Req::get("/");
    r.ts = NOW;
    let late = layer_with(
        MemoryNonceStore::new(100)
            .unwrap()
            .with_horizon(horizon + Duration::from_millis(500)),
    );
    let (_, headers, rejection, _) = call(&late, r.signed()).await;
    assert_eq!(rejection.unwrap().kind(), RejectionKind::StaleTimestamp);
    let challenge =
        tower_hmac::protocol::Challenge::parse(headers[WWW_AUTHENTICATE].as_bytes()).unwrap();
    assert_eq!(
        challenge.unverified_ts(),
        Some(NOW + 1),
        "rounded up past the horizon"
    );
    // Signed after it: accepted.
    assert_eq!(call(&layer, Req::get("/").signed()).await.0, 200);
}

#[tokio::test]
async fn rejects_a_key_revoked_at_run_time() {
    let registry = registry();
    let layer = HmacAuthLayer::builder(registry.clone(), AllowedHosts::new([HOST_OK]).unwrap())
        .clock(fixed_clock)
        .reveal_key_errors(true)
        .build()
        .unwrap();
    assert_eq!(call(&layer, Req::get("/").signed()).await.0, 200);
    registry.revoke("k1");
    expect_code(&layer, Req::get("/").signed(), RejectionKind::RevokedKey).await;
    registry.remove("k1");
    expect_code(&layer, Req::get("/").signed(), RejectionKind::UnknownKey).await;
}

#[tokio::test]
async fn rejects_host_not_allowed() {
    let mut r = Req::get("/");
    r.headers[0].1 = "evil.example.com".into();
    expect_code(&layer(), r.signed(), RejectionKind::HostNotAllowed).await;
}

#[tokio::test]
async fn rejects_an_allowed_host_with_another_port() {
    let mut r = Req::get("/");
    r.headers[0].1 = format!("{HOST_OK}:8080");
    expect_code(&layer(), r.signed(), RejectionKind::HostNotAllowed).await;
}

#[tokio::test]
async fn host_is_compared_case_insensitively() {
    let mut r = Req::get("/");
    r.headers[0].1 = HOST_OK.to_uppercase();
    assert_eq!(call(&layer(), r.signed()).await.0, 200);
}

#[tokio::test]
async fn uses_the_uri_authority_when_there_is_no_host_header() {
    let mut r = Req::get(&format!("https://{HOST_OK}/x"));
    r.headers.clear();
    assert_eq!(call(&layer(), r.signed()).await.0, 200);
}

#[tokio::test]
async fn rejects_stale_timestamp_with_a_verifiable_server_time() {
    let mut r = Req::get("/");
    r.ts = NOW - 301;
    let nonce = r.nonce.clone();
    let headers = expect_code(&layer(), r.signed(), RejectionKind::StaleTimestamp).await;
    let challenge = headers[WWW_AUTHENTICATE].to_str().unwrap();
    let ts = challenge
        .split("ts=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(ts, NOW.to_string());
    let tsm = challenge
        .split("tsm=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let tsm = hex::decode(tsm).unwrap();
    assert!(verify_time_mac(&key(), NOW, &nonce, &tsm));
    assert!(!verify_time_mac(&key2(), NOW, &nonce, &tsm));
    // Bound to this request: it does not verify for another nonce.
    assert!(!verify_time_mac(
        &key(),
        NOW,
        "AAAAAAAAAAAAAAAAAAAAAA",
        &tsm
    ));
}

#[tokio::test]
async fn rejects_a_second_field_line_of_a_signed_header() {
    // Review item 4: two Content-Type lines must not verify as one joined value.
    let r = Req::post("/orders", b"{}");
    let (mut parts, body) = r.signed().into_parts();
    parts
        .headers
        .append(CONTENT_TYPE, "text/html".parse().unwrap());
    let (status, _, rejection, _) = call(&layer(), Request::from_parts(parts, body)).await;
    assert_eq!(status, 401);
    assert_eq!(
        rejection.unwrap().kind(),
        RejectionKind::DuplicateSignedHeader
    );
}

#[tokio::test]
async fn rejects_a_target_authority_that_is_not_the_host() {
    // Review item 3: absolute-form target (or HTTP/2 :authority) naming another host.
    for (target, host) in [
        ("http://other-host/whoami", HOST_OK),
        ("http://evil.example/", HOST_OK),
    ] {
        let mut r = Req::get("/");
        r.target = target.into();
        r.headers = vec![("host".into(), host.into())];
        let (status, _, rejection, _) = call(&layer(), r.signed()).await;
        assert_eq!(status, 400, "{target}");
        assert_eq!(
            rejection.unwrap().kind(),
            RejectionKind::AuthorityMismatch,
            "{target}"
        );
    }
    // The same authority in both is fine (case-insensitive), and so is an authority alone.
    let mut r = Req::get("/");
    r.target = format!("http://{}/x", HOST_OK.to_uppercase());
    assert_eq!(call(&layer(), r.signed()).await.0, 200);
    // Two Host lines name two authorities.
    let (mut parts, body) = Req::get("/").signed().into_parts();
    parts
        .headers
        .append("host", "evil.example".parse().unwrap());
    let (status, _, rejection, _) = call(&layer(), Request::from_parts(parts, body)).await;
    assert_eq!(status, 400);
    assert_eq!(rejection.unwrap().kind(), RejectionKind::AuthorityMismatch);
}

#[tokio::test]
async fn host_not_allowed_names_the_host_received() {
    let mut r = Req::get("/");
    r.headers = vec![("host".into(), "0.0.0.0:8080".into())];
    let (status, _, rejection, body) = call(&layer(), r.signed()).await;
    assert_eq!(status, 401);
    assert!(
        rejection
            .unwrap()
            .detail()
            .unwrap()
            .contains("0.0.0.0:8080")
    );
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        json["detail"]
            .as_str()
            .unwrap()
            .contains("\"0.0.0.0:8080\"")
    );
}

#[tokio::test]
async fn an_empty_query_signs_as_no_query() {
    // Review item 6, decided: `/x?` and `/x` carry the same (no) parameters and sign alike.
    let mut r = Req::get("/x");
    r.target = "/x?".into();
    let with_mark = r.signed();
    assert_eq!(with_mark.uri().query(), Some(""));
    // The header signed for `/x?` verifies on `/x` as well (one request, one nonce).
    let (mut parts, body) = with_mark.into_parts();
    parts.uri = "/x".parse().unwrap();
    assert_eq!(
        call(&layer(), Request::from_parts(parts, body)).await.0,
        200
    );
}

#[tokio::test]
async fn rejects_a_timestamp_too_far_in_the_future() {
    let mut r = Req::get("/");
    r.ts = NOW + 301;
    expect_code(&layer(), r.signed(), RejectionKind::StaleTimestamp).await;
}

#[tokio::test]
async fn accepts_timestamps_at_the_edge_of_the_skew() {
    let layer = layer();
    for ts in [NOW - 300, NOW + 300] {
        let mut r = Req::get("/");
        r.ts = ts;
        assert_eq!(call(&layer, r.signed()).await.0, 200);
    }
}

#[tokio::test]
async fn rejects_missing_signed_header() {
    let mut r = Req::post("/", b"{}");
    let auth = r.authorization();
    r.headers.retain(|(n, _)| n != "content-type");
    let req = r
        .builder()
        .header(AUTHORIZATION, auth)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    expect_code(&layer(), req, RejectionKind::MissingSignedHeader).await;
}

#[tokio::test]
async fn rejects_invalid_signature_for_a_tampered_body() {
    let r = Req::post("/", b"{\"amount\":7}");
    let auth = r.authorization();
    let req = r
        .builder()
        .header(AUTHORIZATION, auth)
        .body(Full::new(Bytes::from_static(b"{\"amount\":700}")))
        .unwrap();
    expect_code(&layer(), req, RejectionKind::InvalidSignature).await;
}

#[tokio::test]
async fn rejects_invalid_signature_for_each_tampered_component() {
    let layer = layer();
    type Tamper = Box<dyn Fn(&mut http::request::Parts)>;
    let tamper: Vec<(&str, Tamper)> = vec![
        ("method", Box::new(|p| p.method = Method::DELETE)),
        (
            "path",
            Box::new(|p| p.uri = "/Orders?id=7".parse().unwrap()),
        ),
        (
            "query",
            Box::new(|p| p.uri = "/orders?id=8".parse().unwrap()),
        ),
        (
            "signed header",
            Box::new(|p| {
                p.headers
                    .insert(CONTENT_TYPE, "text/plain".parse().unwrap());
            }),
        ),
    ];
    for (what, f) in tamper {
        let mut r = Req::post("/orders?id=7", b"{}");
        r.nonce = tower_hmac::protocol::generate_nonce().unwrap();
        let (mut parts, body) = r.signed().into_parts();
        f(&mut parts);
        let (status, _, rejection, _) = call(&layer, Request::from_parts(parts, body)).await;
        assert_eq!(status, 401, "{what}");
        assert_eq!(
            rejection.unwrap().kind(),
            RejectionKind::InvalidSignature,
            "{what}"
        );
    }
}

#[tokio::test]
async fn rejects_a_signature_made_with_another_key() {
    let mut r = Req::get("/");
    r.key = key2();
    expect_code(&layer(), r.signed(), RejectionKind::InvalidSignature).await;
}

#[tokio::test]
async fn unsigned_headers_may_change() {
    let r = Req::get("/");
    let (mut parts, body) = r.signed().into_parts();
    parts
        .headers
        .insert("x-unsigned", "anything".parse().unwrap());
    assert_eq!(
        call(&layer(), Request::from_parts(parts, body)).await.0,
        200
    );
}

#[tokio::test]
async fn rejects_replayed_nonce() {
    let layer = layer();
    let r = Req::get("/");
    assert_eq!(call(&layer, r.signed()).await.0, 200);
    expect_code(&layer, r.signed(), RejectionKind::ReplayedNonce).await;
}

#[tokio::test]
async fn the_same_nonce_under_another_key_is_not_a_replay() {
    let layer = layer();
    let r = Req::get("/");
    assert_eq!(call(&layer, r.signed()).await.0, 200);
    let mut other = Req::get("/");
    other.nonce = r.nonce.clone();
    other.key_id = "k2".into();
    other.key = key2();
    assert_eq!(call(&layer, other.signed()).await.0, 200);
}

#[tokio::test]
async fn a_forged_request_does_not_burn_the_nonce() {
    let layer = layer();
    let good = Req::get("/");
    let mut forged = Req::get("/");
    forged.nonce = good.nonce.clone();
    forged.key = key2();
    expect_code(&layer, forged.signed(), RejectionKind::InvalidSignature).await;
    assert_eq!(call(&layer, good.signed()).await.0, 200);
}

#[tokio::test]
async fn clones_of_the_layer_share_one_replay_store() {
    let layer = layer();
    let copy = layer.clone();
    let r = Req::get("/");
    assert_eq!(call(&layer, r.signed()).await.0, 200);
    expect_code(&copy, r.signed(), RejectionKind::ReplayedNonce).await;
}

#[tokio::test]
async fn rejects_body_too_large_by_declared_length() {
    let r = Req::post("/", &[b'x'; 1025]);
    expect_code(&layer(), r.signed(), RejectionKind::BodyTooLarge).await;
}

#[tokio::test]
async fn accepts_a_body_at_the_limit() {
    let r = Req::post("/", &[b'x'; 1024]);
    assert_eq!(call(&layer(), r.signed()).await.0, 200);
}

#[tokio::test]
async fn rejects_body_too_large_when_streamed_without_length() {
    use http_body_util::StreamBody;
    let r = Req::post("/", &[b'x'; 2048]);
    let (parts, _) = r.signed().into_parts();
    let chunks: Vec<Result<http_body::Frame<Bytes>, Infallible>> = (0..4)
        .map(|_| Ok(http_body::Frame::data(Bytes::from_static(&[b'x'; 512]))))
        .collect();
    let body = StreamBody::new(futures_lite_stream(chunks));
    let svc = ServiceBuilder::new().layer(layer()).service_fn(echo);
    let res = svc.oneshot(Request::from_parts(parts, body)).await.unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(
        res.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::BodyTooLarge
    );
}

fn futures_lite_stream<T: Unpin>(items: Vec<T>) -> impl futures_core::Stream<Item = T> {
    struct Iter<T>(std::vec::IntoIter<T>);
    impl<T: Unpin> futures_core::Stream for Iter<T> {
        type Item = T;
        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<T>> {
            std::task::Poll::Ready(self.get_mut().0.next())
        }
    }
    Iter(items.into_iter())
}

#[tokio::test]
async fn rejects_body_unreadable() {
    use http_body_util::StreamBody;
    let r = Req::post("/", b"{}");
    let (parts, _) = r.signed().into_parts();
    let frames: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = vec![Err(
        std::io::Error::new(std::io::ErrorKind::ConnectionReset, "gone"),
    )];
    let body = StreamBody::new(futures_lite_stream(frames));
    let svc = ServiceBuilder::new().layer(layer()).service_fn(echo);
    let res = svc.oneshot(Request::from_parts(parts, body)).await.unwrap();
    assert_eq!(res.status(), 400);
    let rejection = res.extensions().get::<Rejection>().unwrap();
    assert_eq!(rejection.kind(), RejectionKind::BodyUnreadable);
    assert!(std::error::Error::source(rejection).is_some());
}

struct FailingStore;

impl NonceStore for FailingStore {
    fn check_and_insert(
        &self,
        _: &str,
        _: &str,
        _: NonceLifetime,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>> {
        StoreFuture::new(async {
            Err(NonceStoreError::new(NonceStoreErrorKind::Unavailable)
                .with_retry_after(Duration::from_secs(3)))
        })
    }
}

#[tokio::test]
async fn rejects_with_replay_store_unavailable_when_the_store_fails() {
    let headers = expect_code(
        &layer_with(FailingStore),
        Req::get("/").signed(),
        RejectionKind::ReplayStoreUnavailable,
    )
    .await;
    assert_eq!(headers[RETRY_AFTER], "3");
    assert!(headers.get(WWW_AUTHENTICATE).is_none());
}

#[tokio::test]
async fn fails_closed_when_the_moka_store_is_full() {
    let layer = layer_with(MokaNonceStore::new(2).unwrap());
    assert_eq!(call(&layer, Req::get("/").signed()).await.0, 200);
    assert_eq!(call(&layer, Req::get("/").signed()).await.0, 200);
    let headers = expect_code(
        &layer,
        Req::get("/").signed(),
        RejectionKind::ReplayStoreUnavailable,
    )
    .await;
    assert!(headers.contains_key(RETRY_AFTER));
}

struct FailingRegistry;

impl KeyRegistry for FailingRegistry {
    fn lookup(&self, _: &str) -> StoreFuture<Result<Option<KeyRecord>, RegistryError>> {
        StoreFuture::new(async { Err(RegistryError::new("connection refused")) })
    }
}

#[tokio::test]
async fn rejects_with_key_store_unavailable_when_the_registry_fails() {
    let layer = HmacAuthLayer::builder(FailingRegistry, AllowedHosts::new([HOST_OK]).unwrap())
        .clock(fixed_clock)
        .build()
        .unwrap();
    let headers = expect_code(
        &layer,
        Req::get("/").signed(),
        RejectionKind::KeyStoreUnavailable,
    )
    .await;
    assert_eq!(headers[RETRY_AFTER], "1");
}

#[tokio::test]
async fn a_rejected_request_never_reaches_the_inner_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let svc = ServiceBuilder::new()
        .layer(layer())
        .service(service_fn(move |req| {
            counter.fetch_add(1, Ordering::SeqCst);
            echo(req)
        }));
    let mut r = Req::get("/");
    r.key = key2();
    let (status, ..) = send(svc, r.signed()).await;
    assert_eq!(status, 401);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_rejection_response_can_be_replaced() {
    let layer = HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST_OK]).unwrap())
        .clock(fixed_clock)
        .responder(|r: &Rejection| {
            let mut res = Response::new(Bytes::from(format!("nope: {}", r.code())));
            *res.status_mut() = StatusCode::FORBIDDEN;
            res
        })
        .build()
        .unwrap();
    let req = Req::get("/").builder().body(Full::default()).unwrap();
    let (status, headers, rejection, body) = call(&layer, req).await;
    assert_eq!(status, 403);
    assert_eq!(&body[..], b"nope: missing_authorization");
    assert_eq!(
        rejection.unwrap().kind(),
        RejectionKind::MissingAuthorization
    );
    assert!(headers.contains_key(DATE));
}

#[tokio::test]
async fn verify_is_usable_without_a_service() {
    let layer = layer();
    let req = layer.verify(Req::post("/", b"{}").signed()).await.unwrap();
    let auth = req.extensions().get::<Authenticated>().unwrap();
    assert_eq!((auth.app_id(), auth.key_id()), ("backoffice", "k1"));
    let err = layer
        .verify(
            Req::get("/")
                .builder()
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MissingAuthorization);
}

#[test]
fn building_with_an_out_of_range_skew_is_an_error() {
    for skew in [
        Duration::ZERO,
        Duration::from_secs(3601),
        Duration::from_millis(1500),
    ] {
        let err = HmacAuthLayer::builder(registry(), AllowedHosts::any())
            .max_skew(skew)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::MaxSkewOutOfRange { .. }),
            "{skew:?}"
        );
    }
}

#[test]
fn building_with_an_out_of_range_header_limit_is_an_error() {
    let err = HmacAuthLayer::builder(registry(), AllowedHosts::any())
        .max_header_len(10)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        ConfigError::MaxHeaderLenOutOfRange { len: 10 }
    ));
}

#[test]
fn a_zero_capacity_store_is_an_error() {
    assert_eq!(
        MokaNonceStore::new(0).unwrap_err(),
        ConfigError::ZeroCapacity
    );
}

#[tokio::test]
async fn a_shorter_skew_is_honoured() {
    let layer = HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST_OK]).unwrap())
        .clock(fixed_clock)
        .max_skew(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut r = Req::get("/");
    r.ts = NOW - 31;
    expect_code(&layer, r.signed(), RejectionKind::StaleTimestamp).await;
}

async fn whoami(auth: Authenticated) -> String {
    format!("{} {}", auth.app_id(), auth.key_id())
}

async fn maybe(auth: Option<Authenticated>) -> String {
    auth.map_or("anonymous".into(), |a| a.app_id().to_owned())
}

async fn echo_axum(body: Bytes) -> Bytes {
    body
}

#[tokio::test]
async fn works_with_axum_router_layer_and_the_extractor() {
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/echo", post(echo_axum))
        .layer(layer());
    let res = app
        .clone()
        .oneshot(Req::get("/whoami").signed().map(axum::body::Body::new))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"backoffice k1");

    let res = app
        .clone()
        .oneshot(
            Req::post("/echo", b"payload")
                .signed()
                .map(axum::body::Body::new),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        &res.into_body().collect().await.unwrap().to_bytes()[..],
        b"payload"
    );

    let res = app
        .oneshot(
            Request::get("/whoami")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.extensions().get::<Rejection>().is_some());
}

#[tokio::test]
async fn works_with_axum_route_layer_leaving_other_routes_open() {
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route_layer(layer())
        .route("/health", get(|| async { "ok" }))
        .route("/maybe", get(maybe));
    let open = app
        .clone()
        .oneshot(
            Request::get("/health")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let anon = app
        .clone()
        .oneshot(
            Request::get("/maybe")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        &anon.into_body().collect().await.unwrap().to_bytes()[..],
        b"anonymous"
    );
    let denied = app
        .oneshot(
            Request::get("/whoami")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
}

#[tokio::test]
async fn the_extractor_outside_the_layer_is_a_clear_server_error() {
    let app = Router::new().route("/whoami", get(whoami));
    let res = app
        .oneshot(
            Request::get("/whoami")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    // The same answer as the sessions crate's `AccessClaims` without its layer.
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "layer_missing");
    assert_eq!(problem["status"], 500);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("HmacAuthLayer")
    );
}

#[test]
fn a_zero_body_timeout_is_an_error() {
    let err = HmacAuthLayer::builder(registry(), AllowedHosts::any())
        .body_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroBodyTimeout);
}

/// Review item 8: axum strips a nest's prefix before the layer runs; the client signed the full
/// path, which the layer finds in `OriginalUri`. The handler still routes on the stripped one.
#[tokio::test]
async fn nested_routers_verify_the_path_the_client_signed() {
    let nested_route_layer = Router::new().nest(
        "/api",
        Router::new()
            .route("/whoami", get(whoami))
            .route_layer(layer()),
    );
    let nested_layer = Router::new().nest(
        "/api",
        Router::new().route("/whoami", get(whoami)).layer(layer()),
    );
    let merged = Router::new()
        .merge(Router::new().route("/api/whoami", get(whoami)))
        .layer(layer());
    for (name, app) in [
        ("nest + route_layer", nested_route_layer),
        ("nest + layer", nested_layer),
        ("merge", merged),
    ] {
        let res = app
            .clone()
            .oneshot(Req::get("/api/whoami").signed())
            .await
            .unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(status, 200, "{name}: {body:?}");
        assert_eq!(body, "backoffice k1", "{name}");
        // Signed for the inner path only: refused, since the client did not send that.
        let res = app.oneshot(Req::get("/whoami").signed()).await.unwrap();
        assert_ne!(res.status(), 200, "{name}");
    }
}

/// A body that ends with trailers.
struct WithTrailers(Option<Bytes>, bool);

impl http_body::Body for WithTrailers {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.0.take() {
            return std::task::Poll::Ready(Some(Ok(http_body::Frame::data(data))));
        }
        if self.1 {
            self.1 = false;
            let mut trailers = http::HeaderMap::new();
            trailers.insert("x-unsigned", "injected".parse().unwrap());
            return std::task::Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))));
        }
        std::task::Poll::Ready(None)
    }
}

#[tokio::test]
async fn rejects_a_signed_body_with_trailers() {
    // Review item 6: trailers are not signed, so they must not reach the inner service.
    let (parts, _) = Req::post("/upload", b"{}").signed().into_parts();
    let req = Request::from_parts(parts, WithTrailers(Some(Bytes::from_static(b"{}")), true));
    let rejection = layer().verify(req).await.unwrap_err();
    assert_eq!(rejection.kind(), RejectionKind::TrailersNotAllowed);
    assert_eq!(rejection.status(), 400);
    // The same body without trailers passes.
    let (parts, _) = Req::post("/upload", b"{}").signed().into_parts();
    let req = Request::from_parts(parts, WithTrailers(Some(Bytes::from_static(b"{}")), false));
    assert!(layer().verify(req).await.is_ok());
}

#[test]
fn max_skew_must_be_whole_seconds_and_the_error_says_so() {
    let err = HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST_OK]).unwrap())
        .max_skew(Duration::from_millis(1500))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("whole number of seconds"), "{err}");
}

/// The inner service's future is polled in place, not boxed: it need not be `Send` (here it
/// holds an `Rc`) nor `'static`.
#[tokio::test]
async fn the_inner_service_future_need_not_be_send() {
    let shared = std::rc::Rc::new("not Send".to_owned());
    let svc = tower::service_fn(move |_req: Request<VerifiedBody>| {
        let held = std::rc::Rc::clone(&shared);
        async move {
            tokio::task::yield_now().await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(held.to_string()))))
        }
    });
    let res = ServiceBuilder::new()
        .layer(layer())
        .service(svc)
        .oneshot(Req::get("/").signed())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "not Send");
}

/// A request body that is not `Send`: its data sits behind an `Rc`.
struct RcBody(std::rc::Rc<std::cell::RefCell<Option<Bytes>>>);

impl http_body::Body for RcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(
            self.0
                .borrow_mut()
                .take()
                .map(|b| Ok(http_body::Frame::data(b))),
        )
    }
}

/// Nothing is boxed on the way: the request body need not be `Send` either.
#[tokio::test]
async fn the_request_body_need_not_be_send() {
    let (parts, _) = Req::post("/upload", b"{}").signed().into_parts();
    let body = RcBody(std::rc::Rc::new(std::cell::RefCell::new(Some(
        Bytes::from_static(b"{}"),
    ))));
    let res = ServiceBuilder::new()
        .layer(layer())
        .service_fn(echo)
        .oneshot(Request::from_parts(parts, body))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "backoffice/k1:{}");
}

/// A response future polled again after it completed says so, instead of returning `Pending`
/// forever (a task that would never wake).
#[tokio::test]
#[should_panic(expected = "polled after it completed")]
async fn a_response_future_polled_after_completion_panics_with_a_message() {
    use std::future::Future;
    let mut svc = ServiceBuilder::new()
        .layer(layer())
        .service(service_fn(echo));
    let req = Request::get("/orders")
        .header("host", HOST_OK)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let ready = ServiceExt::<Request<Full<Bytes>>>::ready(&mut svc)
        .await
        .unwrap();
    let mut future = Box::pin(ready.call(req));
    let res = std::future::poll_fn(|cx| future.as_mut().poll(cx))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let waker = std::task::Waker::noop();
    let _ = future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker));
}

/// A body at its end, that may not move once polled, and panics if it is polled at all.
struct Ended(std::marker::PhantomPinned);

impl http_body::Body for Ended {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        panic!("a body at its end was polled");
    }

    fn is_end_stream(&self) -> bool {
        true
    }
}

/// A `GET` is settled where it arrives: its body, at its end, is never polled (nor boxed), and
/// the layer takes a body that is not `Unpin`.
#[tokio::test]
async fn a_body_at_its_end_is_never_polled() {
    let (parts, _) = Req::get("/").signed().into_parts();
    let svc = ServiceBuilder::new().layer(layer()).service_fn(echo);
    let res = svc
        .oneshot(Request::from_parts(
            parts,
            Ended(std::marker::PhantomPinned),
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"backoffice/k1:");
}

/// Counts its wake-ups.
struct WakeCount(AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A body still to come: the verification's first poll, where the request arrives, cannot
/// finish it (and its waker wakes nothing); the response future, polled by hand with a waker that
/// counts, waits, and the body's arrival wakes that waker — once — after which the request is
/// answered. A wake-up lost to the first poll's waker would leave the count at 0.
#[tokio::test]
async fn a_body_still_to_come_wakes_the_task() {
    let (parts, _) = Req::post("/", b"later").signed().into_parts();
    let (tx, rx) = tokio::sync::oneshot::channel::<Bytes>();
    let body = http_body_util::StreamBody::new(frame_when_sent(rx));
    let mut svc = ServiceBuilder::new().layer(layer()).service_fn(echo);
    let future = call_when_ready(&mut svc, Request::from_parts(parts, body)).await;
    let mut future = std::pin::pin!(future);
    let woken = Arc::new(WakeCount(AtomicUsize::new(0)));
    let waker = std::task::Waker::from(Arc::clone(&woken));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert_eq!(woken.0.load(Ordering::SeqCst), 0);
    tx.send(Bytes::from_static(b"later")).unwrap();
    assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    let std::task::Poll::Ready(res) = future.as_mut().poll(&mut cx) else {
        panic!("still waiting after the body arrived");
    };
    let res = res.unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"backoffice/k1:later");
}

/// A body that never comes: the body timeout, first polled where the request arrives (with a
/// waker that wakes nothing), still answers. On a paused clock the runtime jumps to the next
/// timer when idle: the body timeout (5 s) first; the guard (an hour) only if that wake-up was
/// lost.
#[tokio::test(start_paused = true)]
async fn a_body_that_never_comes_times_out() {
    let (parts, _) = Req::post("/", b"never").signed().into_parts();
    let (_tx, rx) = tokio::sync::oneshot::channel::<Bytes>();
    let body = http_body_util::StreamBody::new(frame_when_sent(rx));
    let layer = HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST_OK]).unwrap())
        .clock(fixed_clock)
        .body_timeout(Duration::from_secs(5))
        .nonce_store(store())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new().layer(layer).service_fn(echo);
    let res = tokio::time::timeout(
        Duration::from_secs(3600),
        svc.oneshot(Request::from_parts(parts, body)),
    )
    .await
    .expect("the body timeout never answered")
    .unwrap();
    assert_eq!(
        res.extensions().get::<Rejection>().map(Rejection::kind),
        Some(RejectionKind::BodyTimeout)
    );
}

/// The service's future for `req`, once the service is ready (not polled).
async fn call_when_ready<S: Service<R>, R>(svc: &mut S, req: R) -> S::Future
where
    S::Error: std::fmt::Debug,
{
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    svc.call(req)
}

/// One data frame, when the channel delivers it.
fn frame_when_sent(
    rx: tokio::sync::oneshot::Receiver<Bytes>,
) -> impl futures_core::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> {
    struct Once(Option<tokio::sync::oneshot::Receiver<Bytes>>);
    impl futures_core::Stream for Once {
        type Item = Result<http_body::Frame<Bytes>, Infallible>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            let Some(rx) = self.0.as_mut() else {
                return std::task::Poll::Ready(None);
            };
            let bytes = std::task::ready!(std::pin::Pin::new(rx).poll(cx));
            self.0 = None;
            std::task::Poll::Ready(bytes.ok().map(|b| Ok(http_body::Frame::data(b))))
        }
    }
    Once(Some(rx))
}
