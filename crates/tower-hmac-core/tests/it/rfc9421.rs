//! RFC 9421 with `hmac-sha256`: the RFC's Appendix B.2.5 and §2.2.8 as known answers (data in
//! `testdata/rfc9421.json`), round trips with the helper signer, tampering, coverage, and strict
//! parsing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use serde::Deserialize;
use tower_hmac_core::rfc9421::{Rfc9421, content_digest, sign};
use tower_hmac_core::{Rejection, RejectionKind, Scheme, SecretKey, SignError};

#[derive(Deserialize)]
struct File {
    key_id: String,
    key_base64: String,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
    signature_base: String,
    query_params: QueryParams,
}

#[derive(Deserialize)]
struct QueryParams {
    target: String,
    values: std::collections::BTreeMap<String, String>,
}

fn load() -> File {
    serde_json::from_str(include_str!("../../testdata/rfc9421.json")).unwrap()
}

fn parts(method: &str, target: &str, headers: &[(String, String)]) -> http::request::Parts {
    let mut builder = http::Request::builder().method(method).uri(target);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder.body(()).unwrap().into_parts().0
}

/// The B.2.5 policy: the RFC's example covers neither the method nor the path.
fn b25_scheme() -> Rfc9421 {
    Rfc9421::new()
        .required_components(&[])
        .require_query(false)
        .require_content_digest(false)
}

/// Parses, digests the body in two chunks, verifies; returns the signature base on success.
fn check(
    scheme: &Rfc9421,
    parts: &http::request::Parts,
    body: &[u8],
    key: &SecretKey,
) -> Result<String, Rejection> {
    let creds = scheme.parse(parts, 8192)?;
    let mut pending = scheme.prepare(&creds, parts, key)?;
    let base = pending.signature_base().to_owned();
    let (a, b) = body.split_at(body.len() / 2);
    scheme.update(&mut pending, a);
    scheme.update(&mut pending, b);
    scheme.verify(&creds, pending, key).map(|_| base)
}

fn with_header(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut out: Vec<_> = headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .cloned()
        .collect();
    out.push((name.to_owned(), value.to_owned()));
    out
}

#[test]
fn appendix_b_2_5_verifies_with_the_rfcs_signature_base() {
    let f = load();
    let key = SecretKey::from_base64(&f.key_base64).unwrap();
    let p = parts(&f.method, &f.target, &f.headers);
    let creds = b25_scheme().parse(&p, 8192).unwrap();
    assert_eq!(tower_hmac_core::Credentials::key_id(&creds), f.key_id);
    assert_eq!(
        tower_hmac_core::Credentials::freshness(&creds).signed_at(),
        Some(1_618_884_473)
    );
    let base = check(&b25_scheme(), &p, f.body.as_bytes(), &key).unwrap();
    assert_eq!(base, f.signature_base);
}

#[test]
fn tampering_with_each_covered_component_is_refused() {
    let f = load();
    let key = SecretKey::from_base64(&f.key_base64).unwrap();
    for (name, value) in [
        ("Date", "Tue, 20 Apr 2021 02:07:56 GMT"),
        ("Host", "example.org"),
        ("Content-Type", "text/plain"),
    ] {
        let p = parts(&f.method, &f.target, &with_header(&f.headers, name, value));
        let err = check(&b25_scheme(), &p, f.body.as_bytes(), &key).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::InvalidSignature, "{name}");
    }
    // Another key.
    let p = parts(&f.method, &f.target, &f.headers);
    let other = SecretKey::from_bytes(&[1; 32]).unwrap();
    let err = check(&b25_scheme(), &p, f.body.as_bytes(), &other).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::InvalidSignature);
}

#[test]
fn the_default_policy_refuses_the_rfc_example_naming_what_is_missing() {
    let f = load();
    let key = SecretKey::from_base64(&f.key_base64).unwrap();
    let p = parts(&f.method, &f.target, &f.headers);
    let err = check(&Rfc9421::new(), &p, f.body.as_bytes(), &key).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MissingCoveredComponent);
    assert_eq!(err.code(), "missing_covered_component");
    assert!(err.detail().unwrap().contains("@method"), "{err:?}");
    let err = check(
        &Rfc9421::new().required_components(&["@authority"]),
        &p,
        f.body.as_bytes(),
        &key,
    )
    .unwrap_err();
    assert!(err.detail().unwrap().contains("@query"), "{err:?}");
    let err = check(
        &Rfc9421::new()
            .required_components(&["@authority"])
            .require_query(false),
        &p,
        f.body.as_bytes(),
        &key,
    )
    .unwrap_err();
    assert!(err.detail().unwrap().contains("content-digest"), "{err:?}");
}

