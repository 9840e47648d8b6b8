//! A reused refresh token raises one high-risk event on `tower_hmac::sessions`, with the subject
//! and the session, never a token; every refusal (bearer layer, refresh, login) is one event and
//! one metric with its code (the `metrics` feature); a reuse and the revocation of a subject's
//! sessions reach the audit hook (`SESSION_TOKEN_REUSED`, `SESSIONS_REVOKED`). Each test runs in
//! a process of its own ([`crate::alone`]): tracing caches callsite interest.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(not(feature = "metrics"), allow(dead_code, unused_imports))]

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Full;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac_core::audit::{AuditKind, Risk};

use crate::policy::sessions as audited;
use tower_hmac_core::{ManualClock, SecretKey};
use tower_hmac_sessions::{
    BearerAuthLayer, LoginGuard, LoginLimits, LoginRefusal, MemorySessionStore, RefreshError,
    SessionConfig, Sessions, SigningKeys,
};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_reused_refresh_token_is_a_high_risk_event_without_tokens() {
    crate::alone(
        "audit::a_reused_refresh_token_is_a_high_risk_event_without_tokens",
        || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(a_reused_refresh_token_is_a_high_risk_event_without_tokens_here());
        },
    );
}

async fn a_reused_refresh_token_is_a_high_risk_event_without_tokens_here() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sessions = Sessions::new(
        SigningKeys::new("k1", SecretKey::from_bytes(&[3; 32]).unwrap()).unwrap(),
        MemorySessionStore::new(),
        SessionConfig::new("https://auth.example.com", "orders-api"),
    )
    .with_clock(ManualClock::at_unix(1_800_000_000));
    let first = sessions.login("alice", &[]).await.unwrap();
    let second = sessions.refresh(&first.refresh_token).await.unwrap();
    assert!(matches!(
        sessions.refresh(&first.refresh_token).await.unwrap_err(),
        RefreshError::Reused
    ));

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let reused: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("refresh_token_reused"))
        .collect();
    assert_eq!(reused.len(), 1, "{text}");
    assert!(
        reused[0].contains("WARN") && reused[0].contains("risk=\"high\""),
        "{text}"
    );
    assert!(reused[0].contains("subject=\"alice\""), "{text}");
    for token in [
        &first.access_token,
        &first.refresh_token,
        &second.access_token,
        &second.refresh_token,
    ] {
        assert!(!text.contains(token.as_str()), "a token was logged: {text}");
    }
}

/// What a scenario left: the refusal events' lines and the refusal counters' increments.
struct Seen {
    events: Vec<String>,
    counters: Vec<(String, String, u64)>,
}

fn seen(captured: &Captured, from: usize, snapshotter: &Snapshotter) -> (Seen, usize) {
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let events = text[from..]
        .lines()
        .filter(|l| l.contains("_refused") || l.contains("refresh_token_reused"))
        .map(str::to_owned)
        .collect();
    let mut counters = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let DebugValue::Counter(n) = value else {
            continue;
        };
        let key = key.key();
        if key.name() != "tower_hmac_sessions_refusals_total" || n == 0 {
            continue;
        }
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
                .unwrap_or_default()
        };
        counters.push((label("stage"), label("code"), n));
    }
    (Seen { events, counters }, text.len())
}

/// Runs `test` on a current-thread runtime with this thread's events captured and its metrics
/// recorded by a local `DebuggingRecorder` (run it `alone`: the recorder is the thread's);
/// returns everything logged.
#[cfg(feature = "metrics")]
fn with_events_and_metrics<F>(test: impl FnOnce(Captured, Snapshotter) -> F) -> String
where
    F: std::future::Future<Output = ()>,
{
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test(captured.clone(), snapshotter));
    });
    String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
}

/// Issue 24 item 10 (sessions): each refusal of the bearer layer, of a refresh and of a login is
/// exactly one decision event on `tower_hmac::sessions` and one increment of
/// `tower_hmac_sessions_refusals_total{stage, code}`, with the stable code.
#[cfg(feature = "metrics")]
#[test]
fn every_refusal_is_one_event_and_one_metric_with_its_code() {
    crate::alone(
        "audit::every_refusal_is_one_event_and_one_metric_with_its_code",
        every_refusal_is_one_event_and_one_metric_with_its_code_here,
    );
}

