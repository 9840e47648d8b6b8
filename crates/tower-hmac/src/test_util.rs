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

/// A scheme that looks for its credentials where it is told and verifies nothing: for tests of
/// scheme sets (what `build()` refuses beside it, what choosing among more schemes costs).
/// Credentials it finds are refused as malformed; it never accepts a request.
///
/// ```
/// use tower_hmac::protocol::Locator;
/// use tower_hmac::server::Schemes;
/// use tower_hmac::test_util::NullScheme;
///
/// let set = Schemes::v1().with(NullScheme("null", Locator::Authorization("Null")));
/// assert_eq!(set.ids(), ["v1", "null"]);
/// ```
#[derive(Debug, Clone)]
pub struct NullScheme(pub &'static str, pub tower_hmac_core::Locator);

impl tower_hmac_core::Scheme for NullScheme {
    type Credentials = tower_hmac_core::Authorization;
    type Pending = ();

    fn id(&self) -> &'static str {
        self.0
    }

    fn name(&self) -> &'static str {
        self.0
    }

    fn locator(&self) -> &tower_hmac_core::Locator {
        &self.1
    }

    fn parse(
        &self,
        _: &http::request::Parts,
        _: usize,
    ) -> Result<Self::Credentials, tower_hmac_core::Rejection> {
        Err(tower_hmac_core::RejectionKind::MalformedAuthorization.into())
    }

    fn prepare(
        &self,
        _: &Self::Credentials,
        _: &http::request::Parts,
        _: &SecretKey,
    ) -> Result<(), tower_hmac_core::Rejection> {
        Ok(())
    }

    fn update(&self, _: &mut (), _: &[u8]) {}

    fn verify(
        &self,
        _: &Self::Credentials,
        _: (),
        _: &SecretKey,
    ) -> Result<tower_hmac_core::Verified, tower_hmac_core::Rejection> {
        Err(tower_hmac_core::RejectionKind::InvalidSignature.into())
    }
}
