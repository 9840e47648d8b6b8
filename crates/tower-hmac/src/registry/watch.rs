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

mod points;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tower_hmac_core::{KeyRecord, KeyRegistry, KeyState, RegistryError, StoreFuture};
use zeroize::Zeroize as _;

use self::points::Points;
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

/// What a reload may do without the operator's confirmation.
#[derive(Debug, Clone, Copy)]
struct Guard {
    max_removed_fraction: f64,
    empty: EmptyRegistry,
}

/// Whether the registry may hold no key at all.
///
/// A file that parses but holds no key is what an emptied or truncated file looks like; taking
/// it as the truth answers every request `401`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EmptyRegistry {
    /// Refuse to start on an empty registry, and refuse a reload that would leave none unless it
    /// is confirmed (`SIGHUP`, [`FileRegistry::reload_confirmed`]). The default.
    #[default]
    Refuse,
    /// Accept an empty registry at start and on reload (a reload is still bound by
    /// [`FileRegistryBuilder::max_removed_fraction`]). **Weakens** the guard against an
    /// emptied file.
    Allow,
}

/// How a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The watcher saw a change: skip a content in force or already refused (no second log).
    Changed,
    /// [`FileRegistry::reload`]: read, check and report, whatever was seen before.
    Asked,
    /// `SIGHUP` or [`FileRegistry::reload_confirmed`]: as `Asked`, without the removal guard.
    Confirmed,
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

/// Settings of a [`FileRegistry`]; [`open`](Self::open) loads the file.
///
/// The defaults are the safe ones: an empty registry is refused, and so is a reload that would
/// remove more than [`DEFAULT_MAX_REMOVED_FRACTION`] of the active keys.
#[derive(Debug, Clone)]
pub struct FileRegistryBuilder {
    path: PathBuf,
    guard: Guard,
}

impl FileRegistryBuilder {
    /// The largest fraction (0 to 1) of the active keys in force that one reload may remove
    /// without the operator's confirmation; default [`DEFAULT_MAX_REMOVED_FRACTION`]. A reload
    /// removing more is refused and logged, the keys in force stay, until `SIGHUP` or
    /// [`FileRegistry::reload_confirmed`]. `0.0` has every removal confirmed; `1.0` **weakens**
    /// the guard to accept any reload that leaves a key (see [`empty_registry`](Self::empty_registry)
    /// for one that leaves none). Values outside 0–1 are clamped; NaN is taken as `0.0`.
    ///
    /// Only active keys count: removing revoked keys, and revoking keys, are never refused.
    #[must_use]
    pub fn max_removed_fraction(mut self, fraction: f64) -> Self {
        self.guard.max_removed_fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// Whether the registry may be empty, at start and after a reload; default
    /// [`EmptyRegistry::Refuse`].
    #[must_use]
    pub fn empty_registry(mut self, empty: EmptyRegistry) -> Self {
        self.guard.empty = empty;
        self
    }

    /// Loads the file, refusing to start on an invalid one, or on an empty one unless
    /// [`EmptyRegistry::Allow`] is set.
    pub fn open(self) -> Result<FileRegistry, RegistryLoadError> {
        let (keys, digest) = load(&self.path)?;
        if keys.is_empty() && self.guard.empty == EmptyRegistry::Refuse {
            return Err(RegistryLoadError::Empty { path: self.path });
        }
        Ok(FileRegistry {
            inner: Arc::new(Inner {
                path: self.path,
                keys,
                guard: self.guard,
                state: Mutex::new(State {
                    loaded: digest,
                    refused: None,
                }),
                reads: AtomicU64::new(0),
                refusals: AtomicU64::new(0),
            }),
        })
    }
}

impl FileRegistry {
    /// Loads the file with the default settings (refusing to start on an invalid or an empty
    /// one): `FileRegistry::builder(path).open()`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RegistryLoadError> {
        Self::builder(path).open()
    }

