//! Webhook signatures against the providers' own SDKs (PyPI `slack_sdk` and `stripe`, in the
//! virtualenv `.ci/run` makes; `TOWER_HMAC_PYTHON` names its interpreter) and the demo binary
//! over TCP: what Slack's SDK signs is accepted once, what this project signs for Stripe is what
//! Stripe's SDK accepts, and tampered or replayed deliveries are refused.

use std::process::Command;
use std::time::SystemTime;

use tower_hmac::SecretKey;
use tower_hmac::protocol::webhooks::{github_signature, slack_signature, stripe_signature};

use crate::common::{send, start_demo};

/// Runs Python code with the SDKs; fails — never skips — without them.
fn python(code: &str, args: &[&str]) -> String {
    let interpreter = std::env::var("TOWER_HMAC_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&interpreter)
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {interpreter}: {e}"));
    assert!(
        out.status.success(),
        "{interpreter} failed — these tests need the PyPI packages stripe and slack_sdk: \
         `python3 -m venv .ci/venv && .ci/venv/bin/pip install stripe slack_sdk` and \
         TOWER_HMAC_PYTHON=.ci/venv/bin/python (.ci/run does this):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn post(host: &str, path: &str, headers: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut raw = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!(
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    raw.into_bytes()
}

fn now() -> u64 {
    tower_hmac::store::unix_millis(SystemTime::now()) / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_signed_as_the_providers_sign_are_accepted_once() {
    let server = start_demo(&[("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")]).await;
    let host = server.addr.to_string();
    // A second ahead: after the second the demo's replay store started in (its horizon), well
    // within the providers' 300 s tolerance — no wait for a second to pass. (GitHub signs no
    // time.)
    let ts = now() + 1;

    // GitHub (signs no time): the format matches GitHub's published example (unit test); a
    // delivery is accepted once, also when the unsigned X-GitHub-Delivery is changed.
    let push = r#"{"ref":"refs/heads/main","after":"0000000"}"#;
    let github_key = SecretKey::from_text(demo_server::DEMO_GITHUB_SECRET).unwrap();
    let signature = github_signature(&github_key, push.as_bytes());
    let delivery = |id: &str| {
        post(
            &host,
            "/webhooks/github",
            &[
                ("X-GitHub-Delivery", id.to_owned()),
                ("X-Hub-Signature-256", signature.clone()),
            ],
            push,
        )
    };
    let (status, text) = send(
        server.addr,
        &delivery("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"scheme\":\"github\""), "{text}");
    let (status, text) = send(
        server.addr,
        &delivery("ffffffff-cc78-11e3-81ab-4c9367dc0958"),
    )
    .await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("replayed_nonce"), "{text}");
    let tampered = post(
        &host,
        "/webhooks/github",
        &[("X-Hub-Signature-256", signature.clone())],
        &push.replace("main", "evil"),
    );
    let (status, text) = send(server.addr, &tampered).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("invalid_signature"), "{text}");

    // Slack: signed by slack_sdk's own SignatureVerifier.
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&text=hello";
    let signature = python(
        "import sys\nfrom slack_sdk.signature import SignatureVerifier\n\
         print(SignatureVerifier(sys.argv[1]).generate_signature(timestamp=sys.argv[2], body=sys.argv[3]))",
        &[demo_server::DEMO_SLACK_SECRET, &ts.to_string(), body],
    );
    let slack_key = SecretKey::from_text(demo_server::DEMO_SLACK_SECRET).unwrap();
    assert_eq!(signature, slack_signature(&slack_key, ts, body.as_bytes()));
    let headers = [
        ("X-Slack-Request-Timestamp", ts.to_string()),
        ("X-Slack-Signature", signature.clone()),
    ];
    let request = post(&host, "/webhooks/slack", &headers, body);
    let (status, text) = send(server.addr, &request).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"scheme\":\"slack\""), "{text}");
    let (status, text) = send(server.addr, &request).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("replayed_nonce"), "{text}");
    let tampered = post(
        &host,
        "/webhooks/slack",
        &headers,
        &body.replace("hello", "hellO"),
    );
    let (status, text) = send(server.addr, &tampered).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("invalid_signature"), "{text}");

    // Stripe: this project's signer, accepted by Stripe's own verifier, then by the demo.
    let event = r#"{"id":"evt_demo","object":"event","type":"payment_intent.succeeded"}"#;
    let stripe_key = SecretKey::from_text(demo_server::DEMO_STRIPE_SECRET).unwrap();
    let header = stripe_signature(&stripe_key, ts, event.as_bytes());
    let verdict = python(
        "import sys, stripe\n\
         stripe.WebhookSignature.verify_header(sys.argv[1], sys.argv[2], sys.argv[3], tolerance=600)\n\
         print('accepted')",
        &[event, &header, demo_server::DEMO_STRIPE_SECRET],
    );
    assert_eq!(verdict, "accepted");
    let request = post(
        &host,
        "/webhooks/stripe",
        &[("Stripe-Signature", header)],
        event,
    );
    let (status, text) = send(server.addr, &request).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"scheme\":\"stripe\""), "{text}");
    let (status, text) = send(server.addr, &request).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("replayed_nonce"), "{text}");
    // Signed with another secret: Stripe's verifier and the demo both refuse it.
    let wrong = SecretKey::from_text("whsec_some_other_endpoint_secret_0001").unwrap();
    let forged = stripe_signature(&wrong, ts, event.as_bytes());
    let verdict = python(
        "import sys, stripe\n\
         try:\n    stripe.WebhookSignature.verify_header(sys.argv[1], sys.argv[2], sys.argv[3], tolerance=600)\n    print('accepted')\n\
         except stripe.SignatureVerificationError:\n    print('refused')",
        &[event, &forged, demo_server::DEMO_STRIPE_SECRET],
    );
    assert_eq!(verdict, "refused");
    let request = post(
        &host,
        "/webhooks/stripe",
        &[("Stripe-Signature", forged)],
        event,
    );
    let (status, text) = send(server.addr, &request).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("invalid_signature"), "{text}");
}
