//! Why a request was rejected.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

/// The reason a request was rejected: a stable machine-readable code and an HTTP status.
///
/// The codes are part of the protocol (docs/PROTOCOL.md) and never change meaning; new kinds may
/// be added, so match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No `Authorization` header.
    MissingAuthorization,
    /// The `Authorization` header does not follow the grammar (or appears more than once).
    MalformedAuthorization,
    /// The `Authorization` header names another scheme.
    UnsupportedScheme,
    /// The key id is not in the registry.
    UnknownKey,
    /// The key id is in the registry but revoked.
    RevokedKey,
    /// The request's host is not one the server answers for.
    HostNotAllowed,
    /// The timestamp is further from the server's clock than the allowed skew.
    StaleTimestamp,
    /// A header named in `SignedHeaders` is absent from the request.
    MissingSignedHeader,
    /// The signature does not cover a component the server requires (RFC 9421); the detail
    /// names it.
    MissingCoveredComponent,
    /// The signature does not match the request.
    InvalidSignature,
    /// The nonce was already used with this key inside the validity window.
    ReplayedNonce,
    /// The body is larger than the configured limit.
    BodyTooLarge,
    /// The body could not be read (the client went away or the transport failed).
    BodyUnreadable,
    /// The body did not arrive within the configured time (a slowly trickled body).
    BodyTimeout,
    /// The replay store failed or is full; the request was not accepted (fail closed).
    ReplayStoreUnavailable,
    /// The key registry failed; the request was not accepted (fail closed).
    KeyStoreUnavailable,
    /// The request's own authority (absolute-form target, HTTP/2 `:authority`) disagrees with its
    /// `Host` header, or `Host` appears more than once (RFC 9112 §3.2, RFC 9113 §8.3.1).
    AuthorityMismatch,
    /// A signed header appears as more than one field line: the handler could read another value
    /// than the one the signature covers.
    DuplicateSignedHeader,
    /// The body ended with trailers, which no signature covers.
    TrailersNotAllowed,
    /// This key already holds its share of the replay store: its own requests wait, others go on.
    ReplayQuotaExceeded,
    /// The request carries credentials for more than one enabled scheme.
    AmbiguousCredentials,
    /// The credentials carry an expiry (a presigned URL) that has passed.
    Expired,
    /// The key may not be used with this scheme (answered only when the server reveals key
    /// errors; otherwise as an unknown key).
    SchemeNotAllowed,
    /// The key's validity starts later (`not_before`; answered only when the server reveals key
    /// errors).
    KeyNotYetValid,
    /// The key's validity has ended (`not_after`; answered only when the server reveals key
    /// errors).
    KeyExpired,
    /// The caller is authenticated but lacks a scope the route requires (`403`).
    InsufficientScope,
    /// The request came over plain HTTP and the server requires HTTPS (`403`).
    HttpsRequired,
    /// Too many failed authentications from this key id or client address in the throttle's
    /// window: refused before its body is read or its MAC computed (`429`, with `Retry-After`).
    TooManyFailures,
}

impl RejectionKind {
    /// Every kind, in the order of the checks that produce them.
    pub const ALL: [RejectionKind; 28] = [
        Self::HttpsRequired,
        Self::MissingAuthorization,
        Self::MalformedAuthorization,
        Self::UnsupportedScheme,
        Self::AmbiguousCredentials,
        Self::TooManyFailures,
        Self::UnknownKey,
        Self::RevokedKey,
        Self::KeyNotYetValid,
        Self::KeyExpired,
        Self::SchemeNotAllowed,
        Self::AuthorityMismatch,
        Self::HostNotAllowed,
        Self::StaleTimestamp,
        Self::Expired,
        Self::MissingSignedHeader,
        Self::MissingCoveredComponent,
        Self::DuplicateSignedHeader,
        Self::BodyTooLarge,
        Self::BodyUnreadable,
        Self::BodyTimeout,
        Self::TrailersNotAllowed,
        Self::InvalidSignature,
        Self::InsufficientScope,
        Self::ReplayedNonce,
        Self::ReplayQuotaExceeded,
        Self::ReplayStoreUnavailable,
        Self::KeyStoreUnavailable,
    ];

