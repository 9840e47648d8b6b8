//! Kong's and APISIX's `hmac-auth` behind the layer, with v1 on the same routes: every case of
//! the gateways' own test suites (testdata/gateways.json) is answered as it says; an accepted
//! one is a replay the second time (the gateways never refused one); tampering with any part it
//! covers is refused; and every refusal is the layer's problem+json, never a 5xx.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::protocol::gateway::{Apisix, Kong};
use tower_hmac::server::VerifiedBody;
use tower_hmac::{AllowedHosts, Authenticated, HmacAuthLayer, InMemoryRegistry, SecretKey};

#[derive(Deserialize)]
struct File {
    vector_secret: String,
    cases: Vec<Case>,
}

#[derive(Deserialize, Clone)]
struct Case {
    id: String,
    scheme: String,
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
    body: String,
    key_id: String,
    authorization_registered: String,
    header: String,
    now: u64,
    expect: String,
}

fn file() -> File {
    serde_json::from_str(include_str!(
        "../../crates/tower-hmac-core/testdata/gateways.json"
    ))
    .unwrap()
}

async fn echo(req: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    let scheme = req
        .extensions()
        .get::<Authenticated>()
        .map(|a| a.scheme())
        .unwrap_or_default();
    Ok(Response::new(Full::new(Bytes::from(scheme))))
}

struct Server {
    clock: Arc<AtomicU64>,
    layer: HmacAuthLayer,
}

impl Server {
    fn new(secret: &str) -> Self {
        let registry = InMemoryRegistry::new();
        let key = SecretKey::from_text(secret).unwrap();
        for id in ["bob", "kong_demo", "my-access-key", "john-key"] {
            registry.insert(id, "gateway-clients", key.clone());
        }
        let clock = Arc::new(AtomicU64::new(0));
        let now = Arc::clone(&clock);
        let layer =
            HmacAuthLayer::builder(registry, AllowedHosts::new(["api.example.com"]).unwrap())
                .with_scheme(Kong::new().allow_sha1())
                .with_scheme(Apisix::new().allow_sha1())
                .clock(move || UNIX_EPOCH + Duration::from_secs(now.load(Ordering::SeqCst)))
                .build()
                .unwrap();
        Self { clock, layer }
    }

    /// The status, the problem's code (or the scheme that accepted it).
    async fn send(&self, req: Request<Full<Bytes>>) -> (u16, String) {
        let svc = ServiceBuilder::new()
            .layer(self.layer.clone())
            .service_fn(echo);
        let res = svc.oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        if status == 200 {
            return (status, String::from_utf8(body.to_vec()).unwrap());
        }
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (status, problem["code"].as_str().unwrap().to_owned())
    }
}

fn request(case: &Case) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(case.method.as_str())
        .uri(case.target.as_str())
        .version(match case.version.as_str() {
            "HTTP/1.0" => http::Version::HTTP_10,
            _ => http::Version::HTTP_11,
        })
        .header("host", "api.example.com");
    for (name, value) in &case.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .header(case.header.as_str(), case.authorization_registered.as_str())
        .body(Full::new(Bytes::from(case.body.clone())))
        .unwrap()
}

fn covered(case: &Case) -> Vec<String> {
    let auth = &case.authorization_registered;
    let start = auth.find("headers=\"").unwrap() + "headers=\"".len();
    let end = start + auth[start..].find('"').unwrap();
    auth[start..end].split(' ').map(str::to_owned).collect()
}

#[tokio::test]
async fn every_case_is_answered_as_it_says_and_an_accepted_one_only_once() {
    let file = file();
    let mut accepted = 0;
    for case in &file.cases {
        // A server of its own: several cases sign the same string with the same key, and a
        // signature seen once is a replay.
        let server = Server::new(&file.vector_secret);
        server.clock.store(case.now, Ordering::SeqCst);
        let (status, answer) = server.send(request(case)).await;
        assert!(status < 500, "{}: {status}", case.id);
        if case.expect == "accept" {
            assert_eq!(
                (status, answer.as_str()),
                (200, case.scheme.as_str()),
                "{}",
                case.id
            );
            accepted += 1;
            let (status, answer) = server.send(request(case)).await;
            assert_eq!(
                (status, answer.as_str()),
                (401, "replayed_nonce"),
                "{}",
                case.id
            );
        } else {
            assert_eq!(answer, case.expect, "{}", case.id);
        }
    }
    assert!(accepted >= 15, "{accepted}");
    // Protocol v1 on the same layer.
    let server = Server::new(&file.vector_secret);
    let v1 = tower_hmac_integration::authorization_now(
        "bob",
        &SecretKey::from_text(&file.vector_secret).unwrap(),
        &http::Method::GET,
        "api.example.com",
        "/v1",
        b"",
    );
    server.clock.store(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        Ordering::SeqCst,
    );
    let req = Request::get("/v1")
        .header("host", "api.example.com")
        .header("authorization", v1)
        .body(Full::default())
        .unwrap();
    assert_eq!(server.send(req).await, (200, "v1".to_owned()));
}