#[cfg(feature = "metrics")]
fn every_refusal_is_one_event_and_one_metric_with_its_code_here() {
    let text = with_events_and_metrics(|captured, snapshotter| async move {
        let clock = ManualClock::at_unix(1_800_000_000);
        let sessions = Arc::new(
            Sessions::new(
                SigningKeys::new("k1", SecretKey::from_bytes(&[3; 32]).unwrap()).unwrap(),
                MemorySessionStore::new(),
                SessionConfig::new("https://auth.example.com", "orders-api"),
            )
            .with_clock(clock.clone()),
        );
        let svc = ServiceBuilder::new()
            .layer(BearerAuthLayer::new(Arc::clone(&sessions)))
            .service_fn(|_req: Request<Full<Bytes>>| async {
                Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
            });
        let call = |authorization: Option<String>| {
            let svc = svc.clone();
            async move {
                let mut req = Request::get("/me").body(Full::default()).unwrap();
                if let Some(value) = authorization {
                    req.headers_mut()
                        .insert(AUTHORIZATION, value.parse().unwrap());
                }
                svc.oneshot(req).await.unwrap().status().as_u16()
            }
        };
        let guard = LoginGuard::new(LoginLimits::new().failures(1, 10, Duration::from_secs(60)))
            .unwrap()
            .with_clock(clock.clone());
        let client = Some(IpAddr::from([198, 51, 100, 7]));
        let at = std::cell::Cell::new(0);
        // What comes before the refusal under test (logins, revocations) is not counted.
        let skip = || at.set(seen(&captured, at.get(), &snapshotter).1);
        let expect = |stage: &str, code: &str| {
            let (seen, end) = seen(&captured, at.get(), &snapshotter);
            at.set(end);
            assert_eq!(
                seen.counters,
                vec![(stage.to_owned(), code.to_owned(), 1)],
                "{stage} {code}: one metric"
            );
            assert_eq!(
                seen.events.len(),
                1,
                "{stage} {code}: one event: {:?}",
                seen.events
            );
            assert!(
                seen.events[0].contains(&format!("code=\"{code}\"")),
                "{:?}",
                seen.events
            );
            assert!(
                seen.events[0].contains("tower_hmac::sessions"),
                "{:?}",
                seen.events
            );
        };

        // The bearer layer.
        assert_eq!(call(None).await, 401);
        expect("access", "missing_token");
        assert_eq!(call(Some("Bearer not.a.jwt".into())).await, 401);
        expect("access", "invalid_token");
        let pair = sessions.login("alice", &[]).await.unwrap();
        clock.advance(Duration::from_secs(900 + 31));
        assert_eq!(
            call(Some(format!("Bearer {}", pair.access_token))).await,
            401
        );
        expect("access", "token_expired");
        let pair = sessions.login("alice", &[]).await.unwrap();
        let sid = sessions
            .verify_access(&pair.access_token)
            .await
            .unwrap()
            .sid;
        sessions.revoke_session(&sid).await.unwrap();
        skip();
        assert_eq!(
            call(Some(format!("Bearer {}", pair.access_token))).await,
            401
        );
        expect("access", "token_revoked");

        // Refresh.
        assert!(sessions.refresh("no-such-token").await.is_err());
        expect("refresh", "invalid_grant");
        assert!(sessions.refresh(&pair.refresh_token).await.is_err());
        expect("refresh", "session_revoked");
        let first = sessions.login("alice", &[]).await.unwrap();
        sessions.refresh(&first.refresh_token).await.unwrap();
        skip();
        assert!(sessions.refresh(&first.refresh_token).await.is_err());
        expect("refresh", "refresh_token_reused");
        let idle = sessions.login("alice", &[]).await.unwrap();
        clock.advance(Duration::from_secs(86_400));
        skip();
        assert!(sessions.refresh(&idle.refresh_token).await.is_err());
        expect("refresh", "session_expired");

        // Login.
        let refused = guard.check("alice", client, || false).await.unwrap_err();
        assert_eq!(refused, LoginRefusal::InvalidCredentials);
        expect("login", "invalid_credentials");
        let refused = guard.check("alice", client, || true).await.unwrap_err();
        assert_eq!(refused.code(), "too_many_failures");
        expect("login", "too_many_failures");
        // An accepted login is neither.
        guard
            .check("alice", Some(IpAddr::from([203, 0, 113, 9])), || true)
            .await
            .unwrap();
        let (quiet, _) = seen(&captured, at.get(), &snapshotter);
        assert!(quiet.events.is_empty() && quiet.counters.is_empty());
    });
    assert!(!text.contains("password"), "{text}");
}

