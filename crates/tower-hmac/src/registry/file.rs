//! The registry file (TOML).
//!
//! ```toml
//! [[apps]]
//! id = "backoffice"
//! scopes = ["orders:read", "orders:write"]   # what its keys may call (`RequireScope`)
//!
//! [[apps.keys]]                 # the current key
//! id = "backoffice-2026-11"
//! secret_env = "BACKOFFICE_KEY" # Base64, from an environment variable
//!
//! [[apps.keys]]                 # the previous key, still accepted during the rollover
//! id = "backoffice-2026-05"
//! secret_file = "secrets/backoffice-2026-05.key"  # Base64 in a file (relative to this file)
//!
//! [[apps.keys]]                 # the next key, planned ahead (scheduled rotation)
//! id = "backoffice-2027-05"
//! secret_env = "BACKOFFICE_NEXT_KEY"
//! not_before = "2027-05-01T00:00:00Z"   # RFC 3339, or a TOML offset date-time; refused
//! not_after = 2027-11-30T00:00:00Z      #   before / after (key_not_yet_valid / key_expired)
//!
//! [[apps.keys]]                 # a retired key: known, refused with `revoked_key`
//! id = "backoffice-2025-11"
//! secret = "…Base64…"           # inline (demo and tests; prefer env or file)
//! revoked = true
//!
//! [[apps]]
//! id = "stripe"
//!
//! [[apps.keys]]                 # a provider's secret, used as issued (not Base64)
//! id = "stripe-webhooks"
//! secret_text_env = "STRIPE_WEBHOOK_SECRET"   # or secret_text = "…", secret_text_file = "…"
//! schemes = ["stripe"]          # usable only with these schemes (default: every enabled one)
//! ```
//!
//! Each key has exactly one of `secret`, `secret_env`, `secret_file` (Base64 of the key's bytes)
//! and `secret_text`, `secret_text_env`, `secret_text_file` (a provider's string, at least 16
//! bytes). Key ids are unique across the file. Unknown fields are errors. Error messages name the
//! app and key, never a secret.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;
use tower_hmac_core::{KeyError, KeyRecord, KeyState, SecretKey, is_valid_key_id, is_valid_scope};
use zeroize::Zeroize as _;

use super::memory::InMemoryRegistry;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    apps: Vec<RawApp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    id: String,
    /// What the app may call (every key of it, unless a key lists its own).
    scopes: Option<Vec<String>>,
    #[serde(default)]
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    id: String,
    secret: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    secret_text: Option<String>,
    secret_text_env: Option<String>,
    secret_text_file: Option<PathBuf>,
    #[serde(default)]
    revoked: bool,
    schemes: Option<Vec<String>>,
    not_before: Option<RawTime>,
    not_after: Option<RawTime>,
    /// This key's scopes, instead of its app's.
    scopes: Option<Vec<String>>,
}

/// A validity bound: an RFC 3339 string, or TOML's own offset date-time.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawTime {
    Text(String),
    Toml(toml::value::Datetime),
}

impl RawTime {
    fn parse(
        &self,
        app: &str,
        key: &str,
        field: &'static str,
    ) -> Result<SystemTime, RegistryFileError> {
        let text = match self {
            Self::Text(text) => text.clone(),
            Self::Toml(datetime) => datetime.to_string(),
        };
        let invalid = |message: &str| RegistryFileError::InvalidTime {
            app: app.to_owned(),
            key: key.to_owned(),
            field,
            message: message.to_owned(),
        };
        let parsed =
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    invalid(
                        "expected an RFC 3339 date-time with an offset, e.g. 2026-12-01T00:00:00Z",
                    )
                })?;
        Ok(SystemTime::from(parsed))
    }
}

impl Drop for RawKey {
    fn drop(&mut self) {
        for secret in [self.secret.as_mut(), self.secret_text.as_mut()]
            .into_iter()
            .flatten()
        {
            secret.zeroize();
        }
    }
}

