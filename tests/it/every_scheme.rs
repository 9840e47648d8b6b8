//! The properties every scheme must have, checked by one generic test over every scheme the
//! layer knows (issue 24: each was a rule protocol v1 kept and another scheme did not). A scheme
//! added later gets a row in `cases()` and fails here until it complies:
//!
//! 1. a correct request is accepted once, and its copy refused;
//! 2. the replay key is bound by the MAC that verified: no variant of a captured request's
//!    credentials (a value inserted beside another, a segment repeated, a spelling changed) is
//!    accepted after it — Stripe's `v1=<random>,v1=<captured>` was;
//! 3. the answer to a bad signature reflects nothing of the request in clear (diagnostics are
//!    keyed), and holds no `string_to_sign`;
//! 4. an unknown or revoked key id is indistinguishable from a known one with a bad signature —
//!    in the answer (status, headers, body) and in the metrics anyone may scrape;
//! 5. a change to any part of a request its signature covers is refused before the inner service;
//! 6. it works beside every other scheme: one layer holds all ten (the set is a run-time value,
//!    with no limit on its size), a request accepted by one instance is a replay to another with
//!    a different set sharing the replay store, and a scheme reserved for some routes
//!    (`HmacAuthBuilder::reserve`) is looked for there and nowhere else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use metrics_util::debugging::DebuggingRecorder;
use tower::ServiceExt;
use tower_hmac::protocol::gateway::{Algorithm, Apisix, Kong};
use tower_hmac::protocol::{
    KeyRecord, KeyState, Locator, NonceStore, V1, rfc9421, sigv4, softaware, token, webhooks,
};
use tower_hmac::server::Schemes;
use tower_hmac::{
    AllowedHosts, ConfigError, HmacAuthBuilder, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore,
    SecretKey,
};

const NOW: u64 = 1_700_000_000;
const HOST: &str = "api.test";
/// A second host the tampering layer answers for, so that a request moved to it reaches the
/// signature check.
const OTHER_HOST: &str = "api2.test";
const KNOWN: &str = "k-known";
const REVOKED: &str = "k-revoked";
const UNKNOWN: &str = "k-unknown";
/// A value a proxy put in a covered header: it must never come back in an answer.
const INJECTED: &str = "injected-by-proxy-7f3a";

fn key() -> SecretKey {
    SecretKey::from_bytes(&[0x42; 32]).unwrap()
}

fn other_key() -> SecretKey {
    SecretKey::from_bytes(&[0x17; 32]).unwrap()
}

fn registry() -> InMemoryRegistry {
    let registry = InMemoryRegistry::new();
    registry.insert(KNOWN, "app-a", key());
    registry.insert_record(
        REVOKED,
        KeyRecord::new("app-b", key()).with_state(KeyState::Revoked),
    );
    registry
}

/// A request as data, so that variants of it can be made.
#[derive(Clone, Debug)]
struct Spec {
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Spec {
    fn new(method: Method, target: &str, body: &[u8]) -> Self {
        Self {
            method,
            uri: format!("http://{HOST}{target}"),
            headers: vec![
                ("host".into(), HOST.into()),
                ("x-forwarded-user".into(), INJECTED.into()),
                (
                    "date".into(),
                    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(NOW)),
                ),
            ],
            body: body.to_vec(),
        }
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(&self.uri);
        for (name, value) in &self.headers {
            builder = builder.header(name, HeaderValue::from_bytes(value.as_bytes()).unwrap());
        }
        builder
            .body(Full::new(Bytes::from(self.body.clone())))
            .unwrap()
    }

    fn parts(&self) -> http::request::Parts {
        self.request().into_parts().0
    }

    fn set(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
    }
}

