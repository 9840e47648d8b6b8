//! [`OnBehalfOf`]: what a request made for a user says about itself.

use std::fmt;

/// Marks a request as made on `user`'s behalf to `upstream`, for an action that needs `scopes`.
/// Put it in the request's extensions: `reqwest_middleware::RequestBuilder::with_extension` for
/// the [`DelegationMiddleware`](super::DelegationMiddleware), `http::Request::extensions_mut`
/// for the [`DelegationLayer`](super::DelegationLayer). A request without one passes through
/// untouched (no token is attached).
///
/// `Debug` masks the user id.
#[derive(Clone, PartialEq, Eq)]
pub struct OnBehalfOf {
    user: String,
    upstream: String,
    scopes: Vec<String>,
}

impl fmt::Debug for OnBehalfOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBehalfOf")
            .field("user", &"[masked]")
            .field("upstream", &self.upstream)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl OnBehalfOf {
    /// A request for `user` to `upstream` that needs the scopes `scopes` (every one of them must
    /// have been granted by the user, or the request is refused before it leaves).
    pub fn new<S: Into<String>>(
        user: impl Into<String>,
        upstream: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            user: user.into(),
            upstream: upstream.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// The user's id.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The upstream's name.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The scopes the action needs.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}