    /// The stable code, as sent in `WWW-Authenticate` and the problem body.
    pub const fn code(self) -> &'static str {
        match self {
            Self::MissingAuthorization => "missing_authorization",
            Self::MalformedAuthorization => "malformed_authorization",
            Self::UnsupportedScheme => "unsupported_scheme",
            Self::UnknownKey => "unknown_key",
            Self::RevokedKey => "revoked_key",
            Self::HostNotAllowed => "host_not_allowed",
            Self::StaleTimestamp => "stale_timestamp",
            Self::MissingSignedHeader => "missing_signed_header",
            Self::MissingCoveredComponent => "missing_covered_component",
            Self::InvalidSignature => "invalid_signature",
            Self::ReplayedNonce => "replayed_nonce",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyUnreadable => "body_unreadable",
            Self::BodyTimeout => "body_timeout",
            Self::ReplayStoreUnavailable => "replay_store_unavailable",
            Self::KeyStoreUnavailable => "key_store_unavailable",
            Self::AuthorityMismatch => "authority_mismatch",
            Self::DuplicateSignedHeader => "duplicate_signed_header",
            Self::TrailersNotAllowed => "trailers_not_allowed",
            Self::ReplayQuotaExceeded => "replay_quota_exceeded",
            Self::AmbiguousCredentials => "ambiguous_credentials",
            Self::Expired => "expired",
            Self::SchemeNotAllowed => "scheme_not_allowed",
            Self::KeyNotYetValid => "key_not_yet_valid",
            Self::KeyExpired => "key_expired",
            Self::InsufficientScope => "insufficient_scope",
            Self::HttpsRequired => "https_required",
            Self::TooManyFailures => "too_many_failures",
        }
    }

    /// The kind of a stable code, if this version knows it.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// The HTTP status of the default response.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyUnreadable
            | Self::AuthorityMismatch
            | Self::TrailersNotAllowed
            | Self::AmbiguousCredentials => StatusCode::BAD_REQUEST,
            Self::ReplayQuotaExceeded | Self::TooManyFailures => StatusCode::TOO_MANY_REQUESTS,
            Self::InsufficientScope | Self::HttpsRequired => StatusCode::FORBIDDEN,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::ReplayStoreUnavailable | Self::KeyStoreUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// A short human-readable sentence (the problem body's `title`).
    pub const fn title(self) -> &'static str {
        match self {
            Self::MissingAuthorization => "The request has no Authorization header.",
            Self::MalformedAuthorization => "The Authorization header is malformed.",
            Self::UnsupportedScheme => "The Authorization scheme is not supported.",
            Self::UnknownKey => "The credential's key id is not known.",
            Self::RevokedKey => "The credential's key has been revoked.",
            Self::HostNotAllowed => "The request's host is not served here.",
            Self::StaleTimestamp => "The request's timestamp is outside the allowed clock skew.",
            Self::MissingSignedHeader => "A signed header is missing from the request.",
            Self::MissingCoveredComponent => {
                "The signature does not cover a part of the request the server requires."
            }
            Self::InvalidSignature => "The signature does not match the request.",
            Self::ReplayedNonce => "The nonce has already been used.",
            Self::BodyTooLarge => "The request body is larger than allowed.",
            Self::BodyUnreadable => "The request body could not be read.",
            Self::BodyTimeout => "The request body did not arrive in time.",
            Self::ReplayStoreUnavailable => "The replay store is unavailable; try again later.",
            Self::KeyStoreUnavailable => "The key store is unavailable; try again later.",
            Self::AuthorityMismatch => "The request's authority and its Host header disagree.",
            Self::DuplicateSignedHeader => "A signed header appears more than once.",
            Self::TrailersNotAllowed => "Signed requests cannot carry trailers.",
            Self::ReplayQuotaExceeded => {
                "This key has too many requests in flight in the replay window; try again later."
            }
            Self::AmbiguousCredentials => {
                "The request carries credentials for more than one scheme."
            }
            Self::SchemeNotAllowed => "The credential's key may not be used with this scheme.",
            Self::Expired => "The credentials have expired.",
            Self::KeyNotYetValid => "The credential's key is not valid yet.",
            Self::KeyExpired => "The credential's key is no longer valid.",
            Self::InsufficientScope => "The caller lacks a scope this route requires.",
            Self::HttpsRequired => "This server accepts signed requests over HTTPS only.",
            Self::TooManyFailures => {
                "Too many failed authentications from this key or address; try again later."
            }
        }
    }

    /// Whether this is a `401` that carries a `WWW-Authenticate` challenge.
    pub const fn is_unauthorized(self) -> bool {
        matches!(self.status(), StatusCode::UNAUTHORIZED)
    }
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The server's clock, sent with a `stale_timestamp` rejection so that a client can correct its
/// own offset. `tsm` proves the time came from a server that holds the client's key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TimeHint {
    ts: u64,
    tsm: Option<[u8; 32]>,
}

