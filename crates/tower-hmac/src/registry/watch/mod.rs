//! A registry file kept in force: reloaded when it changes, on `SIGHUP`, or on demand.
//!
//! The file is watched where its content can change: its directory, and each symbolic link on
//! the way to the file it resolves to (a Kubernetes ConfigMap or Secret volume is updated by
//! swapping a `..data` link, never by writing the file). A change is read once the file has
//! been quiet for a moment, and only when its content differs (by SHA-256) from the one in force
//! or the one last refused: the watcher settles, and a broken file is logged once per content.
//!
//! A reload that would take most of the active keys away at once — a truncated file, an emptied
//! one — is refused and logged, the keys in force stay, until the operator confirms it
//! (`SIGHUP` or [`FileRegistry::reload_confirmed`]). Revoking keys (`revoked = true`) is never
//! refused.
//!
//! Default (refuses an empty file, and a reload removing more than half the active keys):
//!
//! ```no_run
//! use tower_hmac::registry::FileRegistry;
//!
//! let registry = FileRegistry::open("registry.toml")?;
//! let _watching = registry.watch()?; // keep it: dropping it stops watching
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Customised (a registry that may start empty and lose up to 80 % of its keys in one reload):
//!
//! ```no_run
//! use tower_hmac::registry::{EmptyRegistry, FileRegistry};
//!
//! let registry = FileRegistry::builder("registry.toml")
//!     .empty_registry(EmptyRegistry::Allow)
//!     .max_removed_fraction(0.8)
//!     .open()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod audit;
mod builder;
mod points;
mod reload;
#[cfg(test)]
mod tests;
mod watcher;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tower_hmac_core::{KeyRecord, KeyRegistry, RegistryError, StoreFuture};
use zeroize::Zeroize as _;

use self::builder::Guard;
pub use self::builder::{EmptyRegistry, FileRegistryBuilder};
use self::reload::Mode;
pub use self::watcher::{WatchError, WatchGuard};
use super::file::RegistryFileError;
use super::memory::InMemoryRegistry;

/// The tracing target of reloads and of the key changes they make (the file registry's audit
/// trail).
pub const RELOAD_TRACING_TARGET: &str = "tower_hmac::registry";

/// The default of [`FileRegistryBuilder::max_removed_fraction`]: a reload that would remove more
/// than half of the active keys in force is refused until the operator confirms it.
pub const DEFAULT_MAX_REMOVED_FRACTION: f64 = 0.5;

/// How long the watcher waits for a file to settle after a change before reading it.
const SETTLE: Duration = Duration::from_millis(150);

/// The digest recorded for a file that could not be read (no SHA-256 of a text is all ones in
/// practice): an unreadable file is reported once until it is readable again.
const UNREADABLE: [u8; 32] = [0xff; 32];

/// A registry file kept in force: [`reload`](Self::reload) re-reads it and, when it is valid,
/// swaps the keys in one step — a request sees the old keys or the new ones, never a mix; when
/// it is not, one error line (file, line, reason) is logged and the last good keys stay.
/// [`watch`](Self::watch) reloads on every change of the file's content (including the `..data`
/// swap of a Kubernetes ConfigMap or Secret volume) and, confirmed, on `SIGHUP`.
///
/// A reload that would remove more than a fraction of the active keys in force
/// ([`DEFAULT_MAX_REMOVED_FRACTION`] unless set), or leave the registry empty, is refused
/// ([`RegistryLoadError::TooManyRemoved`], [`RegistryLoadError::Empty`]) until it is confirmed:
/// a truncated or emptied file never takes the keys away. Starting on an empty registry is an
/// error unless [`EmptyRegistry::Allow`] is set.
///
/// Each change of a key (added, removed, revoked, re-activated, new secret, new validity or
/// schemes) is a tracing event on [`RELOAD_TRACING_TARGET`]: the audit trail of the file
/// registry. A secret is never logged.
///
/// ```no_run
/// use tower_hmac::registry::FileRegistry;
///
/// let registry = FileRegistry::open("registry.toml")?;
/// let _watching = registry.watch()?; // keep it: dropping it stops watching
/// // HmacAuthLayer::builder(registry.clone(), hosts) …
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct FileRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    keys: InMemoryRegistry,
    guard: Guard,
    state: Mutex<State>,
    /// Reload attempts that read the file (whatever they found).
    reads: AtomicU64,
    /// Reloads refused and logged (a broken file, or one removing too many keys).
    refusals: AtomicU64,
}

