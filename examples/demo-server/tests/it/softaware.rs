//! softaware's ASP.NET `Hmac` scheme against the demo binary over TCP, on the same routes as
//! protocol v1 (the format itself is checked against an independent implementation in
//! `crates/tower-hmac-core/tests/softaware.rs`).

use std::time::SystemTime;

use tower_hmac::SecretKey;
use tower_hmac::protocol::softaware::authorization;

use crate::common::{send, start_demo};

/// Unix seconds now, one second ahead: after the second the demo's replay store started in,
/// well within its skew (no wait for a second to pass).
fn now() -> u64 {
    tower_hmac::store::unix_millis(SystemTime::now()) / 1000 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aspnet_client_is_accepted_on_the_signed_routes() {
    let server = start_demo(&[("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")]).await;
    let host = server.addr.to_string();
    let key = SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    let id = demo_server::DEMO_KEY_ID;

    let auth = authorization(
        id,
        &key,
        "GET",
        &format!("http://{host}/whoami"),
        b"",
        "0d9f3e7a5b1c4d2e8f6a9b0c1d2e3f4a",
        now(),
    );
    let get = format!(
        "GET /whoami HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    );
    let (status, text) = send(server.addr, get.as_bytes()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"scheme\":\"softaware\""), "{text}");
    let (status, text) = send(server.addr, get.as_bytes()).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("replayed_nonce"), "{text}");

    let body = r#"{"hello":"aspnet"}"#;
    let auth = authorization(
        id,
        &key,
        "POST",
        &format!("http://{host}/echo"),
        body.as_bytes(),
        "1e8a2b3c4d5e6f708192a3b4c5d6e7f8",
        now(),
    );
    let post = |body: &str| {
        format!(
            "POST /echo HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let (status, text) = send(
        server.addr,
        post(&body.replace("aspnet", "aspneT")).as_bytes(),
    )
    .await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("invalid_signature"), "{text}");
    let (status, text) = send(server.addr, post(body).as_bytes()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with(body), "{text}");

    // The older four-field form (MD5 body hash) is refused unless the server opts in.
    let legacy = format!(
        "GET /whoami HTTP/1.1\r\nHost: {host}\r\nAuthorization: Hmac {id}:AAAA:nonce1:{}\r\nConnection: close\r\n\r\n",
        now()
    );
    let (status, text) = send(server.addr, legacy.as_bytes()).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("malformed_authorization"), "{text}");
}
