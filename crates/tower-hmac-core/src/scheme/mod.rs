//! Schemes: the wire formats a server can verify.
//!
//! A scheme says where its credentials are ([`Locator`]), parses them, builds what it signs from
//! the request's head, consumes the body as it streams (hashing it with whatever digests it needs,
//! or MACing it with the key), and checks the MAC in constant time. Everything else — choosing
//! the scheme, key lookup, the host and clock checks, body limits, the replay guard, rejections —
//! is shared, and done by the server in the same order for every scheme. Protocol v1 is [`V1`].

use bytes::Bytes;
use http::request::Parts;

use crate::key::SecretKey;
use crate::policy;
use crate::rejection::Rejection;

mod locator;
mod v1;
mod verified;

pub use locator::{Locator, UriScheme, authorization_token};
#[cfg(any(feature = "softaware", feature = "rfc9421"))]
pub(crate) use locator::{host_of, uri_scheme_of};
pub use v1::{V1, V1Pending};
pub use verified::{ReplayKey, Verified};

/// What the shared checks need from any scheme's credentials.
pub trait Credentials: Send + Sync + 'static {
    /// The key id, looked up in the registry and part of the replay key.
    fn key_id(&self) -> &str;
    /// The request's nonce as sent, when the format has one (the empty string otherwise): what a
    /// `stale_timestamp` answer's time MAC is bound to, and the replay key of a scheme whose
    /// [`verify`](Scheme::verify) returns [`Verified::signed_nonce`] (a nonce its MAC covers).
    fn nonce(&self) -> &str;
    /// When the request may be accepted, and so how long its replay key is remembered.
    fn freshness(&self) -> Freshness;
}

/// When a request may be accepted, as its credentials say: the one value the shared time checks
/// and the replay guard's memory read from a scheme.
///
/// Not `non_exhaustive`: the layer must understand every form a scheme can give, so a new one is
/// a new version of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Signed at `at` (Unix seconds): accepted within the window around it — the layer's
    /// `max_skew`, or the scheme's own [`Scheme::max_skew`] — either way (`stale_timestamp`
    /// outside it), and remembered as long as a copy could be accepted.
    Window {
        /// The signing time, Unix seconds.
        at: u64,
    },
    /// Valid from `from` (less the window) until `until`, inclusive (a presigned URL, an
    /// RFC 9421 `expires`, the token's lifetime): `expired` after it, `stale_timestamp` when
    /// `from` is still ahead; remembered until `until`.
    Until {
        /// The signing time, Unix seconds.
        from: u64,
        /// The last second the credentials are valid, Unix seconds.
        until: u64,
    },
    /// No time at all (GitHub's webhook signature): nothing about time is checked, and the
    /// replay key is remembered for `remember` from when it is first seen — a delivery captured
    /// earlier is refused only while it is remembered.
    Untimed {
        /// How long the replay key is remembered.
        remember: std::time::Duration,
    },
}

impl Freshness {
    /// The signing time the credentials name (Unix seconds), when they name one.
    pub const fn signed_at(&self) -> Option<u64> {
        match *self {
            Self::Window { at } => Some(at),
            Self::Until { from, .. } => Some(from),
            Self::Untimed { .. } => None,
        }
    }
}

/// A wire format.
///
/// A request goes through: [`parse`](Self::parse) → (key lookup, host, time) →
/// [`prepare`](Self::prepare) with the key → [`update`](Self::update) with every body chunk →
/// [`verify`](Self::verify). `prepare` runs before any body byte is read, so a request missing a
/// signed part is refused without reading its body.
pub trait Scheme: Send + Sync + 'static {
    /// The parsed credentials.
    type Credentials: Credentials;
    /// What `prepare` builds and the body updates: the signed head, and the body's digests.
    type Pending: Send + 'static;

    /// A short stable id (`v1`, `sigv4`, …): what a registry lists to limit a key to some schemes,
    /// and what [`Authenticated::scheme`] reports.
    ///
    /// [`Authenticated::scheme`]: https://docs.rs/tower-hmac/latest/tower_hmac/struct.Authenticated.html
    fn id(&self) -> &'static str;

    /// The scheme name, as used in `WWW-Authenticate`.
    fn name(&self) -> &'static str;

    /// Where the request carries this scheme's credentials (checked for every request, for every
    /// enabled scheme: return a `static` or a field, built once).
    fn locator(&self) -> &Locator;

    /// Reads the credentials from the request's head (`malformed_authorization`).
    fn parse(&self, parts: &Parts, max_header_len: usize) -> Result<Self::Credentials, Rejection>;

    /// Builds the signed representation of the head (`missing_signed_header`, …) and the body's
    /// digest state, with the key (a scheme may MAC the body with it).
    fn prepare(
        &self,
        credentials: &Self::Credentials,
        parts: &Parts,
        key: &SecretKey,
    ) -> Result<Self::Pending, Rejection>;

    /// Adds the next body chunk.
    fn update(&self, pending: &mut Self::Pending, chunk: &[u8]);

    /// Adds the next body chunk, as read, and hands `out` what the inner service reads of it: by
    /// default the chunk itself (after [`update`](Self::update)). A scheme whose body is encoded
    /// (SigV4's `aws-chunked` uploads) decodes it here — it may hand on nothing, one piece or
    /// several (each a slice of the input where it can: no copy) — and refuses the body at its
    /// first bad part.
    fn decode(
        &self,
        pending: &mut Self::Pending,
        chunk: Bytes,
        out: &mut dyn FnMut(Bytes),
    ) -> Result<(), Rejection> {
        self.update(pending, &chunk);
        out(chunk);
        Ok(())
    }

    /// Adjusts the head the inner service receives, once the request is accepted (SigV4's
    /// streaming uploads: the decoded `Content-Length`, without `aws-chunked`). By default,
    /// nothing.
    fn accepted(&self, credentials: &Self::Credentials, parts: &mut Parts) {
        let _ = (credentials, parts);
    }

    /// This scheme's own window around the request's time, replacing the layer's
    /// ([`max_skew`](https://docs.rs/tower-hmac/latest/tower_hmac/server/struct.HmacAuthBuilder.html#method.max_skew)):
    /// SigV4's 15 minutes. `None` (the default): the layer's.
    fn max_skew(&self) -> Option<std::time::Duration> {
        None
    }

    /// Checks the signature in constant time (`invalid_signature`) and says what the replay
    /// guard records ([`Verified`]). A mismatch's rejection carries the scheme's signed text with
    /// [`Rejection::with_signed_text`]: the layer turns it into digests keyed with the key being
    /// verified, and never sends it in clear unless the operator asked for that.
    fn verify(
        &self,
        credentials: &Self::Credentials,
        pending: Self::Pending,
        key: &SecretKey,
    ) -> Result<Verified, Rejection>;

    /// The MAC of the server's time sent with `stale_timestamp` (`tsm`), bound to the nonce of
    /// the request it answers.
    fn time_mac(&self, key: &SecretKey, ts: u64, nonce: &str) -> [u8; 32] {
        policy::time_mac(key, ts, nonce)
    }
}
