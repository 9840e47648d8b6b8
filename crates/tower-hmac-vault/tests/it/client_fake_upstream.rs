//! A small OAuth 2 upstream for the delegating client's tests, on 127.0.0.1:0: `POST /token`
//! answers RFC 6749 §5.1/§5.2 and rotates refresh tokens; `GET /api/me` answers 401 for any
//! access token it did not issue or has expired (the test expires them with `expire_all`, no
//! clock involved); everything is counted. For the hostile-endpoint tests, `/token` can answer
//! a redirect or a padded (oversized) success, and `/api/moved` a redirect; every request is
//! recorded with its `Authorization` header.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use serde_json::json;
use tokio::sync::{Barrier, Notify};
use tower_hmac_core::ManualClock;
use tower_hmac_core::SecretKey;
use tower_hmac_core::audit::AuditHook as _;
use tower_hmac_core::keyring::{Keyring, MasterKey};
use tower_hmac_core::test_util::AuditLog;
use tower_hmac_vault::client::{Delegation, Upstream};
use tower_hmac_vault::store::MemoryVaultStore;
use tower_hmac_vault::{AuditEvent, AuditKind, DelegatedTokens, Vault};

pub(crate) const CLIENT_ID: &str = "delegating-service";
pub(crate) const CLIENT_SECRET: &str = "client-secret-never-shown";
pub(crate) const START: u64 = 1_900_000_000;

#[derive(Default)]
pub(crate) struct Upstate {
    /// access token → user
    access: Mutex<HashMap<String, String>>,
    /// refresh token → user (the current one of each user only)
    refresh: Mutex<HashMap<String, String>>,
    issued: AtomicUsize,
    refreshed_count: AtomicUsize,
    pub(crate) me_calls: AtomicUsize,
    pub(crate) stale: AtomicUsize,
    pub(crate) refused_refreshes: AtomicUsize,
    /// `/token` calls answered 503 (`token_endpoint_down`).
    pub(crate) unavailable_answers: AtomicUsize,
    refuse: AtomicBool,
    unavailable: AtomicBool,
    no_rotation: AtomicBool,
    barrier: Mutex<Option<Arc<Barrier>>>,
    /// Every request received, any path: (path, its `Authorization` header).
    pub(crate) seen: Mutex<Vec<(String, Option<String>)>>,
    /// The `User-Agent` of every request received (empty: none).
    pub(crate) user_agents: Mutex<Vec<String>>,
    /// `/token` answers every call with this redirect: (status, `Location`).
    token_redirect: Mutex<Option<(StatusCode, String)>>,
    /// `/token` pads its successful answers with trailing JSON whitespace to this many bytes.
    token_padding: Mutex<Option<(usize, Framing)>>,
    /// `/api/moved` answers with this redirect: (status, `Location`).
    api_redirect: Mutex<Option<(StatusCode, String)>>,
}

/// How a padded `/token` answer is framed on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Framing {
    /// With a `Content-Length` header.
    ContentLength,
    /// Chunked, no `Content-Length`: the size is known only by reading.
    Chunked,
}

#[derive(Clone)]
pub(crate) struct FakeUpstream {
    /// `http://127.0.0.1:<port>`
    pub(crate) origin: String,
    pub(crate) state: Arc<Upstate>,
    pub(crate) router: Router,
}

