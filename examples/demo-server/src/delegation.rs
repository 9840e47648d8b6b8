//! The demo's token delegation (tower-hmac-vault): this instance calls an upstream API — a
//! second demo instance — on its users' behalf, with the upstream tokens each user linked.
//!
//! - `POST /delegation/link` (Bearer: this instance's access token) stores the upstream's token
//!   answer (`{"access_token", "refresh_token", "expires_in"[, "scope"]}`, what the upstream's
//!   `/auth/login` or `/auth/refresh` answers) in the vault for the caller;
//! - `GET /delegation/upstream/me` calls the upstream's `GET /me` with the caller's upstream
//!   token (scope `orders:read`), refreshed transparently (single-flight) when it has expired
//!   or the upstream refuses it; answers `{"status", "upstream"}` with the upstream's answer;
//! - `POST /delegation/revoke` deletes the caller's upstream tokens; `POST
//!   /delegation/revoke-all` every delegated token of the caller and every session of theirs
//!   here (the security-incident path).
//!
//! Settings: `TOWER_HMAC_DEMO_UPSTREAM` (the upstream's base URL: HTTPS, or plain HTTP to a
//! loopback address with `TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK=1`; delegation is off
//! without it), `TOWER_HMAC_DEMO_VAULT_STORE` (`memory` by default, `redis://…`,
//! `redis+cluster://host:port,…`, `postgres://…`), `TOWER_HMAC_DEMO_VAULT_NAMESPACE` (its key
//! prefix or schema), `TOWER_HMAC_DEMO_VAULT_MASTER_KEY` and `TOWER_HMAC_DEMO_VAULT_USER_KEY`
//! (32 bytes, Base64 each: random per start by default, required with a shared store).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_hmac::server::PeerAddr;
use tower_hmac_core::audit::{AuditEvent, Auditor, Risk};
use tower_hmac_core::keyring::{Keyring, MasterKey};
use tower_hmac_sessions::{AccessClaims, BearerAuthLayer, ClientAddress, Sessions};
use tower_hmac_vault::client::{Delegation, DelegationError, Upstream};
use tower_hmac_vault::store::{MemoryVaultStore, PostgresVaultStore, RedisVaultStore};
use tower_hmac_vault::{DelegatedTokens, SubjectRevoker, Vault, VaultError, revoke_all};
use zeroize::Zeroizing;

use crate::{DemoClock, RedisTarget};

/// The upstream's name in the vault.
pub const UPSTREAM: &str = "upstream";
/// The scope a delegated `GET /me` needs, and the one a link without `scope` is taken to grant
/// (RFC 6749 §5.1: no `scope` in a token answer means the scope requested, and the demo asks
/// the upstream for this one).
pub const DELEGATED_SCOPE: &str = "orders:read";
/// The demo's OAuth 2 client id at the upstream.
pub const CLIENT_ID: &str = "tower-hmac-demo";
/// The longest upstream answer passed on (bigger ones are `502 bad_upstream_answer`).
pub const MAX_UPSTREAM_ANSWER: usize = 64 * 1024;
/// The largest `POST /delegation/link` body.
pub const MAX_LINK_BODY: usize = 16 * 1024;
/// How long before its expiry a token is refreshed before a call: 1 s (the library's 10 s
/// would refresh a 2-second demo token on every call).
pub const SEND_MARGIN: Duration = Duration::from_secs(1);

/// The demo's auditor: every audit event on `tower_hmac::audit`, and the high-risk ones
/// (`TOKEN_REFRESH_FAILED`, `ALL_TOKENS_REVOKED`, `SESSION_FINGERPRINT_MISMATCH`,
/// `SESSION_TOKEN_REUSED`) also on `demo_server::alerts`, where the HMAC layer's and the login
/// guard's alerts are (a real service would page someone from this hook).
pub fn alerting_auditor() -> Auditor {
    Auditor::with_hook(|event: &AuditEvent| {
        if event.risk == Risk::High {
            tracing::warn!(
                target: "demo_server::alerts",
                event = event.kind.as_str(),
                subject = event.subject.as_deref().unwrap_or(""),
                upstream = event.upstream.as_deref().unwrap_or(""),
                reason = event.reason,
                "high-risk audit event"
            );
        }
    })
}

