//! The layer over real TCP: an Axum server on a loopback port, and a raw HTTP/1.1 client that can
//! send what a well-behaved client would not.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_hmac::{AllowedHosts, Authenticated, HmacAuthLayer, InMemoryRegistry, SecretKey};
use tower_hmac_integration::authorization_now;

use crate::support::PATIENCE;

const KEY: [u8; 32] = [0x5a; 32];

async fn start() -> SocketAddr {
    let registry = InMemoryRegistry::new();
    registry.insert("tcp-key", "tcp-app", SecretKey::from_bytes(&KEY).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = HmacAuthLayer::builder(registry, AllowedHosts::new([addr.to_string()]).unwrap())
        .body_limit(64 * 1024)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/whoami",
            get(|a: Authenticated| async move { a.app_id().to_owned() }),
        )
        .route("/echo", post(|body: axum::body::Bytes| async move { body }))
        .layer(layer);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn authorization(addr: SocketAddr, method: &Method, target: &str, body: &[u8]) -> String {
    let key = SecretKey::from_bytes(&KEY).unwrap();
    authorization_now("tcp-key", &key, method, &addr.to_string(), target, body)
}

/// Sends raw bytes, returns the status code and the whole response text.
async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server did not answer and close in time");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

fn request(addr: SocketAddr, method: &str, target: &str, extra: &[String], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for line in extra {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test]
async fn a_signed_request_over_tcp_is_accepted_once() {
    let addr = start().await;
    let auth = authorization(addr, &Method::GET, "/whoami", b"");
    let req = request(
        addr,
        "GET",
        "/whoami",
        &[format!("Authorization: {auth}")],
        b"",
    );
    let (status, text) = raw(addr, &req).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("tcp-app"), "{text}");
    let (status, text) = raw(addr, &req).await;
    assert_eq!(status, 401);
    assert!(text.contains("replayed_nonce"));
}

#[tokio::test]
async fn a_signed_post_with_a_binary_body_reaches_the_handler_unchanged() {
    let addr = start().await;
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let auth = authorization(addr, &Method::POST, "/echo", &body);
    let req = request(
        addr,
        "POST",
        "/echo",
        &[format!("Authorization: {auth}")],
        &body,
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    assert!(out.starts_with(b"HTTP/1.1 200"));
    assert!(out.ends_with(&body));
}

#[tokio::test]
async fn a_64_kib_authorization_header_is_a_4xx() {
    let addr = start().await;
    let huge = format!(
        "Authorization: HMAC-SHA256 Credential={}",
        "a".repeat(64 * 1024)
    );
    let (status, _) = raw(addr, &request(addr, "GET", "/whoami", &[huge], b"")).await;
    assert!((400..500).contains(&status), "{status}");
}

#[tokio::test]
async fn duplicate_authorization_headers_are_a_401() {
    let addr = start().await;
    let auth = authorization(addr, &Method::GET, "/whoami", b"");
    let lines = [
        format!("Authorization: {auth}"),
        format!("Authorization: {auth}"),
    ];
    let (status, text) = raw(addr, &request(addr, "GET", "/whoami", &lines, b"")).await;
    assert_eq!(status, 401);
    assert!(text.contains("malformed_authorization"));
}

#[tokio::test]
async fn non_utf8_bytes_in_the_authorization_header_are_a_401() {
    let addr = start().await;
    let mut req = request(
        addr,
        "GET",
        "/whoami",
        &["Authorization: HMAC-SHA256 Credential=XX".into()],
        b"",
    );
    let at = req.windows(2).position(|w| w == b"XX").unwrap();
    req[at] = 0xff;
    req[at + 1] = 0xfe;
    let (status, _) = raw(addr, &req).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn thousands_of_headers_are_a_4xx() {
    let addr = start().await;
    let lines: Vec<String> = (0..5000).map(|i| format!("X-Junk-{i}: {i}")).collect();
    let (status, _) = raw(addr, &request(addr, "GET", "/whoami", &lines, b"")).await;
    assert!((400..500).contains(&status), "{status}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let addr = start().await;
    let body = vec![b'x'; 64 * 1024 + 1];
    let auth = authorization(addr, &Method::POST, "/echo", &body);
    let (status, text) = raw(
        addr,
        &request(
            addr,
            "POST",
            "/echo",
            &[format!("Authorization: {auth}")],
            &body,
        ),
    )
    .await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("body_too_large"));
}
