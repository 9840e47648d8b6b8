#![cfg_attr(docsrs, feature(doc_cfg))]
// The README is the crate documentation: one text for docs.rs, crates.io and GitHub. Its links
// go to docs.rs, so that they work everywhere; these definitions come first, so they win here and
// are intra-doc links.
//! [`SigningKeys`]: SigningKeys
//! [`BearerAuthLayer`]: BearerAuthLayer
//! [`AccessClaims`]: AccessClaims
//! [`SessionStore::rotate`]: SessionStore::rotate
//! [`Sessions::revoke_session`]: Sessions::revoke_session
//! [`Sessions::revoke_subject`]: Sessions::revoke_subject
//! [`LoginGuard`]: LoginGuard
//! [`MemorySessionStore`]: MemorySessionStore
//! [`SessionConfig::max_sessions`]: SessionConfig::max_sessions
//! [`SessionConfig::production`]: SessionConfig::production
//! [`SessionConfig::development`]: SessionConfig::development
//! [`Fingerprint`]: Fingerprint
//! [`Sessions::audit_hook`]: Sessions::audit_hook
#![cfg_attr(feature = "axum", doc = "[`routes::AuthRoutes`]: routes::AuthRoutes")]
// The README is the crate's documentation; its example (an axum handler) is a doctest only
// where `axum` is built.
#![cfg_attr(any(not(doctest), feature = "axum"), doc = include_str!("../README.md"))]
// Checked by `cargo test --doc`: the README shows examples/sessions.rs as it is, and
// says the Rust version of Cargo.toml's `rust-version`.
#![cfg_attr(
    doctest,
    doc = r#"```
let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
let example = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sessions.rs"));
let code: String = example
    .lines()
    .skip_while(|line| line.starts_with("//!") || line.is_empty())
    .map(|line| format!("{line}\n"))
    .collect();
assert!(readme.contains(&code), "README.md does not show examples/sessions.rs as it is");
let msrv = format!("Rust {} or newer", env!("CARGO_PKG_RUST_VERSION"));
assert!(readme.contains(&msrv), "README.md does not say {msrv:?}, as Cargo.toml does");
```"#
)]

mod audit;
mod config;
mod fingerprint;
mod keys;
mod layer;
pub mod login;
mod sessions;
pub mod store;
mod tokens;

#[cfg(feature = "axum")]
pub mod routes;

#[cfg(feature = "hmac")]
pub mod either;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use config::SessionConfig;
pub use fingerprint::{ClientAddress, Device, Fingerprint, FingerprintError};
pub use keys::{KeyError, SigningKeys};
pub use layer::{BearerAuth, BearerAuthLayer, BearerFuture};
pub use login::{
    LoginAlert, LoginAlertHook, LoginGuard, LoginLimits, LoginLimitsError, LoginRefusal,
};
pub use sessions::{RefreshError, Sessions, TokenPair};
pub use store::{
    AccessCheck, IssuedAccess, MemorySessionStore, NewSession, Rotation, Session, SessionStore,
    StoreError,
};
pub use tokens::{AccessClaims, TokenError};

/// The tracing target of session events (logins, refreshes, reuse, revocations).
pub const TRACING_TARGET: &str = "tower_hmac::sessions";

/// docs/SESSIONS.md's code (its router examples need `axum`, the one route for HMAC clients
/// and users `hmac`, which the tests always have).
#[doc = include_str!("../../../docs/SESSIONS.md")]
#[cfg(all(doctest, feature = "axum", feature = "hmac"))]
pub struct SessionsDoctests;
