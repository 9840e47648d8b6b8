//! Item 1: a captured Stripe delivery with a random `v1` put before its own is a replay.

use tower_hmac::SecretKey;
use tower_hmac::protocol::webhooks::stripe_signature;

use crate::common::{send, start_demo};

/// A raw POST of `body` with these headers.
pub(crate) fn post(host: &str, path: &str, headers: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut raw = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    raw.into_bytes()
}

/// Unix seconds a second ahead: after the second the demo's replay store started in, well
/// within its window (no wait for a second to pass).
pub(crate) fn ahead() -> u64 {
    use tower_hmac::protocol::clock::Clock as _;
    tower_hmac::protocol::SystemClock.unix_seconds() + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_v1_beside_the_captured_one_does_not_replay_a_stripe_delivery() {
    let server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_THROTTLE", "off"),
    ])
    .await;
    let host = server.addr.to_string();
    let key = SecretKey::from_text(demo_server::DEMO_STRIPE_SECRET).unwrap();
    let body = r#"{"id":"evt_red_team","type":"charge.succeeded"}"#;
    let header = stripe_signature(&key, ahead(), body.as_bytes());
    let deliver = |signature: String| {
        post(
            &host,
            "/webhooks/stripe",
            &[("Stripe-Signature", signature)],
            body,
        )
    };
    let (status, text) = send(server.addr, &deliver(header.clone())).await;
    assert_eq!(status, 200, "{text}");
    let (t, captured) = header.split_once(",v1=").unwrap();
    for i in 0..10u8 {
        let random = hex::encode([i.wrapping_mul(29).wrapping_add(3); 32]);
        let (status, text) = send(
            server.addr,
            &deliver(format!("{t},v1={random},v1={captured}")),
        )
        .await;
        assert_eq!(status, 401, "replay {i} accepted: {text}");
        assert!(text.contains("replayed_nonce"), "{text}");
    }
}