impl TimeHint {
    /// A time hint: the server's Unix time and, when the key was known, its MAC.
    pub fn new(ts: u64, tsm: Option<[u8; 32]>) -> Self {
        Self { ts, tsm }
    }

    /// The server's Unix time in seconds.
    pub fn ts(&self) -> u64 {
        self.ts
    }

    /// `HMAC(key, "HMAC-SHA256-TIME-2\n" + ts + "\n" + nonce)` when the key was known.
    pub fn tsm(&self) -> Option<&[u8; 32]> {
        self.tsm.as_ref()
    }
}

impl fmt::Debug for TimeHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeHint")
            .field("ts", &self.ts)
            .field("tsm", &self.tsm.map(|_| "[present]"))
            .finish()
    }
}

/// What an `invalid_signature` answer tells of the server's signed text.
///
/// The default, [`Keyed`](Self::Keyed), is what protocol v1 revision 2 sends for every scheme:
/// an 8-byte digest of each line, keyed with the key being verified, which only a holder of the
/// key can compare with its own lines (`tower-hmac explain --problem`). The text in clear would
/// reflect whatever the request carried — including headers a proxy injected — to anyone, and
/// an unkeyed hash of it is an offline oracle for low-entropy values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Diagnostics {
    /// No diagnostics at all.
    Off,
    /// Keyed line digests (the default).
    #[default]
    Keyed,
    /// **Unsafe outside development**: the signed text in clear besides the keyed digests (S3
    /// clients' `<StringToSign>` and `<CanonicalRequest>`). Anyone can then read back what the
    /// request's covered headers held after every proxy on the way, including values a proxy
    /// injected; and the text is the same for unknown key ids.
    Clear,
}

