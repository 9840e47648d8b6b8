use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use tower_hmac_core::{KeyRecord, KeyRegistry, KeyState, RegistryError, SecretKey, StoreFuture};

/// A registry held in memory, changeable at run time (add, revoke, remove keys).
///
/// Each key id belongs to one application; an application may have several live keys, so a new
/// key can be rolled out before the old one is revoked.
///
/// ```
/// use tower_hmac::InMemoryRegistry;
/// use tower_hmac::SecretKey;
///
/// let registry = InMemoryRegistry::new();
/// registry.insert("backoffice-2026-11", "backoffice", SecretKey::generate().unwrap());
/// registry.insert("backoffice-2026-05", "backoffice", SecretKey::generate().unwrap());
/// registry.revoke("backoffice-2026-05");
/// ```
#[derive(Clone, Default)]
pub struct InMemoryRegistry {
    keys: Arc<RwLock<HashMap<Box<str>, KeyRecord>>>,
}

impl InMemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an active key `key_id` of application `app_id`.
    pub fn insert(
        &self,
        key_id: impl Into<Box<str>>,
        app_id: impl Into<Arc<str>>,
        secret: SecretKey,
    ) {
        self.insert_record(key_id, KeyRecord::new(app_id, secret));
    }

    /// Adds or replaces a key record.
    pub fn insert_record(&self, key_id: impl Into<Box<str>>, record: KeyRecord) {
        let key_id: Box<str> = key_id.into();
        let record = record.with_key_id(&*key_id);
        self.write().insert(key_id, record);
    }

    /// Marks a key revoked (`revoked_key` from now on); `false` when there is no such key.
    pub fn revoke(&self, key_id: &str) -> bool {
        let mut keys = self.write();
        match keys.get_mut(key_id) {
            Some(record) => {
                *record = record.clone().with_state(KeyState::Revoked);
                true
            }
            None => false,
        }
    }

    /// Removes a key (`unknown_key` from now on); `false` when there was none.
    pub fn remove(&self, key_id: &str) -> bool {
        self.write().remove(key_id).is_some()
    }

    /// How many keys are registered (revoked ones included).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no key is registered.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The record of `key_id`.
    pub fn get(&self, key_id: &str) -> Option<KeyRecord> {
        self.read().get(key_id).cloned()
    }

    /// A copy of every record (the records share their secrets).
    #[cfg(feature = "watch")]
    pub(crate) fn snapshot(&self) -> HashMap<Box<str>, KeyRecord> {
        self.read().clone()
    }

    /// Puts `keys` in force in one step (a lookup sees the old keys or the new ones, never a
    /// mix); returns the old ones.
    #[cfg(feature = "watch")]
    pub(crate) fn replace_all(
        &self,
        keys: HashMap<Box<str>, KeyRecord>,
    ) -> HashMap<Box<str>, KeyRecord> {
        std::mem::replace(&mut *self.write(), keys)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, KeyRecord>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Box<str>, KeyRecord>> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KeyRegistry for InMemoryRegistry {
    fn lookup(&self, key_id: &str) -> StoreFuture<Result<Option<KeyRecord>, RegistryError>> {
        StoreFuture::ready(Ok(self.get(key_id)))
    }
}

impl fmt::Debug for InMemoryRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.read();
        let mut ids: Vec<_> = keys.keys().map(|k| &**k).collect();
        ids.sort_unstable();
        f.debug_struct("InMemoryRegistry")
            .field("key_ids", &ids)
            .finish()
    }
}
