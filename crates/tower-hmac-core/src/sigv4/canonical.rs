//! SigV4's canonical request and string to sign: types whose `Display` is the very text the MAC
//! covers (as `aws-sigv4`'s `CanonicalRequest` and `StringToSign`).

use std::borrow::Cow;
use std::fmt;

use hmac::Mac;
use http::header::HOST;
use http::request::Parts;
use percent_encoding::percent_decode_str;
use sha2::{Digest as _, Sha256};

use super::hexdigits::{hex_str, hex32};
use super::path::{AWS_ENCODE, is_unreserved, push_canonical_uri};
use super::signing_key::{HmacSha256, hmac};
use super::{ALGORITHM, SigV4Credentials, malformed};
use crate::{Rejection, RejectionKind};

/// A SigV4 canonical request, as the server builds it from the request it received:
///
/// ```text
/// method \n canonical URI \n canonical query \n canonical headers \n
/// signed headers \n payload hash
/// ```
///
/// Its `Display` (and [`as_str`](Self::as_str)) is exactly the text whose SHA-256 the
/// [`StringToSign`] carries: the text an `invalid_signature` answer digests line by line, and
/// shows in clear (S3's `<CanonicalRequest>`) only under `Diagnostics::Clear`.
///
/// ```
/// use tower_hmac_core::Scheme;
/// use tower_hmac_core::sigv4::{CanonicalRequest, SigV4, StringToSign, derive_signing_key};
///
/// // AWS's test suite, `get-vanilla-query-order-key-case`.
/// let signature = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500";
/// let (parts, ()) = http::Request::get("/?Param2=value2&Param1=value1")
///     .header("host", "example.amazonaws.com")
///     .header("x-amz-date", "20150830T123600Z")
///     .header(
///         "authorization",
///         format!(
///             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
///              SignedHeaders=host;x-amz-date, Signature={signature}"
///         ),
///     )
///     .body(())?
///     .into_parts();
/// let credentials = SigV4::new("us-east-1", "service").parse(&parts, 8192)?;
/// let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// let canonical = CanonicalRequest::new(&credentials, &parts, empty)?;
/// assert_eq!(
///     canonical.to_string(),
///     format!(
///         "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n\
///          x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{empty}"
///     ),
/// );
/// let sts = StringToSign::new(&credentials, &canonical);
/// assert_eq!(
///     sts.to_string(),
///     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
///      816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
/// );
/// let key = derive_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", credentials.scope());
/// assert_eq!(hex::encode(sts.signature(&key)), signature);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    /// The whole text; the payload hash from `payload_at` on.
    text: String,
    payload_at: usize,
}

impl CanonicalRequest {
    /// The canonical request the server verifies for these credentials (parsed from `parts` by
    /// [`SigV4`](super::SigV4)'s `parse`) and this payload hash: the lower-case hex SHA-256 of
    /// the body, [`UNSIGNED_PAYLOAD`](super::UNSIGNED_PAYLOAD) or
    /// [`STREAMING_PAYLOAD`](super::STREAMING_PAYLOAD). The query is in AWS's order (sorted),
    /// without `X-Amz-Signature` for a presigned URL.
    ///
    /// Fails as the verification does: `missing_signed_header` or `duplicate_signed_header` for
    /// a signed header absent or a `host` repeated, `malformed_authorization` for a signed header
    /// whose value is not UTF-8 text.
    pub fn new(
        credentials: &SigV4Credentials,
        parts: &Parts,
        payload_hash: &str,
    ) -> Result<Self, Rejection> {
        let head = CanonicalHead::new(credentials, parts)?;
        let query = canonical_query(parts.uri.query().unwrap_or(""), credentials.is_presigned());
        let mut canonical = head.with_query(&query);
        canonical.set_payload_hash(payload_hash);
        Ok(canonical)
    }

    /// The text: what `Display` writes, and what is hashed into the [`StringToSign`].
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The last line: the payload hash.
    pub fn payload_hash(&self) -> &str {
        &self.text[self.payload_at..]
    }

