#![doc = include_str!("../README.md")]

mod error;
mod extract;
pub mod registry;
pub mod server;
pub mod store;

pub use error::ConfigError;
#[cfg(feature = "axum")]
pub use extract::MissingAuthentication;
pub use extract::Authenticated;
pub use registry::{InMemoryRegistry, RegistryFileError};
pub use server::{HmacAuth, HmacAuthBuilder, HmacAuthLayer};
pub use store::MokaNonceStore;
pub use tower_hmac_core as core;
pub use tower_hmac_core::{
    AllowedHosts, KeyRecord, KeyRegistry, KeyState, NonceStore, Rejection, RejectionKind, SecretKey,
};
