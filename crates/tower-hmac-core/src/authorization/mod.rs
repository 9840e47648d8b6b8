//! The protocol v1 `Authorization` header: strict parsing and formatting.

mod grammar;
mod header;
mod signature;
#[cfg(test)]
mod tests;
mod text;

pub use grammar::is_valid_key_id;
pub use header::{Authorization, FormatError};
pub use signature::Signature;

/// The scheme name of protocol v1 (matched case-insensitively).
pub const SCHEME: &str = "HMAC-SHA256";

/// The default limit on the `Authorization` header's length in bytes.
pub const DEFAULT_MAX_HEADER_LEN: usize = 4096;
/// The longest key id, in characters.
pub const MAX_KEY_ID_LEN: usize = 128;
/// The shortest nonce, in characters.
pub const MIN_NONCE_LEN: usize = 16;
/// The longest nonce, in characters.
pub const MAX_NONCE_LEN: usize = 128;
/// The most digits a timestamp may have.
pub const MAX_TIMESTAMP_DIGITS: usize = 12;
/// The most headers `SignedHeaders` may name.
pub const MAX_SIGNED_HEADERS: usize = 32;