/// A rejected request: what went wrong, with what a response needs to say so.
///
/// It never holds a secret, a signature or a request value, so it is safe to log and to put in the
/// response's extensions.
#[derive(Clone)]
pub struct Rejection {
    // Boxed: a rejection is made only on the failure path, and `Result<_, Rejection>` stays small.
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: RejectionKind,
    detail: Option<Cow<'static, str>>,
    time_hint: Option<TimeHint>,
    retry_after: Option<Duration>,
    scheme: Option<&'static str>,
    line_digests: Option<Arc<[[u8; 8]]>>,
    string_to_sign: Option<Arc<str>>,
    canonical_request: Option<Arc<str>>,
    /// The scheme's signed text, withheld: never sent, never printed; turned into keyed digests
    /// by [`Rejection::keyed_diagnostics`].
    signed_text: Option<Arc<[u8]>>,
    required_scope: Option<Arc<str>>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl Rejection {
    /// A rejection of this kind.
    pub fn new(kind: RejectionKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                detail: None,
                time_hint: None,
                retry_after: None,
                scheme: None,
                line_digests: None,
                string_to_sign: None,
                canonical_request: None,
                signed_text: None,
                required_scope: None,
                source: None,
            }),
        }
    }

    /// With an explanation, sent as the problem body's `detail`. It must never hold a secret or a
    /// signature; the layer puts request values in it only where the code needs them to be
    /// understood (the host of `host_not_allowed`).
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.inner.detail = Some(detail.into());
        self
    }

    /// With the server's time (for `stale_timestamp`).
    pub fn with_time_hint(mut self, hint: TimeHint) -> Self {
        self.inner.time_hint = Some(hint);
        self
    }

    /// With a `Retry-After` hint (for the `503` kinds).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.inner.retry_after = Some(after);
        self
    }

    /// With the underlying error (a store's failure); it is logged, never sent.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.inner.source = Some(Arc::from(source.into()));
        self
    }

    /// With the name of the scheme whose challenge the response carries (`WWW-Authenticate`).
    pub fn with_scheme(mut self, scheme: &'static str) -> Self {
        self.inner.scheme = Some(scheme);
        self
    }

    /// With the digests of the server's string to sign, one per line (see
    /// [`line_digests`](crate::canonical::line_digests)), for `invalid_signature`.
    pub fn with_line_digests(mut self, digests: Vec<[u8; 8]>) -> Self {
        self.inner.line_digests = Some(digests.into());
        self
    }

    /// Drops the string-to-sign digests and the string to sign (a server that does not send
    /// them).
    pub fn without_line_digests(mut self) -> Self {
        self.inner.line_digests = None;
        self.inner.string_to_sign = None;
        self.inner.canonical_request = None;
        self.inner.signed_text = None;
        self
    }

    /// With the scheme's signed text — what its MAC covered, line by line — for
    /// `invalid_signature`. It is withheld: never serialized, never in `Debug`. The layer turns
    /// it into digests keyed with the key being verified ([`keyed_diagnostics`](Self::keyed_diagnostics)),
    /// so that only a holder of the key can compare them with its own lines.
    pub fn with_signed_text(mut self, text: impl Into<Arc<[u8]>>) -> Self {
        self.inner.signed_text = Some(text.into());
        self
    }

    /// The diagnostics an answer may carry, made from the withheld signed text with `key` (the
    /// key being verified: the decoy for an unknown or revoked key id, so that such an answer
    /// looks like any other): per `mode`, keyed line digests, nothing, or — only with
    /// [`Diagnostics::Clear`], unsafe outside development — the text itself. Whatever the mode,
    /// the withheld text is dropped, and a string to sign a scheme set is sent only in clear
    /// mode.
    pub fn keyed_diagnostics(mut self, key: &crate::SecretKey, mode: Diagnostics) -> Self {
        let text = self.inner.signed_text.take();
        let inner = &mut *self.inner;
        match mode {
            Diagnostics::Off => {
                inner.line_digests = None;
                inner.string_to_sign = None;
                inner.canonical_request = None;
            }
            Diagnostics::Keyed | Diagnostics::Clear => {
                if let Some(text) = &text {
                    inner.line_digests = Some(crate::canonical::line_digests(key, text).into());
                }
                if mode == Diagnostics::Keyed {
                    inner.string_to_sign = None;
                    inner.canonical_request = None;
                } else if let Some(text) = text {
                    let text: Arc<str> = String::from_utf8_lossy(&text).into();
                    if inner.string_to_sign.is_some() {
                        inner.canonical_request = Some(text);
                    } else {
                        inner.string_to_sign = Some(text);
                    }
                }
            }
        }
        self
    }

    /// With the server's canonical request in clear (SigV4's `<CanonicalRequest>`): set only
    /// by [`keyed_diagnostics`](Self::keyed_diagnostics) in [`Diagnostics::Clear`] mode.
    pub fn canonical_request(&self) -> Option<&str> {
        self.inner.canonical_request.as_deref()
    }

    /// With the server's string to sign, for schemes whose clients expect it in the error
    /// (SigV4's S3-style `<StringToSign>`): only hashes, dates and the scope, never a secret.
    /// Dropped with [`without_line_digests`](Self::without_line_digests) when the server sends no
    /// diagnostics.
    pub fn with_string_to_sign(mut self, sts: impl Into<Arc<str>>) -> Self {
        self.inner.string_to_sign = Some(sts.into());
        self
    }

    /// With the scope a route requires and the caller lacks (`insufficient_scope`).
    pub fn with_required_scope(mut self, scope: impl Into<Arc<str>>) -> Self {
        self.inner.required_scope = Some(scope.into());
        self
    }

    /// The scope the caller lacks (`insufficient_scope`).
    pub fn required_scope(&self) -> Option<&str> {
        self.inner.required_scope.as_deref()
    }

    /// The server's string to sign, when the scheme gave it and the server sends diagnostics.
    pub fn string_to_sign(&self) -> Option<&str> {
        self.inner.string_to_sign.as_deref()
    }

    /// The digests of the server's string to sign, one per line, when it sends them.
    pub fn line_digests(&self) -> Option<&[[u8; 8]]> {
        self.inner.line_digests.as_deref()
    }

    /// The scheme to challenge with, when the server set it.
    pub fn scheme(&self) -> Option<&'static str> {
        self.inner.scheme
    }

    /// What went wrong.
    pub fn kind(&self) -> RejectionKind {
        self.inner.kind
    }

    /// The stable code (`kind().code()`).
    pub fn code(&self) -> &'static str {
        self.inner.kind.code()
    }

    /// The HTTP status (`kind().status()`).
    pub fn status(&self) -> http::StatusCode {
        self.inner.kind.status()
    }

    /// The explanation, if any.
    pub fn detail(&self) -> Option<&str> {
        self.inner.detail.as_deref()
    }

    /// The server's time, for `stale_timestamp`.
    pub fn time_hint(&self) -> Option<&TimeHint> {
        self.inner.time_hint.as_ref()
    }

    /// How long the client should wait before retrying, for the `503` kinds.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }
}