/// Why a registry file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryFileError {
    /// The file (or a `secret_file`) could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the registry's shape.
    #[error("invalid registry file at line {line}: {message}")]
    Syntax {
        /// The line (1-based), 0 when unknown.
        line: usize,
        /// What is wrong (the offending text is not repeated: it may hold a secret).
        message: String,
    },
    /// An app or key id breaks the grammar (1–128 of `A-Z a-z 0-9 . _ ~ -`).
    #[error("invalid {what} id {id:?}: 1 to 128 characters of A-Z a-z 0-9 . _ ~ -")]
    InvalidId {
        /// `app` or `key`.
        what: &'static str,
        /// The id.
        id: String,
    },
    /// A key id appears twice.
    #[error("key id {key:?} appears more than once")]
    DuplicateKeyId {
        /// The key id.
        key: String,
    },
    /// A key has none, or more than one, of its secret sources.
    #[error(
        "key {key:?} of app {app:?} must have exactly one of secret, secret_env, secret_file, \
         secret_text, secret_text_env, secret_text_file"
    )]
    SecretSource {
        /// The app id.
        app: String,
        /// The key id.
        key: String,
    },
    /// A key's `secret_env` variable is not set (or not Unicode).
    #[error("key {key:?} of app {app:?}: environment variable {var} is not set")]
    MissingEnv {
        /// The app id.
        app: String,
        /// The key id.
        key: String,
        /// The variable's name.
        var: String,
    },
    /// A key's `schemes` list is empty or names an invalid scheme id.
    #[error("key {key:?} of app {app:?}: schemes must list at least one scheme id")]
    InvalidSchemes {
        /// The app id.
        app: String,
        /// The key id.
        key: String,
    },
    /// A key's `not_before` / `not_after` is not an RFC 3339 date-time, or they are in the wrong
    /// order.
    #[error("key {key:?} of app {app:?}: {field}: {message}")]
    InvalidTime {
        /// The app id.
        app: String,
        /// The key id.
        key: String,
        /// `not_before` or `not_after`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A scope is empty, too long (over 128 bytes) or holds a character outside visible ASCII
    /// (or `"` / `\\`).
    #[error("key {key:?} of app {app:?}: invalid scope {scope:?}")]
    InvalidScope {
        /// The app id.
        app: String,
        /// The key id.
        key: String,
        /// The scope.
        scope: String,
    },
    /// A key's secret is not valid (Base64, length).
    #[error("key {key:?} of app {app:?}: {source}")]
    InvalidSecret {
        /// The app id.
        app: String,
        /// The key id.
        key: String,
        /// The cause.
        #[source]
        source: KeyError,
    },
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl InMemoryRegistry {
    /// Loads a registry from TOML text; `secret_file` paths are relative to the working directory.
    pub fn from_toml_str(text: &str) -> Result<Self, RegistryFileError> {
        Self::from_toml_in(text, Path::new("."), &process_env)
    }

    /// Loads a registry file; `secret_file` paths are relative to the file's directory.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, RegistryFileError> {
        Self::from_toml_file_with_digest(path.as_ref()).map(|(registry, _)| registry)
    }

    /// [`from_toml_file`](Self::from_toml_file), with the SHA-256 of the text it read (one read:
    /// the digest is of the text the registry came from).
    #[cfg(feature = "watch")]
    pub(crate) fn from_toml_file_digest(
        path: &Path,
    ) -> Result<(Self, [u8; 32]), RegistryFileError> {
        Self::from_toml_file_with_digest(path)
    }

    fn from_toml_file_with_digest(path: &Path) -> Result<(Self, [u8; 32]), RegistryFileError> {
        let mut text = std::fs::read_to_string(path).map_err(|source| RegistryFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let result = Self::from_toml_in(&text, base, &process_env);
        let digest = text_digest(&text);
        text.zeroize();
        result.map(|registry| (registry, digest))
    }

    /// Loads a registry from TOML text, reading `secret_env` variables through `env`.
    fn from_toml_in(text: &str, base: &Path, env: &Env<'_>) -> Result<Self, RegistryFileError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| RegistryFileError::Syntax {
            line: e.span().map_or(0, |s| line_of(text, s.start)),
            message: e.message().to_owned(),
        })?;
        let registry = InMemoryRegistry::new();
        for app in &raw.apps {
            if !is_valid_key_id(&app.id) {
                return Err(RegistryFileError::InvalidId {
                    what: "app",
                    id: app.id.clone(),
                });
            }
            for key in &app.keys {
                if !is_valid_key_id(&key.id) {
                    return Err(RegistryFileError::InvalidId {
                        what: "key",
                        id: key.id.clone(),
                    });
                }
                if registry.get(&key.id).is_some() {
                    return Err(RegistryFileError::DuplicateKeyId {
                        key: key.id.clone(),
                    });
                }
                let secret = load_secret(&app.id, key, base, env)?;
                let state = if key.revoked {
                    KeyState::Revoked
                } else {
                    KeyState::Active
                };
                let mut record = KeyRecord::new(app.id.as_str(), secret).with_state(state);
                if let Some(schemes) = &key.schemes {
                    if schemes.is_empty() || schemes.iter().any(|s| !is_valid_key_id(s)) {
                        return Err(RegistryFileError::InvalidSchemes {
                            app: app.id.clone(),
                            key: key.id.clone(),
                        });
                    }
                    record = record.with_schemes(schemes.iter().map(String::as_str));
                }
                let bound = |raw: &Option<RawTime>, field| {
                    raw.as_ref()
                        .map(|t| t.parse(&app.id, &key.id, field))
                        .transpose()
                };
                let not_before = bound(&key.not_before, "not_before")?;
                let not_after = bound(&key.not_after, "not_after")?;
                if let (Some(start), Some(end)) = (not_before, not_after) {
                    if end < start {
                        return Err(RegistryFileError::InvalidTime {
                            app: app.id.clone(),
                            key: key.id.clone(),
                            field: "not_after",
                            message: "is before not_before".into(),
                        });
                    }
                }
                record = record.with_validity(not_before, not_after);
                if let Some(scopes) = key.scopes.as_ref().or(app.scopes.as_ref()) {
                    if let Some(bad) = scopes.iter().find(|s| !is_valid_scope(s)) {
                        return Err(RegistryFileError::InvalidScope {
                            app: app.id.clone(),
                            key: key.id.clone(),
                            scope: bad.clone(),
                        });
                    }
                    record = record.with_scopes(scopes.iter().map(String::as_str));
                }
                registry.insert_record(key.id.as_str(), record);
            }
        }
        Ok(registry)
    }
}

