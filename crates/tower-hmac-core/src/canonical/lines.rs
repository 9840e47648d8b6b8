//! The lines of the string to sign, and their keyed digests (the diagnostics of
//! `invalid_signature`).

use http::HeaderName;

use crate::authorization::Authorization;
use crate::key::SecretKey;

/// What one line of protocol v1's string to sign holds (docs/PROTOCOL.md §3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Line {
    /// `HMAC-SHA256`.
    Algorithm,
    /// The timestamp as sent.
    Timestamp,
    /// The nonce as sent.
    Nonce,
    /// The key id as sent.
    KeyId,
    /// The method.
    Method,
    /// The path as received.
    Path,
    /// The query as received, without `?`.
    Query,
    /// The `SignedHeaders` list.
    SignedHeaders,
    /// `name:value` of one signed header.
    Header(HeaderName),
    /// The hex SHA-256 of the body.
    BodySha256,
}

impl Line {
    /// A short human label (`path`, `header content-type`, `body SHA-256`, …).
    pub fn label(&self) -> String {
        match self {
            Self::Algorithm => "algorithm".into(),
            Self::Timestamp => "timestamp".into(),
            Self::Nonce => "nonce".into(),
            Self::KeyId => "key id".into(),
            Self::Method => "method".into(),
            Self::Path => "path".into(),
            Self::Query => "query".into(),
            Self::SignedHeaders => "signed headers".into(),
            Self::Header(name) => format!("header {name}"),
            Self::BodySha256 => "body SHA-256".into(),
        }
    }
}

/// The lines of the string to sign for these credentials, in order: what each line of
/// [`CanonicalRequest::string_to_sign`] (and each of its [`line_digests`]) is.
///
/// [`CanonicalRequest::string_to_sign`]: super::CanonicalRequest::string_to_sign
pub fn line_layout(auth: &Authorization) -> Vec<Line> {
    let mut lines = vec![
        Line::Algorithm,
        Line::Timestamp,
        Line::Nonce,
        Line::KeyId,
        Line::Method,
        Line::Path,
        Line::Query,
        Line::SignedHeaders,
    ];
    // Each name was validated as one `HeaderName::from_bytes` accepts: none is left out.
    lines.extend(
        auth.signed_headers()
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .map(Line::Header),
    );
    lines.push(Line::BodySha256);
    lines
}

/// The label that keys the string-to-sign diagnostics apart from signatures and time MACs.
pub const LINE_DIGEST_LABEL: &str = "HMAC-SHA256-LINE\n";

/// The diagnostics of a string to sign: for each line, the first 8 bytes of
/// `HMAC-SHA256(key, "HMAC-SHA256-LINE\n" + line)`.
///
/// A server sends them (hex) with `invalid_signature`, so that a client holding the key can find
/// which line — which part of the request — it signed differently, without the server echoing any
/// request value. Keyed with the key being verified, they are useless to anyone without it: a
/// line with little entropy (a header a proxy adds) cannot be guessed from its digest offline.
pub fn line_digests(key: &SecretKey, string_to_sign: &[u8]) -> Vec<[u8; 8]> {
    string_to_sign
        .split(|&b| b == b'\n')
        .map(|line| {
            let mac = crate::key::hmac_sha256(key, &[LINE_DIGEST_LABEL.as_bytes(), line]);
            let mut out = [0u8; 8];
            out.copy_from_slice(&mac[..8]);
            out
        })
        .collect()
}

/// A line digest as the answers write it: 16 lower-case hex digits, into `out` (no allocation;
/// `hex::encode` would collect a `String` one `char` at a time, on every refusal).
pub fn line_digest_hex<'a>(digest: &[u8; 8], out: &'a mut [u8; 16]) -> &'a str {
    // 8 bytes into 16 ASCII digits: neither step can fail.
    let _ = hex::encode_to_slice(digest, out);
    std::str::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Method, header};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::authorization::DEFAULT_MAX_HEADER_LEN;
    use crate::canonical::{CanonicalRequest, EMPTY_BODY_SHA256};

    #[test]
    fn a_line_digest_is_written_as_hex_encode_writes_it() {
        for digest in [
            [0; 8],
            [0xff; 8],
            [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
        ] {
            assert_eq!(
                line_digest_hex(&digest, &mut [0; 16]),
                hex::encode(digest),
                "{digest:?}"
            );
        }
    }

    #[test]
    fn the_line_layout_matches_the_string_to_sign() {
        let auth = Authorization::parse(
            b"HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=content-type;host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
            DEFAULT_MAX_HEADER_LEN,
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("h"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let canonical =
            CanonicalRequest::new(&auth, &Method::GET, &"/x?q=1".parse().unwrap(), &headers)
                .unwrap();
        let sts = canonical.string_to_sign(&EMPTY_BODY_SHA256);
        let layout = line_layout(&auth);
        assert_eq!(layout.len(), sts.split(|&b| b == b'\n').count());
        assert_eq!(layout[5], Line::Path);
        assert_eq!(layout[8].label(), "header content-type");
        assert_eq!(layout.last(), Some(&Line::BodySha256));
    }

    #[test]
    fn line_digests_are_keyed() {
        let a = SecretKey::from_bytes(&[1; 32]).unwrap();
        let b = SecretKey::from_bytes(&[2; 32]).unwrap();
        let sts = b"HMAC-SHA256\n1\nx-origin-verify:yes";
        assert_eq!(line_digests(&a, sts).len(), 3);
        assert_eq!(line_digests(&a, sts), line_digests(&a, sts));
        // Another key gives other digests for every line: without the key they say nothing.
        for (x, y) in line_digests(&a, sts).iter().zip(line_digests(&b, sts)) {
            assert_ne!(*x, y);
        }
        // Not the unkeyed SHA-256 of the line (the offline oracle of the earlier format).
        let plain: [u8; 8] = Sha256::digest(b"x-origin-verify:yes")[..8]
            .try_into()
            .unwrap();
        assert_ne!(line_digests(&a, sts)[2], plain);
    }
}
