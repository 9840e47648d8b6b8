//! The fuzz targets' checks, written once: `fuzz/fuzz_targets/*` call them with the fuzzer's
//! inputs, and `tests/it/fuzz_regressions.rs` replays the kept inputs (`fuzz/regressions/`) through
//! them in the ordinary test suite. Each panics on a violated property.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderName, Request};
use http_body_util::Full;
use tower_hmac::protocol::{
    Authorization, CanonicalRequest, Challenge, DEFAULT_MAX_HEADER_LEN, Signer, body_sha256,
    generate_nonce,
};
use tower_hmac::server::Schemes;
use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore, SecretKey};

const NOW: u64 = 1_700_000_000;

fn key() -> SecretKey {
    SecretKey::from_bytes(&[5; 32]).expect("key")
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn layer() -> &'static HmacAuthLayer {
    static LAYER: OnceLock<HmacAuthLayer> = OnceLock::new();
    LAYER.get_or_init(|| {
        let registry = InMemoryRegistry::new();
        registry.insert("fuzz-key", "fuzz-app", key());
        HmacAuthLayer::builder(registry, AllowedHosts::any())
            .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
            .nonce_store(MemoryNonceStore::new(10_000_000).expect("store"))
            .build()
            .expect("layer")
    })
}

/// The `Authorization` parser: never panics; whatever it accepts formats back to itself.
pub fn parse_authorization(data: &[u8]) {
    if let Ok(auth) = Authorization::parse(data, DEFAULT_MAX_HEADER_LEN) {
        let text = auth.to_string();
        let again = Authorization::parse(text.as_bytes(), DEFAULT_MAX_HEADER_LEN)
            .expect("a formatted header parses");
        assert_eq!(again, auth);
        assert_eq!(again.to_string(), text);
    }
}

/// The client's `WWW-Authenticate` parser: never panics.
pub fn parse_challenge(data: &[u8]) {
    if let Some(challenge) = Challenge::parse(data) {
        let key = SecretKey::from_bytes(&[7; 32]).expect("key");
        let _ = challenge.verified_server_time(&key, "AAAAAAAAAAAAAAAAAAAAAA");
    }
}

/// The registry file parser: never panics, never reads without bound.
pub fn parse_registry(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = InMemoryRegistry::from_toml_str(text);
    }
}

