//! Audit events of token and session lifecycles: the sessions crate's (`SESSION_*`,
//! `SESSIONS_REVOKED`) and the token vault's and delegating client's (`TOKEN_*`), each with a
//! stable name and a risk level.
//!
//! One path for every event ([`Auditor::emit`]): one `tracing` event on [`TRACING_TARGET`]
//! (`event` = the name, `risk`, and the fields the event has; `info` for low risk, `warn` for
//! medium and high) and one call of the [`AuditHook`], if one is set. High-risk events are the
//! alerts: send them to a pager from the hook (`event.risk == Risk::High`). An event never
//! carries a token, a secret or a password; the vault's events name the user by its keyed hash,
//! never by its id.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// The `tracing` target of audit events.
pub const TRACING_TARGET: &str = "tower_hmac::audit";

/// How serious an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Risk {
    /// Routine (a token stored, a session started).
    Low,
    /// Worth a look (a token revoked, an older session ended by the session limit).
    Medium,
    /// An alert (a refresh that failed, a device fingerprint that changed, every token revoked).
    High,
}

impl Risk {
    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// What happened: each has a stable name (its `event` field) and a default risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditKind {
    /// A user's upstream tokens were stored in the vault (`TOKEN_STORED`, low).
    TokenStored,
    /// A user's upstream tokens were refreshed (`TOKEN_REFRESHED`, low).
    TokenRefreshed,
    /// A refresh failed: what the vault held for the user and upstream is revoked
    /// (`TOKEN_REFRESH_FAILED`, high).
    TokenRefreshFailed,
    /// A user's tokens for one upstream were revoked (`TOKEN_REVOKED`, medium).
    TokenRevoked,
    /// Every delegated token and session of a user was revoked: the security-incident path
    /// (`ALL_TOKENS_REVOKED`, high).
    AllTokensRevoked,
    /// A request on a user's behalf was refused before it left: a scope the user did not grant,
    /// a destination that is not HTTPS (`DELEGATION_REFUSED`, medium).
    DelegationRefused,
    /// A session started (`SESSION_CREATED`, low).
    SessionCreated,
    /// An older session ended because its subject reached the session limit
    /// (`SESSION_ENDED_BY_LIMIT`, medium).
    SessionEndedByLimit,
    /// A session's token was used from a device whose fingerprint differs from the one bound
    /// at login (`SESSION_FINGERPRINT_MISMATCH`, high).
    SessionFingerprintMismatch,
    /// A refresh token already used was presented again, the sign of a stolen one: its
    /// session is revoked (`SESSION_TOKEN_REUSED`, high).
    SessionTokenReused,
    /// Every session of a subject was ended: a password change, an operator, the vault's
    /// incident path (`SESSIONS_REVOKED`, medium).
    SessionsRevoked,
}

impl AuditKind {
    /// The stable name (`TOKEN_STORED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenStored => "TOKEN_STORED",
            Self::TokenRefreshed => "TOKEN_REFRESHED",
            Self::TokenRefreshFailed => "TOKEN_REFRESH_FAILED",
            Self::TokenRevoked => "TOKEN_REVOKED",
            Self::AllTokensRevoked => "ALL_TOKENS_REVOKED",
            Self::DelegationRefused => "DELEGATION_REFUSED",
            Self::SessionCreated => "SESSION_CREATED",
            Self::SessionEndedByLimit => "SESSION_ENDED_BY_LIMIT",
            Self::SessionFingerprintMismatch => "SESSION_FINGERPRINT_MISMATCH",
            Self::SessionTokenReused => "SESSION_TOKEN_REUSED",
            Self::SessionsRevoked => "SESSIONS_REVOKED",
        }
    }

    /// The risk the event carries unless its emitter raises it.
    pub fn risk(self) -> Risk {
        match self {
            Self::TokenStored | Self::TokenRefreshed | Self::SessionCreated => Risk::Low,
            Self::TokenRevoked
            | Self::DelegationRefused
            | Self::SessionEndedByLimit
            | Self::SessionsRevoked => Risk::Medium,
            Self::TokenRefreshFailed
            | Self::AllTokensRevoked
            | Self::SessionFingerprintMismatch
            | Self::SessionTokenReused => Risk::High,
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit event. Never a token, a secret or a password.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// How serious it is.
    pub risk: Risk,
    /// Whom it concerns, as the emitter names them: the sessions crate's subject; the vault's
    /// keyed hash of the user id (never the id).
    pub subject: Option<String>,
    /// The upstream (the vault and the delegating client).
    pub upstream: Option<String>,
    /// The session (the sessions crate).
    pub session_id: Option<String>,
    /// A stable code saying why, when the kind alone does not (`insufficient_scope`,
    /// `invalid_grant`, …); empty otherwise.
    pub reason: &'static str,
    /// How many things it concerns, when it concerns several (tokens revoked, sessions ended).
    pub count: Option<u64>,
    /// When, on the emitter's clock.
    pub at: SystemTime,
}

impl AuditEvent {
    /// An event of `kind` at `at`, with the kind's default risk and no other field.
    pub fn new(kind: AuditKind, at: SystemTime) -> Self {
        Self {
            kind,
            risk: kind.risk(),
            subject: None,
            upstream: None,
            session_id: None,
            reason: "",
            count: None,
            at,
        }
    }

    /// Whom it concerns.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The upstream.
    pub fn upstream(mut self, upstream: impl Into<String>) -> Self {
        self.upstream = Some(upstream.into());
        self
    }

    /// The session.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Why (a stable code).
    pub fn reason(mut self, reason: &'static str) -> Self {
        self.reason = reason;
        self
    }

    /// How many things it concerns.
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// Another risk than the kind's default.
    pub fn risk(mut self, risk: Risk) -> Self {
        self.risk = risk;
        self
    }
}

/// Where audit events go besides the log: an audit table, a SIEM, and for high-risk events a
/// pager. Called on the emitting task: must not block (hand the event to a channel).
///
/// Implemented for closures and for a bounded channel's `std::sync::mpsc::SyncSender<AuditEvent>`
/// (`sync_channel(n)`): when it is full the event is not waited for — it is in the log, and a
/// warning says the hook missed it — so a stalled consumer neither blocks requests nor makes
/// memory grow without bound (an unbounded channel would, by events anyone can cause).
pub trait AuditHook: Send + Sync + 'static {
    /// One event.
    fn audit(&self, event: &AuditEvent);
}

