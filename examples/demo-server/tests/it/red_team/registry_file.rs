//! Issue 25, items 1 and 3, over TCP: the demo watching a registry file mounted as a Kubernetes
//! ConfigMap. A key revoked by the kubelet's `..data` swap is refused; an emptied file keeps the
//! keys in force (refused, logged once).
#![cfg(unix)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tower_hmac::SecretKey;

use crate::common::{Instance, PATIENCE, start_demo, whoami_status};

const KEY_1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn file(keys: &[(&str, &str, bool)]) -> String {
    let mut text = String::from("[[apps]]\nid = \"partner\"\n");
    for (id, secret, revoked) in keys {
        text.push_str(&format!(
            "\n[[apps.keys]]\nid = \"{id}\"\nsecret = \"{secret}\"\nrevoked = {revoked}\n"
        ));
    }
    text
}

/// A ConfigMap volume as the kubelet lays it out: `dir/..<timestamp>/registry.toml`,
/// `dir/..data -> ..<timestamp>`, `dir/registry.toml -> ..data/registry.toml`.
struct ConfigMap {
    dir: PathBuf,
    version: usize,
}

impl ConfigMap {
    fn new(dir: PathBuf, text: &str) -> Self {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
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

    /// The kubelet's update: a new timestamped directory, a `..data_tmp` link to it renamed over
    /// `..data`, the old directory removed.
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

/// Polls `key_id`'s `GET /whoami` until it answers `expected`; panics after [`PATIENCE`].
async fn until_status(server: &Instance, key_id: &str, secret: &str, expected: u16) {
    let key = SecretKey::from_base64(secret).unwrap();
    let start = Instant::now();
    loop {
        let status = whoami_status(server.addr, key_id, &key).await;
        if status == expected {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{key_id} answered {status}, not {expected}, for {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_by_a_configmap_swap_is_refused_and_an_emptied_file_keeps_the_keys() {
    let dir = std::env::temp_dir().join(tower_hmac_integration::unique_key_id(
        "tower-hmac-red-configmap",
    ));
    let mut volume = ConfigMap::new(
        dir,
        &file(&[("partner-1", KEY_1, false), ("partner-2", KEY_2, false)]),
    );
    let mut server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_REGISTRY", volume.path().to_str().unwrap()),
    ])
    .await;
    until_status(&server, "partner-1", KEY_1, 200).await;

    // The revocation, pushed the way Kubernetes updates a mounted ConfigMap.
    volume.update(&file(&[
        ("partner-1", KEY_1, true),
        ("partner-2", KEY_2, false),
    ]));
    until_status(&server, "partner-1", KEY_1, 401).await;
    until_status(&server, "partner-2", KEY_2, 200).await;

    // An emptied file: refused and logged, the keys in force stay.
    volume.update("");
    let refused = server.line_with("holds no key").await;
    assert!(refused.contains("ERROR"), "{refused}");
    let key_2 = SecretKey::from_base64(KEY_2).unwrap();
    assert_eq!(whoami_status(server.addr, "partner-2", &key_2).await, 200);
    let key_1 = SecretKey::from_base64(KEY_1).unwrap();
    assert_eq!(whoami_status(server.addr, "partner-1", &key_1).await, 401);
    drop(server);
    let _ = std::fs::remove_dir_all(&volume.dir);
}
