//! One reload: read the file, check it, swap the keys or log why not.

use std::sync::atomic::Ordering;

use super::audit::{audit, swap};
use super::{
    FileRegistry, RELOAD_TRACING_TARGET, RegistryLoadError, ReloadSummary, UNREADABLE, load, lock,
    read_digest,
};

/// How a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The watcher saw a change: skip a content in force or already refused (no second log).
    Changed,
    /// [`FileRegistry::reload`]: read, check and report, whatever was seen before.
    Asked,
    /// `SIGHUP` or [`FileRegistry::reload_confirmed`]: as `Asked`, without the removal guard.
    Confirmed,
}

impl FileRegistry {
    pub(super) fn reload_with(&self, mode: Mode) -> Result<ReloadSummary, RegistryLoadError> {
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
}
