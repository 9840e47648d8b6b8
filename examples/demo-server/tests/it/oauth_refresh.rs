//! Issue 30 item 3 with a real OAuth 2 client: Python `requests_oauthlib` (in the `.ci/run`
//! virtualenv; `TOWER_HMAC_PYTHON`), with its defaults, refreshes against the demo's
//! `/auth/refresh` by RFC 6749 §6 (`grant_type=refresh_token`, a form body), gets a pair whose
//! access token `GET /me` accepts, and a second refresh with the used token is `invalid_grant`
//! (which the library raises as `InvalidGrantError`).

use crate::common::start_demo;

/// The client: logs in (JSON, the demo's own route), refreshes through `OAuth2Session`, calls
/// `/me` with the new access token, then refreshes with the used token again. Prints `OK`.
const CLIENT: &str = r#"
import sys
import requests
from requests_oauthlib import OAuth2Session
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

base = sys.argv[1]
login = requests.post(base + "/auth/login", json={"username": "demo", "password": "demo-password"})
assert login.status_code == 200, login.text
token = login.json()
old = token["refresh_token"]

client = OAuth2Session(client_id="demo", token=token)
new = client.refresh_token(base + "/auth/refresh", refresh_token=old)
assert new["refresh_token"] != old, "the refresh token rotates"
assert new["access_token"] != token["access_token"]
assert new["token_type"] == "Bearer", new

me = requests.get(base + "/me", headers={"Authorization": "Bearer " + new["access_token"]})
assert me.status_code == 200 and me.json()["sub"] == "demo", me.text
# The session itself now carries the new token.
assert client.get(base + "/me").status_code == 200

try:
    OAuth2Session(client_id="demo", token=token).refresh_token(
        base + "/auth/refresh", refresh_token=old
    )
except InvalidGrantError as e:
    print("OK")
else:
    print("a used refresh token was accepted")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_oauthlib_refreshes_by_rfc_6749_and_a_reused_token_is_invalid_grant() {
    let server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_SESSION_STORE", "memory"),
        ("TOWER_HMAC_DEMO_SESSION_NAMESPACE", ""),
    ])
    .await;
    let interpreter = std::env::var("TOWER_HMAC_PYTHON").unwrap_or_else(|_| "python3".into());
    let base = format!("http://{}", server.addr);
    let out = tokio::process::Command::new(&interpreter)
        .args(["-c", CLIENT, &base])
        // The demo listens on plain HTTP (loopback): oauthlib refuses it otherwise.
        .env("OAUTHLIB_INSECURE_TRANSPORT", "1")
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {interpreter}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "OK",
        "the client failed — this test needs the PyPI package requests_oauthlib \
         (`.ci/venv/bin/pip install requests_oauthlib`, TOWER_HMAC_PYTHON=.ci/venv/bin/python):\n\
         {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
