//! Key lifecycle through the registry file (issue 14): two running demo instances share one
//! `TOWER_HMAC_DEMO_REGISTRY` file; an operator adds, rotates and revokes keys by editing it, and
//! each change is in force on both within 2 s, without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tower_hmac::SecretKey;

mod common;

use common::start_demo;

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

fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Waits until both instances answer `expected` for `key_id` with the Base64 `secret`.
async fn on_both(addrs: &[SocketAddr], key_id: &str, secret: &str, expected: u16) -> Duration {
    let key = SecretKey::from_base64(secret).unwrap();
    common::on_every_instance(addrs, key_id, &key, expected).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_adds_rotates_and_revokes_keys_on_two_instances_through_the_file() {
    let dir = std::env::temp_dir().join(format!("tower-hmac-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("registry.toml");
    std::fs::write(&path, file(&[("partner-1", KEY_1, false)])).unwrap();
    let registry = path.to_str().unwrap();
    let a = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_REGISTRY", registry),
    ])
    .await;
    let b = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_REGISTRY", registry),
    ])
    .await;
    let both = [a.addr, b.addr];
    // Past the second the instances' replay stores started in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    on_both(&both, "partner-1", KEY_1, 200).await;
    on_both(&both, "partner-2", KEY_2, 401).await;

    // Rotation, step 1: the new key is added next to the old one.
    replace(
        &path,
        &file(&[("partner-1", KEY_1, false), ("partner-2", KEY_2, false)]),
    );
    let took = on_both(&both, "partner-2", KEY_2, 200).await;
    assert!(took < Duration::from_secs(2), "added in {took:?}");
    on_both(&both, "partner-1", KEY_1, 200).await;

    // A broken edit: refused, both instances keep serving with the last good file.
    replace(&path, "[[apps]]\nid = \"partner\"\n[[apps.keys]]\nid = ");
    tokio::time::sleep(Duration::from_millis(500)).await;
    on_both(&both, "partner-1", KEY_1, 200).await;
    on_both(&both, "partner-2", KEY_2, 200).await;

    // Rotation, step 2: the old key is revoked.
    replace(
        &path,
        &file(&[("partner-1", KEY_1, true), ("partner-2", KEY_2, false)]),
    );
    let took = on_both(&both, "partner-1", KEY_1, 401).await;
    assert!(took < Duration::from_secs(2), "revoked in {took:?}");
    on_both(&both, "partner-2", KEY_2, 200).await;
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}