/// Where the vault keeps its sealed records (`TOWER_HMAC_DEMO_VAULT_STORE`, prefix or schema
/// `TOWER_HMAC_DEMO_VAULT_NAMESPACE`).
pub type VaultBackend = crate::StoreTarget;

/// The demo's delegation settings (see the module's documentation).
#[derive(Clone, Default)]
pub struct DelegationSettings {
    /// The upstream's base URL (its `/me` and `/auth/refresh` are under it).
    pub upstream: String,
    /// Plain HTTP to a loopback upstream allowed (`TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK=1`).
    pub insecure_loopback: bool,
    /// Where the vault keeps its records.
    pub store: VaultBackend,
    /// The vault's master key, Base64 (random per start when `None`).
    pub master_key: Option<Zeroizing<String>>,
    /// The key of the user hashes, Base64 (random per start when `None`).
    pub user_key: Option<Zeroizing<String>>,
    /// The vault's clock (a test's own; the system's when `None`).
    pub clock: Option<DemoClock>,
    /// Where audit events go besides the log (a test's hook).
    pub auditor: Option<Auditor>,
    /// The bound on each of the store's operations (the store's own 500 ms when `None`).
    pub store_timeout: Option<Duration>,
}

impl std::fmt::Debug for DelegationSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegationSettings")
            .field("upstream", &self.upstream)
            .field("insecure_loopback", &self.insecure_loopback)
            .field("store", &self.store.kind())
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "[redacted]"),
            )
            .field("user_key", &self.user_key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl DelegationSettings {
    /// From the environment: `None` when `TOWER_HMAC_DEMO_UPSTREAM` is unset (delegation off).
    pub fn from_env() -> Result<Option<Self>, String> {
        let Ok(upstream) = std::env::var("TOWER_HMAC_DEMO_UPSTREAM") else {
            return Ok(None);
        };
        let insecure_loopback = match std::env::var("TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK")
            .unwrap_or_default()
            .as_str()
        {
            "" | "0" => false,
            "1" => true,
            other => {
                return Err(format!(
                    "TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK={other:?}: expected 1 or 0"
                ));
            }
        };
        let store = VaultBackend::parse(
            &std::env::var("TOWER_HMAC_DEMO_VAULT_STORE").unwrap_or_default(),
            std::env::var("TOWER_HMAC_DEMO_VAULT_NAMESPACE").ok(),
            RedisVaultStore::DEFAULT_PREFIX,
            "vault store",
        )?;
        let secret = |var: &str| std::env::var(var).ok().map(Zeroizing::new);
        Ok(Some(Self {
            upstream,
            insecure_loopback,
            store,
            master_key: secret("TOWER_HMAC_DEMO_VAULT_MASTER_KEY"),
            user_key: secret("TOWER_HMAC_DEMO_VAULT_USER_KEY"),
            clock: None,
            auditor: Some(alerting_auditor()),
            store_timeout: None,
        }))
    }

    /// The delegating client: the upstream checked (an `http://` one refused unless it is a
    /// loopback address and plain HTTP was allowed), the vault's keys read, its store
    /// answering.
    pub async fn open(&self) -> Result<Delegation, String> {
        let base = self.upstream.trim_end_matches('/');
        let upstream = Upstream::builder(
            UPSTREAM,
            format!("{base}/"),
            format!("{base}/auth/refresh"),
            CLIENT_ID,
        )
        .allow_insecure_loopback(self.insecure_loopback)
        .build()
        .map_err(|e| {
            let hint = if self.upstream.starts_with("http://") {
                " (plain HTTP only to a loopback address, with \
                 TOWER_HMAC_DEMO_UPSTREAM_INSECURE_LOOPBACK=1: it weakens security)"
            } else {
                ""
            };
            format!("TOWER_HMAC_DEMO_UPSTREAM is refused: {e}{hint}")
        })?;
        let shared = self.store != VaultBackend::Memory;
        let key = |value: &Option<Zeroizing<String>>, var: &str| match value {
            Some(text) => Ok(Some(text.clone())),
            None if shared => Err(format!(
                "{var} is required with a shared vault store: every instance must seal and find \
                 records with the same keys (32 bytes, Base64; `openssl rand -base64 32`)"
            )),
            None => Ok(None),
        };
        let master = match key(&self.master_key, "TOWER_HMAC_DEMO_VAULT_MASTER_KEY")? {
            Some(text) => MasterKey::from_base64(&text)
                .map_err(|e| format!("TOWER_HMAC_DEMO_VAULT_MASTER_KEY: {e}"))?,
            None => MasterKey::generate().map_err(|e| e.to_string())?,
        };
        let user_key = match key(&self.user_key, "TOWER_HMAC_DEMO_VAULT_USER_KEY")? {
            Some(text) => tower_hmac::SecretKey::from_base64(&text)
                .map_err(|e| format!("TOWER_HMAC_DEMO_VAULT_USER_KEY: {e}"))?,
            None => tower_hmac::SecretKey::generate().map_err(|e| e.to_string())?,
        };
        let keyring = Keyring::new(master);
        let kind = self.store.kind();
        let unreachable = |e: &dyn std::fmt::Display| format!("vault store ({kind}): {e}");
        let timeout = self
            .store_timeout
            .unwrap_or(tower_hmac_vault::store::DEFAULT_TIMEOUT);
        let mut vault = match &self.store {
            VaultBackend::Memory => Vault::new(MemoryVaultStore::new(), keyring, user_key),
            VaultBackend::Redis(url, prefix) => Vault::new(
                RedisVaultStore::connect_with_timeout(url, prefix, timeout)
                    .await
                    .map_err(|e| unreachable(&e))?,
                keyring,
                user_key,
            ),
            VaultBackend::RedisCluster(nodes, prefix) => {
                let conn = RedisTarget::cluster_connection(nodes)
                    .await
                    .map_err(|e| unreachable(&e))?;
                Vault::new(
                    RedisVaultStore::from_connection(conn, prefix)
                        .map_err(|e| unreachable(&e))?
                        .with_timeout(timeout),
                    keyring,
                    user_key,
                )
            }
            VaultBackend::Postgres(url, schema) => Vault::new(
                PostgresVaultStore::connect_with_timeout(url, schema.as_deref(), timeout)
                    .await
                    .map_err(|e| unreachable(&e))?,
                keyring,
                user_key,
            ),
        };
        if let Some(clock) = &self.clock {
            vault = vault.with_clock(clock.clone());
        }
        if let Some(auditor) = &self.auditor {
            vault = vault.auditor(auditor.clone());
        }
        vault.ping().await.map_err(|e| unreachable(&e))?;
        Delegation::builder(Arc::new(vault))
            .upstream(upstream)
            .send_margin(SEND_MARGIN)
            .build()
            .map_err(|e| e.to_string())
    }
}

#[derive(Clone)]
struct Shared {
    delegation: Delegation,
    sessions: Arc<Sessions>,
    me: String,
}

/// The `/delegation/*` routes, behind `sessions`' bearer tokens.
pub fn routes(sessions: Arc<Sessions>, delegation: Delegation) -> Router {
    let me = delegation
        .upstream(UPSTREAM)
        .map(|u| format!("{}me", u.base_url()))
        .unwrap_or_default();
    let client = ClientAddress::from_fn(|extensions, _| {
        extensions.get::<PeerAddr>().map(|PeerAddr(addr)| addr.ip())
    });
    let bearer = BearerAuthLayer::new(Arc::clone(&sessions)).client_address(client);
    Router::new()
        .route("/delegation/link", post(link))
        .route("/delegation/upstream/me", get(upstream_me))
        .route("/delegation/revoke", post(revoke))
        .route("/delegation/revoke-all", post(revoke_everything))
        .layer(bearer)
        .layer(DefaultBodyLimit::max(MAX_LINK_BODY))
        .with_state(Shared {
            delegation,
            sessions,
            me,
        })
}

/// A refusal: `{"error": code, "error_description": text}` with `status`.
fn refusal(status: StatusCode, code: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": code, "error_description": description });
    (status, Json(body)).into_response()
}

fn vault_refusal(e: &VaultError) -> Response {
    let status = match e {
        VaultError::InvalidTokens | VaultError::InvalidUser | VaultError::InvalidUpstream => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    refusal(status, e.code(), "the token vault refused or failed")
}

/// An upstream token answer (RFC 6749 §5.1); other fields (`token_type`) are ignored.
#[derive(Deserialize)]
struct Link {
    access_token: Zeroizing<String>,
    refresh_token: Option<Zeroizing<String>>,
    expires_in: u64,
    scope: Option<String>,
}

async fn link(
    State(shared): State<Shared>,
    claims: AccessClaims,
    body: axum::body::Bytes,
) -> Response {
    let Ok(link) = serde_json::from_slice::<Link>(&body) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "expected the upstream's token answer: {\"access_token\", \"refresh_token\", \
             \"expires_in\"[, \"scope\"]}",
        );
    };
    if !(1..=366 * 86_400).contains(&link.expires_in) {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "expires_in must be 1 s to 366 days",
        );
    }
    let scopes: Vec<String> = match &link.scope {
        Some(text) => text.split(' ').map(str::to_owned).collect(),
        None => vec![DELEGATED_SCOPE.to_owned()],
    };
    if scopes.iter().any(String::is_empty) {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "scope is a list of scopes separated by single spaces",
        );
    }
    let vault = shared.delegation.vault();
    let expires_at = vault.now().saturating_add(link.expires_in);
    let tokens = DelegatedTokens::new(
        link.access_token.as_str(),
        link.refresh_token.as_ref().map(|t| t.to_string()),
        expires_at,
        scopes.clone(),
    );
    match vault.put(&claims.sub, UPSTREAM, &tokens).await {
        Ok(_) => Json(serde_json::json!({
            "linked": UPSTREAM,
            "expires_at": expires_at,
            "scope": scopes.join(" "),
        }))
        .into_response(),
        Err(e) => vault_refusal(&e),
    }
}