    /// Replaces the last line (the server tries `UNSIGNED-PAYLOAD` and the body's hash in turn
    /// for a presigned URL): no allocation, the text was built with room for it.
    pub(super) fn set_payload_hash(&mut self, hash: &str) {
        self.text.truncate(self.payload_at);
        self.text.push_str(hash);
    }

    /// SHA-256 fed with the text before the payload hash: cloned and completed once per payload
    /// hash tried, so that the shared lines are hashed once.
    pub(super) fn head_hasher(&self) -> Sha256 {
        Sha256::new_with_prefix(&self.text.as_bytes()[..self.payload_at])
    }

    /// The text's bytes, for [`Rejection::with_signed_text`].
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.text.into_bytes()
    }
}

impl fmt::Display for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CanonicalRequest").field(&self.text).finish()
    }
}

/// A SigV4 string to sign: `AWS4-HMAC-SHA256 \n <X-Amz-Date> \n <scope> \n
/// hex(SHA-256(canonical request))`.
///
/// Its `Display` writes the lines [`signature`](Self::signature) MACs, from the same list: the
/// string to sign an `invalid_signature` answer carries (S3's `<StringToSign>`) is the text the
/// signature was computed over.
#[derive(Debug, Clone)]
pub struct StringToSign<'a> {
    amz_date: &'a str,
    scope: &'a str,
    canonical_hash: [u8; 64],
}

impl<'a> StringToSign<'a> {
    /// The string to sign of `canonical` under these credentials' date and scope.
    pub fn new(credentials: &'a SigV4Credentials, canonical: &CanonicalRequest) -> Self {
        Self::for_scope(&credentials.amz_date, &credentials.scope, canonical)
    }

    /// The same from the date (`yyyymmddThhmmssZ`) and the scope.
    pub(super) fn for_scope(
        amz_date: &'a str,
        scope: &'a str,
        canonical: &CanonicalRequest,
    ) -> Self {
        Self {
            amz_date,
            scope,
            canonical_hash: hex32(&Sha256::digest(canonical.as_str().as_bytes())),
        }
    }

    /// The same from the canonical request's SHA-256, already computed.
    pub(super) fn for_hash(amz_date: &'a str, scope: &'a str, canonical_sha256: &[u8]) -> Self {
        Self {
            amz_date,
            scope,
            canonical_hash: hex32(canonical_sha256),
        }
    }

    /// The hex SHA-256 of the canonical request: the last line.
    pub fn canonical_request_hash(&self) -> &str {
        hex_str(&self.canonical_hash)
    }

    /// The lines, in order: what `Display` writes and what the MAC covers, joined with `\n`.
    fn lines(&self) -> [&str; 4] {
        [
            ALGORITHM,
            self.amz_date,
            self.scope,
            hex_str(&self.canonical_hash),
        ]
    }

    /// The signature: HMAC-SHA256 of this text under the scope's signing key
    /// ([`derive_signing_key`](super::derive_signing_key)).
    pub fn signature(&self, signing_key: &[u8; 32]) -> [u8; 32] {
        self.signature_keyed(&hmac(signing_key))
    }

