//! A ready Axum router for the session endpoints (feature `axum`): `POST /auth/login`,
//! `POST /auth/refresh` (JSON, or RFC 6749 §6's form), `POST /auth/logout`,
//! `POST /auth/logout-all` (the logouts behind [`BearerAuthLayer`]).
//!
//! You supply the password check; it runs through a [`LoginGuard`] (on the blocking pool,
//! throttled per client address and per name and address).
//!
//! ```
//! use std::sync::Arc;
//! use tower_hmac_sessions::routes::AuthRoutes;
//! use tower_hmac_sessions::{
//!     LoginGuard, LoginLimits, MemorySessionStore, SessionConfig, Sessions, SigningKeys,
//! };
//!
//! let sessions = Arc::new(Sessions::new(
//!     SigningKeys::generate("k1").unwrap(),
//!     MemorySessionStore::new(),
//!     SessionConfig::production("https://auth.example", "api"),
//! ));
//! let guard = LoginGuard::new(LoginLimits::new()).unwrap();
//! // Blocking: verify the password against your stored hash (argon2's `verify_password`), and
//! // answer the user's scopes, or `None`.
//! let check = |user: &str, password: &str| {
//!     (user == "alice" && password == "correct horse").then(|| vec!["orders:read".to_owned()])
//! };
//! let app: axum::Router = AuthRoutes::new(sessions, guard, check).into_router();
//! // axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
//! # let _ = app;
//! ```
//!
//! Answers: a login and a JSON refresh answer `{"access_token", "refresh_token", "expires_in",
//! "token_type"}`; refusals are problem+json with a stable `code`. A form refresh answers as
//! RFC 6749 §5.1 (with `scope`) and refuses as §5.2 (`{"error", "error_description"}`), both
//! `Cache-Control: no-store`. Bodies over [`BODY_LIMIT`] are refused (413).

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::audit::{Stage, count_refusal};
use crate::fingerprint::{ClientAddress, Device};
use crate::login::LoginGuard;
use crate::sessions::{RefreshError, Sessions, TokenPair};
use crate::tokens::AccessClaims;
use crate::{BearerAuthLayer, store};

/// The largest request body the routes read: 8 KiB.
pub const BODY_LIMIT: usize = 8 * 1024;

/// Checks a user name and password, blocking (a memory-hard hash): the user's scopes, or `None`
/// when they do not match. Runs on the blocking pool under the [`LoginGuard`]. Compare in a
/// time that does not depend on whether the name exists (check a hash whatever the name).
/// Implemented for closures `Fn(&str, &str) -> Option<Vec<String>>`.
pub trait PasswordCheck: Send + Sync + 'static {
    /// The scopes of `username` if `password` is theirs.
    fn check(&self, username: &str, password: &str) -> Option<Vec<String>>;
}

impl<F> PasswordCheck for F
where
    F: Fn(&str, &str) -> Option<Vec<String>> + Send + Sync + 'static,
{
    fn check(&self, username: &str, password: &str) -> Option<Vec<String>> {
        self(username, password)
    }
}

/// The session endpoints as an Axum router: build it from the [`Sessions`], a [`LoginGuard`]
/// and your [`PasswordCheck`], then [`into_router`](Self::into_router) and merge it.
pub struct AuthRoutes {
    sessions: Arc<Sessions>,
    guard: Arc<LoginGuard>,
    check: Arc<dyn PasswordCheck>,
    client: ClientAddress,
}

impl fmt::Debug for AuthRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRoutes")
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct AuthState {
    sessions: Arc<Sessions>,
    guard: Arc<LoginGuard>,
    check: Arc<dyn PasswordCheck>,
    client: ClientAddress,
}

impl AuthRoutes {
    /// The routes of `sessions`, logins checked by `check` through `guard`.
    pub fn new(sessions: Arc<Sessions>, guard: LoginGuard, check: impl PasswordCheck) -> Self {
        Self {
            sessions,
            guard: Arc::new(guard),
            check: Arc::new(check),
            client: ClientAddress::default(),
        }
    }

