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
//!    in the answer (status, headers, body) and in the metrics anyone may scrape.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use metrics_util::debugging::DebuggingRecorder;
use tower::ServiceExt;
use tower_hmac::protocol::gateway::{Algorithm, Apisix, Kong};
use tower_hmac::protocol::{
    KeyRecord, KeyState, NonceStore, V1, rfc9421, sigv4, softaware, token, webhooks,
};
use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore, SecretKey};

const NOW: u64 = 1_700_000_000;
const HOST: &str = "api.test";
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

/// The layer of one scheme for the key id `key_id` (a webhook scheme is bound to one), on
/// `store`.
type Build = fn(&str, Arc<dyn NonceStore>) -> Box<dyn Layered>;

/// A built layer, its scheme set erased for the table.
trait Layered {
    fn call(&self, spec: &Spec) -> Answer;
}

struct Built<S: tower_hmac::server::SchemeSet>(HmacAuthLayer<S>);

impl<S: tower_hmac::server::SchemeSet> Layered for Built<S> {
    fn call(&self, spec: &Spec) -> Answer {
        let svc = tower::ServiceBuilder::new()
            .layer(self.0.clone())
            .service_fn(|_req: Request<tower_hmac::server::VerifiedBody>| async {
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                    b"inner",
                ))))
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
}

impl Answer {
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

fn builder(store: Arc<dyn NonceStore>) -> tower_hmac::HmacAuthBuilder {
    HmacAuthLayer::builder(registry(), AllowedHosts::new([HOST]).unwrap())
        .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
        .nonce_store(store)
}

macro_rules! layer {
    ($scheme:expr) => {
        |_key_id: &str, store: Arc<dyn NonceStore>| -> Box<dyn Layered> {
            Box::new(Built(builder(store).schemes(($scheme,)).build().unwrap()))
        }
    };
}

fn build_github(key_id: &str, store: Arc<dyn NonceStore>) -> Box<dyn Layered> {
    let scheme = webhooks::GitHub::new(Box::leak(key_id.to_owned().into_boxed_str()));
    Box::new(Built(builder(store).schemes((scheme,)).build().unwrap()))
}

fn build_stripe(key_id: &str, store: Arc<dyn NonceStore>) -> Box<dyn Layered> {
    let scheme = webhooks::Stripe::new(Box::leak(key_id.to_owned().into_boxed_str()));
    Box::new(Built(builder(store).schemes((scheme,)).build().unwrap()))
}

fn build_slack(key_id: &str, store: Arc<dyn NonceStore>) -> Box<dyn Layered> {
    let scheme = webhooks::Slack::new(Box::leak(key_id.to_owned().into_boxed_str()));
    Box::new(Built(builder(store).schemes((scheme,)).build().unwrap()))
}

struct Case {
    id: &'static str,
    sign: Sign,
    build: Build,
    /// A provider's scheme is bound to one registry key id, set when it is built.
    bound: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "v1",
            sign: sign_v1,
            build: layer!(V1),
            bound: false,
        },
        Case {
            id: "token",
            sign: sign_token,
            build: layer!(token::Token::default()),
            bound: false,
        },
        Case {
            id: "softaware",
            sign: sign_softaware,
            build: layer!(softaware::Softaware::new().uri_scheme("http")),
            bound: false,
        },
        Case {
            id: "rfc9421",
            sign: sign_rfc9421,
            build: layer!(rfc9421::Rfc9421::new().uri_scheme("http")),
            bound: false,
        },
        Case {
            id: "sigv4",
            sign: sign_sigv4,
            build: layer!(sigv4::SigV4::new("us-east-1", "test").one_time_presigned_urls(true)),
            bound: false,
        },
        Case {
            id: "kong",
            sign: sign_kong,
            build: layer!(Kong::new()),
            bound: false,
        },
        Case {
            id: "apisix",
            sign: sign_apisix,
            build: layer!(Apisix::new()),
            bound: false,
        },
        Case {
            id: "github",
            sign: sign_github,
            build: build_github,
            bound: true,
        },
        Case {
            id: "stripe",
            sign: sign_stripe,
            build: build_stripe,
            bound: true,
        },
        Case {
            id: "slack",
            sign: sign_slack,
            build: build_slack,
            bound: true,
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

#[test]
fn every_scheme_accepts_once_and_binds_its_replay_key_to_the_mac() {
    for case in cases() {
        let store = store();
        let layer = (case.build)(KNOWN, store.clone());
        let captured = (case.sign)(KNOWN, &key());
        let first = layer.call(&captured);
        assert_eq!(
            first.status, 200,
            "{}: a correct request: {first:?}",
            case.id
        );
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
}

#[test]
fn stripes_random_signature_beside_the_captured_one_is_a_replay() {
    // The red team's finding, as it was sent: `v1=<random hex>,v1=<captured>` ten times.
    let store = store();
    let layer = build_stripe(KNOWN, store);
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
        let layer = (case.build)(KNOWN, store());
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
            let layer = (case.build)(KNOWN, store());
            layer.call(&bad(&case, KNOWN))
        };
        assert!(
            reference.metrics.iter().all(|m| !m.contains("app-a")),
            "{}: a refusal's metric names the app: {:?}",
            case.id,
            reference.metrics
        );
        for other in [UNKNOWN, REVOKED] {
            let layer = (case.build)(if case.bound { other } else { KNOWN }, store());
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
        let layer = (case.build)(KNOWN, store());
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
    let layer = Built(builder(store()).schemes((V1,)).build().unwrap());
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
            .schemes((V1,))
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

/// The ids of every scheme the core crate ships, read from its source: a scheme added there
/// without a row in `cases()` fails here.
fn shipped_scheme_ids() -> BTreeSet<String> {
    let sources = [
        include_str!("../../crates/tower-hmac-core/src/scheme.rs"),
        include_str!("../../crates/tower-hmac-core/src/token.rs"),
        include_str!("../../crates/tower-hmac-core/src/softaware.rs"),
        include_str!("../../crates/tower-hmac-core/src/rfc9421.rs"),
        include_str!("../../crates/tower-hmac-core/src/sigv4.rs"),
        include_str!("../../crates/tower-hmac-core/src/webhooks.rs"),
        include_str!("../../crates/tower-hmac-core/src/gateway.rs"),
    ];
    let mut ids = BTreeSet::new();
    for source in sources {
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
            .schemes((Kong::new().key_algorithms(KNOWN, &[Algorithm::HmacSha512]),))
            .build()
            .unwrap(),
    );
    let known = layer.call(&sign_kong(KNOWN, &key()));
    let unknown = layer.call(&sign_kong(UNKNOWN, &key()));
    assert_eq!(known.status, 401, "{known:?}");
    assert!(known.body.contains("invalid_signature"), "{known:?}");
    assert_eq!(known.shape(), unknown.shape());
}
