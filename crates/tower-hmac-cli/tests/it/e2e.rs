//! End to end over real TCP against the demo server: the CLI's `sign --curl` output run by real
//! curl, `request`, `explain`, and `presign` URLs fetched by curl.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::mpsc;

use tower_hmac::InMemoryRegistry;

const BIN: &str = env!("CARGO_BIN_EXE_tower-hmac");

/// Starts the demo server with `registry` on a free loopback port, on its own thread.
pub(crate) fn start_demo(registry: InMemoryRegistry) -> SocketAddr {
    start_demo_with(registry, 0, false)
}

/// The same, answering refusals as S3 does (`S3XmlResponder`).
pub(crate) fn start_demo_s3(registry: InMemoryRegistry) -> SocketAddr {
    start_demo_with(registry, 0, true)
}

/// The same, with the server's clock `offset_secs` ahead, answering in S3's XML if `s3`.
fn start_demo_with(registry: InMemoryRegistry, offset_secs: i64, s3: bool) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tx.send(addr).unwrap();
            // A server whose replay store started a minute ago (on its own clock): these tests are
            // not about restarts, and curl does not re-sign a request stamped in the store's
            // first second.
            let clock = tower_hmac::protocol::OffsetClock::new(offset_secs);
            let started =
                tower_hmac::protocol::Clock::now(&clock) - std::time::Duration::from_secs(60);
            // The demo's schemes and route reservations (the token and the webhooks on their
            // routes only).
            let mut builder =
                demo_server::demo_builder(registry, demo_server::hosts_for(addr, &[]).unwrap())
                    .clock(clock)
                    .nonce_store(tower_hmac::MemoryNonceStore::default().with_horizon(started));
            if s3 {
                builder = builder.responder(tower_hmac::server::S3XmlResponder);
            }
            let layer = builder.build().unwrap();
            demo_server::serve_with(listener, layer).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("TOWER_HMAC_KEY_ID")
        .env_remove("TOWER_HMAC_SECRET")
        .env_remove("TOWER_HMAC_REGISTRY");
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
    assert!(body.contains("\"scheme\":\"v1\""), "{body}");

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
        .filter(|l| !l.starts_with('#'))
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

    // The same key as an AWS secret access key, exactly as printed, with curl --aws-sigv4.
    assert!(
        text.contains("access key id partner-1") && text.contains("secret access key"),
        "{text}"
    );
    let secret = env
        .iter()
        .find(|(k, _)| *k == "TOWER_HMAC_SECRET")
        .unwrap()
        .1;
    let (status, body) = run_curl(&format!(
        "curl -s --aws-sigv4 aws:amz:us-east-1:demo --user 'partner-1:{secret}' http://{addr}/whoami"
    ));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"scheme\":\"sigv4\""), "{body}");
}

/// A registry file with app `partner` (scoped) followed by app `other`, in a directory of its own.
fn registry_with_partner(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-hmac-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("registry.toml");
    std::fs::write(
        &path,
        "[[apps]]\nid = \"partner\"\nscopes = [\"orders:read\"]\n\n\
         [[apps.keys]]\nid = \"partner-1\"\nsecret_env = \"PARTNER_KEY_NOT_SET_HERE\"\n\n\
         [[apps]]\nid = \"other\"\n\n\
         [[apps.keys]]\nid = \"other-1\"\nsecret_env = \"OTHER_KEY_NOT_SET_HERE\"\n",
    )
    .unwrap();
    path
}

