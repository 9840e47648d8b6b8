//! The header's algorithms (the .NET names), and the body's digest as it streams.

use arrayvec::ArrayVec;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest as _;

use crate::key::SecretKey;

/// The longest MAC or digest of these algorithms (SHA-512's), in bytes.
pub(super) const MAX_OUTPUT: usize = 64;

/// The HMAC algorithms of the header (the .NET names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MacAlg {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// The body hash algorithms of the header (the .NET names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyAlg {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl MacAlg {
    pub(super) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "HMACMD5" => Self::Md5,
            "HMACSHA1" => Self::Sha1,
            "HMACSHA256" => Self::Sha256,
            "HMACSHA384" => Self::Sha384,
            "HMACSHA512" => Self::Sha512,
            _ => return None,
        })
    }

    pub(super) fn legacy(self) -> bool {
        matches!(self, Self::Md5 | Self::Sha1)
    }

    pub(super) fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The MAC of `parts`, one after the other, under the key's bytes: HMACSHA256 from the
    /// key's kept keyed state (no key schedule per request), the others keyed here.
    pub(super) fn mac(self, key: &SecretKey, parts: &[&[u8]]) -> ArrayVec<u8, MAX_OUTPUT> {
        fn run<M: Mac>(mut mac: M, parts: &[&[u8]]) -> ArrayVec<u8, MAX_OUTPUT> {
            for part in parts {
                mac.update(part);
            }
            output(&mac.finalize().into_bytes())
        }
        fn keyed<M: Mac + KeyInit>(key: &SecretKey, parts: &[&[u8]]) -> ArrayVec<u8, MAX_OUTPUT> {
            // HMAC takes keys of any length.
            match <M as KeyInit>::new_from_slice(key.expose_secret()) {
                Ok(mac) => run(mac, parts),
                Err(_) => ArrayVec::new(),
            }
        }
        match self {
            Self::Md5 => keyed::<Hmac<md5::Md5>>(key, parts),
            Self::Sha1 => keyed::<Hmac<sha1::Sha1>>(key, parts),
            Self::Sha256 => run(key.mac(), parts),
            Self::Sha384 => keyed::<Hmac<sha2::Sha384>>(key, parts),
            Self::Sha512 => keyed::<Hmac<sha2::Sha512>>(key, parts),
        }
    }
}

/// A MAC or digest kept inline. Every one fits; were one not to, it would be empty, and so
/// match no signature.
fn output(bytes: &[u8]) -> ArrayVec<u8, MAX_OUTPUT> {
    ArrayVec::try_from(bytes).unwrap_or_default()
}

impl BodyAlg {
    pub(super) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "MD5" => Self::Md5,
            "SHA1" => Self::Sha1,
            "SHA256" => Self::Sha256,
            "SHA384" => Self::Sha384,
            "SHA512" => Self::Sha512,
            _ => return None,
        })
    }

    pub(super) fn legacy(self) -> bool {
        matches!(self, Self::Md5 | Self::Sha1)
    }
}

/// The body's digest, computed as it streams.
pub(super) enum BodyDigest {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl BodyDigest {
    pub(super) fn new(alg: BodyAlg) -> Self {
        match alg {
            BodyAlg::Md5 => Self::Md5(md5::Md5::new()),
            BodyAlg::Sha1 => Self::Sha1(sha1::Sha1::new()),
            BodyAlg::Sha256 => Self::Sha256(sha2::Sha256::new()),
            BodyAlg::Sha384 => Self::Sha384(sha2::Sha384::new()),
            BodyAlg::Sha512 => Self::Sha512(sha2::Sha512::new()),
        }
    }

    pub(super) fn update(&mut self, chunk: &[u8]) {
        match self {
            Self::Md5(d) => d.update(chunk),
            Self::Sha1(d) => d.update(chunk),
            Self::Sha256(d) => d.update(chunk),
            Self::Sha384(d) => d.update(chunk),
            Self::Sha512(d) => d.update(chunk),
        }
    }

    pub(super) fn finish(self) -> ArrayVec<u8, MAX_OUTPUT> {
        match self {
            Self::Md5(d) => output(&d.finalize()),
            Self::Sha1(d) => output(&d.finalize()),
            Self::Sha256(d) => output(&d.finalize()),
            Self::Sha384(d) => output(&d.finalize()),
            Self::Sha512(d) => output(&d.finalize()),
        }
    }
}
