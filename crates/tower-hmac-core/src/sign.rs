//! Signing requests (the client side of protocol v1).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};

use crate::authorization::{Authorization, MAX_SIGNED_HEADERS, Signature};
use crate::canonical::{CanonicalRequest, HeaderProblem, push_signed_header_value};
use crate::key::{KeyError, SecretKey};

/// A fresh nonce: 128 random bits from the OS CSPRNG, base64url without padding (22 characters).
pub fn generate_nonce() -> Result<String, KeyError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| KeyError::RandomUnavailable)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The parts of a request that a signature covers besides its body: implemented for
/// `http::request::Parts`, `http::Request<B>` and `(&Method, &Uri, &HeaderMap)`.
pub trait Head {
    /// The method.
    fn method(&self) -> &Method;
    /// The target.
    fn uri(&self) -> &Uri;
    /// The header fields.
    fn headers(&self) -> &HeaderMap;
}

impl Head for http::request::Parts {
    fn method(&self) -> &Method {
        &self.method
    }
    fn uri(&self) -> &Uri {
        &self.uri
    }
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl<B> Head for http::Request<B> {
    fn method(&self) -> &Method {
        self.method()
    }
    fn uri(&self) -> &Uri {
        self.uri()
    }
    fn headers(&self) -> &HeaderMap {
        self.headers()
    }
}

impl Head for (&Method, &Uri, &HeaderMap) {
    fn method(&self) -> &Method {
        self.0
    }
    fn uri(&self) -> &Uri {
        self.1
    }
    fn headers(&self) -> &HeaderMap {
        self.2
    }
}

/// What a signature covers besides the request: its time, its nonce, and the headers signed
/// besides `host`.
#[derive(Debug, Clone, Copy)]
pub struct SignParams<'a> {
    timestamp: u64,
    nonce: &'a str,
    headers: &'a [HeaderName],
}

impl<'a> SignParams<'a> {
    /// Signed at `timestamp` (Unix seconds) with `nonce` (a fresh one per request:
    /// [`generate_nonce`]); `host` is the only header signed unless [`headers`](Self::headers)
    /// adds more.
    pub fn new(timestamp: u64, nonce: &'a str) -> Self {
        Self {
            timestamp,
            nonce,
            headers: &[],
        }
    }

    /// Also signs these headers (any order, duplicates ignored), each of which the request must
    /// have.
    pub fn headers(mut self, headers: &'a [HeaderName]) -> Self {
        self.headers = headers;
        self
    }
}

/// Signs requests with one key.
///
/// ```
/// use tower_hmac_core::{SecretKey, SignParams, Signer, body_sha256};
///
/// let key = SecretKey::from_bytes(&[42; 32]).unwrap();
/// let signer = Signer::new("backoffice-1", key).unwrap();
/// let request = http::Request::get("https://api.example.com/orders?id=7").body(()).unwrap();
/// let params = SignParams::new(1_700_000_000, "AAAAAAAAAAAAAAAAAAAAAA");
/// let auth = signer.sign(&request, &body_sha256(b""), &params).unwrap();
/// assert!(auth.to_string().starts_with("HMAC-SHA256 Credential=backoffice-1, Timestamp=1700000000"));
/// ```
#[derive(Clone)]
pub struct Signer {
    key_id: String,
    key: Arc<SecretKey>,
}

