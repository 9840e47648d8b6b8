//! What a request's credentials give: the parsed header, then the signing string and the body's
//! digest as the body streams.

use std::fmt;

use arrayvec::{ArrayString, ArrayVec};

use super::algorithm::{Algorithm, MAX_OUTPUT, MAX_SIGNATURE_TEXT};
use crate::authorization::MAX_KEY_ID_LEN;
use crate::scheme::{Credentials, Freshness};

/// The credentials of a Kong or APISIX request: inline but for a long list of names, so that
/// parsing a usual header allocates nothing.
pub struct GatewayCredentials {
    pub(super) key_id: ArrayString<MAX_KEY_ID_LEN>,
    pub(super) algorithm: Algorithm,
    pub(super) headers: Names,
    pub(super) signature: ArrayVec<u8, MAX_OUTPUT>,
    /// The signature as sent: the canonical Base64 of `signature` (the only spelling the
    /// decoder accepts).
    pub(super) signature_text: ArrayString<MAX_SIGNATURE_TEXT>,
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
        self.headers.iter()
    }

    pub(super) fn covers(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }
}

/// Room for the usual lists of names (`date request-line digest`, `@request-target date host
/// content-type digest`) without an allocation.
const INLINE_NAMES: usize = 64;

/// The names of `headers`, as listed (valid names separated by single spaces): inline when the
/// list is short, on the heap beyond.
pub(super) enum Names {
    Inline(ArrayString<INLINE_NAMES>),
    Heap(Box<str>),
}

impl Names {
    /// `list`, already checked.
    pub(super) fn new(list: &str) -> Self {
        ArrayString::from(list).map_or_else(|_| Self::Heap(list.into()), Self::Inline)
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            Self::Inline(inline) => inline,
            Self::Heap(heap) => heap,
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &str> + Clone {
        self.as_str().split(is_space)
    }
}

/// As the list of names it holds.
impl fmt::Debug for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The names' separator, as a plain comparison: for these short lists a cheaper pattern than a
/// `char` (whose searcher sets up a `memchr` for each name).
pub(super) fn is_space(c: char) -> bool {
    c == ' '
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

impl GatewayPending {
    /// The signing string the server built from the request's head: what the MAC covers, what
    /// an `invalid_signature` answer digests line by line, and what `tower-hmac explain` prints.
    pub fn signing_string(&self) -> &[u8] {
        &self.signing
    }
}

impl fmt::Debug for GatewayPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayPending")
            .field("signing", &String::from_utf8_lossy(&self.signing))
            .field("body_len", &self.body_len)
            .finish_non_exhaustive()
    }
}
