//! Helpers for tests of services behind the layer (feature `test-util`).
//!
//! ```
//! use tower_hmac::SecretKey;
//! use tower_hmac::test_util::sign_request;
//!
//! let key = SecretKey::from_bytes(&[7; 32]).unwrap();
//! let mut request = http::Request::post("https://api.example.com/orders")
//!     .body(br#"{"id":7}"#.to_vec())
//!     .unwrap();
//! let body = request.body().clone();
//! sign_request(&mut request, &body, "backoffice-1", &key, 1_700_000_000).unwrap();
//! assert!(request.headers()["authorization"].to_str().unwrap().starts_with("HMAC-SHA256 "));
//! ```

use tower_hmac_core::{SecretKey, SignError, SignParams, Signer, body_sha256, generate_nonce};

pub use tower_hmac_core::{ManualClock, OffsetClock};

/// Signs `request` in place, as a client would, for a body of these bytes at `timestamp` (Unix
/// seconds) with a fresh nonce: sets `Host` (from the URI, when absent) and `Authorization`,
/// signing `host` and `content-type` when present.
pub fn sign_request<B>(
    request: &mut http::Request<B>,
    body: &[u8],
    key_id: &str,
    key: &SecretKey,
    timestamp: u64,
) -> Result<(), SignError> {
    let signer = Signer::new(key_id, key.clone())?;
    let nonce = generate_nonce().map_err(|_| SignError::InvalidNonceOrTimestamp)?;
    let signed: &[http::HeaderName] = if request.headers().contains_key(http::header::CONTENT_TYPE)
    {
        &[http::header::CONTENT_TYPE]
    } else {
        &[]
    };
    let (method, uri) = (request.method().clone(), request.uri().clone());
    signer.authorize(
        &method,
        &uri,
        request.headers_mut(),
        &body_sha256(body),
        &SignParams::new(timestamp, &nonce).headers(signed),
    )
}
