//! The key registry: who holds which key.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::future::StoreFuture;
use crate::key::SecretKey;
use crate::rejection::RejectionKind;

/// Whether `scope` is a valid scope: 1 to 128 visible ASCII characters, without `"` and `\`
/// (a scope is quoted in `WWW-Authenticate`).
pub fn is_valid_scope(scope: &str) -> bool {
    (1..=128).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

/// Whether a key may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyState {
    /// The key verifies requests.
    Active,
    /// The key is known but refused (`revoked_key`).
    Revoked,
}

/// What the registry knows of one key id: the application it belongs to, its secret and state.
///
/// Cheap to clone: one shared allocation (a registry's lookup hands out a copy per request for
/// the price of one reference count).
#[derive(Clone)]
pub struct KeyRecord {
    inner: Arc<Record>,
}

#[derive(Clone)]
struct Record {
    app_id: Arc<str>,
    secret: Arc<SecretKey>,
    state: KeyState,
    /// The scheme ids the key may be used with; `None`: every enabled scheme.
    schemes: Option<Arc<[Box<str>]>>,
    not_before: Option<SystemTime>,
    not_after: Option<SystemTime>,
    /// What the key's app may call (the key's own list, or its app's); `None`: nothing.
    scopes: Option<Arc<[Box<str>]>>,
    /// The key's own id, shared into each authenticated identity (no copy per request).
    key_id: Option<Arc<str>>,
}

impl KeyRecord {
    /// An active key of `app_id`.
    pub fn new(app_id: impl Into<Arc<str>>, secret: impl Into<Arc<SecretKey>>) -> Self {
        Self {
            inner: Arc::new(Record {
                app_id: app_id.into(),
                secret: secret.into(),
                state: KeyState::Active,
                schemes: None,
                not_before: None,
                not_after: None,
                scopes: None,
                key_id: None,
            }),
        }
    }

    /// The record to change (a copy of it when it is shared: the builders run before the
    /// record is filed, so this copies nothing in practice).
    fn edit(&mut self) -> &mut Record {
        Arc::make_mut(&mut self.inner)
    }

    /// With the key's id, as the registry files it: the layer then shares it into each
    /// authenticated identity instead of copying the request's. Registries set it; a record
    /// without it works the same, with one small allocation per accepted request.
    pub fn with_key_id(mut self, key_id: impl Into<Arc<str>>) -> Self {
        self.edit().key_id = Some(key_id.into());
        self
    }

    /// The key's id, shared, when the registry set it ([`with_key_id`](Self::with_key_id)).
    pub fn key_id_arc(&self) -> Option<&Arc<str>> {
        self.inner.key_id.as_ref()
    }

