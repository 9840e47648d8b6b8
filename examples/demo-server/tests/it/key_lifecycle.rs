//! Key lifecycle through the registry file (issue 14): two running demo instances share one
//! `TOWER_HMAC_DEMO_REGISTRY` file; an operator adds, rotates and revokes keys by editing it, and
//! each change is in force on both without a restart (the file watcher's reload: the only way a
//! change of the file reaches a running instance).

use std::path::Path;

use tower_hmac::SecretKey;

use crate::common::{Instance, start_demo};

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

/// Waits until both instances answer `expected` for `key_id` with the Base64 `secret` (the
/// requests are stamped a second ahead: the instances' replay stores started in this second).
async fn on_both(both: &[&Instance], key_id: &str, secret: &str, expected: u16) {
    let key = SecretKey::from_base64(secret).unwrap();
    let addrs: Vec<_> = both.iter().map(|i| i.addr).collect();
    crate::common::on_every_instance(&addrs, key_id, &key, expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_adds_rotates_and_revokes_keys_on_two_instances_through_the_file() {
    let dir = std::env::temp_dir().join(tower_hmac_integration::unique_key_id(
        "tower-hmac-lifecycle",
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("registry.toml");
    std::fs::write(&path, file(&[("partner-1", KEY_1, false)])).unwrap();
    let registry = path.to_str().unwrap();
    let mut a = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_REGISTRY", registry),
    ])
    .await;
    let mut b = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_REGISTRY", registry),
    ])
    .await;
    on_both(&[&a, &b], "partner-1", KEY_1, 200).await;
    on_both(&[&a, &b], "partner-2", KEY_2, 401).await;

    // Rotation, step 1: the new key is added next to the old one.
    replace(
        &path,
        &file(&[("partner-1", KEY_1, false), ("partner-2", KEY_2, false)]),
    );
    on_both(&[&a, &b], "partner-2", KEY_2, 200).await;
    on_both(&[&a, &b], "partner-1", KEY_1, 200).await;

    // A broken edit: refused (each instance logs it once it has read it), both instances keep
    // serving with the last good file.
    replace(&path, "[[apps]]\nid = \"partner\"\n[[apps.keys]]\nid = ");
    for instance in [&mut a, &mut b] {
        let refused = instance.line_with("registry file not reloaded").await;
        assert!(refused.contains("ERROR"), "{refused}");
    }
    on_both(&[&a, &b], "partner-1", KEY_1, 200).await;
    on_both(&[&a, &b], "partner-2", KEY_2, 200).await;

    // Rotation, step 2: the old key is revoked.
    replace(
        &path,
        &file(&[("partner-1", KEY_1, true), ("partner-2", KEY_2, false)]),
    );
    on_both(&[&a, &b], "partner-1", KEY_1, 401).await;
    on_both(&[&a, &b], "partner-2", KEY_2, 200).await;
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}
