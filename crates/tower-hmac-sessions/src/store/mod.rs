//! Where sessions, refresh tokens and the denylist live.
//!
//! Two guarantees every store gives besides atomic rotation (issue 25 items 5 and 6):
//!
//! - **A horizon** ([`SessionStore::horizon`]): the time from which the store remembers every
//!   revocation. An access token issued before it is refused (`token_before_horizon`), so a store
//!   that loses its denylist — a memory store in a restarted process, a Redis restarted without
//!   persistence or flushed — never accepts a logged-out token again. The memory store's horizon
//!   is its creation; Redis's is per session: the session's record, beside its denylist (in one
//!   hash slot, on one node), is its marker, and a token whose session has no record is refused;
//!   PostgreSQL's is 0 (its denylist is committed with the revocation).
//! - **Bounded answers**: the network stores give up on an operation after a timeout
//!   ([`DEFAULT_TIMEOUT`], configurable), and the refusal is `503 session_store_unavailable`
//!   with `Retry-After` — never a request held for the backend's own 10 s.

use std::num::NonZeroUsize;
use std::time::Duration;

use async_trait::async_trait;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

pub use memory::MemorySessionStore;

/// How long a network store waits for one operation (connection, Lua script, transaction)
/// before answering `session_store_unavailable`: 500 ms. The replay store's is 250 ms; a session
/// operation is a transaction of several statements, rarer than a signed request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// The `Retry-After` a refusal for an unavailable store carries, seconds.
pub const RETRY_AFTER_SECS: u64 = 1;
#[cfg(feature = "postgres")]
pub use postgres::PostgresSessionStore;
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_PREFIX as DEFAULT_REDIS_PREFIX, RedisSessionStore};

/// The SHA-256 of a refresh token: all a store ever holds of it.
pub type TokenHash = [u8; 32];

/// A session to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The session id (the refresh token family).
    pub session_id: String,
    /// The subject.
    pub subject: String,
    /// The scopes its access tokens carry.
    pub scopes: Vec<String>,
    /// When it ends whatever happens, Unix seconds.
    pub absolute_expiry: u64,
    /// How long it lives without a refresh, seconds.
    pub idle_timeout: u64,
}

/// An access token being issued, as its session's store records it: in the same atomic step
/// that starts ([`SessionStore::create`]) or rotates ([`SessionStore::rotate`]) the session, so
/// that a revocation, whenever it lands, either comes first (no token is issued) or denies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedAccess {
    /// The token's id (`jti`).
    pub jti: String,
    /// Until when a revocation must deny it, Unix seconds: its `exp` plus the verifier's leeway.
    pub deny_until: u64,
}

/// A live session, as a rotation returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id.
    pub session_id: String,
    /// The subject.
    pub subject: String,
    /// The scopes.
    pub scopes: Vec<String>,
    /// When it ends, Unix seconds.
    pub absolute_expiry: u64,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was current: it is retired and the new one takes its place.
    Rotated(Session),
    /// It was already used: the whole session is now revoked.
    Reused {
        /// The session revoked.
        session_id: String,
        /// Its subject.
        subject: String,
    },
    /// Its session was revoked (logout, a reuse, every session of the subject).
    Revoked,
    /// Its session is past its absolute or idle lifetime.
    Expired,
    /// No such token.
    Unknown,
}

/// What the store says of an access token ([`SessionStore::check_access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessCheck {
    /// Issued after the horizon and not denied.
    Allowed,
    /// Its session was revoked (`token_revoked`).
    Denied,
    /// Issued before the store's horizon, so a revocation of it may have been lost
    /// (`token_before_horizon`).
    BeforeHorizon {
        /// The horizon, Unix seconds (`u64::MAX`: the store has no record of the session, which
        /// it may have lost).
        horizon: u64,
    },
}

/// A store operation that did not finish within the store's timeout.
#[cfg(any(feature = "redis", feature = "postgres"))]
#[derive(Debug, thiserror::Error)]
#[error("no answer within {0:?}")]
pub(crate) struct TimedOut(pub(crate) Duration);

/// Runs a store operation for at most `timeout`.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) async fn bounded<T>(
    timeout: Duration,
    operation: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, operation)
        .await
        .unwrap_or_else(|_| Err(StoreError::new(TimedOut(timeout))))
}

