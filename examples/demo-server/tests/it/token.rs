//! The ID:TS:HMAC token from a shell script (`openssl` and `curl`, nothing of this project's)
//! against the demo binary over TCP: accepted once on `GET /token/whoami`, and only there.

use std::process::Command;
use std::time::SystemTime;

use crate::common::start_demo;

/// Runs the shell client: signs a token at `now + offset` seconds (with `tamper`, its last hex
/// digit always changed) and sends it to `path`; returns the status and the body.
fn shell_token(addr: &str, path: &str, offset: i64, tamper: bool) -> (u16, String) {
    let script = r#"
        set -eu
        ts=$(( $(date +%s) + OFFSET ))
        mac=$(printf '%s' "$TOWER_HMAC_KEY_ID.$ts" | openssl dgst -sha256 -hmac "$TOWER_HMAC_SECRET" | sed 's/.*= //')
        if [ "$TAMPER" = 1 ]; then
            last=$(printf '%s' "$mac" | cut -c64)
            if [ "$last" = 0 ]; then new=1; else new=0; fi
            mac="$(printf '%s' "$mac" | cut -c1-63)$new"
        fi
        curl -s -w '\n%{http_code}' -H "X-Auth-Token: $TOWER_HMAC_KEY_ID:$ts:$mac" "http://$ADDR$TARGET"
    "#;
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("TOWER_HMAC_KEY_ID", demo_server::DEMO_KEY_ID)
        .env("TOWER_HMAC_SECRET", demo_server::demo_secret_base64())
        .env("OFFSET", offset.to_string())
        .env("TAMPER", if tamper { "1" } else { "0" })
        .env("ADDR", addr)
        .env("TARGET", path)
        .output()
        .expect("sh, openssl and curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_owned())
}

/// The same script, but sending a token it was given.
fn send_token(addr: &str, path: &str, token: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-H"])
        .arg(format!("X-Auth-Token: {token}"))
        .arg(format!("http://{addr}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_script_token_is_accepted_once_on_its_route_only() {
    let server = start_demo(&[("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")]).await;
    let addr = server.addr.to_string();
    // The script stamps its token a second ahead: after the second the demo's replay store
    // started in (its horizon), well within the skew — no wait for a second to pass.
    let (status, body) = shell_token(&addr, "/token/whoami", 1, false);
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["scheme"], "token");
    assert_eq!(json["key_id"], demo_server::DEMO_KEY_ID);

    // The same token again: a replay. (A token is determined by the client id and the second:
    // one stamped with the shell's (its second + 1) would be the shell's own token, so take the
    // one after.)
    let key = tower_hmac::SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap();
    let ts = tower_hmac::store::unix_millis(SystemTime::now()) / 1000 + 2;
    let token = tower_hmac::protocol::token::issue(demo_server::DEMO_KEY_ID, ts, &key).unwrap();
    assert_eq!(send_token(&addr, "/token/whoami", &token).0, 200);
    let (status, body) = send_token(&addr, "/token/whoami", &token);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("replayed_nonce"), "{body}");

    // Not on the signed routes: the token is not bound to a request.
    let (status, body) = shell_token(&addr, "/whoami", 0, false);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("missing_authorization"), "{body}");

    // Older than its 30 s window; tampered.
    let (status, body) = shell_token(&addr, "/token/whoami", -40, false);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"expired\""), "{body}");
    let (status, body) = shell_token(&addr, "/token/whoami", 0, true);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_signature"), "{body}");
}
