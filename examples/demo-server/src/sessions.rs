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
use std::time::Duration;

use argon2::Argon2;
use argon2::{PasswordHash, PasswordHasher, PasswordVerifier};
use axum::routing::get;
use axum::{Json, Router};
use tower_hmac::server::PeerAddr;
use tower_hmac_sessions::routes::AuthRoutes;
use tower_hmac_sessions::{
    AccessClaims, BearerAuthLayer, ClientAddress, LoginAlert, LoginGuard, LoginLimits,
    MemorySessionStore, SessionConfig, SessionStore, Sessions, SigningKeys,
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

/// Where the demo keeps sessions (`TOWER_HMAC_DEMO_SESSION_STORE`, prefix or schema
/// `TOWER_HMAC_DEMO_SESSION_NAMESPACE`).
pub type SessionBackend = crate::StoreTarget;

/// The session store setting: `memory` (or nothing), `redis://…`, `redis+cluster://host:port,…`,
/// `postgres://…`, under `namespace` (the key prefix or schema).
pub fn backend(setting: &str, namespace: Option<String>) -> Result<SessionBackend, String> {
    SessionBackend::parse(
        setting,
        namespace,
        tower_hmac_sessions::store::DEFAULT_REDIS_PREFIX,
        "session store",
    )
}

/// Opens the session store `backend` names.
async fn open_store(
    backend: &SessionBackend,
) -> Result<Box<dyn StoreBox>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(match backend {
        SessionBackend::Memory => Box::new(MemorySessionStore::new()),
        SessionBackend::Redis(url, prefix) => {
            Box::new(tower_hmac_sessions::store::RedisSessionStore::connect(url, prefix).await?)
        }
        SessionBackend::RedisCluster(nodes, prefix) => {
            let conn = crate::RedisTarget::cluster_connection(nodes).await?;
            let store =
                tower_hmac_sessions::store::RedisSessionStore::from_connection(conn, prefix)?;
            store.check().await?;
            Box::new(store)
        }
        SessionBackend::Postgres(url, schema) => Box::new(
            tower_hmac_sessions::store::PostgresSessionStore::connect(url, schema.as_deref())
                .await?,
        ),
    })
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

/// The demo's session policy beyond the library's defaults: `TOWER_HMAC_DEMO_ACCESS_TTL`
/// (whole seconds, 1 to 86400; 900 by default) and `TOWER_HMAC_DEMO_MAX_SESSIONS` (live sessions
/// per user, 1 to 1000: a login beyond it ends the oldest; no limit by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionPolicy {
    /// How long an access token lives (the library's 15 minutes when `None`).
    pub access_ttl: Option<Duration>,
    /// At most this many live sessions per user (`None`: no limit).
    pub max_sessions: Option<usize>,
}

impl SessionPolicy {
    /// From the two settings' text (`None`: unset).
    pub fn parse(access_ttl: Option<&str>, max_sessions: Option<&str>) -> Result<Self, String> {
        let access_ttl = access_ttl
            .map(|text| match text.trim().parse::<u64>() {
                Ok(secs @ 1..=86_400) => Ok(Duration::from_secs(secs)),
                _ => Err(format!(
                    "TOWER_HMAC_DEMO_ACCESS_TTL={text:?}: expected whole seconds from 1 to 86400"
                )),
            })
            .transpose()?;
        let max_sessions = max_sessions
            .map(|text| match text.trim().parse::<usize>() {
                Ok(n @ 1..=1000) => Ok(n),
                _ => Err(format!(
                    "TOWER_HMAC_DEMO_MAX_SESSIONS={text:?}: expected a number from 1 to 1000"
                )),
            })
            .transpose()?;
        Ok(Self {
            access_ttl,
            max_sessions,
        })
    }

