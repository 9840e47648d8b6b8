//! Issuing, refreshing and revoking: the sessions of one service.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tower_hmac_core::clock::unix_seconds;
use tower_hmac_core::{Clock, SystemClock};

use crate::TRACING_TARGET;
use crate::audit::{Stage, count_refusal};
use crate::keys::SigningKeys;
use crate::store::{
    AccessCheck, IssuedAccess, NewSession, RETRY_AFTER_SECS, Rotation, SessionStore, StoreError,
    TokenHash,
};
use crate::tokens::{self, AccessClaims, TokenError};

/// Lifetimes and names, with secure defaults.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    issuer: String,
    audience: String,
    access_ttl: Duration,
    leeway: Duration,
    absolute_lifetime: Duration,
    idle_lifetime: Duration,
}

impl SessionConfig {
    /// Tokens of `issuer` for `audience`: access tokens of 15 minutes, a 30 s leeway, sessions of
    /// at most 14 days and 24 hours without a refresh.
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl: Duration::from_secs(15 * 60),
            leeway: Duration::from_secs(30),
            absolute_lifetime: Duration::from_secs(14 * 86_400),
            idle_lifetime: Duration::from_secs(86_400),
        }
    }

    /// How long an access token is valid (whole seconds, at least 1 s). Longer: a stolen access
    /// token lasts longer, and a revocation reaches it only through the denylist.
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// The leeway on `exp` and `nbf` (clock differences), at most 5 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(Duration::from_secs(300));
        self
    }

    /// The longest a session lives, refreshed or not.
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute_lifetime = lifetime;
        self
    }

    /// How long a session lives without a refresh.
    pub fn idle_lifetime(mut self, lifetime: Duration) -> Self {
        self.idle_lifetime = lifetime;
        self
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience.
    pub fn audience(&self) -> &str {
        &self.audience
    }
}

/// An access token and a refresh token, as a login or refresh answers them (OAuth 2.0's token
/// response: `{"access_token", "refresh_token", "expires_in", "token_type"}`).
#[derive(Clone, Serialize)]
pub struct TokenPair {
    /// The HS256 JWT.
    pub access_token: String,
    /// The opaque refresh token, valid once.
    pub refresh_token: String,
    /// The access token's lifetime, seconds.
    pub expires_in: u64,
    /// `Bearer`.
    pub token_type: &'static str,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Why a refresh was refused; each has a stable code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// Not a refresh token of this service (`invalid_grant`).
    #[error("invalid_grant")]
    Invalid,
    /// Already used: the session is now revoked (`refresh_token_reused`).
    #[error("refresh_token_reused")]
    Reused,
    /// The session was revoked (`session_revoked`).
    #[error("session_revoked")]
    Revoked,
    /// The session is past its lifetime (`session_expired`).
    #[error("session_expired")]
    Expired,
    /// The store failed (`session_store_unavailable`).
    #[error("session_store_unavailable")]
    Store(#[from] StoreError),
    /// Signing failed.
    #[error("invalid_token")]
    Token(#[from] TokenError),
}

impl RefreshError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid => "invalid_grant",
            Self::Reused => "refresh_token_reused",
            Self::Revoked => "session_revoked",
            Self::Expired => "session_expired",
            Self::Store(_) => "session_store_unavailable",
            Self::Token(e) => e.code(),
        }
    }

    /// The `Retry-After` to send, seconds: when the store failed (503), 1.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Store(_) => Some(RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// The HTTP status: 400 for a refused grant (RFC 6749 §5.2), 503 when the store failed.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Store(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            Self::Token(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// The sessions of a service: issues token pairs, rotates refresh tokens, verifies access
/// tokens, revokes.
pub struct Sessions {
    keys: SigningKeys,
    config: SessionConfig,
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("keys", &self.keys)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn random_token() -> Result<(String, TokenHash), StoreError> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| StoreError::new(format!("no randomness: {e}")))?;
    let text = URL_SAFE_NO_PAD.encode(bytes.as_ref());
    let hash = hash_token(&text);
    Ok((text, hash))
}

fn hash_token(text: &str) -> TokenHash {
    Sha256::digest(text.as_bytes()).into()
}

