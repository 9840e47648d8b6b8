//! AWS SigV4 from clients nobody here wrote, against the demo over TCP: the machine's
//! `curl --aws-sigv4` (7.88 on Debian 12, which signs the query unsorted) and botocore's
//! `SigV4Auth`, `S3SigV4Auth`, `SigV4QueryAuth` and `S3SigV4QueryAuth` (in the virtualenv `.ci/run`
//! makes; `TOWER_HMAC_PYTHON` names its interpreter).
//!
//! Both sign with the machine's clock: the demo's routes and layer are served in this process on
//! a clock behind theirs, so the second the demo's replay store started in is already past for
//! them (no wait for it to pass).

use std::net::SocketAddr;
use std::process::Command;

use crate::common::{InProcess, LAG, TestClock, behind_the_clients, listener, serve_demo};

/// `curl --aws-sigv4 aws:amz:us-east-1:demo --user <id>:<secret> <args>`: status and body.
async fn curl(addr: SocketAddr, secret: &str, args: &[&str]) -> (u16, String) {
    curl_service(addr, "demo", secret, args).await
}

/// `curl --aws-sigv4 aws:amz:us-east-1:<service> --user <id>:<secret> <args>`: status and body.
async fn curl_service(
    addr: SocketAddr,
    service: &str,
    secret: &str,
    args: &[&str],
) -> (u16, String) {
    let user = format!("{}:{secret}", demo_server::DEMO_KEY_ID);
    let mut command = Command::new("curl");
    command
        .args(["-s", "-w", "\n%{http_code}", "--aws-sigv4"])
        .arg(format!("aws:amz:us-east-1:{service}"))
        .args(["--user", &user])
        .args(args.iter().map(|a| a.replace("{addr}", &addr.to_string())));
    let text = output(command).await;
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_owned())
}