    /// The same with HMAC-SHA256 already keyed with the signing key (a copy is used).
    pub(super) fn signature_keyed(&self, keyed: &HmacSha256) -> [u8; 32] {
        let mut mac = keyed.clone();
        for (i, line) in self.lines().into_iter().enumerate() {
            if i > 0 {
                mac.update(b"\n");
            }
            mac.update(line.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Display for StringToSign<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.lines().into_iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}

/// The canonical request's lines before the query and after it, up to the payload hash: built
/// once per request, before the body is read, then completed per query order and payload hash.
pub(super) struct CanonicalHead {
    method_and_uri: String,
    headers_and_signed: String,
}

impl CanonicalHead {
    /// The head of a received request: a signed header missing is `missing_signed_header`, a
    /// `host` repeated `duplicate_signed_header`, a value that is not UTF-8 text
    /// `malformed_authorization` (the canonical request is text, so that what is shown is what
    /// is signed).
    pub(super) fn new(creds: &SigV4Credentials, parts: &Parts) -> Result<Self, Rejection> {
        let mut method_and_uri = String::with_capacity(64);
        method_and_uri.push_str(parts.method.as_str());
        method_and_uri.push('\n');
        push_canonical_uri(&mut method_and_uri, creds.rule, parts.uri.path());
        method_and_uri.push('\n');

        let mut lines = String::with_capacity(128);
        for name in creds.signed_headers.split(';') {
            lines.push_str(name);
            lines.push(':');
            if name == "host" {
                let mut hosts = parts.headers.get_all(HOST).iter();
                let host = match (hosts.next(), hosts.next()) {
                    (Some(_), Some(_)) => {
                        return Err(Rejection::new(RejectionKind::DuplicateSignedHeader)
                            .with_detail("host appears twice"));
                    }
                    (Some(h), None) => h.as_bytes(),
                    (None, _) => parts
                        .uri
                        .authority()
                        .map(|a| a.as_str().as_bytes())
                        .ok_or_else(|| {
                            Rejection::new(RejectionKind::MissingSignedHeader).with_detail("host")
                        })?,
                };
                push_trimmed(&mut lines, text(name, host)?);
            } else {
                let mut values = parts.headers.get_all(name).iter().peekable();
                if values.peek().is_none() {
                    return Err(Rejection::new(RejectionKind::MissingSignedHeader)
                        .with_detail(format!("signed header `{name}` is missing")));
                }
                for (i, value) in values.enumerate() {
                    if i > 0 {
                        lines.push(',');
                    }
                    push_trimmed(&mut lines, text(name, value.as_bytes())?);
                }
            }
            lines.push('\n');
        }
        lines.push('\n');
        lines.push_str(&creds.signed_headers);
        lines.push('\n');
        Ok(Self {
            method_and_uri,
            headers_and_signed: lines,
        })
    }

    /// The head of a presigned URL as [`presign_url`](super::presign_url) signs it: `host` the
    /// only signed header.
    pub(super) fn presigned(
        method: &http::Method,
        rule: super::PathRule,
        path: &str,
        host: &str,
    ) -> Self {
        let mut method_and_uri = String::with_capacity(64);
        method_and_uri.push_str(method.as_str());
        method_and_uri.push('\n');
        push_canonical_uri(&mut method_and_uri, rule, path);
        method_and_uri.push('\n');
        Self {
            method_and_uri,
            headers_and_signed: format!("host:{host}\n\nhost\n"),
        }
    }

    /// The canonical request with this query and, until it is set, an empty payload hash.
    pub(super) fn with_query(&self, query: &str) -> CanonicalRequest {
        let mut text = String::with_capacity(
            self.method_and_uri.len() + query.len() + self.headers_and_signed.len() + 70,
        );
        text.push_str(&self.method_and_uri);
        text.push_str(query);
        text.push('\n');
        text.push_str(&self.headers_and_signed);
        CanonicalRequest {
            payload_at: text.len(),
            text,
        }
    }
}

/// A signed header's value as text.
fn text<'a>(name: &str, value: &'a [u8]) -> Result<&'a str, Rejection> {
    std::str::from_utf8(value)
        .map_err(|_| malformed(format!("signed header `{name}` is not UTF-8 text")))
}

/// A header value trimmed, with runs of spaces and tabs inside it as one space.
fn push_trimmed(out: &mut String, value: &str) {
    let value = value.trim_ascii();
    let bytes = value.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b' ' || bytes[i] == b'\t' {
            // ASCII positions: char boundaries. Trimmed: a run is always followed by text.
            out.push_str(&value[start..i]);
            out.push(' ');
            while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
                i += 1;
            }
            start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&value[start..]);
}

