//! Schemes: the wire formats a server can verify.
//!
//! A scheme parses its header, builds what it signs, and checks the MAC. Everything else — key
//! lookup, the host and clock checks, reading and hashing the body, the replay guard — is shared
//! and done by the server in the same order for every scheme. Protocol v1 is [`V1`]; AWS SigV4,
//! RFC 9421 or the softaware format can be added as further implementations.

use http::header::AUTHORIZATION;
use http::request::Parts;

use crate::canonical::CanonicalRequest;
use crate::header::{Authorization, SCHEME};
use crate::key::SecretKey;
use crate::policy;
use crate::rejection::{Rejection, RejectionKind};

/// What the shared checks need from any scheme's credentials.
pub trait Credentials: Send + Sync + 'static {
    /// The key id, looked up in the registry and part of the replay key.
    fn key_id(&self) -> &str;
    /// The request's time, Unix seconds.
    fn timestamp(&self) -> u64;
    /// The nonce, recorded by the replay guard.
    fn nonce(&self) -> &str;
}

/// A wire format.
pub trait Scheme: Send + Sync + 'static {
    /// The parsed credentials.
    type Credentials: Credentials;
    /// What `prepare` builds from the request's head for `verify` to finish with the body hash.
    type Pending: Send + Sync + 'static;

    /// The scheme name, as used in `WWW-Authenticate`.
    fn name(&self) -> &'static str;

    /// Reads the credentials from the request's head (`missing_authorization`,
    /// `malformed_authorization`, `unsupported_scheme`).
    fn parse(&self, parts: &Parts, max_header_len: usize) -> Result<Self::Credentials, Rejection>;

    /// Builds the signed representation of the head (`missing_signed_header`).
    fn prepare(
        &self,
        credentials: &Self::Credentials,
        parts: &Parts,
    ) -> Result<Self::Pending, Rejection>;

    /// Checks the signature in constant time (`invalid_signature`).
    fn verify(
        &self,
        credentials: &Self::Credentials,
        pending: &Self::Pending,
        body_sha256: &[u8; 32],
        key: &SecretKey,
    ) -> Result<(), Rejection>;

    /// The MAC of the server's time sent with `stale_timestamp` (`tsm`), bound to the nonce of
    /// the request it answers.
    fn time_mac(&self, key: &SecretKey, ts: u64, nonce: &str) -> [u8; 32];
}

/// Protocol v1: `Authorization: HMAC-SHA256 Credential=…, Timestamp=…, Nonce=…, SignedHeaders=…,
/// Signature=…` (docs/PROTOCOL.md).
#[derive(Debug, Clone, Copy, Default)]
pub struct V1;

impl Credentials for Authorization {
    fn key_id(&self) -> &str {
        Authorization::key_id(self)
    }

    fn timestamp(&self) -> u64 {
        Authorization::timestamp(self)
    }

    fn nonce(&self) -> &str {
        Authorization::nonce(self)
    }
}

impl Scheme for V1 {
    type Credentials = Authorization;
    type Pending = CanonicalRequest;

    fn name(&self) -> &'static str {
        SCHEME
    }

    fn parse(&self, parts: &Parts, max_header_len: usize) -> Result<Authorization, Rejection> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let value = values
            .next()
            .ok_or(Rejection::new(RejectionKind::MissingAuthorization))?;
        if values.next().is_some() {
            return Err(Rejection::new(RejectionKind::MalformedAuthorization)
                .with_detail("more than one Authorization header"));
        }
        Authorization::parse(value.as_bytes(), max_header_len)
    }

    fn prepare(&self, auth: &Authorization, parts: &Parts) -> Result<CanonicalRequest, Rejection> {
        CanonicalRequest::new(auth, &parts.method, &parts.uri, &parts.headers)
    }

    fn verify(
        &self,
        auth: &Authorization,
        canonical: &CanonicalRequest,
        body_sha256: &[u8; 32],
        key: &SecretKey,
    ) -> Result<(), Rejection> {
        canonical.verify(key, body_sha256, auth.signature())
    }

    fn time_mac(&self, key: &SecretKey, ts: u64, nonce: &str) -> [u8; 32] {
        policy::time_mac(key, ts, nonce)
    }
}
