//! Known-answer vectors from `testdata/vectors.json` (made by `scripts/gen-vectors.py`, an
//! independent implementation in Python's standard library).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use serde::Deserialize;
use tower_hmac_core::{
    Authorization, CanonicalRequest, DEFAULT_MAX_HEADER_LEN, RejectionKind, SecretKey, Signer,
    body_sha256,
};

#[derive(Deserialize)]
struct File {
    version: u32,
    revision: u32,
    vectors: Vec<Vector>,
    rejections: Vec<(String, String)>,
    request_rejections: Vec<RequestRejection>,
    time_macs: Vec<TimeMac>,
    line_digests: Vec<LineDigests>,
}

#[derive(Deserialize)]
struct RequestRejection {
    name: String,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    signed_headers: String,
    code: String,
}

#[derive(Deserialize)]
struct TimeMac {
    key_base64: String,
    ts: String,
    nonce: String,
    tsm: String,
}

#[derive(Deserialize)]
struct LineDigests {
    vector: String,
    key_base64: String,
    digests: Vec<String>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    key_base64: String,
    key_id: String,
    timestamp: String,
    nonce: String,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body_base64: String,
    signed_headers: String,
    body_sha256: String,
    string_to_sign: String,
    signature: String,
    authorization: String,
}

fn load() -> File {
    let text = include_str!("../../testdata/vectors.json");
    serde_json::from_str(text).expect("vectors.json parses")
}

struct Built {
    parts: http::request::Parts,
    body: Vec<u8>,
    key: SecretKey,
}

fn build(v: &Vector) -> Built {
    let mut builder = Request::builder()
        .method(Method::from_bytes(v.method.as_bytes()).unwrap())
        .uri(v.target.as_str());
    for (name, value) in &v.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    Built {
        parts,
        body: STANDARD.decode(&v.body_base64).unwrap(),
        key: SecretKey::from_base64(&v.key_base64).unwrap(),
    }
}

#[test]
fn file_is_protocol_version_1_and_covers_the_required_cases() {
    let file = load();
    assert_eq!((file.version, file.revision), (1, 2));
    let names: Vec<_> = file.vectors.iter().map(|v| v.name.as_str()).collect();
    for required in [
        "get-without-body",
        "post-json-content-type-signed",
        "query-string",
        "percent-encoded-path",
        "header-value-trimmed",
    ] {
        assert!(names.contains(&required), "missing vector {required}");
    }
    assert!(
        file.request_rejections
            .iter()
            .any(|r| r.name == "two-values-of-one-header")
    );
    assert!(!file.time_macs.is_empty() && !file.line_digests.is_empty());
}

#[test]
fn string_to_sign_matches_every_vector() {
    for v in load().vectors {
        let b = build(&v);
        let auth = Authorization::parse(v.authorization.as_bytes(), DEFAULT_MAX_HEADER_LEN)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let canonical =
            CanonicalRequest::new(&auth, &b.parts.method, &b.parts.uri, &b.parts.headers).unwrap();
        let hash = body_sha256(&b.body);
        assert_eq!(hex::encode(hash), v.body_sha256, "{}", v.name);
        assert_eq!(
            String::from_utf8(canonical.string_to_sign(&hash)).unwrap(),
            v.string_to_sign,
            "{}",
            v.name
        );
    }
}

#[test]
fn signature_verifies_for_every_vector() {
    for v in load().vectors {
        let b = build(&v);
        let auth =
            Authorization::parse(v.authorization.as_bytes(), DEFAULT_MAX_HEADER_LEN).unwrap();
        assert_eq!(auth.signature().to_hex(), v.signature);
        let canonical =
            CanonicalRequest::new(&auth, &b.parts.method, &b.parts.uri, &b.parts.headers).unwrap();
        let hash = body_sha256(&b.body);
        canonical
            .verify(&b.key, &hash, auth.signature())
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let mut tampered = b.body.clone();
        tampered.push(b'!');
        let err = canonical
            .verify(&b.key, &body_sha256(&tampered), auth.signature())
            .unwrap_err();
        assert_eq!(err.kind(), RejectionKind::InvalidSignature, "{}", v.name);
    }
}

#[test]
fn signer_reproduces_every_vector() {
    for v in load().vectors {
        let b = build(&v);
        let signer = Signer::new(v.key_id.clone(), b.key.clone()).unwrap();
        let names: Vec<HeaderName> = v
            .signed_headers
            .split(';')
            .map(|n| HeaderName::from_bytes(n.as_bytes()).unwrap())
            .collect();
        let auth = signer
            .sign(
                &(&b.parts.method, &b.parts.uri, &b.parts.headers),
                &body_sha256(&b.body),
                &tower_hmac_core::SignParams::new(v.timestamp.parse().unwrap(), &v.nonce)
                    .headers(&names),
            )
            .unwrap();
        assert_eq!(auth.to_string(), v.authorization, "{}", v.name);
    }
}

