//! The string to sign (docs/PROTOCOL.md, "String to sign").

use std::borrow::Cow;
use std::fmt;

use hmac::Mac;
use http::{HeaderMap, HeaderName, Method, Uri, header};
use sha2::{Digest, Sha256};

use crate::authorization::{Authorization, SCHEME, Signature};
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};

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
    lines.extend(auth.signed_headers().iter().cloned().map(Line::Header));
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

/// The host a request is addressed to, lower-cased: the `Host` header or, when there is none
/// (HTTP/2), the URI's authority. `None` when there is neither, or when `Host` is repeated.
pub fn request_host(uri: &Uri, headers: &HeaderMap) -> Option<Vec<u8>> {
    request_host_cow(uri, headers).map(Cow::into_owned)
}

/// [`request_host`] without a copy when it can: the host as sent when it is already lower case
/// (as clients send it), a lower-cased copy otherwise. `None` as for [`request_host`].
pub fn request_host_cow<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<Cow<'a, [u8]>> {
    let mut lines = headers.get_all(header::HOST).iter();
    let raw = match lines.next() {
        Some(value) if lines.next().is_none() => trim_ows(value.as_bytes()),
        Some(_) => return None,
        None => match uri.authority().map(|a| a.as_str().as_bytes()) {
            Some(authority) if !authority.is_empty() => authority,
            _ => return None,
        },
    };
    Some(if raw.iter().any(u8::is_ascii_uppercase) {
        Cow::Owned(raw.to_ascii_lowercase())
    } else {
        Cow::Borrowed(raw)
    })
}

/// Why a signed header has no value to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// The request has no such header (for `host`: no `Host` and no URI authority).
    Absent,
    /// The header appears as more than one field line.
    Repeated,
}

/// Appends the value of the signed header `name` to `out`, trimmed of spaces and tabs (the host
/// as [`request_host`] gives it). On failure `out` is unchanged.
pub(crate) fn push_signed_header_value(
    out: &mut Vec<u8>,
    uri: &Uri,
    headers: &HeaderMap,
    name: &HeaderName,
) -> Result<(), HeaderProblem> {
    let mut lines = headers.get_all(name).iter();
    let Some(value) = lines.next() else {
        if name != header::HOST {
            return Err(HeaderProblem::Absent);
        }
        return match uri.authority().map(|a| a.as_str().as_bytes()) {
            Some(authority) if !authority.is_empty() => {
                let start = out.len();
                out.extend_from_slice(authority);
                out[start..].make_ascii_lowercase();
                Ok(())
            }
            _ => Err(HeaderProblem::Absent),
        };
    };
    if lines.next().is_some() {
        // Joined, two lines would verify as one value while the handler reads the first.
        return Err(HeaderProblem::Repeated);
    }
    let start = out.len();
    out.extend_from_slice(trim_ows(value.as_bytes()));
    if name == header::HOST {
        out[start..].make_ascii_lowercase();
    }
    Ok(())
}

#[cfg(test)]
fn signed_header_value(uri: &Uri, headers: &HeaderMap, name: &HeaderName) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    push_signed_header_value(&mut out, uri, headers, name)
        .ok()
        .map(|()| out)
}

/// `bytes` without leading and trailing spaces and tabs (HTTP's optional white space).
pub fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The parts of a request that are signed: everything in the string to sign but the body hash.
///
/// Built before the body is read, so a request missing a signed header is refused without reading
/// its body; [`verify`](Self::verify) then adds the body hash.
#[derive(Clone)]
pub struct CanonicalRequest {
    prefix: Vec<u8>,
}

