//! Why a registry file could not be loaded.

use std::path::PathBuf;

use tower_hmac_core::KeyError;

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