fn counter() -> u64 {
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// How a scheme signs: `(key id, key)` → a signed request (each call a new one).
type Sign = fn(&str, &SecretKey) -> Spec;

fn sign_v1(key_id: &str, key: &SecretKey) -> Spec {
    let mut spec = Spec::new(Method::POST, "/orders?id=1", b"{\"n\":1}");
    let auth = tower_hmac_integration::sign_at(
        key_id,
        key,
        &Method::POST,
        HOST,
        "/orders?id=1",
        &spec.body,
        NOW,
    );
    spec.set("authorization", &auth.to_string());
    spec
}

fn sign_token(key_id: &str, key: &SecretKey) -> Spec {
    let mut spec = Spec::new(Method::GET, "/orders", b"");
    // A token is one per (client, second): a new second for each.
    spec.set(
        "x-auth-token",
        &token::issue(key_id, NOW - counter() % 20, key).unwrap(),
    );
    spec
}

fn sign_softaware(key_id: &str, key: &SecretKey) -> Spec {
    let mut spec = Spec::new(Method::POST, "/orders?id=1", b"{\"n\":1}");
    let nonce = format!("{:032x}", counter());
    let value = softaware::authorization(key_id, key, "POST", &spec.uri, &spec.body, &nonce, NOW);
    spec.set("authorization", &value);
    spec
}

fn sign_rfc9421(key_id: &str, key: &SecretKey) -> Spec {
    let mut spec = Spec::new(Method::POST, "/orders?id=1", b"{\"n\":1}");
    spec.set("content-digest", &rfc9421::content_digest(&spec.body));
    let (input, signature) = rfc9421::sign(
        &spec.parts(),
        "http",
        &[
            "\"@method\"",
            "\"@authority\"",
            "\"@path\"",
            "\"@query\"",
            "\"content-digest\"",
            "\"x-forwarded-user\"",
        ],
        key_id,
        key,
        NOW,
        Some(&format!("n{}", counter())),
    )
    .unwrap();
    spec.set("signature-input", &input);
    spec.set("signature", &signature);
    spec
}

fn sign_sigv4(key_id: &str, key: &SecretKey) -> Spec {
    let target = format!("/orders?id={}", counter());
    let url = format!("http://{HOST}{target}").parse().unwrap();
    let presigned = sigv4::presign_url(
        &Method::GET,
        &url,
        key_id,
        key,
        &sigv4::PresignParams {
            region: "us-east-1",
            service: "test",
            rule: sigv4::PathRule::Generic,
            time: NOW,
            expires: 900,
        },
    )
    .unwrap();
    let mut spec = Spec::new(Method::GET, "/", b"");
    spec.uri = presigned;
    spec
}

fn sign_gateway(kong: bool, key_id: &str, key: &SecretKey) -> Spec {
    let mut spec = Spec::new(Method::GET, &format!("/orders?id={}", counter()), b"");
    let parts = spec.parts();
    let value = if kong {
        Kong::new().authorization(
            &parts,
            key_id,
            key,
            Algorithm::HmacSha256,
            &["date", "request-line", "x-forwarded-user"],
        )
    } else {
        Apisix::new().authorization(
            &parts,
            key_id,
            key,
            Algorithm::HmacSha256,
            &["@request-target", "date", "x-forwarded-user"],
        )
    }
    .unwrap();
    spec.set("authorization", value.to_str().unwrap());
    spec
}

fn sign_kong(key_id: &str, key: &SecretKey) -> Spec {
    sign_gateway(true, key_id, key)
}

fn sign_apisix(key_id: &str, key: &SecretKey) -> Spec {
    sign_gateway(false, key_id, key)
}

fn delivery() -> Vec<u8> {
    format!("{{\"id\":\"evt_{}\"}}", counter()).into_bytes()
}

fn sign_github(_: &str, key: &SecretKey) -> Spec {
    let mut spec = Spec::new(Method::POST, "/webhooks", &delivery());
    spec.set(
        "x-hub-signature-256",
        &webhooks::github_signature(key, &spec.body),
    );
    spec
}

fn sign_stripe(_: &str, key: &SecretKey) -> Spec {
    let mut spec = Spec::new(Method::POST, "/webhooks", &delivery());
    spec.set(
        "stripe-signature",
        &webhooks::stripe_signature(key, NOW, &spec.body),
    );
    spec
}

fn sign_slack(_: &str, key: &SecretKey) -> Spec {
    let mut spec = Spec::new(Method::POST, "/webhooks", &delivery());
    spec.set("x-slack-request-timestamp", &NOW.to_string());
    spec.set(
        "x-slack-signature",
        &webhooks::slack_signature(key, NOW, &spec.body),
    );
    spec
}

/// A built layer, called with one request at a time.
struct Built(HmacAuthLayer);

impl Built {
    fn call(&self, spec: &Spec) -> Answer {
        let reached = Arc::new(AtomicBool::new(false));
        let inner = Arc::clone(&reached);
        let svc = tower::ServiceBuilder::new()
            .layer(self.0.clone())
            .service_fn(move |_req: Request<tower_hmac::server::VerifiedBody>| {
                inner.store(true, Ordering::SeqCst);
                async {
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"inner",
                    ))))
                }
            });
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let response = metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let res = ServiceExt::<Request<Full<Bytes>>>::oneshot(svc, spec.request())
                    .await
                    .unwrap();
                let (parts, body) = res.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                (parts, body)
            })
        });
        let metrics = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == "tower_hmac_requests_total")
            .map(|(key, ..)| {
                let mut labels: Vec<String> = key
                    .key()
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                labels.sort();
                labels.join(",")
            })
            .collect();
        let (parts, body) = response;
        Answer {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .filter(|(name, _)| *name != http::header::DATE)
                .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("?")))
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
            metrics,
            reached: reached.load(Ordering::SeqCst),
        }
    }
}

impl Answer {
    /// The keyed digests of the server's lines, when the answer has them.
    fn digests(&self) -> Option<Vec<String>> {
        let json: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        let lines = json["diagnostics"]["string_to_sign_lines"].as_array()?;
        Some(
            lines
                .iter()
                .map(|l| l.as_str().unwrap().to_owned())
                .collect(),
        )
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: BTreeSet<String>,
    body: String,
    metrics: BTreeSet<String>,
    /// Whether the inner service was called.
    reached: bool,
}

impl Answer {
    /// The problem's code of a refusal.
    fn code(&self) -> Option<String> {
        let json: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        json["code"].as_str().map(str::to_owned)
    }

    /// What an outsider can compare: the keyed digests are random to anyone without the key.
    fn shape(&self) -> (u16, BTreeSet<String>, String, BTreeSet<String>) {
        let body = self
            .body
            .chars()
            .map(|c| if c.is_ascii_hexdigit() { 'x' } else { c })
            .collect();
        (
            self.status,
            self.headers.clone(),
            body,
            self.metrics.clone(),
        )
    }
}

fn builder(store: Arc<dyn NonceStore>) -> HmacAuthBuilder {
    HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST]).unwrap())
        .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
        .nonce_store(store)
}

