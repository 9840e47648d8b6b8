//! The type erasure of [`Scheme`], here and nowhere else: a set holds protocol v1 as itself (its
//! requests box nothing) and any other scheme behind [`DynScheme`], whose credentials and state
//! are boxed once each per request. The verification path is written once, for [`Entry`].

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use tower_hmac_core::{
    Authorization, Credentials, Freshness, Locator, Rejection, RejectionKind, Scheme, SecretKey,
    V1, V1Pending, Verified,
};

/// One scheme of a set. Protocol v1 is held as itself, so that its requests pay for no boxing;
/// any other scheme behind [`DynScheme`].
#[derive(Clone)]
pub(crate) enum Entry {
    V1(V1),
    Dyn(Arc<dyn DynScheme>),
}

impl Entry {
    pub(super) fn of<S: Scheme>(scheme: S) -> Self {
        // A `V1` given by value is held as itself.
        match (&scheme as &dyn Any).downcast_ref::<V1>() {
            Some(v1) => Self::V1(*v1),
            None => Self::Dyn(Arc::new(scheme)),
        }
    }
}

/// A scheme's credentials, whatever the scheme.
pub(crate) enum AnyCredentials {
    V1(Authorization),
    Dyn(Box<dyn DynCredentials>),
}

/// A scheme's state between the head and the end of the body, whatever the scheme.
pub(crate) enum AnyPending {
    V1(V1Pending),
    Dyn(Box<dyn Any + Send>),
}

impl AnyPending {
    /// For a body its scheme verifies chunk by chunk (SigV4's `aws-chunked` uploads): bounds
    /// each chunk to `max` bytes and says so; `false` for any other body.
    pub(crate) fn limit_chunks(&mut self, max: u64) -> bool {
        match self {
            Self::V1(_) => false,
            #[cfg(feature = "sigv4")]
            Self::Dyn(pending) => pending
                .downcast_mut::<tower_hmac_core::sigv4::SigV4Pending>()
                .is_some_and(|sigv4| sigv4.limit_chunks(max)),
            #[cfg(not(feature = "sigv4"))]
            Self::Dyn(_) => {
                let _ = max;
                false
            }
        }
    }
}

/// Credentials that can be told apart again by their scheme.
pub(crate) trait DynCredentials: Credentials {
    fn as_any(&self) -> &dyn Any;
}

impl<C: Credentials> DynCredentials for C {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// [`Scheme`] with its associated types erased: what a set holds of a scheme other than v1.
pub(crate) trait DynScheme: Send + Sync + 'static {
    fn id(&self) -> &'static str;
    fn name(&self) -> &'static str;
    fn locator(&self) -> &Locator;
    fn max_skew(&self) -> Option<Duration>;
    fn parse(&self, parts: &Parts, max: usize) -> Result<Box<dyn DynCredentials>, Rejection>;
    fn prepare(
        &self,
        creds: &dyn DynCredentials,
        parts: &Parts,
        key: &SecretKey,
    ) -> Result<Box<dyn Any + Send>, Rejection>;
    fn update(&self, pending: &mut (dyn Any + Send), chunk: &[u8]);
    fn decode(
        &self,
        pending: &mut (dyn Any + Send),
        chunk: Bytes,
        out: &mut dyn FnMut(Bytes),
    ) -> Result<(), Rejection>;
    fn accepted(&self, creds: &dyn DynCredentials, parts: &mut Parts);
    fn verify(
        &self,
        creds: &dyn DynCredentials,
        pending: Box<dyn Any + Send>,
        key: &SecretKey,
    ) -> Result<Verified, Rejection>;
    fn time_mac(&self, key: &SecretKey, ts: u64, nonce: &str) -> [u8; 32];
}

/// A state handed to the wrong scheme: unreachable (each request's state comes from the scheme
/// that verifies it), and refused rather than trusted.
fn mismatch() -> Rejection {
    Rejection::new(RejectionKind::InvalidSignature)
}

impl<S: Scheme> DynScheme for S {
    fn id(&self) -> &'static str {
        Scheme::id(self)
    }

    fn name(&self) -> &'static str {
        Scheme::name(self)
    }

    fn locator(&self) -> &Locator {
        Scheme::locator(self)
    }

    fn max_skew(&self) -> Option<Duration> {
        Scheme::max_skew(self)
    }

    fn parse(&self, parts: &Parts, max: usize) -> Result<Box<dyn DynCredentials>, Rejection> {
        Ok(Box::new(Scheme::parse(self, parts, max)?))
    }

    fn prepare(
        &self,
        creds: &dyn DynCredentials,
        parts: &Parts,
        key: &SecretKey,
    ) -> Result<Box<dyn Any + Send>, Rejection> {
        let creds = creds.as_any().downcast_ref().ok_or_else(mismatch)?;
        Ok(Box::new(Scheme::prepare(self, creds, parts, key)?))
    }

    fn update(&self, pending: &mut (dyn Any + Send), chunk: &[u8]) {
        if let Some(pending) = pending.downcast_mut() {
            Scheme::update(self, pending, chunk);
        }
    }

    fn decode(
        &self,
        pending: &mut (dyn Any + Send),
        chunk: Bytes,
        out: &mut dyn FnMut(Bytes),
    ) -> Result<(), Rejection> {
        let pending = pending.downcast_mut().ok_or_else(mismatch)?;
        Scheme::decode(self, pending, chunk, out)
    }

    fn accepted(&self, creds: &dyn DynCredentials, parts: &mut Parts) {
        if let Some(creds) = creds.as_any().downcast_ref() {
            Scheme::accepted(self, creds, parts);
        }
    }

    fn verify(
        &self,
        creds: &dyn DynCredentials,
        pending: Box<dyn Any + Send>,
        key: &SecretKey,
    ) -> Result<Verified, Rejection> {
        let creds = creds.as_any().downcast_ref().ok_or_else(mismatch)?;
        let pending = pending.downcast::<S::Pending>().map_err(|_| mismatch())?;
        Scheme::verify(self, creds, *pending, key)
    }

    fn time_mac(&self, key: &SecretKey, ts: u64, nonce: &str) -> [u8; 32] {
        Scheme::time_mac(self, key, ts, nonce)
    }
}

