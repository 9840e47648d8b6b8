use tower_hmac_core::SecretKey;

use super::*;

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "dG93ZXItaG1hYyB0ZXN0IHZlY3RvciBrZXkgIzIgLS0gbm90IHNlY3JldA==";

/// Whether two keys are the same (through a MAC: keys have no `==`).
fn same_key(a: &SecretKey, b: &str) -> bool {
    let b = SecretKey::from_base64(b).unwrap();
    tower_hmac_core::policy::time_mac(a, 1, "n") == tower_hmac_core::policy::time_mac(&b, 1, "n")
}

#[test]
fn loads_apps_with_several_keys() {
    let registry = InMemoryRegistry::from_toml_str(&format!(
        r#"
        [[apps]]
        id = "backoffice"
        [[apps.keys]]
        id = "bo-new"
        secret = "{KEY_A}"
        [[apps.keys]]
        id = "bo-old"
        secret = "{KEY_A}"
        revoked = true
        "#
    ))
    .unwrap();
    assert_eq!(registry.len(), 2);
    assert_eq!(registry.get("bo-new").unwrap().state(), KeyState::Active);
    assert_eq!(registry.get("bo-old").unwrap().state(), KeyState::Revoked);
    assert_eq!(registry.get("bo-old").unwrap().app_id(), "backoffice");
}

