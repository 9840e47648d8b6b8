//! The demo's HS256 sessions (tower-hmac-sessions): `POST /auth/login`, `POST /auth/refresh`,
//! `POST /auth/logout`, `POST /auth/logout-all`, `GET /me`.
//!
//! The demo user is `demo` / `demo-password` — published here, for the demo only. Its password is
//! checked against an Argon2id hash (the `argon2` crate), made at start, behind a
//! [`LoginGuard`]: the hash runs on the blocking pool, at most 4 at once, and failed logins are
//! throttled per client address and per (user name, address) — `429 too_many_failures` with
//! `Retry-After` — never per name alone; one name failing from many addresses is a high-risk
//! alert (logged on `demo_server::alerts`, as the HMAC layer's).

use std::sync::Arc;

use argon2::Argon2;
use argon2::{PasswordHash, PasswordHasher, PasswordVerifier};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_hmac::server::PeerAddr;
use tower_hmac_sessions::{
    AccessClaims, BearerAuthLayer, LoginAlert, LoginGuard, LoginLimits, MemorySessionStore,
    SessionConfig, SessionStore, Sessions, SigningKeys,
};

/// The demo user's name (demo only).
pub const DEMO_USER: &str = "demo";
/// The demo user's password (demo only: published in the repository).
pub const DEMO_PASSWORD: &str = "demo-password";
/// The tokens' issuer and audience.
pub const DEMO_ISSUER: &str = "tower-hmac-demo";
/// The tokens' audience.
pub const DEMO_AUDIENCE: &str = "tower-hmac-demo";
/// The `kid` of the demo's signing key.
pub const DEMO_KID: &str = "demo-1";

/// Where the demo keeps sessions (`TOWER_HMAC_DEMO_SESSION_STORE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SessionBackend {
    /// In this process (the default).
    #[default]
    Memory,
    /// Redis at this URL, under this prefix.
    Redis(String, String),
    /// A Redis Cluster through these seed nodes (`redis://host:port`), under this prefix.
    RedisCluster(Vec<String>, String),
    /// PostgreSQL at this URL, in this schema.
    Postgres(String, Option<String>),
}

impl SessionBackend {
    /// From the setting: `memory` (or nothing), `redis://…`, `redis+cluster://host:port,…`,
    /// `postgres://…`; the prefix or schema from `TOWER_HMAC_DEMO_SESSION_NAMESPACE`.
    pub fn parse(setting: &str, namespace: Option<String>) -> Result<Self, String> {
        let redis_prefix = |namespace: Option<String>| {
            namespace.unwrap_or_else(|| tower_hmac_sessions::store::DEFAULT_REDIS_PREFIX.to_owned())
        };
        match setting {
            "" | "memory" => Ok(Self::Memory),
            url if url.starts_with("redis") => match crate::RedisTarget::parse(url) {
                Some(crate::RedisTarget::Single(url)) => {
                    Ok(Self::Redis(url, redis_prefix(namespace)))
                }
                Some(crate::RedisTarget::Cluster(nodes)) => {
                    Ok(Self::RedisCluster(nodes, redis_prefix(namespace)))
                }
                None => Err(format!(
                    "session store {url:?}: expected a redis:// URL or redis+cluster://host:port,…"
                )),
            },
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Self::Postgres(url.to_owned(), namespace))
            }
            other => Err(format!(
                "session store {other:?}: expected \"memory\", a redis:// or a postgres:// URL"
            )),
        }
    }

    /// The kind of store, for messages (never its URL, which may hold a password).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis(..) => "Redis",
            Self::RedisCluster(..) => "Redis Cluster",
            Self::Postgres(..) => "PostgreSQL",
        }
    }

    async fn open(&self) -> Result<Box<dyn StoreBox>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(match self {
            Self::Memory => Box::new(MemorySessionStore::new()),
            Self::Redis(url, prefix) => {
                Box::new(tower_hmac_sessions::store::RedisSessionStore::connect(url, prefix).await?)
            }
            Self::RedisCluster(nodes, prefix) => {
                let conn = crate::RedisTarget::cluster_connection(nodes).await?;
                let store =
                    tower_hmac_sessions::store::RedisSessionStore::from_connection(conn, prefix)?;
                store.check().await?;
                Box::new(store)
            }
            Self::Postgres(url, schema) => Box::new(
                tower_hmac_sessions::store::PostgresSessionStore::connect(url, schema.as_deref())
                    .await?,
            ),
        })
    }
}