/// The query's `name=value` pairs, raw, empty pieces skipped.
pub(super) fn query_params(query: &str) -> impl Iterator<Item = (&str, &str)> {
    // A byte scan: the pieces are short, where `split('&')` pays for `memchr`'s set-up on each.
    let mut rest = Some(query);
    std::iter::from_fn(move || {
        loop {
            let text = rest?;
            let piece = match text.bytes().position(|b| b == b'&') {
                Some(i) => {
                    rest = Some(&text[i + 1..]);
                    &text[..i]
                }
                None => {
                    rest = None;
                    text
                }
            };
            if piece.is_empty() {
                continue;
            }
            return Some(match piece.bytes().position(|b| b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, ""),
            });
        }
    })
}

/// AWS's canonical query: each name and value decoded and re-encoded, sorted by name then
/// value; for a presigned URL, without `X-Amz-Signature`.
pub(super) fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = query_params(query)
        .filter(|(name, _)| !(presigned && *name == "X-Amz-Signature"))
        .map(|(name, value)| (reencode(name), reencode(value)))
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// `text` decoded and encoded again with [`AWS_ENCODE`]. Text that is already in that form (only
/// unreserved bytes and upper-case `%XX` of bytes that are not) is returned as it is, without the
/// two copies: what clients send almost always is.
fn reencode(text: &str) -> Cow<'_, str> {
    if is_aws_encoded(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    let decoded: Vec<u8> = percent_decode_str(text).collect();
    Cow::Owned(percent_encoding::percent_encode(&decoded, AWS_ENCODE).to_string())
}

