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

// ---- `@target-uri` (issue 31) ----

#[derive(Deserialize)]
struct TargetUriVectors {
    key_base64: String,
    examples: Vec<TargetUriExample>,
}

#[derive(Deserialize)]
struct TargetUriExample {
    name: String,
    scheme: String,
    host: String,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
    signature_base: String,
}

fn target_uri_vectors() -> TargetUriVectors {
    #[derive(Deserialize)]
    struct WithTargetUri {
        target_uri: TargetUriVectors,
    }
    let w: WithTargetUri =
        serde_json::from_str(include_str!("../../testdata/rfc9421.json")).unwrap();
    w.target_uri
}

fn uri_scheme(name: &str) -> tower_hmac_core::UriScheme {
    match name {
        "https" => tower_hmac_core::UriScheme::Https,
        _ => tower_hmac_core::UriScheme::Http,
    }
}

#[test]
fn the_librarys_default_signature_verifies_under_the_default_policy() {
    // `http-message-signatures`' defaults, unmodified: ("@method" "@authority" "@target-uri"),
    // plus `content-digest` for a body. Before issue 31 each was `missing_covered_component`
    // naming `@path`; the explicit default ports did not match either.
    let v = target_uri_vectors();
    let key = SecretKey::from_base64(&v.key_base64).unwrap();
    assert!(v.examples.len() >= 5);
    for e in &v.examples {
        let mut headers = e.headers.clone();
        headers.push(("Host".into(), e.host.clone()));
        let p = parts(&e.method, &e.target, &headers);
        let scheme = Rfc9421::new().uri_scheme(uri_scheme(&e.scheme));
        let base = check(&scheme, &p, e.body.as_bytes(), &key)
            .unwrap_or_else(|r| panic!("{}: {r:?} {:?}", e.name, r.detail()));
        // The server's base is the library's, but for a default port the library spelled.
        let theirs = e
            .signature_base
            .replacen(".com:443/", ".com/", 1)
            .replacen(".com:80/", ".com/", 1);
        assert_eq!(base, theirs, "{}", e.name);
        // Under the other URI scheme the same request is refused, the detail saying which
        // scheme the server took.
        let other = if e.scheme == "https" { "http" } else { "https" };
        let err = check(
            &Rfc9421::new().uri_scheme(uri_scheme(other)),
            &p,
            e.body.as_bytes(),
            &key,
        )
        .unwrap_err();
        assert_eq!(err.kind(), RejectionKind::InvalidSignature, "{}", e.name);
        let detail = err.detail().unwrap();
        assert!(detail.contains("@target-uri"), "{detail}");
        assert!(detail.contains(&format!("{other}://")), "{detail}");
        // Another path or query than the one signed.
        let target = format!("{}x", e.target);
        let q = parts(&e.method, &target, &headers);
        let err = check(&scheme, &q, e.body.as_bytes(), &key).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::InvalidSignature, "{}", e.name);
    }
}

/// Signs a client-chosen `@target-uri` value (as a client that derives it otherwise would):
/// `Signature-Input` covering `"@method" "@target-uri"` and the HMAC of that base.
fn with_target_uri(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    signed_uri: &str,
) -> http::request::Parts {
    use hmac::{KeyInit, Mac};
    let params =
        "(\"@method\" \"@target-uri\");created=1700000000;keyid=\"app-1\";alg=\"hmac-sha256\"";
    let base = format!(
        "\"@method\": {method}\n\"@target-uri\": {signed_uri}\n\"@signature-params\": {params}"
    );
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.expose_secret()).unwrap();
    mac.update(base.as_bytes());
    let signature = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mac.finalize().into_bytes(),
    );
    let mut headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    headers.push(("Signature-Input".into(), format!("sig1={params}")));
    headers.push(("Signature".into(), format!("sig1=:{signature}:")));
    parts(method, target, &headers)
}

