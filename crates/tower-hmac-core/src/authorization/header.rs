//! The header itself: strict parsing, building from parts, the canonical form.

use std::fmt;

use http::HeaderName;

use super::SCHEME;
use super::grammar::{
    validate_key_id, validate_nonce, validate_signed_headers, validate_timestamp,
};
use super::signature::Signature;
use super::text::Text;
use crate::rejection::{Rejection, RejectionKind};

/// A parsed protocol v1 `Authorization` header.
///
/// `Display` writes the header value in its canonical form (the order of [`Authorization::PARAMETERS`]).
/// `Debug` leaves out the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Key id, timestamp, nonce and signed headers as sent, one after the other: inline when
    /// short, so that parsing a usual header allocates nothing.
    text: Text,
    /// Where each of the four ends in `text`.
    ends: [u32; 4],
    timestamp_secs: u64,
    signature: Signature,
}

impl Authorization {
    /// The parameter names, in the order [`Display`](fmt::Display) writes them.
    pub const PARAMETERS: [&'static str; 5] = [
        "Credential",
        "Timestamp",
        "Nonce",
        "SignedHeaders",
        "Signature",
    ];

    /// Parses a header value strictly, with `max_len` as the limit on its length in bytes.
    ///
    /// Errors are `unsupported_scheme` for another scheme and `malformed_authorization` for
    /// anything else, with a fixed explanation in [`Rejection::detail`].
    pub fn parse(value: &[u8], max_len: usize) -> Result<Self, Rejection> {
        if value.len() > max_len {
            return Err(malformed("the Authorization header is too long"));
        }
        let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
            Some(i) => (&value[..i], &value[i + 1..]),
            None => (value, &[][..]),
        };
        if scheme.is_empty() {
            return Err(malformed("the Authorization header has no scheme"));
        }
        if !scheme.eq_ignore_ascii_case(SCHEME.as_bytes()) {
            return Err(Rejection::new(RejectionKind::UnsupportedScheme)
                .with_detail("the Authorization scheme must be HMAC-SHA256"));
        }
        let rest = rest.trim_ascii_start();
        if rest.is_empty() {
            return Err(malformed("the Authorization header has no parameters"));
        }
        let mut key_id = None;
        let mut timestamp = None;
        let mut nonce = None;
        let mut signed_headers = None;
        let mut signature = None;
        // One pass over the bytes: `name=value` items separated by `,` and optional white space.
        let is_ows = |b: u8| b == b' ' || b == b'\t';
        let mut i = 0;
        loop {
            while i < rest.len() && is_ows(rest[i]) {
                i += 1;
            }
            let name_start = i;
            // The five names as clients send them, found without a byte loop; anything else
            // goes through the loop, which finds the same name (the names hold no `=` or `,`).
            let tail = &rest[i..];
            let known = match tail.first() {
                Some(b'C') => tail.starts_with(b"Credential=").then_some(10),
                Some(b'T') => tail.starts_with(b"Timestamp=").then_some(9),
                Some(b'N') => tail.starts_with(b"Nonce=").then_some(5),
                Some(b'S') if tail.starts_with(b"Signature=") => Some(9),
                Some(b'S') => tail.starts_with(b"SignedHeaders=").then_some(13),
                _ => None,
            };
            match known {
                Some(len) => i += len,
                None => {
                    while i < rest.len() && rest[i] != b'=' && rest[i] != b',' {
                        i += 1;
                    }
                }
            }
            if i == rest.len() || rest[i] == b',' {
                return Err(malformed("a parameter has no '='"));
            }
            let name = &rest[name_start..i];
            i += 1;
            let value_start = i;
            i = memchr::memchr(b',', &rest[i..]).map_or(rest.len(), |at| i + at);
            let mut value_end = i;
            while value_end > value_start && is_ows(rest[value_end - 1]) {
                value_end -= 1;
            }
            let value = &rest[value_start..value_end];
            if name.is_empty() {
                return Err(malformed("a parameter has no name"));
            }
            if value.is_empty() {
                return Err(malformed("a parameter is empty"));
            }
            let slot = match name {
                b"Credential" => &mut key_id,
                b"Timestamp" => &mut timestamp,
                b"Nonce" => &mut nonce,
                b"SignedHeaders" => &mut signed_headers,
                b"Signature" => &mut signature,
                _ => return Err(malformed("unknown parameter")),
            };
            if slot.replace(value).is_some() {
                return Err(malformed("duplicate parameter"));
            }
            if i == rest.len() {
                break;
            }
            i += 1; // the comma; a trailing one leaves an empty item, refused above
        }

        let key_id = key_id.ok_or_else(|| malformed("missing Credential"))?;
        let timestamp = timestamp.ok_or_else(|| malformed("missing Timestamp"))?;
        let nonce = nonce.ok_or_else(|| malformed("missing Nonce"))?;
        let signed_headers = signed_headers.ok_or_else(|| malformed("missing SignedHeaders"))?;
        let signature = signature.ok_or_else(|| malformed("missing Signature"))?;