    /// Settings for the file at `path`.
    pub fn builder(path: impl AsRef<Path>) -> FileRegistryBuilder {
        FileRegistryBuilder {
            path: path.as_ref().to_owned(),
            guard: Guard {
                max_removed_fraction: DEFAULT_MAX_REMOVED_FRACTION,
                empty: EmptyRegistry::Refuse,
            },
        }
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

    fn reload_with(&self, mode: Mode) -> Result<ReloadSummary, RegistryLoadError> {
        let inner = &*self.inner;
        let mut state = lock(&inner.state);
        inner.reads.fetch_add(1, Ordering::SeqCst);
        let seen = read_digest(&inner.path).unwrap_or(UNREADABLE);
        if seen == state.loaded {
            // Back to the text in force: a refused text coming again is news again.
            state.refused = None;
            if mode == Mode::Changed {
                return Ok(ReloadSummary::default());
            }
        } else if mode == Mode::Changed && state.refused == Some(seen) {
            return Ok(ReloadSummary::default());
        }
        // The digest of the text refused: exact when the load read it; for a file that does not
        // load, the one read before, if the file did not change meanwhile (else none: the change
        // that raced the load raises its own event).
        let mut refused_text = None;
        let checked = match load(&inner.path) {
            Ok((_, digest)) if digest == state.loaded => Ok(None),
            Ok((next, digest)) => {
                refused_text = Some(digest);
                match mode {
                    Mode::Confirmed => Ok(Some((next, digest))),
                    Mode::Changed | Mode::Asked => inner
                        .guard
                        .check(&inner.path, &inner.keys, &next)
                        .map(|()| Some((next, digest))),
                }
            }
            Err(e) => {
                let again = read_digest(&inner.path).unwrap_or(UNREADABLE);
                refused_text = (again == seen).then_some(seen);
                Err(RegistryLoadError::File(e))
            }
        };
        match checked {
            Ok(None) => {
                state.refused = None;
                Ok(ReloadSummary::default())
            }
            Ok(Some((next, digest))) => {
                let summary = swap(&inner.path, &inner.keys, &next);
                state.loaded = digest;
                state.refused = None;
                audit(&inner.path, &summary);
                Ok(summary)
            }
            Err(e) => {
                if mode != Mode::Changed || refused_text.is_none() || state.refused != refused_text
                {
                    inner.refusals.fetch_add(1, Ordering::SeqCst);
                    tracing::error!(
                        target: RELOAD_TRACING_TARGET,
                        file = %inner.path.display(),
                        "registry file not reloaded, the last good one stays in force: {e}"
                    );
                }
                state.refused = refused_text;
                Err(e)
            }
        }
    }

    /// Watches the file where its content can change — its directory, each symbolic link on
    /// the way to the file and that file's directory (re-resolved after each change, as a
    /// Kubernetes ConfigMap or Secret volume swaps its `..data` link) — and, on Unix, `SIGHUP`,
    /// which reloads with the operator's confirmation ([`reload_confirmed`](Self::reload_confirmed)).
    /// A change is in force within a fraction of a second; the file is read only when a change
    /// can have altered it, not on the watcher's own reads. Dropping the returned guard stops
    /// watching.
    pub fn watch(&self) -> Result<WatchGuard, WatchError> {
        let (tx, rx) = mpsc::channel::<Trigger>();
        let points = Points::resolve(&self.inner.path);
        let shared = Arc::new(Shared {
            points: Mutex::new(points.clone()),
            queued: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
            #[cfg(test)]
            seen: Mutex::new(Vec::new()),
        });
        let on_event = Arc::clone(&shared);
        let events = tx.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if on_event.is_relevant(&event) {
                    on_event.send(&events, Trigger::Changed);
                }
            })
            .map_err(WatchError)?;
        let mut watched = Vec::new();
        for (i, dir) in points.dirs().iter().enumerate() {
            match notify::Watcher::watch(&mut watcher, dir, notify::RecursiveMode::NonRecursive) {
                Ok(()) => watched.push(dir.clone()),
                // The file's own directory must be watched; a link's target is watched when it
                // can be.
                Err(e) if i == 0 => return Err(WatchError(e)),
                Err(e) => not_watched(dir, &e),
            }
        }
        let watcher = Arc::new(Mutex::new(watcher));
        #[cfg(unix)]
        let signals = {
            let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
                .map_err(|e| WatchError(notify::Error::io(e)))?;
            let handle = signals.handle();
            let (hup, on_hup) = (tx.clone(), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("tower-hmac-sighup".into())
                .spawn(move || {
                    for _ in signals.forever() {
                        if !on_hup.send(&hup, Trigger::Confirmed) {
                            break;
                        }
                    }
                })
                .map_err(|e| WatchError(notify::Error::io(e)))?;
            handle
        };
        // One look once watching: a change between `open` and now is not missed.
        shared.send(&tx, Trigger::Changed);
        drop(tx);
        let registry = self.clone();
        let (weak, thread_shared) = (Arc::downgrade(&watcher), Arc::clone(&shared));
        std::thread::Builder::new()
            .name("tower-hmac-registry-reload".into())
            .spawn(move || registry.reload_loop(&rx, &thread_shared, &weak, watched))
            .map_err(|e| WatchError(notify::Error::io(e)))?;
        Ok(WatchGuard {
            _watcher: watcher,
            shared,
            #[cfg(unix)]
            signals,
        })
    }

