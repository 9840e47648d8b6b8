//! Issuing, refreshing and revoking: the sessions of one service.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tower_hmac_core::audit::{AuditEvent, AuditHook, AuditKind, Auditor};
use tower_hmac_core::clock::unix_seconds;
use tower_hmac_core::{Clock, SecretKey, SystemClock};

use crate::TRACING_TARGET;
use crate::audit::{Stage, count_refusal};
use crate::config::SessionConfig;
use crate::fingerprint::{Device, same};
use crate::keys::SigningKeys;
use crate::store::{
    AccessCheck, IssuedAccess, NewSession, RETRY_AFTER_SECS, Rotation, SessionStore, StoreError,
    TokenHash,
};
use crate::tokens::{self, AccessClaims, TokenError};

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
    /// The scopes the access token carries (RFC 6749 §5.1 `scope`; not in the JSON of
    /// [`Sessions::login`]'s answer, which the `/auth/login` route sends as it is).
    #[serde(skip)]
    pub scopes: Vec<String>,
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
    /// The refresh token was used from another device than the one that logged in: its
    /// session is ended (`fingerprint_mismatch`).
    #[error("fingerprint_mismatch")]
    FingerprintMismatch,
    /// A scope wider than the session's was asked for (`invalid_scope`).
    #[error("invalid_scope")]
    InvalidScope,
    /// A device fingerprint is configured, and the call saw no request (`login`, `refresh`):
    /// use `login_from`, `refresh_from` (`fingerprint_required`, 500: the server's mistake).
    #[error("fingerprint_required")]
    FingerprintRequired,
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
            Self::FingerprintMismatch => "fingerprint_mismatch",
            Self::InvalidScope => "invalid_scope",
            Self::FingerprintRequired => "fingerprint_required",
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
            Self::Token(_) | Self::FingerprintRequired => http::StatusCode::INTERNAL_SERVER_ERROR,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// The sessions of a service: issues token pairs, rotates refresh tokens, verifies access
/// tokens, revokes, keeps the session policy (limit per subject, device fingerprint) and audits.
pub struct Sessions {
    keys: SigningKeys,
    config: SessionConfig,
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    auditor: Auditor,
    /// The fingerprint's key, when one is configured.
    fingerprint_key: Option<SecretKey>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("keys", &self.keys)
            .field("config", &self.config)
            .field("auditor", &self.auditor)
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

/// What a refresh asks besides the token.
struct RefreshAsk<'a> {
    scope: Option<&'a [String]>,
    device: Option<&'a Device<'a>>,
}

/// What went wrong in a rotation, for its event.
enum Incident {
    None,
    Reused(String, String),
    Mismatch,
    /// The store answered no scopes for a token it then rotated: the session was ended.
    ScopesLost {
        session_id: String,
        ended: bool,
    },
}

/// Whether a session granted `granted` covers `wanted`.
fn covers(granted: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|s| granted.contains(s))
}

impl Sessions {
    /// Sessions signed with `keys`, kept in `store`, with `config`.
    pub fn new(keys: SigningKeys, store: impl SessionStore, config: SessionConfig) -> Self {
        let fingerprint_key = config
            .fingerprint
            .as_ref()
            .map(|fp| fp.key(keys.current().1));
        Self {
            keys,
            config,
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            auditor: Auditor::new(),
            fingerprint_key,
        }
    }

    /// With another clock (tests).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Audit events (`SESSION_CREATED`, `SESSION_ENDED_BY_LIMIT`,
    /// `SESSION_FINGERPRINT_MISMATCH`, `SESSION_TOKEN_REUSED`, `SESSIONS_REVOKED`) through
    /// `auditor`: one event on `tower_hmac::audit` and its hook. Without, they are logged only.
    pub fn with_auditor(mut self, auditor: Auditor) -> Self {
        self.auditor = auditor;
        self
    }

