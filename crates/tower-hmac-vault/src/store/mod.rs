//! Where sealed records live: [`VaultStore`], the in-process [`MemoryVaultStore`], and (features
//! `redis`, `postgres`) the network stores. A store sees only [`SealedRecord`]s: the user's keyed
//! hash, the upstream's name, the master key's id, the nonce, the ciphertext, the expiry and a
//! version — never a token or a user id.

use std::time::Duration;

use async_trait::async_trait;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

pub use memory::MemoryVaultStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresVaultStore;
#[cfg(feature = "redis")]
pub use redis::RedisVaultStore;

use crate::UserHash;

/// A record whose access token expires soon, as [`VaultStore::expiring`] lists it: ordered by
/// when it expires, then by user hash, then by upstream (as bytes) — the order `Ord` gives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expiring {
    /// When its access token expires, Unix seconds.
    pub expires_at: u64,
    /// Whose it is.
    pub user: UserHash,
    /// For which upstream.
    pub upstream: String,
}

/// How long a network store waits for one operation before it fails: 500 ms.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// A network store's operation took longer than its timeout.
#[cfg(any(feature = "redis", feature = "postgres"))]
#[derive(Debug, thiserror::Error)]
#[error("no answer within {0:?}")]
struct TimedOut(Duration);

/// Runs a network store's operation for at most `timeout`: past it, an error, never a hang.
#[cfg(any(feature = "redis", feature = "postgres"))]
async fn bounded<T>(
    timeout: Duration,
    operation: impl std::future::Future<Output = Result<T, VaultStoreError>>,
) -> Result<T, VaultStoreError> {
    tokio::time::timeout(timeout, operation)
        .await
        .unwrap_or_else(|_| Err(VaultStoreError::new(TimedOut(timeout))))
}

/// One user's tokens for one upstream, sealed (AES-256-GCM under the keyring's master key
/// `master_key`, with the user's hash and the upstream as associated data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// The user's keyed hash (64 hex digits).
    pub user: UserHash,
    /// The upstream's name.
    pub upstream: String,
    /// The id of the master key that sealed it.
    pub master_key: String,
    /// The AES-GCM nonce.
    pub nonce: [u8; 12],
    /// The ciphertext and its tag.
    pub ciphertext: Vec<u8>,
    /// When the access token expires, Unix seconds (in clear: the background refresher's
    /// schedule).
    pub expires_at: u64,
    /// Starts at 1; every write adds 1 (compare-and-set, [`VaultStore::put`]).
    pub version: u64,
}

/// A store failed; the backend's error is its `source()` (never a token: a store holds none).
#[derive(Debug, thiserror::Error)]
#[error("vault store: {source}")]
pub struct VaultStoreError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl VaultStoreError {
    /// A failure of the backend.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }

    /// Why a store refused to start on its configuration, when that is the failure (not a
    /// backend that could not be reached).
    pub fn refused(&self) -> Option<&StoreRefused> {
        self.source.downcast_ref()
    }
}

/// A store refused to start: its configuration (or its backend's) would break the vault's
/// guarantees. The source of the [`VaultStoreError`] ([`VaultStoreError::refused`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreRefused {
    /// Redis may evict keys under memory pressure (`maxmemory-policy` is not `noeviction`): an
    /// evicted record loses a user's tokens, an evicted index entry hides a record from the
    /// refresher and from a master key rotation's re-encryption.
    #[error(
        "Redis maxmemory-policy is {policy:?}, which can evict the vault's records and index \
         entries (an evicted index entry escapes re-encryption); set `maxmemory-policy \
         noeviction` on this Redis, or use one of its own"
    )]
    EvictingPolicy {
        /// The policy found.
        policy: String,
    },
    /// A PostgreSQL schema name that is not plain: lower-case letters, digits and `_` only, not
    /// starting with a digit, at most 63 bytes.
    #[error(
        "schema {schema:?}: lower-case letters, digits and _ only, not starting with a digit, at \
         most 63 bytes"
    )]
    InvalidSchema {
        /// The name given.
        schema: String,
    },
}

/// Sealed records by (user hash, upstream), with compare-and-set writes.
///
/// Every store passes `conformance::run` (feature `conformance`).
#[async_trait]
pub trait VaultStore: Send + Sync + 'static {
    /// The record of `user` for `upstream`, if any.
    async fn get(
        &self,
        user: &UserHash,
        upstream: &str,
    ) -> Result<Option<SealedRecord>, VaultStoreError>;

    /// Writes `record` if the stored record's version is `expected` (`None`: there is no
    /// record), atomically; `false` (nothing written) when it is not. `record.version` is the
    /// version written: `expected + 1`, or 1.
    async fn put(
        &self,
        record: &SealedRecord,
        expected: Option<u64>,
    ) -> Result<bool, VaultStoreError>;

    /// Deletes the record of `user` for `upstream`; whether there was one.
    async fn delete(&self, user: &UserHash, upstream: &str) -> Result<bool, VaultStoreError>;

    /// Deletes every record of `user`; how many.
    async fn delete_user(&self, user: &UserHash) -> Result<usize, VaultStoreError>;

    /// At most `limit` records whose `expires_at` is before `before`, in [`Expiring`]'s order
    /// (soonest first), from the first one after `after` (from the very first when `None`): a
    /// caller pages through them, so that records it cannot act on never hide the rest.
    async fn expiring(
        &self,
        before: u64,
        after: Option<&Expiring>,
        limit: usize,
    ) -> Result<Vec<Expiring>, VaultStoreError>;

    /// At most `limit` records sealed under another master key than `current` (re-encrypted by
    /// a master key rotation): (user, upstream).
    async fn sealed_under_other(
        &self,
        current: &str,
        limit: usize,
    ) -> Result<Vec<(UserHash, String)>, VaultStoreError>;

    /// Checks that the backend answers (start-up and health checks).
    async fn ping(&self) -> Result<(), VaultStoreError> {
        Ok(())
    }
}