/// A part of a request a signature may cover.
#[derive(Clone, Copy, Debug)]
enum Part {
    Method,
    Path,
    Query,
    /// The authority: the `Host` header and the URI's.
    Host,
    Header(&'static str),
    Body,
}

struct Case {
    id: &'static str,
    sign: Sign,
    /// Adds the scheme to a set, bound to the key id given when it is a provider's.
    add: fn(Schemes, &'static str) -> Schemes,
    /// A provider's scheme is bound to one registry key id, set when it is built.
    bound: bool,
    /// The parts of `sign`'s requests the signature covers.
    covers: &'static [Part],
}

impl Case {
    /// The scheme alone, for the key id `key_id` (a webhook scheme is bound to one).
    fn schemes(&self, key_id: &'static str) -> Schemes {
        (self.add)(Schemes::empty(), key_id)
    }

    /// The layer of the scheme alone, on `store`.
    fn build(&self, key_id: &'static str, store: Arc<dyn NonceStore>) -> Built {
        Built(
            builder(store)
                .schemes(self.schemes(key_id))
                .build()
                .unwrap(),
        )
    }
}

/// Every scheme in one set, in the order of `cases()` (or the reverse), the providers' bound to
/// `key_id`.
fn all_schemes(key_id: &'static str, reversed: bool) -> Schemes {
    let mut cases = cases();
    if reversed {
        cases.reverse();
    }
    cases
        .iter()
        .fold(Schemes::empty(), |set, case| (case.add)(set, key_id))
}

fn all_layer(store: Arc<dyn NonceStore>, reversed: bool) -> Built {
    Built(
        builder(store)
            .schemes(all_schemes(KNOWN, reversed))
            .build()
            .unwrap(),
    )
}

fn cases() -> Vec<Case> {
    use Part::*;
    vec![
        Case {
            id: "v1",
            sign: sign_v1,
            add: |set, _| set.with(V1),
            bound: false,
            covers: &[Method, Path, Query, Host, Body],
        },
        Case {
            id: "token",
            sign: sign_token,
            add: |set, _| set.with(token::Token::default()),
            bound: false,
            // Bound to nothing of the request, by design (see the token module's docs).
            covers: &[],
        },
        Case {
            id: "softaware",
            sign: sign_softaware,
            add: |set, _| {
                set.with(
                    softaware::Softaware::new().uri_scheme(tower_hmac::protocol::UriScheme::Http),
                )
            },
            bound: false,
            covers: &[Method, Path, Query, Host, Body],
        },
        Case {
            id: "rfc9421",
            sign: sign_rfc9421,
            add: |set, _| {
                set.with(rfc9421::Rfc9421::new().uri_scheme(tower_hmac::protocol::UriScheme::Http))
            },
            bound: false,
            covers: &[Method, Path, Query, Host, Header("x-forwarded-user"), Body],
        },
        Case {
            id: "sigv4",
            sign: sign_sigv4,
            add: |set, _| {
                set.with(
                    sigv4::SigV4::new("us-east-1", "test")
                        .presigned_url_use(sigv4::PresignedUrlUse::OneTime),
                )
            },
            bound: false,
            // A presigned URL: the payload is unsigned.
            covers: &[Method, Path, Query, Host],
        },
        Case {
            id: "kong",
            sign: sign_kong,
            add: |set, _| set.with(Kong::new()),
            bound: false,
            // A body must come with a signed `Digest`: one added to a request signed without
            // is refused.
            covers: &[
                Method,
                Path,
                Query,
                Header("date"),
                Header("x-forwarded-user"),
                Body,
            ],
        },
        Case {
            id: "apisix",
            sign: sign_apisix,
            add: |set, _| set.with(Apisix::new()),
            bound: false,
            covers: &[
                Method,
                Path,
                Query,
                Header("date"),
                Header("x-forwarded-user"),
                Body,
            ],
        },
        Case {
            id: "github",
            sign: sign_github,
            add: |set, key_id| set.with(webhooks::GitHub::new(key_id)),
            bound: true,
            covers: &[Body],
        },
        Case {
            id: "stripe",
            sign: sign_stripe,
            add: |set, key_id| set.with(webhooks::Stripe::new(key_id)),
            bound: true,
            covers: &[Body],
        },
        Case {
            id: "slack",
            sign: sign_slack,
            add: |set, key_id| set.with(webhooks::Slack::new(key_id)),
            bound: true,
            covers: &[Header("x-slack-request-timestamp"), Body],
        },
    ]
}

fn store() -> Arc<dyn NonceStore> {
    Arc::new(
        MemoryNonceStore::new(100_000)
            .unwrap()
            .with_horizon(UNIX_EPOCH),
    )
}

/// Where a request carries credentials: the headers each scheme reads, and the query.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "x-auth-token",
    "signature-input",
    "signature",
    "stripe-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-hub-signature-256",
];

/// Variants of a credential value split at `sep`: each segment repeated, and a copy of each with
/// its value replaced by other characters of its own kind inserted before and after it; the whole
/// value in upper and in lower case.
fn variants(value: &str, sep: char) -> Vec<String> {
    let segments: Vec<&str> = value.split(sep).collect();
    let join = |s: &[String]| s.join(&sep.to_string());
    let mut out = vec![value.to_ascii_uppercase(), value.to_ascii_lowercase()];
    for i in 0..segments.len() {
        let owned: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
        let seg = segments[i];
        let (name, val) = seg.split_once('=').unwrap_or(("", seg));
        for fill in ['0', 'f', 'A'] {
            let other: String = val
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { fill } else { c })
                .collect();
            let forged = if name.is_empty() {
                other
            } else {
                format!("{name}={other}")
            };
            for at in [i, i + 1] {
                let mut v = owned.clone();
                v.insert(at, forged.clone());
                out.push(join(&v));
            }
        }
        let mut v = owned.clone();
        v.insert(i, seg.to_owned());
        out.push(join(&v));
    }
    out.retain(|v| v != value);
    out
}

