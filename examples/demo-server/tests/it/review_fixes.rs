//! The outside review's findings (issue 10), shown over real TCP against the demo's routes and
//! layer served in this process on a clock the test sets: the window's edge (1), keyed
//! diagnostics (2), the request's authority (3), repeated signed headers (4), one spelling per
//! timestamp and no trailers (6), a restart (11), and the header-read timeout.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_hmac::SecretKey;
use tower_hmac::protocol::Challenge;
use tower_hmac_integration::sign_at;

use crate::common::{InProcess, PATIENCE, TestClock, listener, now_seconds, send, serve_demo};

/// The demo as `TOWER_HMAC_DEMO_MAX_SKEW=2 TOWER_HMAC_DEMO_THROTTLE=off` runs it (these tests
/// send a captured request many times on purpose), on `clock`, served in this process.
async fn start(clock: &TestClock) -> InProcess {
    serve_demo(&settings(clock, Duration::from_secs(2))).await
}

fn settings(clock: &TestClock, max_skew: Duration) -> demo_server::Settings {
    demo_server::Settings {
        max_skew: Some(max_skew),
        throttle: demo_server::Throttle::Off,
        clock: Some(clock.demo()),
        ..Default::default()
    }
}

fn key() -> SecretKey {
    SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap()
}

/// A GET of `/whoami` on `addr` signed at `timestamp`, as raw bytes, and its nonce.
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
        crate::common::get("/whoami", &host, &auth.to_string()),
        auth.nonce().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_request_is_accepted_once_up_to_the_last_millisecond_of_its_window() {
    // The demo's routes and layer over TCP, on a clock the test sets: each copy is sent at the
    // instant it names, whatever the machine's speed.
    let timestamp = now_seconds() + 10;
    // Signed after the replay store's horizon (its start, mapped onto the layer's clock at its
    // first use: the instant of the first copy, less the time since the store was made).
    let clock = TestClock::at(timestamp * 1000);
    let server = start(&clock).await;
    let addr = server.addr;
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
    // Every request is signed at the instant the layer's clock is held at: after its replay
    // store's horizon, inside its window however long the run takes.
    let now = now_seconds();
    let server = start(&TestClock::at(now * 1000)).await;
    let addr = server.addr;

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
    let raw = crate::common::get("http://other-host/whoami", &host, &auth.to_string());
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
    let raw = crate::common::get("/whoami", &host, &auth.to_string());
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
    // 11: the in-process store starts empty; its horizon closes the gap. The demo restarts in this
    // process — a new replay store and layer, as a new process has, on a new listener with the
    // old address still allowed (as behind a load balancer), on the same clock, which the test
    // moves on by the restart's time. The skew is an hour: the request is never stale by its
    // age here, only by the new store's horizon.
    let signed = now_seconds();
    let clock = TestClock::at(signed * 1000);
    let settings = settings(&clock, Duration::from_secs(3600));
    let first = serve_demo(&settings).await;
    let addr = first.addr;
    let (request, _) = whoami_at(addr, signed);
    assert_eq!(send(addr, &request).await.0, 200);
    drop(first);
    // The restart took half an hour on the layer's clock.
    clock.set((signed + 1800) * 1000);
    let second = serve_demo(&demo_server::Settings {
        extra_hosts: vec![addr.to_string()],
        ..settings
    })
    .await;
    let (status, text) = send(second.addr, &request).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("stale_timestamp"), "{text}");
    // An honest client re-signs with its own time: refused once, with the server's time (after
    // the horizon), verified for its request; signed with that time, accepted.
    let (fresh, nonce) = whoami_at(addr, signed + 1);
    let (status, text) = send(second.addr, &fresh).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("stale_timestamp"), "{text}");
    let line = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
        .unwrap();
    let value = line.split_once(':').unwrap().1.trim();
    let challenge = Challenge::parse(value.as_bytes()).unwrap();
    let ts = challenge.verified_server_time(&key(), &nonce).unwrap();
    let (retry, _) = whoami_at(addr, ts);
    assert_eq!(send(second.addr, &retry).await.0, 200);
}

/// Serves the demo's routes (default settings) closing a connection that has not sent a whole
/// head within `header_read_timeout`; its address.
async fn serve_with_header_timeout(header_read_timeout: Duration) -> SocketAddr {
    let (listener, addr) = listener().await;
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
        header_read_timeout,
    ));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_trickles_its_head_is_closed() {
    // Two servers of the demo's routes: one closes a connection whose head is not complete
    // within 1 s, the other within an hour. A connection to the second is opened first and
    // sends the same partial head: when the first server has closed its connection, the second's
    // is still open — the close was the 1 s timeout's, not another limit's (which would have
    // closed the older connection first), whatever the machine's speed.
    let hasty = serve_with_header_timeout(Duration::from_secs(1)).await;
    let patient = serve_with_header_timeout(Duration::from_secs(3600)).await;
    let partial = b"GET /health HTTP/1.1\r\nHo";
    let mut control = TcpStream::connect(patient).await.unwrap();
    control.write_all(partial).await.unwrap();
    let mut stream = TcpStream::connect(hasty).await.unwrap();
    stream.write_all(partial).await.unwrap();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection stayed open");
    match control.try_read(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the patient server's connection did not stay open: {other:?}"),
    }
}
