//! The authenticated identity handed to the inner service.

use std::sync::Arc;

/// Who signed the request: put in the request's extensions by the layer when it accepts a request.
///
/// With the `axum` feature it is an extractor; a handler behind the layer takes it as an argument.
/// Outside the layer (a misconfigured route) extracting it fails with `500` and a message saying
/// the layer is missing — never a silent anonymous request. `Option<Authenticated>` extracts
/// `None` instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Authenticated {
    app_id: Arc<str>,
    key_id: Arc<str>,
    scheme: &'static str,
    /// `None` when the key grants no scope (no allocation per request).
    scopes: Option<Arc<[Box<str>]>>,
}

impl Authenticated {
    /// An identity, as the layer makes it on success. Public so that handlers can be unit-tested
    /// without signing a request: put one in the request's extensions (or pass it to the handler).
    ///
    /// ```
    /// use tower_hmac::Authenticated;
    ///
    /// let caller = Authenticated::new("backoffice".into(), "backoffice-2026-11".into());
    /// assert_eq!(caller.app_id(), "backoffice");
    /// assert_eq!(caller.scheme(), "v1");
    /// ```
    pub fn new(app_id: Arc<str>, key_id: Arc<str>) -> Self {
        Self {
            app_id,
            key_id,
            scheme: "v1",
            scopes: None,
        }
    }

    /// With the scopes the caller's key grants.
    pub fn with_scopes(mut self, scopes: Arc<[Box<str>]>) -> Self {
        self.scopes = (!scopes.is_empty()).then_some(scopes);
        self
    }

    /// The scopes the caller's key grants (the registry's `scopes`; empty: none).
    pub fn scopes(&self) -> &[Box<str>] {
        self.scopes.as_deref().unwrap_or_default()
    }

    /// Whether the caller's key grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().iter().any(|s| &**s == scope)
    }

    /// Signed with the scheme of this id (default `v1`).
    pub fn with_scheme(mut self, scheme: &'static str) -> Self {
        self.scheme = scheme;
        self
    }

    /// The id of the scheme the request was signed with (`v1`, `sigv4`, …).
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The application the key belongs to.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The key id the request was signed with.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[cfg(feature = "axum")]
mod axum_impl {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::response::{IntoResponse, Response};
    use http::StatusCode;
    use http::request::Parts;

    use super::Authenticated;

    /// `Authenticated` was extracted on a route that the HMAC layer does not cover.
    #[derive(Debug, Clone, Copy, Default)]
    #[non_exhaustive]
    pub struct MissingAuthentication;

    impl IntoResponse for MissingAuthentication {
        fn into_response(self) -> Response {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "tower-hmac: no Authenticated identity on this route: HmacAuthLayer is missing from it, or it is placed so that it runs after the middleware that extracts the identity (it must wrap the handler)",
            )
                .into_response()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
        type Rejection = MissingAuthentication;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<Authenticated>()
                .cloned()
                .ok_or(MissingAuthentication)
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for Authenticated {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<Authenticated>().cloned())
        }
    }
}

#[cfg(feature = "axum")]
pub use axum_impl::MissingAuthentication;