    /// With the scopes the key grants (what its app may call): checked by a route that requires
    /// one (`RequireScope`), `403 insufficient_scope` otherwise.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        let scopes: Arc<[Box<str>]> = scopes.into_iter().map(Into::into).collect();
        self.edit().scopes = (!scopes.is_empty()).then_some(scopes);
        self
    }

    /// The scopes the key grants (empty: none).
    pub fn scopes(&self) -> &[Box<str>] {
        self.inner.scopes.as_deref().unwrap_or_default()
    }

    /// The scopes, shared (for the authenticated identity); `None` when there are none.
    pub fn scopes_arc(&self) -> Option<&Arc<[Box<str>]>> {
        self.inner.scopes.as_ref()
    }

    /// With a validity interval (scheduled rotation): the key is refused before `not_before`
    /// (`key_not_yet_valid`) and after `not_after` (`key_expired`), on the layer's clock. Either
    /// end may be open.
    pub fn with_validity(
        mut self,
        not_before: Option<SystemTime>,
        not_after: Option<SystemTime>,
    ) -> Self {
        self.edit().not_before = not_before;
        self.edit().not_after = not_after;
        self
    }

    /// The start of the key's validity, if it has one.
    pub fn not_before(&self) -> Option<SystemTime> {
        self.inner.not_before
    }

    /// The end of the key's validity, if it has one.
    pub fn not_after(&self) -> Option<SystemTime> {
        self.inner.not_after
    }

    /// Whether the key may sign at `now`: `Ok`, or why not (`key_not_yet_valid`, `key_expired`).
    /// Both ends are inclusive.
    pub fn validity_at(&self, now: SystemTime) -> Result<(), RejectionKind> {
        if self.inner.not_before.is_some_and(|start| now < start) {
            return Err(RejectionKind::KeyNotYetValid);
        }
        if self.inner.not_after.is_some_and(|end| now > end) {
            return Err(RejectionKind::KeyExpired);
        }
        Ok(())
    }

    /// Limited to these schemes (their ids: `v1`, `sigv4`, …): a request signed with this key
    /// through any other scheme is refused as the key were unknown. For example, a key issued for
    /// request signing kept away from a weaker token scheme.
    pub fn with_schemes<I, S>(mut self, schemes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        self.edit().schemes = Some(schemes.into_iter().map(Into::into).collect());
        self
    }

    /// Whether the key may be used with the scheme of this id.
    pub fn allows_scheme(&self, id: &str) -> bool {
        self.inner
            .schemes
            .as_deref()
            .is_none_or(|list| list.iter().any(|s| &**s == id))
    }

    /// The schemes the key is limited to, if any.
    pub fn schemes(&self) -> Option<&[Box<str>]> {
        self.inner.schemes.as_deref()
    }

    /// With another state.
    pub fn with_state(mut self, state: KeyState) -> Self {
        self.edit().state = state;
        self
    }

    /// The application the key belongs to.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The application id, shared.
    pub fn app_id_arc(&self) -> &Arc<str> {
        &self.inner.app_id
    }

    /// The secret.
    pub fn secret(&self) -> &SecretKey {
        &self.inner.secret
    }

    /// The key's state.
    pub fn state(&self) -> KeyState {
        self.inner.state
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("app_id", &self.inner.app_id)
            .field("secret", &self.inner.secret)
            .field("state", &self.inner.state)
            .field("schemes", &self.inner.schemes)
            .field("not_before", &self.inner.not_before)
            .field("not_after", &self.inner.not_after)
            .field("scopes", &self.inner.scopes)
            .finish()
    }
}

/// Looks up keys by key id.
///
/// `lookup` returns [`StoreFuture::ready`] when the answer is in memory and [`StoreFuture::new`]
/// when it needs I/O; the future must own what it uses (`'static`).
pub trait KeyRegistry: Send + Sync + 'static {
    /// The record for `key_id`, `Ok(None)` when there is none, or an error when the registry
    /// cannot answer (the request is then refused with `503 key_store_unavailable`).
    fn lookup(&self, key_id: &str) -> StoreFuture<Result<Option<KeyRecord>, RegistryError>>;
}

impl<T: KeyRegistry + ?Sized> KeyRegistry for Arc<T> {
    fn lookup(&self, key_id: &str) -> StoreFuture<Result<Option<KeyRecord>, RegistryError>> {
        (**self).lookup(key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_may_be_limited_to_some_schemes() {
        let key = SecretKey::from_bytes(&[1; 32]).unwrap();
        let open = KeyRecord::new("a", key.clone());
        assert!(open.allows_scheme("v1") && open.allows_scheme("token"));
        let limited = KeyRecord::new("a", key).with_schemes(["v1", "sigv4"]);
        assert!(limited.allows_scheme("v1") && limited.allows_scheme("sigv4"));
        assert!(!limited.allows_scheme("token"));
    }

    #[test]
    fn a_key_may_have_a_validity_interval() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let key = SecretKey::from_bytes(&[1; 32]).unwrap();
        let record = KeyRecord::new("a", key).with_validity(Some(at(100)), Some(at(200)));
        assert_eq!(
            record.validity_at(at(99)),
            Err(RejectionKind::KeyNotYetValid)
        );
        assert_eq!(record.validity_at(at(100)), Ok(()));
        assert_eq!(record.validity_at(at(200)), Ok(()));
        assert_eq!(record.validity_at(at(201)), Err(RejectionKind::KeyExpired));
        let open = record.with_validity(None, Some(at(200)));
        assert_eq!(open.validity_at(at(0)), Ok(()));
    }
}

/// A registry could not answer.
#[derive(Debug, thiserror::Error)]
#[error("key registry unavailable")]
pub struct RegistryError {
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl RegistryError {
    /// A failure caused by `source`.
    pub fn new(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            source: Some(source.into()),
        }
    }

    /// A failure with no further cause.
    pub fn unavailable() -> Self {
        Self { source: None }
    }
}
