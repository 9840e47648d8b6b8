//! The error type.

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The database refused or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The migrations could not be applied.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A master key is not 32 bytes of standard Base64, or could not be read.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A row is encrypted under a master key this instance does not have.
    #[error(
        "key {key_id:?} is encrypted under master key {master:?}, which this instance does not have"
    )]
    UnknownMasterKey {
        /// The key id.
        key_id: String,
        /// The master key's id.
        master: String,
    },
    /// A row does not decrypt: a wrong master key, or a ciphertext moved from another row.
    #[error(
        "key {key_id:?} does not decrypt with its master key (tampered, or moved from another row)"
    )]
    Decrypt {
        /// The key id.
        key_id: String,
    },
    /// A stored value is not valid (a secret's length, a state, an id).
    #[error("key {key_id:?}: {message}")]
    Invalid {
        /// The key id.
        key_id: String,
        /// What is wrong.
        message: String,
    },
    /// No such key.
    #[error("no key {0:?}")]
    NoSuchKey(String),
}

impl From<tower_hmac_core::keyring::KeyringError> for PostgresError {
    /// A master key that could not be read or made; a ciphertext's failure is mapped where its
    /// row's key id is known ([`PostgresError::Decrypt`]).
    fn from(error: tower_hmac_core::keyring::KeyringError) -> Self {
        Self::MasterKey(error.to_string())
    }
}
