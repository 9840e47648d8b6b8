//! `explain` for every scheme besides v1, against the demo server over real TCP: a request signed
//! correctly matches; the same request changed on the way is refused, and `explain --problem`
//! with the server's answer names the line the server built differently; signed with another
//! key, the answer's keyed digests cannot be read, and explain says so. Plus the AWS SigV4 test
//! suite's data.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use tower_hmac_core::gateway::{Algorithm, Apisix, Kong};
use tower_hmac_core::sigv4::{self, SigV4};
use tower_hmac_core::{Scheme, SecretKey, body_sha256, rfc9421, softaware, token};

use crate::e2e::start_demo;

const BIN: &str = env!("CARGO_BIN_EXE_tower-hmac");
const WRONG_SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A request as sent: method, origin-form target, headers (besides `Host`), body.
#[derive(Clone)]
struct Req {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn new(method: &'static str, target: &str, headers: &[(&str, &str)], body: &str) -> Self {
        Self {
            method,
            target: target.into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn set(&mut self, name: &str, value: &str) {
        for (n, v) in &mut self.headers {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_owned();
            }
        }
    }

    /// The head as the server parses it (for the signers).
    fn parts(&self, addr: SocketAddr) -> http::request::Parts {
        let mut builder = http::Request::builder()
            .method(self.method)
            .uri(&self.target)
            .header("host", addr.to_string());
        for (n, v) in &self.headers {
            builder = builder.header(n, v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    /// The raw HTTP/1.1 request.
    fn raw(&self, addr: SocketAddr) -> Vec<u8> {
        let mut text = format!(
            "{} {} HTTP/1.1\r\nHost: {addr}\r\n",
            self.method, self.target
        );
        for (n, v) in &self.headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        text.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut raw = text.into_bytes();
        raw.extend_from_slice(&self.body);
        raw
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn demo_key() -> SecretKey {
    SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap()
}

fn wrong_key() -> SecretKey {
    SecretKey::from_base64(WRONG_SECRET).unwrap()
}

/// Sends `req`; the status and the body.
fn send(addr: SocketAddr, req: &Req) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(&req.raw(addr)).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

fn temp_file(name: &str, contents: &[u8]) -> String {
    let dir =
        std::env::temp_dir().join(format!("tower-hmac-explain-schemes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.display().to_string()
}

fn explain(args: &[&str], secret: &str) -> (Option<i32>, String) {
    let out: Output = Command::new(BIN)
        .arg("explain")
        .args(args)
        .env_remove("TOWER_HMAC_KEY_ID")
        .env("TOWER_HMAC_SECRET", secret)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// The three cases for one scheme: `signed` (by `sign` with the demo key) matches and is
/// accepted; `tamper`ed on the way it is refused and explain names `line`; signed with another key,
/// explain says the digests cannot be read (`wrong_key_says`).
fn scenario(
    name: &str,
    base: &Req,
    sign: impl Fn(&Req, &SecretKey, SocketAddr) -> Req,
    tamper: impl Fn(&mut Req),
    line: &str,
    wrong_key_says: &str,
) {
    let addr = start_demo(demo_server::demo_registry().unwrap());
    let secret = demo_server::demo_secret_base64();

    let signed = sign(base, &demo_key(), addr);
    let file = temp_file(&format!("{name}-signed.http"), &signed.raw(addr));
    let (code, text) = explain(&["--request-file", &file], secret);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("Scheme: {name} (detected")),
        "{text}"
    );
    assert!(
        text.contains("signature       matches this request and key"),
        "{text}"
    );
    let (status, answer) = send(addr, &signed);
    assert_eq!(status, 200, "{answer}");

    // Changed on the way: the server refuses it, and its answer names the line.
    let again = sign(base, &demo_key(), addr);
    let mut tampered = again.clone();
    tamper(&mut tampered);
    let (status, answer) = send(addr, &tampered);
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("invalid_signature"), "{answer}");
    let problem = temp_file(&format!("{name}-answer.json"), answer.as_bytes());
    let file = temp_file(&format!("{name}-again.http"), &again.raw(addr));
    let (code, text) = explain(&["--request-file", &file, "--problem", &problem], secret);
    assert_eq!(code, Some(1), "{text}");
    let differing: Vec<&str> = text.lines().filter(|l| l.contains("DIFFERS")).collect();
    assert_eq!(differing.len(), 1, "{text}");
    assert!(differing[0].contains(line), "{line} not in {text}");

    // Signed with another key for the same key id: the keyed digests are unreadable here.
    let other = sign(base, &wrong_key(), addr);
    let (status, answer) = send(addr, &other);
    assert_eq!(status, 401, "{answer}");
    let problem = temp_file(&format!("{name}-wrong-key.json"), answer.as_bytes());
    let file = temp_file(&format!("{name}-wrong-key.http"), &other.raw(addr));
    let (code, text) = explain(
        &["--request-file", &file, "--problem", &problem],
        WRONG_SECRET,
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(wrong_key_says), "{text}");
}

const CANNOT_READ: &str = "every line differs: the digests are keyed, so this key cannot read them";

fn sign_sigv4(req: &Req, key: &SecretKey, addr: SocketAddr) -> Req {
    let at = now();
    let date = sigv4::format_amz_date(at);
    let scope = format!("{}/us-east-1/demo/aws4_request", &date[..8]);
    let placeholder = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-date, Signature={}",
        demo_server::DEMO_KEY_ID,
        "0".repeat(64)
    );
    let unsigned = req.clone().header("X-Amz-Date", &date);
    let parts = unsigned
        .clone()
        .header("Authorization", &placeholder)
        .parts(addr);
    let creds = SigV4::new("us-east-1", "demo").parse(&parts, 8192).unwrap();
    let canonical =
        sigv4::CanonicalRequest::new(&creds, &parts, &hex::encode(body_sha256(&req.body))).unwrap();
    let signing_key = sigv4::derive_signing_key(&key.text_form(), creds.scope());
    let signature =
        hex::encode(sigv4::StringToSign::new(&creds, &canonical).signature(&signing_key));
    unsigned.header(
        "Authorization",
        placeholder.replace(&"0".repeat(64), &signature),
    )
}

#[test]
fn sigv4_explain_names_the_payload_hash_when_a_trailing_space_is_lost() {
    let base = Req::new("POST", "/echo?a=1", &[], "order 7 ");
    scenario(
        "sigv4",
        &base,
        sign_sigv4,
        |r| r.body = b"order 7".to_vec(),
        "payload hash",
        CANNOT_READ,
    );
}

#[test]
fn sigv4_explain_reads_the_s3_xml_answer_and_names_the_payload_hash() {
    // The server answers as S3 does: `SignatureDoesNotMatch` in XML, with the keyed digests of
    // its canonical request (never the text: only the key's holder reads the difference).
    let addr = crate::e2e::start_demo_s3(demo_server::demo_registry().unwrap());
    let secret = demo_server::demo_secret_base64();
    let base = Req::new("POST", "/echo?a=1", &[], "order 7 ");
    let signed = sign_sigv4(&base, &demo_key(), addr);
    let mut tampered = signed.clone();
    tampered.body = b"order 7".to_vec();
    let (status, answer) = send(addr, &tampered);
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{answer}"
    );
    assert!(answer.contains("<TowerHmacLineDigests>"), "{answer}");
    assert!(
        !answer.contains("POST\n/echo"),
        "no canonical request in clear: {answer}"
    );
    let problem = temp_file("sigv4-s3-answer.xml", answer.as_bytes());
    let file = temp_file("sigv4-s3-signed.http", &signed.raw(addr));
    let (code, text) = explain(&["--request-file", &file, "--problem", &problem], secret);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("The server answered: invalid_signature"),
        "{text}"
    );
    let differing: Vec<&str> = text.lines().filter(|l| l.contains("DIFFERS")).collect();
    assert_eq!(differing.len(), 1, "{text}");
    assert!(differing[0].contains("payload hash"), "{text}");

    // Read with another key, the same answer's digests say nothing.
    let (code, text) = explain(
        &["--request-file", &file, "--problem", &problem],
        WRONG_SECRET,
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(CANNOT_READ), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.contains("payload hash") && l.contains("DIFFERS")),
        "{text}"
    );
}

#[test]
fn sigv4_explain_prints_the_canonical_request_and_string_to_sign() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let signed = sign_sigv4(
        &Req::new("GET", "/whoami?b=2&a=1", &[], ""),
        &demo_key(),
        addr,
    );
    let file = temp_file("sigv4-print.http", &signed.raw(addr));
    let (code, text) = explain(
        &["--request-file", &file],
        demo_server::demo_secret_base64(),
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Canonical request:") && text.contains("String to sign:"),
        "{text}"
    );
    // Each line with its label and its value (the query sorted, as AWS's rule says).
    for (label, value) in [
        ("canonical query", "a=1&b=2"),
        ("header host", "host:127.0.0.1:9"),
        ("(end of headers)", ""),
        ("signed headers", "host;x-amz-date"),
        ("algorithm", "AWS4-HMAC-SHA256"),
        ("credential scope", "/us-east-1/demo/aws4_request"),
    ] {
        assert!(
            text.lines().any(|l| l.contains(label) && l.contains(value)),
            "{label} {value} missing in\n{text}"
        );
    }
}

#[test]
fn sigv4_explain_reproduces_the_aws_test_suite() {
    let suite: serde_json::Value =
        serde_json::from_str(include_str!("../../../tower-hmac-core/testdata/sigv4.json")).unwrap();
    let case = suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "get-vanilla-query-order-key-case")
        .unwrap();
    let secret = suite["secret_access_key"].as_str().unwrap();
    let url = format!(
        "http://example.amazonaws.com{}?{}",
        case["path"].as_str().unwrap(),
        case["query"].as_str().unwrap()
    );
    let mut args = vec!["GET".to_owned(), url.clone()];
    for header in case["headers"].as_array().unwrap() {
        args.push("-H".into());
        args.push(format!(
            "{}: {}",
            header[0].as_str().unwrap(),
            header[1].as_str().unwrap()
        ));
    }
    args.extend(["--key-form".into(), "text".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, text) = explain(&refs, secret);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("signature       matches this request and key"),
        "{text}"
    );
    // The suite's canonical request and string to sign, line by line.
    for line in case["canonical_request"]
        .as_str()
        .unwrap()
        .split('\n')
        .chain(case["string_to_sign"].as_str().unwrap().split('\n'))
        .filter(|l| !l.is_empty())
    {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }

    // One query value changed: the signature no longer matches.
    let changed: Vec<&str> = refs
        .iter()
        .map(|a| {
            if *a == url {
                "http://example.amazonaws.com/?Param2=value2&Param1=value9"
            } else {
                a
            }
        })
        .collect();
    let (code, text) = explain(&changed, secret);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("signature       DIFFERS"), "{text}");
    assert!(text.contains("Param1=value9&Param2=value2"), "{text}");
}

fn sign_rfc9421(req: &Req, key: &SecretKey, addr: SocketAddr) -> Req {
    let nonce = tower_hmac_core::generate_nonce().unwrap();
    let parts = req.parts(addr);
    let (input, signature) = rfc9421::sign(
        &parts,
        "http",
        &[
            "\"@method\"",
            "\"@authority\"",
            "\"@path\"",
            "\"@query\"",
            "\"x-order\"",
        ],
        demo_server::DEMO_KEY_ID,
        key,
        now(),
        Some(&nonce),
    )
    .unwrap();
    req.clone()
        .header("Signature-Input", input)
        .header("Signature", signature)
}

#[test]
fn rfc9421_explain_names_the_covered_header_that_changed() {
    let base = Req::new("GET", "/whoami?a=1", &[("X-Order", "7")], "");
    scenario(
        "rfc9421",
        &base,
        sign_rfc9421,
        |r| r.set("X-Order", "8"),
        "x-order",
        CANNOT_READ,
    );
}

