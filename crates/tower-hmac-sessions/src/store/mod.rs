//! Where sessions, refresh tokens and the denylist live.

use async_trait::async_trait;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

pub use memory::MemorySessionStore;
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

    /// Revokes a session: its refresh tokens fail, its live access tokens (those recorded by
    /// `create` and `rotate`) are denied until their `deny_until`. `false` when there is no such live session.
    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<bool, StoreError>;

    /// Revokes every session of `subject`; how many.
    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<usize, StoreError>;

    /// The session a refresh token belongs to, if any (logout with a refresh token).
    async fn session_of(&self, token: &TokenHash) -> Result<Option<String>, StoreError>;

    /// Whether the access token `jti` is denied at `now`.
    async fn is_denied(&self, jti: &str, now: u64) -> Result<bool, StoreError>;
}