    /// Audit events to the log and to `hook` ([`with_auditor`](Self::with_auditor)).
    pub fn audit_hook(self, hook: impl AuditHook) -> Self {
        self.with_auditor(Auditor::with_hook(hook))
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    fn now(&self) -> u64 {
        unix_seconds(self.clock.now())
    }

    fn audit(&self, event: AuditEvent) {
        self.auditor.emit(event);
    }

    fn event(&self, kind: AuditKind) -> AuditEvent {
        AuditEvent::new(kind, self.clock.now())
    }

    /// The device's fingerprint digest when one is configured: `Ok(None)` without one,
    /// `FingerprintRequired` when one is configured and the call saw no request.
    fn device_digest(&self, device: Option<&Device<'_>>) -> Result<Option<String>, RefreshError> {
        match (&self.config.fingerprint, &self.fingerprint_key) {
            (Some(fp), Some(key)) => match device {
                Some(device) => Ok(Some(fp.digest(key, device))),
                None => Err(RefreshError::FingerprintRequired),
            },
            _ => Ok(None),
        }
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
    #[allow(clippy::too_many_arguments)]
    fn access_token(
        &self,
        subject: &str,
        session_id: &str,
        scopes: &[String],
        access: IssuedAccess,
        exp: u64,
        now: u64,
        fpt: Option<&str>,
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
            fpt: fpt.unwrap_or_default().to_owned(),
        };
        Ok(tokens::encode(&self.keys, &claims)?)
    }

    fn pair(&self, access_token: String, refresh_token: String, scopes: Vec<String>) -> TokenPair {
        TokenPair {
            access_token,
            refresh_token,
            expires_in: self.config.access_ttl.as_secs(),
            token_type: "Bearer",
            scopes,
        }
    }

    /// A new refresh token: random, with the fingerprint digest as a suffix when one is bound
    /// (`<random>.<digest>`: the stored hash covers both, so the suffix cannot be changed).
    fn new_refresh(digest: Option<&str>) -> Result<(String, TokenHash), StoreError> {
        let (mut text, hash) = random_token()?;
        Ok(match digest {
            Some(digest) => {
                text.push('.');
                text.push_str(digest);
                let hash = hash_token(&text);
                (text, hash)
            }
            None => (text, hash),
        })
    }

    /// Starts a session for `subject` (after its credentials were checked): a token pair.
    /// Refused (`fingerprint_required`) when a device fingerprint is configured: use
    /// [`login_from`](Self::login_from).
    pub async fn login(&self, subject: &str, scopes: &[String]) -> Result<TokenPair, RefreshError> {
        let digest = self.device_digest(None)?;
        self.start(subject, scopes, digest).await
    }

    /// Starts a session for `subject` from `device` (the login request's headers and client
    /// address): bound to its fingerprint when one is configured; with a session limit, the
    /// subject's older sessions beyond it are ended (`SESSION_ENDED_BY_LIMIT`, each).
    pub async fn login_from(
        &self,
        subject: &str,
        scopes: &[String],
        device: &Device<'_>,
    ) -> Result<TokenPair, RefreshError> {
        let digest = self.device_digest(Some(device))?;
        self.start(subject, scopes, digest).await
    }

    async fn start(
        &self,
        subject: &str,
        scopes: &[String],
        digest: Option<String>,
    ) -> Result<TokenPair, RefreshError> {
        let now = self.now();
        let session_id = random_id()?;
        let (refresh, hash) = Self::new_refresh(digest.as_deref())?;
        let session = NewSession {
            session_id: session_id.clone(),
            subject: subject.to_owned(),
            scopes: scopes.to_vec(),
            absolute_expiry: now.saturating_add(self.config.absolute_lifetime.as_secs()),
            idle_timeout: self.config.idle_lifetime.as_secs(),
        };
        let (access, exp) = self.next_access(now)?;
        let ended = match self.config.max_sessions {
            Some(max) => {
                self.store
                    .create_limited(&session, &hash, &access, now, max)
                    .await?
            }
            None => {
                self.store.create(&session, &hash, &access, now).await?;
                Vec::new()
            }
        };
        let access = self.access_token(
            subject,
            &session_id,
            scopes,
            access,
            exp,
            now,
            digest.as_deref(),
        )?;
        tracing::info!(target: TRACING_TARGET, event = "login", subject, session_id = %session_id, risk = "low");
        self.audit(
            self.event(AuditKind::SessionCreated)
                .subject(subject)
                .session_id(session_id.as_str()),
        );
        for ended in ended {
            self.audit(
                self.event(AuditKind::SessionEndedByLimit)
                    .subject(subject)
                    .session_id(ended)
                    .reason("max_sessions"),
            );
        }
        Ok(self.pair(access, refresh, scopes.to_vec()))
    }

    /// Uses a refresh token once: a new pair, the old token retired. A token used twice revokes
    /// its session and raises a high-risk event (and `SESSION_TOKEN_REUSED` through the audit
    /// hook). Each refusal is one event on `tower_hmac::sessions` (`event = "refresh_refused"`,
    /// the code) and one `tower_hmac_sessions_refusals_total{stage="refresh", code}` (feature
    /// `metrics`).
    /// Refused (`fingerprint_required`) when a device fingerprint is configured: use
    /// [`refresh_from`](Self::refresh_from).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, RefreshError> {
        let ask = RefreshAsk {
            scope: None,
            device: None,
        };
        self.refresh_with(refresh_token, ask).await
    }

