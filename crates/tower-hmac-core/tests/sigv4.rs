//! SigV4 against AWS's published material: the SigV4 test suite (testdata/sigv4.json, made by
//! scripts/gen-sigv4-vectors.py from botocore's copy) and the S3 streaming-upload example.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http::request::Parts;
use serde_json::Value;
use tower_hmac_core::sigv4::{PathRule, SigV4};
use tower_hmac_core::{Credentials, RejectionKind, Scheme, SecretKey};

fn suite() -> Value {
    serde_json::from_str(include_str!("../testdata/sigv4.json")).unwrap()
}

fn request(case: &Value, tamper: Option<(&str, &str)>) -> (Parts, Bytes) {
    let query = case["query"].as_str().unwrap();
    let target = if query.is_empty() {
        case["path"].as_str().unwrap().to_owned()
    } else {
        format!("{}?{query}", case["path"].as_str().unwrap())
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
    .allow_security_token(true);
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
        assert_eq!(creds.timestamp(), 1_440_938_160, "{name}");
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
