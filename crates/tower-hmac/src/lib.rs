#![cfg_attr(docsrs, feature(doc_cfg))]
// The README is the crate documentation: one text for docs.rs, crates.io and GitHub. Its links
// go to docs.rs, so that they work everywhere; these definitions come first, so they win here and
// are intra-doc links.
//! [`RejectionKind`]: RejectionKind
//! [`Rejection`]: Rejection
//! [`server`]: server
//! [`HmacAuthBuilder::with_scheme`]: HmacAuthBuilder::with_scheme
//! [`Authenticated`]: Authenticated
#![cfg_attr(feature = "client", doc = "[`client`]: client")]
#![doc = include_str!("../README.md")]
// Checked by `cargo test --doc`: the README shows examples/server_and_client.rs as it is, and
// says the Rust version of Cargo.toml's `rust-version`.
#![cfg_attr(
    doctest,
    doc = r#"```
let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
let example = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/server_and_client.rs"));
let code: String = example
    .lines()
    .skip_while(|line| line.starts_with("//!") || line.is_empty())
    .map(|line| format!("{line}\n"))
    .collect();
assert!(readme.contains(&code), "README.md does not show examples/server_and_client.rs as it is");
let msrv = format!("Rust {} or newer", env!("CARGO_PKG_RUST_VERSION"));
assert!(readme.contains(&msrv), "README.md does not say {msrv:?}, as Cargo.toml does");
```"#
)]

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod extract;
pub mod registry;
pub mod server;
pub mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use error::ConfigError;
pub use extract::Authenticated;
#[cfg(feature = "axum")]
pub use extract::MissingAuthentication;
pub use tower_hmac_core as protocol;

// Shortcuts for the quick start. Each item is documented at one path only (its module's, or the
// core crate's, which `protocol` names): here the docs list them as re-exports.
#[doc(no_inline)]
pub use registry::InMemoryRegistry;
#[cfg(feature = "toml")]
#[doc(no_inline)]
pub use registry::RegistryFileError;
#[doc(no_inline)]
pub use server::{HmacAuth, HmacAuthBuilder, HmacAuthLayer};
#[doc(no_inline)]
pub use store::MemoryNonceStore;
#[cfg(feature = "moka")]
#[doc(no_inline)]
pub use store::MokaNonceStore;
#[doc(no_inline)]
pub use tower_hmac_core::{AllowedHosts, Diagnostics, Rejection, RejectionKind, SecretKey};
