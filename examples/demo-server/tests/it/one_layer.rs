//! Issue 27: the demo mounts one layer for every scheme, the token and the three webhook
//! providers kept to their routes (`demo_server::reserve_routes`), on one replay store, with
//! every setting — the clock, the skew, the throttle — applying to every route. Over TCP against
//! the demo's routes and layer served in this process, on a clock the test holds a day behind
//! the system's: on the system clock (which the token and webhook layers used before the demo
//! had one layer) every timed credential here is long stale.

use std::sync::Arc;

use tower_hmac::SecretKey;
use tower_hmac::protocol::webhooks::{github_signature, slack_signature, stripe_signature};
use tower_hmac_integration::sign_at;

use crate::common::{InProcess, TestClock, get, listener, now_seconds, send, serve_demo};

/// A day: how far behind the system clock the tests' demo runs.
const DAY: u64 = 86_400;

/// The second the tests' clock is held at, a day behind the system's, and the settings of a
/// demo on it (the demo's other defaults: its throttle, 20 failures a minute, included).
fn a_day_behind() -> (u64, demo_server::Settings) {
    let t = now_seconds() - DAY;
    let settings = demo_server::Settings {
        clock: Some(TestClock::at(t * 1000).demo()),
        ..Default::default()
    };
    (t, settings)
}

fn demo_key() -> SecretKey {
    SecretKey::from_base64(demo_server::demo_secret_base64()).unwrap()
}

/// A raw `POST` of `body` with these headers, closing the connection after it.
fn post(host: &str, path: &str, headers: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut raw = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    raw.into_bytes()
}

/// GitHub's headers for `body` signed with the demo's GitHub secret (or with `secret`).
fn github_headers(body: &str, secret: &str) -> Vec<(&'static str, String)> {
    let key = SecretKey::from_text(secret).unwrap();
    vec![
        (
            "X-GitHub-Delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
        ),
        (
            "X-Hub-Signature-256",
            github_signature(&key, body.as_bytes()),
        ),
    ]
}

/// Stripe's header for `body` stamped `t`, signed with the demo's Stripe secret.
fn stripe_headers(body: &str, t: u64) -> Vec<(&'static str, String)> {
    let key = SecretKey::from_text(demo_server::DEMO_STRIPE_SECRET).unwrap();
    vec![(
        "Stripe-Signature",
        stripe_signature(&key, t, body.as_bytes()),
    )]
}

/// Slack's headers for `body` stamped `t`, signed with the demo's Slack secret.
fn slack_headers(body: &str, t: u64) -> Vec<(&'static str, String)> {
    let key = SecretKey::from_text(demo_server::DEMO_SLACK_SECRET).unwrap();
    vec![
        ("X-Slack-Request-Timestamp", t.to_string()),
        (
            "X-Slack-Signature",
            slack_signature(&key, t, body.as_bytes()),
        ),
    ]
}

/// A protocol v1 `POST` of `body` to `path`, signed with the demo key at `t` for `host`.
fn v1_post(host: &str, path: &str, body: &str, t: u64) -> Vec<u8> {
    let auth = sign_at(
        demo_server::DEMO_KEY_ID,
        &demo_key(),
        &http::Method::POST,
        host,
        path,
        body.as_bytes(),
        t,
    );
    post(host, path, &[("Authorization", auth.to_string())], body)
}

/// A protocol v1 `GET /whoami` signed with the demo key at `t` for `host`.
fn v1_whoami(host: &str, t: u64) -> Vec<u8> {
    let auth = sign_at(
        demo_server::DEMO_KEY_ID,
        &demo_key(),
        &http::Method::GET,
        host,
        "/whoami",
        b"",
        t,
    );
    get("/whoami", host, &auth.to_string())
}

/// A `GET` of `target` with this `X-Auth-Token`.
fn token_get(target: &str, host: &str, token: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {token}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Asserts a `401` with this code.
fn refused(answer: (u16, String), code: &str) {
    let (status, text) = answer;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains(&format!("\"code\":\"{code}\"")), "{text}");
}

/// Asserts a `200` from the handler, with this scheme.
fn accepted(answer: (u16, String), scheme: &str) {
    let (status, text) = answer;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&format!("\"scheme\":\"{scheme}\"")), "{text}");
}

