//! The canonical request: everything in the string to sign but the body hash, built before
//! the body is read.

use std::fmt;

use hmac::Mac;
use http::{HeaderMap, Method, Uri};

use super::headers::{HeaderProblem, push_signed_header_value};
use super::pool;
use crate::authorization::{Authorization, SCHEME, Signature};
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};

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
            prefix.extend_from_slice(name.as_bytes());
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
        let mut out = vec![0; self.prefix.len() + 64];
        let (prefix, digits) = out.split_at_mut(self.prefix.len());
        prefix.copy_from_slice(&self.prefix);
        // 32 bytes into 64 digits: cannot fail.
        let _ = hex::encode_to_slice(body_sha256, digits);
        out
    }

    /// The signature of this request under `key`.
    pub fn sign(&self, key: &SecretKey, body_sha256: &[u8; 32]) -> Signature {
        Signature::from_bytes(self.mac(key, body_sha256).finalize().into_bytes().into())
    }

    /// Checks `signature` in constant time (`Mac::verify_slice`). The `invalid_signature`
    /// rejection carries this string to sign, withheld ([`Rejection::with_signed_text`]): the
    /// layer sends its [`line_digests`](super::line_digests) under the key being verified.
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

#[cfg(test)]
mod tests {
    use http::{HeaderValue, header};

    use super::*;
    use crate::authorization::DEFAULT_MAX_HEADER_LEN;

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
}
