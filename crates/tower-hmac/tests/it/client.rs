//! The signing layer against the verifying layer over real TCP (hyper-util client → axum server).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Request as AxumRequest;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use bytes::Bytes;
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use tower_hmac::client::{RequestSigner, SignRequest, SignRequestError, SignRequestLayer};
use tower_hmac::protocol::{Clock, OffsetClock};
use tower_hmac::test_util::ManualClock;
use tower_hmac::{AllowedHosts, Authenticated, HmacAuthLayer, InMemoryRegistry, SecretKey};

/// The client's time in the tests whose clocks are the test's own: the offset learned is exact.
const T0: u64 = 1_700_000_000;

fn key() -> SecretKey {
    SecretKey::from_bytes(&[0x42; 32]).unwrap()
}

/// Shows what the handler received: identity, method, path and query, signed headers, body.
async fn inspect(auth: Authenticated, req: AxumRequest) -> impl IntoResponse {
    let (parts, body) = req.into_parts();
    let signed = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("SignedHeaders=").nth(1))
        .and_then(|v| v.split(',').next())
        .unwrap_or("")
        .to_owned();
    let body = body.collect().await.unwrap().to_bytes();
    let head = format!(
        "{} {} {} [{}] {}\n",
        auth.key_id(),
        parts.method,
        parts.uri.path_and_query().map_or("", |p| p.as_str()),
        signed,
        body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}

async fn start_server(clock: impl Clock) -> SocketAddr {
    let registry = InMemoryRegistry::new();
    registry.insert("client-key", "client-app", key());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = HmacAuthLayer::builder(registry, AllowedHosts::new([addr.to_string()]).unwrap())
        .clock(clock)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/{*path}", any(inspect))
        .route("/", get(inspect))
        .layer(layer);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

type Signed = SignRequest<Client<HttpConnector, Full<Bytes>>>;

fn client(signer: RequestSigner) -> Signed {
    let hyper = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    ServiceBuilder::new()
        .layer(SignRequestLayer::new(signer))
        .service(hyper)
}

fn signer() -> RequestSigner {
    RequestSigner::new("client-key", key()).unwrap()
}

async fn send(
    client: &mut Signed,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), BoxError> {
    let res = ServiceExt::<Request<Full<Bytes>>>::ready(client)
        .await?
        .call(req)
        .await?;
    let status = res.status();
    Ok((status, res.into_body().collect().await?.to_bytes()))
}

fn text(bytes: &Bytes) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn signs_a_get() {
    let addr = start_server(OffsetClock::new(0)).await;
    let mut c = client(signer());
    let req = Request::get(format!("http://{addr}/whoami"))
        .body(Full::default())
        .unwrap();
    let (status, body) = send(&mut c, req).await.unwrap();
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(text(&body), "client-key GET /whoami [host] 0\n");
}

#[tokio::test]
async fn signs_a_post_with_json_and_its_content_type() {
    let addr = start_server(OffsetClock::new(0)).await;
    let mut c = client(signer());
    let json = br#"{"amount":7,"currency":"EUR"}"#;
    let req = Request::post(format!("http://{addr}/payments"))
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(json)))
        .unwrap();
    let (status, body) = send(&mut c, req).await.unwrap();
    assert_eq!(status, 200, "{}", text(&body));
    assert!(text(&body).starts_with("client-key POST /payments [content-type;host] 29\n"));
    assert!(body.ends_with(json));
}

#[tokio::test]
async fn signs_a_binary_body_unchanged() {
    let addr = start_server(OffsetClock::new(0)).await;
    let mut c = client(signer());
    let payload: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let req = Request::put(format!("http://{addr}/blob"))
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(Full::new(Bytes::from(payload.clone())))
        .unwrap();
    let (status, body) = send(&mut c, req).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.ends_with(&payload));
}

#[tokio::test]
async fn signs_a_query_with_reserved_characters_exactly() {
    let addr = start_server(OffsetClock::new(0)).await;
    let mut c = client(signer());
    let target = "/search?q=a%2Bb&x=%3D%26&y=1+2&z=%E2%82%AC&empty=&flag&q=dup";
    let req = Request::get(format!("http://{addr}{target}"))
        .body(Full::default())
        .unwrap();
    let (status, body) = send(&mut c, req).await.unwrap();
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(text(&body), format!("client-key GET {target} [host] 0\n"));
}

#[tokio::test]
async fn signs_a_percent_encoded_path_exactly() {
    let addr = start_server(OffsetClock::new(0)).await;
    let mut c = client(signer());
    let target = "/files/My%20Report%2Fv2.pdf";
    let req = Request::delete(format!("http://{addr}{target}"))
        .body(Full::default())
        .unwrap();
    let (status, body) = send(&mut c, req).await.unwrap();
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(
        text(&body),
        format!("client-key DELETE {target} [host] 0\n")
    );
}

