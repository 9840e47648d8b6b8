//! The verifying middleware.
//!
//! [`HmacAuthLayer`] checks, in this order, and answers the first failure with a response:
//!
//! 0. admit: a request [`skip`](HmacAuthBuilder::skip) picks is only read; HTTPS when
//!    [required](HmacAuthBuilder::require_https) (`403 https_required`); the client address's
//!    throttle (`429 too_many_failures`); a [trusted proxy](HmacAuthBuilder::trusted_proxies)'s
//!    forwarded host;
//! 1. pick, among the schemes the route allows ([`reserve`](HmacAuthBuilder::reserve)), the one
//!    scheme whose credentials the request carries, and parse them strictly
//!    (`missing_authorization`, `unsupported_scheme`, `400 ambiguous_credentials`,
//!    `malformed_authorization`);
//! 2. look the key id up in the [`KeyRegistry`](crate::registry::KeyRegistry)
//!    (`503 key_store_unavailable`). An unknown, revoked or scheme-limited key goes on with a
//!    decoy key through every step below, so neither the answer's timing nor — unless
//!    [`reveal_key_errors`](HmacAuthBuilder::reveal_key_errors) is on — its code tells which key
//!    ids exist;
//! 3. the request names one authority (`400 authority_mismatch`) and it is an allowed host
//!    (`host_not_allowed`, naming the host);
//! 4. the time: within the skew (`stale_timestamp`, with the server's time MACed for this
//!    request), or before the credentials' expiry (`expired`);
//! 5. the signed head is complete (`missing_signed_header`, `duplicate_signed_header`);
//! 6. read the body up to the limit and digest it as it arrives (`413 body_too_large`,
//!    `400 body_unreadable`, `408 body_timeout`, `400 trailers_not_allowed`);
//! 7. the MAC matches, compared in constant time (`invalid_signature`);
//! 8. record the nonce in the replay store — only now, so strangers cannot fill it
//!    (`replayed_nonce`; `stale_timestamp` for a request signed before the store's memory began;
//!    `429 replay_quota_exceeded`; `503 replay_store_unavailable`);
//! 9. call the inner service with the body unchanged and [`Authenticated`](crate::Authenticated)
//!    in the request's extensions.
//!
//! The checks are a hand-written future, and so is the service's response future: a protocol v1
//! request is verified without boxing anything; another scheme's credentials and state are boxed
//! once each.
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

// One concern per module, in the order a request meets them; no module imports one that
// imports it back: `layer` (the Tower types and the builder) uses every other; `verify` (the
// checks, in one path) uses `policy`, `respond` and `observe`; `policy` (throttle, risk, scopes)
// uses `respond` and `observe`; `respond` (answers) and `observe` (events and metrics) use
// neither.
mod layer;
mod observe;
mod policy;
mod respond;
mod verify;

pub use layer::{
    DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, HmacAuth, HmacAuthBuilder, HmacAuthLayer,
    ResponseFuture,
};
pub use observe::{RiskLevel, Signal, Signals, TRACING_TARGET};
#[cfg(feature = "policy")]
pub use policy::{
    ADDRESSES_PER_KEY, ActivityAnswer, ActivityCall, BucketAnswer, BucketCall, BucketScope,
    DEFAULT_RISK_MEMORY, DEFAULT_STORE_TIMEOUT, GcraRate, OnStoreError, PolicyStoreError,
    PolicyStoreErrorKind, RATE_INTERVAL_SECS, RATE_WARM_INTERVALS, SharedPolicyStore,
};
#[cfg(feature = "policy")]
pub use policy::{Alert, AlertHook, DEFAULT_THROTTLE_CAPACITY, FailureThrottle, RiskMonitor};
pub use policy::{RequireScope, RequireScopeService, ScopeFuture};
pub use respond::{
    DefaultResponder, RejectionResponder, ResponseBody, S3XmlResponder, challenge, problem_json,
};
pub use verify::VerifiedBody;
pub use verify::proxy::{PeerAddr, Tls, TrustedProxies};
pub use verify::schemes::Schemes;