fn sign_softaware(req: &Req, key: &SecretKey, addr: SocketAddr) -> Req {
    let value = softaware::authorization(
        demo_server::DEMO_KEY_ID,
        key,
        req.method,
        &format!("http://{addr}{}", req.target),
        &req.body,
        &softaware::generate_nonce().unwrap(),
        now(),
    );
    req.clone().header("Authorization", value)
}

#[test]
fn softaware_explain_names_its_one_line_when_the_query_changed() {
    let base = Req::new("GET", "/whoami?a=1", &[], "");
    scenario(
        "softaware",
        &base,
        sign_softaware,
        |r| r.target = "/whoami?a=2".into(),
        "signed string",
        // One line: a wrong key and a changed string look the same, and explain says so.
        "or verified with another key (one line",
    );
}

fn http_date() -> String {
    httpdate::fmt_http_date(SystemTime::now())
}

fn sign_kong(req: &Req, key: &SecretKey, addr: SocketAddr) -> Req {
    let dated = req.clone().header("Date", http_date());
    let value = Kong::new()
        .authorization(
            &dated.parts(addr),
            demo_server::DEMO_KEY_ID,
            key,
            Algorithm::HmacSha256,
            &["date", "request-line", "x-order"],
        )
        .unwrap();
    dated.header("Authorization", value.to_str().unwrap())
}

