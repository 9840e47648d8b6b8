#![cfg_attr(docsrs, feature(doc_cfg))]
// The README is the crate documentation: one text for docs.rs, crates.io and GitHub. Its links
// go to docs.rs, so that they work everywhere; these definitions come first, so they win here and
// are intra-doc links.
//! [`KeyAdmin`]: KeyAdmin
//! [`PostgresRegistry`]: PostgresRegistry
//! [`RegistryOptions::max_staleness`]: RegistryOptions::max_staleness
//! [`RegistryOptions::lookup_timeout`]: RegistryOptions::lookup_timeout
//! [`RegistryOptions::schema`]: RegistryOptions::schema
//! [`Keyring`]: Keyring
#![doc = include_str!("../README.md")]
// Checked by `cargo test --doc`: the README shows examples/registry.rs as it is, and
// says the Rust version of Cargo.toml's `rust-version`.
#![cfg_attr(
    doctest,
    doc = r#"```
let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
let example = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/registry.rs"));
let code: String = example
    .lines()
    .skip_while(|line| line.starts_with("//!") || line.is_empty())
    .map(|line| format!("{line}\n"))
    .collect();
assert!(readme.contains(&code), "README.md does not show examples/registry.rs as it is");
let msrv = format!("Rust {} or newer", env!("CARGO_PKG_RUST_VERSION"));
assert!(readme.contains(&msrv), "README.md does not say {msrv:?}, as Cargo.toml does");
```"#
)]

mod admin;
mod db;
mod error;
mod options;
mod registry;

pub use admin::{AuditEntry, KeyAdmin, KeyInfo};
pub use error::PostgresError;
pub use options::RegistryOptions;
pub use registry::PostgresRegistry;
/// The master keys (from `tower-hmac-core`, feature `keyring`; the token vault uses the same).
pub use tower_hmac_core::keyring::{Keyring, KeyringError, MasterKey};

/// The `NOTIFY` channel of key changes (the payload is the key id).
pub const CHANNEL: &str = "tower_hmac_keys";
/// The tracing target of the registry's events.
pub const TRACING_TARGET: &str = "tower_hmac::postgres";