#[test]
fn a_target_uri_is_compared_as_the_server_derives_it() {
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    let target = "/orders?id=7&note=a%20b";
    let host = [("Host", "api.example.com")];
    let https = Rfc9421::new();
    let http = Rfc9421::new().uri_scheme(tower_hmac_core::UriScheme::Http);
    let accepted = [
        (&https, "https://api.example.com/orders?id=7&note=a%20b"),
        (&https, "https://api.example.com:443/orders?id=7&note=a%20b"),
        (&http, "http://api.example.com/orders?id=7&note=a%20b"),
        (&http, "http://api.example.com:80/orders?id=7&note=a%20b"),
    ];
    for (scheme, signed) in accepted {
        let p = with_target_uri("GET", target, &host, signed);
        let base = check(scheme, &p, b"", &key)
            .unwrap_or_else(|r| panic!("{signed}: {r:?} {:?}", r.detail()));
        // The base the server keeps (and diagnoses with) spells no default port.
        assert!(
            base.contains("\"@target-uri\": http")
                && !base.contains(":443")
                && !base.contains(":80"),
            "{base}"
        );
    }
    let refused = [
        // Scheme: not the server's, or another spelling.
        (&https, "http://api.example.com/orders?id=7&note=a%20b"),
        (&http, "https://api.example.com/orders?id=7&note=a%20b"),
        (&https, "HTTPS://api.example.com/orders?id=7&note=a%20b"),
        // Authority: another host, port, the other scheme's default port, a default port
        // spelled otherwise than `:443`/`:80`, an empty port, userinfo, another case.
        (&https, "https://api.example.org/orders?id=7&note=a%20b"),
        (
            &https,
            "https://api.example.com:8443/orders?id=7&note=a%20b",
        ),
        (&https, "https://api.example.com:80/orders?id=7&note=a%20b"),
        (&http, "http://api.example.com:443/orders?id=7&note=a%20b"),
        (
            &https,
            "https://api.example.com:0443/orders?id=7&note=a%20b",
        ),
        (&https, "https://api.example.com:/orders?id=7&note=a%20b"),
        (
            &https,
            "https://user@api.example.com/orders?id=7&note=a%20b",
        ),
        (
            &https,
            "https://user@api.example.com:443/orders?id=7&note=a%20b",
        ),
        (&https, "https://API.example.com/orders?id=7&note=a%20b"),
        (&https, "https://api.example.com./orders?id=7&note=a%20b"),
        // Path and query, byte for byte: no percent-decoding, no case folding of escapes.
        (&https, "https://api.example.com/Orders?id=7&note=a%20b"),
        (&https, "https://api.example.com/%6Frders?id=7&note=a%20b"),
        (&https, "https://api.example.com/orders/?id=7&note=a%20b"),
        (&https, "https://api.example.com/orders?id=8&note=a%20b"),
        (&https, "https://api.example.com/orders?id=7&note=a+b"),
        (&https, "https://api.example.com/orders?id=7&note=a%20B"),
        (&https, "https://api.example.com/orders?note=a%20b&id=7"),
        (&https, "https://api.example.com/orders"),
        (&https, "https://api.example.com/orders?"),
        // A fragment is never part of a request's target URI.
        (&https, "https://api.example.com/orders?id=7&note=a%20b#top"),
    ];
    for (scheme, signed) in refused {
        let p = with_target_uri("GET", target, &host, signed);
        let err = check(scheme, &p, b"", &key).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::InvalidSignature, "{signed}");
        assert_eq!(err.code(), "invalid_signature");
        assert!(err.detail().unwrap().contains("@target-uri"), "{signed}");
    }
}

#[test]
fn the_host_header_may_spell_the_default_port_and_other_ports_must_match() {
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    let scheme = Rfc9421::new();
    for (host, signed, ok) in [
        ("api.example.com:443", "https://api.example.com/a", true),
        ("api.example.com:443", "https://api.example.com:443/a", true),
        (
            "api.example.com:8443",
            "https://api.example.com:8443/a",
            true,
        ),
        ("api.example.com:8443", "https://api.example.com/a", false),
        (
            "api.example.com:8443",
            "https://api.example.com:8443:443/a",
            false,
        ),
        ("[2001:db8::1]", "https://[2001:db8::1]/a", true),
        ("[2001:db8::1]", "https://[2001:db8::1]:443/a", true),
        ("[2001:db8::1]:8443", "https://[2001:db8::1]:8443/a", true),
        (
            "[2001:db8::1]:8443",
            "https://[2001:db8::1]:8443:443/a",
            false,
        ),
    ] {
        let p = with_target_uri("GET", "/a", &[("Host", host)], signed);
        let got = check(&scheme, &p, b"", &key);
        assert_eq!(got.is_ok(), ok, "{host} {signed}: {got:?}");
    }
    // No `Host`: the target's authority (HTTP/2's `:authority`, an absolute-form target).
    let p = with_target_uri(
        "GET",
        "https://api.example.com/a",
        &[],
        "https://api.example.com:443/a",
    );
    check(&scheme, &p, b"", &key).unwrap();
}