/// A reused refresh token (the sign of a stolen one) reaches the audit hook, not only the log
/// and the metric: one `SESSION_TOKEN_REUSED` (high risk) naming the subject and the session it
/// revoked, never a token; the refusal's own event and metric stay one each.
#[cfg(feature = "metrics")]
#[test]
fn a_reused_refresh_token_is_audited_once_as_session_token_reused() {
    crate::alone(
        "audit::a_reused_refresh_token_is_audited_once_as_session_token_reused",
        a_reused_refresh_token_is_audited_once_as_session_token_reused_here,
    );
}

#[cfg(feature = "metrics")]
fn a_reused_refresh_token_is_audited_once_as_session_token_reused_here() {
    let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let kept = Arc::clone(&tokens);
    let text = with_events_and_metrics(|captured, snapshotter| async move {
        let (sessions, _, events) =
            audited(SessionConfig::new("https://auth.example.com", "orders-api"));
        let first = sessions.login("alice", &[]).await.unwrap();
        let sid = sessions
            .verify_access(&first.access_token)
            .await
            .unwrap()
            .sid;
        let second = sessions.refresh(&first.refresh_token).await.unwrap();
        assert!(events.of_kind(AuditKind::SessionTokenReused).is_empty());
        let (_, at) = seen(&captured, 0, &snapshotter);

        assert!(matches!(
            sessions.refresh(&first.refresh_token).await.unwrap_err(),
            RefreshError::Reused
        ));
        // The session is revoked: its current token is refused as such, not as another reuse.
        assert!(matches!(
            sessions.refresh(&second.refresh_token).await.unwrap_err(),
            RefreshError::Revoked
        ));

        let reused = events.of_kind(AuditKind::SessionTokenReused);
        assert_eq!(reused.len(), 1, "{reused:?}");
        assert_eq!(reused[0].kind.as_str(), "SESSION_TOKEN_REUSED");
        assert_eq!(reused[0].risk, Risk::High);
        assert_eq!(reused[0].subject.as_deref(), Some("alice"));
        assert_eq!(reused[0].session_id.as_deref(), Some(sid.as_str()));
        let all = format!("{:?}", events.all());
        for token in [
            &first.access_token,
            &first.refresh_token,
            &second.access_token,
            &second.refresh_token,
        ] {
            assert!(!all.contains(token.as_str()), "a token was audited: {all}");
        }
        // The refusal's event and metric are as they were: one each.
        let (after, _) = seen(&captured, at, &snapshotter);
        let reuse_events: Vec<_> = after
            .events
            .iter()
            .filter(|l| l.contains("refresh_token_reused"))
            .collect();
        assert_eq!(reuse_events.len(), 1, "{reuse_events:?}");
        assert!(
            after
                .counters
                .contains(&("refresh".to_owned(), "refresh_token_reused".to_owned(), 1)),
            "{:?}",
            after.counters
        );
        kept.lock().unwrap().extend([
            first.access_token,
            first.refresh_token,
            second.access_token,
            second.refresh_token,
        ]);
    });
    let audited: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("SESSION_TOKEN_REUSED"))
        .collect();
    assert_eq!(audited.len(), 1, "{text}");
    assert!(
        audited[0].contains("WARN") && audited[0].contains("tower_hmac::audit"),
        "{text}"
    );
    for token in tokens.lock().unwrap().iter() {
        assert!(!text.contains(token.as_str()), "a token was logged: {text}");
    }
}

/// Ending every session of a subject (a password change, an operator, the vault's incident
/// path) reaches the audit hook: one `SESSIONS_REVOKED` (medium risk) per call, with the subject
/// and how many sessions it ended; its log event stays.
#[cfg(feature = "metrics")]
#[test]
fn revoking_a_subjects_sessions_is_audited_once_as_sessions_revoked() {
    crate::alone(
        "audit::revoking_a_subjects_sessions_is_audited_once_as_sessions_revoked",
        revoking_a_subjects_sessions_is_audited_once_as_sessions_revoked_here,
    );
}