impl<F: Fn(&AuditEvent) + Send + Sync + 'static> AuditHook for F {
    fn audit(&self, event: &AuditEvent) {
        self(event);
    }
}

impl AuditHook for std::sync::mpsc::SyncSender<AuditEvent> {
    fn audit(&self, event: &AuditEvent) {
        if let Err(std::sync::mpsc::TrySendError::Full(event)) = self.try_send(event.clone()) {
            tracing::warn!(
                target: TRACING_TARGET,
                event = event.kind.as_str(),
                "the audit hook's channel is full: this event is in the log only"
            );
        }
    }
}

/// Emits audit events: the log, then the hook. Cheap to clone.
#[derive(Clone, Default)]
pub struct Auditor {
    hook: Option<Arc<dyn AuditHook>>,
}

impl fmt::Debug for Auditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl Auditor {
    /// Events to the log only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Events to the log and to `hook`.
    pub fn with_hook(hook: impl AuditHook) -> Self {
        Self {
            hook: Some(Arc::new(hook)),
        }
    }

    /// Events to the log and to `hook`, shared.
    pub fn with_shared_hook(hook: Arc<dyn AuditHook>) -> Self {
        Self { hook: Some(hook) }
    }

    /// One event: logged on [`TRACING_TARGET`], then handed to the hook.
    pub fn emit(&self, event: AuditEvent) {
        let subject = event.subject.as_deref().unwrap_or("");
        let upstream = event.upstream.as_deref().unwrap_or("");
        let session_id = event.session_id.as_deref().unwrap_or("");
        let count = event.count.unwrap_or(0);
        match event.risk {
            Risk::Low => tracing::info!(
                target: TRACING_TARGET,
                event = event.kind.as_str(),
                risk = event.risk.as_str(),
                subject,
                upstream,
                session_id,
                reason = event.reason,
                count,
            ),
            Risk::Medium | Risk::High => tracing::warn!(
                target: TRACING_TARGET,
                event = event.kind.as_str(),
                risk = event.risk.as_str(),
                subject,
                upstream,
                session_id,
                reason = event.reason,
                count,
            ),
        }
        if let Some(hook) = &self.hook {
            hook.audit(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A bounded channel as the hook: a full one drops the event instead of blocking the
    /// emitting task (or growing without bound); a closed one is ignored.
    #[test]
    fn a_full_channel_drops_events_without_blocking() {
        let (tx, rx) = std::sync::mpsc::sync_channel::<AuditEvent>(1);
        let auditor = Auditor::with_hook(tx);
        for kind in [
            AuditKind::TokenStored,
            AuditKind::TokenRevoked,
            AuditKind::TokenRefreshed,
        ] {
            auditor.emit(AuditEvent::new(kind, SystemTime::UNIX_EPOCH));
        }
        let got: Vec<&str> = rx.try_iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(got, [AuditKind::TokenStored.as_str()]);
        drop(rx);
        auditor.emit(AuditEvent::new(
            AuditKind::TokenStored,
            SystemTime::UNIX_EPOCH,
        ));
    }

    #[test]
    fn every_event_reaches_the_hook_with_its_name_and_risk() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let auditor = Auditor::with_hook(move |e: &AuditEvent| {
            sink.lock().unwrap().push((e.kind.as_str(), e.risk));
        });
        auditor.emit(AuditEvent::new(
            AuditKind::TokenStored,
            SystemTime::UNIX_EPOCH,
        ));
        auditor.emit(
            AuditEvent::new(AuditKind::TokenRefreshFailed, SystemTime::UNIX_EPOCH)
                .upstream("up")
                .reason("invalid_grant"),
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [
                ("TOKEN_STORED", Risk::Low),
                ("TOKEN_REFRESH_FAILED", Risk::High)
            ]
        );
    }
}
