//! A hostile or broken token endpoint or upstream, over TCP (docs/DELEGATION.md, the threat
//! table): the token endpoint's answer is read up to 64 KiB; its redirects are not followed; nor
//! are the upstream API's: a `302` is passed back and the token never leaves the base URL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::error::Error as _;
use std::sync::atomic::Ordering;

use axum::http::{StatusCode, header};
use tower_hmac_vault::AuditKind;
use tower_hmac_vault::client::DelegationError;

use crate::client_fake_upstream::{CLIENT_ID, CLIENT_SECRET, FakeUpstream, Framing, HOUR, Setup};

/// `MAX_TOKEN_RESPONSE` in `src/client/refresh.rs`, as the doc states it.
const LIMIT: usize = 64 * 1024;

/// `GET <api>/me` on alice's behalf through the reqwest middleware.
async fn me_as_alice(setup: &Setup) -> reqwest_middleware::Result<reqwest::Response> {
    setup
        .get_as(&setup.up.api("me"), "alice", &["profile"])
        .send()
        .await
}

/// The refusal's code, status and the message of its source (the token endpoint's fault).
fn refusal(err: &reqwest_middleware::Error) -> (&'static str, u16, String) {
    let refused = DelegationError::from_middleware(err).expect("a delegation error");
    let source = refused
        .source()
        .map(ToString::to_string)
        .unwrap_or_default();
    (refused.code(), refused.status().as_u16(), source)
}

/// Nothing revoked, nothing refreshed, no refresh failure audited.
fn assert_nothing_audited(setup: &Setup) {
    for kind in [
        AuditKind::TokenRefreshed,
        AuditKind::TokenRefreshFailed,
        AuditKind::TokenRevoked,
    ] {
        assert!(setup.events_of(kind).is_empty(), "{kind:?}");
    }
}

/// A refresh at the fake's `/token` outside the delegation (for a user granted for the
/// purpose): what the padded answer looks like on the wire.
async fn probe_token_answer(up: &FakeUpstream) -> (Option<u64>, Vec<u8>) {
    let (_, refresh) = up.grant("probe");
    let res = reqwest::Client::new()
        .post(format!("{}/token", up.origin))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=refresh_token&refresh_token={refresh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let declared = res
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (declared, res.bytes().await.unwrap().to_vec())
}

/// A token endpoint whose answers are a valid token response padded to `len` bytes.
async fn padded_setup(len: usize, framing: Framing) -> Setup {
    let setup = Setup::new().await;
    setup.up.pad_token_answers_to(len, framing);
    let (declared, body) = probe_token_answer(&setup.up).await;
    assert_eq!(body.len(), len, "{framing:?}");
    let expected_length = match framing {
        Framing::ContentLength => Some(len as u64),
        Framing::Chunked => None,
    };
    assert_eq!(declared, expected_length, "{framing:?}");
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["token_type"], "Bearer", "a valid token response");
    assert!(answer["access_token"].is_string());
    setup
}

#[tokio::test]
async fn a_token_answer_over_64_kib_is_refused_and_the_tokens_held_are_kept() {
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let setup = padded_setup(LIMIT + 1, framing).await;
        let held = setup.link("alice", HOUR, &["profile"]).await;
        setup.up.expire_all();
        let answered = setup.up.refreshes();

        let err = me_as_alice(&setup).await.unwrap_err();

        assert_eq!(
            refusal(&err),
            (
                "upstream_unavailable",
                503,
                "token endpoint answer too large".to_owned()
            ),
            "{framing:?}"
        );
        assert_eq!(
            setup.up.refreshes(),
            answered + 1,
            "the endpoint answered; the answer was refused ({framing:?})"
        );
        assert_eq!(
            setup.stored("alice").await,
            Some(held),
            "neither replaced nor deleted ({framing:?})"
        );
        assert_nothing_audited(&setup);
    }
}

