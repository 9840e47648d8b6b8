//! The outside review's findings (issue 10), shown over real TCP against the demo binary:
//! the window's edge (1), keyed diagnostics (2), the request's authority (3), repeated signed
//! headers (4), one spelling per timestamp and no trailers (6), a restart (11), and the
//! header-read timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_hmac::SecretKey;
use tower_hmac::protocol::{Challenge, clock::unix_seconds};
use tower_hmac_integration::sign_at;

mod common;

use common::{Instance, send, start_demo};

/// Starts the demo binary on `addr` with a 2 s skew, without failure throttling (these tests
/// send a captured request hundreds of times on purpose).
async fn start(addr: &str) -> Instance {
    start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", addr),
        ("TOWER_HMAC_DEMO_MAX_SKEW", "2"),
        ("TOWER_HMAC_DEMO_THROTTLE", "off"),
    ])
    .await
}

fn key() -> SecretKey {
    SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap()
}

/// A GET of `/whoami` signed at `timestamp`, as raw bytes, and its nonce.
fn whoami_at(addr: SocketAddr, timestamp: u64) -> (Vec<u8>, String) {
    let host = addr.to_string();
    let auth = sign_at(
        demo_server::DEMO_KEY_ID,
        &key(),
        &http::Method::GET,
        &host,
        "/whoami",
        b"",
        timestamp,
    );
    (
        common::get("/whoami", &host, &auth.to_string()),
        auth.nonce().to_owned(),
    )
}

fn now_millis() -> u64 {
    tower_hmac::protocol::unix_millis(SystemTime::now())
}

/// Waits until the system clock is at least `millis`.
async fn until(millis: u64) {
    let now = now_millis();
    if millis > now {
        tokio::time::sleep(Duration::from_millis(millis - now)).await;
    }
}

