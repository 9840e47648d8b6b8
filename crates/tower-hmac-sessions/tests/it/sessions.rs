//! Issuing, verifying, refreshing and revoking with the in-memory store, on a clock the test
//! moves; the layer in memory (`oneshot`); the login guard. The tests of the layer in an Axum
//! router (the `AccessClaims` extractor) need the `axum` feature.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(not(feature = "axum"), allow(dead_code, unused_imports))]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac_core::{ManualClock, SecretKey};
use tower_hmac_sessions::store::TokenHash;
use tower_hmac_sessions::{
    AccessClaims, BearerAuthLayer, IssuedAccess, LoginAlert, LoginGuard, LoginLimits, LoginRefusal,
    MemorySessionStore, NewSession, RefreshError, Rotation, SessionConfig, SessionStore, Sessions,
    SigningKeys, StoreError, TokenError,
};

type Clock = ManualClock;

fn clock() -> ManualClock {
    ManualClock::at_unix(1_800_000_000)
}

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

/// Sessions with `keys` and `config` on `clock`, in memory.
fn sessions_with(keys: SigningKeys, config: SessionConfig, clock: &Clock) -> Sessions {
    Sessions::new(keys, MemorySessionStore::new(), config).with_clock(clock.clone())
}

fn config() -> SessionConfig {
    SessionConfig::new("https://auth.example.com", "orders-api")
}

fn sessions(clock: &Clock) -> Sessions {
    sessions_with(SigningKeys::new("k1", key(1)).unwrap(), config(), clock)
}

fn scopes() -> Vec<String> {
    vec!["orders:read".into()]
}

#[tokio::test]
async fn an_access_token_carries_its_claims_and_expires() {
    let clock = clock();
    let s = sessions(&clock);
    let pair = s.login("alice", &scopes()).await.unwrap();
    assert_eq!((pair.expires_in, pair.token_type), (900, "Bearer"));
    let claims = s.verify_access(&pair.access_token).await.unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.iss, "https://auth.example.com");
    assert_eq!(claims.aud, "orders-api");
    assert_eq!(claims.exp - claims.iat, 900);
    assert!(claims.has_scope("orders:read"));
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(pair.access_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], "k1");
    // Within the leeway, then not.
    clock.advance(Duration::from_secs(900 + 30));
    assert!(s.verify_access(&pair.access_token).await.is_ok());
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        s.verify_access(&pair.access_token).await.unwrap_err(),
        TokenError::Expired
    );
}

#[tokio::test]
async fn forged_and_foreign_tokens_are_refused() {
    let clock = clock();
    let s = sessions(&clock);
    let pair = s.login("alice", &scopes()).await.unwrap();
    // Another key under the same kid.
    let other = sessions_with(SigningKeys::new("k1", key(9)).unwrap(), config(), &clock);
    let forged = other.login("alice", &scopes()).await.unwrap();
    assert_eq!(
        s.verify_access(&forged.access_token)
            .await
            .unwrap_err()
            .code(),
        "invalid_token"
    );
    // Another audience, another issuer.
    for config in [
        SessionConfig::new("https://auth.example.com", "billing-api"),
        SessionConfig::new("https://evil.example.com", "orders-api"),
    ] {
        let foreign = sessions_with(SigningKeys::new("k1", key(1)).unwrap(), config, &clock);
        let token = foreign
            .login("alice", &scopes())
            .await
            .unwrap()
            .access_token;
        assert_eq!(
            s.verify_access(&token).await.unwrap_err().code(),
            "invalid_token"
        );
    }
    // alg: none, with the same claims.
    let mut parts = pair.access_token.split('.');
    let (_, claims) = (parts.next().unwrap(), parts.next().unwrap());
    let none = format!(
        "{}.{claims}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#)
    );
    assert_eq!(
        s.verify_access(&none).await.unwrap_err().code(),
        "invalid_token"
    );
    // A refresh token is not an access token.
    assert_eq!(
        s.verify_access(&pair.refresh_token)
            .await
            .unwrap_err()
            .code(),
        "invalid_token"
    );
    // An unknown kid.
    let rotated = sessions_with(SigningKeys::new("k2", key(1)).unwrap(), config(), &clock);
    let token = rotated
        .login("alice", &scopes())
        .await
        .unwrap()
        .access_token;
    assert_eq!(
        s.verify_access(&token).await.unwrap_err().code(),
        "invalid_token"
    );
}