#[test]
fn reads_provider_secrets_as_text_and_scheme_limits() {
    let env = |name: &str| (name == "STRIPE_SECRET").then(|| "whsec_0123456789abcdef\n".to_owned());
    let toml = r#"
        [[apps]]
        id = "stripe"
        [[apps.keys]]
        id = "stripe-webhooks"
        secret_text_env = "STRIPE_SECRET"
        schemes = ["stripe"]
        [[apps.keys]]
        id = "inline-text"
        secret_text = "a-provider-secret-string"
        [[apps.keys]]
        id = "retired"
        secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        revoked = true
    "#;
    let registry = InMemoryRegistry::from_toml_in(toml, Path::new("."), &env).unwrap();
    let stripe = registry.get("stripe-webhooks").unwrap();
    // Used as issued: the text is the key, its bytes are the text's.
    assert_eq!(stripe.secret().expose_secret(), b"whsec_0123456789abcdef");
    assert_eq!(&*stripe.secret().text_form(), "whsec_0123456789abcdef");
    assert!(stripe.allows_scheme("stripe") && !stripe.allows_scheme("v1"));
    let inline = registry.get("inline-text").unwrap();
    assert!(inline.allows_scheme("v1"));
    assert_eq!(registry.get("retired").unwrap().state(), KeyState::Revoked);
    // The earlier word for a retired key is refused, not ignored.
    let old = toml.replace("revoked = true", "disabled = true");
    let err = InMemoryRegistry::from_toml_in(&old, Path::new("."), &env).unwrap_err();
    assert!(matches!(err, RegistryFileError::Syntax { .. }), "{err}");
    // An empty scheme list, two secret sources, a short provider secret: refused.
    let empty = toml.replace(r#"schemes = ["stripe"]"#, "schemes = []");
    assert!(matches!(
        InMemoryRegistry::from_toml_in(&empty, Path::new("."), &env).unwrap_err(),
        RegistryFileError::InvalidSchemes { .. }
    ));
    let two = toml.replace(
        r#"secret_text = "a-provider-secret-string""#,
        "secret_text = \"a-provider-secret-string\"\nsecret_env = \"STRIPE_SECRET\"",
    );
    assert!(matches!(
        InMemoryRegistry::from_toml_in(&two, Path::new("."), &env).unwrap_err(),
        RegistryFileError::SecretSource { .. }
    ));
    let short = toml.replace("a-provider-secret-string", "short");
    let err = InMemoryRegistry::from_toml_in(&short, Path::new("."), &env).unwrap_err();
    assert!(
        matches!(err, RegistryFileError::InvalidSecret { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("short"), "{err}");
}

#[test]
fn reads_secrets_from_env_and_files() {
    let dir = std::env::temp_dir().join(format!("tower-hmac-reg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("k.key"), format!("{KEY_A}\n")).unwrap();
    let var = format!("TOWER_HMAC_TEST_KEY_{}", std::process::id());
    // SAFETY-free: set_var is unsafe in edition 2024 only because of other threads reading
    // the environment; this test reads it on this thread right away.
    let toml = format!(
        r#"
        [[apps]]
        id = "a"
        [[apps.keys]]
        id = "from-file"
        secret_file = "k.key"
        [[apps.keys]]
        id = "from-env"
        secret_env = "{var}"
        "#
    );
    std::fs::write(dir.join("registry.toml"), &toml).unwrap();
    // The variable is not set in this process: a clear error naming it.
    let err = InMemoryRegistry::from_toml_file(dir.join("registry.toml")).unwrap_err();
    assert!(matches!(err, RegistryFileError::MissingEnv { .. }), "{err}");
    assert!(err.to_string().contains(&var), "{err}");
    // Set (through the injected environment: `set_var` needs `unsafe` in edition 2024, which
    // this crate forbids): both keys load, each with its own secret.
    let env = |name: &str| (name == var).then(|| format!(" {KEY_B}\n"));
    let registry = InMemoryRegistry::from_toml_in(&toml, &dir, &env).unwrap();
    assert_eq!(registry.len(), 2);
    let from_env = registry.get("from-env").unwrap();
    assert!(
        same_key(from_env.secret(), KEY_B),
        "the secret is the variable's value"
    );
    assert!(!same_key(from_env.secret(), KEY_A));
    let from_file = registry.get("from-file").unwrap();
    assert!(same_key(from_file.secret(), KEY_A));
    // A variable that is not Base64 of a key is refused, naming the key, not the value.
    let bad = |name: &str| (name == var).then(|| "not base64!".to_owned());
    let err = InMemoryRegistry::from_toml_in(&toml, &dir, &bad).unwrap_err();
    assert!(
        matches!(err, RegistryFileError::InvalidSecret { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("not base64!"), "{err}");
}

#[test]
fn reads_validity_intervals_as_rfc3339_strings_or_toml_datetimes() {
    use std::time::{Duration, UNIX_EPOCH};
    let registry = InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"a\"\n\
         [[apps.keys]]\nid = \"next\"\nsecret = \"{KEY_A}\"\n\
         not_before = \"2026-12-01T02:00:00+02:00\"\nnot_after = 2027-06-01T00:00:00Z\n\
         [[apps.keys]]\nid = \"plain\"\nsecret = \"{KEY_B}\"\n"
    ))
    .unwrap();
    let next = registry.get("next").unwrap();
    assert_eq!(
        next.not_before(),
        Some(UNIX_EPOCH + Duration::from_secs(1_796_083_200))
    );
    assert_eq!(
        next.not_after(),
        Some(UNIX_EPOCH + Duration::from_secs(1_811_808_000))
    );
    let plain = registry.get("plain").unwrap();
    assert_eq!((plain.not_before(), plain.not_after()), (None, None));

    for (fields, what) in [
        (
            "not_before = \"tomorrow\"",
            "not_before: expected an RFC 3339",
        ),
        (
            "not_after = 2027-06-01T00:00:00",
            "not_after: expected an RFC 3339",
        ),
        (
            "not_before = \"2027-01-01T00:00:00Z\"\nnot_after = \"2026-01-01T00:00:00Z\"",
            "not_after: is before not_before",
        ),
    ] {
        let err = InMemoryRegistry::from_toml_str(&format!(
            "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"k\"\nsecret = \"{KEY_A}\"\n{fields}\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains(what), "{fields}: {err}");
        assert!(err.to_string().contains("\"k\""), "{err}");
    }
}

#[test]
fn refuses_an_endless_secret_file() {
    let err = InMemoryRegistry::from_toml_str(
        "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"k\"\nsecret_file = \"/dev/zero\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("larger than 4096"), "{err}");
}

#[test]
fn rejects_unknown_fields() {
    let err = InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"k\"\nsecret = \"{KEY_A}\"\nsecert = \"x\"\n"
    ))
    .unwrap_err();
    assert!(
        matches!(err, RegistryFileError::Syntax { line: 6, .. }),
        "{err}"
    );
}

#[test]
fn rejects_duplicate_key_ids_across_apps() {
    let err = InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"k\"\nsecret = \"{KEY_A}\"\n\
         [[apps]]\nid = \"b\"\n[[apps.keys]]\nid = \"k\"\nsecret = \"{KEY_A}\"\n"
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryFileError::DuplicateKeyId {
                first_line: 4,
                line: 9,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("lines 4 and 9"), "{err}");
    // Twice in one app, too.
    let err = InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"k\"\nsecret = \"{KEY_A}\"\n\
         [[apps.keys]]\nid = \"k\"\nsecret = \"{KEY_B}\"\n"
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryFileError::DuplicateKeyId {
                first_line: 4,
                line: 7,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn rejects_duplicate_app_ids_naming_both_lines() {
    // keygen's whole `[[apps]]` block pasted under the existing one: the new key would have
    // no scopes (403 on scoped routes, an outage once the old key is revoked).
    let text = format!(
        "[[apps]]\nid = \"partner\"\nscopes = [\"orders:read\"]\n\
         [[apps.keys]]\nid = \"partner-1\"\nsecret = \"{KEY_A}\"\n\
         \n[[apps]]\nid = \"partner\"\n\
         [[apps.keys]]\nid = \"partner-2\"\nsecret = \"{KEY_B}\"\n"
    );
    let err = InMemoryRegistry::from_toml_str(&text).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("app id \"partner\"") && message.contains("lines 2 and 9"),
        "{message}"
    );
    assert!(
        !message.contains(KEY_A) && !message.contains(KEY_B),
        "{message}"
    );
    assert!(
        matches!(
            &err,
            RegistryFileError::DuplicateAppId { app, first_line: 2, line: 9 } if app == "partner"
        ),
        "{err:?}"
    );
    // Found before any secret is resolved: an unset variable does not hide it.
    let unset = text.replace(
        &format!("secret = \"{KEY_B}\""),
        "secret_env = \"UNSET_VAR\"",
    );
    assert!(matches!(
        InMemoryRegistry::from_toml_str(&unset).unwrap_err(),
        RegistryFileError::DuplicateAppId { .. }
    ));
    // The outline (keygen's view of the file) refuses it the same way.
    assert!(matches!(
        RegistryFileOutline::from_toml_str(&unset).unwrap_err(),
        RegistryFileError::DuplicateAppId { .. }
    ));
}

#[test]
fn the_outline_names_apps_and_keys_without_reading_secrets() {
    let text = "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"a-1\"\nsecret_env = \"UNSET_A\"\n\
                [[apps]]\nid = \"b\"\n[[apps.keys]]\nid = \"b-1\"\nsecret_file = \"/nonexistent\"\n";
    let outline = RegistryFileOutline::from_toml_str(text).unwrap();
    assert_eq!(outline.app_line("a"), Some(2));
    assert_eq!(outline.app_line("b"), Some(7));
    assert_eq!(outline.app_line("c"), None);
    assert_eq!(outline.app_of_key("b-1"), Some("b"));
    assert_eq!(outline.key_line("a-1"), Some(4));
    assert!(outline.is_last_app("b") && !outline.is_last_app("a"));
    let err = RegistryFileOutline::from_toml_str("[[apps]]\nid = \"a\"\nsecert = 1\n").unwrap_err();
    assert!(
        matches!(err, RegistryFileError::Syntax { line: 3, .. }),
        "{err}"
    );
}

#[test]
fn rejects_keys_with_no_or_two_secret_sources() {
    let none = "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"k\"\n";
    assert!(matches!(
        InMemoryRegistry::from_toml_str(none).unwrap_err(),
        RegistryFileError::SecretSource { .. }
    ));
    let two = format!("{none}secret = \"{KEY_A}\"\nsecret_env = \"X\"\n");
    assert!(matches!(
        InMemoryRegistry::from_toml_str(&two).unwrap_err(),
        RegistryFileError::SecretSource { .. }
    ));
}

#[test]
fn rejects_short_secrets_without_printing_them() {
    let short = "c2hvcnQ="; // "short"
    let err = InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"k\"\nsecret = \"{short}\"\n"
    ))
    .unwrap_err();
    assert!(matches!(err, RegistryFileError::InvalidSecret { .. }));
    assert!(!err.to_string().contains(short));
}

#[test]
fn syntax_errors_do_not_repeat_the_offending_line() {
    let err = InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"a\"\n[[apps.keys]]\nid = \"k\"\nsecret = \"{KEY_A}\n"
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains(KEY_A), "{text}");
    assert!(
        matches!(err, RegistryFileError::Syntax { line: 5, .. }),
        "{text}"
    );
}

#[test]
fn rejects_invalid_ids() {
    let err = InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"a b\"\n[[apps.keys]]\nid = \"k\"\nsecret = \"{KEY_A}\"\n"
    ))
    .unwrap_err();
    assert!(matches!(
        err,
        RegistryFileError::InvalidId { what: "app", .. }
    ));
}
