//! The client side: an `Authorization` value as softaware's `ApiKeyDelegatingHandler` makes it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::algorithms::{BodyAlg, BodyDigest, MacAlg};
use super::url_encode::url_encode_lowercase;
use crate::key::SecretKey;

/// The body hash a client chooses (the handler's `RequestBodyHashingMethod`), for
/// [`authorization_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BodyHash {
    /// `SHA256`, the handler's default.
    #[default]
    Sha256,
    /// `SHA384`.
    Sha384,
    /// `SHA512`.
    Sha512,
}

impl BodyHash {
    fn alg(self) -> BodyAlg {
        match self {
            Self::Sha256 => BodyAlg::Sha256,
            Self::Sha384 => BodyAlg::Sha384,
            Self::Sha512 => BodyAlg::Sha512,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
            Self::Sha384 => "SHA384",
            Self::Sha512 => "SHA512",
        }
    }
}

/// An `Authorization` value as softaware's `ApiKeyDelegatingHandler` makes it (HMACSHA256 with a
/// SHA256 body hash), for a request to `absolute_uri` (scheme, host, path and query as sent).
///
/// `nonce` is sent as given: the server accepts 32 lower-case hex digits by default
/// ([`generate_nonce`](super::generate_nonce)), and `timestamp` is Unix seconds (10 digits).
pub fn authorization(
    app_id: &str,
    key: &SecretKey,
    method: &str,
    absolute_uri: &str,
    body: &[u8],
    nonce: &str,
    timestamp: u64,
) -> String {
    authorization_with(
        app_id,
        key,
        method,
        absolute_uri,
        body,
        nonce,
        timestamp,
        BodyHash::Sha256,
    )
}

/// [`authorization`] with another body hash (HMACSHA256 still), as the handler makes it when
/// given a `RequestBodyHashingMethod`.
#[allow(clippy::too_many_arguments)] // the handler's inputs, one each
pub fn authorization_with(
    app_id: &str,
    key: &SecretKey,
    method: &str,
    absolute_uri: &str,
    body: &[u8],
    nonce: &str,
    timestamp: u64,
    body_hash: BodyHash,
) -> String {
    let mut content = Vec::new();
    content.extend_from_slice(app_id.as_bytes());
    content.extend_from_slice(method.as_bytes());
    url_encode_lowercase(absolute_uri.as_bytes(), &mut content);
    content.extend_from_slice(timestamp.to_string().as_bytes());
    content.extend_from_slice(nonce.as_bytes());
    if !body.is_empty() {
        let mut digest = BodyDigest::new(body_hash.alg());
        digest.update(body);
        content.extend_from_slice(STANDARD.encode(digest.finish()).as_bytes());
    }
    let mac = MacAlg::Sha256.mac(key, &[&content]);
    format!(
        "Hmac HMACSHA256:{}:{app_id}:{}:{nonce}:{timestamp}",
        body_hash.name(),
        STANDARD.encode(mac)
    )
}
