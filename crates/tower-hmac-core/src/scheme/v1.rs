//! Protocol v1 as a [`Scheme`].

use std::fmt;

use http::header::AUTHORIZATION;
use http::request::Parts;

use super::{Credentials, Freshness, Locator, Scheme, Verified};
use crate::authorization::{Authorization, SCHEME};
use crate::canonical::{BodyHasher, CanonicalRequest};
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};

/// Protocol v1: `Authorization: HMAC-SHA256 Credential=…, Timestamp=…, Nonce=…, SignedHeaders=…,
/// Signature=…` (docs/PROTOCOL.md).
#[derive(Debug, Clone, Copy, Default)]
pub struct V1;

impl Credentials for Authorization {
    fn key_id(&self) -> &str {
        Authorization::key_id(self)
    }

    fn nonce(&self) -> &str {
        Authorization::nonce(self)
    }

    fn freshness(&self) -> Freshness {
        Freshness::Window {
            at: Authorization::timestamp(self),
        }
    }
}

/// Protocol v1's state between the head and the end of the body.
pub struct V1Pending {
    canonical: CanonicalRequest,
    body: BodyHasher,
}

impl fmt::Debug for V1Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V1Pending")
            .field("canonical", &self.canonical)
            .field("body", &self.body)
            .finish()
    }
}

impl Scheme for V1 {
    type Credentials = Authorization;
    type Pending = V1Pending;

    fn id(&self) -> &'static str {
        "v1"
    }

    fn name(&self) -> &'static str {
        SCHEME
    }

    fn locator(&self) -> &Locator {
        const LOCATOR: Locator = Locator::Authorization(SCHEME);
        &LOCATOR
    }

    fn parse(&self, parts: &Parts, max_header_len: usize) -> Result<Authorization, Rejection> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let value = values
            .next()
            .ok_or_else(|| Rejection::new(RejectionKind::MissingAuthorization))?;
        if values.next().is_some() {
            return Err(Rejection::new(RejectionKind::MalformedAuthorization)
                .with_detail("more than one Authorization header"));
        }
        Authorization::parse(value.as_bytes(), max_header_len)
    }

    fn prepare(
        &self,
        auth: &Authorization,
        parts: &Parts,
        _key: &SecretKey,
    ) -> Result<V1Pending, Rejection> {
        Ok(V1Pending {
            canonical: CanonicalRequest::new(auth, &parts.method, &parts.uri, &parts.headers)?,
            body: BodyHasher::new(),
        })
    }

    fn update(&self, pending: &mut V1Pending, chunk: &[u8]) {
        pending.body.update(chunk);
    }

    fn verify(
        &self,
        auth: &Authorization,
        pending: V1Pending,
        key: &SecretKey,
    ) -> Result<Verified, Rejection> {
        pending
            .canonical
            .verify(key, &pending.body.finish(), auth.signature())?;
        // The nonce is a line of the string to sign.
        Ok(Verified::signed_nonce())
    }
}