#[test]
fn query_params_are_the_rfcs_values() {
    let f = load();
    let key = SecretKey::from_bytes(&[3; 32]).unwrap();
    let scheme = Rfc9421::new().required_components(&[]).require_query(false);
    for (name, value) in &f.query_params.values {
        let id = format!("\"@query-param\";name=\"{name}\"");
        let mut p = parts(
            "GET",
            &f.query_params.target,
            &[("Host".into(), "example.com".into())],
        );
        let (input, signature) = sign(&p, "https", &[&id], "k", &key, 1_700_000_000, None).unwrap();
        p.headers.insert("signature-input", input.parse().unwrap());
        p.headers.insert("signature", signature.parse().unwrap());
        let base = check(&scheme, &p, b"", &key).unwrap();
        let first = base.lines().next().unwrap();
        assert_eq!(first, format!("{id}: {value}"));
    }
}

fn signed(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    components: &[&str],
    nonce: Option<&str>,
) -> http::request::Parts {
    let mut headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    headers.push(("Host".into(), "api.example.com".into()));
    if !body.is_empty() {
        headers.push(("Content-Length".into(), body.len().to_string()));
        headers.push(("Content-Digest".into(), content_digest(body)));
    }
    let mut p = parts(method, target, &headers);
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    let (input, signature) =
        sign(&p, "https", components, "app-1", &key, 1_700_000_000, nonce).unwrap();
    p.headers.insert("signature-input", input.parse().unwrap());
    p.headers.insert("signature", signature.parse().unwrap());
    p
}

/// `GET /a` covering the three components the default policy requires, no nonce.
fn signed_get() -> http::request::Parts {
    signed(
        "GET",
        "/a",
        &[],
        b"",
        &["\"@method\"", "\"@authority\"", "\"@path\""],
        None,
    )
}

fn header_text(p: &http::request::Parts, name: &str) -> String {
    p.headers.get(name).unwrap().to_str().unwrap().to_owned()
}

#[test]
fn round_trips_under_the_default_policy_and_body_tampering_is_refused() {
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    let all = [
        "\"@method\"",
        "\"@authority\"",
        "\"@path\"",
        "\"@query\"",
        "\"@scheme\"",
        "\"@target-uri\"",
        "\"@request-target\"",
        "\"content-digest\"",
        "\"content-type\"",
    ];
    let body = br#"{"hello":"world"}"#;
    let p = signed(
        "POST",
        "/orders?id=1&x=a%20b",
        &[("Content-Type", "application/json")],
        body,
        &all,
        Some("n-1"),
    );
    let creds = Rfc9421::new().parse(&p, 8192).unwrap();
    assert_eq!(tower_hmac_core::Credentials::nonce(&creds), "n-1");
    let base = check(&Rfc9421::new(), &p, body, &key).unwrap();
    assert!(base.contains("\"@target-uri\": https://api.example.com/orders?id=1&x=a%20b\n"));
    assert!(base.contains("\"@request-target\": /orders?id=1&x=a%20b\n"));
    let err = check(&Rfc9421::new(), &p, b"{\"hello\":\"World\"}", &key).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::InvalidSignature);
    assert!(err.detail().unwrap().contains("content-digest"));
    // Method, path and query tampered.
    for (method, target) in [
        ("PUT", "/orders?id=1&x=a%20b"),
        ("POST", "/orders2?id=1&x=a%20b"),
        ("POST", "/orders?id=2&x=a%20b"),
    ] {
        let mut q = parts(method, target, &[]);
        q.headers = p.headers.clone();
        let err = check(&Rfc9421::new(), &q, body, &key).unwrap_err();
        assert_eq!(
            err.kind(),
            RejectionKind::InvalidSignature,
            "{method} {target}"
        );
    }
    // A GET without a query or body needs only @method, @authority, @path; no nonce: the MAC
    // that verified is the replay key.
    let p = signed(
        "GET",
        "/whoami",
        &[],
        b"",
        &["\"@method\"", "\"@authority\"", "\"@path\""],
        None,
    );
    check(&Rfc9421::new(), &p, b"", &key).unwrap();
    let creds = Rfc9421::new().parse(&p, 8192).unwrap();
    assert_eq!(tower_hmac_core::Credentials::nonce(&creds), "");
    // A body sent without being declared is still refused when content-digest is not covered.
    let err = check(&Rfc9421::new(), &p, b"surprise", &key).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MissingCoveredComponent);
}

