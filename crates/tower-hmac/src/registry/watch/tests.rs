//! Issue 25, items 1–3, over a real file system in a temp dir each test makes.
//!
//! No assertion depends on the machine's speed. "Quiet" is a barrier, not a sleep: a file created
//! in a watched directory after the watcher's last read; once its event has reached the watcher,
//! every event raised before it (by the change, by the watcher's own reads) has too, and the
//! watcher is settled when nothing is queued and it is not reloading. Bounded waits (10 s) only
//! turn a hang into a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{EmptyRegistry, FileRegistry, RegistryLoadError, WatchGuard, lock};
use crate::registry::KeyState;

const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const BOUND: Duration = Duration::from_secs(10);

/// `SIGHUP` is process-wide: the tests that watch take turns.
fn one_watcher_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-hmac-watch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A registry with keys `key-0` … `key-{n-1}`; those listed in `revoked` are revoked.
fn keys(n: usize, revoked: &[usize]) -> String {
    let mut text = String::from("[[apps]]\nid = \"partner\"\n");
    for i in 0..n {
        text.push_str(&format!(
            "\n[[apps.keys]]\nid = \"key-{i}\"\nsecret = \"{SECRET}\"\nrevoked = {}\n",
            revoked.contains(&i)
        ));
    }
    text
}

/// Writes the file as tools that replace files do: a new file renamed over the old one.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn state(registry: &FileRegistry, key_id: &str) -> Option<KeyState> {
    registry.registry().get(key_id).map(|r| r.state())
}

fn reads(registry: &FileRegistry) -> u64 {
    registry.inner.reads.load(Ordering::SeqCst)
}

fn refusals(registry: &FileRegistry) -> u64 {
    registry.inner.refusals.load(Ordering::SeqCst)
}

