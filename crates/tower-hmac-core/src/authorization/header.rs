//! The header itself: strict parsing, building from parts, the canonical form.

use std::fmt;

use http::HeaderName;

use super::SCHEME;
use super::grammar::{
    validate_key_id, validate_nonce, validate_signed_headers, validate_timestamp,
};
use super::signature::Signature;
use crate::rejection::{Rejection, RejectionKind};

/// A parsed protocol v1 `Authorization` header.
///
/// `Display` writes the header value in its canonical form (the order of [`Authorization::PARAMETERS`]).
/// `Debug` leaves out the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Key id, timestamp, nonce and signed headers as sent, one after the other (one allocation).
    text: String,
    /// Where each of the four ends in `text`.
    ends: [u32; 4],
    timestamp_secs: u64,
    header_names: Vec<HeaderName>,
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
            while i < rest.len() && rest[i] != b'=' && rest[i] != b',' {
                i += 1;
            }
            if i == rest.len() || rest[i] == b',' {
                return Err(malformed("a parameter has no '='"));
            }
            let name = &rest[name_start..i];
            i += 1;
            let value_start = i;
            while i < rest.len() && rest[i] != b',' {
                i += 1;
            }
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
        let (signed_headers, header_names) =
            validate_signed_headers(signed_headers).map_err(malformed)?;
        let signature = Signature::from_hex_bytes(signature)
            .ok_or_else(|| malformed("Signature must be 64 lower-case hex digits"))?;

        Ok(Self::assemble(
            [key_id, timestamp, nonce, signed_headers],
            timestamp_secs,
            header_names,
            signature,
        ))
    }

    fn assemble(
        parts: [&str; 4],
        timestamp_secs: u64,
        header_names: Vec<HeaderName>,
        signature: Signature,
    ) -> Self {
        let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; 4];
        for (end, part) in ends.iter_mut().zip(parts) {
            text.push_str(part);
            // Bounded by the header length limit (at most 64 KiB), so this always fits.
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Self {
            text,
            ends,
            timestamp_secs,
            header_names,
            signature,
        }
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text
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
        validate_key_id(key_id.as_bytes()).map_err(FormatError)?;
        validate_nonce(nonce.as_bytes()).map_err(FormatError)?;
        let timestamp_text = timestamp.to_string();
        validate_timestamp(timestamp_text.as_bytes()).map_err(FormatError)?;
        let joined = signed_headers
            .iter()
            .map(HeaderName::as_str)
            .collect::<Vec<_>>()
            .join(";");
        let (_, header_names) = validate_signed_headers(joined.as_bytes()).map_err(FormatError)?;
        Ok(Self::assemble(
            [key_id, &timestamp_text, nonce, &joined],
            timestamp,
            header_names,
            signature,
        ))
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

    /// The signed header names, in order.
    pub fn signed_headers(&self) -> &[HeaderName] {
        &self.header_names
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

/// A value given to [`Authorization::new`] breaks the protocol's grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Authorization parameter: {0}")]
pub struct FormatError(&'static str);

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}
