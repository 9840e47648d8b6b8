//! Master keys (feature `keyring`): AES-256-GCM encryption at rest with several keys, one
//! current. The PostgreSQL key registry (`tower-hmac-postgres`) encrypts its secrets under a
//! [`Keyring`], and the token vault (`tower-hmac-vault`) its delegated tokens under the same one.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// A master key that could not be read, or a ciphertext that does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// The master key is missing or malformed, or no randomness was available.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A ciphertext did not open under its master key with its associated data (altered, moved
    /// to another row, or sealed under another key with the same id).
    #[error("a ciphertext did not open under master key {master:?}")]
    Decrypt {
        /// The master key's id.
        master: String,
    },
    /// A ciphertext names a master key this keyring does not have.
    #[error("sealed under master key {master:?}, which this keyring does not have")]
    UnknownMasterKey {
        /// The master key's id.
        master: String,
    },
}

/// An AES-256-GCM master key, and its id (stored with each row it encrypts).
#[derive(Clone)]
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
    id: String,
}

impl MasterKey {
    /// A master key from 32 bytes as standard Base64 (surrounding white space ignored).
    pub fn from_base64(text: &str) -> Result<Self, KeyringError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim_ascii())
                .map_err(|_| KeyringError::MasterKey("not standard Base64".into()))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyringError::MasterKey(format!("{} bytes, expected 32", bytes.len())))?;
        let mut id = Sha256::new();
        id.update(b"tower-hmac master key id\0");
        id.update(key);
        Ok(Self {
            key: Zeroizing::new(key),
            id: hex::encode(&id.finalize()[..8]),
        })
    }

    /// A new random master key.
    pub fn generate() -> Result<Self, KeyringError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|e| KeyringError::MasterKey(e.to_string()))?;
        Self::from_base64(&STANDARD.encode(key.as_ref()))
    }

    /// The key as standard Base64 (to store it; zeroized on drop).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.key.as_ref()))
    }

    /// The id stored with each row it encrypts (a digest of the key, not the key).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        // 32 bytes is AES-256's key length: cannot fail.
        <Aes256Gcm as KeyInit>::new_from_slice(self.key.as_ref())
            .unwrap_or_else(|_| unreachable!("a 32-byte key"))
    }

    /// Encrypts `plaintext` with `aad` as associated data (what the ciphertext belongs to: a row's
    /// key id, a vault record's owner): a fresh random nonce and the ciphertext with its tag. The
    /// same `aad` is needed to open it, so a ciphertext moved to another row does not open.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<([u8; 12], Vec<u8>), KeyringError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| KeyringError::MasterKey(e.to_string()))?;
        let ciphertext = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| KeyringError::Decrypt {
                master: self.id.clone(),
            })?;
        Ok((nonce, ciphertext))
    }

    /// Decrypts what [`seal`](Self::seal) made with the same `aad`; the plaintext is wiped when
    /// dropped.
    pub fn open(
        &self,
        aad: &[u8],
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
        let failed = || KeyringError::Decrypt {
            master: self.id.clone(),
        };
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| failed())?;
        self.cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| failed())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The master keys of an instance: the current one encrypts; the previous ones (during a
/// master-key rotation) only decrypt.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring of one master key.
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Also decrypts rows under `previous` (while they are re-encrypted).
    pub fn with_previous(mut self, previous: MasterKey) -> Self {
        self.previous.push(previous);
        self
    }

    /// The master key in the environment variable `var` (standard Base64).
    pub fn from_env(var: &str) -> Result<Self, KeyringError> {
        let text = Zeroizing::new(
            std::env::var(var).map_err(|_| KeyringError::MasterKey(format!("{var} is not set")))?,
        );
        Ok(Self::new(MasterKey::from_base64(&text)?))
    }

    /// The master key in a file (standard Base64).
    pub fn from_file(path: &std::path::Path) -> Result<Self, KeyringError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| KeyringError::MasterKey(format!("{}: {e}", path.display())))?,
        );
        Ok(Self::new(MasterKey::from_base64(&text)?))
    }

    /// The master key that encrypts.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The master key with this id (the current one or a previous one).
    pub fn by_id(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }

    /// The master key with this id, or [`KeyringError::UnknownMasterKey`].
    pub fn get(&self, id: &str) -> Result<&MasterKey, KeyringError> {
        self.by_id(id)
            .ok_or_else(|| KeyringError::UnknownMasterKey {
                master: id.to_owned(),
            })
    }

    /// Whether `id` is the current master key's (a row under another one is re-encrypted by a
    /// rotation).
    pub fn is_current(&self, id: &str) -> bool {
        self.current.id == id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn sealed_text_opens_only_with_its_key_and_associated_data() {
        let key = MasterKey::from_base64(KEY).unwrap();
        let (nonce, ciphertext) = key.seal(b"row-1", b"secret").unwrap();
        assert_eq!(
            &key.open(b"row-1", &nonce, &ciphertext).unwrap()[..],
            b"secret"
        );
        assert!(matches!(
            key.open(b"row-2", &nonce, &ciphertext),
            Err(KeyringError::Decrypt { .. })
        ));
        let other = MasterKey::generate().unwrap();
        assert!(other.open(b"row-1", &nonce, &ciphertext).is_err());
        let ring = Keyring::new(other.clone()).with_previous(key.clone());
        assert!(ring.is_current(other.id()) && !ring.is_current(key.id()));
        assert_eq!(ring.get(key.id()).unwrap().id(), key.id());
        assert!(matches!(
            Keyring::new(other).get(key.id()),
            Err(KeyringError::UnknownMasterKey { .. })
        ));
        assert!(!format!("{key:?}").contains(KEY));
    }
}
