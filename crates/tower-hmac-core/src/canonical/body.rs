//! The body's SHA-256, whole or as it streams.

use std::fmt;

use sha2::{Digest, Sha256};

/// SHA-256 of the empty string: the body hash of a request without a body.
pub const EMPTY_BODY_SHA256: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// SHA-256 of a whole body held in memory (the empty body's hash is not recomputed).
pub fn body_sha256(body: &[u8]) -> [u8; 32] {
    if body.is_empty() {
        EMPTY_BODY_SHA256
    } else {
        Sha256::digest(body).into()
    }
}

/// SHA-256 of a body that arrives in chunks.
#[derive(Clone, Default)]
pub struct BodyHasher {
    hasher: Sha256,
    len: u64,
}

impl BodyHasher {
    /// A hasher for an empty body so far.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        if !chunk.is_empty() {
            self.hasher.update(chunk);
            self.len += chunk.len() as u64;
        }
    }

    /// How many bytes were hashed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hash of everything added.
    pub fn finish(self) -> [u8; 32] {
        if self.len == 0 {
            EMPTY_BODY_SHA256
        } else {
            self.hasher.finalize().into()
        }
    }
}

impl fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyHasher")
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_hash_matches_sha256_of_nothing() {
        assert_eq!(EMPTY_BODY_SHA256, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(BodyHasher::new().finish(), EMPTY_BODY_SHA256);
    }

    #[test]
    fn chunked_hash_equals_whole_hash() {
        let mut hasher = BodyHasher::new();
        hasher.update(b"hello ");
        hasher.update(b"");
        hasher.update(b"world");
        assert_eq!(hasher.len(), 11);
        assert_eq!(hasher.finish(), body_sha256(b"hello world"));
    }
}