impl Signer {
    /// A signer for `key_id` (checked against the protocol's grammar).
    pub fn new(
        key_id: impl Into<String>,
        key: impl Into<Arc<SecretKey>>,
    ) -> Result<Self, SignError> {
        let key_id = key_id.into();
        let probe = Authorization::new(
            &key_id,
            0,
            "AAAAAAAAAAAAAAAA",
            &[header::HOST],
            Signature::from_bytes([0; 32]),
        );
        if probe.is_err() {
            return Err(SignError::InvalidKeyId);
        }
        Ok(Self {
            key_id,
            key: key.into(),
        })
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The key.
    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    /// The `Authorization` header for a request whose body has this SHA-256.
    ///
    /// `host` is always signed, and the headers the parameters name. When the request has no
    /// `Host`, the URI's authority is signed as the host, so the caller must then send it as `Host`
    /// (or `:authority`).
    pub fn sign(
        &self,
        head: &impl Head,
        body_sha256: &[u8; 32],
        params: &SignParams<'_>,
    ) -> Result<Authorization, SignError> {
        let (method, uri, headers) = (head.method(), head.uri(), head.headers());
        let (timestamp, nonce, signed) = (params.timestamp, params.nonce, params.headers);
        let mut names: Vec<HeaderName> = Vec::with_capacity(signed.len() + 1);
        names.push(header::HOST);
        names.extend(signed.iter().cloned());
        names.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        names.dedup();
        if names.contains(&header::AUTHORIZATION) {
            return Err(SignError::AuthorizationSigned);
        }
        if names.len() > MAX_SIGNED_HEADERS {
            return Err(SignError::TooManyHeaders);
        }
        let placeholder = Signature::from_bytes([0; 32]);
        let auth = Authorization::new(&self.key_id, timestamp, nonce, &names, placeholder)
            .map_err(|_| SignError::InvalidNonceOrTimestamp)?;
        let canonical = CanonicalRequest::new(&auth, method, uri, headers).map_err(|_| {
            // Name the header that cannot be signed, and why.
            names
                .iter()
                .find_map(
                    |n| match push_signed_header_value(&mut Vec::new(), uri, headers, n) {
                        Ok(()) => None,
                        Err(HeaderProblem::Absent) => {
                            Some(SignError::MissingHeader(n.as_str().to_owned()))
                        }
                        Err(HeaderProblem::Repeated) => {
                            Some(SignError::RepeatedHeader(n.as_str().to_owned()))
                        }
                    },
                )
                .unwrap_or_else(|| SignError::MissingHeader(String::new()))
        })?;
        let signature = canonical.sign(&self.key, body_sha256);
        Ok(auth.with_signature(signature))
    }
}

impl Signer {
    /// Signs a request in place: sets `Host` from the URI's authority when the request has none
    /// (so that what is signed is what is sent), then sets `Authorization`, marked sensitive.
    pub fn authorize(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &mut HeaderMap,
        body_sha256: &[u8; 32],
        params: &SignParams<'_>,
    ) -> Result<(), SignError> {
        if !headers.contains_key(header::HOST) {
            let authority = uri
                .authority()
                .ok_or_else(|| SignError::MissingHeader("host".into()))?;
            let value = HeaderValue::from_str(authority.as_str())
                .map_err(|_| SignError::MissingHeader("host".into()))?;
            headers.insert(header::HOST, value);
        }
        let auth = self.sign(&(method, uri, &*headers), body_sha256, params)?;
        let mut value = HeaderValue::from_str(&auth.to_string())
            .map_err(|_| SignError::InvalidNonceOrTimestamp)?;
        value.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, value);
        Ok(())
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("key", &self.key)
            .finish()
    }
}

/// Why a request could not be signed, or a URL presigned: the one error of every fallible
/// client-side signing helper ([`Signer`], `token::issue`, `rfc9421::sign`, the gateways'
/// `authorization` and `signing_string`, `sigv4::presign_url`). No variant carries a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The key id breaks the grammar (1–128 of `A-Z a-z 0-9 . _ ~ -`), or (RFC 9421, the
    /// gateways) holds a character the credentials header cannot carry.
    #[error("invalid key id: 1 to 128 characters of A-Z a-z 0-9 . _ ~ -")]
    InvalidKeyId,
    /// The nonce or timestamp breaks the grammar (for RFC 9421: a nonce `Signature-Input` cannot
    /// carry, or a `created` of more than 15 digits).
    #[error("invalid nonce or timestamp")]
    InvalidNonceOrTimestamp,
    /// A header to sign is not in the request (for `host`: neither `Host` nor a URI authority).
    #[error("header {0:?} is to be signed but the request does not have it")]
    MissingHeader(String),
    /// A header to sign appears as more than one field line (the server refuses such a request:
    /// send one line, with the values joined as the header's syntax allows).
    #[error("header {0:?} is to be signed but appears more than once")]
    RepeatedHeader(String),
    /// `authorization` cannot be signed.
    #[error("the authorization header cannot be signed")]
    AuthorizationSigned,
    /// More than 32 headers to sign.
    #[error("at most 32 headers can be signed")]
    TooManyHeaders,
    /// A component to sign cannot be signed for this request: an RFC 9421 component identifier
    /// (`rfc9421::sign`), or a name a gateway format signs (`Kong::authorization`,
    /// `Apisix::authorization`). `component` is the identifier (as given, or as its structured
    /// field serializes it), `reason` says what is wrong with it. (A header that is absent is
    /// [`MissingHeader`](Self::MissingHeader), one that repeats
    /// [`RepeatedHeader`](Self::RepeatedHeader).)
    #[error("component `{}` cannot be signed: {reason}", Shown(component))]
    InvalidComponent {
        /// The component identifier.
        component: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A presigned URL's target is not absolute (`http://host/path`).
    #[error("the URL must be absolute, with a scheme and a host")]
    NotAbsolute,
    /// A presigned URL's expiry is outside 1 s to 7 days.
    #[error("the expiry must be 1 to 604800 seconds")]
    ExpiresOutOfRange,
    /// A presigned URL's region or service is empty or holds a `/`.
    #[error("the region and service must be non-empty and hold no `/`")]
    InvalidScope,
    /// The URL to presign already carries presigning parameters (`X-Amz-*`).
    #[error("the URL already carries X-Amz-* presigning parameters")]
    AlreadySigned,
}