impl FakeUpstream {
    pub(crate) async fn start() -> Self {
        let state = Arc::new(Upstate::default());
        let router = Router::new()
            .route("/token", post(token))
            .route("/api/me", get(me))
            .route("/me", get(me))
            .route("/api/moved", get(moved))
            .route("/api/broken", get(broken))
            .with_state(Arc::clone(&state))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                record,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let app = router.clone();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            origin,
            state,
            router,
        }
    }

    /// Issues tokens to `user` as a code grant would: (access, refresh).
    pub(crate) fn grant(&self, user: &str) -> (String, String) {
        let n = self.state.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let (access, refresh) = (format!("at-{user}-{n}"), format!("rt-{user}-{n}"));
        self.state
            .access
            .lock()
            .unwrap()
            .insert(access.clone(), user.into());
        self.state
            .refresh
            .lock()
            .unwrap()
            .insert(refresh.clone(), user.into());
        (access, refresh)
    }

    /// Refreshes answered so far (grants not counted).
    pub(crate) fn refreshes(&self) -> usize {
        self.state.refreshed_count.load(Ordering::SeqCst)
    }

    /// Every access token issued so far stops working.
    pub(crate) fn expire_all(&self) {
        self.state.access.lock().unwrap().clear();
    }

    /// `/token` refuses every refresh with `invalid_grant`.
    pub(crate) fn refuse_refreshes(&self) {
        self.state.refuse.store(true, Ordering::SeqCst);
    }

    /// `/token` answers 503.
    pub(crate) fn token_endpoint_down(&self) {
        self.state.unavailable.store(true, Ordering::SeqCst);
    }

    /// `/token` returns no new refresh token (the old one stays valid).
    pub(crate) fn without_rotation(&self) {
        self.state.no_rotation.store(true, Ordering::SeqCst);
    }

    /// `/token` answers every call with a `status` redirect to `location`.
    pub(crate) fn redirect_token_endpoint(&self, status: StatusCode, location: &str) {
        *self.state.token_redirect.lock().unwrap() = Some((status, location.into()));
    }

    /// `/token` pads each successful answer (a valid token response) with trailing whitespace
    /// to exactly `len` bytes, framed as `framing`.
    pub(crate) fn pad_token_answers_to(&self, len: usize, framing: Framing) {
        *self.state.token_padding.lock().unwrap() = Some((len, framing));
    }

    /// `/api/moved` answers with a `status` redirect to `location`.
    pub(crate) fn redirect_api_moved(&self, status: StatusCode, location: &str) {
        *self.state.api_redirect.lock().unwrap() = Some((status, location.into()));
    }

    /// Requests received so far, any path.
    pub(crate) fn requests(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    /// `Authorization` headers received so far at `path`.
    pub(crate) fn authorizations_at(&self, path: &str) -> Vec<String> {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .filter_map(|(_, auth)| auth.clone())
            .collect()
    }

    /// `/api/me` holds its 401s until `n` requests with a stale token have arrived.
    pub(crate) fn hold_401s_until(&self, n: usize) {
        *self.state.barrier.lock().unwrap() = Some(Arc::new(Barrier::new(n)));
    }

    /// `/api/me` answers its 401s at once again.
    pub(crate) fn release_401s(&self) {
        *self.state.barrier.lock().unwrap() = None;
    }

    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}/api/{path}", self.origin)
    }

    /// The upstream settings for the delegating client (plain HTTP: loopback, allowed).
    pub(crate) fn upstream(&self) -> Upstream {
        Upstream::builder(
            "fake",
            format!("{}/api/", self.origin),
            format!("{}/token", self.origin),
            CLIENT_ID,
        )
        .client_secret(CLIENT_SECRET)
        .allow_insecure_loopback(true)
        .build()
        .unwrap()
    }
}

async fn record(State(state): State<Arc<Upstate>>, request: Request, next: Next) -> Response {
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.user_agents.lock().unwrap().push(user_agent);
    state
        .seen
        .lock()
        .unwrap()
        .push((request.uri().path().to_owned(), auth));
    next.run(request).await
}

fn redirect(status: StatusCode, location: &str) -> Response {
    (status, [(header::LOCATION, location.to_owned())]).into_response()
}

