//! The file registry's audit trail (issue 14): each key change of a reload is one tracing event
//! (what changed, the state before and after, never a secret), and a broken file is one error
//! line naming the file, the line and the reason. Read through `common::capture` (this thread's
//! events only: the reloads here are `reload()` calls, not the watcher's thread).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use tower_hmac::registry::FileRegistry;

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

#[test]
fn each_key_change_is_an_event_and_a_broken_file_one_error_line() {
    let (captured, _guard) = common::capture(tracing::Level::INFO);

    let dir = std::env::temp_dir().join(format!("tower-hmac-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("registry.toml");
    let key = |id: &str, secret: &str, extra: &str| {
        format!("\n[[apps.keys]]\nid = \"{id}\"\nsecret = \"{secret}\"\n{extra}")
    };
    let head = "[[apps]]\nid = \"partner\"\n";
    std::fs::write(
        &path,
        format!("{head}{}{}", key("a", KEY_A, ""), key("b", KEY_B, "")),
    )
    .unwrap();
    let registry = FileRegistry::open(&path).unwrap();
    std::fs::write(
        &path,
        format!(
            "{head}{}{}",
            key("b", KEY_B, "revoked = true\n"),
            key("c", KEY_A, "not_before = \"2027-01-01T00:00:00Z\"\n")
        ),
    )
    .unwrap();
    registry.reload().unwrap();
    std::fs::write(
        &path,
        format!("{head}\n[[apps.keys]]\nid = \"d\"\nsecret = \"{KEY_B}\"\nsecert = 1\n"),
    )
    .unwrap();
    assert!(registry.reload().is_err());

    let text = captured.text();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {text}"))
    };
    let b = line("key_id=b");
    assert!(
        b.contains("change=\"updated\"") && b.contains("changed=state"),
        "{b}"
    );
    assert!(
        b.contains("old_state=\"active\"") && b.contains("new_state=\"revoked\""),
        "{b}"
    );
    let a = line("key_id=a");
    assert!(
        a.contains("change=\"removed\"") && a.contains("new_state=\"absent\""),
        "{a}"
    );
    let c = line("key_id=c");
    assert!(
        c.contains("change=\"added\"") && c.contains("app_id=\"partner\""),
        "{c}"
    );
    assert!(line("registry file reloaded").contains("added=1 removed=1 updated=1"));
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(
        errors[0].contains(&path.display().to_string()),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("line 7") && errors[0].contains("secert"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("last good one stays in force"),
        "{}",
        errors[0]
    );
    for secret in [KEY_A, KEY_B] {
        assert!(!text.contains(secret), "a secret was logged: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
