//! Master keys: AES-256-GCM, the key id as associated data.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::PostgresError;

/// An AES-256-GCM master key, and its id (stored with each row it encrypts).
#[derive(Clone)]
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
    id: String,
}

impl MasterKey {
    /// A master key from 32 bytes as standard Base64 (surrounding white space ignored).
    pub fn from_base64(text: &str) -> Result<Self, PostgresError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim_ascii())
                .map_err(|_| PostgresError::MasterKey("not standard Base64".into()))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| PostgresError::MasterKey(format!("{} bytes, expected 32", bytes.len())))?;
        let mut id = Sha256::new();
        id.update(b"tower-hmac master key id\0");
        id.update(key);
        Ok(Self {
            key: Zeroizing::new(key),
            id: hex::encode(&id.finalize()[..8]),
        })
    }

    /// A new random master key.
    pub fn generate() -> Result<Self, PostgresError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|e| PostgresError::MasterKey(e.to_string()))?;
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

    /// Encrypts a secret for `key_id` (the associated data): a fresh nonce and the ciphertext.
    pub(crate) fn encrypt(
        &self,
        key_id: &str,
        secret: &[u8],
    ) -> Result<([u8; 12], Vec<u8>), PostgresError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| PostgresError::MasterKey(e.to_string()))?;
        let ciphertext = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: key_id.as_bytes(),
                },
            )
            .map_err(|_| PostgresError::Decrypt {
                key_id: key_id.to_owned(),
            })?;
        Ok((nonce, ciphertext))
    }

    pub(crate) fn decrypt(
        &self,
        key_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PostgresError> {
        let failed = || PostgresError::Decrypt {
            key_id: key_id.to_owned(),
        };
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| failed())?;
        self.cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: key_id.as_bytes(),
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
    pub fn from_env(var: &str) -> Result<Self, PostgresError> {
        let text = Zeroizing::new(
            std::env::var(var)
                .map_err(|_| PostgresError::MasterKey(format!("{var} is not set")))?,
        );
        Ok(Self::new(MasterKey::from_base64(&text)?))
    }

    /// The master key in a file (standard Base64).
    pub fn from_file(path: &std::path::Path) -> Result<Self, PostgresError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| PostgresError::MasterKey(format!("{}: {e}", path.display())))?,
        );
        Ok(Self::new(MasterKey::from_base64(&text)?))
    }

    /// The master key that encrypts.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }
}
