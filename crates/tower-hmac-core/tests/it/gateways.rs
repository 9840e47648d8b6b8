//! Kong's and APISIX's `hmac-auth` against the gateways' own test suites and documentation
//! (testdata/gateways.json, made by scripts/gen-gateway-vectors.py, each case citing its source):
//! the signing string is the gateway's, the signature its test's, and every request is accepted
//! or refused as the case says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::request::Parts;
use serde::Deserialize;
use tower_hmac_core::gateway::{Algorithm, Apisix, Kong};
use tower_hmac_core::{Credentials, Rejection, Scheme, SecretKey};

#[derive(Deserialize)]
struct File {
    vector_secret: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    scheme: String,
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
    body: String,
    key_id: String,
    secret: String,
    algorithm: String,
    signing_string: String,
    #[serde(default)]
    server_signing_string: Option<String>,
    signature: String,
    authorization_registered: String,
    header: String,
    now: u64,
    expect: String,
    needs: Vec<String>,
}

fn file() -> File {
    serde_json::from_str(include_str!("../../testdata/gateways.json")).unwrap()
}

fn algorithm(name: &str) -> Algorithm {
    match name {
        "hmac-sha1" => Algorithm::HmacSha1,
        "hmac-sha256" => Algorithm::HmacSha256,
        "hmac-sha384" => Algorithm::HmacSha384,
        _ => Algorithm::HmacSha512,
    }
}

fn request(case: &Case, authorization: &str) -> Parts {
    let mut builder = http::Request::builder()
        .method(case.method.as_str())
        .uri(case.target.as_str())
        .version(match case.version.as_str() {
            "HTTP/1.0" => http::Version::HTTP_10,
            _ => http::Version::HTTP_11,
        })
        .header("host", "api.example.com");
    for (name, value) in &case.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder = builder.header(case.header.as_str(), authorization);
    builder.body(()).unwrap().into_parts().0
}

/// The case's own answer from one scheme: `accept` or the rejection's code.
fn run<S: Scheme>(scheme: &S, case: &Case, parts: &Parts, key: &SecretKey) -> String {
    let outcome = (|| -> Result<(), Rejection> {
        let creds = scheme.parse(parts, 4096)?;
        assert_eq!(creds.key_id(), case.key_id, "{}", case.id);
        assert_eq!(
            creds.freshness().signed_at(),
            Some(case.now),
            "{}: the request's time",
            case.id
        );
        let mut pending = scheme.prepare(&creds, parts, key)?;
        scheme.update(&mut pending, case.body.as_bytes());
        scheme.verify(&creds, pending, key).map(|_| ())
    })();
    match outcome {
        Ok(()) => "accept".into(),
        Err(rejection) => rejection.code().into(),
    }
}

fn signed_names(case: &Case) -> Vec<String> {
    let auth = &case.authorization_registered;
    let start = auth.find("headers=\"").unwrap() + "headers=\"".len();
    let end = start + auth[start..].find('"').unwrap();
    auth[start..end].split(' ').map(str::to_owned).collect()
}

#[test]
fn every_case_is_answered_as_its_source_says_with_the_gateways_signing_string() {
    let file = file();
    let key = SecretKey::from_text(&file.vector_secret).unwrap();
    assert!(file.cases.len() >= 25);
    for case in &file.cases {
        let sha1 = case.needs.iter().any(|n| n == "sha1");
        let parts = request(case, &case.authorization_registered);
        let names = signed_names(case);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (answer, signing) = match case.scheme.as_str() {
            "kong" => {
                let kong = if sha1 {
                    Kong::new().allow_sha1()
                } else {
                    Kong::new()
                };
                (
                    run(&kong, case, &parts, &key),
                    kong.signing_string(&parts, &case.key_id, &names).unwrap(),
                )
            }
            _ => {
                let apisix = if sha1 {
                    Apisix::new().allow_sha1()
                } else {
                    Apisix::new()
                };
                (
                    run(&apisix, case, &parts, &key),
                    apisix.signing_string(&parts, &case.key_id, &names).unwrap(),
                )
            }
        };
        assert_eq!(answer, case.expect, "{}", case.id);
        // The signing string is the gateway's (for the refused cases too: they are refused for
        // what they leave unsigned, not for a different string).
        // Only where the client signed something else (Kong's query-less fallback) does the
        // case give the server's own.
        let expected = case
            .server_signing_string
            .as_ref()
            .unwrap_or(&case.signing_string);
        assert_eq!(&signing, expected, "{}", case.id);
        // And the gateway test's own signature, with its own (short) secret, is the MAC of the
        // client's signing string.
        let mac =
            algorithm(&case.algorithm).mac(case.secret.as_bytes(), case.signing_string.as_bytes());
        assert_eq!(STANDARD.encode(mac), case.signature, "{}", case.id);
    }
}

#[test]
fn sha1_is_refused_unless_allowed_and_algorithms_can_be_kept_per_key() {
    let file = file();
    let key = SecretKey::from_text(&file.vector_secret).unwrap();
    let case = file.cases.iter().find(|c| c.id == "kong-get-date").unwrap();
    let parts = request(case, &case.authorization_registered);
    assert_eq!(
        run(&Kong::new(), case, &parts, &key),
        "malformed_authorization"
    );
    assert_eq!(run(&Kong::new().allow_sha1(), case, &parts, &key), "accept");
    let per_key = Kong::new().key_algorithms("bob", &[Algorithm::HmacSha1]);
    assert_eq!(run(&per_key, case, &parts, &key), "accept");
    let other = file.cases.iter().find(|c| c.id == "kong-sha256").unwrap();
    let parts = request(other, &other.authorization_registered);
    // bob may use only hmac-sha1 now: refused as a bad signature is, so that the answer does
    // not tell that bob has a rule of its own (an unknown key id's answer is the same).
    assert_eq!(
        run(&per_key, other, &parts, &key),
        "invalid_signature",
        "bob may use only hmac-sha1 now"
    );
}

#[test]
fn the_clients_side_signs_what_the_server_verifies() {
    let key = SecretKey::from_text("a-long-enough-gateway-secret").unwrap();
    let mut parts = http::Request::post("/orders?x=1")
        .header("host", "api.example.com")
        .header("date", "Tue, 15 Sep 2026 10:00:00 GMT")
        .header(
            "digest",
            "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        )
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let names = ["request-line", "date", "digest"];
    let kong = Kong::new();
    let value = kong
        .authorization(&parts, "bob", &key, Algorithm::HmacSha384, &names)
        .unwrap();
    parts.headers.insert(http::header::AUTHORIZATION, value);
    let creds = kong.parse(&parts, 4096).unwrap();
    let pending = kong.prepare(&creds, &parts, &key).unwrap();
    kong.verify(&creds, pending, &key).unwrap();

    let apisix = Apisix::new().require_signed(&["@request-target"]);
    let value = apisix
        .authorization(
            &parts,
            "bob",
            &key,
            Algorithm::HmacSha512,
            &["@request-target", "date"],
        )
        .unwrap();
    parts.headers.insert(http::header::AUTHORIZATION, value);
    let creds = apisix.parse(&parts, 4096).unwrap();
    let pending = apisix.prepare(&creds, &parts, &key).unwrap();
    apisix.verify(&creds, pending, &key).unwrap();
    // Without @request-target, this server's rule refuses it.
    let value = apisix
        .authorization(&parts, "bob", &key, Algorithm::HmacSha512, &["date"])
        .unwrap();
    parts.headers.insert(http::header::AUTHORIZATION, value);
    assert_eq!(
        apisix.parse(&parts, 4096).unwrap_err().code(),
        "missing_covered_component"
    );
}