/// Every variant of a captured request's credentials.
fn mutations(spec: &Spec) -> Vec<Spec> {
    let mut out = Vec::new();
    for (index, (name, value)) in spec.headers.iter().enumerate() {
        if !CREDENTIAL_HEADERS.contains(&name.as_str()) {
            continue;
        }
        for sep in [',', ';', ':', ' '] {
            for variant in variants(value, sep) {
                if HeaderValue::from_str(&variant).is_err() {
                    continue;
                }
                let mut m = spec.clone();
                m.headers[index].1 = variant;
                out.push(m);
            }
        }
    }
    if let Some((path, query)) = spec.uri.split_once('?') {
        for variant in variants(query, '&') {
            let mut m = spec.clone();
            m.uri = format!("{path}?{variant}");
            if m.uri.parse::<http::Uri>().is_ok() {
                out.push(m);
            }
        }
    }
    out
}

/// A correct request of `case` is accepted once by `layer`, its copy refused by the replay guard,
/// and no variant of its credentials accepted after it.
fn accepts_once_and_binds_its_replay_key(case: &Case, layer: &Built) {
    let captured = (case.sign)(KNOWN, &key());
    let first = layer.call(&captured);
    assert_eq!(
        first.status, 200,
        "{}: a correct request: {first:?}",
        case.id
    );
    assert!(first.reached, "{}", case.id);
    let again = layer.call(&captured);
    assert_ne!(again.status, 200, "{}: its copy was accepted", case.id);
    // Refused by the replay guard itself, past the MAC: the guard is on for this scheme.
    assert!(
        again.body.contains("replayed_nonce"),
        "{}: {again:?}",
        case.id
    );
    let variants = mutations(&captured);
    assert!(
        variants.len() >= 4,
        "{}: {} variants",
        case.id,
        variants.len()
    );
    for variant in &variants {
        let answer = layer.call(variant);
        assert_ne!(
            answer.status, 200,
            "{}: a variant of a captured request was accepted (replay key not bound by \
             the MAC): {variant:?}",
            case.id
        );
    }
}

#[test]
fn every_scheme_accepts_once_and_binds_its_replay_key_to_the_mac() {
    for case in cases() {
        accepts_once_and_binds_its_replay_key(&case, &case.build(KNOWN, store()));
    }
}

#[test]
fn one_layer_holds_all_ten_schemes_and_each_accepts_once() {
    // More than the eight a layer's set was once limited to: the set is a run-time value.
    let layer = all_layer(store(), false);
    let ids = layer.0.scheme_ids();
    assert_eq!(ids.len(), 10, "{ids:?}");
    assert_eq!(
        ids,
        cases().iter().map(|c| c.id).collect::<Vec<_>>(),
        "in the order added"
    );
    // One layer, one replay store: each scheme's request beside the others'.
    for case in cases() {
        accepts_once_and_binds_its_replay_key(&case, &layer);
    }
}

#[test]
fn a_request_accepted_by_one_instance_is_a_replay_to_another_with_other_schemes() {
    // Two instances sharing the replay store, with different sets holding the scheme (alone on
    // one, among all ten in the reverse order on the other): a captured request is one request
    // to both, whichever saw it first.
    for case in cases() {
        let shared = store();
        let alone = case.build(KNOWN, shared.clone());
        let all = all_layer(shared, true);
        for (first, second, way) in [(&alone, &all, "alone → all"), (&all, &alone, "all → alone")]
        {
            let captured = (case.sign)(KNOWN, &key());
            let accepted = first.call(&captured);
            assert_eq!(accepted.status, 200, "{} {way}: {accepted:?}", case.id);
            let replayed = second.call(&captured);
            assert_eq!(replayed.status, 401, "{} {way}: {replayed:?}", case.id);
            assert_eq!(
                replayed.code().as_deref(),
                Some("replayed_nonce"),
                "{} {way}: {replayed:?}",
                case.id
            );
            assert!(!replayed.reached, "{} {way}", case.id);
        }
    }
}

