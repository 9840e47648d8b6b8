//! Key registries: an in-memory one, loadable from a TOML file, and the file kept in force
//! (`FileRegistry`, feature `watch`: reloaded on change, on `SIGHUP` or on demand).

mod caching;
#[cfg(feature = "toml")]
mod file;
mod memory;

#[cfg(feature = "watch")]
mod watch;

pub use caching::{CachingRegistry, CachingRegistryBuilder};
#[cfg(feature = "toml")]
pub use file::{RegistryFileError, RegistryFileOutline};
pub use memory::InMemoryRegistry;
pub use tower_hmac_core::{
    KeyRecord, KeyRegistry, KeyState, RegistryError, StoreFuture, is_valid_scope,
};
#[cfg(feature = "watch")]
pub use watch::{
    DEFAULT_MAX_REMOVED_FRACTION, EmptyRegistry, FileRegistry, FileRegistryBuilder,
    RELOAD_TRACING_TARGET, RegistryLoadError, ReloadSummary, WatchError, WatchGuard,
};
