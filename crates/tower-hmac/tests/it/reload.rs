//! The registry file kept in force (issue 14): changes of the file, `SIGHUP` and `reload()` put
//! a new registry in force atomically while requests run; a broken file leaves the last good one.
//!
//! Nothing here waits a fixed time: each step waits for what it expects (a key in force, the
//! watcher's refusal, requests made by the load), with a deadline only a hung watcher reaches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use tokio::sync::Mutex;

use tower_hmac::registry::FileRegistry;
use tower_hmac::{AllowedHosts, HmacAuthLayer, MemoryNonceStore, RejectionKind, SecretKey};

const NOW: u64 = 1_700_000_000;
const HOST: &str = "api.example.com";
const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-hmac-reload-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn file_with(keys: &[(&str, &str)]) -> String {
    let mut text = String::from("[[apps]]\nid = \"partner\"\n");
    for (id, secret) in keys {
        text.push_str(&format!(
            "\n[[apps.keys]]\nid = \"{id}\"\nsecret = \"{secret}\"\n"
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

fn layer(registry: FileRegistry) -> HmacAuthLayer {
    HmacAuthLayer::builder(registry, AllowedHosts::new([HOST]).unwrap())
        .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
        .nonce_store(
            MemoryNonceStore::new(1_000_000)
                .unwrap()
                .with_horizon(UNIX_EPOCH + Duration::from_secs(NOW - 3600)),
        )
        .reveal_key_errors(true)
        .build()
        .unwrap()
}

/// One signed GET with `key_id`: `Ok` or the rejection's kind.
async fn call(layer: &HmacAuthLayer, key_id: &str, secret: &str) -> Result<(), RejectionKind> {
    let key = SecretKey::from_base64(secret).unwrap();
    let request = common::signed_get(&format!("https://{HOST}/"), key_id, &key, NOW);
    layer
        .verify(request)
        .await
        .map(|_| ())
        .map_err(|r| r.kind())
}

/// `SIGHUP` goes to the whole process, and so to every watcher in it: the tests that watch run one
/// at a time, so that one's signal is not another's confirmation.
static WATCHING: Mutex<()> = Mutex::const_new(());

/// Polls until `check` holds; a panic naming `what` if it does not within 30 s (a watcher that
/// never acts: no machine is that slow).
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: not after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many reloads the registry has refused, the watcher's included (its `Debug` shows the
/// count).
fn refusals(registry: &FileRegistry) -> u64 {
    let debug = format!("{registry:?}");
    let count = debug.rsplit("refusals: ").next().unwrap();
    count
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no refusal count in {debug}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_changes_come_in_force_and_no_request_fails_because_of_them() {
    let _one_watcher = WATCHING.lock().await;
    let dir = temp_dir("watch");
    let path = dir.join("registry.toml");
    std::fs::write(&path, file_with(&[("key-a", KEY_A)])).unwrap();
    let registry = FileRegistry::open(&path).unwrap();
    let _watching = registry.watch().unwrap();
    let layer = layer(registry.clone());

    // Load: key A, continuously, from two tasks, until told to stop; every request made is
    // counted, and every failure that cannot be the removal's.
    let stop = Arc::new(AtomicBool::new(false));
    let removing = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..2 {
        let (layer, stop, removing, made) =
            (layer.clone(), stop.clone(), removing.clone(), made.clone());
        load.push(tokio::spawn(async move {
            let (mut ok, mut early_failures) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                match call(&layer, "key-a", KEY_A).await {
                    Ok(()) => ok += 1,
                    // Only once the file that removes A is about to be written may A fail: a
                    // failure seen before that came from a reload that kept A.
                    Err(_) if removing.load(Ordering::SeqCst) => {}
                    Err(_) => early_failures += 1,
                }
                made.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
            (ok, early_failures)
        }));
    }
    // Each step lets the load make 50 more requests: it runs across every reload.
    let load_runs = || {
        let made = made.clone();
        async move {
            let from = made.load(Ordering::SeqCst);
            until("50 requests of the load", || {
                let made = made.clone();
                async move { made.load(Ordering::SeqCst) >= from + 50 }
            })
            .await;
        }
    };
    load_runs().await;

    // Add B: in force once the watcher has read the file.
    assert_eq!(
        call(&layer, "key-b", KEY_B).await,
        Err(RejectionKind::UnknownKey)
    );
    replace(&path, &file_with(&[("key-a", KEY_A), ("key-b", KEY_B)]));
    until("the added key in force", || async {
        call(&layer, "key-b", KEY_B).await.is_ok()
    })
    .await;
    load_runs().await;

    // A broken file: refused by the watcher (once it has read it) and by reload(), the last
    // good registry stays (A and B still work).
    assert_eq!(refusals(&registry), 0);
    replace(
        &path,
        "[[apps]]\nid = \"partner\"\n[[apps.keys]]\nid = \"key-c\"\nsecret = \"too short\"\n",
    );
    until("the watcher refusing the broken file", || async {
        refusals(&registry) >= 1
    })
    .await;
    let err = registry.reload().unwrap_err();
    assert!(err.to_string().contains("key-c"), "{err}");
    assert_eq!(call(&layer, "key-a", KEY_A).await, Ok(()));
    assert_eq!(call(&layer, "key-b", KEY_B).await, Ok(()));
    load_runs().await;
    let before = refusals(&registry);
    replace(&path, "[[apps]\nid = ");
    until("the watcher refusing the unparsable file", || async {
        refusals(&registry) > before
    })
    .await;
    assert!(registry.reload().unwrap_err().to_string().contains("line"));
    assert_eq!(call(&layer, "key-b", KEY_B).await, Ok(()));
    load_runs().await;

    // Remove A (and revoke nothing else): refused once the watcher has read the file, B goes on.
    removing.store(true, Ordering::SeqCst);
    replace(&path, &file_with(&[("key-b", KEY_B)]));
    until("the removed key refused", || async {
        call(&layer, "key-a", KEY_A).await.is_err()
    })
    .await;
    assert_eq!(
        call(&layer, "key-a", KEY_A).await,
        Err(RejectionKind::UnknownKey)
    );
    assert_eq!(call(&layer, "key-b", KEY_B).await, Ok(()));
    load_runs().await;

    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for task in load {
        let (ok, early_failures) = task.await.unwrap();
        assert_eq!(early_failures, 0, "a request failed because of a reload");
        total += ok;
    }
    assert!(total > 100, "the load ran ({total} requests)");
}

#[test]
fn reload_reports_what_changed_and_skips_an_unchanged_file() {
    let dir = temp_dir("summary");
    let path = dir.join("registry.toml");
    std::fs::write(&path, file_with(&[("key-a", KEY_A), ("key-b", KEY_B)])).unwrap();
    let registry = FileRegistry::open(&path).unwrap();
    assert!(!registry.reload().unwrap().changed);
    std::fs::write(
        &path,
        format!(
            "{}revoked = true\n\n[[apps.keys]]\nid = \"key-c\"\nsecret = \"{KEY_A}\"\n",
            file_with(&[("key-b", KEY_B)])
        ),
    )
    .unwrap();
    let summary = registry.reload().unwrap();
    assert!(summary.changed);
    assert_eq!(summary.added, ["key-c"]);
    assert_eq!(summary.removed, ["key-a"]);
    assert_eq!(summary.updated, ["key-b"]);
    // A registry that will not load refuses to start.
    std::fs::write(&path, "nonsense").unwrap();
    assert!(FileRegistry::open(&path).is_err());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_confirms_a_reload_the_watcher_refused() {
    let _one_watcher = WATCHING.lock().await;
    // Two of three keys removed at once looks like a truncated file: the watcher (and reload())
    // refuse it, the keys in force stay; SIGHUP is the operator's confirmation.
    let dir = temp_dir("sighup");
    let path = dir.join("registry.toml");
    std::fs::write(
        &path,
        file_with(&[("key-a", KEY_A), ("key-b", KEY_B), ("key-c", KEY_A)]),
    )
    .unwrap();
    let registry = FileRegistry::open(&path).unwrap();
    let _watching = registry.watch().unwrap();
    let layer = layer(registry.clone());
    replace(&path, &file_with(&[("key-b", KEY_B)]));
    assert!(registry.reload().is_err());
    assert_eq!(call(&layer, "key-a", KEY_A).await, Ok(()));
    signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
    until("the confirmed removal in force", || async {
        call(&layer, "key-a", KEY_A).await.is_err()
    })
    .await;
    assert_eq!(call(&layer, "key-b", KEY_B).await, Ok(()));
}