    /// The watcher's thread: each burst of events (an editor writes, renames, touches; a
    /// ConfigMap swaps its link and removes the old version) is one reload once the file has
    /// been quiet for a moment.
    fn reload_loop(
        &self,
        rx: &mpsc::Receiver<Trigger>,
        shared: &Shared,
        watcher: &Weak<Mutex<notify::RecommendedWatcher>>,
        mut watched: Vec<PathBuf>,
    ) {
        while let Ok(first) = rx.recv() {
            // Busy before the queue shrinks: "nothing queued and not busy" means idle.
            shared.busy.store(true, Ordering::SeqCst);
            shared.queued.fetch_sub(1, Ordering::SeqCst);
            let mut confirmed = first == Trigger::Confirmed;
            while let Ok(next) = rx.recv_timeout(SETTLE) {
                shared.queued.fetch_sub(1, Ordering::SeqCst);
                confirmed |= next == Trigger::Confirmed;
            }
            let Some(watcher) = watcher.upgrade() else {
                break;
            };
            // Where the file is now (a swapped link points elsewhere): watched before it is read,
            // so that no change after the read goes unseen.
            rewatch(&self.inner.path, shared, &watcher, &mut watched);
            drop(watcher);
            let mode = if confirmed {
                Mode::Confirmed
            } else {
                Mode::Changed
            };
            let _ = self.reload_with(mode);
            shared.busy.store(false, Ordering::SeqCst);
        }
    }
}

impl Guard {
    /// Refuses `next` when it would leave no key (unless allowed) or remove more than the
    /// allowed fraction of the active keys in force.
    fn check(
        &self,
        path: &Path,
        keys: &InMemoryRegistry,
        next: &InMemoryRegistry,
    ) -> Result<(), RegistryLoadError> {
        if next.is_empty() && self.empty == EmptyRegistry::Refuse {
            return Err(RegistryLoadError::Empty {
                path: path.to_owned(),
            });
        }
        let in_force = keys.snapshot();
        let next = next.snapshot();
        let active = in_force
            .iter()
            .filter(|(_, record)| record.state() == KeyState::Active);
        let (mut count, mut removed) = (0usize, 0usize);
        for (id, _) in active {
            count += 1;
            removed += usize::from(!next.contains_key(id));
        }
        // Key counts are far below 2^52: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let too_many = removed > 0 && removed as f64 > self.max_removed_fraction * count as f64;
        if too_many {
            return Err(RegistryLoadError::TooManyRemoved {
                path: path.to_owned(),
                removed,
                active: count,
                max_removed_fraction: self.max_removed_fraction,
            });
        }
        Ok(())
    }
}