    /// The sessions' configuration: the library's defaults with this policy. An access token
    /// shorter than a minute (made short to try expiry) gets no leeway: the demo issues and
    /// checks it on one clock, and `TOWER_HMAC_DEMO_ACCESS_TTL=2` means refused after 2 s.
    pub fn config(&self) -> SessionConfig {
        let mut config = SessionConfig::new(DEMO_ISSUER, DEMO_AUDIENCE);
        if let Some(ttl) = self.access_ttl {
            config = config.access_ttl(ttl);
            if ttl < Duration::from_secs(60) {
                config = config.leeway(Duration::ZERO);
            }
        }
        if let Some(n) = self.max_sessions {
            config = config.max_sessions(n);
        }
        config
    }
}

/// The demo's sessions: the key from `TOWER_HMAC_DEMO_JWT_SECRET` (Base64) when given, a random
/// one per start otherwise.
pub async fn sessions(
    secret: Option<&str>,
    backend: &SessionBackend,
) -> Result<Arc<Sessions>, Box<dyn std::error::Error + Send + Sync>> {
    sessions_with(secret, backend, &SessionPolicy::default()).await
}

/// [`sessions`] with this policy.
pub async fn sessions_with(
    secret: Option<&str>,
    backend: &SessionBackend,
    policy: &SessionPolicy,
) -> Result<Arc<Sessions>, Box<dyn std::error::Error + Send + Sync>> {
    let keys = match secret {
        Some(text) => SigningKeys::new(
            DEMO_KID,
            tower_hmac::SecretKey::from_base64(text)
                .map_err(|e| format!("TOWER_HMAC_DEMO_JWT_SECRET: {e}"))?,
        )?,
        None => SigningKeys::generate(DEMO_KID)?,
    };
    let config = policy.config();
    // The store must answer (within its timeout) before the demo says it listens: never a
    // listening server that holds its clients while the store is unreachable (issue 25 item 6).
    // The error names the kind of store, never its URL (which may hold a password).
    let kind = backend.kind();
    let store = open_store(backend)
        .await
        .map_err(|e| format!("session store ({kind}) did not answer: {e}"))?;
    let sessions = store
        .into_sessions(keys, config)
        .with_auditor(crate::delegation::alerting_auditor());
    sessions
        .ping()
        .await
        .map_err(|e| format!("session store ({kind}) did not answer: {e}"))?;
    Ok(Arc::new(sessions))
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

/// The session routes with this login guard: the crate's [`AuthRoutes`] (`POST /auth/login`,
/// `/auth/refresh` — JSON or RFC 6749's form —, `/auth/logout`, `/auth/logout-all`) with the
/// demo user's password check, and `GET /me`.
pub fn routes_with_guard(sessions: Arc<Sessions>, guard: LoginGuard) -> Result<Router, String> {
    // A random salt from the OS.
    let password_hash = Argon2::default()
        .hash_password(DEMO_PASSWORD.as_bytes())
        .map_err(|e| e.to_string())?
        .to_string();
    // Run on the blocking pool by the login guard. The hash is checked whatever the name, so
    // the time does not tell which names exist.
    let check = move |username: &str, password: &str| {
        let verified = PasswordHash::new(&password_hash).ok().is_some_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        });
        (verified && username == DEMO_USER).then(|| vec!["orders:read".to_owned()])
    };
    // The client's address as the demo's server records it (the login guard throttles by it).
    let client = ClientAddress::from_fn(|extensions, _| {
        extensions.get::<PeerAddr>().map(|PeerAddr(addr)| addr.ip())
    });
    let me = Router::new()
        .route("/me", get(me))
        .layer(BearerAuthLayer::new(Arc::clone(&sessions)).client_address(client.clone()));
    Ok(AuthRoutes::new(sessions, guard, check)
        .client_address(client)
        .into_router()
        .merge(me))
}

async fn me(claims: AccessClaims) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "sub": claims.sub,
        "sid": claims.sid,
        "scope": claims.scope,
        "exp": claims.exp,
    }))
}