#[tokio::test]
async fn a_token_answer_of_exactly_64_kib_is_used() {
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let setup = padded_setup(LIMIT, framing).await;
        let (old_access, old_refresh) = setup.link("alice", HOUR, &["profile"]).await;
        setup.up.expire_all();

        let res = me_as_alice(&setup).await.unwrap();

        assert_eq!(res.status(), 200, "{framing:?}");
        assert_eq!(res.text().await.unwrap(), r#"{"user":"alice"}"#);
        let (access, refresh) = setup.stored("alice").await.unwrap();
        assert_ne!(access, old_access, "{framing:?}");
        assert_ne!(refresh, old_refresh, "the rotated one ({framing:?})");
        assert_eq!(setup.events_of(AuditKind::TokenRefreshed).len(), 1);
    }
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_is_not_followed() {
    for status in [
        StatusCode::FOUND,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        let setup = Setup::new().await;
        let held = setup.link("alice", HOUR, &["profile"]).await;
        // A second token endpoint that would accept alice's refresh token (and the client's
        // credentials) and answer a valid token.
        let elsewhere = FakeUpstream::start().await;
        assert_eq!(elsewhere.grant("alice").1, held.1);
        setup
            .up
            .redirect_token_endpoint(status, &format!("{}/token", elsewhere.origin));
        setup.up.expire_all();

        let err = me_as_alice(&setup).await.unwrap_err();

        assert_eq!(
            refusal(&err),
            (
                "upstream_unavailable",
                503,
                format!("token endpoint answered {}", status.as_u16())
            )
        );
        assert_eq!(setup.up.authorizations_at("/token").len(), 1, "{status}");
        assert_eq!(elsewhere.requests(), 0, "not followed ({status})");
        assert_eq!(elsewhere.refreshes(), 0);
        assert_eq!(setup.stored("alice").await, Some(held), "kept ({status})");
        assert_nothing_audited(&setup);
    }
}

/// Where a redirect from `<api>/moved` points: another server, which would accept alice's
/// token; or the upstream's own origin outside its base URL (`/me`, which accepts it too),
/// absolute or relative.
const TARGETS: [Target; 3] = [Target::Elsewhere, Target::OwnOrigin, Target::Relative];

#[derive(Clone, Copy, Debug)]
enum Target {
    Elsewhere,
    OwnOrigin,
    Relative,
}

/// A linked alice whose `<api>/moved` answers a `status` redirect to `target`; the other
/// server; the `Location` sent.
async fn moved_setup(status: StatusCode, target: Target) -> (Setup, FakeUpstream, String) {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;
    let elsewhere = FakeUpstream::start().await;
    elsewhere.grant("alice");
    let location = match target {
        Target::Elsewhere => format!("{}/api/me", elsewhere.origin),
        Target::OwnOrigin => format!("{}/me", setup.up.origin),
        Target::Relative => "/me".to_owned(),
    };
    setup.up.redirect_api_moved(status, &location);
    (setup, elsewhere, location)
}

/// The delegated call was answered `status` with `location`, and nothing followed it.
async fn assert_passed_back(
    setup: &Setup,
    elsewhere: &FakeUpstream,
    res: reqwest::Response,
    status: StatusCode,
    location: &str,
) {
    assert_eq!(res.status(), status, "passed back ({location})");
    assert_eq!(
        res.headers().get(header::LOCATION).unwrap(),
        location,
        "as sent"
    );
    assert_eq!(elsewhere.requests(), 0, "not followed ({location})");
    assert!(
        setup.up.authorizations_at("/me").is_empty(),
        "the token never left the base URL ({location})"
    );
    assert_eq!(setup.up.state.me_calls.load(Ordering::SeqCst), 0);
    let sent = setup.up.authorizations_at("/api/moved");
    assert_eq!(sent.len(), 1, "one call, no retry ({location})");
    assert!(sent[0].starts_with("Bearer "), "with the token");
    assert_eq!(setup.up.refreshes(), 0);
}

#[tokio::test]
async fn a_redirect_from_the_upstream_is_passed_back_by_send() {
    for status in [StatusCode::FOUND, StatusCode::TEMPORARY_REDIRECT] {
        for target in TARGETS {
            let (setup, elsewhere, location) = moved_setup(status, target).await;
            let res = setup.send_as("alice", "moved", &["profile"]).await.unwrap();

            assert_passed_back(&setup, &elsewhere, res, status, &location).await;
        }
    }
}

#[tokio::test]
async fn a_redirect_from_the_upstream_is_passed_back_by_the_middleware() {
    for status in [StatusCode::FOUND, StatusCode::TEMPORARY_REDIRECT] {
        for target in TARGETS {
            let (setup, elsewhere, location) = moved_setup(status, target).await;

            // Over `reqwest::Client::new()`, as the crate's documentation builds it.
            let res = setup
                .get_as(&setup.up.api("moved"), "alice", &["profile"])
                .send()
                .await
                .unwrap();

            assert_passed_back(&setup, &elsewhere, res, status, &location).await;
        }
    }
}

/// A transport error on the delegated call names no URL (its query may carry a value the
/// caller put there): through the middleware as through `Delegation::send`, the one path that
/// sends a token.
#[tokio::test]
async fn a_dropped_connection_is_upstream_unavailable_without_the_url() {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;
    let url = format!("{}?q=private-query-text", setup.up.api("broken"));

    let err = setup
        .get_as(&url, "alice", &["profile"])
        .send()
        .await
        .unwrap_err();

    let (code, status, _) = refusal(&err);
    assert_eq!((code, status), ("upstream_unavailable", 503));
    let mut shown = format!("{err} {err:?}");
    let mut source = err.source();
    while let Some(e) = source {
        shown.push_str(&format!(" {e} {e:?}"));
        source = e.source();
    }
    assert!(!shown.contains("private-query-text"), "{shown}");
    assert!(!shown.contains("/api/broken"), "{shown}");
}

/// A token-bearing request goes out with the delegation's client, not the wrapped one: it
/// carries the delegation's user agent (some APIs refuse a request without one), whatever the
/// wrapped client's.
#[tokio::test]
async fn the_delegated_call_carries_the_delegations_user_agent() {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;
    let before = setup.up.state.user_agents.lock().unwrap().len();

    let res = me_as_alice(&setup).await.unwrap();

    assert_eq!(res.status(), 200);
    let agents = setup.up.state.user_agents.lock().unwrap()[before..].to_vec();
    assert_eq!(
        agents,
        vec![tower_hmac_vault::client::DEFAULT_USER_AGENT.to_owned()]
    );
    assert!(tower_hmac_vault::client::DEFAULT_USER_AGENT.starts_with("tower-hmac-vault/"));
}
