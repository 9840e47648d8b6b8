//! RFC 9421 from a client nobody here wrote: PyPI `http-message-signatures` (in the virtualenv
//! `.ci/run` makes; `TOWER_HMAC_PYTHON` names its interpreter) signs real `requests` requests —
//! a GET with a query, a POST with `Content-Digest` — against the demo's routes and layer over
//! TCP, served in this process on a clock behind the client's (the client signs with the
//! machine's clock).

use std::process::Command;

use crate::common::{InProcess, LAG, TestClock, behind_the_clients, listener, serve_demo};

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

    // The library's default coverage (@method, @authority, @target-uri): `@target-uri` holds
    // the path (issue 31; it was refused `missing_covered_component` naming `@path`).
    assert_eq!(
        status("default_coverage"),
        200,
        "{}",
        body("default_coverage")
    );
}

/// The host the default-signature tests sign for (an extra host the layers allow), reached at
/// the test's address with `Host: api.example.test`.
const SIGNED_HOST: &str = "api.example.test";

/// Runs `tests/py/rfc9421_default_client.py` over `cases`: each request signed by
/// `http-message-signatures` with its default covered components, unmodified.
async fn default_client(cases: serde_json::Value) -> serde_json::Value {
    let interpreter = std::env::var("TOWER_HMAC_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/rfc9421_default_client.py"
    );
    let secret = demo_server::demo_secret_base64();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&interpreter)
            .args([script, demo_server::DEMO_KEY_ID, secret, &cases.to_string()])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {interpreter}: {e}"))
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the client failed — this test needs the PyPI packages http-message-signatures and \
         requests (TOWER_HMAC_PYTHON=.ci/venv/bin/python, as .ci/run sets):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A case for [`default_client`]: signed for `sign_url`, sent to `addr` at `path` with
/// `Host: host`.
fn case(
    name: &str,
    sign_url: &str,
    addr: std::net::SocketAddr,
    path: &str,
    host: &str,
) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "method": "GET",
        "sign_url": sign_url,
        "send_url": format!("http://{addr}{path}"),
        "headers": {"Host": host},
    })
}

