//! The delegating client's errors: [`ConfigError`] from its builders, [`DelegationError`] for a
//! request it refused or could not make. Neither ever holds a token, a secret or a user id.

use std::fmt;

use http::StatusCode;

use crate::VaultError;

/// A setting the builders refuse; each has a stable code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An upstream name that is empty, longer than 64 bytes or not `[A-Za-z0-9._-]`
    /// (`invalid_upstream`).
    #[error("invalid_upstream")]
    InvalidName,
    /// An empty or over-long client id (`invalid_client_id`).
    #[error("invalid_client_id")]
    InvalidClientId,
    /// A URL that does not parse, or has user info, a query or a fragment
    /// (`invalid_upstream_url`).
    #[error("invalid_upstream_url: {which}")]
    InvalidUrl {
        /// `base_url` or `token_url`.
        which: &'static str,
    },
    /// A URL that is not `https://` (nor `http://` to loopback with
    /// `allow_insecure_loopback`) (`insecure_upstream_url`).
    #[error("insecure_upstream_url: {which}")]
    InsecureUrl {
        /// `base_url` or `token_url`.
        which: &'static str,
    },
    /// Two upstreams with the same name (`duplicate_upstream`).
    #[error("duplicate_upstream: {0}")]
    DuplicateUpstream(String),
    /// The HTTP client could not be built (`http_client`).
    #[error("http_client")]
    HttpClient(#[source] reqwest::Error),
}

impl ConfigError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidName => "invalid_upstream",
            Self::InvalidClientId => "invalid_client_id",
            Self::InvalidUrl { .. } => "invalid_upstream_url",
            Self::InsecureUrl { .. } => "insecure_upstream_url",
            Self::DuplicateUpstream(_) => "duplicate_upstream",
            Self::HttpClient(_) => "http_client",
        }
    }
}

/// Why a request on a user's behalf was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DelegationErrorKind {
    /// The action needs a scope the user did not grant; refused before anything was sent
    /// (`insufficient_scope`, 403).
    InsufficientScope,
    /// The destination is not under the upstream's HTTPS base URL; refused before anything was
    /// sent (`insecure_destination`, 500: a fault of the calling service).
    InsecureDestination,
    /// No upstream of that name is configured (`unknown_upstream`, 500).
    UnknownUpstream,
    /// The vault holds no tokens of the user for the upstream: the user must link the upstream
    /// account (again) (`not_linked`, 401).
    NotLinked,
    /// The token endpoint refused the refresh (`invalid_grant` or another 4xx), or there was
    /// no refresh token: the vault's tokens of the user for the upstream were revoked; the
    /// user must link again (`refresh_failed`, 401).
    RefreshFailed,
    /// The upstream or its token endpoint did not answer usefully (a 5xx, a timeout, a
    /// connection error, an unreadable answer); nothing was revoked (`upstream_unavailable`,
    /// 503).
    UpstreamUnavailable,
    /// The vault failed; the code is the vault's (`vault_unavailable`, `vault_conflict`,
    /// `vault_record_unreadable`, `invalid_tokens`, …; 503).
    Vault,
}

/// A request on a user's behalf that was refused or failed: a stable [`code`](Self::code), an
/// HTTP status to answer the end user with, and the underlying error as `source()` where there
/// is one. Never a token or a user id.
#[derive(Debug)]
pub struct DelegationError {
    kind: DelegationErrorKind,
    code: &'static str,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl DelegationError {
    pub(crate) fn new(kind: DelegationErrorKind) -> Self {
        let code = match kind {
            DelegationErrorKind::InsufficientScope => "insufficient_scope",
            DelegationErrorKind::InsecureDestination => "insecure_destination",
            DelegationErrorKind::UnknownUpstream => "unknown_upstream",
            DelegationErrorKind::NotLinked => "not_linked",
            DelegationErrorKind::RefreshFailed => "refresh_failed",
            DelegationErrorKind::UpstreamUnavailable => "upstream_unavailable",
            DelegationErrorKind::Vault => "vault_unavailable",
        };
        Self {
            kind,
            code,
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> DelegationErrorKind {
        self.kind
    }

    /// The stable code (`insufficient_scope`, `refresh_failed`, …).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The status to answer the end user with: 401 when the user must link the upstream again
    /// (`not_linked`, `refresh_failed`), 403 for `insufficient_scope`, 503 when the upstream or
    /// the vault is unavailable, 500 for the calling service's own faults.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            DelegationErrorKind::InsufficientScope => StatusCode::FORBIDDEN,
            DelegationErrorKind::NotLinked | DelegationErrorKind::RefreshFailed => {
                StatusCode::UNAUTHORIZED
            }
            DelegationErrorKind::UpstreamUnavailable | DelegationErrorKind::Vault => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            DelegationErrorKind::InsecureDestination | DelegationErrorKind::UnknownUpstream => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The `DelegationError` inside an error of a `reqwest_middleware` client, if it is one.
    pub fn from_middleware(error: &reqwest_middleware::Error) -> Option<&Self> {
        match error {
            reqwest_middleware::Error::Middleware(e) => e.downcast_ref::<Self>(),
            reqwest_middleware::Error::Reqwest(_) => None,
        }
    }

    /// The `DelegationError` inside an error of the Tower service, if it is one.
    pub fn from_boxed<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        error.downcast_ref::<Self>()
    }
}

impl From<VaultError> for DelegationError {
    fn from(error: VaultError) -> Self {
        let code = error.code();
        let mut this = Self::new(DelegationErrorKind::Vault).with_source(error);
        this.code = code;
        this
    }
}

impl fmt::Display for DelegationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl std::error::Error for DelegationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
