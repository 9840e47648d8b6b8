//! The API gateways' `hmac-auth` formats: Kong's (feature `kong`) and Apache APISIX's 3.11+
//! (feature `apisix`), both variants of draft-cavage HTTP Signatures and byte-compatible with
//! neither each other nor standard cavage clients. Their clients work unchanged; what the
//! gateways never had is added on the server (docs/PROTOCOL.md §5f, §5g).
//!
//! ```text
//! Kong:   Authorization: hmac username="…", algorithm="hmac-sha256", headers="date request-line", signature="<Base64>"
//!         (or Proxy-Authorization); signing string: one line per listed name, joined by "\n":
//!         `name: value`, `request-line` → `GET /path?q HTTP/1.1`,
//!         `@request-target` → `@request-target: get /path?q`, an absent header → `name:`
//! APISIX: Authorization: Signature keyId="…",algorithm="hmac-sha256",headers="@request-target date",signature="<Base64>"
//!         signing string: keyId, then per listed name `name: value`, `@request-target` →
//!         `GET /path?q`, an absent header → nothing; every line ends with "\n"
//! ```
//!
//! The HMAC key is the key's text form ([`SecretKey::text_form`]: the string a gateway consumer
//! was configured with, or the Base64 that `tower-hmac keygen` prints).
//!
//! What the gateways never had: the signature is the replay key, recorded after the MAC checks
//! out, within the window around the request's `Date` / `X-Date` — which must itself be signed;
//! a request with a body must sign a `Digest: SHA-256=…` that matches it; constant-time
//! comparisons; hmac-sha1 only by explicit opt-in, and allowed algorithms per key; the layer's
//! problem+json codes instead of a bare 401.
//!
//! [`SecretKey::text_form`]: crate::SecretKey::text_form

mod algorithm;
#[cfg(feature = "apisix")]
mod apisix;
mod credentials;
#[cfg(feature = "kong")]
mod kong;
mod parse;
mod rules;
mod scheme;
mod signing;

use crate::rejection::{Rejection, RejectionKind};

pub use algorithm::Algorithm;
#[cfg(feature = "apisix")]
pub use apisix::Apisix;
pub use credentials::{GatewayCredentials, GatewayPending};
#[cfg(feature = "kong")]
pub use kong::Kong;

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}