/// `spec` with `part` changed.
fn tamper(spec: &Spec, part: Part) -> Spec {
    let mut out = spec.clone();
    let uri: http::Uri = spec.uri.parse().unwrap();
    let (scheme, authority, path) = (
        uri.scheme_str().unwrap(),
        uri.authority().unwrap().as_str(),
        uri.path(),
    );
    let query = uri.query().map(str::to_owned);
    let rebuild = |authority: &str, path: &str, query: Option<&str>| match query {
        Some(q) => format!("{scheme}://{authority}{path}?{q}"),
        None => format!("{scheme}://{authority}{path}"),
    };
    match part {
        Part::Method => {
            out.method = if spec.method == Method::GET {
                Method::DELETE
            } else {
                Method::PUT
            };
        }
        Part::Path => out.uri = rebuild(authority, &format!("{path}x"), query.as_deref()),
        Part::Query => {
            let query = query.expect("a request whose query is covered has one");
            let changed: Vec<String> = query
                .split('&')
                .map(|pair| match pair.strip_prefix("id=") {
                    Some(id) => format!("id={id}9"),
                    None => pair.to_owned(),
                })
                .collect();
            assert_ne!(changed.join("&"), query, "no id= in {query}");
            out.uri = rebuild(authority, path, Some(&changed.join("&")));
        }
        Part::Host => {
            assert_eq!(authority, HOST);
            out.uri = rebuild(OTHER_HOST, path, query.as_deref());
            out.set("host", OTHER_HOST);
        }
        Part::Header(name) => {
            let value = spec
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("no {name} header"))
                .1
                .clone();
            // Still well-formed and within the window: only the signature can tell.
            let changed = match name {
                "date" => httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(NOW - 1)),
                "x-slack-request-timestamp" => (NOW - 1).to_string(),
                _ => format!("{value}-tampered"),
            };
            assert_ne!(changed, value);
            out.set(name, &changed);
        }
        Part::Body => {
            if spec.body.is_empty() {
                out.body = b"{\"n\":1}".to_vec();
            } else {
                let at = out
                    .body
                    .iter()
                    .rposition(u8::is_ascii_digit)
                    .expect("a digit in the body");
                out.body[at] = b'0' + (out.body[at] - b'0' + 1) % 10;
            }
        }
    }
    out
}

#[test]
fn every_scheme_refuses_a_change_to_any_part_its_signature_covers() {
    for case in cases() {
        // Only the token is bound to nothing of the request.
        assert!(
            !case.covers.is_empty() || case.id == "token",
            "{}: covers nothing",
            case.id
        );
        let layer = Built(
            builder(store())
                .allowed_hosts(AllowedHosts::new([HOST, OTHER_HOST]).unwrap())
                .schemes(case.schemes(KNOWN))
                .build()
                .unwrap(),
        );
        let captured = (case.sign)(KNOWN, &key());
        for &part in case.covers {
            let tampered = tamper(&captured, part);
            let answer = layer.call(&tampered);
            assert_eq!(
                answer.status, 401,
                "{}: {part:?} changed: {answer:?} for {tampered:?}",
                case.id
            );
            assert!(
                !answer.reached,
                "{}: {part:?} changed reached the service",
                case.id
            );
            assert_ne!(
                answer.code().as_deref(),
                Some("replayed_nonce"),
                "{}: {part:?}",
                case.id
            );
        }
        // The request itself, after every changed copy of it: accepted (nothing above failed
        // for another reason, and no refusal recorded its nonce).
        let answer = layer.call(&captured);
        assert_eq!(answer.status, 200, "{}: {answer:?}", case.id);
    }
}

#[test]
fn stripes_random_signature_beside_the_captured_one_is_a_replay() {
    // The red team's finding, as it was sent: `v1=<random hex>,v1=<captured>` ten times.
    let store = store();
    let layer = cases()
        .into_iter()
        .find(|c| c.id == "stripe")
        .unwrap()
        .build(KNOWN, store);
    let captured = sign_stripe(KNOWN, &key());
    assert_eq!(layer.call(&captured).status, 200);
    let header = captured
        .headers
        .iter()
        .find(|(n, _)| n == "stripe-signature")
        .unwrap()
        .1
        .clone();
    let (t, v1) = header.split_once(",v1=").unwrap();
    for i in 0..10u8 {
        let mut replay = captured.clone();
        let random = hex::encode([i.wrapping_mul(37).wrapping_add(1); 32]);
        replay.set("stripe-signature", &format!("{t},v1={random},v1={v1}"));
        let answer = layer.call(&replay);
        assert_eq!(answer.status, 401, "{answer:?}");
        assert!(answer.body.contains("replayed_nonce"), "{}", answer.body);
    }
}

/// A bad signature from `key_id`: signed with another key.
fn bad(case: &Case, key_id: &str) -> Spec {
    (case.sign)(key_id, &other_key())
}

#[test]
fn every_schemes_answer_to_a_bad_signature_reflects_nothing_and_is_keyed() {
    for case in cases() {
        let layer = case.build(KNOWN, store());
        let answer = layer.call(&bad(&case, KNOWN));
        assert_eq!(answer.status, 401, "{}: {answer:?}", case.id);
        let all = format!("{:?}{}", answer.headers, answer.body);
        assert!(
            !all.contains(INJECTED),
            "{}: the answer reflects a header's value: {all}",
            case.id
        );
        for clear in [
            "string_to_sign\"",
            "StringToSign",
            "CanonicalRequest",
            "/orders",
        ] {
            assert!(
                !all.contains(clear),
                "{}: the answer carries {clear} in clear: {all}",
                case.id
            );
        }
    }
}