        let key_id = validate_key_id(key_id).map_err(malformed)?;
        let (timestamp, timestamp_secs) = validate_timestamp(timestamp).map_err(malformed)?;
        let nonce = validate_nonce(nonce).map_err(malformed)?;
        let signed_headers = validate_signed_headers(signed_headers).map_err(malformed)?;
        let signature = Signature::from_hex_bytes(signature)
            .ok_or_else(|| malformed("Signature must be 64 lower-case hex digits"))?;

        let parts = [key_id, timestamp, nonce, signed_headers];
        let mut text = Text::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; 4];
        for (end, part) in ends.iter_mut().zip(parts) {
            text.push_str(part);
            *end = text_end(&text);
        }
        Ok(Self {
            text,
            ends,
            timestamp_secs,
            signature,
        })
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text
            .as_str()
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }

    /// Builds a header from its parts, checking each as [`parse`](Self::parse) would.
    ///
    /// `signed_headers` must already be sorted, unique, lower-case, contain `host` and not
    /// `authorization`.
    pub fn new(
        key_id: &str,
        timestamp: u64,
        nonce: &str,
        signed_headers: &[HeaderName],
        signature: Signature,
    ) -> Result<Self, FormatError> {
        let key_id = validate_key_id(key_id.as_bytes()).map_err(FormatError)?;
        let nonce = validate_nonce(nonce.as_bytes()).map_err(FormatError)?;
        let mut digits = [0u8; 20];
        let (timestamp_text, _) =
            validate_timestamp(decimal(timestamp, &mut digits)).map_err(FormatError)?;
        let parts = [key_id, timestamp_text, nonce];
        let names_len: usize = signed_headers.iter().map(|n| n.as_str().len() + 1).sum();
        let mut text =
            Text::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + names_len);
        let mut ends = [0u32; 4];
        for (end, part) in ends.iter_mut().zip(parts) {
            text.push_str(part);
            *end = text_end(&text);
        }
        // `SignedHeaders` written in place, then checked there as `parse` checks it.
        let start = text.len();
        for (i, name) in signed_headers.iter().enumerate() {
            if i > 0 {
                text.push_str(";");
            }
            text.push_str(name.as_str());
        }
        validate_signed_headers(&text.as_str().as_bytes()[start..]).map_err(FormatError)?;
        ends[3] = text_end(&text);
        Ok(Self {
            text,
            ends,
            timestamp_secs: timestamp,
            signature,
        })
    }

    /// The key id (`Credential`).
    pub fn key_id(&self) -> &str {
        self.part(0)
    }

    /// The timestamp exactly as sent.
    pub fn timestamp_str(&self) -> &str {
        self.part(1)
    }

    /// The timestamp in Unix seconds.
    pub fn timestamp(&self) -> u64 {
        self.timestamp_secs
    }

    /// The nonce.
    pub fn nonce(&self) -> &str {
        self.part(2)
    }

    /// `SignedHeaders` exactly as sent.
    pub fn signed_headers_str(&self) -> &str {
        self.part(3)
    }

    /// The signed header names, in the order of `SignedHeaders` (strictly ascending, lower case,
    /// `host` among them): the parts of [`signed_headers_str`](Self::signed_headers_str) between
    /// the `;`s. Each is a valid [`HeaderName`], which
    /// [`HeaderMap::get_all`](http::HeaderMap::get_all) looks up by `&str` without an allocation.
    pub fn signed_headers(&self) -> impl Iterator<Item = &str> + Clone {
        self.signed_headers_str().split(';')
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    pub(crate) fn with_signature(mut self, signature: Signature) -> Self {
        self.signature = signature;
        self
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME} Credential={}, Timestamp={}, Nonce={}, SignedHeaders={}, Signature={}",
            self.key_id(),
            self.timestamp_str(),
            self.nonce(),
            self.signed_headers_str(),
            self.signature.to_hex()
        )
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("key_id", &self.key_id())
            .field("timestamp", &self.timestamp_str())
            .field("nonce", &self.nonce())
            .field("signed_headers", &self.signed_headers_str())
            .field("signature", &self.signature)
            .finish()
    }
}

/// Where `text` ends, as stored in `ends`. The text is bounded by the header length limit or by
/// the parameters' own limits, so it always fits.
fn text_end(text: &Text) -> u32 {
    u32::try_from(text.len()).unwrap_or(u32::MAX)
}

/// `n` in decimal, written at the end of `buf` (20 digits hold any `u64`).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

/// A value given to [`Authorization::new`] breaks the protocol's grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Authorization parameter: {0}")]
pub struct FormatError(&'static str);

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}
