//! Issue 18 on the demo binary, over TCP: requests signed exactly as Kong's and APISIX's own
//! test suites sign them (the signing strings written out here as their tests write them, the
//! HMAC from RustCrypto — none of tower-hmac's signing code) are accepted on `/whoami` and
//! `/echo` for the demo key (Kong `username` / APISIX `keyId` = the key id, secret = the key's
//! text form), their replays are refused, and v1 still works on the same routes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest as _;

use crate::common::{send, start_demo, whoami_status};

fn secret() -> String {
    demo_server::demo_secret_base64().to_owned()
}

fn sign<M: Mac + KeyInit>(text: &str) -> String {
    let mut mac = <M as KeyInit>::new_from_slice(secret().as_bytes()).unwrap();
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The `Date` of a request signed now, one second ahead: after the second the demo's replay
/// store started in (a `Date` of that second is before its memory began: `stale_timestamp`),
/// well within its skew — no wait for a second to pass.
fn now() -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(1))
}

fn request(
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Vec<u8> {
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    text.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_clients_are_accepted_once_beside_v1() {
    let server = start_demo(&[("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")]).await;
    let host = server.addr.to_string();
    let id = demo_server::DEMO_KEY_ID;

    // Kong's 03-access_spec.lua, "should pass with GET": headers="date", hmac-sha1.
    let date = now();
    let sig = sign::<Hmac<sha1::Sha1>>(&format!("date: {date}"));
    let kong_get = request(
        "GET",
        "/whoami",
        &host,
        &[
            ("Date", date.clone()),
            (
                "Authorization",
                format!(
                    "hmac username=\"{id}\",algorithm=\"hmac-sha1\",headers=\"date\",signature=\"{sig}\""
                ),
            ),
        ],
        "",
    );
    let (status, text) = send(server.addr, &kong_get).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"scheme\":\"kong\""), "{text}");
    let (status, text) = send(server.addr, &kong_get).await;
    assert_eq!(
        status, 401,
        "the gateway accepted this copy; we do not: {text}"
    );
    assert!(text.contains("replayed_nonce"), "{text}");

    // "should pass with GET with request-line", through Proxy-Authorization, hmac-sha256.
    let date = now();
    let sig = sign::<Hmac<sha2::Sha256>>(&format!(
        "date: {date}\ncontent-md5: md5\nGET /whoami?x=1 HTTP/1.1"
    ));
    let (status, text) = send(
        server.addr,
        &request(
            "GET",
            "/whoami?x=1",
            &host,
            &[
                ("Date", date),
                ("Content-MD5", "md5".into()),
                (
                    "Proxy-Authorization",
                    format!("hmac username=\"{id}\",  algorithm=\"hmac-sha256\", headers=\"date content-md5 request-line\", signature=\"{sig}\""),
                ),
            ],
            "",
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");

    // "should pass with POST when body validation enabled and digest header present" (with the
    // suite's leading quote), on /echo.
    let body = r#"{"a":"apple","b":"ball"}"#;
    let digest = format!("SHA-256={}", STANDARD.encode(sha2::Sha256::digest(body)));
    let date = now();
    let sig = sign::<Hmac<sha1::Sha1>>(&format!("date: {date}\ndigest: {digest}"));
    let (status, text) = send(
        server.addr,
        &request(
            "POST",
            "/echo",
            &host,
            &[
                ("Date", date),
                ("Digest", digest.clone()),
                (
                    "Authorization",
                    format!("\"hmac username=\"{id}\",algorithm=\"hmac-sha1\",headers=\"date digest\",signature=\"{sig}\""),
                ),
            ],
            body,
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with(body), "{text}");

    // APISIX's documentation, "Implement HMAC Authentication on a Route".
    let date = now();
    let sig = sign::<Hmac<sha2::Sha256>>(&format!("{id}\nGET /whoami\ndate: {date}\n"));
    let apisix_get = request(
        "GET",
        "/whoami",
        &host,
        &[
            ("Date", date),
            (
                "Authorization",
                format!(
                    "Signature keyId=\"{id}\",algorithm=\"hmac-sha256\",headers=\"@request-target date\",signature=\"{sig}\""
                ),
            ),
        ],
        "",
    );
    let (status, text) = send(server.addr, &apisix_get).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"scheme\":\"apisix\""), "{text}");
    assert_eq!(send(server.addr, &apisix_get).await.0, 401);

    // APISIX's body test (TEST 5) signs no Digest: refused here; with `digest` listed, accepted.
    let body = r#"{"name": "world"}"#;
    let digest = format!("SHA-256={}", STANDARD.encode(sha2::Sha256::digest(body)));
    for (names, lines, expected) in [
        ("@request-target date", String::new(), 401),
        (
            "@request-target date digest",
            format!("digest: {digest}\n"),
            200,
        ),
    ] {
        let date = now();
        let sig = sign::<Hmac<sha2::Sha256>>(&format!("{id}\nPOST /echo\ndate: {date}\n{lines}"));
        let (status, text) = send(
            server.addr,
            &request(
                "POST",
                "/echo",
                &host,
                &[
                    ("Date", date),
                    ("Digest", digest.clone()),
                    (
                        "Authorization",
                        format!("Signature keyId=\"{id}\",algorithm=\"hmac-sha256\",headers=\"{names}\",signature=\"{sig}\""),
                    ),
                ],
                body,
            ),
        )
        .await;
        assert_eq!(status, expected, "{names}: {text}");
        if expected == 401 {
            assert!(text.contains("missing_covered_component"), "{text}");
        }
    }

    // Protocol v1 on the same routes.
    let key = tower_hmac::SecretKey::from_base64(&secret()).unwrap();
    assert_eq!(whoami_status(server.addr, id, &key).await, 200);
}