/// The string-to-sign builder over arbitrary request parts: never panics, and what a signer
/// signs, the verifier accepts.
/// Input: NUL-separated fields — method, target, host, then `name: value` header lines; the rest
/// after a second NUL run is the body.
pub fn string_to_sign(data: &[u8]) {
    let mut fields = data.split(|&b| b == 0);
    let (Some(method), Some(target), Some(host)) = (fields.next(), fields.next(), fields.next())
    else {
        return;
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(target)
        .header("host", host);
    let mut names = Vec::new();
    let mut body: &[u8] = &[];
    for field in fields {
        if let Some(i) = field.iter().position(|&b| b == b':') {
            let (name, value) = (&field[..i], &field[i + 1..]);
            if let Ok(name) = HeaderName::from_bytes(name) {
                if name != http::header::AUTHORIZATION && name != http::header::HOST {
                    names.push(name.clone());
                }
                builder = builder.header(name, value);
            }
        } else {
            body = field;
        }
    }
    let Ok(req) = builder.body(()) else { return };
    let (parts, ()) = req.into_parts();
    let key = SecretKey::from_bytes(&[9; 32]).expect("key");
    let signer = Signer::new("fuzz-key", key.clone()).expect("signer");
    let hash = body_sha256(body);
    let Ok(auth) = signer.sign(
        &(&parts.method, &parts.uri, &parts.headers),
        &hash,
        &tower_hmac::protocol::SignParams::new(1_700_000_000, "AAAAAAAAAAAAAAAAAAAAAA")
            .headers(&names),
    ) else {
        return;
    };
    let parsed = Authorization::parse(auth.to_string().as_bytes(), DEFAULT_MAX_HEADER_LEN)
        .expect("own header parses");
    let canonical = CanonicalRequest::new(&parsed, &parts.method, &parts.uri, &parts.headers)
        .expect("signed headers present");
    let _ = canonical.string_to_sign(&hash);
    canonical
        .verify(&key, &hash, parsed.signature())
        .expect("what is signed verifies");
}

/// The whole verification over arbitrary request parts: never panics. When the first byte is odd
/// the request is first signed correctly, so the fuzzer also explores accepted requests, and a
/// correctly signed request must be accepted.
/// Input: first byte (mode), then NUL-separated: method, target, Authorization (when not signed),
/// `name: value` header lines; the last field is the body.
pub fn verify_request(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut fields: Vec<&[u8]> = rest.split(|&b| b == 0).collect();
    // Method, target, Authorization, and the body after them.
    if fields.len() < 4 {
        return;
    }
    let body = fields.pop().unwrap_or_default().to_vec();
    let (method, target, authorization) = (fields[0], fields[1], fields[2]);
    let mut builder = Request::builder().method(method).uri(target);
    let mut names = Vec::new();
    for field in &fields[3..] {
        if let Some(i) = field.iter().position(|&b| b == b':')
            && let Ok(name) = HeaderName::from_bytes(&field[..i])
        {
            if name != http::header::AUTHORIZATION && name != http::header::HOST {
                names.push(name.clone());
            }
            builder = builder.header(name, &field[i + 1..]);
        }
    }
    let Ok(req) = builder.body(Full::new(Bytes::from(body.clone()))) else {
        return;
    };
    let (mut parts, body_full) = req.into_parts();
    let signed = mode & 1 == 1;
    if signed {
        let Ok(nonce) = generate_nonce() else { return };
        let signer = Signer::new("fuzz-key", key()).expect("signer");
        if signer
            .authorize(
                &parts.method,
                &parts.uri,
                &mut parts.headers,
                &body_sha256(&body),
                &tower_hmac::protocol::SignParams::new(NOW, &nonce).headers(&names),
            )
            .is_err()
        {
            return;
        }
    } else if let Ok(value) = http::HeaderValue::from_bytes(authorization) {
        parts.headers.insert(http::header::AUTHORIZATION, value);
    }
    let result = runtime().block_on(layer().verify(Request::from_parts(parts, body_full)));
    if signed {
        // Within the default limits a correctly signed request is accepted.
        if body.len() < 1024 * 1024
            && let Err(rejection) = &result
        {
            panic!("a correctly signed request was refused: {rejection}");
        }
    }
}

/// The schemes of issues 12 and 13 behind one layer (v1, the token, softaware, Stripe, Slack,
/// GitHub, RFC 9421, SigV4),
/// with a fresh replay store per input so that a correctly signed request is never a replay.
fn schemes_layer() -> HmacAuthLayer {
    use tower_hmac::protocol::{softaware::Softaware, token::Token, webhooks};
    let registry = InMemoryRegistry::new();
    for id in ["fuzz-key", "stripe", "slack", "github"] {
        registry.insert(id, "fuzz-app", key());
    }
    HmacAuthLayer::builder(registry, AllowedHosts::any())
        .schemes(
            Schemes::v1()
                .with(Token::default())
                .with(Softaware::new().uri_scheme(tower_hmac::protocol::UriScheme::Http))
                .with(webhooks::Stripe::new("stripe"))
                .with(webhooks::Slack::new("slack"))
                .with(webhooks::GitHub::new("github"))
                .with(
                    tower_hmac::protocol::rfc9421::Rfc9421::new()
                        .uri_scheme(tower_hmac::protocol::UriScheme::Http),
                )
                .with(tower_hmac::protocol::sigv4::SigV4::new("us-east-1", "fuzz")),
        )
        .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
        .nonce_store(MemoryNonceStore::new(1024).expect("store"))
        .build()
        .expect("layer")
}

/// Headers a scheme reads: left out of the fuzzer's own headers when the input is signed, so a
/// signed request carries exactly one credential.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "x-auth-token",
    "stripe-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-hub-signature-256",
    "x-github-delivery",
    "signature-input",
    "signature",
    "content-digest",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-amz-decoded-content-length",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "content-length",
    "transfer-encoding",
];

