//! softaware's `Hmac` scheme against known answers from an independent implementation of the
//! published algorithm (`scripts/gen-softaware-vectors.py`, Python's standard library only).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tower_hmac_core::softaware::{Softaware, authorization};
use tower_hmac_core::{RejectionKind, Scheme, SecretKey};

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    key_base64: String,
    method: String,
    scheme: String,
    host: String,
    target: String,
    body_base64: String,
    legacy: bool,
    authorization: String,
}

fn load() -> Vec<Vector> {
    let file: File = serde_json::from_str(include_str!("../testdata/softaware.json")).unwrap();
    file.vectors
}

fn parts(v: &Vector, method: &str, target: &str, authorization: &str) -> http::request::Parts {
    http::Request::builder()
        .method(method)
        .uri(target)
        .header("host", &v.host)
        .header("authorization", authorization)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn scheme(v: &Vector) -> Softaware {
    let scheme = Softaware::new().uri_scheme(if v.scheme == "http" { "http" } else { "https" });
    if v.legacy {
        scheme.allow_legacy()
    } else {
        scheme
    }
}

/// Parses, digests the body in two chunks, verifies.
fn check(
    scheme: &Softaware,
    v: &Vector,
    method: &str,
    target: &str,
    body: &[u8],
) -> Result<(), RejectionKind> {
    let key = SecretKey::from_base64(&v.key_base64).unwrap();
    let p = parts(v, method, target, &v.authorization);
    let creds = scheme.parse(&p, 4096).map_err(|r| r.kind())?;
    let mut pending = scheme.prepare(&creds, &p, &key).map_err(|r| r.kind())?;
    scheme.update(&mut pending, &body[..body.len() / 2]);
    scheme.update(&mut pending, &body[body.len() / 2..]);
    scheme.verify(&creds, pending, &key).map_err(|r| r.kind())
}

#[test]
fn every_vector_verifies() {
    for v in load() {
        let body = STANDARD.decode(&v.body_base64).unwrap();
        assert_eq!(
            check(&scheme(&v), &v, &v.method, &v.target, &body),
            Ok(()),
            "{}",
            v.name
        );
    }
}

#[test]
fn tampering_with_any_covered_part_is_refused() {
    for v in load() {
        let body = STANDARD.decode(&v.body_base64).unwrap();
        let s = scheme(&v);
        let other_method = if v.method == "GET" { "DELETE" } else { "GET" };
        let mut more = body.clone();
        more.push(b'!');
        for (what, result) in [
            ("method", check(&s, &v, other_method, &v.target, &body)),
            (
                "path",
                check(&s, &v, &v.method, &format!("{}x", v.target), &body),
            ),
            ("body", check(&s, &v, &v.method, &v.target, &more)),
        ] {
            assert_eq!(
                result,
                Err(RejectionKind::InvalidSignature),
                "{}: {what}",
                v.name
            );
        }
        // The host, the nonce and the time, each changed.
        let key = SecretKey::from_base64(&v.key_base64).unwrap();
        let (scheme_token, fields) = v.authorization.split_once(' ').unwrap();
        let fields: Vec<&str> = fields.split(':').collect();
        let n = fields.len();
        let with_field = |i: usize, value: &str| {
            let mut f = fields.clone();
            f[i] = value;
            format!("{scheme_token} {}", f.join(":"))
        };
        let ts = fields[n - 1].parse::<u64>().unwrap() + 1;
        for (what, host, authorization) in [
            ("host", format!("x{}", v.host), v.authorization.clone()),
            ("nonce", v.host.clone(), with_field(n - 2, "othernonce")),
            ("time", v.host.clone(), with_field(n - 1, &ts.to_string())),
        ] {
            let mut p = parts(&v, &v.method, &v.target, &authorization);
            p.headers.insert("host", host.parse().unwrap());
            let creds = s.parse(&p, 4096).unwrap();
            let mut pending = s.prepare(&creds, &p, &key).unwrap();
            s.update(&mut pending, &body);
            assert_eq!(
                s.verify(&creds, pending, &key).map_err(|r| r.kind()),
                Err(RejectionKind::InvalidSignature),
                "{}: {what}",
                v.name
            );
        }
        // The other URI scheme is another signed URI.
        let other = Softaware::new().uri_scheme(if v.scheme == "http" { "https" } else { "http" });
        let other = if v.legacy {
            other.allow_legacy()
        } else {
            other
        };
        assert_eq!(
            check(&other, &v, &v.method, &v.target, &body),
            Err(RejectionKind::InvalidSignature),
            "{}: scheme",
            v.name
        );
    }
}

#[test]
fn legacy_forms_are_refused_unless_allowed() {
    for v in load().into_iter().filter(|v| v.legacy) {
        let body = STANDARD.decode(&v.body_base64).unwrap();
        assert_eq!(
            check(&Softaware::new(), &v, &v.method, &v.target, &body),
            Err(RejectionKind::MalformedAuthorization)
        );
    }
    let v = &load()[0];
    for legacy in [
        v.authorization
            .replace("HMACSHA256:SHA256", "HMACSHA256:MD5"),
        v.authorization
            .replace("HMACSHA256:SHA256", "HMACSHA1:SHA256"),
        v.authorization.replace("HMACSHA256:SHA256", "HMACMD5:SHA1"),
    ] {
        let p = parts(v, &v.method, &v.target, &legacy);
        let err = Softaware::new().parse(&p, 4096).unwrap_err();
        assert_eq!(
            err.kind(),
            RejectionKind::MalformedAuthorization,
            "{legacy}"
        );
    }
}

#[test]
fn malformed_headers_are_401_not_500() {
    let v = &load()[0];
    for bad in [
        "Hmac",
        "Hmac a:b",
        "Hmac HMACSHA256:SHA256:app:!!!:nonce:1700000000",
        "Hmac HMACSHA999:SHA256:app:AAAA:nonce:1700000000",
        "Hmac HMACSHA256:SHA256:app id:AAAA:nonce:1700000000",
        "Hmac HMACSHA256:SHA256:app:AAAA:nonce:01700000000",
        "Hmac HMACSHA256:SHA256:app:AAAA:n o:1700000000",
    ] {
        let p = parts(v, "GET", "/", bad);
        let err = Softaware::new().parse(&p, 4096).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{bad}");
    }
}

#[test]
fn this_projects_signer_reproduces_the_handlers_headers() {
    for v in load()
        .into_iter()
        .filter(|v| !v.legacy && v.authorization.starts_with("Hmac HMACSHA256:SHA256:"))
    {
        let key = SecretKey::from_base64(&v.key_base64).unwrap();
        let fields: Vec<&str> = v.authorization.split(':').collect();
        let (app_id, nonce, ts) = (fields[2], fields[4], fields[5].parse().unwrap());
        let body = STANDARD.decode(&v.body_base64).unwrap();
        let absolute = format!("{}://{}{}", v.scheme, v.host, v.target);
        assert_eq!(
            authorization(app_id, &key, &v.method, &absolute, &body, nonce, ts),
            v.authorization,
            "{}",
            v.name
        );
    }
}
