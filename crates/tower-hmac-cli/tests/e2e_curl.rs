//! End to end over real TCP: the CLI's `sign --curl` output, run by real curl against the demo
//! server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::mpsc;

use tower_hmac::InMemoryRegistry;

const BIN: &str = env!("CARGO_BIN_EXE_tower-hmac");

/// Starts the demo server with `registry` on a free loopback port, on its own thread.
fn start_demo(registry: InMemoryRegistry) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            demo_server::serve(listener, registry).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("TOWER_HMAC_KEY_ID")
        .env_remove("TOWER_HMAC_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run tower-hmac")
}

fn demo_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TOWER_HMAC_KEY_ID", demo_server::DEMO_KEY_ID),
        ("TOWER_HMAC_SECRET", demo_server::demo_secret_base64()),
    ]
}

fn sign_curl(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["sign"];
    all.extend_from_slice(args);
    all.push("--curl");
    let out = cli(&all, env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

/// Runs a curl command line with `sh`; returns (status, body).
fn run_curl(command: &str) -> (u16, String) {
    let full = format!("{command} -w '\\n%{{http_code}}'");
    let out = Command::new("sh")
        .arg("-c")
        .arg(&full)
        .output()
        .expect("curl is installed (apt-get install curl)");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

fn code_of(body: &str) -> String {
    let start = body
        .find("\"code\":\"")
        .map(|i| i + 8)
        .unwrap_or_else(|| panic!("no code in {body}"));
    body[start..].split('"').next().unwrap().to_owned()
}

#[test]
fn signed_curl_is_accepted_once_then_rejected_as_a_replay() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let cmd = sign_curl(&["GET", &format!("http://{addr}/whoami")], &demo_env());
    assert!(cmd.starts_with("curl "), "{cmd}");

    let (status, body) = run_curl(&cmd);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"key_id\":\"demo-2026\""), "{body}");
    assert!(body.contains("\"app_id\":\"demo-backoffice\""), "{body}");

    let (status, body) = run_curl(&cmd);
    assert_eq!(status, 401, "{body}");
    assert_eq!(code_of(&body), "replayed_nonce");
}

#[test]
fn signed_post_echoes_and_a_tampered_body_is_rejected() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let url = format!("http://{addr}/echo");
    let args = [
        "POST",
        &url,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"amount":7}"#,
    ];

    let cmd = sign_curl(&args, &demo_env());
    let (status, body) = run_curl(&cmd);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, r#"{"amount":7}"#);

    let cmd = sign_curl(&args, &demo_env());
    let tampered = cmd.replace(r#"{"amount":7}"#, r#"{"amount":700}"#);
    assert_ne!(tampered, cmd);
    let (status, body) = run_curl(&tampered);
    assert_eq!(status, 401, "{body}");
    assert_eq!(code_of(&body), "invalid_signature");
}

#[test]
fn a_wrong_host_is_rejected() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let cmd = sign_curl(&["GET", &format!("http://{addr}/whoami")], &demo_env());
    let host_header = format!("-H 'host: {addr}'");
    assert!(cmd.contains(&host_header), "{cmd}");
    let wrong = cmd.replace(
        &host_header,
        &format!("-H 'host: evil.example:{}'", addr.port()),
    );
    let (status, body) = run_curl(&wrong);
    assert_eq!(status, 401, "{body}");
    assert_eq!(code_of(&body), "host_not_allowed");
}

#[test]
fn the_health_route_is_open_and_whoami_is_not() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let (status, body) = run_curl(&format!("curl -sS http://{addr}/health"));
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = run_curl(&format!("curl -sS http://{addr}/whoami"));
    assert_eq!(status, 401);
    assert_eq!(code_of(&body), "missing_authorization");
}

#[test]
fn a_body_from_a_file_is_sent_byte_for_byte() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let dir = std::env::temp_dir().join(format!("tower-hmac-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("body.txt");
    std::fs::write(&path, "line one\nline two\r\n'quoted' $HOME\n").unwrap();
    let data = format!("@{}", path.display());
    let cmd = sign_curl(
        &["POST", &format!("http://{addr}/echo"), "-d", &data],
        &demo_env(),
    );
    let (status, body) = run_curl(&cmd);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "line one\nline two\r\n'quoted' $HOME\n");
}

#[test]
fn keygen_output_makes_a_working_registry_and_client() {
    let out = cli(
        &["keygen", "--app-id", "partner", "--key-id", "partner-1"],
        &[],
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (server, client) = text.split_once("# Client").unwrap();
    let registry = InMemoryRegistry::from_toml_str(server).unwrap();
    assert_eq!(registry.get("partner-1").unwrap().app_id(), "partner");
    let env: Vec<(String, String)> = client
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(env.len(), 2, "{client}");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let addr = start_demo(registry);
    let cmd = sign_curl(&["GET", &format!("http://{addr}/whoami")], &env);
    let (status, body) = run_curl(&cmd);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"app_id\":\"partner\""));
}

#[test]
fn sign_prints_the_authorization_header() {
    let out = cli(
        &["sign", "GET", "https://api.example.com/x?y=1"],
        &demo_env(),
    );
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        line.starts_with("Authorization: HMAC-SHA256 Credential=demo-2026, Timestamp="),
        "{line}"
    );
    assert!(line.contains("SignedHeaders=host, Signature="));
}

#[test]
fn sign_without_a_key_explains_where_keys_come_from() {
    let out = cli(
        &["sign", "GET", "https://api.example.com/", "--key-id", "k"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("TOWER_HMAC_SECRET") && err.contains("--key-file"),
        "{err}"
    );
}

#[test]
fn sign_reads_the_key_from_a_file() {
    let dir = std::env::temp_dir().join(format!("tower-hmac-keyfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("demo.key");
    std::fs::write(&path, format!("{}\n", demo_server::demo_secret_base64())).unwrap();
    let out = cli(
        &[
            "sign",
            "GET",
            "https://api.example.com/",
            "--key-id",
            "demo-2026",
            "--key-file",
            path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sign_rejects_a_relative_url_and_a_bad_header() {
    let out = cli(&["sign", "GET", "/relative"], &demo_env());
    assert_eq!(out.status.code(), Some(2));
    let out = cli(&["sign", "GET", "http://h/", "-H", "no colon"], &demo_env());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn there_is_no_argument_that_takes_a_secret() {
    for command in ["sign", "keygen"] {
        let out = cli(&[command, "--help"], &[]);
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(!help.contains("--secret "), "{help}");
        assert!(!help.contains("--key <"), "{help}");
    }
}
