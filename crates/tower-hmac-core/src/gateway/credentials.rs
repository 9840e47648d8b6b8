//! What a request's credentials give: the parsed header, then the signing string and the body's
//! digest as the body streams.

use std::fmt;

use super::algorithm::Algorithm;
use crate::scheme::{Credentials, Freshness};

/// The credentials of a Kong or APISIX request.
pub struct GatewayCredentials {
    pub(super) key_id: String,
    pub(super) algorithm: Algorithm,
    pub(super) headers: Vec<Box<str>>,
    pub(super) signature: Vec<u8>,
    pub(super) signature_text: String,
    pub(super) timestamp: u64,
    pub(super) replay_guard: bool,
    /// The algorithm is allowed for some key but not this one: refused as a bad signature would
    /// be (an unknown key id's answer), never with an answer that says the key id has a rule.
    pub(super) algorithm_refused: bool,
}

impl fmt::Debug for GatewayCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayCredentials")
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .field("headers", &self.headers)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl GatewayCredentials {
    /// The algorithm the request names.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The names the signature covers, as listed.
    pub fn headers(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(|h| &**h)
    }

    pub(super) fn covers(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }
}

impl Credentials for GatewayCredentials {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn freshness(&self) -> Freshness {
        Freshness::Window { at: self.timestamp }
    }

    /// The signature: unique to the signed request, so a copy is a replay.
    fn nonce(&self) -> &str {
        &self.signature_text
    }
}

/// The signing string, and what the body must match.
pub struct GatewayPending {
    pub(super) signing: Vec<u8>,
    pub(super) body: sha2::Sha256,
    pub(super) body_len: u64,
    pub(super) digest: Option<[u8; 32]>,
}

impl fmt::Debug for GatewayPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayPending")
            .field("signing", &String::from_utf8_lossy(&self.signing))
            .field("body_len", &self.body_len)
            .finish_non_exhaustive()
    }
}
