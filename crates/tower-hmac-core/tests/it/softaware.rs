//! softaware's `Hmac` scheme against known answers from an independent implementation of the
//! published algorithm (`scripts/gen-softaware-vectors.py`, Python's standard library only).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tower_hmac_core::softaware::{
    BodyHash, NonceSyntax, Softaware, authorization, authorization_with, generate_nonce,
};
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
    let file: File = serde_json::from_str(include_str!("../../testdata/softaware.json")).unwrap();
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
    let scheme = Softaware::new().uri_scheme(if v.scheme == "http" {
        tower_hmac_core::UriScheme::Http
    } else {
        tower_hmac_core::UriScheme::Https
    });
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
    scheme
        .verify(&creds, pending, &key)
        .map(|_| ())
        .map_err(|r| r.kind())
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
            (
                "nonce",
                v.host.clone(),
                with_field(n - 2, "0123456789abcdef0123456789abcdef"),
            ),
            ("time", v.host.clone(), with_field(n - 1, &ts.to_string())),
        ] {
            let mut p = parts(&v, &v.method, &v.target, &authorization);
            p.headers.insert("host", host.parse().unwrap());
            let creds = s.parse(&p, 4096).unwrap();
            let mut pending = s.prepare(&creds, &p, &key).unwrap();
            s.update(&mut pending, &body);
            assert_eq!(
                s.verify(&creds, pending, &key)
                    .map(|_| ())
                    .map_err(|r| r.kind()),
                Err(RejectionKind::InvalidSignature),
                "{}: {what}",
                v.name
            );
        }
        // The other URI scheme is another signed URI.
        let other = Softaware::new().uri_scheme(if v.scheme == "http" {
            tower_hmac_core::UriScheme::Https
        } else {
            tower_hmac_core::UriScheme::Http
        });
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
        // The nonce is a GUID in .NET's "N" format, the time 10 digits.
        "Hmac HMACSHA256:SHA256:app:AAAA:nonce:1700000000",
        "Hmac HMACSHA256:SHA256:app:AAAA:9B2F6A3C1D4E4F5A8B7C6D5E4F3A2B1C:1700000000",
        "Hmac HMACSHA256:SHA256:app:AAAA:9b2f6a3c-1d4e-4f5a-8b7c-6d5e4f3a2b1c:1700000000",
        "Hmac HMACSHA256:SHA256:app:AAAA:9b2f6a3c1d4e4f5a8b7c6d5e4f3a2b1:1700000000",
        "Hmac HMACSHA256:SHA256:app:AAAA:9b2f6a3c1d4e4f5a8b7c6d5e4f3a2b1c0:1700000000",
        "Hmac HMACSHA256:SHA256:app:AAAA:9b2f6a3c1d4e4f5a8b7c6d5e4f3a2b1c:170000000",
        "Hmac HMACSHA256:SHA256:app:AAAA:9b2f6a3c1d4e4f5a8b7c6d5e4f3a2b1c:17000000000",
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

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const NONCE: &str = "9b2f6a3c1d4e4f5a8b7c6d5e4f3a2b1c";
const TS: u64 = 1_700_000_000;

/// Parses a request to `https://api.example.com{target}` with this `Authorization`, digests the
/// body, verifies.
fn verify_request(
    scheme: &Softaware,
    method: &str,
    target: &str,
    authorization: &str,
    body: &[u8],
) -> Result<(), RejectionKind> {
    let key = SecretKey::from_base64(KEY).unwrap();
    let p = http::Request::builder()
        .method(method)
        .uri(target)
        .header("host", "api.example.com")
        .header("authorization", authorization)
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let creds = scheme.parse(&p, 4096).map_err(|r| r.kind())?;
    let mut pending = scheme.prepare(&creds, &p, &key).map_err(|r| r.kind())?;
    scheme.update(&mut pending, body);
    scheme
        .verify(&creds, pending, &key)
        .map(|_| ())
        .map_err(|r| r.kind())
}