/// The status and body of one answer, after checking the signature had the library's default
/// coverage.
fn answer(got: &serde_json::Value, name: &str) -> (u64, String) {
    let input = got[name]["signature_input"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: {got}"));
    assert!(
        input.starts_with("pyhms=(\"@method\" \"@authority\" \"@target-uri\""),
        "{name}: {input}"
    );
    assert!(
        !input.contains("@path") && !input.contains("nonce"),
        "{name}: {input}"
    );
    let status = got[name]["status"].as_u64().unwrap();
    (status, got[name]["body"].as_str().unwrap().to_owned())
}

fn accepted(got: &serde_json::Value, name: &str) {
    let (status, body) = answer(got, name);
    assert_eq!(status, 200, "{name} ({}): {body}", got[name]["signed_url"]);
    assert!(body.contains(r#""scheme":"rfc9421""#), "{name}: {body}");
}

fn refused(got: &serde_json::Value, name: &str, code: &str) -> String {
    let (status, body) = answer(got, name);
    assert_eq!(status, 401, "{name} ({}): {body}", got[name]["signed_url"]);
    assert!(body.contains(code), "{name}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_librarys_default_signature_is_accepted_by_the_demo() {
    // The demo serves plain `http` (`Rfc9421::uri_scheme(Http)`), on a clock behind the
    // client's.
    let mut settings = behind_the_clients();
    settings.extra_hosts = vec![SIGNED_HOST.into()];
    let server = serve_demo(&settings).await;
    let addr = server.addr;
    let at = |path: &str| format!("http://{addr}{path}");
    let here = addr.to_string();
    let mut post = case("post", &at("/echo"), addr, "/echo", &here);
    post["method"] = "POST".into();
    post["body"] = r#"{"hello":"world"}"#.into();
    let mut again = case(
        "get",
        &at("/whoami?lang=en&x=a%20b"),
        addr,
        "/whoami?lang=en&x=a%20b",
        &here,
    );
    again["send_twice"] = true.into();
    let cases = serde_json::json!([
        again,
        post,
        // `http://host:80/…` while `Host` omits the port.
        case(
            "explicit_port",
            &format!("http://{SIGNED_HOST}:80/whoami"),
            addr,
            "/whoami",
            SIGNED_HOST
        ),
        case(
            "no_port",
            &format!("http://{SIGNED_HOST}/whoami"),
            addr,
            "/whoami",
            SIGNED_HOST
        ),
        // Not the request: the scheme, another port, host, path or query. (A default port
        // spelled otherwise, `:080`, cannot be sent: urllib3 rewrites it `:80`.)
        case(
            "https",
            &format!("https://{SIGNED_HOST}/whoami"),
            addr,
            "/whoami",
            SIGNED_HOST
        ),
        case(
            "https_443",
            &format!("https://{SIGNED_HOST}:443/whoami"),
            addr,
            "/whoami",
            SIGNED_HOST
        ),
        case(
            "port_8080",
            &format!("http://{SIGNED_HOST}:8080/whoami"),
            addr,
            "/whoami",
            SIGNED_HOST
        ),
        case(
            "other_host",
            "http://other.example.test/whoami",
            addr,
            "/whoami",
            SIGNED_HOST
        ),
        case("other_path", &at("/whoami"), addr, "/admin/whoami", &here),
        case(
            "other_query",
            &at("/whoami?lang=en"),
            addr,
            "/whoami?lang=fr",
            &here
        ),
        case(
            "other_encoding",
            &at("/whoami?x=a%20b"),
            addr,
            "/whoami?x=a+b",
            &here
        ),
    ]);
    let got = default_client(cases).await;

    accepted(&got, "get");
    refused(&got, "get_again", "replayed");
    let (status, body) = answer(&got, "post");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, r#"{"hello":"world"}"#);
    assert!(
        got["post"]["signature_input"]
            .as_str()
            .unwrap()
            .contains("\"content-digest\""),
        "{got}"
    );
    assert!(
        got["explicit_port"]["signed_url"]
            .as_str()
            .unwrap()
            .contains(":80/"),
        "{got}"
    );
    accepted(&got, "explicit_port");
    accepted(&got, "no_port");
    for name in [
        "https",
        "https_443",
        "port_8080",
        "other_host",
        "other_path",
        "other_query",
        "other_encoding",
    ] {
        let problem = refused(&got, name, "invalid_signature");
        assert!(problem.contains("@target-uri"), "{name}: {problem}");
    }
    // The detail says which scheme the server took.
    assert!(
        refused(&got, "https", "invalid_signature").contains("http://"),
        "{got}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_librarys_default_signature_for_https_is_accepted_behind_tls() {
    // A layer for clients that reach the server by `https` (`Rfc9421`'s default URI scheme; TLS
    // ends before it), on a clock behind the client's.
    let (listener, addr) = listener().await;
    let layer = tower_hmac::HmacAuthBuilder::new(
        tower_hmac::server::Schemes::only(tower_hmac::protocol::rfc9421::Rfc9421::new()),
        demo_server::demo_registry().unwrap(),
        demo_server::hosts_for(addr, &[SIGNED_HOST.into()]).unwrap(),
    )
    .clock(TestClock::behind(LAG))
    .build()
    .unwrap();
    let _server = InProcess::spawn(listener, layer);
    let cases = serde_json::json!([
        // `https://host:443/…` while `Host` omits the port, as the library signs it.
        case(
            "explicit_port",
            &format!("https://{SIGNED_HOST}:443/whoami?lang=en"),
            addr,
            "/whoami?lang=en",
            SIGNED_HOST
        ),
        case(
            "no_port",
            &format!("https://{SIGNED_HOST}/whoami"),
            addr,
            "/whoami",
            SIGNED_HOST
        ),
        case(
            "http",
            &format!("http://{SIGNED_HOST}/whoami"),
            addr,
            "/whoami",
            SIGNED_HOST
        ),
        case(
            "http_80",
            &format!("http://{SIGNED_HOST}:80/whoami"),
            addr,
            "/whoami",
            SIGNED_HOST
        ),
        case(
            "other_query",
            &format!("https://{SIGNED_HOST}/whoami?lang=en"),
            addr,
            "/whoami?lang=de",
            SIGNED_HOST
        ),
    ]);
    let got = default_client(cases).await;
    assert!(
        got["explicit_port"]["signed_url"]
            .as_str()
            .unwrap()
            .contains(":443/"),
        "{got}"
    );
    accepted(&got, "explicit_port");
    accepted(&got, "no_port");
    for name in ["http", "http_80", "other_query"] {
        refused(&got, name, "invalid_signature");
    }
    assert!(
        refused(&got, "http", "invalid_signature").contains("https://"),
        "{got}"
    );
}
