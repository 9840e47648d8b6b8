//! softaware.Authentication.Hmac, the ASP.NET Core `Hmac` scheme (feature `softaware`): its
//! clients (`ApiKeyDelegatingHandler`) work unchanged, with its weaknesses fixed on the server.
//!
//! ```text
//! Authorization: Hmac <HmacAlg>:<BodyAlg>:<AppId>:<Base64Signature>:<Nonce>:<UnixSeconds>
//! Authorization: Hmac <AppId>:<Base64Signature>:<Nonce>:<UnixSeconds>      (older; legacy)
//! signature = Base64(HMAC_alg(key, UTF-8 of AppId + Method
//!             + UrlEncode(lowercase(absolute URI)) + UnixSeconds + Nonce + Base64(body hash))))
//! ```
//!
//! The absolute URI is the scheme (the one clients reach the server by; see
//! [`Softaware::uri_scheme`]) + `://` + the `Host` header + path + `?query`; lower-casing is ASCII;
//! UrlEncode is .NET's `WebUtility.UrlEncode`; the body-hash part is empty without a body. The
//! AppId is the registry's key id and the ApiKey the key's Base64.
//!
//! Fixed here: only HMACSHA256/384/512 with SHA256/384/512 by default (MD5, SHA1 and the
//! four-field form only with [`Softaware::allow_legacy`]); the nonce is recorded only after the
//! MAC checks out, for the whole window, per key; several keys per app; a malformed header is a
//! `401 malformed_authorization`, never a 500.
//!
//! The signed string has no separators, so its fields are told apart by their syntax alone: the
//! time is exactly 10 digits (what `ToUnixTimeSeconds` gives from 2001 to 2286) and the nonce
//! exactly 32 lower-case hex digits (the handler's `Guid.NewGuid().ToString("N")`), so the
//! URI, the time, the nonce and the body hash each start and end where the server expects. A
//! wider nonce is a setting that weakens this ([`NonceSyntax::Legacy`]).
//!
//! ```
//! use tower_hmac_core::softaware::{NonceSyntax, Softaware};
//!
//! // The default: what softaware's own client sends.
//! let strict = Softaware::new();
//! // Clients of another implementation whose nonces are not GUIDs (weakens security).
//! let wider = Softaware::new().nonce_syntax(NonceSyntax::Legacy);
//! # let _ = (strict, wider);
//! ```

mod algorithms;
mod client;
mod credentials;
mod nonce;
mod scheme;
mod url_encode;

use crate::rejection::{Rejection, RejectionKind};

pub use client::{BodyHash, authorization, authorization_with};
pub use credentials::{SoftawareCredentials, SoftawarePending};
pub use nonce::{NonceSyntax, generate_nonce};
pub use scheme::Softaware;

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}
