//! The in-process store: one map behind a mutex (for one instance, and for tests).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{Expiring, SealedRecord, VaultStore, VaultStoreError};
use crate::UserHash;

/// Sealed records in this process: lost on restart, not shared between instances.
#[derive(Debug, Default)]
pub struct MemoryVaultStore {
    records: Mutex<BTreeMap<(UserHash, String), SealedRecord>>,
}

impl MemoryVaultStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<(UserHash, String), SealedRecord>> {
        // A panic while holding the lock cannot leave a half-written record: every change is
        // one insert or remove.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl VaultStore for MemoryVaultStore {
    async fn get(
        &self,
        user: &UserHash,
        upstream: &str,
    ) -> Result<Option<SealedRecord>, VaultStoreError> {
        Ok(self
            .lock()
            .get(&(user.clone(), upstream.to_owned()))
            .cloned())
    }

    async fn put(
        &self,
        record: &SealedRecord,
        expected: Option<u64>,
    ) -> Result<bool, VaultStoreError> {
        let mut records = self.lock();
        let key = (record.user.clone(), record.upstream.clone());
        if records.get(&key).map(|r| r.version) != expected {
            return Ok(false);
        }
        records.insert(key, record.clone());
        Ok(true)
    }

    async fn delete(&self, user: &UserHash, upstream: &str) -> Result<bool, VaultStoreError> {
        Ok(self
            .lock()
            .remove(&(user.clone(), upstream.to_owned()))
            .is_some())
    }

    async fn delete_user(&self, user: &UserHash) -> Result<usize, VaultStoreError> {
        let mut records = self.lock();
        let before = records.len();
        records.retain(|(owner, _), _| owner != user);
        Ok(before - records.len())
    }

    async fn expiring(
        &self,
        before: u64,
        after: Option<&Expiring>,
        limit: usize,
    ) -> Result<Vec<Expiring>, VaultStoreError> {
        let records = self.lock();
        let mut due: Vec<Expiring> = records
            .values()
            .filter(|r| r.expires_at < before)
            .map(|r| Expiring {
                expires_at: r.expires_at,
                user: r.user.clone(),
                upstream: r.upstream.clone(),
            })
            .filter(|e| after.is_none_or(|after| e > after))
            .collect();
        due.sort_unstable();
        due.truncate(limit);
        Ok(due)
    }

    async fn sealed_under_other(
        &self,
        current: &str,
        limit: usize,
    ) -> Result<Vec<(UserHash, String)>, VaultStoreError> {
        Ok(self
            .lock()
            .values()
            .filter(|r| r.master_key != current)
            .take(limit)
            .map(|r| (r.user.clone(), r.upstream.clone()))
            .collect())
    }
}
