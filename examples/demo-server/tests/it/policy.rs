//! Issue 15 on the demo binary, over TCP: failed-authentication throttling at the documented
//! thresholds (20 a minute per key id and per client address) through a trusted proxy's
//! `X-Forwarded-For` (on the demo's layer served in this process, on a clock the test holds
//! still), the throttle's metrics, the high-risk alert, request ids, security headers and a
//! graceful shutdown that lets a request in flight finish.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_hmac::SecretKey;
use tower_hmac_integration::{authorization_now, sign_at};

use crate::common::{PATIENCE, TestClock, now_seconds, send, serve_demo, start_demo};

fn demo_key() -> SecretKey {
    SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap()
}

fn admin_key() -> SecretKey {
    SecretKey::from_base64(demo_server::DEMO_ADMIN_SECRET).unwrap()
}

/// A signed `GET /whoami` stamped `timestamp`, as if forwarded by the proxy for `client`.
fn forwarded_whoami(
    host: &str,
    key_id: &str,
    key: &SecretKey,
    client: &str,
    timestamp: u64,
) -> Vec<u8> {
    let auth = sign_at(
        key_id,
        key,
        &http::Method::GET,
        host,
        "/whoami",
        b"",
        timestamp,
    );
    format!(
        "GET /whoami HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nX-Forwarded-For: {client}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// An attacker guessing the demo key's secret through the trusted proxy, against the demo at
/// `addr` whose throttle allows `limit` failures (requests stamped `timestamp()`): what the
/// throttle answers it, the key's owner and everyone else. The attacker's `Retry-After` must be
/// in `retry_after`.
async fn brute_force(
    addr: SocketAddr,
    timestamp: &dyn Fn() -> u64,
    limit: u32,
    retry_after: RangeInclusive<u64>,
) {
    let host = addr.to_string();
    let wrong = SecretKey::from_bytes(&[9; 32]).unwrap();
    let whoami = |key_id: &str, key: &SecretKey, client: &str| {
        forwarded_whoami(&host, key_id, key, client, timestamp())
    };
    // An attacker guessing the demo key's secret from 203.0.113.5.
    for _ in 0..limit {
        let req = whoami(demo_server::DEMO_KEY_ID, &wrong, "203.0.113.5");
        let (status, text) = send(addr, &req).await;
        assert_eq!(status, 401, "{text}");
    }
    // The key's owner, elsewhere, is not locked out by failures others made in its name.
    let req = whoami(demo_server::DEMO_KEY_ID, &demo_key(), "198.51.100.1");
    let (status, text) = send(addr, &req).await;
    assert_eq!(status, 200, "{text}");
    // From the attacker's address, even the right secret waits.
    let req = whoami(demo_server::DEMO_KEY_ID, &demo_key(), "203.0.113.5");
    let (status, text) = send(addr, &req).await;
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("\"code\":\"too_many_failures\""), "{text}");
    let retry: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .expect("Retry-After")
        .trim()
        .parse()
        .unwrap();
    assert!(
        retry_after.contains(&retry),
        "Retry-After {retry}, not in {retry_after:?}"
    );
    // The attacker's address is throttled for any key.
    let req = whoami(demo_server::DEMO_ADMIN_KEY_ID, &admin_key(), "203.0.113.5");
    assert_eq!(send(addr, &req).await.0, 429);
    // Everyone else goes on: another key from another client, through the same proxy.
    let req = whoami(demo_server::DEMO_ADMIN_KEY_ID, &admin_key(), "198.51.100.1");
    let (status, text) = send(addr, &req).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_is_throttled_without_hurting_other_callers() {
    // At the documented thresholds — the demo's default, 20 failures a minute, then one more try
    // every 3 s — on the demo's layer served in this process, on a clock the test holds still:
    // however slow the run, the attacker earns no try back, and waits exactly 3 s.
    let (limit, window) = demo_server::DEMO_THROTTLE;
    let s = now_seconds();
    let clock = TestClock::at(s * 1000);
    let settings = demo_server::Settings {
        trusted_proxies: vec!["127.0.0.1".into()],
        clock: Some(clock.demo()),
        ..Default::default()
    };
    assert_eq!(
        settings.throttle,
        demo_server::Throttle::Failures {
            failures: limit,
            seconds: window
        }
    );
    let demo = serve_demo(&settings).await;
    let every = window / u64::from(limit);
    brute_force(demo.addr, &|| s, limit, every..=every).await;

    // What an operator sees on the binary's `/metrics`: who was refused, why, from where. The
    // binary runs on the system clock; with one more try a day instead of every 3 s
    // (`TOWER_HMAC_DEMO_THROTTLE=20/86400`), a slow run earns the attacker no try back either.
    let day = 86_400;
    let throttle = format!("{limit}/{day}");
    let server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_TRUSTED_PROXIES", "127.0.0.1"),
        ("TOWER_HMAC_DEMO_THROTTLE", throttle.as_str()),
    ])
    .await;
    let host = server.addr.to_string();
    brute_force(
        server.addr,
        &|| now_seconds() + 1,
        limit,
        1..=day / u64::from(limit),
    )
    .await;
    let (status, metrics) = send(
        server.addr,
        format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    {
        let (by, at_least) = ("address", 2);
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("tower_hmac_throttled_total{") && l.contains(&format!("by=\"{by}\""))
            })
            .unwrap_or_else(|| panic!("no throttled_total for {by}: {metrics}"));
        let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(count >= at_least, "{line}");
    }
    let refused = metrics
        .lines()
        .find(|l| {
            l.starts_with("tower_hmac_requests_total{")
                && l.contains("code=\"invalid_signature\"")
                && l.contains("app=\"unknown\"")
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(refused.ends_with(&format!(" {limit}")), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_key_used_from_a_new_address_raises_a_high_risk_alert() {
    // The demo with its output (where it logs) read, trusting the loopback proxy.
    let mut server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let host = server.addr.to_string();
    for client in ["192.0.2.10", "192.0.2.10", "203.0.113.99"] {
        let req = forwarded_whoami(
            &host,
            demo_server::DEMO_KEY_ID,
            &demo_key(),
            client,
            now_seconds() + 1,
        );
        assert_eq!(send(server.addr, &req).await.0, 200);
    }
    let alert = server.line_with("demo_server::alerts").await;
    assert!(
        alert.contains("new_address") && alert.contains("203.0.113.99"),
        "{alert}"
    );
    assert!(alert.contains("WARN"), "{alert}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_request_ids_and_security_headers() {
    let server = start_demo(&[("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")]).await;
    let host = server.addr.to_string();
    let (status, text) = send(
        server.addr,
        format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let lower = text.to_ascii_lowercase();
    for (name, value) in demo_server::SECURITY_HEADERS {
        assert!(
            lower.contains(&format!("{name}: {}", value.to_ascii_lowercase())),
            "{name} in {text}"
        );
    }
    assert!(lower.contains("x-request-id: "), "a generated id: {text}");
    // A client's own id is kept, and refused requests carry it too.
    let (status, text) = send(
        server.addr,
        format!("GET /whoami HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: trace-77\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(text.contains("x-request-id: trace-77"), "{text}");
    assert!(text.contains("x-content-type-options: nosniff"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish() {
    let mut server = start_demo(&[("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")]).await;
    let host = server.addr.to_string();
    let body = b"{\"hello\":\"graceful\"}";
    let auth = authorization_now(
        demo_server::DEMO_KEY_ID,
        &demo_key(),
        &http::Method::POST,
        &host,
        "/echo",
        body,
    );
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The head with `Expect: 100-continue`: the server's `100 Continue` says the request is in
    // flight (the layer has started reading its body). Then the signal, then the body.
    stream
        .write_all(
            format!(
                "POST /echo HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "closed before 100 Continue"
        );
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );
    let pid = server.child.id().unwrap();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    // No new connections once it is shutting down (the signal is handled asynchronously: waited
    // for, a connection accepted meanwhile closed at once).
    let deadline = Instant::now() + PATIENCE;
    while let Ok(accepted) = TcpStream::connect(server.addr).await {
        drop(accepted);
        assert!(
            Instant::now() < deadline,
            "still accepting {PATIENCE:?} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stream.write_all(body).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("graceful"), "{text}");
    let exit = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .expect("the server exits after its last request")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