impl Credentials for AnyCredentials {
    fn key_id(&self) -> &str {
        match self {
            Self::V1(c) => Credentials::key_id(c),
            Self::Dyn(c) => c.key_id(),
        }
    }

    fn nonce(&self) -> &str {
        match self {
            Self::V1(c) => Credentials::nonce(c),
            Self::Dyn(c) => c.nonce(),
        }
    }

    fn freshness(&self) -> Freshness {
        match self {
            Self::V1(c) => Credentials::freshness(c),
            Self::Dyn(c) => c.freshness(),
        }
    }
}

/// The set's entries are schemes themselves: the verification path is written once, for
/// [`Entry`].
impl Scheme for Entry {
    type Credentials = AnyCredentials;
    type Pending = AnyPending;

    fn id(&self) -> &'static str {
        match self {
            Self::V1(s) => Scheme::id(s),
            Self::Dyn(s) => s.id(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::V1(s) => Scheme::name(s),
            Self::Dyn(s) => s.name(),
        }
    }

    fn locator(&self) -> &Locator {
        match self {
            Self::V1(s) => Scheme::locator(s),
            Self::Dyn(s) => s.locator(),
        }
    }

    fn parse(&self, parts: &Parts, max: usize) -> Result<AnyCredentials, Rejection> {
        match self {
            Self::V1(s) => Scheme::parse(s, parts, max).map(AnyCredentials::V1),
            Self::Dyn(s) => s.parse(parts, max).map(AnyCredentials::Dyn),
        }
    }

    fn prepare(
        &self,
        creds: &AnyCredentials,
        parts: &Parts,
        key: &SecretKey,
    ) -> Result<AnyPending, Rejection> {
        match (self, creds) {
            (Self::V1(s), AnyCredentials::V1(c)) => {
                Scheme::prepare(s, c, parts, key).map(AnyPending::V1)
            }
            (Self::Dyn(s), AnyCredentials::Dyn(c)) => {
                s.prepare(&**c, parts, key).map(AnyPending::Dyn)
            }
            _ => Err(mismatch()),
        }
    }

    fn update(&self, pending: &mut AnyPending, chunk: &[u8]) {
        match (self, pending) {
            (Self::V1(s), AnyPending::V1(p)) => Scheme::update(s, p, chunk),
            (Self::Dyn(s), AnyPending::Dyn(p)) => s.update(&mut **p, chunk),
            _ => {}
        }
    }

    fn decode(
        &self,
        pending: &mut AnyPending,
        chunk: Bytes,
        out: &mut dyn FnMut(Bytes),
    ) -> Result<(), Rejection> {
        match (self, pending) {
            (Self::V1(s), AnyPending::V1(p)) => Scheme::decode(s, p, chunk, out),
            (Self::Dyn(s), AnyPending::Dyn(p)) => s.decode(&mut **p, chunk, out),
            _ => Err(mismatch()),
        }
    }

    fn accepted(&self, creds: &AnyCredentials, parts: &mut Parts) {
        match (self, creds) {
            (Self::V1(s), AnyCredentials::V1(c)) => Scheme::accepted(s, c, parts),
            (Self::Dyn(s), AnyCredentials::Dyn(c)) => s.accepted(&**c, parts),
            _ => {}
        }
    }

    fn max_skew(&self) -> Option<Duration> {
        match self {
            Self::V1(s) => Scheme::max_skew(s),
            Self::Dyn(s) => s.max_skew(),
        }
    }

    fn verify(
        &self,
        creds: &AnyCredentials,
        pending: AnyPending,
        key: &SecretKey,
    ) -> Result<Verified, Rejection> {
        match (self, creds, pending) {
            (Self::V1(s), AnyCredentials::V1(c), AnyPending::V1(p)) => Scheme::verify(s, c, p, key),
            (Self::Dyn(s), AnyCredentials::Dyn(c), AnyPending::Dyn(p)) => s.verify(&**c, p, key),
            _ => Err(mismatch()),
        }
    }

    fn time_mac(&self, key: &SecretKey, ts: u64, nonce: &str) -> [u8; 32] {
        match self {
            Self::V1(s) => Scheme::time_mac(s, key, ts, nonce),
            Self::Dyn(s) => s.time_mac(key, ts, nonce),
        }
    }
}
