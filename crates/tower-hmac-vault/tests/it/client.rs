//! The delegating client through its reqwest middleware and `Delegation::send`, against the fake
//! OAuth 2 upstream over TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::atomic::Ordering;
use std::time::Duration;

use tower_hmac_vault::client::{DelegationError, OnBehalfOf};
use tower_hmac_vault::{AuditKind, Risk};

use crate::client_fake_upstream::{HOUR, Setup};

fn me_for(setup: &Setup, user: &str, scopes: &[&str]) -> reqwest_middleware::RequestBuilder {
    setup.get_as(&setup.up.api("me"), user, scopes)
}

/// A call on `user`'s behalf that the delegation refuses: the error, its code and its status.
async fn refusal(
    setup: &Setup,
    user: &str,
    scopes: &[&str],
) -> (reqwest_middleware::Error, &'static str, u16) {
    let err = me_for(setup, user, scopes).send().await.unwrap_err();
    let refused = DelegationError::from_middleware(&err).expect("a delegation error");
    let (code, status) = (refused.code(), refused.status().as_u16());
    (err, code, status)
}

fn code_of(error: &reqwest_middleware::Error) -> &'static str {
    DelegationError::from_middleware(error)
        .expect("a delegation error")
        .code()
}

#[tokio::test]
async fn a_call_after_expiry_succeeds_with_exactly_one_refresh() {
    let setup = Setup::new().await;
    let (old_access, _) = setup.link("alice", HOUR, &["profile"]).await;
    setup.up.expire_all();

    let res = me_for(&setup, "alice", &["profile"]).send().await.unwrap();

    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"user":"alice"}"#);
    assert_eq!(setup.up.refreshes(), 1);
    assert_eq!(setup.up.state.stale.load(Ordering::SeqCst), 1);
    let (access, _) = setup.stored("alice").await.unwrap();
    assert_ne!(access, old_access);
    let refreshed = setup.events_of(AuditKind::TokenRefreshed);
    assert_eq!(refreshed.len(), 1);
    assert_eq!(refreshed[0].reason, "unauthorized");
    assert_eq!(refreshed[0].upstream.as_deref(), Some("fake"));
    assert_eq!(setup.delegation.refreshes_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_401s_cause_exactly_one_refresh() {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;
    setup.up.expire_all();
    // Every one of the 100 first requests gets its 401 only once all 100 have arrived.
    setup.up.hold_401s_until(100);

    let client = setup.client();
    let calls = (0..100).map(|_| {
        let request = client
            .get(setup.up.api("me"))
            .with_extension(OnBehalfOf::new("alice", "fake", ["profile"]));
        tokio::spawn(async move { request.send().await.map(|r| r.status()) })
    });
    let calls: Vec<_> = calls.collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 200);
    }

    assert_eq!(setup.up.state.stale.load(Ordering::SeqCst), 100);
    assert_eq!(setup.up.refreshes(), 1);
    assert_eq!(setup.events_of(AuditKind::TokenRefreshed).len(), 1);
    assert_eq!(
        setup.delegation.refreshes_in_flight(),
        0,
        "no lock left behind"
    );
}

