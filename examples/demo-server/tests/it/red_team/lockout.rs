//! Item 5: failures claiming a key id from one address never lock its owner out at another.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tower_hmac::SecretKey;
use tower_hmac_integration::sign_at;

use crate::common::{TestClock, get, now_seconds, serve_demo};

/// Sends `request` from the local address `from` (any of 127.0.0.0/8); the status.
async fn send_from(from: [u8; 4], to: SocketAddr, request: &[u8]) -> u16 {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_of_a_key_id_attacked_from_elsewhere_is_accepted_20_of_20() {
    // The demo's default throttle: 20 failures a minute, then one more try every 3 s — on the
    // demo's layer served in this process, on a clock the test holds still: however slow the
    // run, the attacker earns no try back. Every request is stamped with that instant.
    let now = now_seconds();
    let server = serve_demo(&demo_server::Settings {
        clock: Some(TestClock::at(now * 1000).demo()),
        ..Default::default()
    })
    .await;
    let host = server.addr.to_string();
    let key = SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    let wrong = SecretKey::from_bytes(&[0x44; 32]).unwrap();
    let whoami = |key: &SecretKey| {
        let auth = sign_at(
            demo_server::DEMO_KEY_ID,
            key,
            &http::Method::GET,
            &host,
            "/whoami",
            b"",
            now,
        );
        get("/whoami", &host, &auth.to_string())
    };
    let bad = || whoami(&wrong);
    let attacker = [127, 0, 0, 3];
    for _ in 0..20 {
        assert_eq!(send_from(attacker, server.addr, &bad()).await, 401);
    }
    let mut accepted = 0;
    for _ in 0..20 {
        // The attacker keeps failing in the key's name…
        assert_eq!(send_from(attacker, server.addr, &bad()).await, 429);
        // …and the owner, elsewhere, is served.
        accepted += u32::from(send_from([127, 0, 0, 2], server.addr, &whoami(&key)).await == 200);
    }
    assert_eq!(accepted, 20);
}
