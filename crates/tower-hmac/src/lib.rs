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

pub use tower_hmac_core::{AllowedHosts, Diagnostics, Rejection, RejectionKind, SecretKey};
