//! The stable codes of refusals, with their statuses.

use std::fmt;

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
