//! Issue 15 on the demo binary, over TCP: failed-authentication throttling at the documented
//! thresholds (20 a minute per key id and per client address) through a trusted proxy's
//! `X-Forwarded-For`, the throttle's metrics, the high-risk alert, request ids, security headers
//! and a graceful shutdown that lets a request in flight finish.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_hmac::SecretKey;
use tower_hmac_integration::authorization_now;

mod common;

use common::{send, start_demo};

fn demo_key() -> SecretKey {
    SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap()
}

fn admin_key() -> SecretKey {
    SecretKey::from_base64(demo_server::DEMO_ADMIN_SECRET).unwrap()
}

/// A signed `GET /whoami` as if forwarded by the proxy for `client`.
fn forwarded_whoami(host: &str, key_id: &str, key: &SecretKey, client: &str) -> Vec<u8> {
    let auth = authorization_now(key_id, key, &http::Method::GET, host, "/whoami", b"");
    format!(
        "GET /whoami HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nX-Forwarded-For: {client}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_is_throttled_without_hurting_other_callers() {
    let server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let host = server.addr.to_string();
    let wrong = SecretKey::from_bytes(&[9; 32]).unwrap();
    let (limit, window) = demo_server::DEMO_THROTTLE;
    // An attacker guessing the demo key's secret from 203.0.113.5.
    for _ in 0..limit {
        let req = forwarded_whoami(&host, demo_server::DEMO_KEY_ID, &wrong, "203.0.113.5");
        let (status, text) = send(server.addr, &req).await;
        assert_eq!(status, 401, "{text}");
    }
    // The key's owner, elsewhere, is not locked out by failures others made in its name.
    let req = forwarded_whoami(&host, demo_server::DEMO_KEY_ID, &demo_key(), "198.51.100.1");
    let (status, text) = send(server.addr, &req).await;
    assert_eq!(status, 200, "{text}");
    // From the attacker's address, even the right secret waits.
    let req = forwarded_whoami(&host, demo_server::DEMO_KEY_ID, &demo_key(), "203.0.113.5");
    let (status, text) = send(server.addr, &req).await;
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("\"code\":\"too_many_failures\""), "{text}");
    let retry = text
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .expect("Retry-After");
    assert_eq!(retry.trim(), (window / u64::from(limit)).to_string());
    // The attacker's address is throttled for any key.
    let req = forwarded_whoami(
        &host,
        demo_server::DEMO_ADMIN_KEY_ID,
        &admin_key(),
        "203.0.113.5",
    );
    assert_eq!(send(server.addr, &req).await.0, 429);
    // Everyone else goes on: another key from another client, through the same proxy.
    let req = forwarded_whoami(
        &host,
        demo_server::DEMO_ADMIN_KEY_ID,
        &admin_key(),
        "198.51.100.1",
    );
    let (status, text) = send(server.addr, &req).await;
    assert_eq!(status, 200, "{text}");

    // What an operator sees: who was refused, why, from where.
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
    let mut server = start_demo_with_logs().await;
    let host = server.addr.to_string();
    for client in ["192.0.2.10", "192.0.2.10", "203.0.113.99"] {
        let req = forwarded_whoami(&host, demo_server::DEMO_KEY_ID, &demo_key(), client);
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    // No new connections once it is shutting down.
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still accepting after SIGTERM"
    );
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

/// The demo with its output (where it logs) readable, trusting the loopback proxy.
async fn start_demo_with_logs() -> Logged {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_demo-server"))
        .env("RUST_LOG", "warn")
        .env("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")
        .env("TOWER_HMAC_DEMO_TRUSTED_PROXIES", "127.0.0.1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = out.next_line().await.unwrap().expect("demo-server exited");
        if let Some(rest) = line.strip_prefix("tower-hmac demo server listening on http://") {
            break rest.parse().unwrap();
        }
    };
    Logged {
        addr,
        _child: child,
        out,
    }
}

struct Logged {
    addr: std::net::SocketAddr,
    _child: tokio::process::Child,
    out: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Logged {
    /// The next log line containing `needle` (panics after 5 s).
    async fn line_with(&mut self, needle: &str) -> String {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let line = self.out.next_line().await.unwrap().expect("log ended");
                if line.contains(needle) {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no log line with {needle}"))
    }
}