#[test]
fn the_scheme_is_the_configured_one_or_a_trusted_x_forwarded_proto() {
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    let proxied = [("Host", "api.example.com"), ("X-Forwarded-Proto", "https")];
    let http = tower_hmac_core::UriScheme::Http;
    let trusting = Rfc9421::new().uri_scheme(http).trust_forwarded_proto(true);
    let not_trusting = Rfc9421::new().uri_scheme(http);
    let to_https = with_target_uri("GET", "/a", &proxied, "https://api.example.com:443/a");
    let to_http = with_target_uri("GET", "/a", &proxied, "http://api.example.com/a");
    check(&trusting, &to_https, b"", &key).unwrap();
    assert_eq!(
        check(&trusting, &to_http, b"", &key).unwrap_err().kind(),
        RejectionKind::InvalidSignature
    );
    // The header is not believed unless the server says so: the configured scheme.
    check(&not_trusting, &to_http, b"", &key).unwrap();
    let err = check(&not_trusting, &to_https, b"", &key).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::InvalidSignature);
    assert!(err.detail().unwrap().contains("http://<host"), "{err:?}");
    // The request's own URI scheme (an absolute-form target) is not the scheme either.
    let p = with_target_uri(
        "GET",
        "https://api.example.com/a",
        &[],
        "https://api.example.com/a",
    );
    assert_eq!(
        check(&not_trusting, &p, b"", &key).unwrap_err().kind(),
        RejectionKind::InvalidSignature
    );
}

#[test]
fn target_uri_stands_for_the_components_it_holds_and_no_others() {
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    // `@method` + `@target-uri` satisfy the defaults (`@authority`, `@path`, `@query` for a
    // query) and a policy naming `@scheme` and `@request-target`.
    let get = signed(
        "GET",
        "/orders?id=7",
        &[],
        b"",
        &["\"@method\"", "\"@target-uri\""],
        None,
    );
    check(&Rfc9421::new(), &get, b"", &key).unwrap();
    let all = Rfc9421::new().required_components(&[
        "@method",
        "@scheme",
        "@authority",
        "@path",
        "@query",
        "@request-target",
    ]);
    check(&all, &get, b"", &key).unwrap();
    // Not `@method`, not a header, not the body.
    let only_uri = signed("GET", "/orders", &[], b"", &["\"@target-uri\""], None);
    let err = check(&Rfc9421::new(), &only_uri, b"", &key).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MissingCoveredComponent);
    assert!(err.detail().unwrap().contains("@method"), "{err:?}");
    let err = check(
        &Rfc9421::new().required_components(&["@method", "x-tenant"]),
        &get,
        b"",
        &key,
    )
    .unwrap_err();
    assert!(err.detail().unwrap().contains("x-tenant"), "{err:?}");
    let body = br#"{"n":1}"#;
    let post = signed(
        "POST",
        "/orders",
        &[],
        body,
        &["\"@method\"", "\"@target-uri\""],
        None,
    );
    let err = check(&Rfc9421::new(), &post, body, &key).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MissingCoveredComponent);
    assert!(err.detail().unwrap().contains("content-digest"), "{err:?}");
    // A `@target-uri` that does not match is refused whatever it stands for.
    let mut moved = parts(
        "GET",
        "/orders?id=8",
        &[("Host".into(), "api.example.com".into())],
    );
    moved
        .headers
        .insert("signature-input", get.headers["signature-input"].clone());
    moved
        .headers
        .insert("signature", get.headers["signature"].clone());
    let err = check(&Rfc9421::new(), &moved, b"", &key).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::InvalidSignature);
}

#[test]
fn an_authority_with_userinfo_is_refused() {
    let key = SecretKey::from_bytes(&[7; 32]).unwrap();
    let p = with_target_uri(
        "GET",
        "https://user@api.example.com/a",
        &[],
        "https://api.example.com/a",
    );
    let scheme = Rfc9421::new().required_components(&[]);
    let creds = scheme.parse(&p, 8192).unwrap();
    let err = scheme.prepare(&creds, &p, &key).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MalformedAuthorization);
    assert!(err.detail().unwrap().contains("userinfo"), "{err:?}");
    let p = with_target_uri(
        "GET",
        "/a",
        &[("Host", "user@api.example.com")],
        "https://api.example.com/a",
    );
    let creds = scheme.parse(&p, 8192).unwrap();
    let err = scheme.prepare(&creds, &p, &key).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MalformedAuthorization);
}
