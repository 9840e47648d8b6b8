//! What a request's header gives, then the signed content and the body's digest as the body
//! streams.

use std::fmt;

use arrayvec::{ArrayString, ArrayVec};

use super::algorithms::{BodyAlg, BodyDigest, MAX_OUTPUT, MacAlg};
use super::nonce::MAX_NONCE_LEN;
use crate::authorization::MAX_KEY_ID_LEN;
use crate::scheme::{Credentials, Freshness};

/// A parsed `Hmac` header, kept inline: every field has a bounded length, so parsing one
/// allocates nothing.
#[derive(Clone)]
pub struct SoftawareCredentials {
    pub(super) mac_alg: MacAlg,
    pub(super) body_alg: BodyAlg,
    pub(super) app_id: ArrayString<MAX_KEY_ID_LEN>,
    pub(super) signature: ArrayVec<u8, MAX_OUTPUT>,
    pub(super) nonce: ArrayString<MAX_NONCE_LEN>,
    pub(super) timestamp: u64,
    /// The time as sent: exactly 10 digits.
    pub(super) timestamp_text: ArrayString<10>,
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
    pub(super) content: Vec<u8>,
    pub(super) body: BodyDigest,
    pub(super) len: u64,
}

impl SoftawarePending {
    /// The string the server MACs once the whole body is in: the content built from the head,
    /// then the Base64 of the body's hash (nothing for an empty body) — what an
    /// `invalid_signature` answer digests, and what `tower-hmac explain` prints.
    pub fn into_signed_string(self) -> Vec<u8> {
        use base64::Engine as _;
        let mut text = self.content;
        if self.len > 0 {
            let digest = self.body.finish();
            text.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(&digest)
                    .as_bytes(),
            );
        }
        text
    }
}

impl fmt::Debug for SoftawarePending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftawarePending")
            .field("len", &self.len)
            .finish()
    }
}