/// What `command` printed. Run off the runtime's workers: the server it calls is served on them.
async fn output(mut command: Command) -> String {
    let out = tokio::task::spawn_blocking(move || command.output().expect("curl"))
        .await
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_payload_is_accepted_on_the_s3_routes_only() {
    let server = serve_demo(&behind_the_clients()).await;
    let unsigned = [
        "-H",
        "x-amz-content-sha256: UNSIGNED-PAYLOAD",
        "-X",
        "PUT",
        "--data-binary",
        "unsigned bytes",
    ];
    let on_s3 = [&unsigned[..], &["http://{addr}/objects/report.txt"]].concat();
    let (status, body) =
        curl_service(server.addr, "s3", demo_server::demo_secret_base64(), &on_s3).await;
    assert_eq!((status, body.as_str()), (200, "unsigned bytes"));
    let elsewhere = [&unsigned[..], &["http://{addr}/echo"]].concat();
    let (status, body) = curl_service(
        server.addr,
        "s3",
        demo_server::demo_secret_base64(),
        &elsewhere,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("UNSIGNED-PAYLOAD is not accepted here"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_aws_sigv4_is_accepted_and_tampering_refused() {
    let server = serve_demo(&behind_the_clients()).await;
    let secret = demo_server::demo_secret_base64();
    let addr = server.addr;

    let (status, body) = curl(addr, secret, &["http://{addr}/whoami"]).await;
    assert_eq!(status, 200, "{body}");
    let whoami: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(whoami["scheme"], "sigv4");
    assert_eq!(whoami["key_id"], demo_server::DEMO_KEY_ID);

    // POST with a body: curl sends no X-Amz-Content-Sha256, the layer hashes the body it reads.
    let (status, body) = curl(
        addr,
        secret,
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"from":"curl"}"#,
            "http://{addr}/echo",
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, r#"{"from":"curl"}"#));

    // Queries: reserved characters, sorted, and unsorted (curl 7.88 signs them as sent).
    for query in [
        "q=a%20b%2Fc%3Dd&z=%E1%88%B4&m=x%2By&e=",
        "a=1&b=2",
        "b=2&a=1",
        "z=last&a=first&m=%2A",
    ] {
        let url = format!("http://{{addr}}/whoami?{query}");
        let (status, body) = curl(addr, secret, &[&url]).await;
        assert_eq!(status, 200, "{query}: {body}");
    }

    // A wrong secret, a wrong region, a wrong service.
    let wrong = format!("{}A", &secret[..secret.len() - 1]);
    let (status, body) = curl(addr, &wrong, &["http://{addr}/whoami?w=1"]).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_signature"), "{body}");
    for provider in ["aws:amz:eu-west-1:demo", "aws:amz:us-east-1:iam"] {
        let mut command = Command::new("curl");
        command
            .args(["-s", "--aws-sigv4", provider, "--user"])
            .arg(format!("{}:{secret}", demo_server::DEMO_KEY_ID))
            .arg(format!("http://{addr}/whoami?p={}", provider.len()));
        let body = output(command).await;
        assert!(body.contains("is not served here"), "{provider}: {body}");
    }
    // A protocol v1 client still works on the same route, with the same key.
    let key = tower_hmac::SecretKey::from_base64(secret).unwrap();
    let host = addr.to_string();
    let auth = tower_hmac_integration::authorization_now(
        demo_server::DEMO_KEY_ID,
        &key,
        &http::Method::GET,
        &host,
        "/whoami",
        b"",
    );
    let (status, text) =
        crate::common::send(addr, &crate::common::get("/whoami", &host, &auth)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(r#""scheme":"v1""#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curls_unsorted_query_needs_the_as_sent_fallback() {
    // The demo's routes behind a layer with the fallback off: curl's unsorted query is refused,
    // the sorted one still accepted — the fallback is what accepts curl 7.88, nothing else.
    // On a clock behind curl's, as the demo in the other tests here.
    let (listener, addr) = listener().await;
    let layer = demo_server::demo_builder(
        demo_server::demo_registry().unwrap(),
        demo_server::hosts_for(addr, &[]).unwrap(),
    )
    .schemes(demo_server::demo_schemes_with_sigv4(
        demo_server::sigv4().query_order(tower_hmac::protocol::sigv4::QueryOrder::Sorted),
    ))
    .clock(TestClock::behind(LAG))
    .build()
    .unwrap();
    let _server = InProcess::spawn(listener, layer);
    let secret = demo_server::demo_secret_base64();
    let (status, body) = curl(addr, secret, &["http://{addr}/whoami?a=1&b=2"]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = curl(addr, secret, &["http://{addr}/whoami?b=2&a=1"]).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_signers_are_accepted_and_tampering_refused() {
    let server = serve_demo(&behind_the_clients()).await;
    let got = python_client(server.addr, "sigv4_client.py").await;
    let status = |name: &str| got[name]["status"].as_u64().unwrap();
    let body = |name: &str| got[name]["body"].as_str().unwrap().to_owned();
    let refused = |name: &str, code: &str| {
        assert_eq!(status(name), 401, "{name}: {}", body(name));
        assert!(body(name).contains(code), "{name}: {}", body(name));
    };

    assert!(
        got["get_authorization"]
            .as_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=demo-2026/"),
        "{got}"
    );
    assert_eq!(status("get"), 200, "{}", body("get"));
    assert!(body("get").contains(r#""scheme":"sigv4""#));
    refused("get_again", "replayed_nonce");
    assert_eq!(
        (status("post"), body("post").as_str()),
        (200, r#"{"hello":"botocore"}"#)
    );
    refused("post_tampered", "invalid_signature");

    // S3: the declared body hash, checked against the body.
    assert_eq!(
        got["put_content_sha256"].as_str().unwrap().len(),
        64,
        "{got}"
    );
    assert_eq!(
        (status("s3_put"), body("s3_put").as_str()),
        (200, "object bytes")
    );
    refused("s3_put_tampered", "X-Amz-Content-Sha256");
    // Paths with non-ASCII and a space, S3's rule and the generic one.
    assert_eq!(status("s3_key"), 200, "{}", body("s3_key"));
    assert_eq!(status("generic_key"), 200, "{}", body("generic_key"));

    // Presigned: a bearer link (twice), an upload, and not another path or method.
    assert!(
        got["presigned_get_url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Signature="),
        "{got}"
    );
    assert_eq!(status("presigned_get"), 200, "{}", body("presigned_get"));
    assert_eq!(status("presigned_get_again"), 200);
    assert_eq!(
        (status("presigned_put"), body("presigned_put").as_str()),
        (200, "uploaded through a presigned URL")
    );
    // An unsigned body only on the S3 routes (`/objects/…`).
    refused("presigned_put_elsewhere", "invalid_signature");
    refused("presigned_other_path", "invalid_signature");
    refused("presigned_other_method", "invalid_signature");

    refused("wrong_region", "region");
    refused("wrong_service", "service");
    refused("wrong_secret", "invalid_signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocores_default_sigv2_presigned_url_is_told_to_use_s3v4() {
    let server = serve_demo(&behind_the_clients()).await;
    let got = python_client(server.addr, "s3_default_client.py").await;
    let status = |name: &str| got[name]["status"].as_u64().unwrap();
    let body = |name: &str| got[name]["body"].as_str().unwrap().to_owned();

    // botocore's defaults, unmodified: SigV2.
    let url = got["default_presigned"]["url"].as_str().unwrap();
    assert!(
        url.contains("AWSAccessKeyId=") && url.contains("Signature=") && url.contains("Expires="),
        "{url}"
    );
    assert!(!url.contains("X-Amz-"), "{url}");
    for name in ["default_presigned", "sigv2_header"] {
        assert_eq!(status(name), 401, "{name}: {}", body(name));
        let answer: serde_json::Value = serde_json::from_str(&body(name)).unwrap();
        assert_eq!(answer["code"], "unsupported_scheme", "{name}: {answer}");
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("Signature Version 2") && detail.contains("is not supported"),
            "{name}: {detail}"
        );
        assert!(
            detail.contains(r#"Config(signature_version="s3v4")"#),
            "{name}: {detail}"
        );
    }
    assert_eq!(got["sigv2_authorization"], "AWS demo-2026", "{got}");
    // The fix the answer names.
    assert_eq!(status("s3v4_presigned"), 200, "{}", body("s3v4_presigned"));
}

/// Runs the demo's Python client `script` (tests/py, botocore with its defaults) against `addr`
/// with the demo key; its JSON answer.
async fn python_client(addr: std::net::SocketAddr, script: &'static str) -> serde_json::Value {
    let interpreter = std::env::var("TOWER_HMAC_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
    let base = format!("http://{addr}");
    let secret = demo_server::demo_secret_base64();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&interpreter)
            .args([script.as_str(), &base, demo_server::DEMO_KEY_ID, secret])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {interpreter}: {e}"))
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the client failed — this test needs the PyPI packages botocore and requests: \
         `.ci/venv/bin/pip install botocore requests` and TOWER_HMAC_PYTHON=.ci/venv/bin/python \
         (.ci/run does this):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