/// Whether decoding `text` and encoding it again with [`AWS_ENCODE`] gives `text` back.
fn is_aws_encoded(text: &[u8]) -> bool {
    let upper_hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if is_unreserved(b) {
            i += 1;
            continue;
        }
        // Anything else must be an upper-case escape of a byte the encoding escapes.
        let (Some(&hi), Some(&lo)) = (text.get(i + 1), text.get(i + 2)) else {
            return false;
        };
        match (b, upper_hex(hi), upper_hex(lo)) {
            (b'%', Some(hi), Some(lo)) if !is_unreserved((hi << 4) | lo) => i += 3,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scheme;
    use crate::sigv4::{SigV4, UNSIGNED_PAYLOAD};

    fn parsed(extra: (&str, &[u8])) -> (SigV4Credentials, Parts) {
        let (parts, ()) = http::Request::get("/a?b=2&a=1")
            .header("host", "example.amazonaws.com")
            .header("x-amz-date", "20150830T123600Z")
            .header(extra.0, http::HeaderValue::from_bytes(extra.1).unwrap())
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/\
                     aws4_request, SignedHeaders=host;x-amz-date;x-meta, Signature={}",
                    "0".repeat(64)
                ),
            )
            .body(())
            .unwrap()
            .into_parts();
        let creds = SigV4::new("us-east-1", "service")
            .parse(&parts, 8192)
            .unwrap();
        (creds, parts)
    }

    #[test]
    fn queries_sort_and_reencode() {
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1", false),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(canonical_query("b&a=%7e&a=1", false), "a=1&a=~&b=");
        assert_eq!(
            query_params("&&a=1=2&b&&=c&").collect::<Vec<_>>(),
            [("a", "1=2"), ("b", ""), ("", "c")]
        );
        assert_eq!(query_params("").count(), 0);
        assert_eq!(canonical_query("k=a b!", false), "k=a%20b%21");
        // Already in AWS's form: kept as sent; any other spelling of the same bytes re-encoded.
        assert_eq!(canonical_query("k=a%20b%2F~", false), "k=a%20b%2F~");
        assert_eq!(canonical_query("k=a%2fb%7E%41", false), "k=a%2Fb~A");
        assert_eq!(
            canonical_query("k=%&j=%4&i=%zz", false),
            "i=%25zz&j=%254&k=%25"
        );
        assert_eq!(
            canonical_query("k=%C3%A9&j=\u{e9}", false),
            "j=%C3%A9&k=%C3%A9"
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=ab&X-Amz-Date=1", true),
            "X-Amz-Date=1"
        );
    }

    #[test]
    fn text_kept_as_sent_is_exactly_what_decoding_and_encoding_again_gives() {
        let pieces = [
            "a", "Z", "0", "-", "~", ".", "%", "2", "F", "f", "E", "7", "4", " ", "é", "+", "/",
        ];
        let mut texts = vec![String::new()];
        let mut last = texts.clone();
        for _ in 0..4 {
            last = last
                .iter()
                .flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}")))
                .collect();
            texts.extend(last.iter().cloned());
        }
        for text in &texts {
            let decoded: Vec<u8> = percent_decode_str(text).collect();
            let expected = percent_encoding::percent_encode(&decoded, AWS_ENCODE).to_string();
            assert_eq!(reencode(text), expected, "{text:?}");
            assert_eq!(
                is_aws_encoded(text.as_bytes()),
                *text == expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn header_values_are_trimmed_and_inner_runs_collapsed() {
        for (given, expected) in [
            ("  a  b\t\tc ", "a b c"),
            ("a", "a"),
            ("", ""),
            (" \t ", ""),
            ("é  ü", "é ü"),
        ] {
            let mut out = String::new();
            push_trimmed(&mut out, given);
            assert_eq!(out, expected, "{given:?}");
        }
    }

    #[test]
    fn the_canonical_request_is_built_line_by_line() {
        let (creds, parts) = parsed(("x-meta", b"  caf\xc3\xa9   au  lait "));
        let canonical = CanonicalRequest::new(&creds, &parts, UNSIGNED_PAYLOAD).unwrap();
        assert_eq!(
            canonical.to_string(),
            "GET\n/a\na=1&b=2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\
             x-meta:café au lait\n\nhost;x-amz-date;x-meta\nUNSIGNED-PAYLOAD"
        );
        assert_eq!(canonical.payload_hash(), UNSIGNED_PAYLOAD);
    }

    #[test]
    fn a_signed_header_that_is_not_utf8_is_refused() {
        // The canonical request is text: what an answer shows is what the MAC covered.
        let (creds, parts) = parsed(("x-meta", b"caf\xe9"));
        let err = CanonicalRequest::new(&creds, &parts, UNSIGNED_PAYLOAD).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization);
        assert_eq!(
            err.detail(),
            Some("signed header `x-meta` is not UTF-8 text")
        );
    }

    #[test]
    fn setting_the_payload_hash_replaces_the_last_line() {
        let (creds, parts) = parsed(("x-meta", b"1"));
        let mut canonical = CanonicalRequest::new(&creds, &parts, UNSIGNED_PAYLOAD).unwrap();
        let unsigned = canonical.to_string();
        let empty = super::super::hexdigits::EMPTY_SHA256_HEX;
        canonical.set_payload_hash(empty);
        assert_eq!(canonical.payload_hash(), empty);
        assert_eq!(
            canonical.to_string(),
            unsigned.replace(UNSIGNED_PAYLOAD, empty)
        );
        canonical.set_payload_hash(UNSIGNED_PAYLOAD);
        assert_eq!(canonical.to_string(), unsigned);
    }

    #[test]
    fn the_string_to_sign_display_is_what_its_signature_covers() {
        let (creds, parts) = parsed(("x-meta", b"1"));
        let canonical = CanonicalRequest::new(&creds, &parts, UNSIGNED_PAYLOAD).unwrap();
        let sts = StringToSign::new(&creds, &canonical);
        let text = sts.to_string();
        assert_eq!(
            text,
            format!(
                "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}",
                hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
            )
        );
        let key = [7u8; 32];
        let mut mac = hmac(&key);
        mac.update(text.as_bytes());
        assert_eq!(
            sts.signature(&key),
            <[u8; 32]>::from(mac.finalize().into_bytes())
        );
    }
}