fn random_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::new(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

impl Sessions {
    /// Sessions signed with `keys`, kept in `store`, with `config`.
    pub fn new(keys: SigningKeys, store: impl SessionStore, config: SessionConfig) -> Self {
        Self {
            keys,
            config,
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
        }
    }

    /// With another clock (tests).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    fn now(&self) -> u64 {
        unix_seconds(self.clock.now())
    }

    /// The id and expiry of the next access token, made before the store's step that records
    /// it (a session's start or rotation) so that the step records it atomically.
    fn next_access(&self, now: u64) -> Result<(IssuedAccess, u64), StoreError> {
        let exp = now.saturating_add(self.config.access_ttl.as_secs());
        // Denied as long as the time checks would let it through: `exp` plus the leeway.
        let deny_until = exp
            .saturating_add(self.config.leeway.as_secs())
            .saturating_add(1);
        let access = IssuedAccess {
            jti: random_id()?,
            deny_until,
        };
        Ok((access, exp))
    }

    /// Signs the access token the store has recorded as `access`.
    fn access_token(
        &self,
        subject: &str,
        session_id: &str,
        scopes: &[String],
        access: IssuedAccess,
        exp: u64,
        now: u64,
    ) -> Result<String, RefreshError> {
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.config.audience.clone(),
            exp,
            iat: now,
            nbf: now,
            jti: access.jti,
            sid: session_id.to_owned(),
            scope: scopes.join(" "),
            token_use: "access".to_owned(),
        };
        Ok(tokens::encode(&self.keys, &claims)?)
    }

    fn pair(&self, access_token: String, refresh_token: String) -> TokenPair {
        TokenPair {
            access_token,
            refresh_token,
            expires_in: self.config.access_ttl.as_secs(),
            token_type: "Bearer",
        }
    }

    /// Starts a session for `subject` (after its credentials were checked): a token pair.
    pub async fn login(&self, subject: &str, scopes: &[String]) -> Result<TokenPair, RefreshError> {
        let now = self.now();
        let session_id = random_id()?;
        let (refresh, hash) = random_token()?;
        let session = NewSession {
            session_id: session_id.clone(),
            subject: subject.to_owned(),
            scopes: scopes.to_vec(),
            absolute_expiry: now.saturating_add(self.config.absolute_lifetime.as_secs()),
            idle_timeout: self.config.idle_lifetime.as_secs(),
        };
        let (access, exp) = self.next_access(now)?;
        self.store.create(&session, &hash, &access, now).await?;
        let access = self.access_token(subject, &session_id, scopes, access, exp, now)?;
        tracing::info!(target: TRACING_TARGET, event = "login", subject, session_id = %session_id, risk = "low");
        Ok(self.pair(access, refresh))
    }

    /// Uses a refresh token once: a new pair, the old token retired. A token used twice revokes
    /// its session and raises a high-risk event. Each refusal is one event on
    /// `tower_hmac::sessions` (`event = "refresh_refused"`, the code) and one
    /// `tower_hmac_sessions_refusals_total{stage="refresh", code}` (feature `metrics`).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, RefreshError> {
        let mut reused = None;
        let outcome = self.rotate(refresh_token, &mut reused).await;
        if let Err(error) = &outcome {
            let code = error.code();
            count_refusal(Stage::Refresh, code);
            match reused {
                Some((session_id, subject)) => tracing::warn!(
                    target: TRACING_TARGET,
                    event = "refresh_refused",
                    outcome = "rejected",
                    code,
                    subject,
                    session_id,
                    risk = "high",
                    signals = "refresh_token_reuse",
                    "a used refresh token was presented again: the session is revoked"
                ),
                None => tracing::info!(
                    target: TRACING_TARGET,
                    event = "refresh_refused",
                    outcome = "rejected",
                    code,
                    risk = "low",
                ),
            }
        }
        outcome
    }

    /// The rotation of [`refresh`](Self::refresh); on a reuse, the session and its subject in
    /// `reused`.
    async fn rotate(
        &self,
        refresh_token: &str,
        reused: &mut Option<(String, String)>,
    ) -> Result<TokenPair, RefreshError> {
        if refresh_token.is_empty() || refresh_token.len() > 256 {
            return Err(RefreshError::Invalid);
        }
        let now = self.now();
        let (new_token, new_hash) = random_token()?;
        let (access, exp) = self.next_access(now)?;
        match self
            .store
            .rotate(&hash_token(refresh_token), &new_hash, &access, now)
            .await?
        {
            Rotation::Rotated(session) => {
                let access = self.access_token(
                    &session.subject,
                    &session.session_id,
                    &session.scopes,
                    access,
                    exp,
                    now,
                )?;
                tracing::debug!(target: TRACING_TARGET, event = "refresh", subject = session.subject, session_id = session.session_id, risk = "low");
                Ok(self.pair(access, new_token))
            }
            Rotation::Reused {
                session_id,
                subject,
            } => {
                *reused = Some((session_id, subject));
                Err(RefreshError::Reused)
            }
            Rotation::Revoked => Err(RefreshError::Revoked),
            Rotation::Expired => Err(RefreshError::Expired),
            Rotation::Unknown => Err(RefreshError::Invalid),
        }
    }

    /// Checks that the store answers, within its timeout: call it before serving (a server that
    /// says it listens while its session store is unreachable holds every login) and from a
    /// health check.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Verifies an access token: signature, algorithm, claims, times on this clock, the store's
    /// horizon (a token issued before it is `token_before_horizon`: the store may have lost its
    /// revocation), the denylist.
    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = tokens::decode(
            &self.keys,
            token,
            &self.config.issuer,
            &self.config.audience,
        )?;
        let now = self.now();
        let leeway = self.config.leeway.as_secs();
        if now > claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid);
        }
        match self
            .store
            .check_access(&claims.sid, &claims.jti, claims.iat, now)
            .await
        {
            Ok(AccessCheck::Allowed) => Ok(claims),
            Ok(AccessCheck::Denied) => Err(TokenError::Revoked),
            Ok(AccessCheck::BeforeHorizon { .. }) => Err(TokenError::BeforeHorizon),
            Err(_) => Err(TokenError::StoreUnavailable),
        }
    }

    /// Ends a session (logout): its refresh token fails, its access tokens are denied.
    pub async fn revoke_session(&self, session_id: &str) -> Result<bool, StoreError> {
        let revoked = self.store.revoke_session(session_id, self.now()).await?;
        tracing::info!(target: TRACING_TARGET, event = "session_revoked", session_id, revoked, risk = "low");
        Ok(revoked)
    }

    /// Ends the session a refresh token belongs to (logout with a refresh token).
    pub async fn revoke_by_refresh_token(&self, refresh_token: &str) -> Result<bool, StoreError> {
        match self.store.session_of(&hash_token(refresh_token)).await? {
            Some(session_id) => self.revoke_session(&session_id).await,
            None => Ok(false),
        }
    }

    /// Ends every session of `subject` (a password change): how many.
    pub async fn revoke_subject(&self, subject: &str) -> Result<usize, StoreError> {
        let count = self.store.revoke_subject(subject, self.now()).await?;
        tracing::info!(target: TRACING_TARGET, event = "subject_revoked", subject, sessions = count, risk = "low");
        Ok(count)
    }
}
