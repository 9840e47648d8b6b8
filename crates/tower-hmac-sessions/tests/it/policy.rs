//! Issue 30 item 4 and 5: the session limit, the device fingerprint, the presets and their
//! audit events, with the memory store on a clock the test moves.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Request, StatusCode};
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac_core::audit::{AuditKind, Risk};
use tower_hmac_core::test_util::AuditLog;
use tower_hmac_core::{ManualClock, SecretKey};
use tower_hmac_sessions::{
    BearerAuthLayer, ClientAddress, Device, Fingerprint, MemorySessionStore, RefreshError,
    SessionConfig, Sessions, SigningKeys, TokenError,
};

fn keys() -> SigningKeys {
    SigningKeys::new("k1", SecretKey::from_bytes(&[1; 32]).unwrap()).unwrap()
}

fn scopes() -> Vec<String> {
    vec!["orders:read".into()]
}

/// Sessions with `config` on a manual clock, their audit events collected.
pub(crate) fn sessions(config: SessionConfig) -> (Sessions, ManualClock, AuditLog) {
    let clock = ManualClock::at_unix(1_800_000_000);
    let events = AuditLog::new();
    let sessions = Sessions::new(keys(), MemorySessionStore::new(), config)
        .with_clock(clock.clone())
        .audit_hook(events.clone());
    (sessions, clock, events)
}

fn kinds(events: &AuditLog) -> Vec<(AuditKind, Risk)> {
    events.all().iter().map(|e| (e.kind, e.risk)).collect()
}

fn agent(ua: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("user-agent", HeaderValue::from_str(ua).unwrap());
    h
}

fn production() -> SessionConfig {
    SessionConfig::production("https://auth.example.com", "orders-api")
}

#[test]
fn the_presets_carry_the_founding_documents_values() {
    let p = production();
    assert_eq!(p.access_lifetime(), Duration::from_secs(15 * 60));
    assert_eq!(p.absolute(), Duration::from_secs(24 * 3600));
    assert_eq!(p.idle(), Duration::from_secs(30 * 60));
    assert_eq!(p.session_limit().map(|n| n.get()), Some(1));
    assert!(p.device_fingerprint().is_some());
    let d = SessionConfig::development("i", "a");
    assert_eq!(d.idle(), Duration::from_secs(86_400));
    assert_eq!(d.absolute(), Duration::from_secs(14 * 86_400));
    assert!(d.session_limit().is_none() && d.device_fingerprint().is_none());
}

#[tokio::test]
async fn an_idle_timeout_of_30_minutes_ends_a_session_left_alone() {
    let (s, clock, _) = sessions(production());
    let h = agent("app/1");
    let d = Device::new(&h, None);
    let pair = s.login_from("alice", &scopes(), &d).await.unwrap();
    clock.advance(Duration::from_secs(29 * 60));
    let pair = s.refresh_from(&pair.refresh_token, None, &d).await.unwrap();
    clock.advance(Duration::from_secs(30 * 60));
    assert!(matches!(
        s.refresh_from(&pair.refresh_token, None, &d).await,
        Err(RefreshError::Expired)
    ));
}

#[tokio::test]
async fn every_login_is_audited_as_session_created() {
    let (s, _, events) = sessions(SessionConfig::development("i", "a"));
    s.login("alice", &scopes()).await.unwrap();
    s.login("alice", &scopes()).await.unwrap();
    assert_eq!(
        kinds(&events),
        [(AuditKind::SessionCreated, Risk::Low); 2],
        "no limit: nothing ended"
    );
    assert_eq!(events.all()[0].subject.as_deref(), Some("alice"));
}

#[tokio::test]
async fn with_one_session_allowed_a_login_ends_the_older_one_like_a_logout() {
    let config = SessionConfig::new("i", "a").max_sessions(1);
    let (s, _, events) = sessions(config);
    let first = s.login("alice", &scopes()).await.unwrap();
    let old_sid = s.verify_access(&first.access_token).await.unwrap().sid;
    let second = s.login("alice", &scopes()).await.unwrap();
    assert_eq!(
        s.verify_access(&first.access_token).await,
        Err(TokenError::Revoked),
        "the ended session's access token is denied"
    );
    assert!(matches!(
        s.refresh(&first.refresh_token).await,
        Err(RefreshError::Revoked)
    ));
    s.refresh(&second.refresh_token).await.unwrap();
    let ended = events.of_kind(AuditKind::SessionEndedByLimit);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].session_id.as_deref(), Some(old_sid.as_str()));
    assert_eq!(ended[0].risk, Risk::Medium);
}

#[tokio::test]
async fn with_a_fingerprint_the_calls_without_a_request_refuse() {
    let (s, _, _) = sessions(production());
    assert!(matches!(
        s.login("alice", &scopes()).await,
        Err(RefreshError::FingerprintRequired)
    ));
    let h = agent("app/1");
    let pair = s
        .login_from("alice", &scopes(), &Device::new(&h, None))
        .await
        .unwrap();
    assert!(matches!(
        s.refresh(&pair.refresh_token).await,
        Err(RefreshError::FingerprintRequired)
    ));
    assert!(matches!(
        s.verify_access(&pair.access_token).await,
        Err(TokenError::Invalid(_))
    ));
}

