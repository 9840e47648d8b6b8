//! Key registries: an in-memory one, loadable from a TOML file.

#[cfg(feature = "toml")]
mod file;
mod memory;

#[cfg(feature = "toml")]
pub use file::RegistryFileError;
pub use memory::InMemoryRegistry;
pub use tower_hmac_core::{KeyRecord, KeyRegistry, KeyState, RegistryError, StoreFuture};