/// A store of any kind, for [`Sessions::new`].
trait StoreBox: Send + Sync {
    fn into_sessions(self: Box<Self>, keys: SigningKeys, config: SessionConfig) -> Sessions;
}

impl<T: SessionStore> StoreBox for T {
    fn into_sessions(self: Box<Self>, keys: SigningKeys, config: SessionConfig) -> Sessions {
        Sessions::new(keys, *self, config)
    }
}

/// The demo's sessions: the key from `TOWER_HMAC_DEMO_JWT_SECRET` (Base64) when given, a random
/// one per start otherwise.
pub async fn sessions(
    secret: Option<&str>,
    backend: &SessionBackend,
) -> Result<Arc<Sessions>, Box<dyn std::error::Error + Send + Sync>> {
    let keys = match secret {
        Some(text) => SigningKeys::new(
            DEMO_KID,
            tower_hmac::SecretKey::from_base64(text)
                .map_err(|e| format!("TOWER_HMAC_DEMO_JWT_SECRET: {e}"))?,
        )?,
        None => SigningKeys::generate(DEMO_KID)?,
    };
    let config = SessionConfig::new(DEMO_ISSUER, DEMO_AUDIENCE);
    // The store must answer (within its timeout) before the demo says it listens: never a
    // listening server that holds its clients while the store is unreachable (issue 25 item 6).
    // The error names the kind of store, never its URL (which may hold a password).
    let kind = backend.kind();
    let store = backend
        .open()
        .await
        .map_err(|e| format!("session store ({kind}) did not answer: {e}"))?;
    let sessions = store.into_sessions(keys, config);
    sessions
        .ping()
        .await
        .map_err(|e| format!("session store ({kind}) did not answer: {e}"))?;
    Ok(Arc::new(sessions))
}

#[derive(Clone)]
struct AuthState {
    sessions: Arc<Sessions>,
    password_hash: Arc<str>,
    guard: Arc<LoginGuard>,
}

/// The demo's login guard: [`LoginLimits`]' defaults (5 failures per name and address, 20 per
/// address, per 5 minutes; 4 hashes at once), alerts logged on `demo_server::alerts`.
pub fn login_guard(limits: LoginLimits) -> Result<LoginGuard, String> {
    Ok(LoginGuard::new(limits)
        .map_err(|e| e.to_string())?
        .alert_hook(|alert: LoginAlert| {
            tracing::warn!(
                target: "demo_server::alerts",
                signals = "many_addresses",
                code = "invalid_credentials",
                username = alert.username.as_str(),
                addresses = alert.addresses,
                client = %alert.client.map(|c| c.to_string()).unwrap_or_default(),
                "high-risk login alert: one user name failing from many addresses"
            );
        }))
}

/// The session routes, with the demo user's password hashed now and the default login guard.
pub fn routes(sessions: Arc<Sessions>) -> Result<Router, String> {
    routes_with_guard(sessions, login_guard(LoginLimits::new())?)
}

/// The session routes with this login guard.
pub fn routes_with_guard(sessions: Arc<Sessions>, guard: LoginGuard) -> Result<Router, String> {
    // A random salt from the OS.
    let password_hash = Argon2::default()
        .hash_password(DEMO_PASSWORD.as_bytes())
        .map_err(|e| e.to_string())?
        .to_string();
    let state = AuthState {
        sessions: Arc::clone(&sessions),
        password_hash: password_hash.into(),
        guard: Arc::new(guard),
    };
    let protected = Router::new()
        .route("/me", get(me))
        .route("/auth/logout", post(logout))
        .route("/auth/logout-all", post(logout_all))
        .layer(BearerAuthLayer::new(sessions));
    Ok(Router::new()
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .merge(protected)
        .with_state(state))
}

