//! SigV4 against AWS's published material: the SigV4 test suite (testdata/sigv4.json, made by
//! scripts/gen-sigv4-vectors.py from botocore's copy) and the S3 streaming-upload example.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http::request::Parts;
use serde_json::Value;
use tower_hmac_core::sigv4::{PathRule, SecurityToken, SigV4};
use tower_hmac_core::{Credentials, RejectionKind, Scheme, SecretKey};

fn suite() -> Value {
    serde_json::from_str(include_str!("../../testdata/sigv4.json")).unwrap()
}

/// The suite's cases whose path has `.`, `..` or empty segments: the generic rule signs them
/// normalised, so the server refuses them as sent (the path verified must be the path routed) and
/// accepts them on the normalised path.
const DOT_CASES: [&str; 6] = [
    "get-relative",
    "get-relative-relative",
    "get-slash",
    "get-slash-dot-slash",
    "get-slash-pointless-dot",
    "get-slashes",
];

/// The path a client sends for this case: the suite's, or for [`DOT_CASES`] the canonical URI
/// (the normalised path, which the signature covers).
fn sent_path(case: &Value) -> &str {
    if DOT_CASES.contains(&case["name"].as_str().unwrap()) {
        case["canonical_request"]
            .as_str()
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
    } else {
        case["path"].as_str().unwrap()
    }
}

fn request(case: &Value, tamper: Option<(&str, &str)>) -> (Parts, Bytes) {
    request_at(case, sent_path(case), tamper)
}

fn request_at(case: &Value, path: &str, tamper: Option<(&str, &str)>) -> (Parts, Bytes) {
    let query = case["query"].as_str().unwrap();
    let target = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let mut builder = http::Request::builder()
        .method(case["method"].as_str().unwrap())
        .uri(target);
    for header in case["headers"].as_array().unwrap() {
        let name = header[0].as_str().unwrap();
        let value = match tamper {
            Some((n, v)) if n.eq_ignore_ascii_case(name) => v,
            _ => header[1].as_str().unwrap().trim(),
        };
        builder = builder.header(name, value);
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    (
        parts,
        Bytes::from(case["body"].as_str().unwrap().to_owned()),
    )
}

/// What the scheme hands on of one input piece.
fn decode(
    scheme: &SigV4,
    pending: &mut <SigV4 as Scheme>::Pending,
    piece: Bytes,
) -> Result<Vec<u8>, tower_hmac_core::Rejection> {
    let mut out = Vec::new();
    scheme.decode(pending, piece, &mut |b: Bytes| out.extend_from_slice(&b))?;
    Ok(out)
}

/// Parse, prepare, feed the body (in two pieces), verify.
fn run(
    scheme: &SigV4,
    parts: &Parts,
    body: Bytes,
    key: &SecretKey,
) -> Result<Bytes, tower_hmac_core::Rejection> {
    let creds = scheme.parse(parts, 8192)?;
    let mut pending = scheme.prepare(&creds, parts, key)?;
    let mut out = Vec::new();
    let split = body.len() / 2;
    for piece in [body.slice(..split), body.slice(split..)] {
        out.extend_from_slice(&decode(scheme, &mut pending, piece)?);
    }
    scheme.verify(&creds, pending, key)?;
    Ok(Bytes::from(out))
}

fn suite_scheme(data: &Value, rule: &str) -> SigV4 {
    let scheme = SigV4::new(
        data["region"].as_str().unwrap(),
        data["service"].as_str().unwrap(),
    )
    .security_token(SecurityToken::Accepted);
    match rule {
        "s3" => scheme.path_rule(data["service"].as_str().unwrap(), PathRule::S3),
        _ => scheme,
    }
}

#[test]
fn every_case_of_the_aws_suite_verifies() {
    let data = suite();
    let key = SecretKey::from_text(data["secret_access_key"].as_str().unwrap()).unwrap();
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let scheme = suite_scheme(&data, case["path_rule"].as_str().unwrap());
        let (parts, body) = request(case, None);
        let auth = parts.headers["authorization"].to_str().unwrap();
        assert_eq!(auth, case["authorization"].as_str().unwrap(), "{name}");
        let decoded =
            run(&scheme, &parts, body.clone(), &key).unwrap_or_else(|r| panic!("{name}: {r:?}"));
        assert_eq!(decoded, body, "{name}");
        let creds = scheme.parse(&parts, 8192).unwrap();
        assert_eq!(creds.key_id(), data["access_key_id"].as_str().unwrap());
        assert_eq!(creds.freshness().signed_at(), Some(1_440_938_160), "{name}");
    }
}