#[tokio::test]
async fn a_refresh_token_from_another_device_is_refused_before_use_and_ends_the_session() {
    let (s, _, events) = sessions(production());
    let (phone, thief) = (agent("app/1"), agent("curl/8"));
    let pair = s
        .login_from("alice", &scopes(), &Device::new(&phone, None))
        .await
        .unwrap();
    assert!(matches!(
        s.refresh_from(&pair.refresh_token, None, &Device::new(&thief, None))
            .await,
        Err(RefreshError::FingerprintMismatch)
    ));
    // The session is ended: the right device's token fails too (revoked, not reused: the
    // mismatch did not use it).
    assert!(matches!(
        s.refresh_from(&pair.refresh_token, None, &Device::new(&phone, None))
            .await,
        Err(RefreshError::Revoked)
    ));
    let mismatch: Vec<_> = events
        .of_kind(AuditKind::SessionFingerprintMismatch)
        .iter()
        .map(|e| e.risk)
        .collect();
    assert_eq!(mismatch, [Risk::High]);
}

#[tokio::test]
async fn a_made_up_refresh_token_with_another_fingerprint_is_merely_invalid() {
    let (s, _, events) = sessions(production());
    let h = agent("app/1");
    assert!(matches!(
        s.refresh_from(
            "made-up.AAAAAAAAAAAAAAAAAAAAAA",
            None,
            &Device::new(&h, None)
        )
        .await,
        Err(RefreshError::Invalid)
    ));
    assert!(
        kinds(&events).is_empty(),
        "no alert for a token of no session"
    );
}

#[tokio::test]
async fn the_fingerprint_suffix_of_a_refresh_token_cannot_be_changed() {
    let (s, _, _) = sessions(production());
    let (phone, thief) = (agent("app/1"), agent("curl/8"));
    let pair = s
        .login_from("alice", &scopes(), &Device::new(&phone, None))
        .await
        .unwrap();
    // A thief who rewrites the suffix to their own device's digest (learned from a login of
    // their own) presents a token the store does not know.
    let theirs = s
        .login_from("mallory", &scopes(), &Device::new(&thief, None))
        .await
        .unwrap();
    let (random, _) = pair.refresh_token.rsplit_once('.').unwrap();
    let (_, their_tag) = theirs.refresh_token.rsplit_once('.').unwrap();
    let forged = format!("{random}.{their_tag}");
    assert!(matches!(
        s.refresh_from(&forged, None, &Device::new(&thief, None))
            .await,
        Err(RefreshError::Invalid)
    ));
    // Alice's own token still works from her device.
    s.refresh_from(&pair.refresh_token, None, &Device::new(&phone, None))
        .await
        .unwrap();
}

type Body = http_body_util::Full<bytes::Bytes>;

fn ok_service() -> impl tower::Service<
    Request<String>,
    Response = http::Response<Body>,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(|_req: Request<String>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("ok")))
    })
}

#[tokio::test]
async fn the_layer_refuses_an_access_token_from_another_device_and_ends_its_session() {
    let (s, _, events) = sessions(production());
    let s = Arc::new(s);
    let phone = agent("app/1");
    let pair = s
        .login_from("alice", &scopes(), &Device::new(&phone, None))
        .await
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(BearerAuthLayer::new(Arc::clone(&s)))
        .service(ok_service());
    let call = |ua: &'static str| {
        Request::get("/orders")
            .header("authorization", format!("Bearer {}", pair.access_token))
            .header("user-agent", ua)
            .body(String::new())
            .unwrap()
    };
    let res = svc.clone().oneshot(call("app/1")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the device that logged in");
    let res = svc.clone().oneshot(call("curl/8")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.extensions().get::<TokenError>(),
        Some(&TokenError::FingerprintMismatch)
    );
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("\"code\":\"fingerprint_mismatch\""));
    let res = svc.oneshot(call("app/1")).await.unwrap();
    assert_eq!(
        res.extensions().get::<TokenError>(),
        Some(&TokenError::Revoked),
        "the session is ended: the right device is refused too"
    );
    assert!(
        kinds(&events).contains(&(AuditKind::SessionFingerprintMismatch, Risk::High)),
        "{:?}",
        kinds(&events)
    );
}

#[tokio::test]
async fn the_client_network_is_part_of_the_fingerprint_when_configured() {
    let fp = Fingerprint::headers(["user-agent"])
        .unwrap()
        .client_network(24, 56);
    let (s, _, _) = sessions(SessionConfig::new("i", "a").fingerprint(fp));
    let s = Arc::new(s);
    let h = agent("app/1");
    let pair = s
        .login_from(
            "alice",
            &scopes(),
            &Device::new(&h, "192.0.2.7".parse().ok()),
        )
        .await
        .unwrap();
    let from = |addr: &'static str| {
        let layer = BearerAuthLayer::new(Arc::clone(&s))
            .client_address(ClientAddress::from_fn(move |_, _| addr.parse().ok()));
        ServiceBuilder::new().layer(layer).service(ok_service())
    };
    let req = || {
        Request::get("/")
            .header("authorization", format!("Bearer {}", pair.access_token))
            .header("user-agent", "app/1")
            .body(String::new())
            .unwrap()
    };
    let res = from("192.0.2.99").oneshot(req()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "same /24");
    let res = from("198.51.100.7").oneshot(req()).await.unwrap();
    assert_eq!(
        res.extensions().get::<TokenError>(),
        Some(&TokenError::FingerprintMismatch)
    );
}
