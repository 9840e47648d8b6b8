//! [`SigV4`](super::SigV4)'s settings: each a typed value with named variants (as `aws-sigv4`'s
//! `SigningSettings`), the first documented being the default.

/// How a service's canonical URI is built from the request's path (`aws-sigv4`'s
/// `UriPathNormalizationMode` and `PercentEncodingMode` together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathRule {
    /// Every service but S3: the path, with `.`/`..` and empty segments removed, URI-encoded
    /// again — so each segment of the unencoded path is encoded twice. A request whose path that
    /// removal would change is refused (`malformed_authorization`): the path verified must be
    /// the path the router sees.
    Generic,
    /// S3: the path exactly as sent (encoded once), no normalisation.
    S3,
}

/// Where [`SigV4`](super::SigV4) lets a body go uncovered by the signature (`UNSIGNED-PAYLOAD`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnsignedPayload {
    /// Nowhere (the default): every body is signed, except that a presigned URL without a body
    /// is accepted.
    #[default]
    Refused,
    /// On every path. **The body of any request may then be replaced** by whoever holds it.
    Anywhere,
    /// On paths under these prefixes only (`"/objects/"`: the routes S3 clients upload to),
    /// compared with the path as sent, which must also be the normalised path.
    UnderPaths(Vec<Box<str>>),
}

impl UnsignedPayload {
    /// On paths under these prefixes only.
    pub fn under_paths<I, S>(prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        Self::UnderPaths(prefixes.into_iter().map(Into::into).collect())
    }

    /// Whether a body may go unsigned on `path`.
    pub fn allows(&self, path: &str) -> bool {
        match self {
            Self::Refused => false,
            Self::Anywhere => true,
            Self::UnderPaths(prefixes) => prefixes.iter().any(|p| path.starts_with(&**p)),
        }
    }
}

/// Whether a request may carry `X-Amz-Security-Token` (a session token of temporary
/// credentials), in a header or in a presigned URL's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SecurityToken {
    /// Refused (the default): a request with a token is `malformed_authorization`. This server
    /// issues no temporary credentials, so a token can only come from somewhere else.
    #[default]
    Refused,
    /// Accepted and **not checked** — this server issues none. It is covered by the signature
    /// when the client signed it (in a presigned URL's query always; in the header form when
    /// `x-amz-security-token` is in `SignedHeaders`).
    Accepted,
}

/// The order of the query parameters the canonical request is tried with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueryOrder {
    /// AWS's order (sorted by name, then value) and, when that does not match and the request's
    /// query differs from it, the query exactly as sent (the default): curl 7.88 (Debian 12)
    /// signs it unsorted (curl issue #9717). One more MAC, only on a mismatch, over the same
    /// signed request: nothing unsigned is accepted. Never for presigned URLs.
    #[default]
    SortedOrAsSent,
    /// AWS's order only.
    Sorted,
}

/// How a header-form request is guarded against replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReplayGuard {
    /// SigV4 has no nonce, so the MAC that verified is recorded in the replay store for the
    /// window (the default): a second use is `replayed_nonce`. Identical requests signed in the
    /// same second have the same signature, so the second of them is refused too.
    #[default]
    RecordSignature,
    /// Nothing is recorded. **A captured request can be replayed** within the window.
    Off,
}

/// How often a presigned URL may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PresignedUrlUse {
    /// As a bearer link, AWS's way (the default): whoever holds the URL can use it, as often as
    /// they like, until it expires.
    #[default]
    Bearer,
    /// Once: the first use is recorded in the replay store until the URL expires, and any later
    /// use is `replayed_nonce`.
    OneTime,
}