#[tokio::test]
async fn the_rotated_refresh_token_is_stored_and_used_next_time() {
    let setup = Setup::new().await;
    let (_, first_refresh) = setup.link("alice", HOUR, &["profile"]).await;

    setup.up.expire_all();
    assert_eq!(
        me_for(&setup, "alice", &["profile"])
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (_, second_refresh) = setup.stored("alice").await.unwrap();
    assert_ne!(
        second_refresh, first_refresh,
        "the rotated refresh token is stored"
    );

    // A second expiry refreshes with the rotated token (the upstream accepts only that one).
    setup.up.expire_all();
    assert_eq!(
        me_for(&setup, "alice", &["profile"])
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(setup.up.refreshes(), 2);
    assert_eq!(setup.up.state.refused_refreshes.load(Ordering::SeqCst), 0);
    let (_, third_refresh) = setup.stored("alice").await.unwrap();
    assert_ne!(third_refresh, second_refresh);

    // The rotated-out refresh token is refused by the upstream.
    let res = reqwest::Client::new()
        .post(format!("{}/token", setup.up.origin))
        .basic_auth(
            crate::client_fake_upstream::CLIENT_ID,
            Some(crate::client_fake_upstream::CLIENT_SECRET),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={first_refresh}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("invalid_grant"));
}

#[tokio::test]
async fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
    let setup = Setup::new().await;
    let (old_access, refresh) = setup.link("alice", HOUR, &["profile"]).await;
    setup.up.without_rotation();
    setup.up.expire_all();

    assert_eq!(
        me_for(&setup, "alice", &["profile"])
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let (access, kept) = setup.stored("alice").await.unwrap();
    assert_ne!(access, old_access);
    assert_eq!(kept, refresh);
}

#[tokio::test]
async fn a_refused_refresh_revokes_the_tokens_and_audits_refresh_failed() {
    let setup = Setup::new().await;
    let (access, refresh) = setup.link("alice", HOUR, &["profile"]).await;
    setup.up.refuse_refreshes();
    setup.up.expire_all();

    let (err, code, status) = refusal(&setup, "alice", &["profile"]).await;

    assert_eq!((code, status), ("refresh_failed", 401));
    assert!(
        setup.stored("alice").await.is_none(),
        "the vault no longer holds them"
    );
    let failed = setup.events_of(AuditKind::TokenRefreshFailed);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].risk, Risk::High);
    assert_eq!(failed[0].reason, "invalid_grant");
    let revoked = setup.events_of(AuditKind::TokenRevoked);
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].reason, "refresh_failed");
    // No token in the error or the events.
    let seen = format!("{err:?} {err} {:?}", setup.events.all());
    assert!(
        !seen.contains(&access) && !seen.contains(&refresh),
        "{seen}"
    );
    assert!(!seen.contains("alice"), "only the user's hash: {seen}");
    // The next call: the user must link again.
    let err = me_for(&setup, "alice", &["profile"])
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err), "not_linked");
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_revokes_nothing() {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;
    setup.up.token_endpoint_down();
    setup.up.expire_all();

    let (_, code, status) = refusal(&setup, "alice", &["profile"]).await;

    assert_eq!((code, status), ("upstream_unavailable", 503));
    assert!(
        setup.stored("alice").await.is_some(),
        "kept for a later try"
    );
    assert!(setup.events_of(AuditKind::TokenRefreshFailed).is_empty());
    assert!(setup.events_of(AuditKind::TokenRevoked).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_queued_behind_a_failed_refresh_share_its_failure() {
    // Found by the attack on the demo: with the token endpoint down (or hanging), each caller
    // queued behind the refresh retried it in turn with the same refresh token, one timeout
    // after another. Now the failure is shared: one call to the token endpoint for the twenty.
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;
    setup.up.token_endpoint_down();
    setup.up.expire_all();
    setup.up.hold_401s_until(20);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let request = me_for(&setup, "alice", &["profile"]);
            tokio::spawn(async move { request.send().await.map(|r| r.status()) })
        })
        .collect();
    for call in calls {
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(code_of(&err), "upstream_unavailable");
    }
    assert_eq!(
        setup.up.state.unavailable_answers.load(Ordering::SeqCst),
        1,
        "one refresh for the twenty"
    );
    assert!(
        setup.stored("alice").await.is_some(),
        "kept for a later try"
    );
    setup.up.release_401s();

    // Within the hold, a new call does not try again; after it, one does.
    let err = me_for(&setup, "alice", &["profile"])
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err), "upstream_unavailable");
    assert_eq!(setup.up.state.unavailable_answers.load(Ordering::SeqCst), 1);
    setup
        .clock
        .advance(tower_hmac_vault::client::FAILED_REFRESH_HOLD + Duration::from_secs(1));
    let err = me_for(&setup, "alice", &["profile"])
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err), "upstream_unavailable");
    assert_eq!(setup.up.state.unavailable_answers.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_missing_scope_is_refused_before_anything_is_sent() {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;

    let (_, code, status) = refusal(&setup, "alice", &["profile", "repo:write"]).await;

    assert_eq!((code, status), ("insufficient_scope", 403));
    assert_eq!(setup.up.state.me_calls.load(Ordering::SeqCst), 0);
    let audited = setup.events_of(AuditKind::DelegationRefused);
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].reason, "insufficient_scope");
    assert_eq!(audited[0].upstream.as_deref(), Some("fake"));
}