#[cfg(feature = "metrics")]
fn revoking_a_subjects_sessions_is_audited_once_as_sessions_revoked_here() {
    let text = with_events_and_metrics(|_, _| async move {
        let (sessions, _, events) =
            audited(SessionConfig::new("https://auth.example.com", "orders-api"));
        sessions.login("alice", &[]).await.unwrap();
        sessions.login("alice", &[]).await.unwrap();
        let bob = sessions.login("bob", &[]).await.unwrap();
        assert!(events.of_kind(AuditKind::SessionsRevoked).is_empty());

        assert_eq!(sessions.revoke_subject("alice").await.unwrap(), 2);
        let revoked = events.of_kind(AuditKind::SessionsRevoked);
        assert_eq!(revoked.len(), 1, "{revoked:?}");
        assert_eq!(revoked[0].kind.as_str(), "SESSIONS_REVOKED");
        assert_eq!(revoked[0].risk, Risk::Medium);
        assert_eq!(revoked[0].subject.as_deref(), Some("alice"));
        assert_eq!(revoked[0].count, Some(2));
        assert!(sessions.refresh(&bob.refresh_token).await.is_ok());

        // Again, with nothing left to end: still the operator's act, audited with 0.
        assert_eq!(sessions.revoke_subject("alice").await.unwrap(), 0);
        let revoked = events.of_kind(AuditKind::SessionsRevoked);
        assert_eq!(revoked.len(), 2, "{revoked:?}");
        assert_eq!(revoked[1].count, Some(0));
    });
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("event=\"subject_revoked\""))
            .count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("SESSIONS_REVOKED") && l.contains("tower_hmac::audit"))
            .count(),
        2,
        "{text}"
    );
}

/// Review item 3: the routes' own refusals (a body over the limit, a malformed request, a grant
/// type not served, an empty scope) are each one event and one metric of their stage, as the
/// refusals of the stage's own checks are.
#[cfg(all(feature = "metrics", feature = "axum"))]
#[test]
fn the_routes_early_refusals_are_one_event_and_one_metric() {
    crate::alone(
        "audit::the_routes_early_refusals_are_one_event_and_one_metric",
        the_routes_early_refusals_are_one_event_and_one_metric_here,
    );
}

#[cfg(all(feature = "metrics", feature = "axum"))]
fn the_routes_early_refusals_are_one_event_and_one_metric_here() {
    use tower_hmac_sessions::routes::AuthRoutes;

    with_events_and_metrics(|captured, snapshotter| async move {
        let sessions = Arc::new(
            Sessions::new(
                SigningKeys::new("k1", SecretKey::from_bytes(&[3; 32]).unwrap()).unwrap(),
                MemorySessionStore::new(),
                SessionConfig::new("https://auth.example.com", "orders-api"),
            )
            .with_clock(ManualClock::at_unix(1_800_000_000)),
        );
        let guard = LoginGuard::new(LoginLimits::new()).unwrap();
        let check = |_: &str, _: &str| None::<Vec<String>>;
        let app: axum::Router = AuthRoutes::new(sessions, guard, check).into_router();
        let post = |path: &'static str, content_type: &'static str, body: String| {
            let app = app.clone();
            async move {
                let req = Request::post(path)
                    .header("content-type", content_type)
                    .body(axum::body::Body::from(body))
                    .unwrap();
                app.oneshot(req).await.unwrap().status().as_u16()
            }
        };
        let form = "application/x-www-form-urlencoded";
        let json = "application/json";
        let expect = |stage: &str, code: &str| {
            let (seen, _) = seen(&captured, 0, &snapshotter);
            assert_eq!(
                seen.counters,
                vec![(stage.to_owned(), code.to_owned(), 1)],
                "{stage} {code}: one metric"
            );
            let events: Vec<_> = seen
                .events
                .iter()
                .filter(|e| e.contains(&format!("code=\"{code}\"")))
                .collect();
            assert_eq!(events.len(), 1, "{stage} {code}: one event: {events:?}");
            assert!(
                events[0].contains(&format!("{stage}_refused")),
                "{events:?}"
            );
            captured.0.lock().unwrap().clear();
        };

        let big = "x".repeat(9000);
        assert_eq!(post("/auth/login", json, big.clone()).await, 413);
        expect("login", "request_too_large");
        assert_eq!(post("/auth/login", json, "{}".into()).await, 400);
        expect("login", "invalid_request");
        assert_eq!(
            post(
                "/auth/refresh",
                form,
                format!("grant_type=refresh_token&pad={big}")
            )
            .await,
            413
        );
        expect("refresh", "request_too_large");
        assert_eq!(
            post(
                "/auth/refresh",
                form,
                "grant_type=password&refresh_token=t".into()
            )
            .await,
            400
        );
        expect("refresh", "unsupported_grant_type");
        assert_eq!(
            post("/auth/refresh", form, "grant_type=refresh_token".into()).await,
            400
        );
        expect("refresh", "invalid_request");
        assert_eq!(
            post(
                "/auth/refresh",
                form,
                "grant_type=refresh_token&refresh_token=t&scope=".into()
            )
            .await,
            400
        );
        expect("refresh", "invalid_scope");
    });
}
