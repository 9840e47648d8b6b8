//! What a request's header gives, then the signed content and the body's digest as the body
//! streams.

use std::fmt;

use super::algorithms::{BodyAlg, BodyDigest, MacAlg};
use crate::scheme::{Credentials, Freshness};

/// A parsed `Hmac` header.
#[derive(Clone)]
pub struct SoftawareCredentials {
    pub(super) mac_alg: MacAlg,
    pub(super) body_alg: BodyAlg,
    pub(super) app_id: String,
    pub(super) signature: Vec<u8>,
    pub(super) nonce: String,
    pub(super) timestamp: u64,
    pub(super) timestamp_text: String,
}

impl fmt::Debug for SoftawareCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftawareCredentials")
            .field("app_id", &self.app_id)
            .field("alg", &(self.mac_alg, self.body_alg))
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl Credentials for SoftawareCredentials {
    fn key_id(&self) -> &str {
        &self.app_id
    }
    fn nonce(&self) -> &str {
        &self.nonce
    }
    fn freshness(&self) -> Freshness {
        Freshness::Window { at: self.timestamp }
    }
}

/// What `prepare` builds: the signed content before the body hash, and the body's digest.
pub struct SoftawarePending {
    pub(super) content: String,
    pub(super) body: BodyDigest,
    pub(super) len: u64,
}

impl fmt::Debug for SoftawarePending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftawarePending")
            .field("len", &self.len)
            .finish()
    }
}