    /// Where the client's address is read (the login guard's throttling, the device
    /// fingerprint): Axum's `ConnectInfo<SocketAddr>` by default. Without one, logins are not
    /// throttled per address.
    pub fn client_address(mut self, client: ClientAddress) -> Self {
        self.client = client;
        self
    }

    /// The router: `POST /auth/login`, `POST /auth/refresh`, `POST /auth/logout`,
    /// `POST /auth/logout-all`.
    pub fn into_router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        let state = AuthState {
            sessions: Arc::clone(&self.sessions),
            guard: self.guard,
            check: self.check,
            client: self.client.clone(),
        };
        let protected = Router::new()
            .route("/auth/logout", post(logout))
            .route("/auth/logout-all", post(logout_all))
            .layer(BearerAuthLayer::new(self.sessions).client_address(self.client));
        Router::new()
            .route("/auth/login", post(login))
            .route("/auth/refresh", post(refresh))
            .merge(protected)
            .with_state(state)
    }
}

fn json_response(
    status: StatusCode,
    content_type: &'static str,
    body: &serde_json::Value,
) -> Response {
    let mut res = Response::new(Body::from(body.to_string()));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// problem+json with a stable `code`.
fn problem(status: StatusCode, code: &str, title: &str) -> Response {
    json_response(
        status,
        "application/problem+json",
        &serde_json::json!({
            "type": format!("urn:tower-hmac:error:{code}"),
            "title": title,
            "status": status.as_u16(),
            "code": code,
        }),
    )
}

/// `problem` with a `Retry-After` when one is given.
fn problem_retry(status: StatusCode, code: &str, title: &str, retry: Option<u64>) -> Response {
    let mut res = problem(status, code, title);
    if let Some(secs) = retry {
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

fn store_unavailable() -> Response {
    problem_retry(
        StatusCode::SERVICE_UNAVAILABLE,
        "session_store_unavailable",
        "the session store is unavailable: try again",
        Some(store::RETRY_AFTER_SECS),
    )
}

fn pair_response(pair: &TokenPair) -> Response {
    match serde_json::to_value(pair) {
        Ok(value) => json_response(StatusCode::OK, "application/json", &value),
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the answer could not be written",
        ),
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("")
}

fn is_json(headers: &HeaderMap) -> bool {
    let ct = content_type(headers).to_ascii_lowercase();
    ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json"))
}

fn is_form(headers: &HeaderMap) -> bool {
    content_type(headers).eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// The body, at most [`BODY_LIMIT`] bytes (`None`: over it, or unreadable).
async fn body_of(body: Body) -> Option<Bytes> {
    axum::body::to_bytes(body, BODY_LIMIT).await.ok()
}

/// A refusal answered here, before the stage's own checks (a body over the limit, a malformed
/// request, a session that could not be started): the one event and the one metric the other
/// refusals of its stage produce (`login_refused`, `refresh_refused`).
fn refused(stage: Stage, code: &'static str) {
    count_refusal(stage, code);
    let event = match stage {
        Stage::Login => "login_refused",
        Stage::Refresh => "refresh_refused",
        Stage::Access => "access_refused",
    };
    tracing::info!(
        target: crate::TRACING_TARGET,
        event,
        outcome = "rejected",
        code,
        risk = "low",
    );
}

fn too_large() -> Response {
    problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_too_large",
        "the request body is over 8 KiB",
    )
}

/// A JSON body of a JSON request, `None` otherwise (as Axum's `Json` extractor accepts it).
fn json_body<T: for<'de> Deserialize<'de>>(headers: &HeaderMap, bytes: &[u8]) -> Option<T> {
    if !is_json(headers) {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: Zeroizing<String>,
}

async fn login(State(state): State<AuthState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(bytes) = body_of(body).await else {
        refused(Stage::Login, "request_too_large");
        return too_large();
    };
    let Some(login) = json_body::<Login>(&parts.headers, &bytes) else {
        refused(Stage::Login, "invalid_request");
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send {\"username\", \"password\"}",
        );
    };
    let client: Option<IpAddr> = state.client.of(&parts.extensions, &parts.headers);
    let granted: Arc<Mutex<Option<Vec<String>>>> = Arc::default();
    let (check, out) = (Arc::clone(&state.check), Arc::clone(&granted));
    let (username, password) = (login.username.clone(), login.password);
    // On the blocking pool, bounded; refused at once when this address (or this name from it)
    // is out of failures.
    let checked = state
        .guard
        .check(&login.username, client, move || {
            let scopes = check.check(&username, &password);
            let matched = scopes.is_some();
            *out.lock().unwrap_or_else(PoisonError::into_inner) = scopes;
            matched
        })
        .await;
    if let Err(refusal) = checked {
        let detail = match refusal.code() {
            "invalid_credentials" => "wrong user name or password",
            "too_many_failures" => "too many failed logins from this address: try again later",
            _ => "the login could not be checked now: try again",
        };
        return problem_retry(
            refusal.status(),
            refusal.code(),
            detail,
            refusal.retry_after_secs(),
        );
    }
    let scopes = granted
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    let device = Device::new(&parts.headers, client);
    match state
        .sessions
        .login_from(&login.username, &scopes, &device)
        .await
    {
        Ok(pair) => pair_response(&pair),
        Err(e) => {
            refused(Stage::Login, e.code());
            problem_retry(
                e.status(),
                e.code(),
                "the session could not be started",
                e.retry_after_secs(),
            )
        }
    }
}

#[derive(Deserialize)]
struct Refresh {
    refresh_token: Zeroizing<String>,
}

async fn refresh(State(state): State<AuthState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let form = is_form(&parts.headers);
    let Some(bytes) = body_of(body).await else {
        refused(Stage::Refresh, "request_too_large");
        return if form {
            oauth_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the request body is over 8 KiB",
            )
        } else {
            too_large()
        };
    };
    // The client's address only for a device fingerprint of the client's network.
    let client = state
        .sessions
        .config()
        .device_fingerprint()
        .filter(|fp| fp.reads_address())
        .and_then(|_| state.client.of(&parts.extensions, &parts.headers));
    let device = Device::new(&parts.headers, client);
    if form {
        return oauth_refresh(&state.sessions, &bytes, &device).await;
    }
    let Some(body) = json_body::<Refresh>(&parts.headers, &bytes) else {
        refused(Stage::Refresh, "invalid_request");
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send {\"refresh_token\"}",
        );
    };
    match state
        .sessions
        .refresh_from(&body.refresh_token, None, &device)
        .await
    {
        Ok(pair) => pair_response(&pair),
        Err(e) => problem_retry(
            e.status(),
            e.code(),
            "the refresh token was refused",
            e.retry_after_secs(),
        ),
    }
}

/// An RFC 6749 §5.2 error (`Cache-Control: no-store`).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = json_response(
        status,
        "application/json",
        &serde_json::json!({ "error": error, "error_description": description }),
    );
    no_store(&mut res);
    res
}

fn no_store(res: &mut Response) {
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The §5.2 answer to a refused refresh: every refusal of the grant itself is `invalid_grant`
/// with a description naming the crate's code.
fn oauth_refusal(error: &RefreshError) -> Response {
    let (status, code, description) = match error {
        RefreshError::Invalid => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "invalid_grant: the refresh token is not valid",
        ),
        RefreshError::Reused => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "refresh_token_reused: the refresh token was already used; the session is revoked",
        ),
        RefreshError::Revoked => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "session_revoked: the session was ended",
        ),
        RefreshError::Expired => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "session_expired: the session is past its lifetime",
        ),
        RefreshError::FingerprintMismatch => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "fingerprint_mismatch: the refresh token was used from another device; the session is ended",
        ),
        RefreshError::InvalidScope => (
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "the requested scope exceeds the scope granted",
        ),
        RefreshError::Store(_) => {
            let mut res = oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the session store is unavailable: try again",
            );
            res.headers_mut().insert(
                RETRY_AFTER,
                HeaderValue::from(error.retry_after_secs().unwrap_or(store::RETRY_AFTER_SECS)),
            );
            return res;
        }
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the token could not be issued",
        ),
    };
    oauth_error(status, code, description)
}

