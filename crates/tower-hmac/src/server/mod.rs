//! The verifying middleware.
//!
//! [`HmacAuthLayer`] checks, in this order, and answers the first failure with a response:
//!
//! 1. parse the `Authorization` header strictly (`missing_authorization`, `malformed_authorization`,
//!    `unsupported_scheme`);
//! 2. look the key id up in the [`KeyRegistry`](crate::protocol::KeyRegistry) (`unknown_key`,
//!    `revoked_key`, `503 key_store_unavailable`) — an unknown or revoked key still costs the
//!    work of a bad signature (steps 5–7 with a decoy key) before it is refused, so the answer's
//!    timing does not tell which key ids exist;
//! 3. the host is one of the allowed hosts (`host_not_allowed`);
//! 4. the timestamp is within the allowed skew (`stale_timestamp`, with the server's time);
//! 5. every signed header is present (`missing_signed_header`);
//! 6. read the body up to the limit and hash it as it arrives (`413 body_too_large`,
//!    `400 body_unreadable`, `408 body_timeout`);
//! 7. the MAC matches, compared in constant time (`invalid_signature`);
//! 8. record the nonce in the replay store — only now, so strangers cannot fill it
//!    (`replayed_nonce`, `503 replay_store_unavailable`);
//! 9. call the inner service with the body unchanged and [`Authenticated`](crate::Authenticated)
//!    in the request's extensions.
//!
//! Default use:
//!
//! ```
//! use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry};
//!
//! let registry = InMemoryRegistry::new();
//! let layer = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.example.com"]).unwrap())
//!
//!     .build()
//!     .unwrap();
//! ```
//!
//! Customised:
//!
//! ```
//! use std::time::Duration;
//! use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore};
//!
//! let layer = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["api.example.com", "api.example.com:8443"]).unwrap())
//!
//!     .max_skew(Duration::from_secs(60))
//!     .body_limit(64 * 1024)
//!     .nonce_store(MemoryNonceStore::with_memory_budget(64 << 20).unwrap())
//!     .build()
//!     .unwrap();
//! ```

mod body;
mod future;
mod layer;
mod response;
mod schemes;
mod service;
mod verification;
mod verify;

pub use body::{ResponseBody, VerifiedBody};
pub use future::ResponseFuture;
pub use layer::{DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, HmacAuthBuilder, HmacAuthLayer};
pub use response::{DefaultResponder, RejectionResponder, challenge, problem_json};
pub use schemes::{
    Push, SchemeSet, Verification1, Verification2, Verification3, Verification4, Verification5,
    Verification6, Verification7, Verification8,
};
pub use service::HmacAuth;
pub use verification::SchemeVerification;
pub use verify::{Failure, TRACING_TARGET, Verifier};
