//! What a successful verification hands the shared path: the replay key, bound by the MAC.

use std::fmt;

/// What a successful [`Scheme::verify`](super::Scheme::verify) hands the shared path: what the replay guard records,
/// bound by the MAC that verified.
///
/// The replay key is decided here, after the MAC, and never from what the parse saw: a value the
/// client can vary without breaking the MAC (a second signature beside the one that matched, a
/// signature's spelling) would be a fresh replay key for a captured request. Every scheme records
/// one of three things, in the one replay space every scheme shares:
/// - [`signed_nonce`](Self::signed_nonce): the credentials' nonce, for formats whose MAC covers
///   their nonce (protocol v1, softaware, RFC 9421's `nonce` parameter);
/// - [`mac`](Self::mac): the MAC the server computed (equal to the request's, compared in constant
///   time): the same signed content is the same key, however the request spells it;
/// - [`unguarded`](Self::unguarded): nothing, for credentials that are bearer links by design (a
///   presigned URL) or a scheme whose replay guard the user turned off.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    replay: ReplayKey,
}

/// The replay key of a verified request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ReplayKey {
    /// The credentials' nonce, which the MAC covers.
    SignedNonce,
    /// The first 32 bytes of the MAC that verified (all of it for HMAC-SHA256).
    Mac([u8; 32]),
    /// Nothing is recorded.
    Off,
}

impl Verified {
    /// The replay guard records the credentials' [`nonce`](super::Credentials::nonce): only for a format
    /// whose MAC covers the nonce.
    pub const fn signed_nonce() -> Self {
        Self {
            replay: ReplayKey::SignedNonce,
        }
    }

    /// The replay guard records the MAC the server computed and found equal to the request's
    /// (its first 32 bytes; a shorter MAC is padded with zeros).
    pub fn mac(computed: &[u8]) -> Self {
        let mut key = [0u8; 32];
        let n = computed.len().min(32);
        key[..n].copy_from_slice(&computed[..n]);
        Self {
            replay: ReplayKey::Mac(key),
        }
    }

    /// Nothing is recorded: a bearer link by design, or a replay guard turned off.
    pub const fn unguarded() -> Self {
        Self {
            replay: ReplayKey::Off,
        }
    }

    /// What the replay guard records.
    pub const fn replay_key(&self) -> ReplayKey {
        self.replay
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.replay {
            ReplayKey::SignedNonce => "Verified(signed nonce)",
            ReplayKey::Mac(_) => "Verified(mac)",
            ReplayKey::Off => "Verified(unguarded)",
        })
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SignedNonce => "SignedNonce",
            Self::Mac(_) => "Mac([redacted])",
            Self::Off => "Off",
        })
    }
}
