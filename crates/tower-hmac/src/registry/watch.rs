//! A registry file kept in force: reloaded when it changes, on `SIGHUP`, or on demand.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tower_hmac_core::{KeyRecord, KeyRegistry, RegistryError, StoreFuture};

use super::file::RegistryFileError;
use super::memory::InMemoryRegistry;

/// The tracing target of reloads and of the key changes they make (the file registry's audit
/// trail).
pub const RELOAD_TRACING_TARGET: &str = "tower_hmac::registry";

/// How long the watcher waits for a file to settle after a change before reading it.
const SETTLE: Duration = Duration::from_millis(150);

/// A registry file kept in force: [`reload`](Self::reload) re-reads it and, when it is valid,
/// swaps the keys in one step — a request sees the old keys or the new ones, never a mix; when
/// it is not, one error line (file, line, reason) is logged and the last good keys stay.
/// [`watch`](Self::watch) reloads on every change of the file and on `SIGHUP`.
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
    /// The SHA-256 of the text last loaded: a change that leaves the file as it was is no reload.
    loaded: Mutex<[u8; 32]>,
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

impl FileRegistry {
    /// Loads the file (refusing to start on an invalid one).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RegistryFileError> {
        let path = path.as_ref().to_owned();
        let (keys, digest) = load(&path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                keys,
                loaded: Mutex::new(digest),
            }),
        })
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
    /// changed; when not, leaves the keys as they were, logs one error line and returns why.
    pub fn reload(&self) -> Result<ReloadSummary, RegistryFileError> {
        let mut loaded = self
            .inner
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (next, digest) = match load(&self.inner.path) {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(
                    target: RELOAD_TRACING_TARGET,
                    file = %self.inner.path.display(),
                    "registry file not reloaded, the last good one stays in force: {e}"
                );
                return Err(e);
            }
        };
        if digest == *loaded {
            return Ok(ReloadSummary::default());
        }
        let summary = swap(&self.inner.path, &self.inner.keys, &next);
        *loaded = digest;
        audit(&self.inner.path, &summary);
        Ok(summary)
    }

    /// Watches the file (its directory, so that editors and tools that replace the file are
    /// seen) and, on Unix, `SIGHUP`: each reloads it. A change is in force within a fraction of a
    /// second. Dropping the returned guard stops watching.
    pub fn watch(&self) -> Result<WatchGuard, WatchError> {
        let (tx, rx) = mpsc::channel::<()>();
        let dir = match self.inner.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let file_name = self.inner.path.file_name().map(ToOwned::to_owned);
        let events = tx.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let relevant = match &event {
                    Ok(event) => event
                        .paths
                        .iter()
                        .any(|p| p.file_name() == file_name.as_deref() || p.file_name().is_none()),
                    // An error of the watcher: reread, to be safe.
                    Err(_) => true,
                };
                if relevant {
                    let _ = events.send(());
                }
            })
            .map_err(WatchError)?;
        notify::Watcher::watch(&mut watcher, &dir, notify::RecursiveMode::NonRecursive)
            .map_err(WatchError)?;
        #[cfg(unix)]
        let signals = {
            let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
                .map_err(|e| WatchError(notify::Error::io(e)))?;
            let handle = signals.handle();
            let hup = tx.clone();
            std::thread::Builder::new()
                .name("tower-hmac-sighup".into())
                .spawn(move || {
                    for _ in signals.forever() {
                        if hup.send(()).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| WatchError(notify::Error::io(e)))?;
            handle
        };
        drop(tx);
        let registry = self.clone();
        std::thread::Builder::new()
            .name("tower-hmac-registry-reload".into())
            .spawn(move || {
                // Each burst of events (an editor writes, renames, touches) is one reload, once
                // the file has been quiet for a moment.
                while rx.recv().is_ok() {
                    while rx.recv_timeout(SETTLE).is_ok() {}
                    let _ = registry.reload();
                }
            })
            .map_err(|e| WatchError(notify::Error::io(e)))?;
        Ok(WatchGuard {
            _watcher: watcher,
            #[cfg(unix)]
            signals,
        })
    }
}

