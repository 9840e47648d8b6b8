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
//! bytes). Key ids are unique across the file, and each app has one `[[apps]]` block: a second
//! block for the same app id is an error naming both lines (its keys would silently miss the
//! first block's `scopes`), as is a key id given twice. Unknown fields are errors. Error messages
//! name the app and key, never a secret.
//!
//! [`RegistryFileOutline`] reads the app and key ids of a file without resolving any secret, for
//! tools that add to it (`tower-hmac keygen --registry`).

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
    id: toml::Spanned<String>,
    /// What the app may call (every key of it, unless a key lists its own).
    scopes: Option<Vec<String>>,
    #[serde(default)]
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    id: toml::Spanned<String>,
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
    #[error("key id {key:?} appears more than once (ids at lines {first_line} and {line})")]
    DuplicateKeyId {
        /// The key id.
        key: String,
        /// The line (1-based) of its first `id`.
        first_line: usize,
        /// The line of the second.
        line: usize,
    },
    /// An app id has two `[[apps]]` blocks. The second block's keys would not get the first's
    /// `scopes`, so this is refused rather than merged: add a key inside the existing block.
    #[error(
        "app id {app:?} has two [[apps]] blocks (ids at lines {first_line} and {line}): move the \
         second block's [[apps.keys]] entries into the first (`tower-hmac keygen --registry FILE` \
         prints just the entry for an app the file has)"
    )]
    DuplicateAppId {
        /// The app id.
        app: String,
        /// The line (1-based) of the first block's `id`.
        first_line: usize,
        /// The line of the second block's `id`.
        line: usize,
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
        let raw = parse_raw(text)?;
        // Ids first (grammar, duplicates), before any secret is resolved.
        RegistryFileOutline::of(&raw, text)?;
        let registry = InMemoryRegistry::new();
        for app in &raw.apps {
            let app_id = app.id.get_ref();
            for key in &app.keys {
                let key_id = key.id.get_ref();
                let secret = load_secret(app_id, key, base, env)?;
                let state = if key.revoked {
                    KeyState::Revoked
                } else {
                    KeyState::Active
                };
                let mut record = KeyRecord::new(app_id.as_str(), secret).with_state(state);
                if let Some(schemes) = &key.schemes {
                    if schemes.is_empty() || schemes.iter().any(|s| !is_valid_key_id(s)) {
                        return Err(RegistryFileError::InvalidSchemes {
                            app: app_id.clone(),
                            key: key_id.clone(),
                        });
                    }
                    record = record.with_schemes(schemes.iter().map(String::as_str));
                }
                let bound = |raw: &Option<RawTime>, field| {
                    raw.as_ref()
                        .map(|t| t.parse(app_id, key_id, field))
                        .transpose()
                };
                let not_before = bound(&key.not_before, "not_before")?;
                let not_after = bound(&key.not_after, "not_after")?;
                if let (Some(start), Some(end)) = (not_before, not_after)
                    && end < start
                {
                    return Err(RegistryFileError::InvalidTime {
                        app: app_id.clone(),
                        key: key_id.clone(),
                        field: "not_after",
                        message: "is before not_before".into(),
                    });
                }
                record = record.with_validity(not_before, not_after);
                if let Some(scopes) = key.scopes.as_ref().or(app.scopes.as_ref()) {
                    if let Some(bad) = scopes.iter().find(|s| !is_valid_scope(s)) {
                        return Err(RegistryFileError::InvalidScope {
                            app: app_id.clone(),
                            key: key_id.clone(),
                            scope: bad.clone(),
                        });
                    }
                    record = record.with_scopes(scopes.iter().map(String::as_str));
                }
                registry.insert_record(key_id.as_str(), record);
            }
        }
        Ok(registry)
    }
}

fn parse_raw(text: &str) -> Result<RawFile, RegistryFileError> {
    toml::from_str(text).map_err(|e| RegistryFileError::Syntax {
        line: e.span().map_or(0, |s| line_of(text, s.start)),
        message: e.message().to_owned(),
    })
}