/// Why the watcher's thread reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// A file event that can have changed the content.
    Changed,
    /// `SIGHUP`: the operator's confirmation.
    Confirmed,
}

/// What the notify callback, the `SIGHUP` thread and the reload thread share.
struct Shared {
    /// Where the file's content can change (re-resolved after each change).
    points: Mutex<Points>,
    /// Triggers sent and not yet received by the reload thread.
    queued: AtomicUsize,
    /// Whether the reload thread is between receiving a trigger and finishing its reload.
    busy: AtomicBool,
    /// Every path an event named (tests use one as a barrier: the events before it were seen).
    #[cfg(test)]
    seen: Mutex<Vec<PathBuf>>,
}

impl Shared {
    /// Sends a trigger, counted while queued; `false` when the reload thread is gone.
    fn send(&self, tx: &mpsc::Sender<Trigger>, trigger: Trigger) -> bool {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let sent = tx.send(trigger).is_ok();
        if !sent {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
        sent
    }

    /// Whether `event` can have changed the file's content: it names the file, a link on the way
    /// to it or a watched directory, and is not a mere access (the watcher's own reads open the
    /// file); an error or a lost event (rescan) counts, to be safe.
    fn is_relevant(&self, event: &notify::Result<notify::Event>) -> bool {
        let Ok(event) = event else {
            return true;
        };
        #[cfg(test)]
        lock(&self.seen).extend(event.paths.iter().cloned());
        if event.need_rescan() || event.paths.is_empty() {
            return true;
        }
        if !may_change_content(event.kind) {
            return false;
        }
        let points = lock(&self.points);
        event.paths.iter().any(|p| points.covers(p))
    }
}

/// Every kind of event but reads: opening, reading and closing a file unwritten (what the
/// watcher's own reads raise) and access-time changes leave the content as it was.
fn may_change_content(kind: notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
    match kind {
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        notify::EventKind::Access(_) => false,
        notify::EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

/// Re-resolves the file and moves the watches to where it is now.
fn rewatch(
    path: &Path,
    shared: &Shared,
    watcher: &Mutex<notify::RecommendedWatcher>,
    watched: &mut Vec<PathBuf>,
) {
    let points = Points::resolve(path);
    // Not held while watching: the callback (on notify's thread) takes it.
    *lock(&shared.points) = points.clone();
    let mut watcher = lock(watcher);
    for dir in points.dirs() {
        if !watched.contains(dir) {
            match notify::Watcher::watch(&mut *watcher, dir, notify::RecursiveMode::NonRecursive) {
                Ok(()) => watched.push(dir.clone()),
                Err(e) => not_watched(dir, &e),
            }
        }
    }
    watched.retain(|dir| {
        let keep = points.dirs().contains(dir);
        if !keep {
            // Usually gone already (a ConfigMap removes its old version).
            let _ = notify::Watcher::unwatch(&mut *watcher, dir);
        }
        keep
    });
}

fn not_watched(dir: &Path, e: &notify::Error) {
    tracing::warn!(
        target: RELOAD_TRACING_TARGET,
        dir = %dir.display(),
        "cannot watch a directory the registry file links into (its in-place changes need SIGHUP): {e}"
    );
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
            .field("guard", &self.inner.guard)
            .field("reads", &self.inner.reads.load(Ordering::Relaxed))
            .field("refusals", &self.inner.refusals.load(Ordering::Relaxed))
            .finish()
    }
}

/// Keeps a [`FileRegistry`] watched; dropping it stops the watcher (and the `SIGHUP` handler).
pub struct WatchGuard {
    /// Shared with the reload thread through a weak reference: dropping the guard drops it.
    _watcher: Arc<Mutex<notify::RecommendedWatcher>>,
    /// What the watcher is watching (and, for tests, whether it is idle).
    shared: Arc<Shared>,
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
        f.debug_struct("WatchGuard")
            .field("watching", &lock(&self.shared.points).dirs())
            .finish_non_exhaustive()
    }
}

/// The file could not be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch the registry file: {0}")]
pub struct WatchError(#[source] notify::Error);