#[test]
fn the_demo_layer_verifies_every_scheme_in_its_documented_order() {
    assert_eq!(
        demo_server::demo_schemes().ids(),
        [
            "v1",
            "softaware",
            "rfc9421",
            "sigv4",
            "kong",
            "apisix",
            "token",
            "github",
            "stripe",
            "slack"
        ]
    );
    let (_, settings) = a_day_behind();
    let store = demo_server::replay_store(&settings).unwrap();
    let layer = demo_server::layer(
        demo_server::demo_registry().unwrap(),
        "127.0.0.1:8080".parse().unwrap(),
        &settings,
        &store,
    )
    .unwrap();
    assert_eq!(layer.scheme_ids(), demo_server::demo_schemes().ids());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_delivery_is_accepted_on_its_route_only() {
    let (_, settings) = a_day_behind();
    let demo = serve_demo(&settings).await;
    let host = demo.addr.to_string();
    let body = r#"{"ref":"refs/heads/main","after":"1111111"}"#;
    let headers = github_headers(body, demo_server::DEMO_GITHUB_SECRET);
    // Elsewhere GitHub's signature is not looked for: not on the main routes, not on the other
    // providers' nor on the token's. (Sent first: a refusal there records nothing.)
    let mut whoami = format!("GET /whoami HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in &headers {
        whoami.push_str(&format!("{name}: {value}\r\n"));
    }
    whoami.push_str("Connection: close\r\n\r\n");
    refused(
        send(demo.addr, whoami.as_bytes()).await,
        "missing_authorization",
    );
    for path in ["/echo", "/webhooks/stripe", "/webhooks/slack"] {
        refused(
            send(demo.addr, &post(&host, path, &headers, body)).await,
            "missing_authorization",
        );
    }
    // On its route, through the same layer: accepted.
    let (status, text) = send(demo.addr, &post(&host, "/webhooks/github", &headers, body)).await;
    accepted((status, text.clone()), "github");
    assert!(
        text.contains(&format!("\"bytes\":{}", body.len())),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_signature_never_reaches_a_webhook_or_token_handler() {
    let (t, settings) = a_day_behind();
    let demo = serve_demo(&settings).await;
    let host = demo.addr.to_string();
    let body = r#"{"zen":"a v1 client on a webhook route"}"#;
    // A valid v1 signature of the demo key: on the webhook routes only the provider's scheme is
    // looked for, so the request is refused before any handler (whose answer has `bytes`).
    for path in ["/webhooks/github", "/webhooks/stripe", "/webhooks/slack"] {
        let (status, text) = send(demo.addr, &v1_post(&host, path, body, t)).await;
        assert!(
            !text.contains("\"bytes\""),
            "{path} reached its handler: {text}"
        );
        refused((status, text), "unsupported_scheme");
    }
    let auth = sign_at(
        demo_server::DEMO_KEY_ID,
        &demo_key(),
        &http::Method::GET,
        &host,
        "/token/whoami",
        b"",
        t,
    );
    let answer = send(demo.addr, &get("/token/whoami", &host, &auth.to_string())).await;
    refused(answer, "unsupported_scheme");
    // The same request is a good one: a layer of the same schemes without the demo's route
    // reservations lets it through to the handler. The refusal above is the reservation's.
    let (listener, addr) = listener().await;
    let open = tower_hmac::HmacAuthLayer::builder(
        demo_server::demo_registry().unwrap(),
        demo_server::hosts_for(addr, &[]).unwrap(),
    )
    .schemes(demo_server::demo_schemes())
    .clock(TestClock::at(t * 1000))
    .build()
    .unwrap();
    let unreserved = InProcess::spawn(listener, open);
    let host = addr.to_string();
    let (status, text) = send(addr, &v1_post(&host, "/webhooks/github", body, t)).await;
    accepted((status, text.clone()), "v1");
    assert!(text.contains("\"bytes\""), "{text}");
    drop(unreserved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_accepted_on_its_route_only_on_the_layers_clock() {
    let (t, settings) = a_day_behind();
    let demo = serve_demo(&settings).await;
    let host = demo.addr.to_string();
    // Stamped on the layer's clock, a day behind the system's: the token layer of old, on the
    // system clock, found it expired.
    let token =
        tower_hmac::protocol::token::issue(demo_server::DEMO_KEY_ID, t, &demo_key()).unwrap();
    // Not on the signed routes, nor on a webhook's (sent first: a refusal records nothing).
    refused(
        send(demo.addr, &token_get("/whoami", &host, &token)).await,
        "missing_authorization",
    );
    refused(
        send(demo.addr, &token_get("/admin/whoami", &host, &token)).await,
        "missing_authorization",
    );
    let raw = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {token}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    refused(
        send(demo.addr, raw.as_bytes()).await,
        "missing_authorization",
    );
    // On its route: accepted, once.
    accepted(
        send(demo.addr, &token_get("/token/whoami", &host, &token)).await,
        "token",
    );
    refused(
        send(demo.addr, &token_get("/token/whoami", &host, &token)).await,
        "replayed_nonce",
    );
    // Past its 30 s window on the layer's clock.
    let old =
        tower_hmac::protocol::token::issue(demo_server::DEMO_KEY_ID, t - 40, &demo_key()).unwrap();
    refused(
        send(demo.addr, &token_get("/token/whoami", &host, &old)).await,
        "expired",
    );
}

/// An instance of the demo's layer on `store`, served in this process.
async fn instance(
    settings: &demo_server::Settings,
    store: &demo_server::SharedNonceStore,
) -> InProcess {
    let (listener, addr) = listener().await;
    let layer =
        demo_server::layer(demo_server::demo_registry().unwrap(), addr, settings, store).unwrap();
    InProcess::spawn(listener, layer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheme_records_in_the_one_replay_store() {
    let (t, mut settings) = a_day_behind();
    settings.extra_hosts = vec!["demo.test".into()];
    // Two instances on one store, as two processes on one Redis, both answering for
    // `demo.test`.
    let store: demo_server::SharedNonceStore = Arc::new(tower_hmac::MemoryNonceStore::default());
    let a = instance(&settings, &store).await;
    let b = instance(&settings, &store).await;
    let host = "demo.test";
    let body = r#"{"id":"evt_one_store"}"#;
    let token =
        tower_hmac::protocol::token::issue(demo_server::DEMO_KEY_ID, t, &demo_key()).unwrap();
    let requests: [(&str, Vec<u8>); 5] = [
        ("v1", v1_whoami(host, t)),
        ("token", token_get("/token/whoami", host, &token)),
        (
            "github",
            post(
                host,
                "/webhooks/github",
                &github_headers(body, demo_server::DEMO_GITHUB_SECRET),
                body,
            ),
        ),
        (
            "stripe",
            post(host, "/webhooks/stripe", &stripe_headers(body, t), body),
        ),
        (
            "slack",
            post(host, "/webhooks/slack", &slack_headers(body, t), body),
        ),
    ];
    // Each accepted once by the first instance, then a replay there and on the other: every
    // scheme of the one layer records in the store it was given.
    for (scheme, raw) in &requests {
        accepted(send(a.addr, raw).await, scheme);
        refused(send(a.addr, raw).await, "replayed_nonce");
        refused(send(b.addr, raw).await, "replayed_nonce");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_webhook_signatures_count_toward_the_throttle() {
    // Three failures a minute, on a clock the test holds: no try is earned back however slow
    // the run.
    let (t, mut settings) = a_day_behind();
    settings.throttle = demo_server::Throttle::Failures {
        failures: 3,
        seconds: 60,
    };
    let demo = serve_demo(&settings).await;
    let host = demo.addr.to_string();
    let body = r#"{"zen":"guessing the secret"}"#;
    let forged = github_headers(body, "not_the_demo_github_secret_0001");
    for _ in 0..3 {
        refused(
            send(demo.addr, &post(&host, "/webhooks/github", &forged, body)).await,
            "invalid_signature",
        );
    }
    // From that address, even the right secret waits — and a protocol v1 caller too: one
    // throttle for every route of the one layer.
    let good = github_headers(body, demo_server::DEMO_GITHUB_SECRET);
    let (status, text) = send(demo.addr, &post(&host, "/webhooks/github", &good, body)).await;
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("\"code\":\"too_many_failures\""), "{text}");
    let (status, text) = send(demo.addr, &v1_whoami(&host, t)).await;
    assert_eq!(status, 429, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layers_clock_and_skew_apply_to_the_webhooks() {
    // A skew of 5 s on a clock a day behind the system's: Stripe's and Slack's deliveries are
    // judged on that clock with that skew (the webhook layers of old used the system clock and
    // 300 s).
    let (t, mut settings) = a_day_behind();
    settings.max_skew = Some(std::time::Duration::from_secs(5));
    let demo = serve_demo(&settings).await;
    let host = demo.addr.to_string();
    let body = r#"{"id":"evt_on_the_layers_clock"}"#;
    accepted(
        send(
            demo.addr,
            &post(&host, "/webhooks/stripe", &stripe_headers(body, t), body),
        )
        .await,
        "stripe",
    );
    accepted(
        send(
            demo.addr,
            &post(&host, "/webhooks/slack", &slack_headers(body, t), body),
        )
        .await,
        "slack",
    );
    // Ten seconds off: within the providers' 300 s, outside the demo's skew.
    let other = r#"{"id":"evt_ten_seconds_old"}"#;
    refused(
        send(
            demo.addr,
            &post(
                &host,
                "/webhooks/stripe",
                &stripe_headers(other, t - 10),
                other,
            ),
        )
        .await,
        "stale_timestamp",
    );
    refused(
        send(
            demo.addr,
            &post(
                &host,
                "/webhooks/slack",
                &slack_headers(other, t + 10),
                other,
            ),
        )
        .await,
        "stale_timestamp",
    );
}