/// A clock the test sets (milliseconds since the Unix epoch).
#[derive(Clone, Default)]
struct TestClock(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl TestClock {
    fn set(&self, millis: u64) {
        self.0.store(millis, std::sync::atomic::Ordering::SeqCst);
    }
}

impl tower_hmac::protocol::Clock for TestClock {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_request_is_accepted_once_up_to_the_last_millisecond_of_its_window() {
    // The demo's routes and layer over TCP, on a clock the test sets: each copy is sent at the
    // instant it names, whatever the machine's speed.
    let clock = TestClock::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = demo_server::Settings {
        max_skew: Some(Duration::from_secs(2)),
        throttle: demo_server::Throttle::Off,
        clock: Some(demo_server::DemoClock(std::sync::Arc::new(clock.clone()))),
        ..Default::default()
    };
    let store = demo_server::replay_store(&settings).unwrap();
    let layer = demo_server::layer(
        demo_server::demo_registry().unwrap(),
        addr,
        &settings,
        &store,
    )
    .unwrap();
    tokio::spawn(demo_server::serve_with(listener, layer));
    // Signed after the replay store's horizon (its start, on the system clock).
    let timestamp = now_millis() / 1000 + 10;
    let (request, _) = whoami_at(addr, timestamp);
    // Fresh until (timestamp + skew + 1 s) × 1000, exclusive.
    let end = (timestamp + 3) * 1000;
    let at = |millis: u64| {
        clock.set(millis);
        send(addr, &request)
    };
    let (status, text) = at(timestamp * 1000).await;
    assert_eq!(status, 200, "{text}");
    for millis in [
        timestamp * 1000 + 1,
        timestamp * 1000 + 999,
        end - 1000,
        end - 10,
        end - 1,
    ] {
        let (status, text) = at(millis).await;
        assert_eq!(status, 401, "{millis}: {text}");
        assert!(text.contains("replayed_nonce"), "{millis}: {text}");
    }
    for millis in [end, end + 1, end + 60_000] {
        let (status, text) = at(millis).await;
        assert_eq!(status, 401, "{millis}: {text}");
        assert!(text.contains("stale_timestamp"), "{millis}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_findings_are_refused_over_tcp() {
    let server = start("127.0.0.1:0").await;
    let addr = server.addr;
    until((now_millis() / 1000 + 1) * 1000).await;
    let now = unix_seconds(SystemTime::now());

    // 3: an absolute-form target naming another host than the allowed Host.
    let host = addr.to_string();
    let auth = sign_at(
        demo_server::DEMO_KEY_ID,
        &key(),
        &http::Method::GET,
        &host,
        "/whoami",
        b"",
        now,
    );
    let raw = common::get("http://other-host/whoami", &host, &auth.to_string());
    let (status, text) = send(addr, &raw).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("authority_mismatch"), "{text}");

    // 4: a signed Content-Type sent on two field lines.
    let auth = echo_hi_auth(&host, now);
    let raw = format!(
        "POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\nContent-Length: 2\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\nhi"
    );
    let (status, text) = send(addr, raw.as_bytes()).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("duplicate_signed_header"), "{text}");

    // 6: a timestamp with a leading zero is another spelling of a signed one: malformed.
    let (request, _) = whoami_at(addr, now);
    let text = String::from_utf8(request).unwrap();
    let zero = text.replace(&format!("Timestamp={now}"), &format!("Timestamp=0{now}"));
    let (status, answer) = send(addr, zero.as_bytes()).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("malformed_authorization"), "{answer}");
    // The original spelling is accepted once.
    assert_eq!(send(addr, text.as_bytes()).await.0, 200);

    // 6: a signed chunked body with a trailer.
    let auth = echo_hi_auth(&host, now);
    let raw = format!(
        "POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: x-unsigned\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\nx-unsigned: injected\r\n\r\n"
    );
    let (status, text) = send(addr, raw.as_bytes()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("trailers_not_allowed"), "{text}");

    // 2: the diagnostics of a wrong key's request are keyed: none is the plain SHA-256 of a line.
    let wrong = SecretKey::from_bytes(&[9; 32]).unwrap();
    let auth = sign_at(
        demo_server::DEMO_KEY_ID,
        &wrong,
        &http::Method::GET,
        &host,
        "/whoami",
        b"",
        now,
    );
    let raw = common::get("/whoami", &host, &auth.to_string());
    let (status, text) = send(addr, &raw).await;
    assert_eq!(status, 401, "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    let digests: Vec<&str> = json["diagnostics"]["string_to_sign_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    let host_line = format!("host:{host}");
    let plain = sha256_prefix(host_line.as_bytes());
    assert_eq!(digests.len(), 10);
    assert!(!digests.contains(&plain.as_str()), "an unkeyed digest");
}

/// The `Authorization` of `POST /echo` with the body `hi` and a signed `Content-Type: text/plain`.
fn echo_hi_auth(host: &str, now: u64) -> tower_hmac::protocol::Authorization {
    let uri: http::Uri = "/echo".parse().unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, host.parse().unwrap());
    headers.insert(http::header::CONTENT_TYPE, "text/plain".parse().unwrap());
    tower_hmac::protocol::Signer::new(demo_server::DEMO_KEY_ID, key())
        .unwrap()
        .sign(
            &(&http::Method::POST, &uri, &headers),
            &tower_hmac::protocol::body_sha256(b"hi"),
            &tower_hmac::protocol::SignParams::new(
                now,
                &tower_hmac::protocol::generate_nonce().unwrap(),
            )
            .headers(&[http::header::CONTENT_TYPE]),
        )
        .unwrap()
}

fn sha256_prefix(line: &[u8]) -> String {
    use tower_hmac::protocol::body_sha256;
    body_sha256(line)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_accepted_before_a_restart_is_not_accepted_after_it() {
    // 11: the in-process store starts empty; its horizon closes the gap.
    let mut first = start("127.0.0.1:0").await;
    let addr = first.addr;
    until((now_millis() / 1000 + 1) * 1000).await;
    let (request, _) = whoami_at(addr, unix_seconds(SystemTime::now()));
    assert_eq!(send(addr, &request).await.0, 200);
    first.child.kill().await.unwrap();
    let second = start(&addr.to_string()).await;
    assert_eq!(second.addr, addr);
    let (status, text) = send(addr, &request).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("stale_timestamp"), "{text}");
    // An honest client re-signs with the server's time, verified for its request, once.
    let (fresh, nonce) = whoami_at(addr, unix_seconds(SystemTime::now()));
    let (status, text) = send(addr, &fresh).await;
    let ts = if status == 401 {
        let line = text
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
            .unwrap();
        let value = line.split_once(':').unwrap().1.trim();
        let challenge = Challenge::parse(value.as_bytes()).unwrap();
        challenge.verified_server_time(&key(), &nonce).unwrap()
    } else {
        assert_eq!(status, 200, "{text}");
        return;
    };
    let (retry, _) = whoami_at(addr, ts);
    assert_eq!(send(addr, &retry).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_trickles_its_head_is_closed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = demo_server::Settings::default();
    let store = demo_server::replay_store(&settings).unwrap();
    let layer = demo_server::layer(
        demo_server::demo_registry().unwrap(),
        addr,
        &settings,
        &store,
    )
    .unwrap();
    tokio::spawn(demo_server::serve_with_timeout(
        listener,
        layer,
        Duration::from_secs(1),
    ));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection stayed open");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