#[test]
fn every_scheme_answers_unknown_and_revoked_key_ids_as_a_bad_signature_in_answers_and_metrics() {
    for case in cases() {
        let reference = {
            let layer = case.build(KNOWN, store());
            layer.call(&bad(&case, KNOWN))
        };
        assert!(
            reference.metrics.iter().all(|m| !m.contains("app-a")),
            "{}: a refusal's metric names the app: {:?}",
            case.id,
            reference.metrics
        );
        for other in [UNKNOWN, REVOKED] {
            let layer = case.build(if case.bound { other } else { KNOWN }, store());
            // Correctly signed with the key the revoked id had: still refused, and alike.
            let answer = layer.call(&(case.sign)(other, &key()));
            assert_ne!(answer.status, 200, "{}: {other} accepted", case.id);
            assert_eq!(
                answer.shape(),
                reference.shape(),
                "{}: {other} is told from a known key with a bad signature",
                case.id
            );
        }
    }
}

#[test]
fn every_scheme_keys_a_refused_key_ids_digests_as_its_own() {
    // On one layer: the digests of a known key's bad signature, of two unknown key ids' and of a
    // revoked one's must all differ, as two real keys' do. One decoy key for every refused key
    // id made theirs identical: one request per candidate then told which key ids exist.
    for case in cases().into_iter().filter(|c| !c.bound) {
        let layer = case.build(KNOWN, store());
        let mut seen: Vec<(&str, Vec<String>)> = Vec::new();
        for key_id in [KNOWN, UNKNOWN, "k-unknown-2", REVOKED] {
            let answer = layer.call(&bad(&case, key_id));
            assert_eq!(answer.status, 401, "{}: {answer:?}", case.id);
            let Some(digests) = answer.digests() else {
                // A scheme without diagnostics (the token): nothing to tell apart.
                assert!(
                    seen.is_empty(),
                    "{}: digests for some key ids only",
                    case.id
                );
                continue;
            };
            // Lines that do not hold the key id differ as the keys do.
            for (other, theirs) in &seen {
                let same = digests.iter().zip(theirs).filter(|(a, b)| a == b).count();
                assert!(
                    same <= 1,
                    "{}: {key_id} and {other} share {same} digests: {digests:?}",
                    case.id
                );
            }
            seen.push((key_id, digests));
        }
    }
}

#[test]
fn a_refused_key_ids_time_mac_is_its_own() {
    // `tsm` of a stale answer, for refused key ids and the same nonce: different, as for two
    // real keys.
    let layer = Built(builder(store()).schemes(Schemes::only(V1)).build().unwrap());
    let stale = |key_id: &str| {
        let mut spec = Spec::new(Method::GET, "/orders", b"");
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, HOST.parse().unwrap());
        let uri: http::Uri = "/orders".parse().unwrap();
        let auth = tower_hmac::protocol::Signer::new(key_id, other_key())
            .unwrap()
            .sign(
                &(&Method::GET, &uri, &headers),
                &tower_hmac::protocol::body_sha256(b""),
                &tower_hmac::protocol::SignParams::new(NOW - 3600, "fixed-nonce-0123456789"),
            )
            .unwrap();
        spec.set("authorization", &auth.to_string());
        let answer = layer.call(&spec);
        assert!(answer.body.contains("stale_timestamp"), "{answer:?}");
        answer
            .headers
            .iter()
            .find(|h| h.starts_with("www-authenticate:"))
            .unwrap()
            .split("tsm=")
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let a = stale(UNKNOWN);
    assert_ne!(a, stale("k-unknown-2"));
    assert_ne!(a, stale(REVOKED));
}

#[test]
fn with_revealed_key_errors_the_metrics_follow_the_answer() {
    // The operator's choice applies to every output alike: revealed in the answer, revealed in
    // the metric.
    let layer = Built(
        builder(store())
            .reveal_key_errors(true)
            .schemes(Schemes::only(V1))
            .build()
            .unwrap(),
    );
    let answer = layer.call(&sign_v1(REVOKED, &key()));
    assert!(answer.body.contains("revoked_key"), "{}", answer.body);
    assert!(
        answer
            .metrics
            .iter()
            .any(|m| m.contains("code=revoked_key") && m.contains("app=app-b")),
        "{:?}",
        answer.metrics
    );
}

/// The ids of every scheme the core crate ships, read from its source (every file under
/// `src/`, whatever the modules' layout): a scheme added there without a row in `cases()` fails
/// here.
fn shipped_scheme_ids() -> BTreeSet<String> {
    fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut texts = Vec::new();
    sources(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tower-hmac-core/src"),
        &mut texts,
    );
    let mut ids = BTreeSet::new();
    for source in &texts {
        let lines: Vec<&str> = source.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim() == "fn id(&self) -> &'static str {" {
                let next = lines[i + 1].trim();
                if let Some(id) = next.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
                    ids.insert(id.to_owned());
                }
            }
            if let Some(rest) = line.strip_prefix("gateway_scheme!(") {
                ids.insert(rest.split('"').nth(1).unwrap().to_owned());
            }
        }
    }
    ids
}