impl CanonicalRequest {
    /// The canonical request for a parsed `Authorization` header and the request's head.
    ///
    /// Fails with `missing_signed_header` when a header named in `SignedHeaders` is absent, and
    /// with `duplicate_signed_header` when one appears as more than one field line.
    pub fn new(
        auth: &Authorization,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Self, Rejection> {
        let path = match uri.path() {
            "" => "/",
            path => path,
        };
        let query = uri.query().unwrap_or("");
        // From this thread's pool, and back to it on drop: no allocation per request once warm.
        let mut this = Self {
            prefix: pool::take(),
        };
        let prefix = &mut this.prefix;
        for line in [
            SCHEME,
            auth.timestamp_str(),
            auth.nonce(),
            auth.key_id(),
            method.as_str(),
            path,
            query,
            auth.signed_headers_str(),
        ] {
            prefix.extend_from_slice(line.as_bytes());
            prefix.push(b'\n');
        }
        for name in auth.signed_headers() {
            prefix.extend_from_slice(name.as_str().as_bytes());
            prefix.push(b':');
            // The name is the client's own (from SignedHeaders, a validated token): saying which
            // one spares a guess.
            match push_signed_header_value(prefix, uri, headers, name) {
                Ok(()) => {}
                Err(HeaderProblem::Absent) => {
                    return Err(
                        Rejection::new(RejectionKind::MissingSignedHeader).with_detail(format!(
                            "{name} is named in SignedHeaders but absent from the request"
                        )),
                    );
                }
                Err(HeaderProblem::Repeated) => {
                    return Err(
                        Rejection::new(RejectionKind::DuplicateSignedHeader).with_detail(format!(
                            "{name} is named in SignedHeaders and appears as more than one field line"
                        )),
                    );
                }
            }
            prefix.push(b'\n');
        }
        Ok(this)
    }

    /// The complete string to sign for a body with this SHA-256.
    pub fn string_to_sign(&self, body_sha256: &[u8; 32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.prefix.len() + 64);
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(hex::encode(body_sha256).as_bytes());
        out
    }

    /// The signature of this request under `key`.
    pub fn sign(&self, key: &SecretKey, body_sha256: &[u8; 32]) -> Signature {
        Signature::from_bytes(self.mac(key, body_sha256).finalize().into_bytes().into())
    }

    /// Checks `signature` in constant time (`Mac::verify_slice`). The `invalid_signature`
    /// rejection carries this string to sign, withheld ([`Rejection::with_signed_text`]): the
    /// layer sends its [`line_digests`] under the key being verified.
    pub fn verify(
        &self,
        key: &SecretKey,
        body_sha256: &[u8; 32],
        signature: &Signature,
    ) -> Result<(), Rejection> {
        self.mac(key, body_sha256)
            .verify_slice(signature.as_bytes())
            .map_err(|_| {
                Rejection::new(RejectionKind::InvalidSignature)
                    .with_signed_text(self.string_to_sign(body_sha256))
            })
    }

    fn mac(&self, key: &SecretKey, body_sha256: &[u8; 32]) -> crate::key::HmacSha256 {
        let mut hex_hash = [0u8; 64];
        // The buffer is exactly twice the input's length, so this cannot fail.
        let _ = hex::encode_to_slice(body_sha256, &mut hex_hash);
        let mut mac = key.mac();
        mac.update(&self.prefix);
        mac.update(&hex_hash);
        mac
    }
}

impl fmt::Debug for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanonicalRequest")
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .finish()
    }
}

impl Drop for CanonicalRequest {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.prefix));
    }
}

/// A small per-thread pool of canonical-string buffers (issue 16: no allocation on the accept
/// path). What they hold is the request's own text (method, target, signed header values, time,
/// nonce, key id), never key material; they are cleared, not wiped — as a freed buffer was not.
mod pool {
    use std::cell::RefCell;

    /// Buffers kept per thread: as many canonical requests as one thread has in flight at once,
    /// beyond which they are freed.
    const KEEP: usize = 64;
    /// A buffer grown past this (a request with many or long signed headers) is freed.
    const MAX_CAPACITY: usize = 4096;
    const INITIAL_CAPACITY: usize = 256;