fn delegation_refusal(e: &DelegationError) -> Response {
    let description = match e.code() {
        "not_linked" | "refresh_failed" => "link the upstream account again",
        "insufficient_scope" => "the linked upstream account did not grant orders:read",
        "upstream_unavailable" => "the upstream did not answer usefully; try again",
        _ => "the delegated call failed",
    };
    refusal(e.status(), e.code(), description)
}

async fn upstream_me(State(shared): State<Shared>, claims: AccessClaims) -> Response {
    let request = match shared.delegation.http_client().get(&shared.me).build() {
        Ok(request) => request,
        Err(_) => {
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "bad_upstream_url",
                "the upstream URL is not usable",
            );
        }
    };
    let mut response = match shared
        .delegation
        .send(&claims.sub, UPSTREAM, &[DELEGATED_SCOPE], request)
        .await
    {
        Ok(response) => response,
        Err(e) => return delegation_refusal(&e),
    };
    let status = response.status().as_u16();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_UPSTREAM_ANSWER => {
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Ok(Some(_)) | Err(_) => {
                return refusal(
                    StatusCode::BAD_GATEWAY,
                    "bad_upstream_answer",
                    "the upstream's answer was too long or cut off",
                );
            }
        }
    }
    let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return refusal(
            StatusCode::BAD_GATEWAY,
            "bad_upstream_answer",
            "the upstream's answer is not JSON",
        );
    };
    Json(serde_json::json!({ "status": status, "upstream": answer })).into_response()
}

async fn revoke(State(shared): State<Shared>, claims: AccessClaims) -> Response {
    match shared
        .delegation
        .vault()
        .revoke(&claims.sub, UPSTREAM)
        .await
    {
        Ok(revoked) => Json(serde_json::json!({ "revoked": revoked })).into_response(),
        Err(e) => vault_refusal(&e),
    }
}

async fn revoke_everything(State(shared): State<Shared>, claims: AccessClaims) -> Response {
    let sessions: &dyn SubjectRevoker = shared.sessions.as_ref();
    match revoke_all(shared.delegation.vault(), &claims.sub, &[sessions]).await {
        Ok(done) => Json(serde_json::json!({
            "tokens": done.tokens,
            "sessions": done.others,
        }))
        .into_response(),
        Err(e) => vault_refusal(&e),
    }
}
