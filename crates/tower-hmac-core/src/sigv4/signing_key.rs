//! The signing key of a scope, derived from the secret access key, and the cache of derived keys.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::SecretKey;

pub(super) type HmacSha256 = Hmac<Sha256>;

pub(super) fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        <HmacSha256 as KeyInit>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable!())
    })
}

fn hmac_once(key: &[u8], data: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = hmac(key);
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The signing key of a scope, `<yyyymmdd>/<region>/<service>/aws4_request`, from the secret
/// access key's text.
pub fn derive_signing_key(secret: &str, scope: &str) -> Zeroizing<[u8; 32]> {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(secret.len() + 4));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let mut key = Zeroizing::new(Vec::clone(&k_secret));
    for part in scope.split('/') {
        let next = hmac_once(&key, part.as_bytes());
        key = Zeroizing::new(next.to_vec());
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&key[..32.min(key.len())]);
    out
}

/// Derived signing keys, per key id and scope, each with the secret it came from (so that a
/// rotated secret never meets a key derived from the old one).
pub(super) struct KeyCache {
    capacity: usize,
    /// Boxed: when the map grows it moves pointers, and each derived key stays where it was
    /// made until it is dropped — wiped, never left behind in the map's freed table.
    entries: Mutex<HashMap<Box<str>, Box<CachedKey>>>,
}

struct CachedKey {
    /// The secret's bytes and whether its text form is itself (rather than its Base64): together,
    /// the text the key was derived from.
    secret: Zeroizing<Vec<u8>>,
    text: bool,
    key: SigningKey,
}

/// A derived signing key and HMAC-SHA256 keyed with it, ready for its message: the key schedule
/// (two SHA-256 blocks) is run once per cached key, not once per signature. Both are wiped on
/// drop.
#[derive(Clone)]
pub(super) struct SigningKey {
    pub(super) bytes: Zeroizing<[u8; 32]>,
    pub(super) keyed: HmacSha256,
}

impl SigningKey {
    pub(super) fn new(bytes: Zeroizing<[u8; 32]>) -> Self {
        let keyed = hmac(&*bytes);
        Self { bytes, keyed }
    }
}

impl KeyCache {
    pub(super) const DEFAULT_CAPACITY: usize = 1024;

    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn signing_key(&self, key_id: &str, scope: &str, key: &SecretKey) -> SigningKey {
        let mut id = String::with_capacity(key_id.len() + scope.len() + 1);
        id.push_str(key_id);
        id.push('/');
        id.push_str(scope);
        if let Ok(entries) = self.entries.lock()
            && let Some(entry) = entries.get(id.as_str())
            && entry.text == key.is_text()
            && bool::from(entry.secret.as_slice().ct_eq(key.expose_secret()))
        {
            return entry.key.clone();
        }
        let derived = SigningKey::new(derive_signing_key(&key.text_form(), scope));
        if self.capacity > 0
            && let Ok(mut entries) = self.entries.lock()
        {
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(
                id.into(),
                Box::new(CachedKey {
                    secret: Zeroizing::new(key.expose_secret().to_vec()),
                    text: key.is_text(),
                    key: derived.clone(),
                }),
            );
        }
        derived
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_keys_derive_as_aws_documents() {
        // AWS's documented example: secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
        // 20120215/us-east-1/iam.
        let key = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215/us-east-1/iam/aws4_request",
        );
        assert_eq!(
            hex::encode(*key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    /// A cached key never moves while the cache grows: its bytes are wiped where they were
    /// written, when the entry is dropped, and no copy is left in a table the map freed.
    #[test]
    fn a_cached_key_stays_where_it_was_made_as_the_cache_grows() {
        let cache = KeyCache::new(KeyCache::DEFAULT_CAPACITY);
        let secret = SecretKey::from_text("secret-0123456789").unwrap();
        let scope = "20150830/us-east-1/service/aws4_request";
        let at = |cache: &KeyCache| {
            let entries = cache.entries.lock().unwrap();
            let entry: &CachedKey = &entries[format!("first/{scope}").as_str()];
            std::ptr::from_ref(&*entry.key.bytes).addr()
        };
        cache.signing_key("first", scope, &secret);
        let before = at(&cache);
        for n in 0..500 {
            cache.signing_key(&format!("k{n}"), scope, &secret);
        }
        assert_eq!(cache.entries.lock().unwrap().len(), 501);
        assert_eq!(at(&cache), before);
    }

    #[test]
    fn a_rotated_secret_never_meets_the_old_derived_key() {
        let cache = KeyCache::new(4);
        let scope = "20150830/us-east-1/service/aws4_request";
        let old = SecretKey::from_text("old-secret-0123456789").unwrap();
        let new = SecretKey::from_text("new-secret-0123456789").unwrap();
        assert_eq!(
            *cache.signing_key("k", scope, &old).bytes,
            *derive_signing_key("old-secret-0123456789", scope)
        );
        assert_eq!(
            *cache.signing_key("k", scope, &new).bytes,
            *derive_signing_key("new-secret-0123456789", scope)
        );
    }
}