/// The token, softaware, webhook and RFC 9421 parsers and verifiers behind one layer: never
/// panics, never a 5xx, and a request that one scheme signed correctly is accepted.
/// Input: first byte (mode: `% 8` is the scheme that signs, 0 for none; 7 is a SigV4 presigned
/// URL), then NUL-separated:
/// method, target, `name: value` header lines; the last field is the body.
pub fn verify_schemes(data: &[u8]) {
    use tower_hmac::protocol::{softaware, token, webhooks};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut fields: Vec<&[u8]> = rest.split(|&b| b == 0).collect();
    if fields.len() < 3 {
        return;
    }
    let body = fields.pop().unwrap_or_default().to_vec();
    let (method, target) = (fields[0], fields[1]);
    let signer = mode % 8;
    let mut builder = Request::builder().method(method).uri(target);
    for field in &fields[2..] {
        if let Some(i) = field.iter().position(|&b| b == b':')
            && let Ok(name) = HeaderName::from_bytes(&field[..i])
        {
            if signer != 0 && CREDENTIAL_HEADERS.contains(&name.as_str()) {
                continue;
            }
            builder = builder.header(name, &field[i + 1..]);
        }
    }
    let Ok(req) = builder.body(Full::new(Bytes::from(body.clone()))) else {
        return;
    };
    let (mut parts, body_full) = req.into_parts();
    // Origin-form targets only when signing: an absolute target names its own authority. A query
    // naming SigV4's presigning parameters carries credentials of its own (the layer is right to
    // call a request signed by another scheme besides ambiguous).
    let presigning = parts.uri.query().is_some_and(|q| {
        q.split('&').any(|pair| {
            let name = pair.split('=').next();
            name == Some("X-Amz-Signature") || name == Some("X-Amz-Credential")
        })
    });
    let signable = parts.uri.scheme().is_none() && parts.uri.path().starts_with('/') && !presigning;
    let host = "fuzz.example";
    let key = key();
    let header = |name: &'static str, value: String| {
        (
            HeaderName::from_static(name),
            http::HeaderValue::from_str(&value).expect("header"),
        )
    };
    let credentials: Vec<(HeaderName, http::HeaderValue)> = match signer {
        _ if !signable => Vec::new(),
        1 => vec![header(
            "x-auth-token",
            token::issue("fuzz-key", NOW, &key).expect("token"),
        )],
        2 => {
            let Ok(nonce) = softaware::generate_nonce() else {
                return;
            };
            let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            vec![
                header("host", host.to_owned()),
                header(
                    "authorization",
                    softaware::authorization(
                        "fuzz-key",
                        &key,
                        parts.method.as_str(),
                        &format!("http://{host}{target}"),
                        &body,
                        &nonce,
                        NOW,
                    ),
                ),
            ]
        }
        3 => vec![header(
            "stripe-signature",
            webhooks::stripe_signature(&key, NOW, &body),
        )],
        4 => vec![
            header("x-slack-request-timestamp", NOW.to_string()),
            header(
                "x-slack-signature",
                webhooks::slack_signature(&key, NOW, &body),
            ),
        ],
        5 => vec![header(
            "x-hub-signature-256",
            webhooks::github_signature(&key, &body),
        )],
        6 => {
            use tower_hmac::protocol::rfc9421;
            let Ok(nonce) = generate_nonce() else { return };
            let mut components = vec!["\"@method\"", "\"@authority\"", "\"@path\""];
            parts
                .headers
                .insert(http::header::HOST, http::HeaderValue::from_static(host));
            if parts.uri.query().is_some() {
                components.push("\"@query\"");
            }
            if !body.is_empty() {
                components.push("\"content-digest\"");
                parts.headers.insert(
                    "content-digest",
                    http::HeaderValue::from_str(&rfc9421::content_digest(&body)).expect("digest"),
                );
            }
            let Ok((input, signature)) = rfc9421::sign(
                &parts,
                "http",
                &components,
                "fuzz-key",
                &key,
                NOW,
                Some(&nonce),
            ) else {
                return;
            };
            vec![
                header("signature-input", input),
                header("signature", signature),
            ]
        }
        // Presigned URLs serve downloads and uploads (the scheme's default methods).
        7 if ![http::Method::GET, http::Method::HEAD, http::Method::PUT]
            .contains(&parts.method) =>
        {
            return;
        }
        7 => {
            use tower_hmac::protocol::sigv4::{PathRule, PresignParams, presign_url};
            let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            let Ok(url) = format!("http://{host}{target}").parse::<http::Uri>() else {
                return;
            };
            let params = PresignParams {
                region: "us-east-1",
                service: "fuzz",
                rule: PathRule::Generic,
                time: NOW,
                expires: 60,
            };
            // A target already holding X-Amz-* parameters is not presigned.
            let Ok(presigned) = presign_url(&parts.method, &url, "fuzz-key", &key, &params) else {
                return;
            };
            let Ok(presigned) = presigned.parse::<http::Uri>() else {
                return;
            };
            let Some(pq) = presigned.path_and_query() else {
                return;
            };
            let Ok(uri) = pq.as_str().parse() else { return };
            parts.uri = uri;
            vec![header("host", host.to_owned())]
        }
        _ => Vec::new(),
    };
    let signed = !credentials.is_empty();
    for (name, value) in credentials {
        parts.headers.insert(name, value);
    }
    let layer = schemes_layer();
    let result = runtime().block_on(layer.verify(Request::from_parts(parts, body_full)));
    if let Err(rejection) = &result {
        assert!(
            !rejection.status().is_server_error(),
            "malformed input yielded a {}: {rejection}",
            rejection.status()
        );
        // Within the default limits a correctly signed request is accepted.
        assert!(
            !(signed && body.len() < 1024 * 1024),
            "a request signed by scheme {signer} was refused: {rejection}"
        );
    }
}

