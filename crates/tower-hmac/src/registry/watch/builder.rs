//! The settings of a [`FileRegistry`], and the guard they set against a reload that would take
//! most of the keys away.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tower_hmac_core::KeyState;

use super::{
    DEFAULT_MAX_REMOVED_FRACTION, FileRegistry, InMemoryRegistry, Inner, RegistryLoadError, State,
    load,
};

/// What a reload may do without the operator's confirmation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Guard {
    pub(super) max_removed_fraction: f64,
    pub(super) empty: EmptyRegistry,
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

/// Settings of a [`FileRegistry`]; [`open`](Self::open) loads the file.
///
/// The defaults are the safe ones: an empty registry is refused, and so is a reload that would
/// remove more than [`DEFAULT_MAX_REMOVED_FRACTION`] of the active keys.
#[derive(Debug, Clone)]
pub struct FileRegistryBuilder {
    path: PathBuf,
    pub(super) guard: Guard,
}

impl FileRegistryBuilder {
    /// Settings for the file at `path`, the defaults.
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            guard: Guard {
                max_removed_fraction: DEFAULT_MAX_REMOVED_FRACTION,
                empty: EmptyRegistry::Refuse,
            },
        }
    }

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

impl Guard {
    /// Refuses `next` when it would leave no key (unless allowed) or remove more than the
    /// allowed fraction of the active keys in force.
    pub(super) fn check(
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