/// Waits until the watcher has seen every event raised so far and has nothing left to do; `Err`
/// (with the reads counted) when it is still busy after 10 s.
fn settle(registry: &FileRegistry, watching: &WatchGuard, dir: &Path) -> Result<(), String> {
    static BARRIER: AtomicUsize = AtomicUsize::new(0);
    let shared = &watching.shared;
    let idle = || shared.queued.load(Ordering::SeqCst) == 0 && !shared.busy.load(Ordering::SeqCst);
    let start = Instant::now();
    let timed_out = || {
        Err(format!(
            "the watcher did not settle within {BOUND:?}: {} reads, {} refusals",
            reads(registry),
            refusals(registry)
        ))
    };
    loop {
        let name = format!(".barrier-{}", BARRIER.fetch_add(1, Ordering::SeqCst));
        std::fs::write(dir.join(&name), "").unwrap();
        while !lock(&shared.seen)
            .iter()
            .any(|p| p.file_name().is_some_and(|n| n == name.as_str()))
        {
            if start.elapsed() > BOUND {
                return timed_out();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if idle() {
            return Ok(());
        }
        while !idle() {
            if start.elapsed() > BOUND {
                return timed_out();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Polls `check` until it holds; `false` after 10 s.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > BOUND {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

// ---- Item 1: a ConfigMap or Secret volume's `..data` swap ----

/// A ConfigMap volume as the kubelet lays it out, and its updates.
#[cfg(unix)]
struct ConfigMap {
    dir: PathBuf,
    version: usize,
}

#[cfg(unix)]
impl ConfigMap {
    /// `dir/..2026_12_03_…/registry.toml`, `dir/..data -> ..2026_12_03_…`,
    /// `dir/registry.toml -> ..data/registry.toml`.
    fn new(dir: PathBuf, text: &str) -> Self {
        let version = Self::version_dir(0);
        std::fs::create_dir(dir.join(&version)).unwrap();
        std::fs::write(dir.join(&version).join("registry.toml"), text).unwrap();
        std::os::unix::fs::symlink(&version, dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/registry.toml", dir.join("registry.toml")).unwrap();
        Self { dir, version: 0 }
    }

    fn version_dir(n: usize) -> String {
        format!("..2026_12_03_10_00_{n:02}.{}", 100_000_000 + n)
    }

    fn path(&self) -> PathBuf {
        self.dir.join("registry.toml")
    }

    /// The current version's file (the link's target).
    fn target(&self) -> PathBuf {
        self.dir
            .join(Self::version_dir(self.version))
            .join("registry.toml")
    }

    /// The kubelet's atomic update: a new timestamped directory, a `..data_tmp` link to it
    /// renamed over `..data`, the old directory removed.
    fn update(&mut self, text: &str) {
        let old = Self::version_dir(self.version);
        self.version += 1;
        let new = Self::version_dir(self.version);
        std::fs::create_dir(self.dir.join(&new)).unwrap();
        std::fs::write(self.dir.join(&new).join("registry.toml"), text).unwrap();
        std::os::unix::fs::symlink(&new, self.dir.join("..data_tmp")).unwrap();
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
        std::fs::remove_dir_all(self.dir.join(old)).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn a_revocation_pushed_by_a_configmap_data_swap_is_in_force() {
    let _turn = one_watcher_at_a_time();
    let mut volume = ConfigMap::new(temp_dir("configmap"), &keys(3, &[]));
    let registry = FileRegistry::open(volume.path()).unwrap();
    let watching = registry.watch().unwrap();
    settle(&registry, &watching, &volume.dir).unwrap();

    volume.update(&keys(3, &[0]));
    assert!(
        eventually(|| state(&registry, "key-0") == Some(KeyState::Revoked)),
        "a revocation pushed by the ..data swap not in force after {BOUND:?}"
    );
    // The watcher follows the link to the new version: the next swap is seen too.
    volume.update(&keys(3, &[0, 1]));
    assert!(
        eventually(|| state(&registry, "key-1") == Some(KeyState::Revoked)),
        "the second swap not in force after {BOUND:?}"
    );
    settle(&registry, &watching, &volume.dir).unwrap();
    // It watches the volume and the current version only (the old ones are gone).
    let dir = std::fs::canonicalize(&volume.dir).unwrap();
    assert_eq!(
        lock(&watching.shared.points).dirs(),
        [dir.clone(), dir.join(ConfigMap::version_dir(2))]
    );
    // And the link's target itself: a change made there in place is in force.
    std::fs::write(volume.target(), keys(3, &[0, 1, 2])).unwrap();
    assert!(
        eventually(|| state(&registry, "key-2") == Some(KeyState::Revoked)),
        "an in-place change of the link's target not in force after {BOUND:?}"
    );
    assert_eq!(state(&registry, "key-0"), Some(KeyState::Revoked));
    drop(watching);
    let _ = std::fs::remove_dir_all(&volume.dir);
}

// ---- Item 2: the watcher settles ----

#[test]
fn the_watcher_reads_a_changed_file_once_and_then_stays_quiet() {
    let _turn = one_watcher_at_a_time();
    let dir = temp_dir("settles");
    let path = dir.join("registry.toml");
    std::fs::write(&path, keys(2, &[])).unwrap();
    let registry = FileRegistry::open(&path).unwrap();
    let watching = registry.watch().unwrap();
    // The one look the watcher takes when it starts.
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(reads(&registry), 1);

    replace(&path, &keys(3, &[]));
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(state(&registry, "key-2"), Some(KeyState::Active));
    assert_eq!(reads(&registry), 2, "one change, one read");
    // Quiet: nothing is queued after its own read, and a further look changes nothing.
    std::thread::sleep(Duration::from_secs(1));
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(reads(&registry), 2, "reads while nothing changed");
    // Other files in the directory are not the registry.
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(reads(&registry), 2);
    drop(watching);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_file_is_reported_once_per_content() {
    let _turn = one_watcher_at_a_time();
    let dir = temp_dir("broken");
    let path = dir.join("registry.toml");
    std::fs::write(&path, keys(2, &[])).unwrap();
    let registry = FileRegistry::open(&path).unwrap();
    let watching = registry.watch().unwrap();
    settle(&registry, &watching, &dir)
        .and_then(|()| {
            replace(&path, "[[apps]\nid = ");
            settle(&registry, &watching, &dir)
        })
        .unwrap();
    assert_eq!(refusals(&registry), 1);
    let after_one = reads(&registry);
    std::thread::sleep(Duration::from_secs(1));
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(
        (reads(&registry), refusals(&registry)),
        (after_one, 1),
        "(reads, refusals) while nothing changed"
    );

    // The same broken text written again: read (it may have changed), not reported again.
    replace(&path, "[[apps]\nid = ");
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(reads(&registry), after_one + 1);
    assert_eq!(refusals(&registry), 1);
    // Another broken text is news.
    replace(&path, "nonsense");
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(refusals(&registry), 2);
    // An explicit reload always answers (and reports) why.
    assert!(matches!(registry.reload(), Err(RegistryLoadError::File(_))));
    assert_eq!(refusals(&registry), 3);
    assert_eq!(state(&registry, "key-1"), Some(KeyState::Active));
    // Back to the good file, then the first broken text again: reported again.
    replace(&path, &keys(2, &[]));
    settle(&registry, &watching, &dir).unwrap();
    replace(&path, "[[apps]\nid = ");
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(refusals(&registry), 4);
    drop(watching);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Item 3: a truncated or empty file is not the new truth ----

#[test]
fn an_emptied_file_keeps_the_keys_in_force_until_confirmed() {
    let _turn = one_watcher_at_a_time();
    let dir = temp_dir("emptied");
    let path = dir.join("registry.toml");
    std::fs::write(&path, keys(8, &[])).unwrap();
    let registry = FileRegistry::open(&path).unwrap();
    let watching = registry.watch().unwrap();
    settle(&registry, &watching, &dir).unwrap();

    std::fs::write(&path, "").unwrap();
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(registry.registry().len(), 8, "an emptied file dropped keys");
    assert_eq!(refusals(&registry), 1);
    assert!(matches!(
        registry.reload(),
        Err(RegistryLoadError::Empty { .. })
    ));
    assert_eq!(registry.registry().len(), 8);

    let summary = registry.reload_confirmed().unwrap();
    assert_eq!(summary.removed.len(), 8);
    assert!(registry.registry().is_empty());
    drop(watching);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_truncated_by_a_pausing_writer_keeps_the_keys_in_force() {
    use std::io::Write as _;
    let _turn = one_watcher_at_a_time();
    let dir = temp_dir("truncated");
    let path = dir.join("registry.toml");
    std::fs::write(&path, keys(8, &[])).unwrap();
    let registry = FileRegistry::open(&path).unwrap();
    let watching = registry.watch().unwrap();
    settle(&registry, &watching, &dir).unwrap();

    // A writer truncates the file, writes the first 3 keys and pauses (until the watcher has
    // read what is there)…
    let full = keys(9, &[]);
    let cut = full.find("\n[[apps.keys]]\nid = \"key-3\"").unwrap();
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&full.as_bytes()[..cut]).unwrap();
    file.flush().unwrap();
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(registry.registry().len(), 8, "the pause dropped keys");
    assert_eq!(refusals(&registry), 1);
    // …then finishes: in force.
    file.write_all(&full.as_bytes()[cut..]).unwrap();
    drop(file);
    assert!(eventually(|| registry.registry().len() == 9));
    drop(watching);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn removing_up_to_the_fraction_is_accepted_and_revoking_every_key_is_never_refused() {
    let dir = temp_dir("fraction");
    let path = dir.join("registry.toml");
    std::fs::write(&path, keys(8, &[])).unwrap();
    let registry = FileRegistry::open(&path).unwrap();
    // 5 of 8 removed: more than half.
    std::fs::write(&path, keys(3, &[])).unwrap();
    match registry.reload() {
        Err(RegistryLoadError::TooManyRemoved {
            removed: 5,
            active: 8,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(registry.registry().len(), 8);
    // 4 of 8: accepted.
    std::fs::write(&path, keys(4, &[])).unwrap();
    assert_eq!(registry.reload().unwrap().removed.len(), 4);
    // Revoking them all is a revocation, not a removal.
    std::fs::write(&path, keys(4, &[0, 1, 2, 3])).unwrap();
    assert_eq!(registry.reload().unwrap().updated.len(), 4);
    // Removing revoked keys does not count.
    std::fs::write(&path, keys(1, &[0])).unwrap();
    assert_eq!(registry.reload().unwrap().removed.len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_guard_is_a_setting() {
    let dir = temp_dir("settings");
    let path = dir.join("registry.toml");
    std::fs::write(&path, keys(8, &[])).unwrap();
    let registry = FileRegistry::builder(&path)
        .max_removed_fraction(1.0)
        .empty_registry(EmptyRegistry::Allow)
        .open()
        .unwrap();
    std::fs::write(&path, "").unwrap();
    assert_eq!(registry.reload().unwrap().removed.len(), 8);

    // Every removal confirmed; out-of-range values clamped, NaN the strictest.
    std::fs::write(&path, keys(8, &[])).unwrap();
    for fraction in [0.0, -1.0, f64::NAN] {
        let strict = FileRegistry::builder(&path)
            .max_removed_fraction(fraction)
            .open()
            .unwrap();
        assert_eq!(strict.inner.guard.max_removed_fraction, 0.0);
        std::fs::write(&path, keys(7, &[])).unwrap();
        assert!(matches!(
            strict.reload(),
            Err(RegistryLoadError::TooManyRemoved { removed: 1, .. })
        ));
        std::fs::write(&path, keys(8, &[])).unwrap();
    }
    let lax = FileRegistry::builder(&path).max_removed_fraction(7.0);
    assert_eq!(lax.guard.max_removed_fraction, 1.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn starting_on_an_empty_registry_is_an_error_unless_allowed() {
    let dir = temp_dir("start-empty");
    let path = dir.join("registry.toml");
    for empty in ["", "[[apps]]\nid = \"partner\"\n"] {
        std::fs::write(&path, empty).unwrap();
        let err = FileRegistry::open(&path).unwrap_err();
        assert!(matches!(err, RegistryLoadError::Empty { .. }), "{err}");
        assert!(err.to_string().contains("holds no key"), "{err}");
        let registry = FileRegistry::builder(&path)
            .empty_registry(EmptyRegistry::Allow)
            .open()
            .unwrap();
        assert!(registry.registry().is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn sighup_confirms_a_refused_reload() {
    let _turn = one_watcher_at_a_time();
    let dir = temp_dir("sighup");
    let path = dir.join("registry.toml");
    std::fs::write(&path, keys(4, &[])).unwrap();
    let registry = FileRegistry::open(&path).unwrap();
    let watching = registry.watch().unwrap();
    settle(&registry, &watching, &dir).unwrap();
    replace(&path, &keys(1, &[]));
    settle(&registry, &watching, &dir).unwrap();
    assert_eq!(
        registry.registry().len(),
        4,
        "3 of 4 removed without a word"
    );

    signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
    assert!(
        eventually(|| registry.registry().len() == 1),
        "SIGHUP did not confirm the reload within {BOUND:?}"
    );
    drop(watching);
    let _ = std::fs::remove_dir_all(&dir);
}