#[test]
fn keygen_for_an_existing_app_prints_only_its_key_entry() {
    // Rotating a key as a new user would: keygen for an app the registry already has. A whole
    // `[[apps]]` block pasted next to the existing one would drop the app's scopes; keygen prints
    // the `[[apps.keys]]` entry alone, and says where it goes.
    let path = registry_with_partner("keygen-existing");
    let file = path.to_str().unwrap();
    let out = cli(
        &[
            "keygen",
            "--app-id",
            "partner",
            "--key-id",
            "partner-2",
            "--registry",
            file,
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let (server, client) = text.split_once("# Client").unwrap();
    assert!(!server.lines().any(|l| l == "[[apps]]"), "{server}");
    assert!(
        server.contains("[[apps.keys]]\nid = \"partner-2\"\n"),
        "{server}"
    );
    assert!(
        server.contains("\"partner\" is already in") && server.contains("line 2"),
        "{server}"
    );
    assert!(client.contains("TOWER_HMAC_KEY_ID=partner-2"), "{client}");
    // Pasted where it says (inside partner's block, before the next [[apps]]): the new key has
    // the app's scopes.
    let original = std::fs::read_to_string(&path).unwrap();
    let at = original.find("\n[[apps]]\nid = \"other\"").unwrap();
    let pasted = format!(
        "{}\n{}{}",
        &original[..at],
        server.trim_end(),
        &original[at..]
    );
    let text_env = pasted
        .replace(
            "secret_env = \"PARTNER_KEY_NOT_SET_HERE\"",
            &format!("secret = \"{}\"", demo_server::demo_secret_base64()),
        )
        .replace(
            "secret_env = \"OTHER_KEY_NOT_SET_HERE\"",
            &format!("secret = \"{}\"", demo_server::demo_secret_base64()),
        );
    let registry = InMemoryRegistry::from_toml_str(&text_env).unwrap();
    let record = registry.get("partner-2").unwrap();
    assert_eq!(record.app_id(), "partner");
    assert_eq!(record.scopes(), [Box::<str>::from("orders:read")]);
    assert_eq!(registry.get("other-1").unwrap().app_id(), "other");

    // The same from the environment; an app the file does not have still gets a whole block.
    let out = cli(
        &["keygen", "--app-id", "newcomer"],
        &[("TOWER_HMAC_REGISTRY", file)],
    );
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("[[apps]]\nid = \"newcomer\"\n"), "{text}");
    let out = cli(
        &["keygen", "--app-id", "other"],
        &[("TOWER_HMAC_REGISTRY", file)],
    );
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        !text.lines().any(|l| l == "[[apps]]") && text.contains("\"other\" is already in"),
        "{text}"
    );
}