#[test]
fn every_shipped_scheme_is_checked_here() {
    let checked: BTreeSet<String> = cases().iter().map(|c| c.id.to_owned()).collect();
    let shipped = shipped_scheme_ids();
    assert_eq!(shipped.len(), 10, "{shipped:?}");
    assert_eq!(checked, shipped, "a scheme without its row in cases()");
}

#[test]
fn a_per_key_algorithm_rule_is_not_told_in_the_answer() {
    // Kong with KNOWN kept to hmac-sha512: its hmac-sha256 request must be answered as an
    // unknown key id's (it was `malformed_authorization` "not allowed for this key").
    let layer = Built(
        builder(store())
            .schemes(Schemes::only(
                Kong::new().key_algorithms(KNOWN, &[Algorithm::HmacSha512]),
            ))
            .build()
            .unwrap(),
    );
    let known = layer.call(&sign_kong(KNOWN, &key()));
    let unknown = layer.call(&sign_kong(UNKNOWN, &key()));
    assert_eq!(known.status, 401, "{known:?}");
    assert!(known.body.contains("invalid_signature"), "{known:?}");
    assert_eq!(known.shape(), unknown.shape());
}

/// A scheme that looks for its credentials where it is told and verifies nothing: what a set may
/// hold beside the shipped schemes, and what it refuses.
use tower_hmac::test_util::NullScheme as Stub;

fn header_stub(id: &'static str, header: &'static str) -> Stub {
    Stub(id, Locator::Header(http::HeaderName::from_static(header)))
}

#[test]
fn a_ninth_and_a_tenth_scheme_build() {
    // The first eight shipped schemes, then two more one line each (the old tuple stopped at
    // eight).
    let eight = cases()
        .iter()
        .take(8)
        .fold(Schemes::empty(), |set, case| (case.add)(set, KNOWN));
    assert_eq!(eight.len(), 8);
    let layer = builder(store())
        .schemes(eight)
        .with_scheme(webhooks::Stripe::new(KNOWN))
        .with_scheme(webhooks::Slack::new(KNOWN))
        .build()
        .unwrap();
    assert_eq!(layer.scheme_ids().len(), 10);
    assert_eq!(layer.scheme_ids()[8..], ["stripe", "slack"]);
    // And further: six more of a user's own.
    let mut set = all_schemes(KNOWN, false);
    for (id, header) in [
        ("own-a", "x-own-a"),
        ("own-b", "x-own-b"),
        ("own-c", "x-own-c"),
        ("own-d", "x-own-d"),
        ("own-e", "x-own-e"),
        ("own-f", "x-own-f"),
    ] {
        set.push(header_stub(id, header));
    }
    let layer = builder(store()).schemes(set).build().unwrap();
    assert_eq!(layer.scheme_ids().len(), 16);
    // The sixteenth scheme's neighbours still verify.
    let layer = Built(layer);
    for case in cases() {
        let answer = layer.call(&(case.sign)(KNOWN, &key()));
        assert_eq!(answer.status, 200, "{}: {answer:?}", case.id);
    }
}

#[test]
fn the_same_scheme_twice_is_refused_naming_it() {
    // Protocol v1 is in the builder's set already.
    assert_eq!(
        builder(store()).with_scheme(V1).build().unwrap_err(),
        ConfigError::DuplicateScheme { id: "v1" }
    );
    assert_eq!(
        builder(store())
            .schemes(all_schemes(KNOWN, false).with(Kong::new().allow_sha1()))
            .build()
            .unwrap_err(),
        ConfigError::DuplicateScheme { id: "kong" }
    );
    // A provider's scheme bound to another key id is still the same scheme.
    assert_eq!(
        builder(store())
            .schemes(
                Schemes::only(webhooks::GitHub::new(KNOWN)).with(webhooks::GitHub::new(UNKNOWN))
            )
            .build()
            .unwrap_err(),
        ConfigError::DuplicateScheme { id: "github" }
    );
}

#[test]
fn two_schemes_whose_credentials_always_collide_are_refused_naming_both() {
    let impostor = || Stub("impostor", Locator::Authorization("HMAC-SHA256"));
    assert_eq!(
        builder(store())
            .with_scheme(impostor())
            .build()
            .unwrap_err(),
        ConfigError::CollidingSchemes {
            first: "v1",
            second: "impostor"
        }
    );
    // In the order added, whatever the order; the scheme token's case does not matter.
    assert_eq!(
        builder(store())
            .schemes(
                Schemes::only(Stub("impostor", Locator::Authorization("hmac-sha256"))).with(V1)
            )
            .build()
            .unwrap_err(),
        ConfigError::CollidingSchemes {
            first: "impostor",
            second: "v1"
        }
    );
    // Among all ten, last.
    assert_eq!(
        builder(store())
            .schemes(all_schemes(KNOWN, false).with(impostor()))
            .build()
            .unwrap_err(),
        ConfigError::CollidingSchemes {
            first: "v1",
            second: "impostor"
        }
    );
    // A header a shipped scheme reads, read by another.
    assert_eq!(
        builder(store())
            .schemes(all_schemes(KNOWN, false).with(header_stub("own", "x-hub-signature-256")))
            .build()
            .unwrap_err(),
        ConfigError::CollidingSchemes {
            first: "github",
            second: "own"
        }
    );
}

