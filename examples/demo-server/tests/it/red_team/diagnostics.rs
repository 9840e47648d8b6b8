//! Item 2: an `invalid_signature` answer reflects nothing the request carried: Kong's and
//! APISIX's signing string and SigV4's canonical request are sent only as digests keyed with the
//! key being verified, for known and unknown key ids alike.

use tower_hmac::SecretKey;
use tower_hmac::protocol::gateway::{Algorithm, Apisix, Kong};

use crate::common::{send, start_demo};

/// What a proxy injected into the request: it must never come back.
const INJECTED: &str = "internal-token-4b1d";

fn gateway_request(kong: bool, host: &str, key_id: &str) -> Vec<u8> {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let parts = http::Request::get("/whoami")
        .header("host", host)
        .header("date", &date)
        .header("x-internal-auth", INJECTED)
        .body(())
        .unwrap()
        .into_parts()
        .0;
    // Signed with a key that is not the registry's: a bad signature.
    let wrong = SecretKey::from_bytes(&[0x5a; 32]).unwrap();
    let authorization = if kong {
        Kong::new().authorization(
            &parts,
            key_id,
            &wrong,
            Algorithm::HmacSha256,
            &["date", "x-internal-auth"],
        )
    } else {
        Apisix::new().authorization(
            &parts,
            key_id,
            &wrong,
            Algorithm::HmacSha256,
            &["date", "x-internal-auth"],
        )
    }
    .unwrap();
    format!(
        "GET /whoami HTTP/1.1\r\nHost: {host}\r\nDate: {date}\r\nX-Internal-Auth: {INJECTED}\r\n\
         Authorization: {}\r\nConnection: close\r\n\r\n",
        authorization.to_str().unwrap()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_and_sigv4_refusals_carry_only_keyed_digests() {
    let server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_THROTTLE", "off"),
    ])
    .await;
    let host = server.addr.to_string();
    for kong in [true, false] {
        let mut seen: Vec<Vec<String>> = Vec::new();
        for key_id in [
            demo_server::DEMO_KEY_ID,
            "no-such-key-id",
            "no-such-key-id-2",
            "demo-2024",
        ] {
            let (status, text) = send(server.addr, &gateway_request(kong, &host, key_id)).await;
            assert_eq!(status, 401, "{text}");
            assert!(text.contains("invalid_signature"), "{text}");
            assert!(
                !text.contains(INJECTED),
                "the answer reflects a header: {text}"
            );
            assert!(!text.contains("string_to_sign\""), "{text}");
            assert!(
                text.contains("string_to_sign_lines"),
                "keyed digests are still there for the key's holder: {text}"
            );
            // Each key id's digests are its own: a refused id's are not a shared decoy's.
            let body = text.split("\r\n\r\n").nth(1).unwrap();
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            let digests: Vec<String> = json["diagnostics"]["string_to_sign_lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_owned())
                .collect();
            for other in &seen {
                let same = digests.iter().zip(other).filter(|(a, b)| a == b).count();
                assert_eq!(same, 0, "{key_id}: {digests:?} {other:?}");
            }
            seen.push(digests);
        }
    }

    // SigV4: a presigned URL signed with another key; the answer holds neither the canonical
    // request nor its hash nor the string to sign.
    let url = format!("http://{host}/whoami").parse().unwrap();
    let presigned = tower_hmac::protocol::sigv4::presign_url(
        &http::Method::GET,
        &url,
        demo_server::DEMO_KEY_ID,
        &SecretKey::from_bytes(&[0x5a; 32]).unwrap(),
        &tower_hmac::protocol::sigv4::PresignParams {
            region: demo_server::DEMO_SIGV4_REGION,
            service: demo_server::DEMO_SIGV4_SERVICE,
            rule: tower_hmac::protocol::sigv4::PathRule::Generic,
            time: super::stripe::ahead(),
            expires: 60,
        },
    )
    .unwrap();
    let target = presigned.split_once(&host).unwrap().1;
    let (status, text) = send(
        server.addr,
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(status == 401 || status == 403, "{text}");
    for clear in [
        "StringToSign",
        "CanonicalRequest",
        "string_to_sign\"",
        "AWS4-HMAC-SHA256\n",
    ] {
        assert!(!text.contains(clear), "{clear} in {text}");
    }
}