/// A store failed; the backend's error is its `source()`.
#[derive(Debug, thiserror::Error)]
#[error("session store: {source}")]
pub struct StoreError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// A failure of the backend.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// Sessions, their refresh tokens and the denied access token ids, with atomic rotation.
///
/// Every operation takes the caller's time (`now`, Unix seconds), so that tests set time.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Starts `session` with its first refresh token and records its first access token
    /// (`access`), in one atomic step.
    async fn create(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<(), StoreError>;

    /// Atomically: if `old` is the session's current token and the session is live, `old` is
    /// retired, `new` becomes current and `access` is recorded as the session's
    /// ([`Rotation::Rotated`]); if `old` was already used, the session is revoked
    /// ([`Rotation::Reused`]) and `access` is not recorded. Of concurrent calls with one token,
    /// at most one rotates. Recording `access` in the same step is what makes a revocation that
    /// follows the rotation deny the access token it issued (issue 24 item 6): never split it
    /// into a rotation and a later write.
    async fn rotate(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<Rotation, StoreError>;

    /// [`create`](Self::create), then ends the subject's older live sessions (not revoked,
    /// within their lifetimes) so that at most `max` live ones remain — this one and the
    /// `max - 1` most recently started before it — as [`revoke_session`](Self::revoke_session)
    /// does; returns the ids of the sessions it ended (each once: a session ended by two
    /// concurrent logins is named by one). Concurrent calls for one subject converge: the one
    /// that comes last (in the store's order) is never ended by an earlier one, so with
    /// `max == 1` exactly one survives. The default refuses (a store that cannot keep the
    /// limit must not silently ignore it).
    async fn create_limited(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
        max: NonZeroUsize,
    ) -> Result<Vec<String>, StoreError> {
        let _ = (session, token, access, now, max);
        Err(StoreError::new(
            "this session store does not implement SessionStore::create_limited: it cannot keep a session limit",
        ))
    }

    /// The scopes of the session a refresh token belongs to, read before a refresh that asks
    /// for a narrower scope (RFC 6749 §6). `None`: no such token, or one already used — the
    /// refresh then goes on to [`rotate`](Self::rotate), which reports a reuse whatever scope was
    /// asked for (a store that answers `None` for a live token makes a refresh with a scope end
    /// its session). The default refuses.
    async fn scopes_of(&self, token: &TokenHash) -> Result<Option<Vec<String>>, StoreError> {
        let _ = token;
        Err(StoreError::new(
            "this session store does not implement SessionStore::scopes_of",
        ))
    }

    /// Revokes a session: its refresh tokens fail, its live access tokens (those recorded by
    /// `create` and `rotate`) are denied until their `deny_until`. `false` when there is no such live session.
    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<bool, StoreError>;

    /// Revokes every session of `subject`; how many.
    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<usize, StoreError>;

    /// The session a refresh token belongs to, if any (logout with a refresh token).
    async fn session_of(&self, token: &TokenHash) -> Result<Option<String>, StoreError>;

    /// Whether the access token `jti` of the session `session_id` (its `sid` claim) is denied
    /// at `now`.
    async fn is_denied(&self, session_id: &str, jti: &str, now: u64) -> Result<bool, StoreError>;

    /// The store's horizon for the session `session_id` at `now`, Unix seconds: the time from
    /// which it remembers every revocation of that session. A store that can lose its denylist
    /// (a process restart, a backend that loses its data) returns the time of its last loss —
    /// its creation, a marker it re-creates at `now` when it finds it missing — or, keeping a
    /// marker per session beside the session's denylist, 0 while the marker is there and
    /// `u64::MAX` once it is missing (lost, or the session ended), so that tokens issued before
    /// are refused; a store whose denylist is as durable as its sessions may return 0. Never
    /// after the `now` of an operation that recorded a token of the session
    /// ([`create`](Self::create), [`rotate`](Self::rotate)) while the store keeps its data.
    async fn horizon(&self, session_id: &str, now: u64) -> Result<u64, StoreError>;

    /// Whether the access token `jti` of the session `session_id` (its `sid` claim), issued at
    /// `issued_at`, may be accepted at `now`: refused before the horizon, then checked against
    /// the denylist. The default asks [`horizon`](Self::horizon) then
    /// [`is_denied`](Self::is_denied); a network store may answer both in one round trip.
    async fn check_access(
        &self,
        session_id: &str,
        jti: &str,
        issued_at: u64,
        now: u64,
    ) -> Result<AccessCheck, StoreError> {
        let horizon = self.horizon(session_id, now).await?;
        if issued_at < horizon {
            return Ok(AccessCheck::BeforeHorizon { horizon });
        }
        Ok(if self.is_denied(session_id, jti, now).await? {
            AccessCheck::Denied
        } else {
            AccessCheck::Allowed
        })
    }

    /// Checks that the backend answers (within the store's timeout): for a start-up check and
    /// health checks. The memory store always answers.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
