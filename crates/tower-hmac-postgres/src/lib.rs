//! A PostgreSQL key registry for [tower-hmac](https://docs.rs/tower-hmac): apps and keys in
//! tables (several live keys per app, states, schemes and validity times as columns), secrets
//! encrypted at rest with AES-256-GCM under a master key (the key id is the associated data, so
//! a ciphertext copied to another row does not decrypt), every change in an audit table, and
//! changes on every instance within a second through `LISTEN`/`NOTIFY`, with a periodic full
//! refresh when a notification is lost.
//!
//! Each instance holds the keys in memory ([`PostgresRegistry`]): the lookup of a key held never
//! waits for the database. Every change of a key has a version (one sequence, kept by a trigger),
//! and an instance applies changes in order, so a refresh that read its snapshot before a
//! revocation cannot undo it. While the database is down, the keys held keep working for
//! [`RegistryOptions::max_staleness`]; an id not held is looked up in the database within
//! [`RegistryOptions::lookup_timeout`], and when the database cannot answer it is
//! `key_store_unavailable` (`503`, `Retry-After`) from the first request on, never
//! `unknown_key`. [`KeyAdmin`] (and `tower-hmac keys …`) adds, rotates, revokes, lists and
//! re-encrypts.
//!
//! ```no_run
//! use tower_hmac_postgres::{Keyring, PostgresRegistry, RegistryOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let keyring = Keyring::from_env("TOWER_HMAC_MASTER_KEY")?;
//! let registry =
//!     PostgresRegistry::connect("postgres://app@db/app", keyring, RegistryOptions::default())
//!         .await?;
//! // HmacAuthLayer::builder(registry, hosts) …
//! # Ok(()) }
//! ```

mod admin;
mod db;
mod error;
mod keyring;
mod options;
mod registry;

pub use admin::{AuditEntry, KeyAdmin, KeyInfo};
pub use error::PostgresError;
pub use keyring::{Keyring, MasterKey};
pub use options::RegistryOptions;
pub use registry::PostgresRegistry;

/// The `NOTIFY` channel of key changes (the payload is the key id).
pub const CHANNEL: &str = "tower_hmac_keys";
/// The tracing target of the registry's events.
pub const TRACING_TARGET: &str = "tower_hmac::postgres";