/// Text as given, its control characters escaped (an error message stays on one line).
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::body_sha256;

    fn signer() -> Signer {
        Signer::new("k1", SecretKey::from_bytes(&[9; 32]).unwrap()).unwrap()
    }

    #[test]
    fn nonces_are_22_url_safe_characters_and_differ() {
        let a = generate_nonce().unwrap();
        let b = generate_nonce().unwrap();
        assert_eq!(a.len(), 22);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn rejects_invalid_key_id() {
        let key = SecretKey::from_bytes(&[9; 32]).unwrap();
        assert_eq!(
            Signer::new("a b", key).unwrap_err(),
            SignError::InvalidKeyId
        );
    }

    #[test]
    fn signs_host_and_listed_headers_sorted() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        headers.insert("x-b", "1".parse().unwrap());
        let uri: Uri = "http://h.example/p".parse().unwrap();
        let auth = signer()
            .sign(
                &(&Method::POST, &uri, &headers),
                &body_sha256(b"{}"),
                &crate::SignParams::new(5, "AAAAAAAAAAAAAAAAAAAAAA").headers(&[
                    HeaderName::from_static("x-b"),
                    header::CONTENT_TYPE,
                    header::HOST,
                ]),
            )
            .unwrap();
        assert_eq!(auth.signed_headers_str(), "content-type;host;x-b");
    }

    #[test]
    fn missing_header_is_named() {
        let uri: Uri = "http://h.example/p".parse().unwrap();
        let err = signer()
            .sign(
                &(&Method::GET, &uri, &HeaderMap::new()),
                &body_sha256(b""),
                &crate::SignParams::new(5, "AAAAAAAAAAAAAAAAAAAAAA")
                    .headers(&[header::CONTENT_TYPE]),
            )
            .unwrap_err();
        assert_eq!(err, SignError::MissingHeader("content-type".into()));
    }

    #[test]
    fn authorize_sets_host_and_a_sensitive_authorization() {
        let uri: Uri = "http://h.example:8080/p".parse().unwrap();
        let mut headers = HeaderMap::new();
        signer()
            .authorize(
                &Method::GET,
                &uri,
                &mut headers,
                &body_sha256(b""),
                &crate::SignParams::new(5, "AAAAAAAAAAAAAAAAAAAAAA"),
            )
            .unwrap();
        assert_eq!(headers[header::HOST], "h.example:8080");
        assert!(headers[header::AUTHORIZATION].is_sensitive());
        assert!(format!("{headers:?}").contains("Sensitive"));
    }

    #[test]
    fn a_repeated_header_is_named() {
        let uri: Uri = "http://h.example/p".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append("x-tag", "a".parse().unwrap());
        headers.append("x-tag", "b".parse().unwrap());
        let err = signer()
            .sign(
                &(&Method::GET, &uri, &headers),
                &body_sha256(b""),
                &crate::SignParams::new(5, "AAAAAAAAAAAAAAAAAAAAAA")
                    .headers(&[HeaderName::from_static("x-tag")]),
            )
            .unwrap_err();
        assert_eq!(err, SignError::RepeatedHeader("x-tag".into()));
    }

    #[test]
    fn refuses_to_sign_authorization() {
        let uri: Uri = "http://h.example/p".parse().unwrap();
        let err = signer()
            .sign(
                &(&Method::GET, &uri, &HeaderMap::new()),
                &body_sha256(b""),
                &crate::SignParams::new(5, "AAAAAAAAAAAAAAAAAAAAAA")
                    .headers(&[header::AUTHORIZATION]),
            )
            .unwrap_err();
        assert_eq!(err, SignError::AuthorizationSigned);
    }
}
