#![doc = include_str!("../README.md")]

#[cfg(feature = "client")]
pub mod client;
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
pub use registry::InMemoryRegistry;
#[cfg(feature = "toml")]
pub use registry::RegistryFileError;
pub use server::{HmacAuth, HmacAuthBuilder, HmacAuthLayer};
pub use store::MemoryNonceStore;
#[cfg(feature = "moka")]
pub use store::MokaNonceStore;
pub use tower_hmac_core as protocol;
/// The workspace README's code, compiled as a doctest so that it cannot rot (it uses both the
/// server and the reqwest client, so it needs both features, as `cargo test --workspace` has).
#[cfg(all(doctest, feature = "axum", feature = "reqwest", feature = "toml"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

pub use tower_hmac_core::{AllowedHosts, Rejection, RejectionKind, SecretKey};