/// Each new scheme's parser alone, fed any header values: never panics, and what it accepts is
/// usable (a key id and a replay key, an expiry not before the time).
/// Input: first byte (`% 7`: token, softaware with legacy forms, Stripe, Slack, GitHub,
/// RFC 9421, SigV4), then NUL-separated `name: value` header lines.
pub fn parse_scheme_credentials(data: &[u8]) {
    use tower_hmac::protocol::{Credentials, Scheme, rfc9421, sigv4, softaware, token, webhooks};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut builder = Request::builder().uri("/p?q=1");
    for field in rest.split(|&b| b == 0) {
        if let Some(i) = field.iter().position(|&b| b == b':')
            && let Ok(name) = HeaderName::from_bytes(&field[..i])
        {
            builder = builder.header(name, &field[i + 1..]);
        }
    }
    let Ok(req) = builder.body(()) else { return };
    let (parts, ()) = req.into_parts();
    fn check<S: Scheme>(scheme: &S, parts: &http::request::Parts) {
        if let Ok(creds) = scheme.parse(parts, DEFAULT_MAX_HEADER_LEN) {
            assert!(!creds.key_id().is_empty());
            if let tower_hmac::protocol::Freshness::Until { from, until } = creds.freshness() {
                assert!(until >= from);
            }
        }
    }
    match mode % 7 {
        0 => check(&token::Token::default(), &parts),
        1 => check(&softaware::Softaware::new().allow_legacy(), &parts),
        2 => check(&webhooks::Stripe::new("stripe"), &parts),
        3 => check(&webhooks::Slack::new("slack"), &parts),
        4 => check(&webhooks::GitHub::new("github"), &parts),
        5 => check(&rfc9421::Rfc9421::new(), &parts),
        _ => {
            let sigv4 = sigv4::SigV4::new("us-east-1", "fuzz")
                .unsigned_payload(sigv4::UnsignedPayload::Anywhere);
            check(&sigv4, &parts);
            // The presigned form: the first field as the query.
            let query = rest.split(|&b| b == 0).next().unwrap_or_default();
            let Ok(query) = std::str::from_utf8(query) else {
                return;
            };
            if let Ok(uri) = format!("/p?{query}").parse() {
                let mut presigned = parts;
                presigned.uri = uri;
                check(&sigv4, &presigned);
            }
        }
    }
}

/// Kong's and APISIX's `hmac-auth` parsers and signing strings: never panic; credentials that
/// parse have a key id and a replay key; re-signed by this project's signer over the same names,
/// the request verifies.
pub fn gateway_credentials(data: &[u8]) {
    use tower_hmac::protocol::gateway::{Apisix, Kong};
    use tower_hmac::protocol::{Scheme, SecretKey as Key};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut fields = rest.split(|&b| b == 0);
    let target = fields
        .next()
        .and_then(|t| std::str::from_utf8(t).ok())
        .filter(|t| t.starts_with('/'))
        .unwrap_or("/p?q=1");
    let method = ["GET", "POST", "PUT", "DELETE"][usize::from(mode & 3)];
    let mut builder = Request::builder().method(method).uri(target);
    if mode & 4 != 0 {
        builder = builder.version(http::Version::HTTP_10);
    }
    for field in fields {
        if let Some(i) = field.iter().position(|&b| b == b':')
            && let Ok(name) = HeaderName::from_bytes(&field[..i])
        {
            builder = builder.header(name, &field[i + 1..]);
        }
    }
    let Ok(req) = builder.body(()) else { return };
    let (parts, ()) = req.into_parts();
    let key = Key::from_text("a-fuzzing-gateway-secret").expect("key");
    macro_rules! check {
        ($scheme:expr) => {{
            let scheme = $scheme;
            if let Ok(creds) = scheme.parse(&parts, DEFAULT_MAX_HEADER_LEN) {
                use tower_hmac::protocol::Credentials as _;
                assert!(!creds.key_id().is_empty());
                assert!(!creds.nonce().is_empty());
                if let Ok(mut pending) = scheme.prepare(&creds, &parts, &key) {
                    scheme.update(&mut pending, b"a body");
                    let _ = scheme.verify(&creds, pending, &key);
                }
                let names: Vec<&str> = creds.headers().collect();
                let signed =
                    scheme.authorization(&parts, creds.key_id(), &key, creds.algorithm(), &names);
                if let (Ok(value), false) = (signed, parts.headers.contains_key("digest")) {
                    let mut resigned = parts.clone();
                    resigned.headers.remove(http::header::PROXY_AUTHORIZATION);
                    resigned.headers.insert(http::header::AUTHORIZATION, value);
                    let creds = scheme
                        .parse(&resigned, 65_536)
                        .expect("a request this signer signed parses");
                    let pending = scheme.prepare(&creds, &resigned, &key).expect("prepares");
                    scheme
                        .verify(&creds, pending, &key)
                        .expect("a request this signer signed verifies");
                }
            }
        }};
    }
    check!(Kong::new().allow_sha1());
    check!(Apisix::new().allow_sha1());
}