impl From<RejectionKind> for Rejection {
    fn from(kind: RejectionKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Rejection")
            .field("kind", &inner.kind)
            .field("detail", &inner.detail)
            .field("time_hint", &inner.time_hint)
            .field("retry_after", &inner.retry_after)
            .field("scheme", &inner.scheme)
            .field(
                "line_digests",
                &inner.line_digests.as_ref().map(|d| d.len()),
            )
            .field(
                "string_to_sign",
                &inner.string_to_sign.as_ref().map(|_| "[present]"),
            )
            .field(
                "signed_text",
                &inner.signed_text.as_ref().map(|_| "[withheld]"),
            )
            .field("required_scope", &inner.required_scope)
            .field("source", &inner.source)
            .finish()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request rejected: {}", self.inner.kind.code())?;
        if let Some(detail) = &self.inner.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl StdError for Rejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_snake_case() {
        let mut codes: Vec<_> = RejectionKind::ALL.iter().map(|k| k.code()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), RejectionKind::ALL.len());
    }

    #[test]
    fn statuses_follow_the_protocol() {
        assert_eq!(RejectionKind::InvalidSignature.status(), 401);
        assert_eq!(RejectionKind::BodyTooLarge.status(), 413);
        assert_eq!(RejectionKind::ReplayStoreUnavailable.status(), 503);
        assert_eq!(RejectionKind::KeyStoreUnavailable.status(), 503);
    }
}
