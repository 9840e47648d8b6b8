//! Issue 24 item 4: softaware's signed string concatenates the nonce and the Base64 of the body
//! hash with no separator. With the SHA384 body hash (no `=` padding), about one body in eight
//! has a hash that is also a valid nonce tail of the old syntax, and a captured POST was accepted
//! again with an empty body and `nonce + hash`: a fresh replay key. Now the nonce is a GUID in
//! .NET's "N" format (32 lower-case hex digits), so the resend is `401 malformed_authorization`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest as _;
use tower_hmac::SecretKey;
use tower_hmac::protocol::softaware::{BodyHash, authorization_with, generate_nonce};

use crate::common::{send, start_demo};

/// A signing time after the demo's replay store started, well inside the window: no sleep.
fn signing_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_softaware_post_is_not_replayed_with_its_body_hash_in_the_nonce() {
    let server = start_demo(&[("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")]).await;
    let host = server.addr.to_string();
    let key = SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();

    // A body whose SHA384 Base64 has no `+` or `/`: what the old syntax let into a nonce.
    let (body, hash) = (0..1000)
        .map(|i| format!(r#"{{"amount":{i},"currency":"EUR"}}"#))
        .map(|body| {
            let hash = STANDARD.encode(sha2::Sha384::digest(body.as_bytes()));
            (body, hash)
        })
        .find(|(_, hash)| !hash.contains(['+', '/']))
        .unwrap();
    let nonce = generate_nonce().unwrap();
    let captured = authorization_with(
        demo_server::DEMO_KEY_ID,
        &key,
        "POST",
        &format!("http://{host}/echo"),
        body.as_bytes(),
        &nonce,
        signing_time(),
        BodyHash::Sha384,
    );
    let post = |authorization: &str, body: &str| {
        format!(
            "POST /echo HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };

    // The client's request, with its GUID nonce: accepted.
    let (status, text) = send(server.addr, post(&captured, &body).as_bytes()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with(&body), "{text}");

    // The red team's resend: no body, the hash moved after the nonce (the same signed string).
    let moved = captured.replace(&nonce, &format!("{nonce}{hash}"));
    let (status, text) = send(server.addr, post(&moved, "").as_bytes()).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("malformed_authorization"), "{text}");

    // And the capture itself is a replay.
    let (status, text) = send(server.addr, post(&captured, &body).as_bytes()).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("replayed_nonce"), "{text}");
}