#[test]
fn kong_explain_names_the_header_that_changed() {
    let base = Req::new("GET", "/whoami", &[("X-Order", "7")], "");
    scenario(
        "kong",
        &base,
        sign_kong,
        |r| r.set("X-Order", "7 and more"),
        "header x-order",
        CANNOT_READ,
    );
}

fn sign_apisix(req: &Req, key: &SecretKey, addr: SocketAddr) -> Req {
    let dated = req.clone().header("Date", http_date());
    let value = Apisix::new()
        .authorization(
            &dated.parts(addr),
            demo_server::DEMO_KEY_ID,
            key,
            Algorithm::HmacSha256,
            &["@request-target", "date"],
        )
        .unwrap();
    dated.header("Authorization", value.to_str().unwrap())
}

#[test]
fn apisix_explain_names_the_request_target_when_a_trailing_space_is_added() {
    let base = Req::new("GET", "/whoami?q=a", &[], "");
    scenario(
        "apisix",
        &base,
        sign_apisix,
        |r| r.target = "/whoami?q=a%20".into(),
        "@request-target",
        CANNOT_READ,
    );
}

#[test]
fn token_explain_shows_the_signed_text_and_says_what_it_does_not_bind() {
    let value = token::issue(demo_server::DEMO_KEY_ID, now(), &demo_key()).unwrap();
    let header = format!("X-Auth-Token: {value}");
    let args = ["GET", "http://127.0.0.1:9/token/whoami", "-H", &header];
    let (code, text) = explain(&args, demo_server::demo_secret_base64());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("{}.", demo_server::DEMO_KEY_ID)),
        "{text}"
    );
    assert!(text.contains("not bound to the request"), "{text}");
    let (code, text) = explain(&args, WRONG_SECRET);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("signature       DIFFERS"), "{text}");
}

#[test]
fn explain_can_be_told_the_scheme_and_refuses_an_ambiguous_request() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let signed = sign_kong(
        &Req::new("GET", "/whoami", &[("X-Order", "7")], ""),
        &demo_key(),
        addr,
    );
    // Both Kong's credentials and a token: the server would not pick one either.
    let both = signed.clone().header("X-Auth-Token", "demo-2026:1:00");
    let file = temp_file("ambiguous.http", &both.raw(addr));
    let (code, text) = explain(
        &["--request-file", &file],
        demo_server::demo_secret_base64(),
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("several schemes (kong, token)"), "{text}");
    let (code, text) = explain(
        &["--request-file", &file, "--scheme", "kong"],
        demo_server::demo_secret_base64(),
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Scheme: kong (as given with --scheme)"),
        "{text}"
    );
}

/// AWS's published streaming upload (chunks of 65,536, 1,024 and 0 bytes of `a`, each with its
/// documented chunk signature): explain feeds the body as the layer does, through the scheme's
/// `aws-chunked` decoder, and finds it valid; a changed byte in a chunk is that chunk's refusal.
#[test]
fn sigv4_explain_checks_a_streaming_upload_chunk_by_chunk() {
    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    let chunk_signatures = [
        (
            65536,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        ),
        (
            1024,
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        ),
        (
            0,
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ),
    ];
    let body = |corrupt: bool| {
        let mut body = Vec::new();
        for (size, sig) in chunk_signatures {
            body.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
            let mut data = vec![b'a'; size];
            if corrupt && size == 1024 {
                data[10] = b'b';
            }
            body.extend_from_slice(&data);
            body.extend_from_slice(b"\r\n");
        }
        body
    };
    let auth = format!(
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
         x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}"
    );
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    for (corrupt, name) in [(false, "stream-ok.bin"), (true, "stream-bad.bin")] {
        let data = format!("@{}", temp_file(name, &body(corrupt)));
        let args = [
            "PUT",
            "http://s3.amazonaws.com/examplebucket/chunkObject.txt",
            "-H",
            "x-amz-date: 20130524T000000Z",
            "-H",
            "x-amz-storage-class: REDUCED_REDUNDANCY",
            "-H",
            &auth,
            "-H",
            "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "-H",
            "content-encoding: aws-chunked",
            "-H",
            "x-amz-decoded-content-length: 66560",
            "-H",
            "content-length: 66824",
            "-d",
            &data,
            "--key-form",
            "text",
        ];
        let (code, text) = explain(&args, secret);
        if corrupt {
            assert_eq!(code, Some(1), "{text}");
            assert!(text.contains("the server refuses it"), "{text}");
            assert!(!text.contains("body_unreadable"), "{text}");
        } else {
            assert_eq!(code, Some(0), "{text}");
            assert!(
                text.contains("signature       matches this request and key"),
                "{text}"
            );
        }
    }
}
