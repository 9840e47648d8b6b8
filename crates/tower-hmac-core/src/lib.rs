//! The core of [tower-hmac](https://docs.rs/tower-hmac): HMAC-SHA256 request authentication with
//! no I/O — the wire format, strict parsing, the string to sign, signing and constant-time
//! verification as pure functions over [`http`] types and bytes, plus the traits that key
//! registries and nonce stores implement. The clock is always passed in.
//!
//! ```
//! use http::{Request, header};
//! use tower_hmac_core::{Authorization, CanonicalRequest, SecretKey, SignParams, Signer, body_sha256};
//!
//! let key = SecretKey::from_base64("c2VjcmV0LWtleS1vZi1hdC1sZWFzdC0zMi1ieXRlcyEhIQ==").unwrap();
//! let body = br#"{"amount":7}"#;
//!
//! // Client: sign the request's head and the body's digest.
//! let request = Request::post("/payments")
//!     .header(header::HOST, "api.example.com")
//!     .header(header::CONTENT_TYPE, "application/json")
//!     .body(())
//!     .unwrap();
//! let signer = Signer::new("backoffice-2026", key.clone()).unwrap();
//! let signed = [header::CONTENT_TYPE];
//! let params = SignParams::new(1_700_000_000, "9b2Zr0Vq3kYH1xQmU5aWcA").headers(&signed);
//! let auth = signer.sign(&request, &body_sha256(body), &params).unwrap();
//!
//! // Server: parse strictly, rebuild the string to sign, compare in constant time.
//! let parsed = Authorization::parse(auth.to_string().as_bytes(), 4096).unwrap();
//! let (method, uri, headers) = (request.method(), request.uri(), request.headers());
//! let canonical = CanonicalRequest::new(&parsed, method, uri, headers).unwrap();
//! assert!(canonical.verify(&key, &body_sha256(body), parsed.signature()).is_ok());
//! assert!(canonical.verify(&key, &body_sha256(b"tampered"), parsed.signature()).is_err());
//! ```

mod authorization;
pub mod canonical;
pub mod challenge;
pub mod clock;
mod future;
#[cfg(any(feature = "kong", feature = "apisix"))]
pub mod gateway;
mod key;
mod nonce;
pub mod policy;
mod problem;
mod registry;
mod rejection;
#[cfg(feature = "rfc9421")]
pub mod rfc9421;
pub mod scheme;
mod sign;
#[cfg(feature = "sigv4")]
pub mod sigv4;
#[cfg(feature = "softaware")]
pub mod softaware;
#[cfg(feature = "token")]
pub mod token;
#[cfg(feature = "webhooks")]
pub mod webhooks;

pub use authorization::{
    Authorization, DEFAULT_MAX_HEADER_LEN, FormatError, MAX_KEY_ID_LEN, MAX_NONCE_LEN,
    MAX_SIGNED_HEADERS, MAX_TIMESTAMP_DIGITS, MIN_NONCE_LEN, SCHEME, Signature, is_valid_key_id,
};
pub use canonical::{
    BodyHasher, CanonicalRequest, EMPTY_BODY_SHA256, LINE_DIGEST_LABEL, Line, body_sha256,
    line_digests, line_layout, request_host, request_host_cow, trim_ows,
};
pub use challenge::Challenge;
pub use clock::{Clock, SystemClock};
#[cfg(feature = "test-util")]
pub use clock::{ManualClock, OffsetClock};
pub use future::StoreFuture;
pub use key::{KeyError, SecretKey};
pub use nonce::{
    NonceLifetime, NonceOutcome, NonceStore, NonceStoreError, NonceStoreErrorKind, unix_millis,
};
pub use policy::{AllowedHosts, DEFAULT_MAX_SKEW, HostError};
pub use problem::{Problem, ProblemError};
pub use registry::{KeyRecord, KeyRegistry, KeyState, RegistryError, is_valid_scope};
pub use rejection::{Diagnostics, Rejection, RejectionKind, TimeHint};
pub use scheme::{
    Credentials, Locator, ReplayKey, Scheme, V1, V1Pending, Verified, authorization_token,
};
pub use sign::{Head, SignError, SignParams, Signer, generate_nonce};