#[tokio::test]
async fn tampering_with_anything_a_signature_covers_is_refused() {
    let file = file();
    let mut tampered = 0;
    for case in file.cases.iter().filter(|c| c.expect == "accept") {
        let server = Server::new(&file.vector_secret);
        server.clock.store(case.now, Ordering::SeqCst);
        for name in covered(case) {
            let mut changed = case.clone();
            match name.as_str() {
                "request-line" | "@request-target" => {
                    changed.target = format!("{}x", case.target);
                }
                _ => {
                    let Some(header) = changed
                        .headers
                        .iter_mut()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&name))
                    else {
                        continue; // a listed header the request lacks
                    };
                    header.1 = if name.ends_with("date") {
                        // Another instant in the window: only the MAC can tell.
                        let at = httpdate::parse_http_date(&header.1).unwrap();
                        httpdate::fmt_http_date(at + Duration::from_secs(1))
                    } else if name == "digest" {
                        "SHA-256=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".to_owned()
                    } else {
                        format!("{}x", header.1)
                    };
                }
            }
            let (status, code) = server.send(request(&changed)).await;
            assert_eq!(status, 401, "{} with {name} changed: {code}", case.id);
            tampered += 1;
        }
        if !case.body.is_empty() {
            let mut changed = case.clone();
            changed.body.push('!');
            assert_eq!(
                server.send(request(&changed)).await,
                (401, "invalid_signature".to_owned()),
                "{}: the body",
                case.id
            );
        }
        // The key id is part of it too (another registered key, same secret: the MAC still
        // differs where the format signs the key id, and the replay key is per key id).
        if case.scheme == "apisix" {
            let mut changed = case.clone();
            changed.authorization_registered = case
                .authorization_registered
                .replace(&format!("keyId=\"{}\"", case.key_id), "keyId=\"bob\"");
            assert_eq!(
                server.send(request(&changed)).await.0,
                401,
                "{}: keyId",
                case.id
            );
        }
    }
    assert!(tampered >= 20, "{tampered}");
}

#[tokio::test]
async fn malformed_credentials_are_401_problems_never_5xx() {
    let file = file();
    let server = Server::new(&file.vector_secret);
    let case = &file.cases[0];
    server.clock.store(case.now, Ordering::SeqCst);
    for value in [
        "hmac username=\"bob\"",
        "hmac username=\"bob\", algorithm=\"hmac-sha256\", headers=\"\", signature=\"\"",
        "hmac username=\"bob\", algorithm=\"hmac-sha256\", headers=\"date date\", signature=\"AAAA\"",
        "hmac username=\"b o b\", algorithm=\"hmac-sha256\", headers=\"date\", signature=\"AAAA\"",
        "Signature keyId=\"k\",algorithm=\"hmac-md5\",headers=\"date\",signature=\"AAAA\"",
        "Signature keyId=\"k\",algorithm=\"hmac-sha256\",headers=\"date\",signature=\"not base64!\"",
        "Signature keyId=\"k\",algorithm=\"hmac-sha256\",headers=\"date\",signature=\"AAAA\",extra=\"1\"",
    ] {
        let req = Request::get("/")
            .header("host", "api.example.com")
            .header("date", "Tue, 15 Sep 2026 10:00:00 GMT")
            .header("authorization", value)
            .body(Full::default())
            .unwrap();
        let (status, code) = server.send(req).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "malformed_authorization"),
            "{value}"
        );
    }
}

#[tokio::test]
async fn a_refused_signature_tells_only_the_keys_holder_what_the_server_signed() {
    let file = file();
    let case = file.cases.iter().find(|c| c.id == "kong-sha256").unwrap();
    let server = Server::new(&file.vector_secret);
    server.clock.store(case.now, Ordering::SeqCst);
    let mut changed = case.clone();
    changed.headers.retain(|(n, _)| n != "content-md5");
    changed.headers.push(("content-md5".into(), "other".into()));
    let svc = ServiceBuilder::new()
        .layer(server.layer.clone())
        .service_fn(echo);
    let res = svc.oneshot(request(&changed)).await.unwrap();
    assert_eq!(res.status(), 401);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "invalid_signature");
    // Never the signing string (it holds every listed header's value, a proxy's too): one
    // digest per line, keyed with the key, which its holder compares with its own lines.
    assert!(
        problem["diagnostics"]["string_to_sign"].is_null(),
        "{problem}"
    );
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("content-md5: other"), "{text}");
    let digests: Vec<String> = problem["diagnostics"]["string_to_sign_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    let key = tower_hmac::SecretKey::from_text(&file.vector_secret).unwrap();
    let mine = tower_hmac::protocol::canonical::line_digests(&key, b"content-md5: other");
    assert!(
        digests.contains(&hex::encode(mine[0])),
        "the key's holder finds its line: {digests:?}"
    );
}
