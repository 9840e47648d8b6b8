#![cfg_attr(docsrs, feature(doc_cfg))]
// The README is the crate documentation: one text for docs.rs, crates.io and GitHub. Its links
// go to docs.rs, so that they work everywhere; these definitions come first, so they win here and
// are intra-doc links.
//! [`Signer`]: Signer
//! [`SignParams`]: SignParams
//! [`Authorization::parse`]: Authorization::parse
//! [`CanonicalRequest`]: CanonicalRequest
//! [`SecretKey`]: SecretKey
//! [`Rejection`]: Rejection
//! [`RejectionKind`]: RejectionKind
//! [`Problem`]: Problem
//! [`KeyRegistry`]: KeyRegistry
//! [`NonceStore`]: NonceStore
//! [`Clock`]: Clock
//! [`Scheme`]: Scheme
#![doc = include_str!("../README.md")]
// Checked by `cargo test --doc`: the README shows examples/sign_and_verify.rs as it is, and
// says the Rust version of Cargo.toml's `rust-version`.
#![cfg_attr(
    doctest,
    doc = r#"```
let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
let example = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sign_and_verify.rs"));
let code: String = example
    .lines()
    .skip_while(|line| line.starts_with("//!") || line.is_empty())
    .map(|line| format!("{line}\n"))
    .collect();
assert!(readme.contains(&code), "README.md does not show examples/sign_and_verify.rs as it is");
let msrv = format!("Rust {} or newer", env!("CARGO_PKG_RUST_VERSION"));
assert!(readme.contains(&msrv), "README.md does not say {msrv:?}, as Cargo.toml does");
```"#
)]

pub mod audit;
mod authorization;
pub mod canonical;
pub mod challenge;
pub mod clock;
mod future;
#[cfg(any(feature = "kong", feature = "apisix"))]
pub mod gateway;
mod key;
#[cfg(feature = "keyring")]
pub mod keyring;
mod nonce;
pub mod policy;
mod problem;
mod registry;
mod rejection;
#[cfg(feature = "rfc9421")]
pub mod rfc9421;
pub mod scheme;
mod sign;
#[cfg(feature = "sigv4")]
pub mod sigv4;
#[cfg(feature = "softaware")]
pub mod softaware;
#[cfg(feature = "test-util")]
pub mod test_util;
#[cfg(feature = "token")]
pub mod token;
#[cfg(feature = "webhooks")]
pub mod webhooks;

pub use authorization::{
    Authorization, DEFAULT_MAX_HEADER_LEN, FormatError, MAX_KEY_ID_LEN, MAX_NONCE_LEN,
    MAX_SIGNED_HEADERS, MAX_TIMESTAMP_DIGITS, MIN_NONCE_LEN, SCHEME, Signature, is_valid_key_id,
};
pub use canonical::{
    BodyHasher, CanonicalRequest, EMPTY_BODY_SHA256, LINE_DIGEST_LABEL, Line, body_sha256,
    line_digests, line_layout, request_host, request_host_cow, trim_ows,
};
pub use challenge::Challenge;
pub use clock::{Clock, SystemClock};
#[cfg(feature = "test-util")]
pub use clock::{ManualClock, OffsetClock};
pub use future::StoreFuture;
pub use key::{KeyError, SecretKey};
pub use nonce::{
    NonceLifetime, NonceOutcome, NonceStore, NonceStoreError, NonceStoreErrorKind, unix_millis,
};
pub use policy::{AllowedHosts, DEFAULT_MAX_SKEW, GrantedScopes, HostError};
pub use problem::{Problem, ProblemError};
pub use registry::{KeyRecord, KeyRegistry, KeyState, RegistryError, is_valid_scope};
pub use rejection::{Diagnostics, Rejection, RejectionKind, TimeHint};
pub use scheme::{
    Credentials, Freshness, Locator, ReplayKey, Scheme, UriScheme, V1, V1Pending, Verified,
    authorization_token,
};
pub use sign::{Head, SignError, SignParams, Signer, generate_nonce};
