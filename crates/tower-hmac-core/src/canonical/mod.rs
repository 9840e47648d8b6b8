//! The string to sign (docs/PROTOCOL.md, "String to sign").

mod body;
mod headers;
mod lines;
mod pool;
mod request;

pub use body::{BodyHasher, EMPTY_BODY_SHA256, body_sha256};
pub(crate) use headers::{HeaderProblem, push_signed_header_value};
pub use headers::{request_host, request_host_cow, trim_ows};
pub use lines::{LINE_DIGEST_LABEL, Line, line_digest_hex, line_digests, line_layout};
pub use request::CanonicalRequest;
