#![cfg_attr(docsrs, feature(doc_cfg))]
//! A token vault for a service that calls upstream APIs on its users' behalf (the *User Token
//! Delegation Pattern*): each user's upstream access and refresh tokens, sealed with AES-256-GCM
//! under the same [`Keyring`](tower_hmac_core::keyring::Keyring) as the PostgreSQL key
//! registry, the user id kept only as a keyed hash; refreshed single-flight on a `401` and
//! before expiry by the delegating client (feature `client`); revoked per upstream, per user, or
//! with the user's sessions in one call ([`revoke_all`]).
//!
//! See docs/DELEGATION.md in the repository for the whole pattern, its threats and what answers
//! each.

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod incident;
pub mod store;
mod vault;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "conformance")]
pub mod conformance;

pub use incident::{RevokedAll, SubjectRevoker, revoke_all};
pub use tower_hmac_core::audit::{AuditEvent, AuditHook, AuditKind, Auditor, Risk};
pub use vault::{
    DelegatedTokens, Entry, MAX_SCOPES, MAX_TOKEN_LEN, MAX_UPSTREAM_LEN, MAX_USER_LEN, UserHash,
    Vault, VaultError,
};

/// The tracing target of the vault's own diagnostics (its audit events are on
/// [`tower_hmac_core::audit::TRACING_TARGET`]).
pub const TRACING_TARGET: &str = "tower_hmac::vault";