async fn moved(State(state): State<Arc<Upstate>>) -> Response {
    match state.api_redirect.lock().unwrap().clone() {
        Some((status, location)) => redirect(status, &location),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Drops the connection without an answer (the handler's task ends in a panic, which closes
/// it): a transport error for the client.
async fn broken() -> Response {
    panic!("the fake upstream drops this connection (expected in the tests that call it)")
}

/// `body` (JSON) padded with trailing whitespace to `len` bytes, framed as `framing`.
fn padded(body: &serde_json::Value, len: usize, framing: Framing) -> Response {
    let mut text = body.to_string().into_bytes();
    assert!(
        text.len() <= len,
        "the token answer alone is longer than {len}"
    );
    text.resize(len, b' ');
    let body = match framing {
        Framing::ContentLength => Body::from(text),
        Framing::Chunked => Body::from_stream(Body::from(text).into_data_stream()),
    };
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn token(
    State(state): State<Arc<Upstate>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let redirect_to = state.token_redirect.lock().unwrap().clone();
    if let Some((status, location)) = redirect_to {
        return redirect(status, &location);
    }
    if state.unavailable.load(Ordering::SeqCst) {
        state.unavailable_answers.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Basic {basic}"))
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    let user = if state.refuse.load(Ordering::SeqCst) {
        None
    } else if state.no_rotation.load(Ordering::SeqCst) {
        state.refresh.lock().unwrap().get(&presented).cloned()
    } else {
        state.refresh.lock().unwrap().remove(&presented)
    };
    let Some(user) = user else {
        state.refused_refreshes.fetch_add(1, Ordering::SeqCst);
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let n = state.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let access = format!("at-{user}-{n}");
    state
        .access
        .lock()
        .unwrap()
        .insert(access.clone(), user.clone());
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 3600,
    });
    if !state.no_rotation.load(Ordering::SeqCst) {
        let refresh = format!("rt-{user}-{n}");
        state.refresh.lock().unwrap().insert(refresh.clone(), user);
        body["refresh_token"] = json!(refresh);
    }
    state.refreshed_count.fetch_add(1, Ordering::SeqCst);
    let padding = *state.token_padding.lock().unwrap();
    if let Some((len, framing)) = padding {
        return padded(&body, len, framing);
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

async fn me(State(state): State<Arc<Upstate>>, headers: HeaderMap) -> Response {
    state.me_calls.fetch_add(1, Ordering::SeqCst);
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let user = state.access.lock().unwrap().get(&presented).cloned();
    match user {
        Some(user) => Json(json!({ "user": user })).into_response(),
        None => {
            state.stale.fetch_add(1, Ordering::SeqCst);
            let barrier = state.barrier.lock().unwrap().clone();
            if let Some(barrier) = barrier {
                barrier.wait().await;
            }
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            )
                .into_response()
        }
    }
}

/// A vault on a manual clock with an audit sink, a fake upstream, and a delegation to it.
pub(crate) struct Setup {
    pub(crate) up: FakeUpstream,
    pub(crate) vault: Arc<Vault>,
    pub(crate) clock: ManualClock,
    pub(crate) events: AuditLog,
    /// Notified after each audit event.
    pub(crate) audited: Arc<Notify>,
    pub(crate) delegation: Delegation,
}

impl Setup {
    pub(crate) async fn new() -> Self {
        let up = FakeUpstream::start().await;
        let clock = ManualClock::at_unix(START);
        let events = AuditLog::new();
        let sink = events.clone();
        let audited = Arc::new(Notify::new());
        let notify = Arc::clone(&audited);
        let vault = Vault::new(
            MemoryVaultStore::new(),
            Keyring::new(MasterKey::generate().unwrap()),
            SecretKey::generate().unwrap(),
        )
        .with_clock(clock.clone())
        .audit_hook(move |e: &AuditEvent| {
            sink.audit(e);
            notify.notify_waiters();
        });
        let vault = Arc::new(vault);
        let delegation = Delegation::builder(Arc::clone(&vault))
            .upstream(up.upstream())
            .build()
            .unwrap();
        Self {
            up,
            vault,
            clock,
            events,
            audited,
            delegation,
        }
    }

    /// Links `user`'s upstream account: tokens granted by the upstream, stored in the vault,
    /// expiring `ttl` from now on the vault's clock, granting `scopes`.
    pub(crate) async fn link(
        &self,
        user: &str,
        ttl: Duration,
        scopes: &[&str],
    ) -> (String, String) {
        let (access, refresh) = self.up.grant(user);
        let tokens = DelegatedTokens::new(
            access.clone(),
            Some(refresh.clone()),
            self.vault.now() + ttl.as_secs(),
            scopes.iter().map(|s| (*s).to_owned()).collect(),
        );
        self.vault.put(user, "fake", &tokens).await.unwrap();
        (access, refresh)
    }

    /// Waits until an event of `kind` has been audited.
    pub(crate) async fn audited(&self, kind: AuditKind) {
        loop {
            let next = self.audited.notified();
            if !self.events_of(kind).is_empty() {
                return;
            }
            next.await;
        }
    }

    pub(crate) fn events_of(&self, kind: AuditKind) -> Vec<AuditEvent> {
        self.events.of_kind(kind)
    }

    /// `Delegation::send` of a `GET` of the fake upstream's `/api/<path>` on `user`'s behalf
    /// with `scopes`.
    pub(crate) async fn send_as(
        &self,
        user: &str,
        path: &str,
        scopes: &[&str],
    ) -> Result<reqwest::Response, tower_hmac_vault::client::DelegationError> {
        let request = self
            .delegation
            .http_client()
            .get(self.up.api(path))
            .build()
            .unwrap();
        self.delegation.send(user, "fake", scopes, request).await
    }

    /// The vault's (access, refresh) for `user`, if any.
    pub(crate) async fn stored(&self, user: &str) -> Option<(String, String)> {
        self.vault.get(user, "fake").await.unwrap().map(|e| {
            (
                e.tokens.access_token().to_owned(),
                e.tokens.refresh_token().unwrap_or_default().to_owned(),
            )
        })
    }

    /// A `GET` of `url` through [`client`](Self::client) on `user`'s behalf with `scopes`
    /// (upstream `fake`), for the middleware's path.
    pub(crate) fn get_as(
        &self,
        url: &str,
        user: &str,
        scopes: &[&str],
    ) -> reqwest_middleware::RequestBuilder {
        self.client()
            .get(url)
            .with_extension(tower_hmac_vault::client::OnBehalfOf::new(
                user,
                "fake",
                scopes.iter().copied(),
            ))
    }

    pub(crate) fn client(&self) -> reqwest_middleware::ClientWithMiddleware {
        reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(tower_hmac_vault::client::DelegationMiddleware::new(
                self.delegation.clone(),
            ))
            .build()
    }
}

pub(crate) const HOUR: Duration = Duration::from_secs(3600);
