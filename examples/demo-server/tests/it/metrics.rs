//! `GET /metrics` on the demo (Prometheus text, from `metrics-exporter-prometheus`): who was
//! accepted and who refused, why, through which scheme.

use tower_hmac::SecretKey;
use tower_hmac_integration::authorization_now;

use crate::common::{send, start_demo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_decisions_by_outcome_code_scheme_and_app() {
    let server = start_demo(&[("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")]).await;
    let host = server.addr.to_string();
    let key = SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    let auth = authorization_now(
        demo_server::DEMO_KEY_ID,
        &key,
        &http::Method::GET,
        &host,
        "/whoami",
        b"",
    );
    assert_eq!(
        send(server.addr, &crate::common::get("/whoami", &host, &auth))
            .await
            .0,
        200
    );
    assert_eq!(
        send(server.addr, &crate::common::get("/whoami", &host, &auth))
            .await
            .0,
        401
    );
    let (status, text) = send(
        server.addr,
        format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let line = |needles: &[&str]| {
        text.lines()
            .find(|l| {
                l.starts_with("tower_hmac_requests_total{") && needles.iter().all(|n| l.contains(n))
            })
            .unwrap_or_else(|| panic!("no {needles:?} in {text}"))
            .to_owned()
    };
    let accepted = line(&[
        "outcome=\"accepted\"",
        "scheme=\"v1\"",
        "app=\"demo-backoffice\"",
    ]);
    assert!(accepted.ends_with(" 1"), "{accepted}");
    let replayed = line(&[
        "outcome=\"rejected\"",
        "code=\"replayed_nonce\"",
        "app=\"demo-backoffice\"",
    ]);
    assert!(replayed.ends_with(" 1"), "{replayed}");
    assert!(text.contains("tower_hmac_verification_seconds"), "{text}");
    assert!(text.contains("tower_hmac_replay_store_capacity"), "{text}");
    assert!(!text.contains(demo_server::demo_secret_base64()));
}
