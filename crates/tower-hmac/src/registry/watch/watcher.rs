//! The watcher: notify's events on the points where the file can change, `SIGHUP`, and the
//! thread that turns each settled burst of them into one reload.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};

use super::points::Points;
use super::reload::Mode;
use super::{FileRegistry, RELOAD_TRACING_TARGET, SETTLE, lock};

impl FileRegistry {
    /// [`FileRegistry::watch`].
    pub(super) fn start_watching(&self) -> Result<WatchGuard, WatchError> {
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

/// Why the watcher's thread reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// A file event that can have changed the content.
    Changed,
    /// `SIGHUP`: the operator's confirmation.
    Confirmed,
}

/// What the notify callback, the `SIGHUP` thread and the reload thread share.
pub(super) struct Shared {
    /// Where the file's content can change (re-resolved after each change).
    pub(super) points: Mutex<Points>,
    /// Triggers sent and not yet received by the reload thread.
    pub(super) queued: AtomicUsize,
    /// Whether the reload thread is between receiving a trigger and finishing its reload.
    pub(super) busy: AtomicBool,
    /// Every path an event named (tests use one as a barrier: the events before it were seen).
    #[cfg(test)]
    pub(super) seen: Mutex<Vec<PathBuf>>,
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

/// Keeps a [`FileRegistry`] watched; dropping it stops the watcher (and the `SIGHUP` handler).
pub struct WatchGuard {
    /// Shared with the reload thread through a weak reference: dropping the guard drops it.
    _watcher: Arc<Mutex<notify::RecommendedWatcher>>,
    /// What the watcher is watching (and, for tests, whether it is idle).
    pub(super) shared: Arc<Shared>,
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