#[test]
fn malformed_inputs_are_refused_with_a_code() {
    let base = signed_get();
    let sig = header_text(&base, "signature");
    let input = header_text(&base, "signature-input");
    let cases: Vec<(String, String)> = vec![
        (format!("{input}, {input}"), sig.clone()),
        (input.replace("sig1=", "sig1=, sig1="), sig.clone()),
        (
            format!("{input}, sig2=(\"@method\");created=1;keyid=\"a\""),
            sig.clone(),
        ),
        (
            input.replace("alg=\"hmac-sha256\"", "alg=\"rsa-pss-sha512\""),
            sig.clone(),
        ),
        (input.replace(";created=1700000000", ""), sig.clone()),
        (input.replace(";keyid=\"app-1\"", ""), sig.clone()),
        (
            input.replace("keyid=\"app-1\"", "keyid=\"a b\""),
            sig.clone(),
        ),
        (input.replace("keyid=\"app-1\"", "keyid=app1"), sig.clone()),
        (format!("{input};foo=1"), sig.clone()),
        // A signature parameter given twice, even with the same value (RFC 8941 would keep the
        // last; a strict parser refuses it).
        (format!("{input};created=1700000000"), sig.clone()),
        (format!("{input};keyid=\"app-1\""), sig.clone()),
        (input.replace("\"@method\"", "\"@Method\""), sig.clone()),
        (input.replace("\"@path\"", "\"@method\""), sig.clone()),
        (input.replace("\"@path\"", "\"@path\";bs"), sig.clone()),
        (
            input.replace("created=1700000000", "created=-1"),
            sig.clone(),
        ),
        (
            input.replace("created=1700000000", "created=1.5"),
            sig.clone(),
        ),
        (format!("{input};expires=1"), sig.clone()),
        (input.replace("sig1=(", "sig1=\"") + "\"", sig.clone()),
        ("garbage(".into(), sig.clone()),
        (input.clone(), sig.replace("sig1", "other")),
        (input.clone(), "sig1=:AAAA:".into()),
        (input.clone(), format!("{sig};x=1")),
        (input.clone(), "sig1=\"text\"".into()),
        (input.replace("\"@path\"", "\"@status\""), sig.clone()),
    ];
    for (input, signature) in cases {
        let mut p = base.clone();
        p.headers.insert("signature-input", input.parse().unwrap());
        p.headers.insert("signature", signature.parse().unwrap());
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        let scheme = Rfc9421::new();
        let err = scheme
            .parse(&p, 8192)
            .and_then(|c| scheme.prepare(&c, &p, &key).map(|_| ()))
            .unwrap_err();
        assert_eq!(
            err.kind(),
            RejectionKind::MalformedAuthorization,
            "{input} / {signature}"
        );
    }
    // Two Signature-Input fields; an over-long one.
    let mut p = base.clone();
    p.headers.append("signature-input", input.parse().unwrap());
    assert_eq!(
        Rfc9421::new().parse(&p, 8192).unwrap_err().kind(),
        RejectionKind::MalformedAuthorization
    );
    assert_eq!(
        Rfc9421::new().parse(&base, 16).unwrap_err().kind(),
        RejectionKind::MalformedAuthorization
    );
    // A repeated query parameter cannot be covered alone.
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    let mut p = parts("GET", "/a?x=1&x=2", &[("Host".into(), "h".into())]);
    assert!(matches!(
        sign(
            &p,
            "https",
            &["\"@query-param\";name=\"x\""],
            "k",
            &key,
            1,
            None
        ),
        Err(SignError::InvalidComponent { .. })
    ));
    p.headers.insert(
        "signature-input",
        "sig1=(\"@query-param\";name=\"x\");created=1;keyid=\"k\""
            .parse()
            .unwrap(),
    );
    p.headers.insert(
        "signature",
        format!("sig1=:{}:", "A".repeat(43) + "=").parse().unwrap(),
    );
    let scheme = Rfc9421::new().required_components(&[]).require_query(false);
    let creds = scheme.parse(&p, 8192).unwrap();
    assert_eq!(
        scheme.prepare(&creds, &p, &key).unwrap_err().kind(),
        RejectionKind::MalformedAuthorization
    );
}