#[tokio::test]
async fn keys_rotate_by_kid() {
    let clock = clock();
    let old = sessions(&clock);
    let token = old.login("alice", &scopes()).await.unwrap().access_token;
    let keys = SigningKeys::new("k2", key(2))
        .unwrap()
        .with_key("k1", key(1))
        .unwrap();
    let new = sessions_with(keys, config(), &clock);
    assert!(new.verify_access(&token).await.is_ok(), "k1 still verifies");
    let fresh = new.login("bob", &scopes()).await.unwrap().access_token;
    assert!(new.verify_access(&fresh).await.is_ok());
    assert!(
        old.verify_access(&fresh).await.is_err(),
        "k2 is unknown to the old set"
    );
}

#[tokio::test]
async fn refresh_rotates_reuse_revokes_and_logout_ends_the_session() {
    let clock = clock();
    let s = sessions(&clock);
    let first = s.login("alice", &scopes()).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let second = s.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    let claims = s.verify_access(&second.access_token).await.unwrap();
    assert_eq!(claims.sub, "alice");
    // The old refresh token again: the whole family is revoked, live access tokens denied.
    assert!(matches!(
        s.refresh(&first.refresh_token).await.unwrap_err(),
        RefreshError::Reused
    ));
    assert!(matches!(
        s.refresh(&second.refresh_token).await.unwrap_err(),
        RefreshError::Revoked
    ));
    assert_eq!(
        s.verify_access(&second.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
    assert_eq!(
        s.verify_access(&first.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
    assert!(matches!(
        s.refresh("not-a-token").await.unwrap_err(),
        RefreshError::Invalid
    ));

    // Logout by access token's session, and by refresh token.
    let pair = s.login("alice", &scopes()).await.unwrap();
    let sid = s.verify_access(&pair.access_token).await.unwrap().sid;
    assert!(s.revoke_session(&sid).await.unwrap());
    assert!(s.refresh(&pair.refresh_token).await.is_err());
    let pair = s.login("alice", &scopes()).await.unwrap();
    assert!(
        s.revoke_by_refresh_token(&pair.refresh_token)
            .await
            .unwrap()
    );
    assert_eq!(
        s.verify_access(&pair.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
}

/// A store that revokes a session right after starting it (`After::Create`) or rotating it
/// (`After::Rotate`): the interleaving of issue 24 item 6 — a reuse or a logout-all landing
/// between a refresh's rotation and the recording of its access token's id — made deterministic.
struct RevokesRightAfter(MemorySessionStore, After);

#[derive(PartialEq)]
enum After {
    Create,
    Rotate,
    /// Revokes nothing, but `scopes_of` answers `None` for every token (live ones included).
    ForgetsScopes,
    /// As `ForgetsScopes`, and `revoke_session` fails.
    ForgetsScopesCannotRevoke,
}

#[async_trait::async_trait]
impl SessionStore for RevokesRightAfter {
    async fn create(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<(), StoreError> {
        self.0.create(session, token, access, now).await?;
        if self.1 == After::Create {
            self.0.revoke_subject(&session.subject, now).await?;
        }
        Ok(())
    }
    async fn rotate(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        let rotation = self.0.rotate(old, new, access, now).await?;
        if let (Rotation::Rotated(session), After::Rotate) = (&rotation, &self.1) {
            self.0.revoke_session(&session.session_id, now).await?;
        }
        Ok(rotation)
    }
    async fn scopes_of(&self, token: &TokenHash) -> Result<Option<Vec<String>>, StoreError> {
        match self.1 {
            After::ForgetsScopes | After::ForgetsScopesCannotRevoke => Ok(None),
            _ => self.0.scopes_of(token).await,
        }
    }
    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<bool, StoreError> {
        if self.1 == After::ForgetsScopesCannotRevoke {
            return Err(StoreError::new("down"));
        }
        self.0.revoke_session(session_id, now).await
    }
    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<usize, StoreError> {
        self.0.revoke_subject(subject, now).await
    }
    async fn session_of(&self, token: &TokenHash) -> Result<Option<String>, StoreError> {
        self.0.session_of(token).await
    }
    async fn is_denied(&self, session_id: &str, jti: &str, now: u64) -> Result<bool, StoreError> {
        self.0.is_denied(session_id, jti, now).await
    }
    async fn horizon(&self, session_id: &str, now: u64) -> Result<u64, StoreError> {
        self.0.horizon(session_id, now).await
    }
}

fn revoking(after: After, clock: &Clock) -> Sessions {
    Sessions::new(
        SigningKeys::new("k1", key(1)).unwrap(),
        RevokesRightAfter(MemorySessionStore::new(), after),
        config(),
    )
    .with_clock(clock.clone())
}

#[tokio::test]
async fn a_token_issued_by_a_rotation_that_a_reuse_then_revokes_is_denied() {
    let clock = clock();
    let s = revoking(After::Rotate, &clock);
    let first = s.login("alice", &scopes()).await.unwrap();
    let second = s.refresh(&first.refresh_token).await.unwrap();
    assert_eq!(
        s.verify_access(&second.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
}

/// The same store failing to end the session: the refusal stands, and the log says the session
/// was not ended (it may still be live) rather than that it was.
#[tokio::test]
async fn a_session_the_store_fails_to_end_is_logged_as_not_ended() {
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let clock = clock();
    let s = revoking(After::ForgetsScopesCannotRevoke, &clock);
    let headers = http::HeaderMap::new();
    let device = tower_hmac_sessions::Device::new(&headers, None);
    let pair = s.login("alice", &scopes()).await.unwrap();
    let wider = vec!["orders:read".to_owned(), "admin".to_owned()];
    assert!(matches!(
        s.refresh_from(&pair.refresh_token, Some(&wider), &device)
            .await
            .unwrap_err(),
        RefreshError::InvalidScope
    ));
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("event=\"session_end_failed\""), "{logs}");
    assert!(logs.contains("ended=false"), "{logs}");
    assert!(!logs.contains("ended=true"), "{logs}");
}

/// A store whose `scopes_of` answers `None` for a live token lets the refresh rotate it: the
/// scope is checked again against the session the rotation read, never widened, and the
/// session — whose new token nobody holds — is ended.
#[tokio::test]
async fn a_store_without_scopes_for_a_live_token_never_widens_a_scope() {
    let clock = clock();
    let s = revoking(After::ForgetsScopes, &clock);
    let headers = http::HeaderMap::new();
    let device = tower_hmac_sessions::Device::new(&headers, None);
    let pair = s.login("alice", &scopes()).await.unwrap();
    let wider = vec!["orders:read".to_owned(), "admin".to_owned()];
    assert!(matches!(
        s.refresh_from(&pair.refresh_token, Some(&wider), &device)
            .await
            .unwrap_err(),
        RefreshError::InvalidScope
    ));
    assert_eq!(
        s.verify_access(&pair.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
    // A narrower one is granted as asked.
    let pair = s.login("bob", &scopes()).await.unwrap();
    let next = s
        .refresh_from(&pair.refresh_token, Some(&scopes()), &device)
        .await
        .unwrap();
    assert_eq!(
        s.verify_access(&next.access_token).await.unwrap().scope,
        "orders:read"
    );
}

#[tokio::test]
async fn a_token_issued_by_a_login_that_a_logout_all_then_revokes_is_denied() {
    let clock = clock();
    let s = revoking(After::Create, &clock);
    let pair = s.login("alice", &scopes()).await.unwrap();
    assert_eq!(
        s.verify_access(&pair.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
}

#[tokio::test]
async fn a_revoked_token_stays_denied_through_the_leeway() {
    let clock = clock();
    let s = sessions(&clock);
    let pair = s.login("alice", &scopes()).await.unwrap();
    let sid = s.verify_access(&pair.access_token).await.unwrap().sid;
    assert!(s.revoke_session(&sid).await.unwrap());
    // Past exp, within the 30 s leeway: the time checks still let it through.
    clock.advance(Duration::from_secs(900 + 10));
    assert_eq!(
        s.verify_access(&pair.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
}

#[tokio::test]
async fn a_password_change_ends_every_session_of_the_subject() {
    let clock = clock();
    let s = sessions(&clock);
    let laptop = s.login("alice", &scopes()).await.unwrap();
    let phone = s.login("alice", &scopes()).await.unwrap();
    let bob = s.login("bob", &scopes()).await.unwrap();
    assert_eq!(s.revoke_subject("alice").await.unwrap(), 2);
    for pair in [&laptop, &phone] {
        assert!(s.refresh(&pair.refresh_token).await.is_err());
        assert!(s.verify_access(&pair.access_token).await.is_err());
    }
    assert!(s.refresh(&bob.refresh_token).await.is_ok());
}

#[tokio::test]
async fn sessions_end_when_idle_or_old() {
    let clock = clock();
    let s = sessions(&clock);
    let pair = s.login("alice", &scopes()).await.unwrap();
    clock.advance(Duration::from_secs(86_400));
    assert!(matches!(
        s.refresh(&pair.refresh_token).await.unwrap_err(),
        RefreshError::Expired
    ));
    // Refreshed every 20 hours, it still ends after 14 days.
    let mut pair = s.login("alice", &scopes()).await.unwrap();
    let mut refreshed = 0;
    loop {
        clock.advance(Duration::from_secs(20 * 3600));
        match s.refresh(&pair.refresh_token).await {
            Ok(next) => {
                pair = next;
                refreshed += 1;
            }
            Err(RefreshError::Expired) => break,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(refreshed, 16, "14 days of 20-hour refreshes");
}

#[cfg(feature = "axum")]
async fn me(claims: AccessClaims) -> String {
    claims.sub
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn the_layer_lets_valid_bearers_through_and_answers_the_others_with_codes() {
    let clock = clock();
    let s = Arc::new(sessions(&clock));
    let pair = s.login("alice", &scopes()).await.unwrap();
    let app = axum::Router::new()
        .route("/me", axum::routing::get(me))
        .layer(BearerAuthLayer::new(Arc::clone(&s)));
    let call = |auth: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::get("/me");
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            let res: Response<axum::body::Body> = app
                .oneshot(req.body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            let status = res.status();
            let challenge = res
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap(), challenge)
        }
    };
    let (status, body, _) = call(Some(format!("Bearer {}", pair.access_token))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "alice"));
    let (status, body, challenge) = call(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"code\":\"missing_token\""), "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    let (status, body, challenge) = call(Some("Bearer nonsense".into())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"code\":\"invalid_token\""), "{body}");
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    clock.advance(Duration::from_secs(2000));
    let (_, body, _) = call(Some(format!("Bearer {}", pair.access_token))).await;
    assert!(body.contains("\"code\":\"token_expired\""), "{body}");
    // The extractor outside the layer: the server's misconfiguration (500 layer_missing, as
    // `tower_hmac::Authenticated` answers without its layer), not a panic.
    let bare = axum::Router::new().route("/me", axum::routing::get(me));
    let res = ServiceBuilder::new()
        .service(bare)
        .oneshot(Request::get("/me").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn secrets_and_tokens_are_not_printed() {
    let keys = SigningKeys::new("k1", key(7)).unwrap();
    let text = format!("{keys:?}");
    assert!(text.contains("k1") && !text.contains(&hex::encode([7u8; 32])));
}

// ---- The login guard (issue 24 item 9) ----

fn address(last: u8) -> Option<std::net::IpAddr> {
    Some(std::net::IpAddr::from([198, 51, 100, last]))
}

/// A gate the password checks of a test wait at until it opens.
#[derive(Default)]
struct Gate {
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
    running: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl Gate {
    /// A password check: counts itself running, waits for the gate, answers `matched`.
    fn check(self: &Arc<Self>, matched: bool) -> impl FnOnce() -> bool + Send + 'static {
        use std::sync::atomic::Ordering;
        let gate = Arc::clone(self);
        move || {
            let now = gate.running.fetch_add(1, Ordering::SeqCst) + 1;
            gate.most.fetch_max(now, Ordering::SeqCst);
            let mut open = gate.open.lock().unwrap();
            while !*open {
                open = gate.opened.wait(open).unwrap();
            }
            drop(open);
            gate.running.fetch_sub(1, Ordering::SeqCst);
            matched
        }
    }

    fn running(&self) -> usize {
        self.running.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn open(&self) {
        *self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.opened.notify_all();
    }
}

/// Opens the gate when the test ends, failed or not: the runtime waits for its blocking tasks.
struct OpensOnDrop(Arc<Gate>);

impl Drop for OpensOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Waits until `what` holds, letting the runtime's workers run; fails after a minute (far beyond
/// what any machine needs: only a state that never comes fails a test).
async fn until(what: &str, check: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: not after 60 s"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_password_check_runs_off_the_async_worker() {
    // One thread runs every task. The check waits for a message that only another task of this
    // runtime sends after the check has started: it completes only if the check is not on the
    // runtime's thread.
    let guard = Arc::new(LoginGuard::new(LoginLimits::new()).unwrap());
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let login = tokio::spawn({
        let guard = Arc::clone(&guard);
        async move {
            guard
                .check("alice", address(1), move || {
                    let _ = started_tx.send(());
                    go_rx.recv_timeout(Duration::from_secs(10)).is_ok()
                })
                .await
        }
    });
    started_rx.await.unwrap();
    go_tx.send(()).unwrap();
    assert_eq!(login.await.unwrap(), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_checks_run_at_most_the_limit_at_once() {
    let guard = Arc::new(LoginGuard::new(LoginLimits::new().checks(2, 16)).unwrap());
    let gate = Arc::new(Gate::default());
    let _opens = OpensOnDrop(Arc::clone(&gate));
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..5 {
        let (guard, check) = (Arc::clone(&guard), gate.check(true));
        logins.spawn(async move { guard.check("alice", address(i), check).await });
    }
    // Every login is either in a check or waiting for one: two in, three waiting. (Waited for as
    // such: a login counts as waiting until just after it gets its slot, so the sum can reach five
    // an instant before the second check runs.)
    until("2 checks running, 3 waiting", || {
        (gate.running(), guard.waiting()) == (2, 3)
    })
    .await;
    assert_eq!((gate.running(), guard.waiting()), (2, 3));
    gate.open();
    while let Some(outcome) = logins.join_next().await {
        assert_eq!(outcome.unwrap(), Ok(()));
    }
    assert_eq!(gate.most.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_past_the_waiting_line_are_answered_unavailable() {
    let guard = Arc::new(LoginGuard::new(LoginLimits::new().checks(1, 1)).unwrap());
    let gate = Arc::new(Gate::default());
    let _opens = OpensOnDrop(Arc::clone(&gate));
    let mut logins = tokio::task::JoinSet::new();
    // One login in the check, then one waiting for it — one after the other: a login counts as
    // waiting until it holds its slot, so two arriving together may find the line full.
    for (i, expected) in [(0, (1, 0)), (1, (1, 1))] {
        let (login, check) = (Arc::clone(&guard), gate.check(true));
        logins.spawn(async move { login.check("alice", address(i), check).await });
        until("(running, waiting)", || {
            (gate.running(), guard.waiting()) == expected
        })
        .await;
    }
    let refused = guard.check("alice", address(9), || true).await.unwrap_err();
    assert_eq!(refused, LoginRefusal::Unavailable);
    assert_eq!(
        (refused.status().as_u16(), refused.retry_after_secs()),
        (503, Some(1))
    );
    gate.open();
    while let Some(outcome) = logins.join_next().await {
        assert_eq!(outcome.unwrap(), Ok(()));
    }
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address_and_per_pair_never_per_name() {
    let clock = clock();
    let alerts: Arc<std::sync::Mutex<Vec<LoginAlert>>> = Arc::default();
    let sink = Arc::clone(&alerts);
    let guard = LoginGuard::new(
        LoginLimits::new()
            .failures(3, 5, Duration::from_secs(60))
            .spread_alert(3),
    )
    .unwrap()
    .with_clock(clock.clone())
    .alert_hook(move |alert: LoginAlert| sink.lock().unwrap().push(alert));
    let (a, b, c, d) = (address(1), address(2), address(3), address(4));

    // Three wrong passwords for alice from A: A is out of tries for alice, even the right one.
    for _ in 0..3 {
        assert_eq!(
            guard.check("alice", a, || false).await,
            Err(LoginRefusal::InvalidCredentials)
        );
    }
    let refused = guard.check("Alice", a, || true).await.unwrap_err();
    assert_eq!(
        refused,
        LoginRefusal::Throttled {
            retry_after: Duration::from_secs(20)
        },
        "the name's case does not make a new bucket"
    );
    assert_eq!(
        (refused.status().as_u16(), refused.retry_after_secs()),
        (429, Some(20))
    );
    // Alice, from B, is not locked out by A's failures.
    assert_eq!(guard.check("alice", b, || true).await, Ok(()));
    assert_eq!(
        guard.check("alice", b, || false).await,
        Err(LoginRefusal::InvalidCredentials)
    );
    // A has 2 more failures, whatever the name; then A is refused for every name.
    for name in ["bob", "carol"] {
        assert_eq!(
            guard.check(name, a, || false).await,
            Err(LoginRefusal::InvalidCredentials)
        );
    }
    assert!(matches!(
        guard.check("dave", a, || true).await,
        Err(LoginRefusal::Throttled { .. })
    ));
    assert_eq!(guard.check("dave", b, || true).await, Ok(()));
    // One failure's worth comes back to A after window / 5.
    clock.advance(Duration::from_secs(12));
    assert_eq!(guard.check("dave", a, || true).await, Ok(()));

    // Alice failing from a third address: three addresses, one high-risk alert — no lock-out.
    assert!(alerts.lock().unwrap().is_empty());
    assert_eq!(
        guard.check("alice", c, || false).await,
        Err(LoginRefusal::InvalidCredentials)
    );
    {
        let alerts = alerts.lock().unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            (
                alerts[0].username.as_str(),
                alerts[0].addresses,
                alerts[0].client
            ),
            ("alice", 3, c)
        );
    }
    assert_eq!(guard.check("alice", d, || true).await, Ok(()));
    // No address, no throttle (and no shared bucket every unknown client would share).
    for _ in 0..10 {
        assert_eq!(
            guard.check("alice", None, || false).await,
            Err(LoginRefusal::InvalidCredentials)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_dropped_during_its_check_is_counted() {
    // A client hanging up before the answer must not get free guesses.
    let guard = Arc::new(
        LoginGuard::new(
            LoginLimits::new()
                .failures(1, 10, Duration::from_secs(60))
                .checks(1, 4),
        )
        .unwrap(),
    );
    let gate = Arc::new(Gate::default());
    let _opens = OpensOnDrop(Arc::clone(&gate));
    let login = tokio::spawn({
        let (guard, check) = (Arc::clone(&guard), gate.check(false));
        async move { guard.check("alice", address(1), check).await }
    });
    until("the check running", || gate.running() == 1).await;
    login.abort();
    assert!(login.await.unwrap_err().is_cancelled());
    gate.open();
    // With one check at a time, this one starts after the dropped one has ended.
    assert_eq!(guard.check("bob", address(2), || true).await, Ok(()));
    assert!(matches!(
        guard.check("alice", address(1), || true).await,
        Err(LoginRefusal::Throttled { .. })
    ));
}

#[test]
fn login_limits_out_of_range_are_refused() {
    for limits in [
        LoginLimits::new().failures(0, 5, Duration::from_secs(60)),
        LoginLimits::new().failures(5, 0, Duration::from_secs(60)),
        LoginLimits::new().failures(5, 5, Duration::from_millis(10)),
        LoginLimits::new().spread_alert(1),
        LoginLimits::new().checks(0, 10),
        LoginLimits::new().capacity(1),
        LoginLimits::new().ipv6_prefix(8),
    ] {
        assert!(LoginGuard::new(limits).is_err());
    }
}

/// Issue 25 item 5: the denylist lives in the store; a memory store that restarts (a new process,
/// a new store) has forgotten every logout. An access token issued before the new store's
/// horizon (its start) is refused — `token_before_horizon` — so a logged-out token is never
/// accepted again; the client's path is refresh, then (the memory store lost the session too)
/// a new login, whose token is accepted.
#[tokio::test]
async fn a_logout_is_not_forgotten_when_the_memory_store_restarts() {
    let clock = clock();
    let keys = || SigningKeys::new("k1", key(1)).unwrap();
    let before =
        Sessions::new(keys(), MemorySessionStore::new(), config()).with_clock(clock.clone());
    let pair = before.login("alice", &scopes()).await.unwrap();
    let claims = before.verify_access(&pair.access_token).await.unwrap();
    assert!(before.revoke_session(&claims.sid).await.unwrap());
    assert_eq!(
        before.verify_access(&pair.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
    clock.advance(Duration::from_secs(60));
    // The process restarts: a new, empty store, the same signing key.
    let after =
        Sessions::new(keys(), MemorySessionStore::new(), config()).with_clock(clock.clone());
    let refused = after.verify_access(&pair.access_token).await.unwrap_err();
    assert_eq!(refused.code(), "token_before_horizon", "{refused:?}");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // The client refreshes; the memory store lost the session, so it logs in again.
    assert_eq!(
        after.refresh(&pair.refresh_token).await.unwrap_err().code(),
        "invalid_grant"
    );
    let fresh = after.login("alice", &scopes()).await.unwrap();
    after.verify_access(&fresh.access_token).await.unwrap();
    // And a token of a live session of this store stays accepted while time passes.
    clock.advance(Duration::from_secs(600));
    after.verify_access(&fresh.access_token).await.unwrap();
}

/// A store that never answers in time: every operation fails, as the network stores' timeout
/// makes them fail.
struct Down;

fn down() -> StoreError {
    StoreError::new("no answer within 500ms")
}

#[async_trait::async_trait]
impl SessionStore for Down {
    async fn create(
        &self,
        _: &NewSession,
        _: &TokenHash,
        _: &IssuedAccess,
        _: u64,
    ) -> Result<(), StoreError> {
        Err(down())
    }
    async fn rotate(
        &self,
        _: &TokenHash,
        _: &TokenHash,
        _: &IssuedAccess,
        _: u64,
    ) -> Result<Rotation, StoreError> {
        Err(down())
    }
    async fn revoke_session(&self, _: &str, _: u64) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn revoke_subject(&self, _: &str, _: u64) -> Result<usize, StoreError> {
        Err(down())
    }
    async fn session_of(&self, _: &TokenHash) -> Result<Option<String>, StoreError> {
        Err(down())
    }
    async fn is_denied(&self, _: &str, _: &str, _: u64) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn horizon(&self, _: &str, _: u64) -> Result<u64, StoreError> {
        Err(down())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(down())
    }
}

/// Issue 25 item 6: a store that does not answer is `503 session_store_unavailable` with
/// `Retry-After: 1` — at the layer (no Bearer challenge: the token is not at fault), for login
/// and refresh — and `Sessions::ping` reports it.
#[cfg(feature = "axum")]
#[tokio::test]
async fn an_unavailable_store_is_answered_503_with_retry_after() {
    let clock = clock();
    let issuer = sessions(&clock);
    let pair = issuer.login("alice", &scopes()).await.unwrap();
    let s = Arc::new(
        Sessions::new(SigningKeys::new("k1", key(1)).unwrap(), Down, config())
            .with_clock(clock.clone()),
    );
    assert!(s.ping().await.is_err());
    let login = s.login("alice", &scopes()).await.unwrap_err();
    assert_eq!(
        (login.code(), login.status(), login.retry_after_secs()),
        (
            "session_store_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            Some(1)
        )
    );
    let refresh = s.refresh(&pair.refresh_token).await.unwrap_err();
    assert_eq!(
        (refresh.code(), refresh.retry_after_secs()),
        ("session_store_unavailable", Some(1))
    );
    let app = axum::Router::new()
        .route("/me", axum::routing::get(me))
        .layer(BearerAuthLayer::new(Arc::clone(&s)));
    let res = app
        .oneshot(
            Request::get("/me")
                .header("authorization", format!("Bearer {}", pair.access_token))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get("retry-after").unwrap(), "1");
    assert!(res.headers().get("www-authenticate").is_none());
    assert_eq!(
        res.extensions().get::<TokenError>(),
        Some(&TokenError::StoreUnavailable)
    );
}

/// Issue 25 item 5 at the layer: a token from before the store's horizon is `401` with the
/// Bearer challenge `error="invalid_token"` (what OAuth clients answer with a refresh) and the
/// code `token_before_horizon`.
#[cfg(feature = "axum")]
#[tokio::test]
async fn the_layer_answers_a_token_before_the_horizon_401_invalid_token() {
    let clock = clock();
    let pair = sessions(&clock).login("alice", &scopes()).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let restarted = Arc::new(sessions(&clock));
    let app = axum::Router::new()
        .route("/me", axum::routing::get(me))
        .layer(BearerAuthLayer::new(restarted));
    let res = app
        .oneshot(
            Request::get("/me")
                .header("authorization", format!("Bearer {}", pair.access_token))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("token_before_horizon"), "{challenge}");
    assert!(res.headers().get("retry-after").is_none());
}

/// A route that extracts `AccessClaims` without the layer is the server's misconfiguration, and
/// is answered as `tower_hmac::Authenticated` answers on a route without its layer: `500
/// layer_missing`, problem+json, naming the missing layer (not a `401` the caller cannot fix).
#[cfg(feature = "axum")]
#[tokio::test]
async fn claims_extracted_without_the_layer_answer_as_the_hmac_layers_identity_does() {
    let app = axum::Router::new().route("/me", axum::routing::get(me));
    let res = app
        .oneshot(Request::get("/me").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(!res.headers().contains_key("www-authenticate"));
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "layer_missing");
    assert_eq!(problem["status"], 500);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("BearerAuthLayer")
    );
}

/// Review item 2: the layer reads the client's address only for a fingerprint of the client's
/// network; one of headers only (User-Agent) never needs it.
#[tokio::test]
async fn the_layer_reads_the_address_only_for_a_fingerprint_of_the_network() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower_hmac_sessions::{ClientAddress, Device, Fingerprint};

    for (fingerprint, reads) in [
        (Fingerprint::headers(["User-Agent"]).unwrap(), 0),
        (
            Fingerprint::headers(["User-Agent"])
                .unwrap()
                .client_network(24, 56),
            1,
        ),
    ] {
        let clock = clock();
        let s = Arc::new(sessions_with(
            SigningKeys::new("k1", key(1)).unwrap(),
            config().fingerprint(fingerprint),
            &clock,
        ));
        let mut headers = http::HeaderMap::new();
        headers.insert("user-agent", "curl/8".parse().unwrap());
        let address = Some(std::net::IpAddr::from([192, 0, 2, 1]));
        let pair = s
            .login_from("alice", &scopes(), &Device::new(&headers, address))
            .await
            .unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let svc = ServiceBuilder::new()
            .layer(
                BearerAuthLayer::new(Arc::clone(&s)).client_address(ClientAddress::from_fn(
                    move |_, _| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        address
                    },
                )),
            )
            .service_fn(|_req: Request<String>| async {
                Ok::<_, std::convert::Infallible>(Response::new(
                    http_body_util::Full::<bytes::Bytes>::default(),
                ))
            });
        let req = Request::get("/me")
            .header("authorization", format!("Bearer {}", pair.access_token))
            .header("user-agent", "curl/8")
            .body(String::new())
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), reads);
    }
}
