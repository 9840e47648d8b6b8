//! Item 3: `/metrics` does not tell which key ids exist, are revoked or which app owns them: a
//! refusal's labels say what its answer says.

use tower_hmac::SecretKey;
use tower_hmac_integration::authorization_now;

use crate::common::{get, send, start_demo};

async fn metrics(addr: std::net::SocketAddr) -> Vec<String> {
    let host = addr.to_string();
    let (status, text) = send(
        addr,
        format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter(|l| l.starts_with("tower_hmac_requests_total{"))
        .map(str::to_owned)
        .collect()
}

/// The series whose count changed between two scrapes, without their counts.
fn changed(before: &[String], after: &[String]) -> Vec<String> {
    after
        .iter()
        .filter(|l| !before.contains(l))
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l.clone(), |(series, _)| series.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_changes_the_same_series_whether_its_key_id_exists_or_not() {
    let server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_THROTTLE", "off"),
    ])
    .await;
    let host = server.addr.to_string();
    let wrong = SecretKey::from_bytes(&[0x33; 32]).unwrap();
    let mut seen = Vec::new();
    // A known key, a revoked one, the operator's, and one that does not exist: each with a bad
    // signature, as the red team probed them.
    for key_id in [
        demo_server::DEMO_KEY_ID,
        "demo-2024",
        demo_server::DEMO_ADMIN_KEY_ID,
        "no-such-key",
    ] {
        let before = metrics(server.addr).await;
        let auth = authorization_now(key_id, &wrong, &http::Method::GET, &host, "/whoami", b"");
        let (status, text) = send(server.addr, &get("/whoami", &host, &auth)).await;
        assert_eq!(status, 401, "{text}");
        let after = metrics(server.addr).await;
        let delta = changed(&before, &after);
        assert_eq!(delta.len(), 1, "{key_id}: {delta:?}");
        seen.push(delta[0].clone());
    }
    for series in &seen {
        assert_eq!(
            series, &seen[0],
            "the metrics tell {series} from {}",
            seen[0]
        );
        assert!(series.contains("code=\"invalid_signature\""), "{series}");
        assert!(series.contains("app=\"unknown\""), "{series}");
    }
}