#[tokio::test]
async fn signs_extra_headers() {
    let addr = start_server(OffsetClock::new(0)).await;
    let request_id = HeaderName::from_static("x-request-id");
    let mut c = client(signer().sign_header(request_id.clone()));
    let req = Request::post(format!("http://{addr}/orders"))
        .header(&request_id, "  abc-123 ")
        .header("x-tenant", "unsigned")
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    let (status, body) = send(&mut c, req).await.unwrap();
    assert_eq!(status, 200, "{}", text(&body));
    assert!(text(&body).contains("[host;x-request-id]"));

    let missing = Request::get(format!("http://{addr}/orders"))
        .body(Full::default())
        .unwrap();
    let err = send(&mut c, missing).await.unwrap_err();
    assert!(err.downcast_ref::<SignRequestError>().is_some(), "{err}");
}

#[tokio::test]
async fn refuses_a_body_over_the_limit_without_sending_it() {
    let addr = start_server(OffsetClock::new(0)).await;
    let mut c = client(signer().body_limit(10));
    let req = Request::post(format!("http://{addr}/x"))
        .body(Full::new(Bytes::from_static(b"more than ten bytes")))
        .unwrap();
    let err = send(&mut c, req).await.unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<SignRequestError>(),
            Some(SignRequestError::BodyTooLarge { limit: 10 })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn recovers_from_a_server_clock_ten_minutes_ahead() {
    let addr = start_server(ManualClock::at_unix(T0 + 600)).await;
    let s = signer().clock(ManualClock::at_unix(T0));
    let offset = s.clock_offset().clone();
    let mut c = client(s);
    let req = Request::post(format!("http://{addr}/late"))
        .header(CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let (status, body) = send(&mut c, req).await.unwrap();
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(offset.seconds(), 600);
    // Later requests use the learned offset at once.
    let req = Request::get(format!("http://{addr}/again"))
        .body(Full::default())
        .unwrap();
    assert_eq!(send(&mut c, req).await.unwrap().0, 200);
}

#[tokio::test]
async fn without_retry_the_stale_answer_is_returned() {
    let addr = start_server(OffsetClock::new(600)).await;
    let mut c = client(signer().retry_on_stale_timestamp(false));
    let req = Request::get(format!("http://{addr}/late"))
        .body(Full::default())
        .unwrap();
    let (status, body) = send(&mut c, req).await.unwrap();
    assert_eq!(status, 401);
    assert!(text(&body).contains("stale_timestamp"));
}

type Challenger = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// A server that always answers `stale_timestamp` with the challenge made for the request's nonce,
/// counting requests.
async fn start_fake(challenge: Challenger, hits: Arc<AtomicUsize>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/{*path}",
        any(move |headers: http::HeaderMap| {
            let auth =
                tower_hmac::protocol::Authorization::parse(headers[AUTHORIZATION].as_bytes(), 4096)
                    .unwrap();
            let challenge = challenge(auth.nonce());
            hits.fetch_add(1, Ordering::SeqCst);
            async move {
                Response::builder()
                    .status(401)
                    .header(WWW_AUTHENTICATE, challenge)
                    .body(axum::body::Body::from("stale"))
                    .unwrap()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn a_forged_server_time_changes_nothing() {
    let now = tower_hmac::protocol::clock::unix_seconds(std::time::SystemTime::now());
    let forged_ts = now + 600;
    let stale = |ts: u64, tsm: Option<[u8; 32]>| match tsm {
        None => format!("HMAC-SHA256 error=\"stale_timestamp\", ts=\"{ts}\""),
        Some(tsm) => format!(
            "HMAC-SHA256 error=\"stale_timestamp\", ts=\"{ts}\", tsm=\"{}\"",
            hex::encode(tsm)
        ),
    };
    let cases: Vec<(&str, Challenger)> = vec![
        ("no tsm", Arc::new(move |_: &str| stale(forged_ts, None))),
        (
            "a tsm that is not a MAC",
            Arc::new(move |_: &str| stale(forged_ts, Some([0xab; 32]))),
        ),
        (
            "a MAC with another key",
            Arc::new(move |nonce: &str| {
                let other = SecretKey::from_bytes(&[1; 32]).unwrap();
                stale(
                    forged_ts,
                    Some(tower_hmac::protocol::policy::time_mac(
                        &other, forged_ts, nonce,
                    )),
                )
            }),
        ),
        (
            // Captured in answer to another request and replayed to this one (review item 5).
            "the key's MAC for another request's nonce",
            Arc::new(move |_: &str| {
                stale(
                    forged_ts,
                    Some(tower_hmac::protocol::policy::time_mac(
                        &key(),
                        forged_ts,
                        "captured-nonce-000000",
                    )),
                )
            }),
        ),
        (
            // Verified, but two days away: beyond the default largest offset of one day.
            "a verified time beyond the largest offset",
            Arc::new(move |nonce: &str| {
                let far = now + 2 * 86_400;
                stale(
                    far,
                    Some(tower_hmac::protocol::policy::time_mac(&key(), far, nonce)),
                )
            }),
        ),
    ];
    for (challenge, make) in cases {
        let hits = Arc::new(AtomicUsize::new(0));
        let addr = start_fake(make, Arc::clone(&hits)).await;
        let s = signer();
        let offset = s.clock_offset().clone();
        let mut c = client(s);
        let req = Request::get(format!("http://{addr}/x"))
            .body(Full::default())
            .unwrap();
        let (status, _) = send(&mut c, req).await.unwrap();
        assert_eq!(status, 401, "{challenge}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "retried on {challenge}");
        assert_eq!(offset.seconds(), 0, "learned from {challenge}");
    }
}

#[tokio::test]
async fn a_verified_server_time_is_learned_but_retried_only_once() {
    let ts = T0 + 600;
    let challenge: Challenger = Arc::new(move |nonce: &str| {
        format!(
            "HMAC-SHA256 error=\"stale_timestamp\", ts=\"{ts}\", tsm=\"{}\"",
            hex::encode(tower_hmac::protocol::policy::time_mac(&key(), ts, nonce))
        )
    });
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = start_fake(challenge, Arc::clone(&hits)).await;
    let s = signer().clock(ManualClock::at_unix(T0));
    let offset = s.clock_offset().clone();
    let mut c = client(s);
    let req = Request::get(format!("http://{addr}/x"))
        .body(Full::default())
        .unwrap();
    let (status, _) = send(&mut c, req).await.unwrap();
    assert_eq!(status, 401);
    assert_eq!(hits.load(Ordering::SeqCst), 2, "one retry, no loop");
    assert_eq!(offset.seconds(), 600);
}

#[tokio::test]
async fn a_larger_offset_is_learned_when_the_client_allows_it() {
    let far = T0 + 2 * 86_400;
    let challenge: Challenger = Arc::new(move |nonce: &str| {
        format!(
            "HMAC-SHA256 error=\"stale_timestamp\", ts=\"{far}\", tsm=\"{}\"",
            hex::encode(tower_hmac::protocol::policy::time_mac(&key(), far, nonce))
        )
    });
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = start_fake(challenge, Arc::clone(&hits)).await;
    let s = signer()
        .clock(ManualClock::at_unix(T0))
        .max_clock_offset(std::time::Duration::from_secs(3 * 86_400));
    let offset = s.clock_offset().clone();
    let mut c = client(s);
    let req = Request::get(format!("http://{addr}/x"))
        .body(Full::default())
        .unwrap();
    send(&mut c, req).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(offset.seconds(), 2 * 86_400);
}

#[tokio::test]
async fn the_authorization_header_is_marked_sensitive() {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let record = Arc::clone(&seen);
    let svc = tower::service_fn(move |req: Request<Full<Bytes>>| {
        *record.lock().unwrap() = Some(req.headers()[AUTHORIZATION].is_sensitive());
        async { Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default())) }
    });
    let mut c = ServiceBuilder::new()
        .layer(SignRequestLayer::new(signer()))
        .service(svc);
    let req = Request::get("http://api.example.com/x")
        .body(Full::<Bytes>::default())
        .unwrap();
    ServiceExt::<Request<Full<Bytes>>>::ready(&mut c)
        .await
        .unwrap()
        .call(req)
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(true));
}

#[tokio::test]
async fn an_invalid_signature_answer_carries_line_digests_unless_disabled() {
    for enabled in [true, false] {
        let registry = InMemoryRegistry::new();
        registry.insert("client-key", "client-app", key());
        let layer = HmacAuthLayer::builder(registry, AllowedHosts::any())
            .signature_diagnostics(enabled)
            .build()
            .unwrap();
        let app = Router::new()
            .route("/x", post(|| async { "ok" }))
            .layer(layer);
        let other =
            RequestSigner::new("client-key", SecretKey::from_bytes(&[9; 32]).unwrap()).unwrap();
        let mut req = Request::post("http://api.example.com/x")
            .header(CONTENT_TYPE, "text/plain")
            .body(axum::body::Body::from("hi"))
            .unwrap();
        let (parts, body) = std::mem::take(&mut req).into_parts();
        let mut parts = parts;
        other
            .sign(
                &parts.method,
                &parts.uri,
                &mut parts.headers,
                &tower_hmac::protocol::body_sha256(b"hi"),
            )
            .unwrap();
        let res = app.oneshot(Request::from_parts(parts, body)).await.unwrap();
        assert_eq!(res.status(), 401);
        let json: serde_json::Value =
            serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(json["code"], "invalid_signature");
        let lines = &json["diagnostics"]["string_to_sign_lines"];
        if enabled {
            // 8 fixed lines + content-type + host + the body hash
            assert_eq!(lines.as_array().unwrap().len(), 11, "{json}");
            assert_eq!(lines[0].as_str().unwrap().len(), 16);
        } else {
            assert!(lines.is_null(), "{json}");
        }
    }
}
