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

/// Every family the demo's `/metrics` shows of tower-hmac (and its sessions crate) has its
/// `# HELP` line (a unit and a help text given to the recorder once) next to its `# TYPE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tower_hmac_metric_family_has_help_and_type() {
    // One failure a day per address: the third bad signature is throttled, however slow the run.
    let server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_THROTTLE", "1/86400"),
    ])
    .await;
    let host = server.addr.to_string();
    let key = SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    let signed = |path: &str, key: &SecretKey| {
        authorization_now(
            demo_server::DEMO_KEY_ID,
            key,
            &http::Method::GET,
            &host,
            path,
            b"",
        )
    };
    let whoami = crate::common::get("/whoami", &host, &signed("/whoami", &key));
    assert_eq!(send(server.addr, &whoami).await.0, 200);
    // The demo key lacks the scope `admin`: a scope refusal.
    let admin = crate::common::get("/admin/whoami", &host, &signed("/admin/whoami", &key));
    assert_eq!(send(server.addr, &admin).await.0, 403);
    // A refusal of the sessions crate.
    let me = format!(
        "GET /me HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer not-a-token\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(send(server.addr, me.as_bytes()).await.0, 401);
    // Bad signatures until the throttle answers.
    let wrong = SecretKey::from_bytes(&[7; 32]).unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let bad = crate::common::get("/whoami", &host, &signed("/whoami", &wrong));
        statuses.push(send(server.addr, &bad).await.0);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");

    let (status, text) = send(
        server.addr,
        format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let typed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .filter(|name| name.starts_with("tower_hmac_"))
        .collect();
    for family in [
        "tower_hmac_requests_total",
        "tower_hmac_verification_seconds",
        "tower_hmac_scope_refusals_total",
        "tower_hmac_throttled_total",
        "tower_hmac_replay_store_nonces",
        "tower_hmac_replay_store_capacity",
        "tower_hmac_sessions_refusals_total",
    ] {
        assert!(typed.contains(&family), "no # TYPE {family} in {text}");
    }
    for family in &typed {
        let help = format!("# HELP {family} ");
        let line = text
            .lines()
            .find(|l| l.starts_with(&help))
            .unwrap_or_else(|| panic!("no {help:?} in {text}"));
        assert!(line.len() > help.len() + 10, "{line}");
    }
}