/// `problem` with a `Retry-After` when one is given (a store that did not answer: 503).
fn problem_retry(status: StatusCode, code: &str, detail: &str, retry: Option<u64>) -> Response {
    let mut res = problem(status, code, detail);
    if let Some(secs) = retry {
        res.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    res
}

/// The answer while the session store does not answer: 503 with `Retry-After`.
fn store_unavailable() -> Response {
    problem_retry(
        StatusCode::SERVICE_UNAVAILABLE,
        "session_store_unavailable",
        "the session store is unavailable: try again",
        Some(tower_hmac_sessions::store::RETRY_AFTER_SECS),
    )
}

fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let mut res = (
        status,
        Json(serde_json::json!({
            "type": format!("urn:tower-hmac:error:{code}"),
            "title": detail,
            "status": status.as_u16(),
            "code": code,
        })),
    )
        .into_response();
    res.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    res
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

async fn login(
    State(state): State<AuthState>,
    peer: Option<Extension<PeerAddr>>,
    body: Option<Json<Login>>,
) -> Response {
    let Some(Json(login)) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send {\"username\", \"password\"}",
        );
    };
    let client = peer.map(|Extension(PeerAddr(addr))| addr.ip());
    let hash = Arc::clone(&state.password_hash);
    let is_demo = login.username == DEMO_USER;
    let password = login.password;
    // On the blocking pool, bounded; refused at once when this address (or this name from it)
    // is out of failures.
    let checked = state
        .guard
        .check(&login.username, client, move || {
            // The hash is checked whatever the name, so the time does not tell which names exist.
            let verified = PasswordHash::new(&hash).ok().is_some_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            });
            verified && is_demo
        })
        .await;
    if let Err(refusal) = checked {
        let detail = match refusal.code() {
            "invalid_credentials" => "wrong user name or password",
            "too_many_failures" => "too many failed logins from this address: try again later",
            _ => "the login could not be checked now: try again",
        };
        let mut res = problem(refusal.status(), refusal.code(), detail);
        if let Some(secs) = refusal.retry_after_secs() {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        return res;
    }
    match state
        .sessions
        .login(DEMO_USER, &["orders:read".to_owned()])
        .await
    {
        Ok(pair) => Json(pair).into_response(),
        Err(e) => problem_retry(
            e.status(),
            e.code(),
            "the session could not be started",
            e.retry_after_secs(),
        ),
    }
}

#[derive(Deserialize)]
struct Refresh {
    refresh_token: String,
}

async fn refresh(State(state): State<AuthState>, body: Option<Json<Refresh>>) -> Response {
    let Some(Json(body)) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send {\"refresh_token\"}",
        );
    };
    match state.sessions.refresh(&body.refresh_token).await {
        Ok(pair) => Json(pair).into_response(),
        Err(e) => problem_retry(
            e.status(),
            e.code(),
            "the refresh token was refused",
            e.retry_after_secs(),
        ),
    }
}

#[derive(Deserialize, Default)]
struct Logout {
    refresh_token: Option<String>,
}

async fn logout(
    State(state): State<AuthState>,
    claims: AccessClaims,
    body: Option<Json<Logout>>,
) -> Response {
    let mut ended = match state.sessions.revoke_session(&claims.sid).await {
        Ok(ended) => ended,
        Err(_) => return store_unavailable(),
    };
    if let Some(token) = body.and_then(|Json(b)| b.refresh_token) {
        ended |= state
            .sessions
            .revoke_by_refresh_token(&token)
            .await
            .unwrap_or(false);
    }
    Json(serde_json::json!({ "revoked": ended })).into_response()
}

async fn logout_all(State(state): State<AuthState>, claims: AccessClaims) -> Response {
    match state.sessions.revoke_subject(&claims.sub).await {
        Ok(count) => Json(serde_json::json!({ "revoked_sessions": count })).into_response(),
        Err(_) => store_unavailable(),
    }
}

async fn me(claims: AccessClaims) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "sub": claims.sub,
        "sid": claims.sid,
        "scope": claims.scope,
        "exp": claims.exp,
    }))
}