fn load(path: &Path) -> Result<(InMemoryRegistry, [u8; 32]), RegistryFileError> {
    InMemoryRegistry::from_toml_file_digest(path)
}

fn audit(path: &Path, summary: &ReloadSummary) {
    tracing::info!(
        target: RELOAD_TRACING_TARGET,
        file = %path.display(),
        added = summary.added.len(),
        removed = summary.removed.len(),
        updated = summary.updated.len(),
        "registry file reloaded"
    );
}

/// The audit event of one key's change: what changed, the state before and after (never a
/// secret).
fn audit_key(path: &Path, key_id: &str, old: Option<&KeyRecord>, new: Option<&KeyRecord>) {
    let state = |r: Option<&KeyRecord>| match r.map(KeyRecord::state) {
        None => "absent",
        Some(tower_hmac_core::KeyState::Active) => "active",
        Some(_) => "revoked",
    };
    let mut what = Vec::new();
    if let (Some(old), Some(new)) = (old, new) {
        if old.state() != new.state() {
            what.push("state");
        }
        if !same_secret(old, new) {
            what.push("secret");
        }
        if old.not_before() != new.not_before() || old.not_after() != new.not_after() {
            what.push("validity");
        }
        if old.schemes() != new.schemes() {
            what.push("schemes");
        }
        if old.app_id() != new.app_id() {
            what.push("app");
        }
    }
    let change = match (old, new) {
        (None, _) => "added",
        (_, None) => "removed",
        _ => "updated",
    };
    tracing::info!(
        target: RELOAD_TRACING_TARGET,
        file = %path.display(),
        key_id = %key_id,
        change,
        changed = %what.join(","),
        old_state = state(old),
        new_state = state(new),
        app_id = new.or(old).map(KeyRecord::app_id).unwrap_or_default(),
        "registry key {change}"
    );
}

/// Puts `next`'s keys in force in `keys` (one swap under the lock) and says what changed.
fn swap(path: &Path, keys: &InMemoryRegistry, next: &InMemoryRegistry) -> ReloadSummary {
    let new = next.snapshot();
    let old = keys.replace_all(new.clone());
    let mut summary = ReloadSummary {
        changed: true,
        ..ReloadSummary::default()
    };
    for (id, record) in &new {
        match old.get(id) {
            None => {
                audit_key(path, id, None, Some(record));
                summary.added.push(id.to_string());
            }
            Some(before) if record_changed(before, record) => {
                audit_key(path, id, Some(before), Some(record));
                summary.updated.push(id.to_string());
            }
            Some(_) => {}
        }
    }
    for (id, record) in &old {
        if !new.contains_key(id) {
            audit_key(path, id, Some(record), None);
            summary.removed.push(id.to_string());
        }
    }
    for ids in [
        &mut summary.added,
        &mut summary.removed,
        &mut summary.updated,
    ] {
        ids.sort_unstable();
    }
    summary
}

/// Whether two records differ in anything that changes what they accept.
fn record_changed(old: &KeyRecord, new: &KeyRecord) -> bool {
    old.app_id() != new.app_id()
        || old.state() != new.state()
        || old.schemes() != new.schemes()
        || old.not_before() != new.not_before()
        || old.not_after() != new.not_after()
        || !same_secret(old, new)
}

fn same_secret(old: &KeyRecord, new: &KeyRecord) -> bool {
    use subtle::ConstantTimeEq as _;
    // The text form too: the same bytes given as text or as Base64 sign differently for SigV4.
    old.secret().text_form().len() == new.secret().text_form().len()
        && bool::from(
            old.secret()
                .expose_secret()
                .ct_eq(new.secret().expose_secret()),
        )
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
            .finish()
    }
}

/// Keeps a [`FileRegistry`] watched; dropping it stops the watcher (and the `SIGHUP` handler).
pub struct WatchGuard {
    _watcher: notify::RecommendedWatcher,
    #[cfg(unix)]
    signals: signal_hook::iterator::Handle,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        self.signals.close();
    }
}

impl fmt::Debug for WatchGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchGuard").finish_non_exhaustive()
    }
}

/// The file could not be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch the registry file: {0}")]
pub struct WatchError(#[source] notify::Error);