    thread_local! {
        static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn take() -> Vec<u8> {
        FREE.try_with(|free| free.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| Vec::with_capacity(INITIAL_CAPACITY))
    }

    pub(super) fn give(mut buffer: Vec<u8>) {
        if buffer.capacity() == 0 || buffer.capacity() > MAX_CAPACITY {
            return;
        }
        buffer.clear();
        // During thread teardown the pool may be gone: the buffer is then simply freed.
        let _ = FREE.try_with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < KEEP {
                free.push(buffer);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::DEFAULT_MAX_HEADER_LEN;
    use http::HeaderValue;

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

    #[test]
    fn host_falls_back_to_the_uri_authority() {
        let uri: Uri = "https://API.example.com:8443/x".parse().unwrap();
        assert_eq!(
            request_host(&uri, &HeaderMap::new()).unwrap(),
            b"api.example.com:8443"
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("Other.Example"));
        assert_eq!(request_host(&uri, &headers).unwrap(), b"other.example");
    }

    #[test]
    fn no_host_at_all_is_a_missing_signed_header() {
        let auth = Authorization::parse(
            b"HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
            DEFAULT_MAX_HEADER_LEN,
        )
        .unwrap();
        let uri: Uri = "/x".parse().unwrap();
        let err = CanonicalRequest::new(&auth, &Method::GET, &uri, &HeaderMap::new()).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::MissingSignedHeader);
        assert_eq!(
            err.detail(),
            Some("host is named in SignedHeaders but absent from the request")
        );
    }

    #[test]
    fn a_signed_header_on_two_field_lines_is_refused() {
        let auth = Authorization::parse(
            b"HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=content-type;host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
            DEFAULT_MAX_HEADER_LEN,
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("h"));
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        let uri: Uri = "/x".parse().unwrap();
        let err = CanonicalRequest::new(&auth, &Method::POST, &uri, &headers).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::DuplicateSignedHeader);
        assert!(err.detail().unwrap().starts_with("content-type "));
        // An unsigned header may repeat.
        headers.append("x-unsigned", HeaderValue::from_static("1"));
        headers.append("x-unsigned", HeaderValue::from_static("2"));
        headers.remove(header::CONTENT_TYPE);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(CanonicalRequest::new(&auth, &Method::POST, &uri, &headers).is_ok());
    }

    #[test]
    fn a_repeated_host_has_no_request_host() {
        let mut headers = HeaderMap::new();
        headers.append(header::HOST, HeaderValue::from_static("a.example"));
        headers.append(header::HOST, HeaderValue::from_static("b.example"));
        assert!(request_host(&"/x".parse().unwrap(), &headers).is_none());
    }

    #[test]
    fn the_checked_host_is_the_signed_host() {
        let cases: [(&str, Option<&str>); 5] = [
            ("/x", Some("api.example.com")),
            ("/x", Some("  Api.Example.COM:8443\t")),
            ("https://Other.Example/x", None),
            ("/x", None),
            ("/x", Some("")),
        ];
        for (uri, host) in cases {
            let uri: Uri = uri.parse().unwrap();
            let mut headers = HeaderMap::new();
            if let Some(host) = host {
                headers.insert(header::HOST, host.parse().unwrap());
            }
            let cow = request_host_cow(&uri, &headers);
            // The host the layer checks is the one the canonical string signs.
            let signed = signed_header_value(&uri, &headers, &header::HOST);
            assert_eq!(cow.as_deref(), signed.as_deref(), "{uri} {host:?}");
            // Already lower case: no copy.
            if host == Some("api.example.com") {
                assert!(matches!(cow, Some(Cow::Borrowed(_))));
            }
        }
        let mut twice = HeaderMap::new();
        twice.append(header::HOST, "a".parse().unwrap());
        twice.append(header::HOST, "b".parse().unwrap());
        assert!(request_host_cow(&"/x".parse().unwrap(), &twice).is_none());
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

    #[test]
    fn empty_signed_header_value_is_present() {
        let mut headers = HeaderMap::new();
        headers.insert("x-empty", HeaderValue::from_static(""));
        let uri: Uri = "http://h/".parse().unwrap();
        assert_eq!(
            signed_header_value(&uri, &headers, &HeaderName::from_static("x-empty")).unwrap(),
            b""
        );
        assert!(
            signed_header_value(&uri, &headers, &HeaderName::from_static("x-absent")).is_none()
        );
    }
}
