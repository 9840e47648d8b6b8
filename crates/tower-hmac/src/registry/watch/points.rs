//! Where a registry file's content can change: the path itself, every symbolic link met while
//! resolving it, and the file it resolves to — and the directories to watch for them.
//!
//! A Kubernetes ConfigMap or Secret volume is laid out as
//!
//! ```text
//! dir/registry.toml -> ..data/registry.toml
//! dir/..data        -> ..2026_12_03_10_00_00.123456789
//! dir/..2026_12_03_10_00_00.123456789/registry.toml
//! ```
//!
//! and updated by writing a new timestamped directory, pointing a `..data_tmp` link at it and
//! renaming that link over `..data`: no event ever names `registry.toml`. The points here are
//! `dir/registry.toml`, `dir/..data` and `dir/..2026…/registry.toml`, so the rename of `..data`
//! (and an in-place change of the target file) is a change of the registry.

use std::path::{Component, Path, PathBuf};

/// Symbolic links followed before giving up (Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// The paths whose change can change the file's content, and the directories holding them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Points {
    /// The path as given (its directory resolved), each link met, the file it resolves to.
    paths: Vec<PathBuf>,
    /// The directories of `paths`, without repeats; the first is the path's own directory.
    dirs: Vec<PathBuf>,
}

impl Points {
    /// Resolves `path` now. Never fails: a missing or unreadable link ends the resolution there
    /// (the file is then re-resolved after the next change).
    pub(super) fn resolve(path: &Path) -> Self {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let own_dir = match absolute.parent() {
            Some(dir) => std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()),
            None => PathBuf::from("."),
        };
        let mut paths = Vec::new();
        let mut resolved = own_dir.clone();
        // The components still to resolve, the next one last.
        let mut todo: Vec<PathBuf> = match absolute.file_name() {
            Some(name) => vec![PathBuf::from(name)],
            None => Vec::new(),
        };
        let mut links = 0;
        while let Some(part) = todo.pop() {
            match part.components().next() {
                Some(Component::Prefix(_) | Component::RootDir) => resolved.push(&part),
                Some(Component::CurDir) | None => {}
                Some(Component::ParentDir) => {
                    resolved.pop();
                }
                Some(Component::Normal(name)) => {
                    let next = resolved.join(name);
                    let target = if links < MAX_LINKS {
                        std::fs::symlink_metadata(&next)
                            .ok()
                            .filter(std::fs::Metadata::is_symlink)
                            .and_then(|_| std::fs::read_link(&next).ok())
                    } else {
                        None
                    };
                    match target {
                        Some(target) => {
                            links += 1;
                            paths.push(next);
                            // The link is replaced by its target: from the root when absolute,
                            // from the link's directory when relative.
                            todo.extend(
                                target
                                    .components()
                                    .rev()
                                    .map(|c| PathBuf::from(c.as_os_str())),
                            );
                        }
                        None => resolved = next,
                    }
                }
            }
        }
        paths.push(resolved);
        let mut dirs = vec![own_dir];
        for path in &paths {
            if let Some(dir) = path.parent()
                && !dirs.iter().any(|d| d == dir)
            {
                dirs.push(dir.to_owned());
            }
        }
        Self { paths, dirs }
    }

    /// The directories to watch; the first is the path's own (the one that must be watchable).
    pub(super) fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Whether an event on `path` can change the file: it names one of the points, or one of
    /// the watched directories itself (removed or moved).
    pub(super) fn covers(&self, path: &Path) -> bool {
        self.paths.iter().chain(&self.dirs).any(|p| p == path)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_configmap_file_covers_the_link_the_data_link_and_the_target() {
        let dir = std::env::temp_dir().join(format!("tower-hmac-points-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("..2026_12_03_10_00_00.1")).unwrap();
        std::fs::write(dir.join("..2026_12_03_10_00_00.1/registry.toml"), "").unwrap();
        std::os::unix::fs::symlink("..2026_12_03_10_00_00.1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/registry.toml", dir.join("registry.toml")).unwrap();
        let dir = std::fs::canonicalize(&dir).unwrap();

        let points = Points::resolve(&dir.join("registry.toml"));
        assert_eq!(
            points.paths,
            [
                dir.join("registry.toml"),
                dir.join("..data"),
                dir.join("..2026_12_03_10_00_00.1/registry.toml"),
            ]
        );
        assert_eq!(
            points.dirs,
            [dir.clone(), dir.join("..2026_12_03_10_00_00.1")]
        );
        assert!(points.covers(&dir.join("..data")));
        assert!(!points.covers(&dir.join("..data_tmp")));
        assert!(!points.covers(&dir.join("other.toml")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_plain_file_covers_itself_and_its_directory() {
        let dir = std::env::temp_dir();
        let dir = std::fs::canonicalize(dir).unwrap();
        let points = Points::resolve(&dir.join("tower-hmac-no-such-file.toml"));
        assert_eq!(points.paths, [dir.join("tower-hmac-no-such-file.toml")]);
        assert_eq!(points.dirs, [dir]);
    }
}
