//! What the providers share: their credentials, the MAC over the body, the header and
//! signature syntax.

use std::fmt;

use hmac::Mac;
use http::HeaderName;
use http::request::Parts;
use subtle::ConstantTimeEq;

use crate::key::{HmacSha256, SecretKey};
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Credentials, Freshness, Verified};

/// The longest signature header parsed.
const MAX_HEADER: usize = 1024;

pub(super) fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}

/// A 64-digit lower-case hex SHA-256 MAC.
pub(super) fn parse_mac(hex_text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    (hex_text.len() == 64
        && hex_text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && hex::decode_to_slice(hex_text, &mut out).is_ok())
    .then_some(out)
}

/// Unix seconds: 1 to 12 digits, no leading zero.
pub(super) fn parse_time(text: &str) -> Option<u64> {
    let ok = !text.is_empty()
        && text.len() <= 12
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'));
    ok.then(|| text.parse().ok()).flatten()
}

/// The one value of a header, as text of at most [`MAX_HEADER`] bytes.
pub(super) fn one_header<'a>(parts: &'a Parts, name: &HeaderName) -> Result<&'a str, Rejection> {
    let mut values = parts.headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(malformed("exactly one signature header"));
    };
    if value.len() > MAX_HEADER {
        return Err(malformed("the signature header is too long"));
    }
    value
        .to_str()
        .map_err(|_| malformed("the signature header is not text"))
}

/// A MAC over the provider's prefix and the body, keyed with the secret as issued.
pub(super) fn keyed(key: &SecretKey, prefix: &[u8]) -> HmacSha256 {
    let mut mac = key.text_mac();
    mac.update(prefix);
    mac
}

/// What the providers' credentials hold.
#[derive(Clone)]
pub struct WebhookCredentials {
    pub(super) key_id: std::sync::Arc<str>,
    pub(super) timestamp: u64,
    /// GitHub's: no time; the replay key is kept this long.
    pub(super) untimed: Option<std::time::Duration>,
    /// The signatures given (Stripe may send one per secret).
    pub(super) macs: Vec<[u8; 32]>,
}

impl fmt::Debug for WebhookCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookCredentials")
            .field("key_id", &self.key_id)
            .field("timestamp", &self.timestamp)
            .field("signatures", &self.macs.len())
            .finish()
    }
}

impl Credentials for WebhookCredentials {
    fn key_id(&self) -> &str {
        &self.key_id
    }
    /// None: the replay key is the MAC that verified ([`Verified::mac`]).
    fn nonce(&self) -> &str {
        ""
    }
    fn freshness(&self) -> Freshness {
        match self.untimed {
            Some(remember) => Freshness::Untimed { remember },
            None => Freshness::Window { at: self.timestamp },
        }
    }
}

/// The MAC being computed over the body.
pub struct WebhookPending(pub(super) HmacSha256);

impl fmt::Debug for WebhookPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookPending")
    }
}

/// Any of the given signatures matches, each compared in constant time. The replay key is the
/// MAC that matched — the server's own, so neither another signature sent beside it (Stripe's
/// `v1=<anything>,v1=<captured>`) nor its spelling makes a captured delivery new.
pub(super) fn verify_any(
    creds: &WebhookCredentials,
    pending: WebhookPending,
) -> Result<Verified, Rejection> {
    let computed: [u8; 32] = pending.0.finalize().into_bytes().into();
    let mut matched = subtle::Choice::from(0u8);
    for mac in &creds.macs {
        matched |= computed.ct_eq(mac);
    }
    if bool::from(matched) {
        Ok(Verified::mac(&computed))
    } else {
        Err(Rejection::new(RejectionKind::InvalidSignature))
    }
}