#[test]
fn a_different_key_does_not_verify() {
    let file = load();
    let v = &file.vectors[0];
    let b = build(v);
    let auth = Authorization::parse(v.authorization.as_bytes(), DEFAULT_MAX_HEADER_LEN).unwrap();
    let canonical =
        CanonicalRequest::new(&auth, &b.parts.method, &b.parts.uri, &b.parts.headers).unwrap();
    let other = SecretKey::from_bytes(&[0xAA; 32]).unwrap();
    assert!(
        canonical
            .verify(&other, &body_sha256(&b.body), auth.signature())
            .is_err()
    );
}

#[test]
fn changing_a_signed_header_value_breaks_the_signature() {
    let file = load();
    let v = file
        .vectors
        .iter()
        .find(|v| v.name == "header-value-trimmed")
        .unwrap();
    let mut b = build(v);
    let auth = Authorization::parse(v.authorization.as_bytes(), DEFAULT_MAX_HEADER_LEN).unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in b.parts.headers.iter() {
        headers.append(name, value.clone());
    }
    headers.insert("x-tag", HeaderValue::from_static("gamma"));
    b.parts.headers = headers;
    let canonical =
        CanonicalRequest::new(&auth, &b.parts.method, &b.parts.uri, &b.parts.headers).unwrap();
    assert!(
        canonical
            .verify(&b.key, &body_sha256(&b.body), auth.signature())
            .is_err()
    );
}

#[test]
fn rejection_vectors_give_their_codes() {
    for (value, code) in load().rejections {
        let err = Authorization::parse(value.as_bytes(), DEFAULT_MAX_HEADER_LEN).expect_err(&value);
        assert_eq!(err.code(), code, "{value}");
    }
}

#[test]
fn request_rejection_vectors_give_their_codes() {
    for r in load().request_rejections {
        let mut builder = Request::builder()
            .method(Method::from_bytes(r.method.as_bytes()).unwrap())
            .uri(r.target.as_str());
        for (name, value) in &r.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        let header = format!(
            "HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders={}, Signature={}",
            r.signed_headers,
            "0".repeat(64)
        );
        let auth = Authorization::parse(header.as_bytes(), DEFAULT_MAX_HEADER_LEN).unwrap();
        let err = CanonicalRequest::new(&auth, &parts.method, &parts.uri, &parts.headers)
            .expect_err(&r.name);
        assert_eq!(err.code(), r.code, "{}", r.name);
    }
}

#[test]
fn time_mac_vectors_verify_with_their_nonce_only() {
    for t in load().time_macs {
        let key = SecretKey::from_base64(&t.key_base64).unwrap();
        let ts: u64 = t.ts.parse().unwrap();
        assert_eq!(
            hex::encode(tower_hmac_core::policy::time_mac(&key, ts, &t.nonce)),
            t.tsm
        );
        let challenge = format!(
            "HMAC-SHA256 error=\"stale_timestamp\", ts=\"{}\", tsm=\"{}\"",
            t.ts, t.tsm
        );
        let parsed = tower_hmac_core::Challenge::parse(challenge.as_bytes()).unwrap();
        assert_eq!(parsed.verified_server_time(&key, &t.nonce), Some(ts));
        assert_eq!(
            parsed.verified_server_time(&key, "AAAAAAAAAAAAAAAAAAAAAA"),
            None
        );
    }
}

#[test]
fn line_digest_vectors_match() {
    let file = load();
    for d in &file.line_digests {
        let v = file.vectors.iter().find(|v| v.name == d.vector).unwrap();
        let key = SecretKey::from_base64(&d.key_base64).unwrap();
        let ours: Vec<String> = tower_hmac_core::line_digests(&key, v.string_to_sign.as_bytes())
            .iter()
            .map(hex::encode)
            .collect();
        assert_eq!(ours, d.digests, "{}", d.vector);
    }
}

#[test]
fn protocol_document_shows_every_vector() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/PROTOCOL.md");
    let doc = std::fs::read_to_string(&path).expect("docs/PROTOCOL.md");
    for v in load().vectors {
        assert!(
            doc.contains(&v.authorization),
            "PROTOCOL.md lacks the header of vector {}",
            v.name
        );
        assert!(
            doc.contains(&v.string_to_sign.replace('\t', "\\t")),
            "PROTOCOL.md lacks the string to sign of vector {}",
            v.name
        );
    }
}
