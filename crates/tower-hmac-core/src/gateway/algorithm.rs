//! The HMAC algorithms, and which ones a scheme or a key allows.

use std::fmt;

use arrayvec::ArrayVec;
use hmac::{Hmac, KeyInit, Mac};

use crate::key::SecretKey;

/// The longest MAC (hmac-sha512's), in bytes.
pub(super) const MAX_OUTPUT: usize = 64;
/// The Base64 of the longest MAC.
pub(super) const MAX_SIGNATURE_TEXT: usize = 88;

/// A gateway's HMAC algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `hmac-sha1`: only where explicitly allowed.
    HmacSha1,
    /// `hmac-sha256`.
    HmacSha256,
    /// `hmac-sha384` (Kong only).
    HmacSha384,
    /// `hmac-sha512`.
    HmacSha512,
}

impl Algorithm {
    const ALL: [Self; 4] = [
        Self::HmacSha1,
        Self::HmacSha256,
        Self::HmacSha384,
        Self::HmacSha512,
    ];

    /// The name in the header (`hmac-sha256`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::HmacSha1 => "hmac-sha1",
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    pub(super) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub(super) const fn output_len(self) -> usize {
        match self {
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }

    pub(super) const fn bit(self) -> u8 {
        match self {
            Self::HmacSha1 => 1,
            Self::HmacSha256 => 2,
            Self::HmacSha384 => 4,
            Self::HmacSha512 => 8,
        }
    }

    /// The raw MAC of `data` with `key` (any length): what a gateway's signature is the Base64
    /// of. For checking vectors whose secrets are shorter than a registry key may be.
    pub fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length.
            let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
                return Vec::new();
            };
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Self::HmacSha1 => run::<Hmac<sha1::Sha1>>(key, data),
            Self::HmacSha256 => run::<Hmac<sha2::Sha256>>(key, data),
            Self::HmacSha384 => run::<Hmac<sha2::Sha384>>(key, data),
            Self::HmacSha512 => run::<Hmac<sha2::Sha512>>(key, data),
        }
    }
}

impl Algorithm {
    /// The MAC of `data` under the key's [text form](SecretKey::text_form), the key a gateway
    /// consumer is configured with.
    pub(super) fn text_mac(self, key: &SecretKey, data: &[u8]) -> ArrayVec<u8, MAX_OUTPUT> {
        fn run<M: Mac>(mut mac: M, data: &[u8]) -> ArrayVec<u8, MAX_OUTPUT> {
            mac.update(data);
            // Every MAC here fits; one that did not would be empty, and match no signature.
            ArrayVec::try_from(&*mac.finalize().into_bytes()).unwrap_or_default()
        }
        fn keyed<M: Mac + KeyInit>(key: &SecretKey, data: &[u8]) -> ArrayVec<u8, MAX_OUTPUT> {
            // HMAC takes keys of any length.
            match <M as KeyInit>::new_from_slice(key.text_form().as_bytes()) {
                Ok(mac) => run(mac, data),
                Err(_) => ArrayVec::new(),
            }
        }
        match self {
            Self::HmacSha1 => keyed::<Hmac<sha1::Sha1>>(key, data),
            // The key's kept keyed state: no Base64 and no key schedule per request.
            Self::HmacSha256 => run(key.text_mac(), data),
            Self::HmacSha384 => keyed::<Hmac<sha2::Sha384>>(key, data),
            Self::HmacSha512 => keyed::<Hmac<sha2::Sha512>>(key, data),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Algorithms(pub(super) u8);

impl Algorithms {
    pub(super) fn of(list: &[Algorithm]) -> Self {
        Self(list.iter().fold(0, |bits, a| bits | a.bit()))
    }

    pub(super) fn contains(self, a: Algorithm) -> bool {
        self.0 & a.bit() != 0
    }
}