/// The app and key ids of a registry file, read without resolving any secret (no environment
/// variable or secret file is read), checked as loading checks them: the file's shape, the id
/// grammar, no app id with two `[[apps]]` blocks, no key id twice.
///
/// For tools that add to a file: `tower-hmac keygen --registry FILE` prints only the
/// `[[apps.keys]]` entry for an app the file already has.
///
/// ```
/// use tower_hmac::registry::RegistryFileOutline;
///
/// let outline = RegistryFileOutline::from_toml_str(
///     "[[apps]]\nid = \"partner\"\n\n[[apps.keys]]\nid = \"partner-1\"\nsecret_env = \"KEY\"\n",
/// )?;
/// assert_eq!(outline.app_line("partner"), Some(2));
/// assert_eq!(outline.app_of_key("partner-1"), Some("partner"));
/// assert_eq!(outline.app_line("other"), None);
/// # Ok::<(), tower_hmac::RegistryFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryFileOutline {
    /// Each app: its id, the line of its `id`, its key ids.
    apps: Vec<OutlineApp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct OutlineApp {
    id: String,
    line: usize,
    keys: Vec<(String, usize)>,
}

impl RegistryFileOutline {
    /// Reads the outline of registry TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, RegistryFileError> {
        Self::of(&parse_raw(text)?, text)
    }

    /// Reads the outline of a registry file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, RegistryFileError> {
        let path = path.as_ref();
        let mut text = std::fs::read_to_string(path).map_err(|source| RegistryFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let outline = Self::from_toml_str(&text);
        text.zeroize();
        outline
    }

    /// The line (1-based) of the `id` of this app's `[[apps]]` block, if the file has the app.
    pub fn app_line(&self, app_id: &str) -> Option<usize> {
        self.apps.iter().find(|a| a.id == app_id).map(|a| a.line)
    }

    /// The app that has this key id, if the file has the key.
    pub fn app_of_key(&self, key_id: &str) -> Option<&str> {
        self.key(key_id).map(|(app, _)| app)
    }

    /// The line (1-based) of this key's `id`, if the file has the key.
    pub fn key_line(&self, key_id: &str) -> Option<usize> {
        self.key(key_id).map(|(_, line)| line)
    }

    /// Whether this app's block is the file's last `[[apps]]` block (an `[[apps.keys]]` entry
    /// appended at the end of the file joins the last block).
    pub fn is_last_app(&self, app_id: &str) -> bool {
        self.apps.last().is_some_and(|a| a.id == app_id)
    }

    fn key(&self, key_id: &str) -> Option<(&str, usize)> {
        self.apps.iter().find_map(|app| {
            app.keys
                .iter()
                .find(|(id, _)| id == key_id)
                .map(|(_, line)| (app.id.as_str(), *line))
        })
    }

    /// The ids of a parsed file, checked (the one place where id errors are found).
    fn of(raw: &RawFile, text: &str) -> Result<Self, RegistryFileError> {
        let mut outline = Self {
            apps: Vec::with_capacity(raw.apps.len()),
        };
        for app in &raw.apps {
            let app_id = app.id.get_ref();
            if !is_valid_key_id(app_id) {
                return Err(RegistryFileError::InvalidId {
                    what: "app",
                    id: app_id.clone(),
                });
            }
            let line = line_of(text, app.id.span().start);
            if let Some(first_line) = outline.app_line(app_id) {
                return Err(RegistryFileError::DuplicateAppId {
                    app: app_id.clone(),
                    first_line,
                    line,
                });
            }
            let mut keys = Vec::with_capacity(app.keys.len());
            for key in &app.keys {
                let key_id = key.id.get_ref();
                if !is_valid_key_id(key_id) {
                    return Err(RegistryFileError::InvalidId {
                        what: "key",
                        id: key_id.clone(),
                    });
                }
                let key_line = line_of(text, key.id.span().start);
                let earlier = outline
                    .key_line(key_id)
                    .or_else(|| keys.iter().find(|(id, _)| id == key_id).map(|(_, l)| *l));
                if let Some(first_line) = earlier {
                    return Err(RegistryFileError::DuplicateKeyId {
                        key: key_id.clone(),
                        first_line,
                        line: key_line,
                    });
                }
                keys.push((key_id.clone(), key_line));
            }
            outline.apps.push(OutlineApp {
                id: app_id.clone(),
                line,
                keys,
            });
        }
        Ok(outline)
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
        key: key.id.get_ref().clone(),
        source,
    };
    let from_env = |var: &String| {
        env(var).ok_or_else(|| RegistryFileError::MissingEnv {
            app: app.to_owned(),
            key: key.id.get_ref().clone(),
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
            key: key.id.get_ref().clone(),
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
                    key: key.id.get_ref().clone(),
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
            .field("id", self.id.get_ref())
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
        let err =
            RegistryFileOutline::from_toml_str("[[apps]]\nid = \"a\"\nsecert = 1\n").unwrap_err();
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
}