/// The first of a run of JSON bodies whose SHA-384 Base64 has no `+` or `/`, so that it could be
/// the end of a nonce of the old syntax (about one body in eight).
fn body_whose_sha384_looks_like_a_nonce() -> (Vec<u8>, String) {
    (0..1000)
        .map(|i| format!(r#"{{"amount":{i},"currency":"EUR"}}"#).into_bytes())
        .map(|body| {
            use sha2::Digest as _;
            let hash = STANDARD.encode(sha2::Sha384::digest(&body));
            (body, hash)
        })
        .find(|(_, hash)| !hash.contains(['+', '/']))
        .unwrap()
}

#[test]
fn a_post_does_not_replay_with_its_body_hash_moved_into_the_nonce() {
    // The red team's replay (issue 24, item 4): a captured SHA384 POST, resent with no body and
    // the nonce followed by the body's hash, signed the same string and was a fresh nonce.
    let key = SecretKey::from_base64(KEY).unwrap();
    let (body, hash) = body_whose_sha384_looks_like_a_nonce();
    let signed = |nonce: &str| {
        authorization_with(
            "app",
            &key,
            "POST",
            "https://api.example.com/payments",
            &body,
            nonce,
            TS,
            BodyHash::Sha384,
        )
    };
    let captured = signed(NONCE);
    let moved = captured.replace(NONCE, &format!("{NONCE}{hash}"));
    for scheme in [
        Softaware::new(),
        Softaware::new().nonce_syntax(NonceSyntax::Legacy),
        Softaware::new().allow_legacy(),
    ] {
        assert_eq!(
            verify_request(&scheme, "POST", "/payments", &captured, &body),
            Ok(()),
            "{scheme:?}"
        );
        assert_eq!(
            verify_request(&scheme, "POST", "/payments", &moved, b""),
            Err(RejectionKind::MalformedAuthorization),
            "{scheme:?}"
        );
    }
    // The old syntax's nonce, legal on its own, still cannot carry a whole SHA384 hash: a legacy
    // client's 22-character nonce with the 64-character hash after it is too long.
    let legacy_nonce = "bG9uZ2VyLW5vbmNlLTIy_x";
    let captured = signed(legacy_nonce);
    let moved = captured.replace(legacy_nonce, &format!("{legacy_nonce}{hash}"));
    let wider = Softaware::new().nonce_syntax(NonceSyntax::Legacy);
    assert_eq!(
        verify_request(&wider, "POST", "/payments", &captured, &body),
        Ok(())
    );
    assert_eq!(
        verify_request(&wider, "POST", "/payments", &moved, b""),
        Err(RejectionKind::MalformedAuthorization)
    );
}

#[test]
fn digits_do_not_move_between_the_path_and_the_time() {
    // `/items/42` at 1700000000 and `/items/4` at 21700000000 sign the same string; the time is
    // 10 digits, so the second is not a request.
    let key = SecretKey::from_base64(KEY).unwrap();
    let captured = authorization(
        "app",
        &key,
        "GET",
        "https://api.example.com/items/42",
        b"",
        NONCE,
        TS,
    );
    let moved = captured.replace(&format!(":{TS}"), &format!(":2{TS}"));
    for scheme in [
        Softaware::new(),
        Softaware::new().nonce_syntax(NonceSyntax::Legacy),
    ] {
        assert_eq!(
            verify_request(&scheme, "GET", "/items/42", &captured, b""),
            Ok(())
        );
        assert_eq!(
            verify_request(&scheme, "GET", "/items/4", &moved, b""),
            Err(RejectionKind::MalformedAuthorization)
        );
    }
}

#[test]
fn nonces_other_than_lower_case_guids_need_the_legacy_syntax() {
    let key = SecretKey::from_base64(KEY).unwrap();
    let wider = Softaware::new().nonce_syntax(NonceSyntax::Legacy);
    for nonce in [
        "9B2F6A3C1D4E4F5A8B7C6D5E4F3A2B1C",
        "9b2f6a3c-1d4e-4f5a-8b7c-6d5e4f3a2b1c",
        "q83vEjRWeJASNFZ4kBI0Vg",
        "9b2f6a3c1d4e4f5a8b7c6d5e4f3a2b1",
        "9b2f6a3c1d4e4f5a8b7c6d5e4f3a2b1c0",
        "n",
        &"a".repeat(54),
    ] {
        let auth = authorization(
            "app",
            &key,
            "GET",
            "https://api.example.com/orders",
            b"",
            nonce,
            TS,
        );
        assert_eq!(
            verify_request(&Softaware::new(), "GET", "/orders", &auth, b""),
            Err(RejectionKind::MalformedAuthorization),
            "{nonce}"
        );
        assert_eq!(
            verify_request(&wider, "GET", "/orders", &auth, b""),
            Ok(()),
            "{nonce}"
        );
    }
    let auth = authorization(
        "app",
        &key,
        "GET",
        "https://api.example.com/orders",
        b"",
        &"a".repeat(55),
        TS,
    );
    assert_eq!(
        verify_request(&wider, "GET", "/orders", &auth, b""),
        Err(RejectionKind::MalformedAuthorization)
    );
    assert_eq!(NonceSyntax::default(), NonceSyntax::Guid);
}

#[test]
fn this_projects_signer_makes_what_the_default_accepts() {
    let key = SecretKey::from_base64(KEY).unwrap();
    let body = br#"{"amount":7}"#;
    for hash in [BodyHash::Sha256, BodyHash::Sha384, BodyHash::Sha512] {
        let nonce = generate_nonce().unwrap();
        assert_eq!(nonce.len(), 32);
        let auth = authorization_with(
            "app",
            &key,
            "PUT",
            "https://api.example.com/orders/7",
            body,
            &nonce,
            TS,
            hash,
        );
        assert_eq!(
            verify_request(&Softaware::new(), "PUT", "/orders/7", &auth, body),
            Ok(()),
            "{hash:?}"
        );
    }
}

#[test]
fn the_legacy_syntax_lets_digits_move_as_documented() {
    // What NonceSyntax::Legacy gives up (docs/SECURITY.md): with a nonce of any width, `/r/2` at
    // 1700000000 with nonce `abc` and `/r/` at 2170000000 with nonce `0abc` sign the same
    // string. The second time is acceptable only in 2038; the default syntax refuses the nonce.
    let key = SecretKey::from_base64(KEY).unwrap();
    let captured = authorization(
        "app",
        &key,
        "GET",
        "https://api.example.com/r/2",
        b"",
        "abc",
        TS,
    );
    let moved = captured.replace(":abc:1700000000", ":0abc:2170000000");
    let wider = Softaware::new().nonce_syntax(NonceSyntax::Legacy);
    assert_eq!(
        verify_request(&wider, "GET", "/r/2", &captured, b""),
        Ok(())
    );
    assert_eq!(verify_request(&wider, "GET", "/r/", &moved, b""), Ok(()));
    assert_eq!(
        verify_request(&Softaware::new(), "GET", "/r/", &moved, b""),
        Err(RejectionKind::MalformedAuthorization)
    );
}