#[tokio::test]
async fn a_destination_outside_the_upstreams_base_url_is_refused() {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;
    let port = setup.up.origin.rsplit(':').next().unwrap().to_owned();
    let outside = [
        format!("{}/me", setup.up.origin),
        format!("{}/api/../me", setup.up.origin),
        format!("http://localhost:{port}/api/me"),
        format!("https://127.0.0.1:{port}/api/me"),
    ];
    for url in outside {
        let err = setup
            .client()
            .get(&url)
            .with_extension(OnBehalfOf::new("alice", "fake", ["profile"]))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&err), "insecure_destination", "{url}");
    }
    assert_eq!(setup.up.state.me_calls.load(Ordering::SeqCst), 0);
    let audited = setup.events_of(AuditKind::DelegationRefused);
    assert_eq!(audited.len(), 4);
    assert!(audited.iter().all(|e| e.reason == "insecure_destination"));
}

#[tokio::test]
async fn a_request_without_on_behalf_of_passes_through_without_a_token() {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;

    let res = setup.client().get(setup.up.api("me")).send().await.unwrap();

    assert_eq!(res.status(), 401, "sent, but with no token");
    assert_eq!(setup.up.state.me_calls.load(Ordering::SeqCst), 1);
    assert_eq!(setup.up.refreshes(), 0);
}

#[tokio::test]
async fn a_user_without_tokens_is_not_linked() {
    let setup = Setup::new().await;

    let err = me_for(&setup, "bob", &["profile"])
        .send()
        .await
        .unwrap_err();

    let refused = DelegationError::from_middleware(&err).unwrap();
    assert_eq!(
        (refused.code(), refused.status().as_u16()),
        ("not_linked", 401)
    );
    assert_eq!(setup.up.state.me_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_it_is_sent() {
    let setup = Setup::new().await;
    setup
        .link("alice", Duration::from_secs(60), &["profile"])
        .await;
    // 55 s later on the vault's clock: 5 s left, inside the 10 s send margin.
    setup.clock.advance(Duration::from_secs(55));

    let res = me_for(&setup, "alice", &["profile"]).send().await.unwrap();

    assert_eq!(res.status(), 200);
    assert_eq!(setup.up.refreshes(), 1);
    assert_eq!(
        setup.up.state.stale.load(Ordering::SeqCst),
        0,
        "no 401 needed"
    );
    assert_eq!(
        setup.events_of(AuditKind::TokenRefreshed)[0].reason,
        "expiring"
    );
}

#[tokio::test]
async fn send_refreshes_and_retries_like_the_middleware() {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;
    setup.up.expire_all();

    let res = setup.send_as("alice", "me", &["profile"]).await.unwrap();

    assert_eq!(res.status(), 200);
    assert_eq!(setup.up.refreshes(), 1);

    let err = setup.send_as("alice", "me", &["admin"]).await.unwrap_err();
    assert_eq!(err.code(), "insufficient_scope");
}

#[tokio::test]
async fn an_unknown_upstream_is_refused() {
    let setup = Setup::new().await;
    let err = setup
        .client()
        .get(setup.up.api("me"))
        .with_extension(OnBehalfOf::new("alice", "elsewhere", ["profile"]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err), "unknown_upstream");
    assert_eq!(setup.up.state.me_calls.load(Ordering::SeqCst), 0);
}
