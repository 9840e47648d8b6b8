//! The authenticated identity handed to the inner service.

use std::sync::Arc;

/// Who signed the request: put in the request's extensions by the layer when it accepts a request.
///
/// With the `axum` feature it is an extractor; a handler behind the layer takes it as an argument.
/// Outside the layer (a misconfigured route) extracting it fails with `500` and a message saying
/// the layer is missing — never a silent anonymous request. `Option<Authenticated>` extracts
/// `None` instead.
///
/// Two identities are equal when their app, key, scheme and scopes are.
#[derive(Clone)]
pub struct Authenticated {
    app_id: Arc<str>,
    key_id: Arc<str>,
    scheme: &'static str,
    /// The scheme's name in `WWW-Authenticate` (`HMAC-SHA256`, `AWS4-HMAC-SHA256`, …).
    challenge: &'static str,
    /// `None` when the key grants no scope (no allocation per request).
    scopes: Option<Arc<[Box<str>]>>,
    /// The layer that accepted the request: a refusal after it (a scope a route requires) is
    /// answered, logged and counted the way the layer's own are.
    decisions: Option<Arc<dyn Decisions>>,
}

/// How a refusal made after the layer accepted a request is answered, logged and counted: by the
/// layer's own responder, event and metric.
pub(crate) trait Decisions: Send + Sync + 'static {
    /// Logs and counts the refusal of `caller`'s request and returns its answer.
    fn refuse(
        &self,
        caller: &Authenticated,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
        rejection: crate::Rejection,
    ) -> http::Response<bytes::Bytes>;
}

impl std::fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticated")
            .field("app_id", &self.app_id)
            .field("key_id", &self.key_id)
            .field("scheme", &self.scheme)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Authenticated {
    fn eq(&self, other: &Self) -> bool {
        self.app_id == other.app_id
            && self.key_id == other.key_id
            && self.scheme == other.scheme
            && self.scopes == other.scopes
    }
}

impl Eq for Authenticated {}

impl std::hash::Hash for Authenticated {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.app_id.hash(state);
        self.key_id.hash(state);
        self.scheme.hash(state);
        self.scopes.hash(state);
    }
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
            challenge: tower_hmac_core::SCHEME,
            scopes: None,
            decisions: None,
        }
    }

    /// Made by the layer: the scheme's challenge name, and the layer's answer for refusals made
    /// after it.
    pub(crate) fn by_layer(
        mut self,
        challenge: &'static str,
        decisions: Arc<dyn Decisions>,
    ) -> Self {
        self.challenge = challenge;
        self.decisions = Some(decisions);
        self
    }

    /// The scheme's name as a `WWW-Authenticate` challenge (`HMAC-SHA256` by default; the
    /// layer sets the name of the scheme that verified).
    pub fn challenge(&self) -> &'static str {
        self.challenge
    }

    pub(crate) fn decisions(&self) -> Option<&Arc<dyn Decisions>> {
        self.decisions.as_ref()
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

    /// What the answer says: the route is misconfigured, not the caller.
    const DETAIL: &str = "no Authenticated identity on this route: HmacAuthLayer is missing from it, or it is placed so that it runs after the middleware that extracts the identity (it must wrap the handler)";

    /// `500 layer_missing`, problem+json, and one `error` event: the answer of the sessions
    /// crate's `AccessClaims` on a route its layer does not cover is the same.
    impl IntoResponse for MissingAuthentication {
        fn into_response(self) -> Response {
            tracing::error!(
                target: crate::server::TRACING_TARGET,
                outcome = "misconfigured",
                code = "layer_missing",
                "{DETAIL}"
            );
            let body = format!(
                "{{\"type\":\"urn:tower-hmac:error:layer_missing\",\"title\":\"The authentication layer is missing from this route.\",\"status\":500,\"code\":\"layer_missing\",\"detail\":\"{DETAIL}\"}}"
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(http::header::CONTENT_TYPE, "application/problem+json")],
                body,
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
