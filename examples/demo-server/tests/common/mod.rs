//! What the demo's TCP tests share: starting the demo binary and sending raw requests.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test helpers

use std::net::SocketAddr;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A running demo-server process, killed when dropped.
pub(crate) struct Instance {
    pub(crate) addr: SocketAddr,
    pub(crate) child: Child,
}

/// Starts the demo binary with these environment variables (`RUST_LOG=warn` unless given) and
/// waits until it says where it listens.
pub(crate) async fn start_demo(env: &[(&str, &str)]) -> Instance {
    let mut command = Command::new(env!("CARGO_BIN_EXE_demo-server"));
    command.env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start demo-server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("demo-server exited");
        if let Some(rest) = line.strip_prefix("tower-hmac demo server listening on http://") {
            break rest.parse().unwrap();
        }
    };
    // Keep draining its output so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Instance { addr, child }
}

/// Sends raw bytes; returns the status (0 when there is none) and the whole response.
pub(crate) async fn send(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    (status, text)
}

/// A `GET` with this `Authorization`, closing the connection after it.
pub(crate) fn get(target: &str, host: &str, authorization: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The status of a protocol v1 `GET /whoami` signed now with `key_id` and `key`.
pub(crate) async fn whoami_status(
    addr: SocketAddr,
    key_id: &str,
    key: &tower_hmac::SecretKey,
) -> u16 {
    let host = addr.to_string();
    let auth = tower_hmac_integration::authorization_now(
        key_id,
        key,
        &http::Method::GET,
        &host,
        "/whoami",
        b"",
    );
    send(addr, &get("/whoami", &host, &auth)).await.0
}

/// Waits until every instance answers `expected` for `key_id`'s `GET /whoami`; the time it took
/// (panics after 5 s).
pub(crate) async fn on_every_instance(
    addrs: &[SocketAddr],
    key_id: &str,
    key: &tower_hmac::SecretKey,
    expected: u16,
) -> std::time::Duration {
    let start = std::time::Instant::now();
    for &addr in addrs {
        while whoami_status(addr, key_id, key).await != expected {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(5),
                "{key_id} not {expected} on {addr} after 5 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    start.elapsed()
}
