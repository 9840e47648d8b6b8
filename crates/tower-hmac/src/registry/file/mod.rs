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

mod error;
mod outline;
mod raw;
mod secret;
#[cfg(test)]
mod tests;

use std::path::Path;

use tower_hmac_core::{KeyRecord, KeyState, is_valid_key_id, is_valid_scope};
use zeroize::Zeroize as _;

pub use self::error::RegistryFileError;
pub use self::outline::RegistryFileOutline;
use self::raw::{RawTime, parse_raw};
use self::secret::{Env, load_secret, process_env};
use super::memory::InMemoryRegistry;

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