#[test]
fn keygen_refuses_a_key_id_the_registry_has_or_a_broken_registry() {
    let path = registry_with_partner("keygen-refuses");
    let file = path.to_str().unwrap();
    let out = cli(
        &[
            "keygen",
            "--app-id",
            "partner",
            "--key-id",
            "other-1",
            "--registry",
            file,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("other-1") && err.contains("already"), "{err}");
    assert!(out.stdout.is_empty(), "no key printed");
    // A registry that does not load (here: the same app twice) is an error, not "new app".
    let doubled = path.with_file_name("doubled.toml");
    std::fs::write(
        &doubled,
        "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"a-1\"\nsecret_env = \"X\"\n\
         [[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"a-2\"\nsecret_env = \"Y\"\n",
    )
    .unwrap();
    let out = cli(
        &[
            "keygen",
            "--app-id",
            "b",
            "--registry",
            doubled.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("app id \"a\"") && err.contains("lines 2 and 7"),
        "{err}"
    );
    let missing = path.with_file_name("missing.toml");
    let out = cli(
        &[
            "keygen",
            "--app-id",
            "b",
            "--registry",
            missing.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}

fn presign(args: &[&str]) -> Output {
    let mut all = vec!["presign"];
    all.extend_from_slice(args);
    cli(&all, &demo_env())
}

#[test]
fn presigned_urls_download_and_upload_with_plain_curl() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let out = presign(&["GET", &format!("http://{addr}/whoami"), "--service", "demo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = stdout(&out).trim_end().to_owned();
    assert!(
        url.contains("X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature="),
        "{url}"
    );
    // A bearer link: usable more than once.
    for _ in 0..2 {
        let (status, body) = run_curl(&format!("curl -s '{url}'"));
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"scheme\":\"sigv4\""), "{body}");
    }
    // Not for another path.
    let (status, _) = run_curl(&format!("curl -s '{}'", url.replace("/whoami", "/echo")));
    assert_eq!(status, 401);

    // An upload of a file, S3's path rule, to a key with a space and non-ASCII.
    let file = temp_file("presigned-upload.txt", b"uploaded with curl -T");
    let target = format!("http://{addr}/objects/r%C3%A9sum%C3%A9%20v2.txt");
    let out = presign(&["PUT", &target, "--service", "s3", "--expires", "60"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = stdout(&out).trim_end().to_owned();
    let (status, body) = run_curl(&format!("curl -s -T '{file}' '{url}'"));
    assert_eq!((status, body.as_str()), (200, "uploaded with curl -T"));
}

#[test]
fn presign_refuses_what_aws_refuses() {
    for (args, what) in [
        (
            &["POST", "http://h/x", "--service", "demo"][..],
            "GET, HEAD or PUT",
        ),
        (&["GET", "/x", "--service", "demo"][..], "absolute"),
        (
            &[
                "GET",
                "http://h/x",
                "--service",
                "demo",
                "--expires",
                "604801",
            ][..],
            "604800",
        ),
        (
            &["GET", "http://h/x?X-Amz-Date=1", "--service", "demo"][..],
            "X-Amz-",
        ),
    ] {
        let out = presign(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{args:?}: {err}");
    }
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
    for command in ["sign", "keygen", "presign", "keys"] {
        let out = cli(&[command, "--help"], &[]);
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(!help.contains("--secret "), "{help}");
        assert!(!help.contains("--key <"), "{help}");
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn request_sends_a_signed_get() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let out = cli(
        &["request", "GET", &format!("http://{addr}/whoami")],
        &demo_env(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("\"key_id\":\"demo-2026\""));
}

#[test]
fn request_posts_a_body_and_includes_the_head_with_i() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let out = cli(
        &[
            "request",
            "POST",
            &format!("http://{addr}/echo"),
            "-H",
            "Content-Type: text/plain",
            "-d",
            "hi there",
            "-i",
        ],
        &demo_env(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("content-type: text/plain\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhi there"), "{text}");
}

#[test]
fn request_exits_1_on_an_http_error() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let wrong = [
        ("TOWER_HMAC_KEY_ID", "demo-2026"),
        (
            "TOWER_HMAC_SECRET",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
    ];
    let out = cli(
        &["request", "GET", &format!("http://{addr}/whoami")],
        &wrong,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("invalid_signature"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

#[test]
fn request_recovers_from_a_server_clock_ten_minutes_ahead() {
    let addr = start_demo_with(demo_server::demo_registry().unwrap(), 600, false);
    let out = cli(
        &["request", "GET", &format!("http://{addr}/whoami")],
        &demo_env(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("demo-2026"));
}

#[test]
fn request_exits_2_when_the_server_is_unreachable() {
    // A port the OS gave this test, bound but not listening: a connection to it is refused, and
    // no other program can listen on it while the test holds it.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = socket.local_addr().unwrap();
    let out = cli(
        &["request", "GET", &format!("http://{addr}/whoami")],
        &demo_env(),
    );
    assert_eq!(out.status.code(), Some(2));
    drop(socket);
}

fn authorization_in(curl: &str) -> String {
    let start = curl.find("'Authorization: ").unwrap() + 1;
    let end = start + curl[start..].find('\'').unwrap();
    curl[start..end].to_owned()
}

fn temp_file(name: &str, contents: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("tower-hmac-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.display().to_string()
}

#[test]
fn explain_names_the_body_hash_when_the_body_was_changed() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let url = format!("http://{addr}/echo");
    let signed_body = r#"{"amount":7}"#;
    let cmd = sign_curl(
        &[
            "POST",
            &url,
            "-H",
            "Content-Type: application/json",
            "-d",
            signed_body,
        ],
        &demo_env(),
    );
    let (status, answer) = run_curl(&cmd.replace(signed_body, r#"{"amount":700}"#));
    assert_eq!(status, 401);
    let problem = temp_file("body-answer.json", answer.as_bytes());

    let auth = authorization_in(&cmd);
    let out = cli(
        &[
            "explain",
            "POST",
            &url,
            "-H",
            "Content-Type: application/json",
            "-H",
            &auth,
            "-d",
            signed_body,
            "--problem",
            &problem,
        ],
        &demo_env(),
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("The server answered: invalid_signature"),
        "{text}"
    );
    let differing: Vec<&str> = text.lines().filter(|l| l.contains("DIFFERS")).collect();
    assert_eq!(differing.len(), 1, "{text}");
    assert!(
        differing[0].contains("body SHA-256") && differing[0].contains("body hash differs"),
        "{text}"
    );
    // What this client signed matches its own header.
    assert!(
        text.contains("signature       matches this request and key"),
        "{text}"
    );
}

#[test]
fn explain_says_the_key_differs_when_every_line_matches() {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let url = format!("http://{addr}/whoami");
    let wrong = [
        ("TOWER_HMAC_KEY_ID", "demo-2026"),
        (
            "TOWER_HMAC_SECRET",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
    ];
    let cmd = sign_curl(&["GET", &url], &wrong);
    let (status, answer) = run_curl(&cmd);
    assert_eq!(status, 401);
    let problem = temp_file("key-answer.json", answer.as_bytes());
    let host = format!("Host: {addr}");
    let out = cli(
        &[
            "explain",
            "GET",
            &url,
            "-H",
            &host,
            "-H",
            &authorization_in(&cmd),
            "--problem",
            &problem,
        ],
        &wrong,
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    // The server's digests are keyed with its key: with another key every line differs.
    assert!(
        text.contains(
            "every line differs: the digests are keyed, so this key cannot read them — the server verified with another key"
        ),
        "{text}"
    );
}

#[test]
fn explain_says_the_request_changed_when_the_lines_match_but_the_signature_does_not() {
    // Review item 9: the body was changed after signing. The server hashed the body it received,
    // explain hashes the same body: every line matches, and the key is the same — the verdict
    // must not be "the key differs".
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let url = format!("http://{addr}/echo");
    let args = ["POST", &url, "-d", "original"];
    let cmd = sign_curl(&args, &demo_env());
    let tampered = cmd.replace("original", "tampered");
    let (status, answer) = run_curl(&tampered);
    assert_eq!(status, 401, "{answer}");
    let problem = temp_file("changed-answer.json", answer.as_bytes());
    let host = format!("Host: {addr}");
    let out = cli(
        &[
            "explain",
            "POST",
            &url,
            "-H",
            &host,
            "-H",
            &authorization_in(&cmd),
            "-d",
            "tampered",
            "--problem",
            &problem,
        ],
        &demo_env(),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the request is not the one that was signed"),
        "{text}"
    );
    let verdict = text.split("The server answered").nth(1).unwrap();
    assert!(!verdict.contains("another key than this one"), "{text}");
}

#[test]
fn explain_shows_the_string_to_sign_with_invisible_characters() {
    let out = cli(
        &[
            "explain",
            "PUT",
            "http://api.example.com/items/1?x=1",
            "-H",
            "X-Note:  tab\there ",
            "-d",
            "body",
        ],
        &demo_env(),
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("No Authorization header given"), "{text}");
    for expected in [
        "algorithm",
        "HMAC-SHA256",
        "method",
        "PUT",
        "query",
        "x=1",
        "header x-note",
        "tab\\there",
        "body SHA-256",
        "Expected signature with this key: ",
    ] {
        assert!(text.contains(expected), "{expected} missing in\n{text}");
    }
}

#[test]
fn explain_reads_a_raw_request_file_and_spots_a_stale_timestamp() {
    let auth = "HMAC-SHA256 Credential=demo-2026, Timestamp=1000000000, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let raw =
        format!("GET /whoami HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: {auth}\r\n\r\n");
    let path = temp_file("stale.http", raw.as_bytes());
    let out = cli(&["explain", "--request-file", &path], &demo_env());
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("OUTSIDE the ±300 s window"), "{text}");
    assert!(text.contains("signature       DIFFERS"), "{text}");
}

#[test]
fn explain_names_a_missing_signed_header() {
    let auth = "Authorization: HMAC-SHA256 Credential=demo-2026, Timestamp=1000000000, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=content-type;host, Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let out = cli(&["explain", "GET", "http://h/", "-H", auth], &demo_env());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("absent from the request: content-type"),
        "{text}"
    );
}

#[test]
fn every_command_has_help_with_examples() {
    for command in ["keygen", "sign", "request", "explain", "presign", "keys"] {
        let out = cli(&[command, "--help"], &[]);
        assert!(out.status.success());
        assert!(stdout(&out).contains("Examples:"), "{command}");
    }
}

/// Built without the `postgres` feature, `keys` is listed and says how to get it (exit 2).
#[cfg(not(feature = "postgres"))]
#[test]
fn keys_without_the_postgres_feature_says_how_to_get_it() {
    let out = cli(&["keys", "list"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cargo install tower-hmac-cli --features postgres"),
        "{stderr}"
    );
}

/// `request` has its TLS provider: an `https://` URL fails as a connection error, not a panic.
#[test]
fn an_https_request_uses_the_installed_tls_provider() {
    // A port that is bound but never listens: the connection is refused at once.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let url = format!("https://{}/whoami", socket.local_addr().unwrap());
    let out = cli(&["request", "GET", &url], &demo_env());
    drop(socket);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("CryptoProvider"), "{stderr}");
}