/// The parameters of a form refresh: each at most once.
struct Grant {
    grant_type: Option<String>,
    refresh_token: Option<Zeroizing<String>>,
    scope: Option<String>,
}

fn parse_grant(bytes: &[u8]) -> Result<Grant, &'static str> {
    let mut grant = Grant {
        grant_type: None,
        refresh_token: None,
        scope: None,
    };
    for (name, value) in form_urlencoded::parse(bytes) {
        let duplicate = match name.as_ref() {
            "grant_type" => grant.grant_type.replace(value.into_owned()).is_some(),
            "refresh_token" => grant
                .refresh_token
                .replace(Zeroizing::new(value.into_owned()))
                .is_some(),
            "scope" => grant.scope.replace(value.into_owned()).is_some(),
            // `client_id` (client authentication is optional here) and unknown parameters
            // are ignored (§3.2).
            _ => false,
        };
        if duplicate {
            return Err("a parameter is repeated");
        }
    }
    Ok(grant)
}

async fn oauth_refresh(sessions: &Sessions, bytes: &[u8], device: &Device<'_>) -> Response {
    let grant = match parse_grant(bytes) {
        Ok(grant) => grant,
        Err(why) => {
            refused(Stage::Refresh, "invalid_request");
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why);
        }
    };
    match grant.grant_type.as_deref() {
        Some("refresh_token") => {}
        Some(_) => {
            refused(Stage::Refresh, "unsupported_grant_type");
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=refresh_token is served here",
            );
        }
        None => {
            refused(Stage::Refresh, "invalid_request");
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            );
        }
    }
    let Some(token) = grant.refresh_token.filter(|t| !t.is_empty()) else {
        refused(Stage::Refresh, "invalid_request");
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is missing",
        );
    };
    let wanted: Option<Vec<String>> = match grant.scope.as_deref() {
        None => None,
        Some(scope) => {
            let scopes: Vec<String> = scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if scopes.is_empty() {
                refused(Stage::Refresh, "invalid_scope");
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "the scope parameter is empty",
                );
            }
            Some(scopes)
        }
    };
    match sessions
        .refresh_from(&token, wanted.as_deref(), device)
        .await
    {
        Ok(pair) => {
            let mut body = serde_json::json!({
                "access_token": pair.access_token,
                "token_type": pair.token_type,
                "expires_in": pair.expires_in,
                "refresh_token": pair.refresh_token,
            });
            // §5.1: `scope` unless it is what the client asked for.
            if wanted.as_deref() != Some(pair.scopes.as_slice())
                && let Some(map) = body.as_object_mut()
            {
                map.insert("scope".into(), pair.scopes.join(" ").into());
            }
            let mut res = json_response(StatusCode::OK, "application/json", &body);
            no_store(&mut res);
            res
        }
        Err(e) => oauth_refusal(&e),
    }
}

#[derive(Deserialize, Default)]
struct Logout {
    refresh_token: Option<Zeroizing<String>>,
}

async fn logout(State(state): State<AuthState>, claims: AccessClaims, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = body_of(body).await.unwrap_or_default();
    let mut ended = match state.sessions.revoke_session(&claims.sid).await {
        Ok(ended) => ended,
        Err(_) => return store_unavailable(),
    };
    if let Some(token) = json_body::<Logout>(&parts.headers, &bytes).and_then(|b| b.refresh_token) {
        ended |= state
            .sessions
            .revoke_by_refresh_token(&token)
            .await
            .unwrap_or(false);
    }
    json_response(
        StatusCode::OK,
        "application/json",
        &serde_json::json!({ "revoked": ended }),
    )
}

async fn logout_all(State(state): State<AuthState>, claims: AccessClaims) -> Response {
    match state.sessions.revoke_subject(&claims.sub).await {
        Ok(count) => json_response(
            StatusCode::OK,
            "application/json",
            &serde_json::json!({ "revoked_sessions": count }),
        ),
        Err(_) => store_unavailable(),
    }
}
