//! RFC 9421 HTTP Message Signatures with `hmac-sha256` (feature `rfc9421`).
//!
//! ```text
//! Signature-Input: sig1=("@method" "@authority" "@path" "content-digest");created=1700000000;keyid="app-1";nonce="…"
//! Signature: sig1=:<Base64 of HMAC-SHA256(key, signature base)>:
//! ```
//!
//! Both fields are RFC 8941 dictionaries; a label appearing twice is refused. The shape clients
//! send (one member, no whitespace but one space between components, strings without escapes,
//! integers, a padded Base64 signature) is read without copying; anything else by the `sfv`
//! crate, which decides. The signature base is one line per covered component, `"<id>": <value>\n`, then
//! `"@signature-params": <the inner list, re-serialized>` (RFC 9421 §2.5). Supported components:
//! `@method`, `@authority`, `@scheme`, `@target-uri`, `@request-target`, `@path`, `@query`,
//! `@query-param;name="…"`, and header fields (lower-case, without parameters). A covered
//! `content-digest` (RFC 9530, `sha-256` and `sha-512`) is checked against the body as it streams.
//!
//! Parameters: `created` (required; the request's time), `expires`, `nonce`, `keyid` (required;
//! the registry's key id), `alg` (only `hmac-sha256`), `tag` (required to match when the server
//! names one). Any other parameter is refused. The server requires coverage of `@method`,
//! `@authority`, `@path`, `@query` when the request has a query, and `content-digest` when it has
//! a body (configurable); a covered `@target-uri` counts for `@scheme`, `@authority`, `@path`,
//! `@query` and `@request-target`, since the server derives it from the same request (it may
//! spell the scheme's default port, `https://host:443/…`: one more MAC on a mismatch). A signature
//! covering less is refused with `missing_covered_component`, the detail naming what is missing.
//! Replay: the nonce when present, else the signature.

mod base;
mod credentials;
mod fast;
mod parse;
mod scheme;
mod sign;

use http::HeaderName;

use crate::rejection::{Rejection, RejectionKind};

pub use credentials::{Rfc9421Credentials, Rfc9421Pending};
pub use scheme::Rfc9421;
pub use sign::{content_digest, sign};

/// The `alg` value this scheme accepts.
pub const ALG: &str = "hmac-sha256";

const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
const SIGNATURE: HeaderName = HeaderName::from_static("signature");
const CONTENT_DIGEST: &str = "content-digest";

/// The most members a `Signature-Input` or `Signature` dictionary may have.
const MAX_LABELS: usize = 16;

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}

fn missing(component: &str) -> Rejection {
    Rejection::new(RejectionKind::MissingCoveredComponent)
        .with_detail(format!("the signature must cover {component}"))
}