#[test]
fn a_label_and_a_tag_can_be_required() {
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    let p = signed_get();
    check(&Rfc9421::new().label("sig1"), &p, b"", &key).unwrap();
    assert_eq!(
        check(&Rfc9421::new().label("other"), &p, b"", &key)
            .unwrap_err()
            .kind(),
        RejectionKind::MalformedAuthorization
    );
    assert_eq!(
        check(&Rfc9421::new().tag("app"), &p, b"", &key)
            .unwrap_err()
            .kind(),
        RejectionKind::MalformedAuthorization
    );
}

#[derive(Deserialize)]
struct Worked {
    key_id: String,
    key_base64: String,
    created: u64,
    examples: Vec<Example>,
}

#[derive(Deserialize)]
struct Example {
    name: String,
    host: String,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

#[test]
fn worked_examples_signed_by_http_message_signatures_verify_under_the_defaults() {
    #[derive(Deserialize)]
    struct WithWorked {
        worked: Worked,
    }
    let w: WithWorked = serde_json::from_str(include_str!("../../testdata/rfc9421.json")).unwrap();
    let w = w.worked;
    let key = SecretKey::from_base64(&w.key_base64).unwrap();
    for e in &w.examples {
        let mut headers = e.headers.clone();
        headers.push(("Host".into(), e.host.clone()));
        let p = parts(&e.method, &e.target, &headers);
        let creds = Rfc9421::new().parse(&p, 8192).unwrap();
        assert_eq!(tower_hmac_core::Credentials::key_id(&creds), w.key_id);
        assert_eq!(
            tower_hmac_core::Credentials::freshness(&creds).signed_at(),
            Some(w.created)
        );
        let base = check(&Rfc9421::new(), &p, e.body.as_bytes(), &key)
            .unwrap_or_else(|r| panic!("{}: {r:?}", e.name));
        assert!(
            base.contains(&format!(
                "keyid=\"{}\";alg=\"hmac-sha256\";nonce=",
                w.key_id
            )),
            "{base}"
        );
        // Any change to the body is refused.
        if !e.body.is_empty() {
            let err =
                check(&Rfc9421::new(), &p, format!("{} ", e.body).as_bytes(), &key).unwrap_err();
            assert_eq!(err.kind(), RejectionKind::InvalidSignature, "{}", e.name);
        }
    }
}

#[test]
fn a_clients_expires_cannot_lengthen_the_validity() {
    let p = signed_get();
    let input = header_text(&p, "signature-input");
    let signature = p.headers.get("signature").unwrap().clone();
    for (expires, max, want) in [
        (1_800_000_000_u64, None, 1_700_000_300_u64),
        (1_700_000_010, None, 1_700_000_010),
        (1_800_000_000, Some(60), 1_700_000_060),
    ] {
        let mut q = p.clone();
        q.headers.insert(
            "signature-input",
            format!("{input};expires={expires}").parse().unwrap(),
        );
        q.headers.insert("signature", signature.clone());
        let scheme = match max {
            Some(secs) => Rfc9421::new().max_validity(std::time::Duration::from_secs(secs)),
            None => Rfc9421::new(),
        };
        let creds = scheme.parse(&q, 8192).unwrap();
        assert!(
            matches!(
                tower_hmac_core::Credentials::freshness(&creds),
                tower_hmac_core::Freshness::Until { until, .. } if until == want
            ),
            "{:?}",
            tower_hmac_core::Credentials::freshness(&creds)
        );
    }
}

#[test]
fn at_most_sixteen_members_per_dictionary() {
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    let p = signed_get();
    let input = header_text(&p, "signature-input");
    let scheme = Rfc9421::new().label("sig1");
    let with_others = |others: usize| {
        let mut q = p.clone();
        let members: Vec<String> = (0..others).map(|i| format!("l{i}=()")).collect();
        let value = format!("{}, {input}", members.join(", "));
        q.headers.insert("signature-input", value.parse().unwrap());
        q
    };
    // 15 others and sig1: verified.
    check(&scheme, &with_others(15), b"", &key).unwrap();
    // 16 others and sig1: refused before any is looked at.
    let err = scheme.parse(&with_others(16), 8192).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MalformedAuthorization);
    assert!(err.detail().unwrap().contains("at most 16"), "{err:?}");
}
