//! The HS256 signing keys: several live at once, one current, each named by its `kid`.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use tower_hmac_core::SecretKey;

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The environment variable is not set.
    #[error("{0} is not set")]
    MissingEnv(String),
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The text is not the Base64 of at least 32 bytes.
    #[error("an HS256 key is the Base64 of 32 to 1024 bytes")]
    Invalid,
    /// A `kid` is empty, too long, or not visible ASCII.
    #[error("a kid is 1 to 64 visible ASCII characters")]
    InvalidKid,
}

/// The keys that sign and verify access tokens. New tokens are signed with the current key;
/// tokens signed with any key still listed verify — add the next key, make it current, remove the
/// old one after the access token lifetime.
///
/// The secrets are [`SecretKey`]s (zeroized on drop, never printed), the only copies: tokens are
/// MACed with them directly, not through copies the JWT crate would keep.
pub struct SigningKeys {
    current: String,
    keys: HashMap<String, SecretKey>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("SigningKeys")
            .field("current", &self.current)
            .field("kids", &kids)
            .finish()
    }
}

fn valid_kid(kid: &str) -> bool {
    (1..=64).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_graphic())
}

impl SigningKeys {
    /// One key, current, named `kid`.
    pub fn new(kid: &str, secret: SecretKey) -> Result<Self, KeyError> {
        let mut keys = Self {
            current: kid.to_owned(),
            keys: HashMap::new(),
        };
        keys.insert(kid, secret)?;
        Ok(keys)
    }

    /// Also verifies tokens signed with `secret` under `kid` (a previous key during rotation).
    pub fn with_key(mut self, kid: &str, secret: SecretKey) -> Result<Self, KeyError> {
        self.insert(kid, secret)?;
        Ok(self)
    }

    /// A current key from the Base64 in the environment variable `var`.
    pub fn from_env(kid: &str, var: &str) -> Result<Self, KeyError> {
        let text = std::env::var(var).map_err(|_| KeyError::MissingEnv(var.to_owned()))?;
        let secret = SecretKey::from_base64(&text).map_err(|_| KeyError::Invalid)?;
        Self::new(kid, secret)
    }

    /// A current key from the Base64 in a file.
    pub fn from_file(kid: &str, path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text =
            zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| KeyError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?);
        let secret = SecretKey::from_base64(&text).map_err(|_| KeyError::Invalid)?;
        Self::new(kid, secret)
    }

    /// A random current key (a process that issues and verifies its own tokens, like the demo).
    pub fn generate(kid: &str) -> Result<Self, KeyError> {
        Self::new(kid, SecretKey::generate().map_err(|_| KeyError::Invalid)?)
    }

    fn insert(&mut self, kid: &str, secret: SecretKey) -> Result<(), KeyError> {
        if !valid_kid(kid) {
            return Err(KeyError::InvalidKid);
        }
        self.keys.insert(kid.to_owned(), secret);
        Ok(())
    }

    pub(crate) fn current(&self) -> (&str, &SecretKey) {
        // The current kid is always one of the keys: `new` inserts it, nothing removes it.
        (&self.current, &self.keys[&self.current])
    }

    pub(crate) fn decoding(&self, kid: &str) -> Option<&SecretKey> {
        self.keys.get(kid)
    }
}
