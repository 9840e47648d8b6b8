//! RFC 9421 from a client nobody here wrote: PyPI `http-message-signatures` (in the virtualenv
//! `.ci/run` makes; `TOWER_HMAC_PYTHON` names its interpreter) signs real `requests` requests —
//! a GET with a query, a POST with `Content-Digest` — against the demo's routes and layer over
//! TCP, served in this process on a clock behind the client's (the client signs with the
//! machine's clock).

use std::process::Command;

use crate::common::{behind_the_clients, serve_demo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_message_signatures_requests_are_accepted_once_and_tampering_refused() {
    // The client stamps `created` with the current second: the layer's clock runs behind it, so
    // the second its replay store started in is already past for the client.
    let server = serve_demo(&behind_the_clients()).await;
    let interpreter = std::env::var("TOWER_HMAC_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/rfc9421_client.py");
    let run = format!("{}", std::process::id());
    let base = format!("http://{}", server.addr);
    let secret = demo_server::demo_secret_base64();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&interpreter)
            .args([script, &base, demo_server::DEMO_KEY_ID, secret, &run])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {interpreter}: {e}"))
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the client failed — this test needs the PyPI packages http-message-signatures and \
         requests: `.ci/venv/bin/pip install http-message-signatures requests` and \
         TOWER_HMAC_PYTHON=.ci/venv/bin/python (.ci/run does this):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = |name: &str| got[name]["status"].as_u64().unwrap();
    let body = |name: &str| got[name]["body"].as_str().unwrap().to_owned();

    assert_eq!(status("get"), 200, "{}", body("get"));
    let whoami: serde_json::Value = serde_json::from_str(&body("get")).unwrap();
    assert_eq!(whoami["scheme"], "rfc9421");
    assert_eq!(whoami["key_id"], demo_server::DEMO_KEY_ID);
    assert_eq!(status("get_again"), 401);
    assert!(
        body("get_again").contains("replayed_nonce"),
        "{}",
        body("get_again")
    );

    assert!(
        got["post_signature_input"]
            .as_str()
            .unwrap()
            .contains("\"content-digest\""),
        "{got}"
    );
    assert_eq!(status("post"), 200, "{}", body("post"));
    assert_eq!(body("post"), r#"{"hello":"world"}"#);
    assert_eq!(status("post_tampered"), 401);
    assert!(
        body("post_tampered").contains("invalid_signature"),
        "{}",
        body("post_tampered")
    );

    assert_eq!(status("default_coverage"), 401);
    let problem = body("default_coverage");
    assert!(problem.contains("missing_covered_component"), "{problem}");
    assert!(problem.contains("@path"), "{problem}");
}
