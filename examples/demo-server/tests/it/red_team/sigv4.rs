//! Issue 24 item 8: SigV4's generic rule normalises `/a/../b` before verifying, and the demo's
//! `/objects/{*key}` routes such a path: a presigned URL (or a header-signed request) for
//! `/objects/report.txt` also worked on `/objects/x/../report.txt`, `//report.txt` and
//! `./report.txt`, and the handler saw another key. Now a path the rule would change is refused
//! (`401 malformed_authorization`): the path verified is the path routed.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use tower_hmac::protocol::sigv4::{self, PathRule, PresignParams};

use crate::common::{send, start_demo};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A signing time after the demo's replay store started (inside SigV4's 15-minute window), a
/// different second for each request so that no two share a signature.
fn amz_time(offset: u64) -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60
        + offset
}

fn demo_key() -> tower_hmac::SecretKey {
    tower_hmac::SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap()
}

/// A raw `GET <target>` carrying a header-form SigV4 signature of `GET <signed path>` (host and
/// x-amz-date signed, empty body), as the SDKs sign it for the demo's service.
fn header_signed_get(addr: SocketAddr, target: &str, signed_path: &str, time: u64) -> Vec<u8> {
    header_signed_get_for(&addr.to_string(), target, signed_path, time)
}

/// [`header_signed_get`] for the `Host` `host` (a load balancer's name, say).
pub(crate) fn header_signed_get_for(
    host: &str,
    target: &str,
    signed_path: &str,
    time: u64,
) -> Vec<u8> {
    let amz_date = sigv4::format_amz_date(time);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        &amz_date[..8],
        demo_server::DEMO_SIGV4_REGION,
        demo_server::DEMO_SIGV4_SERVICE
    );
    let creq = format!(
        "GET\n{signed_path}\n\nhost:{host}\nx-amz-date:{amz_date}\n\nhost;x-amz-date\n{}",
        hex(&Sha256::digest(b""))
    );
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(creq.as_bytes()))
    );
    let signing_key = sigv4::derive_signing_key(&demo_key().text_form(), &scope);
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&signing_key[..]).unwrap();
    mac.update(sts.as_bytes());
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-date, Signature={}",
        demo_server::DEMO_KEY_ID,
        hex(&mac.finalize().into_bytes())
    );
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {amz_date}\r\n\
         Authorization: {auth}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A raw `GET <target>` with no credentials but those in the target's query.
fn plain_get(addr: SocketAddr, target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes()
}

const DOTTED: [&str; 3] = [
    "/objects/x/../report.txt",
    "/objects//report.txt",
    "/objects/./report.txt",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigv4_signature_for_one_object_does_not_reach_another_path() {
    let server = start_demo(&[("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")]).await;
    let addr = server.addr;

    // Presigned: a URL for /objects/report.txt, its path changed on the wire.
    let url = sigv4::presign_url(
        &http::Method::GET,
        &format!("http://{addr}/objects/report.txt").parse().unwrap(),
        demo_server::DEMO_KEY_ID,
        &demo_key(),
        &PresignParams {
            region: demo_server::DEMO_SIGV4_REGION,
            service: demo_server::DEMO_SIGV4_SERVICE,
            rule: PathRule::Generic,
            time: amz_time(0),
            expires: 600,
        },
    )
    .unwrap();
    let target = url
        .strip_prefix(&format!("http://{addr}"))
        .unwrap()
        .to_owned();
    for path in DOTTED {
        let tampered = target.replacen("/objects/report.txt", path, 1);
        let (status, text) = send(addr, &plain_get(addr, &tampered)).await;
        assert_eq!(status, 401, "presigned on {path}: {text}");
        assert!(text.contains("malformed_authorization"), "{path}: {text}");
        assert!(text.contains("segments"), "{path}: {text}");
    }
    let (status, text) = send(addr, &plain_get(addr, &target)).await;
    assert_eq!(status, 200, "presigned on its own path: {text}");
    assert!(text.contains(r#""scheme":"sigv4""#), "{text}");

    // Header form: signed for /objects/report.txt (what an SDK signs for any of these paths).
    for (i, path) in (1..).zip(DOTTED) {
        let request = header_signed_get(addr, path, "/objects/report.txt", amz_time(i));
        let (status, text) = send(addr, &request).await;
        assert_eq!(status, 401, "header-signed on {path}: {text}");
        assert!(text.contains("malformed_authorization"), "{path}: {text}");
    }
    let request = header_signed_get(
        addr,
        "/objects/report.txt",
        "/objects/report.txt",
        amz_time(9),
    );
    let (status, text) = send(addr, &request).await;
    assert_eq!(status, 200, "header-signed on its own path: {text}");
    assert!(text.contains(r#""scheme":"sigv4""#), "{text}");
}