    /// [`refresh`](Self::refresh) from `device` (checked against the fingerprint bound at
    /// login, when one is configured, before the token is used: a mismatch ends the session
    /// and emits `SESSION_FINGERPRINT_MISMATCH`), the access token limited to `scope` when
    /// given (RFC 6749 §6; a scope the session does not hold is `invalid_scope`, refused
    /// before the token is used).
    pub async fn refresh_from(
        &self,
        refresh_token: &str,
        scope: Option<&[String]>,
        device: &Device<'_>,
    ) -> Result<TokenPair, RefreshError> {
        let ask = RefreshAsk {
            scope,
            device: Some(device),
        };
        self.refresh_with(refresh_token, ask).await
    }

    async fn refresh_with(
        &self,
        refresh_token: &str,
        ask: RefreshAsk<'_>,
    ) -> Result<TokenPair, RefreshError> {
        let mut incident = Incident::None;
        let outcome = self.rotate(refresh_token, &ask, &mut incident).await;
        if let Err(error) = &outcome {
            let code = error.code();
            count_refusal(Stage::Refresh, code);
            match incident {
                Incident::Reused(session_id, subject) => tracing::warn!(
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
                Incident::Mismatch => tracing::warn!(
                    target: TRACING_TARGET,
                    event = "refresh_refused",
                    outcome = "rejected",
                    code,
                    risk = "high",
                    signals = "fingerprint_mismatch",
                    "a refresh token was used from another device: the session is ended"
                ),
                Incident::ScopesLost { session_id, ended } => tracing::warn!(
                    target: TRACING_TARGET,
                    event = "refresh_refused",
                    outcome = "rejected",
                    code,
                    session_id,
                    ended,
                    risk = "medium",
                    "the session store answered no scopes for a token it then rotated \
                     (SessionStore::scopes_of must answer None only for an unknown or a used \
                     token): the session is ended (`ended`: whether the store did)"
                ),
                Incident::None => tracing::info!(
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

    /// Ends a session on the way to a refusal, best effort: the refusal stands whether or not
    /// the store answers, and a store that fails is logged (the session may still be live).
    /// Whether it was ended.
    async fn end_session(&self, session_id: &str, now: u64) -> bool {
        match self.store.revoke_session(session_id, now).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(
                    target: TRACING_TARGET,
                    event = "session_end_failed",
                    session_id,
                    %error,
                    "the session store failed to end a session on the way to a refusal: it may \
                     still be live"
                );
                false
            }
        }
    }

    /// Ends the session of a token used from another device: audited, high risk.
    async fn end_for_mismatch(&self, session_id: &str, subject: Option<&str>) {
        // Best effort: the refusal stands whether or not the store answers.
        self.end_session(session_id, self.now()).await;
        let mut event = self
            .event(AuditKind::SessionFingerprintMismatch)
            .session_id(session_id)
            .reason("fingerprint_mismatch");
        if let Some(subject) = subject {
            event = event.subject(subject);
        }
        self.audit(event);
    }

    /// The rotation of [`refresh`](Self::refresh); what went wrong in `incident`.
    async fn rotate(
        &self,
        refresh_token: &str,
        ask: &RefreshAsk<'_>,
        incident: &mut Incident,
    ) -> Result<TokenPair, RefreshError> {
        let digest = self.device_digest(ask.device)?;
        if refresh_token.is_empty() || refresh_token.len() > 256 {
            return Err(RefreshError::Invalid);
        }
        let old = hash_token(refresh_token);
        if let Some(digest) = &digest {
            // Checked before the token is used: a token from another device never rotates.
            let bound = refresh_token.rsplit_once('.').map(|(_, tag)| tag);
            if !bound.is_some_and(|tag| same(tag, digest)) {
                // Only a token of a session ends it (a made-up one is merely unknown).
                return match self.store.session_of(&old).await? {
                    Some(session_id) => {
                        *incident = Incident::Mismatch;
                        self.end_for_mismatch(&session_id, None).await;
                        Err(RefreshError::FingerprintMismatch)
                    }
                    None => Err(RefreshError::Invalid),
                };
            }
        }
        if let Some(wanted) = ask.scope {
            // No scopes for an unknown or a used token: the rotation below refuses it, and
            // reports a used one as the reuse it is, whatever scope it asked for.
            if let Some(granted) = self.store.scopes_of(&old).await?
                && !covers(&granted, wanted)
            {
                return Err(RefreshError::InvalidScope);
            }
        }
        let now = self.now();
        let (new_token, new_hash) = Self::new_refresh(digest.as_deref())?;
        let (access, exp) = self.next_access(now)?;
        match self.store.rotate(&old, &new_hash, &access, now).await? {
            Rotation::Rotated(session) => {
                let scopes = match ask.scope {
                    // Checked again against what the rotation read: a store whose `scopes_of`
                    // answered `None` for a token it then rotated never widens a scope. The
                    // token is used by now and its successor never handed out: the session is
                    // ended rather than left with a token nobody holds.
                    Some(wanted) if !covers(&session.scopes, wanted) => {
                        let ended = self.end_session(&session.session_id, now).await;
                        *incident = Incident::ScopesLost {
                            session_id: session.session_id,
                            ended,
                        };
                        return Err(RefreshError::InvalidScope);
                    }
                    Some(wanted) => wanted.to_vec(),
                    None => session.scopes.clone(),
                };
                let access = self.access_token(
                    &session.subject,
                    &session.session_id,
                    &scopes,
                    access,
                    exp,
                    now,
                    digest.as_deref(),
                )?;
                tracing::debug!(target: TRACING_TARGET, event = "refresh", subject = session.subject, session_id = session.session_id, risk = "low");
                Ok(self.pair(access, new_token, scopes))
            }
            Rotation::Reused {
                session_id,
                subject,
            } => {
                // Audited here, where the store reported it: once per reuse, whatever the answer.
                self.audit(
                    self.event(AuditKind::SessionTokenReused)
                        .subject(subject.as_str())
                        .session_id(session_id.as_str()),
                );
                *incident = Incident::Reused(session_id, subject);
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
    /// revocation), the denylist. Refused when a device fingerprint is configured (this call
    /// sees no request): use [`verify_access_from`](Self::verify_access_from).
    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if self.config.fingerprint.is_some() {
            return Err(TokenError::Invalid(
                "a device fingerprint is configured: the token must be verified with its request",
            ));
        }
        self.verify(token).await
    }

    /// [`verify_access`](Self::verify_access) from `device`: with a device fingerprint
    /// configured, a token whose bound fingerprint differs is refused (`fingerprint_mismatch`),
    /// its session ended and `SESSION_FINGERPRINT_MISMATCH` emitted.
    pub async fn verify_access_from(
        &self,
        token: &str,
        device: &Device<'_>,
    ) -> Result<AccessClaims, TokenError> {
        let claims = self.verify(token).await?;
        if let Ok(Some(digest)) = self.device_digest(Some(device))
            && !same(&claims.fpt, &digest)
        {
            self.end_for_mismatch(&claims.sid, Some(&claims.sub)).await;
            return Err(TokenError::FingerprintMismatch);
        }
        Ok(claims)
    }

    async fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
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

    /// Ends every session of `subject` (a password change, an operator): how many. Audited as
    /// `SESSIONS_REVOKED` (medium risk) with that count, once per call the store answered (a
    /// call that found nothing to end too).
    pub async fn revoke_subject(&self, subject: &str) -> Result<usize, StoreError> {
        let count = self.store.revoke_subject(subject, self.now()).await?;
        tracing::info!(target: TRACING_TARGET, event = "subject_revoked", subject, sessions = count, risk = "medium");
        self.audit(
            self.event(AuditKind::SessionsRevoked)
                .subject(subject)
                .count(count as u64),
        );
        Ok(count)
    }

    /// Ends every session of `subject` for a caller that audits the whole action itself (the
    /// vault's incident path: one `ALL_TOKENS_REVOKED` event naming the user by a keyed hash):
    /// no event of its own, and its log line leaves the subject out.
    pub async fn end_subject_sessions(&self, subject: &str) -> Result<usize, StoreError> {
        let count = self.store.revoke_subject(subject, self.now()).await?;
        tracing::info!(target: TRACING_TARGET, event = "subject_revoked", sessions = count, risk = "medium");
        Ok(count)
    }
}