#[test]
fn the_string_to_sign_is_the_suites() {
    // A wrong signature makes the scheme give its string to sign: it must be the suite's.
    let data = suite();
    let key = SecretKey::from_text(data["secret_access_key"].as_str().unwrap()).unwrap();
    for case in data["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let scheme = suite_scheme(&data, case["path_rule"].as_str().unwrap());
        let auth = case["authorization"].as_str().unwrap();
        let flipped = format!("{}0", &auth[..auth.len() - 1]);
        let flipped = if flipped == auth {
            format!("{}1", &auth[..auth.len() - 1])
        } else {
            flipped
        };
        let (parts, body) = request(case, Some(("authorization", &flipped)));
        let rejection = run(&scheme, &parts, body, &key).unwrap_err();
        assert_eq!(rejection.kind(), RejectionKind::InvalidSignature, "{name}");
        assert_eq!(
            rejection.string_to_sign(),
            Some(case["string_to_sign"].as_str().unwrap()),
            "{name}"
        );
    }
}

/// Suite cases whose canonical request exercises each part of it: the query order, repeated and
/// trimmed header values, a session token, a dot-segment path, a signed body.
const CANONICAL_CASES: [&str; 7] = [
    "get-vanilla",
    "get-vanilla-query-order-key-case",
    "get-header-key-duplicate",
    "get-header-value-trim",
    "get-vanilla-with-session-token",
    "get-slashes",
    "post-x-www-form-urlencoded",
];

