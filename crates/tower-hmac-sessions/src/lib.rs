//! HS256 access tokens with rotating refresh tokens — sliding sessions — as a Tower layer.
//!
//! - **Access token**: an HS256 JWT (`iss`, `sub`, `aud`, `exp`, `iat`, `nbf`, `jti`, `sid`, the
//!   scopes, `token_use: "access"`, `kid` in the header), 15 minutes by default, signed with the
//!   current of several keys ([`SigningKeys`]). Verified by [`BearerAuthLayer`]: HS256 only (never
//!   `none`, never an algorithm the token names), the signature with the key its `kid` names,
//!   `exp` / `nbf` with a leeway on the layer's clock, `iss`, `aud`, `token_use`, and a short
//!   denylist of revoked sessions' token ids.
//! - **Refresh token**: 32 random bytes (Base64url), only their SHA-256 stored, valid once: using
//!   it returns a new access token and a new refresh token and retires the old one atomically
//!   ([`SessionStore::rotate`], which records the new access token's id in the same step, so a
//!   revocation that follows denies it). Presenting a used one again revokes the whole session
//!   (the token family) and raises a high-risk event: a stolen refresh token is useful once at
//!   most, and its use by the thief ends the victim's session too, which the victim notices. A
//!   session lives at most 14 days (absolute) and 24 hours without a refresh (idle) by default.
//! - **Revocation**: one session ([`Sessions::revoke_session`], logout) or every session of a
//!   subject ([`Sessions::revoke_subject`], a password change): refresh fails at once; the
//!   session's live access tokens are denied until they expire.
//! - **A horizon**: a store that loses its denylist (a restarted process, a Redis restarted
//!   without persistence) refuses the access tokens issued before the loss
//!   (`token_before_horizon`), so a forgotten logout never re-validates a token.
//! - **Bounded**: the Redis and PostgreSQL stores give up after a timeout (500 ms by default):
//!   `503 session_store_unavailable` with `Retry-After: 1`.
//!
//! Stores: [`MemorySessionStore`], `RedisSessionStore` (feature `redis`), `PostgresSessionStore`
//! (feature `postgres`); one conformance suite (`conformance::run`) passes on all three.
//! docs/SECURITY.md "Sessions" says what a stolen token allows and for how long.

mod audit;
mod keys;
mod layer;
pub mod login;
mod sessions;
pub mod store;
mod tokens;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use keys::{KeyError, SigningKeys};
pub use layer::{BearerAuth, BearerAuthLayer, BearerFuture};
pub use login::{
    LoginAlert, LoginAlertHook, LoginGuard, LoginLimits, LoginLimitsError, LoginRefusal,
};
pub use sessions::{RefreshError, SessionConfig, Sessions, TokenPair};
pub use store::{
    AccessCheck, IssuedAccess, MemorySessionStore, NewSession, Rotation, Session, SessionStore,
    StoreError,
};
pub use tokens::{AccessClaims, TokenError};

/// The tracing target of session events (logins, refreshes, reuse, revocations).
pub const TRACING_TARGET: &str = "tower_hmac::sessions";

/// docs/SESSIONS.md's code.
#[doc = include_str!("../../../docs/SESSIONS.md")]
#[cfg(doctest)]
pub struct SessionsDoctests;