/// The SHA-256 digests that decide whether a change is read and whether a refusal is logged.
struct State {
    /// The text in force: a change that leaves the file as it was is no reload.
    loaded: [u8; 32],
    /// The text last refused (already logged): the watcher does not log it again.
    refused: Option<[u8; 32]>,
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadSummary {
    /// Whether the file differed from the one in force (nothing was swapped when not).
    pub changed: bool,
    /// Key ids added.
    pub added: Vec<String>,
    /// Key ids removed.
    pub removed: Vec<String>,
    /// Key ids whose record changed (state, secret, validity, schemes, app).
    pub updated: Vec<String>,
}

/// Why a registry file was not put in force, at start or on a reload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryLoadError {
    /// The file could not be read or is not a valid registry.
    #[error(transparent)]
    File(#[from] RegistryFileError),
    /// The file holds no key, and [`EmptyRegistry::Refuse`] is set (the default).
    #[error(
        "registry file {} holds no key: refused (confirm with SIGHUP, or allow an empty \
         registry with EmptyRegistry::Allow)",
        path.display()
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The reload would remove more of the active keys in force than
    /// [`FileRegistryBuilder::max_removed_fraction`] allows (a truncated file looks like this).
    #[error(
        "registry file {} would remove {removed} of the {active} active keys in force (more \
         than {max_removed_fraction} of them): refused, the keys in force stay (confirm with \
         SIGHUP; revoke keys with `revoked = true` instead of removing them)",
        path.display()
    )]
    TooManyRemoved {
        /// The file.
        path: PathBuf,
        /// Active keys in force that the file no longer has.
        removed: usize,
        /// Active keys in force.
        active: usize,
        /// The fraction allowed.
        max_removed_fraction: f64,
    },
}

impl FileRegistry {
    /// Loads the file with the default settings (refusing to start on an invalid or an empty
    /// one): `FileRegistry::builder(path).open()`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RegistryLoadError> {
        Self::builder(path).open()
    }

    /// Settings for the file at `path`.
    pub fn builder(path: impl AsRef<Path>) -> FileRegistryBuilder {
        FileRegistryBuilder::new(path.as_ref().to_owned())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The keys in force, as an [`InMemoryRegistry`] sharing them (reloads show through it).
    pub fn registry(&self) -> InMemoryRegistry {
        self.inner.keys.clone()
    }

    /// Re-reads the file; when valid, puts it in force at once (atomically) and reports what
    /// changed; when not — or when it would remove too many keys, or leave none — leaves the
    /// keys as they were, logs one error line and returns why.
    pub fn reload(&self) -> Result<ReloadSummary, RegistryLoadError> {
        self.reload_with(Mode::Asked)
    }

    /// Re-reads the file and, when valid, puts it in force even if it removes most or all of
    /// the keys (what `SIGHUP` does): the operator's confirmation of a refused reload.
    pub fn reload_confirmed(&self) -> Result<ReloadSummary, RegistryLoadError> {
        self.reload_with(Mode::Confirmed)
    }

    /// Watches the file where its content can change — its directory, each symbolic link on
    /// the way to the file and that file's directory (re-resolved after each change, as a
    /// Kubernetes ConfigMap or Secret volume swaps its `..data` link) — and, on Unix, `SIGHUP`,
    /// which reloads with the operator's confirmation ([`reload_confirmed`](Self::reload_confirmed)).
    /// A change is in force within a fraction of a second; the file is read only when a change
    /// can have altered it, not on the watcher's own reads. Dropping the returned guard stops
    /// watching.
    pub fn watch(&self) -> Result<WatchGuard, WatchError> {
        self.start_watching()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The SHA-256 of the file's bytes (the same digest a load of the same text records).
fn read_digest(path: &Path) -> std::io::Result<[u8; 32]> {
    use sha2::Digest as _;
    let mut bytes = std::fs::read(path)?;
    let digest = sha2::Sha256::digest(&bytes).into();
    bytes.zeroize();
    Ok(digest)
}

fn load(path: &Path) -> Result<(InMemoryRegistry, [u8; 32]), RegistryFileError> {
    InMemoryRegistry::from_toml_file_digest(path)
}

impl KeyRegistry for FileRegistry {
    fn lookup(&self, key_id: &str) -> StoreFuture<Result<Option<KeyRecord>, RegistryError>> {
        self.inner.keys.lookup(key_id)
    }
}

impl fmt::Debug for FileRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileRegistry")
            .field("path", &self.inner.path)
            .field("keys", &self.inner.keys)
            .field("guard", &self.inner.guard)
            .field("reads", &self.inner.reads.load(Ordering::Relaxed))
            .field("refusals", &self.inner.refusals.load(Ordering::Relaxed))
            .finish()
    }
}