/// A digest of the file's text, to tell whether a reload changes anything (`[0; 32]` without the
/// `watch` feature, which is the only reader).
fn text_digest(text: &str) -> [u8; 32] {
    #[cfg(feature = "watch")]
    {
        use sha2::Digest as _;
        sha2::Sha256::digest(text.as_bytes()).into()
    }
    #[cfg(not(feature = "watch"))]
    {
        let _ = text;
        [0; 32]
    }
}

/// How `secret_env` variables are read: the process environment, or a test's own.
type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

fn load_secret(
    app: &str,
    key: &RawKey,
    base: &Path,
    env: &Env<'_>,
) -> Result<SecretKey, RegistryFileError> {
    let invalid = |source| RegistryFileError::InvalidSecret {
        app: app.to_owned(),
        key: key.id.clone(),
        source,
    };
    let from_env = |var: &String| {
        env(var).ok_or_else(|| RegistryFileError::MissingEnv {
            app: app.to_owned(),
            key: key.id.clone(),
            var: var.clone(),
        })
    };
    let given = [
        key.secret.is_some(),
        key.secret_env.is_some(),
        key.secret_file.is_some(),
        key.secret_text.is_some(),
        key.secret_text_env.is_some(),
        key.secret_text_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(RegistryFileError::SecretSource {
            app: app.to_owned(),
            key: key.id.clone(),
        });
    }
    // The secret's text, and whether it is a provider's string rather than Base64.
    let first: Result<(String, bool), RegistryFileError> =
        match (&key.secret, &key.secret_env, &key.secret_file) {
            (Some(inline), _, _) => Ok((inline.clone(), false)),
            (_, Some(var), _) => from_env(var).map(|s| (s, false)),
            (_, _, Some(file)) => read_secret_file(&base.join(file)).map(|s| (s, false)),
            _ => match (
                &key.secret_text,
                &key.secret_text_env,
                &key.secret_text_file,
            ) {
                (Some(inline), _, _) => Ok((inline.clone(), true)),
                (_, Some(var), _) => from_env(var).map(|s| (s, true)),
                (_, _, Some(file)) => read_secret_file(&base.join(file)).map(|s| (s, true)),
                _ => Err(RegistryFileError::SecretSource {
                    app: app.to_owned(),
                    key: key.id.clone(),
                }),
            },
        };
    let (mut value, text) = first?;
    let secret = if text {
        SecretKey::from_text(&value)
    } else {
        SecretKey::from_base64(&value)
    }
    .map_err(invalid);
    value.zeroize();
    secret
}

/// The most a `secret_file` may hold: a Base64 key of the longest length with room for white
/// space. A larger file (or `/dev/zero`) is refused instead of read without bound.
const MAX_SECRET_FILE: u64 = 4096;

fn read_secret_file(path: &Path) -> Result<String, RegistryFileError> {
    use std::io::Read as _;
    let io = |source| RegistryFileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_SECRET_FILE {
        text.zeroize();
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "secret file larger than 4096 bytes",
        )));
    }
    Ok(text)
}

impl fmt::Debug for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "dG93ZXItaG1hYyB0ZXN0IHZlY3RvciBrZXkgIzIgLS0gbm90IHNlY3JldA==";

    /// Whether two keys are the same (through a MAC: keys have no `==`).
    fn same_key(a: &SecretKey, b: &str) -> bool {
        let b = SecretKey::from_base64(b).unwrap();
        tower_hmac_core::policy::time_mac(a, 1, "n")
            == tower_hmac_core::policy::time_mac(&b, 1, "n")
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
        let env =
            |name: &str| (name == "STRIPE_SECRET").then(|| "whsec_0123456789abcdef\n".to_owned());
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
            matches!(err, RegistryFileError::DuplicateKeyId { .. }),
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
}