#[test]
fn a_route_rule_naming_a_scheme_not_in_the_set_is_refused() {
    assert_eq!(
        builder(store())
            .reserve(["nope"], |_| true)
            .build()
            .unwrap_err(),
        ConfigError::UnknownScheme { id: "nope".into() }
    );
    // A shipped scheme's id, but not in this layer's set.
    assert_eq!(
        builder(store())
            .reserve(["v1", "github"], |_| true)
            .build()
            .unwrap_err(),
        ConfigError::UnknownScheme {
            id: "github".into()
        }
    );
}

#[test]
fn an_empty_set_is_refused() {
    assert_eq!(
        builder(store())
            .schemes(Schemes::empty())
            .build()
            .unwrap_err(),
        ConfigError::NoScheme
    );
}

/// The code of a request no scheme looked for: `unsupported_scheme` when it has an
/// `Authorization` header, else `missing_authorization`.
fn not_looked_for(spec: &Spec) -> &'static str {
    if spec
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    {
        "unsupported_scheme"
    } else {
        "missing_authorization"
    }
}

fn path_of(spec: &Spec) -> String {
    spec.uri.parse::<http::Uri>().unwrap().path().to_owned()
}

#[test]
fn a_scheme_reserved_for_a_path_is_looked_for_there_only_and_alone() {
    // For each scheme, a layer of all ten with it reserved for the path of its requests: it
    // verifies there; its credentials elsewhere, and the other schemes' on that path, are not
    // looked for; the other schemes verify on their own paths.
    for reserved in cases() {
        let path = path_of(&(reserved.sign)(KNOWN, &key()));
        let route = path.clone();
        let layer = Built(
            builder(store())
                .schemes(all_schemes(KNOWN, false))
                .reserve([reserved.id], move |head| head.uri.path() == route)
                .build()
                .unwrap(),
        );
        let id = reserved.id;

        // Verified on its path, once.
        let captured = (reserved.sign)(KNOWN, &key());
        let answer = layer.call(&captured);
        assert_eq!(answer.status, 200, "{id} on {path}: {answer:?}");
        let again = layer.call(&captured);
        assert_eq!(again.code().as_deref(), Some("replayed_nonce"), "{id}");

        // Elsewhere, not looked for — where the same layer without the rule looks for it.
        let mut moved = (reserved.sign)(KNOWN, &key());
        let uri = moved.uri.replacen(&path, "/elsewhere", 1);
        moved.uri = uri;
        assert_eq!(path_of(&moved), "/elsewhere");
        let answer = layer.call(&moved);
        assert_eq!(answer.status, 401, "{id} elsewhere: {answer:?}");
        assert_eq!(
            answer.code().as_deref(),
            Some(not_looked_for(&moved)),
            "{id} elsewhere: {answer:?}"
        );
        assert!(!answer.reached);
        let unreserved = all_layer(store(), false).call(&moved);
        assert_ne!(
            unreserved.code().as_deref(),
            Some(not_looked_for(&moved)),
            "{id} elsewhere, no rule: {unreserved:?}"
        );

        for other in cases().iter().filter(|c| c.id != id) {
            let spec = (other.sign)(KNOWN, &key());
            let answer = layer.call(&spec);
            if path_of(&spec) == path {
                // On the reserved path: only the reserved scheme is looked for.
                assert_eq!(
                    answer.status, 401,
                    "{} on {id}'s {path}: {answer:?}",
                    other.id
                );
                assert_eq!(
                    answer.code().as_deref(),
                    Some(not_looked_for(&spec)),
                    "{} on {id}'s {path}: {answer:?}",
                    other.id
                );
                assert!(!answer.reached);
            } else {
                assert_eq!(
                    answer.status, 200,
                    "{} beside {id} reserved: {answer:?}",
                    other.id
                );
            }
        }
    }
}

#[test]
fn credentials_of_a_scheme_not_looked_for_make_no_ambiguity() {
    // GitHub reserved for its webhook: a request carrying v1's credentials and a GitHub
    // signature is verified as v1 on the API's paths and as GitHub on the webhook's, never
    // refused as ambiguous.
    let layer = Built(
        builder(store())
            .with_scheme(webhooks::GitHub::new(KNOWN))
            .reserve(["github"], |head| head.uri.path() == "/webhooks/github")
            .build()
            .unwrap(),
    );
    let both = |target: &str| {
        let mut spec = sign_github(KNOWN, &key());
        spec.uri = format!("http://{HOST}{target}");
        let auth = tower_hmac_integration::sign_at(
            KNOWN,
            &key(),
            &Method::POST,
            HOST,
            target,
            &spec.body,
            NOW,
        );
        spec.set("authorization", &auth.to_string());
        spec
    };
    let on_api = layer.call(&both("/orders"));
    assert_eq!(on_api.status, 200, "{on_api:?}");
    let on_hook = layer.call(&both("/webhooks/github"));
    assert_eq!(on_hook.status, 200, "{on_hook:?}");
    // Without the rule, the same request is ambiguous.
    let open = Built(
        builder(store())
            .with_scheme(webhooks::GitHub::new(KNOWN))
            .build()
            .unwrap(),
    );
    let answer = open.call(&both("/orders"));
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.code().as_deref(), Some("ambiguous_credentials"));
}