#[test]
fn the_canonical_request_display_is_the_text_the_signature_covers() {
    use hmac::{KeyInit, Mac};
    use sha2::{Digest, Sha256};
    use tower_hmac_core::sigv4::{CanonicalRequest, StringToSign, derive_signing_key};

    let data = suite();
    let secret = data["secret_access_key"].as_str().unwrap();
    let cases = data["cases"].as_array().unwrap();
    for name in CANONICAL_CASES {
        let case = cases.iter().find(|c| c["name"] == name).unwrap();
        let scheme = suite_scheme(&data, case["path_rule"].as_str().unwrap());
        let (parts, body) = request(case, None);
        let creds = scheme.parse(&parts, 8192).unwrap();
        let payload_hash = hex::encode(Sha256::digest(&body));
        let canonical = CanonicalRequest::new(&creds, &parts, &payload_hash).unwrap();
        // The server's canonical request is AWS's, and its Display is its text.
        assert_eq!(
            canonical.to_string(),
            case["canonical_request"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(canonical.as_str(), canonical.to_string(), "{name}");
        assert_eq!(canonical.payload_hash(), payload_hash, "{name}");
        // The string to sign carries the SHA-256 of exactly that Display text.
        let sts = StringToSign::new(&creds, &canonical);
        assert_eq!(
            sts.to_string(),
            case["string_to_sign"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            sts.canonical_request_hash(),
            hex::encode(Sha256::digest(canonical.to_string().as_bytes())),
            "{name}"
        );
        // And the request's signature is the MAC of the string to sign's Display text.
        let signing_key = derive_signing_key(secret, creds.scope());
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&signing_key[..]).unwrap();
        mac.update(sts.to_string().as_bytes());
        let over_display = hex::encode(mac.finalize().into_bytes());
        let auth = case["authorization"].as_str().unwrap();
        let sent = auth.rsplit("Signature=").next().unwrap();
        assert_eq!(over_display, sent, "{name}");
        assert_eq!(hex::encode(sts.signature(&signing_key)), sent, "{name}");
    }
}

#[test]
fn a_mismatch_shows_the_canonical_request_the_mac_covered() {
    // A wrong signature: what the answer digests (and, in clear diagnostics, shows) is the
    // canonical request the server MACed, which for these cases is the suite's.
    let data = suite();
    let key = SecretKey::from_text(data["secret_access_key"].as_str().unwrap()).unwrap();
    let cases = data["cases"].as_array().unwrap();
    for name in CANONICAL_CASES {
        let case = cases.iter().find(|c| c["name"] == name).unwrap();
        let scheme = suite_scheme(&data, case["path_rule"].as_str().unwrap());
        let auth = case["authorization"].as_str().unwrap();
        let wrong = format!("{}{}", &auth[..auth.len() - 64], "0".repeat(64));
        let (parts, body) = request(case, Some(("authorization", &wrong)));
        let rejection = run(&scheme, &parts, body, &key).unwrap_err();
        assert_eq!(rejection.kind(), RejectionKind::InvalidSignature, "{name}");
        let canonical = case["canonical_request"].as_str().unwrap();
        let keyed = rejection
            .clone()
            .keyed_diagnostics(&key, tower_hmac_core::Diagnostics::Keyed);
        assert_eq!(
            keyed.line_digests().unwrap(),
            tower_hmac_core::line_digests(&key, canonical.as_bytes()),
            "{name}"
        );
        let clear = rejection.keyed_diagnostics(&key, tower_hmac_core::Diagnostics::Clear);
        assert_eq!(clear.signed_text_in_clear(), Some(canonical), "{name}");
        assert_eq!(
            clear.string_to_sign(),
            Some(case["string_to_sign"].as_str().unwrap()),
            "{name}"
        );
    }
}

#[test]
fn tampered_suite_requests_are_refused() {
    let data = suite();
    let key = SecretKey::from_text(data["secret_access_key"].as_str().unwrap()).unwrap();
    let wrong = SecretKey::from_text("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz").unwrap();
    for case in data["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let scheme = suite_scheme(&data, case["path_rule"].as_str().unwrap());
        let (parts, body) = request(case, None);
        let mut more = body.to_vec();
        more.push(b'x');
        assert!(
            run(&scheme, &parts, Bytes::from(more), &key).is_err(),
            "{name}: body"
        );
        assert!(
            run(&scheme, &parts, body.clone(), &wrong).is_err(),
            "{name}: key"
        );
        let (parts, body) = request(case, Some(("x-amz-date", "20150830T123601Z")));
        assert!(run(&scheme, &parts, body, &key).is_err(), "{name}: date");
        let (mut parts, body) = request(case, None);
        parts.method = http::Method::PUT;
        assert!(run(&scheme, &parts, body, &key).is_err(), "{name}: method");
    }
}

#[test]
fn scope_and_token_settings_are_enforced() {
    let data = suite();
    let key = SecretKey::from_text(data["secret_access_key"].as_str().unwrap()).unwrap();
    let case = data["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "get-vanilla")
        .unwrap();
    let (parts, body) = request(case, None);
    for (scheme, what) in [
        (SigV4::new("eu-west-1", "service"), "region"),
        (SigV4::new("us-east-1", "other"), "service"),
    ] {
        let err = run(&scheme, &parts, body.clone(), &key).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{what}");
        assert!(err.detail().unwrap().contains(what), "{err:?}");
    }
    // The scope's day must be the request's day.
    let (parts, body) = request(case, Some(("x-amz-date", "20150831T123600Z")));
    let err = run(&SigV4::new("us-east-1", "service"), &parts, body, &key).unwrap_err();
    assert!(err.detail().unwrap().contains("date"), "{err:?}");
    // A session token is refused unless allowed.
    let token = data["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "get-vanilla-with-session-token")
        .unwrap();
    let (parts, body) = request(token, None);
    let err = run(&SigV4::new("us-east-1", "service"), &parts, body, &key).unwrap_err();
    assert!(err.detail().unwrap().contains("Security-Token"), "{err:?}");
}

#[test]
fn suite_paths_with_dot_or_empty_segments_are_refused_as_sent() {
    // The suite signs `/example/..`, `//`, `/./example` … normalised; sent as they are, the path
    // a router sees is not the path the signature covers.
    let data = suite();
    let key = SecretKey::from_text(data["secret_access_key"].as_str().unwrap()).unwrap();
    let cases = data["cases"].as_array().unwrap();
    for name in DOT_CASES {
        let case = cases.iter().find(|c| c["name"] == name).unwrap();
        assert_eq!(case["path_rule"], "generic", "{name}");
        let scheme = suite_scheme(&data, "generic");
        let (parts, body) = request_at(case, case["path"].as_str().unwrap(), None);
        // Refused by `parse`, before any key is looked up: the same answer for every key id.
        let err = scheme.parse(&parts, 8192).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{name}");
        assert!(
            err.detail().unwrap().contains("segments"),
            "{name}: {err:?}"
        );
        let err = run(&scheme, &parts, body.clone(), &key).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{name}");
        // The same signature on the normalised path verifies.
        let (parts, body) = request(case, None);
        assert_ne!(parts.uri.path(), case["path"].as_str().unwrap(), "{name}");
        run(&scheme, &parts, body, &key).unwrap_or_else(|r| panic!("{name}: {r:?}"));
    }
}

/// `AWS4-HMAC-SHA256` header-form signature of `GET <canonical uri>` (host and x-amz-date
/// signed, empty body), service `demo`, as the SDKs sign it.
fn header_auth(canonical_uri: &str, host: &str, amz_date: &str, key: &SecretKey) -> String {
    use hmac::{KeyInit, Mac};
    use sha2::{Digest, Sha256};
    let scope = format!("{}/us-east-1/demo/aws4_request", &amz_date[..8]);
    let creq = format!(
        "GET\n{canonical_uri}\n\nhost:{host}\nx-amz-date:{amz_date}\n\nhost;x-amz-date\n{}",
        hex::encode(Sha256::digest(b""))
    );
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(creq.as_bytes()))
    );
    let signing_key = tower_hmac_core::sigv4::derive_signing_key(&key.text_form(), &scope);
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&signing_key[..]).unwrap();
    mac.update(sts.as_bytes());
    format!(
        "AWS4-HMAC-SHA256 Credential=demo-key/{scope}, SignedHeaders=host;x-amz-date, \
         Signature={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn signed_get(target: &str, auth: &str) -> Parts {
    http::Request::get(target)
        .header("host", "files.example.com")
        .header("x-amz-date", "20261125T161910Z")
        .header("authorization", auth)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn demo_key() -> SecretKey {
    SecretKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap()
}

#[test]
fn a_signature_for_one_object_is_refused_on_paths_the_rule_would_change() {
    // Issue 24 item 8: a request signed for /objects/report.txt was accepted on
    // /objects/x/../report.txt, //report.txt and ./report.txt, and `/objects/{*key}` handed the
    // handler another key.
    let key = demo_key();
    let scheme = SigV4::new("us-east-1", "demo");
    let auth = header_auth(
        "/objects/report.txt",
        "files.example.com",
        "20261125T161910Z",
        &key,
    );
    run(
        &scheme,
        &signed_get("/objects/report.txt", &auth),
        Bytes::new(),
        &key,
    )
    .expect("its own path");
    for path in [
        "/objects/x/../report.txt",
        "/objects//report.txt",
        "/objects/./report.txt",
        "//objects/report.txt",
        "/objects/report.txt/.",
        "/objects/report.txt/x/..",
        "/objects/x/../report.txt?a=1",
    ] {
        let err = run(&scheme, &signed_get(path, &auth), Bytes::new(), &key).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{path}");
        assert_eq!(
            err.kind().status(),
            http::StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    // Presigned URLs alike (made for the path the signature covers, then tampered with).
    let url = tower_hmac_core::sigv4::presign_url(
        &http::Method::GET,
        &"http://files.example.com/objects/report.txt"
            .parse()
            .unwrap(),
        "demo-key",
        &key,
        &tower_hmac_core::sigv4::PresignParams {
            region: "us-east-1",
            service: "demo",
            rule: PathRule::Generic,
            time: 1_795_000_000,
            expires: 600,
        },
    )
    .unwrap();
    let target = url.strip_prefix("http://files.example.com").unwrap();
    let presigned = |target: &str| {
        http::Request::get(target)
            .header("host", "files.example.com")
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    run(&scheme, &presigned(target), Bytes::new(), &key).expect("the presigned URL as made");
    for tampered in [
        target.replace("/objects/", "/objects/x/../"),
        target.replace("/objects/", "/objects//"),
        target.replace("/objects/", "/objects/./"),
    ] {
        let err = run(&scheme, &presigned(&tampered), Bytes::new(), &key).unwrap_err();
        assert_eq!(
            err.kind(),
            RejectionKind::MalformedAuthorization,
            "{tampered}"
        );
    }
}

#[test]
fn percent_encoded_dots_are_not_dot_segments() {
    // AWS's rule normalises the path as sent, without decoding it: `%2E%2E` is an ordinary
    // segment, signed (encoded again) as `%252E%252E`. Nothing to refuse: the path verified is the
    // path routed, and a signature for another path does not match it.
    let key = demo_key();
    let scheme = SigV4::new("us-east-1", "demo");
    let path = "/objects/x/%2E%2E/report.txt";
    let own = header_auth(
        "/objects/x/%252E%252E/report.txt",
        "files.example.com",
        "20261125T161910Z",
        &key,
    );
    run(&scheme, &signed_get(path, &own), Bytes::new(), &key).expect("signed as sent");
    let other = header_auth(
        "/objects/report.txt",
        "files.example.com",
        "20261125T161910Z",
        &key,
    );
    let err = run(&scheme, &signed_get(path, &other), Bytes::new(), &key).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::InvalidSignature);
}

#[test]
fn the_s3_rule_signs_dot_segments_as_sent() {
    // S3 does not normalise: the path signed is the path sent, so a dot segment is just part of
    // the object key the signature covers — accepted as signed, and a signature for another
    // path does not match it.
    let key = demo_key();
    let scheme = SigV4::new("us-east-1", "demo").path_rule("demo", PathRule::S3);
    for path in [
        "/objects/x/../report.txt",
        "/objects//report.txt",
        "/objects/./report.txt",
    ] {
        let auth = header_auth(path, "files.example.com", "20261125T161910Z", &key);
        run(&scheme, &signed_get(path, &auth), Bytes::new(), &key)
            .unwrap_or_else(|r| panic!("{path}: {r:?}"));
        let err = run(
            &scheme,
            &signed_get("/objects/report.txt", &auth),
            Bytes::new(),
            &key,
        )
        .unwrap_err();
        assert_eq!(err.kind(), RejectionKind::InvalidSignature, "{path}");
    }
}

#[test]
fn presigned_urls_carry_the_path_the_generic_rule_signs() {
    // `presign_url` for a path with dot or empty segments: the URL carries the normalised path
    // (the one its signature covers, and the only one the server accepts).
    let key = demo_key();
    let scheme = SigV4::new("us-east-1", "demo");
    let url = tower_hmac_core::sigv4::presign_url(
        &http::Method::GET,
        &"http://files.example.com/a/./b//c/../d?z=1"
            .parse()
            .unwrap(),
        "demo-key",
        &key,
        &tower_hmac_core::sigv4::PresignParams {
            region: "us-east-1",
            service: "demo",
            rule: PathRule::Generic,
            time: 1_795_000_000,
            expires: 600,
        },
    )
    .unwrap();
    let target = url.strip_prefix("http://files.example.com").unwrap();
    assert!(target.starts_with("/a/b/d?z=1&X-Amz-"), "{target}");
    let (parts, ()) = http::Request::get(target)
        .header("host", "files.example.com")
        .body(())
        .unwrap()
        .into_parts();
    run(&scheme, &parts, Bytes::new(), &key).expect("the URL as made");
}

/// AWS's published streaming upload ("Signature Calculations for the Authorization Header:
/// Transferring Payload in Multiple Chunks"): 66,560 bytes of `a` in chunks of 65,536, 1,024
/// and 0 bytes, with the documented seed and chunk signatures.
fn aws_streaming_example(corrupt_second: bool) -> (Parts, Bytes) {
    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    let chunks = [
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
    let mut body = Vec::new();
    for (size, sig) in chunks {
        body.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
        let mut data = vec![b'a'; size];
        if corrupt_second && size == 1024 {
            data[10] = b'b';
        }
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n");
    }
    assert_eq!(body.len(), 66824);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
         x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}"
    );
    let (parts, ()) = http::Request::put("/examplebucket/chunkObject.txt")
        .header("host", "s3.amazonaws.com")
        .header("x-amz-date", "20130524T000000Z")
        .header("x-amz-storage-class", "REDUCED_REDUNDANCY")
        .header("authorization", auth)
        .header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        .header("content-encoding", "aws-chunked")
        .header("x-amz-decoded-content-length", "66560")
        .header("content-length", "66824")
        .body(())
        .unwrap()
        .into_parts();
    (parts, Bytes::from(body))
}

fn example_key() -> SecretKey {
    SecretKey::from_text("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").unwrap()
}

#[test]
fn the_aws_streaming_example_decodes_and_verifies() {
    let scheme = SigV4::new("us-east-1", "s3").path_rule("s3", PathRule::S3);
    let (mut parts, body) = aws_streaming_example(false);
    let creds = scheme.parse(&parts, 8192).unwrap();
    // Fed in pieces of every kind: odd sizes (chunk boundaries never line up with reads), one
    // byte at a time, exactly the first chunk, and the whole body at once (chunks sliced out of
    // one input and joined).
    for size in [7001, 1, 2, 13, 65536 + 77, 66824] {
        let mut pending = scheme.prepare(&creds, &parts, &example_key()).unwrap();
        let mut decoded = Vec::new();
        let mut rest = body.clone();
        while !rest.is_empty() {
            let piece = rest.split_to(rest.len().min(size));
            decoded.extend_from_slice(&decode(&scheme, &mut pending, piece).unwrap());
        }
        scheme.verify(&creds, pending, &example_key()).unwrap();
        assert_eq!(decoded, vec![b'a'; 66560], "pieces of {size}");
    }
    scheme.accepted(&creds, &mut parts);
    assert_eq!(parts.headers["content-length"], "66560");
    assert!(parts.headers.get("content-encoding").is_none());
}

#[test]
fn a_tampered_chunk_fails_the_body_at_that_chunk() {
    let scheme = SigV4::new("us-east-1", "s3").path_rule("s3", PathRule::S3);
    let (parts, body) = aws_streaming_example(true);
    let creds = scheme.parse(&parts, 8192).unwrap();
    let mut pending = scheme.prepare(&creds, &parts, &example_key()).unwrap();
    // The first chunk (65,536 bytes) is fine and comes out; the second fails.
    let first = decode(&scheme, &mut pending, body.slice(..65626)).expect("first chunk");
    assert_eq!(first.len(), 65536);
    let err = decode(&scheme, &mut pending, body.slice(65626..)).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::InvalidSignature);
    assert!(err.detail().unwrap().contains("chunk 1"), "{err:?}");
}

#[test]
fn a_truncated_stream_or_wrong_length_is_refused() {
    let scheme = SigV4::new("us-east-1", "s3").path_rule("s3", PathRule::S3);
    let (parts, body) = aws_streaming_example(false);
    let creds = scheme.parse(&parts, 8192).unwrap();
    let mut pending = scheme.prepare(&creds, &parts, &example_key()).unwrap();
    decode(&scheme, &mut pending, body.slice(..body.len() - 86)).unwrap();
    let err = scheme.verify(&creds, pending, &example_key()).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::BodyUnreadable);
}
