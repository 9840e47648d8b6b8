//! The Tower layer that lets through requests with a valid access token.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};
use tower_hmac_core::{GrantedScopes, Rejection};

use crate::fingerprint::{ClientAddress, Device};
use crate::sessions::Sessions;
use crate::tokens::TokenError;

/// Requires `Authorization: Bearer <access token>` on every request; the inner service gets the
/// [`AccessClaims`](crate::AccessClaims) in the request's extensions (and as an Axum extractor),
/// and the token's scopes as a [`GrantedScopes`], so that tower-hmac's `RequireScope` guards a
/// route behind this layer as it does one behind the HMAC layer (`403 insufficient_scope`,
/// `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`, logged here once).
/// Refusals are problem+json with a stable `code` and `WWW-Authenticate: Bearer error="…"`
/// (RFC 6750); each is one event on `tower_hmac::sessions` (`event = "access_refused"`, the
/// code) and one `tower_hmac_sessions_refusals_total{stage="access", code}` (feature `metrics`).
#[derive(Clone)]
pub struct BearerAuthLayer {
    sessions: Arc<Sessions>,
    client: ClientAddress,
}

impl fmt::Debug for BearerAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthLayer").finish_non_exhaustive()
    }
}

impl BearerAuthLayer {
    /// A layer verifying with `sessions`.
    pub fn new(sessions: Arc<Sessions>) -> Self {
        Self {
            sessions,
            client: ClientAddress::default(),
        }
    }

    /// Where the client's address is read for the device fingerprint (when one includes the
    /// client network): Axum's `ConnectInfo<SocketAddr>` by default.
    pub fn client_address(mut self, client: ClientAddress) -> Self {
        self.client = client;
        self
    }
}

impl<S> Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> BearerAuth<S> {
        BearerAuth {
            inner,
            sessions: Arc::clone(&self.sessions),
            client: self.client.clone(),
        }
    }
}

/// The service of [`BearerAuthLayer`].
#[derive(Clone)]
pub struct BearerAuth<S> {
    inner: S,
    sessions: Arc<Sessions>,
    client: ClientAddress,
}

impl<S> fmt::Debug for BearerAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth").finish_non_exhaustive()
    }
}

/// The response future of [`BearerAuth`].
pub type BearerFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

/// The bearer token of a request, if it has exactly one well-formed `Authorization: Bearer`.
fn bearer<B>(req: &Request<B>) -> Result<&str, TokenError> {
    let mut values = req.headers().get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(TokenError::Missing);
    };
    let text = value
        .to_str()
        .map_err(|_| TokenError::Invalid("the Authorization header is not text"))?;
    let (scheme, token) = text.split_once(' ').ok_or(TokenError::Missing)?;
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(TokenError::Missing);
    }
    Ok(token.trim())
}

/// The answer to a refused token: problem+json and the RFC 6750 challenge.
pub(crate) fn refusal<B: From<Bytes>>(error: &TokenError) -> Response<B> {
    let body = serde_json::json!({
        "type": format!("urn:tower-hmac:error:{}", error.code()),
        "title": "The access token was refused.",
        "status": error.status().as_u16(),
        "code": error.code(),
        "detail": error.detail(),
    });
    let mut res = Response::new(B::from(Bytes::from(body.to_string())));
    *res.status_mut() = error.status();
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    let challenge = match error {
        TokenError::Missing => "Bearer".to_owned(),
        TokenError::StoreUnavailable => String::new(),
        other => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            other.code()
        ),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge)
        && !challenge.is_empty()
    {
        res.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    if let Some(secs) = error.retry_after_secs() {
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    // The typed refusal, for outer layers and tests.
    res.extensions_mut().insert(error.clone());
    res
}

impl<S, B, RB> Service<Request<B>> for BearerAuth<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    RB: From<Bytes>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = BearerFuture<Response<RB>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let sessions = Arc::clone(&self.sessions);
        let token = bearer(&req).map(str::to_owned);
        // The client's address is read only for a device fingerprint of the client's network:
        // nothing when none is set, or one of headers only.
        let address = sessions
            .config()
            .device_fingerprint()
            .filter(|fp| fp.reads_address())
            .and_then(|_| self.client.of(req.extensions(), req.headers()));
        Box::pin(async move {
            let verified = match token {
                Ok(token) => {
                    let device = Device::new(req.headers(), address);
                    sessions.verify_access_from(&token, &device).await
                }
                Err(e) => Err(e),
            };
            match verified {
                Ok(claims) => {
                    req.extensions_mut().insert(granted_scopes());
                    req.extensions_mut().insert(claims);
                    inner.call(req).await
                }
                Err(error) => {
                    // The one event and the one metric of this refusal.
                    crate::audit::count_refusal(crate::audit::Stage::Access, error.code());
                    tracing::info!(
                        target: crate::TRACING_TARGET,
                        event = "access_refused",
                        outcome = "rejected",
                        code = error.code(),
                        risk = "low",
                    );
                    Ok(refusal(&error))
                }
            }
        })
    }
}

/// The token's scopes, for tower-hmac's `RequireScope`, with this layer's record of its refusals:
/// looked up in the `AccessClaims` put beside it when a rule asks (nothing copied per request).
fn granted_scopes() -> GrantedScopes {
    GrantedScopes::lookup("Bearer", |extensions, scope| {
        extensions
            .get::<crate::AccessClaims>()
            .is_some_and(|claims| claims.has_scope(scope))
    })
    .with_refusal_log(log_refusal_after_access)
}

/// A refusal after a token was accepted (a scope the route requires): the one event and the one
/// metric of the access stage, as for a refused token.
fn log_refusal_after_access(rejection: &Rejection) {
    crate::audit::count_refusal(crate::audit::Stage::Access, rejection.code());
    tracing::info!(
        target: crate::TRACING_TARGET,
        event = "access_refused",
        outcome = "rejected",
        code = rejection.code(),
        required_scope = rejection.required_scope().unwrap_or(""),
        risk = "low",
    );
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for crate::AccessClaims {
    type Rejection = Response<axum::body::Body>;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<crate::AccessClaims>()
            .cloned()
            .ok_or_else(layer_missing)
    }
}

/// `AccessClaims` extracted on a route [`BearerAuthLayer`] does not cover: the route is
/// misconfigured, not the caller — `500 layer_missing`, problem+json, one `error` event, as
/// `tower_hmac::Authenticated` answers on a route without its layer.
#[cfg(feature = "axum")]
fn layer_missing() -> Response<axum::body::Body> {
    missing_layer_answer(
        "no AccessClaims on this route: BearerAuthLayer is missing from it, or it is placed so that it runs after the middleware that extracts the claims (it must wrap the handler)",
    )
}

/// `500 layer_missing` saying which layer: see [`layer_missing`].
#[cfg(feature = "axum")]
pub(crate) fn missing_layer_answer(detail: &'static str) -> Response<axum::body::Body> {
    tracing::error!(
        target: crate::TRACING_TARGET,
        outcome = "misconfigured",
        code = "layer_missing",
        "{detail}"
    );
    let body = serde_json::json!({
        "type": "urn:tower-hmac:error:layer_missing",
        "title": "The authentication layer is missing from this route.",
        "status": 500,
        "code": "layer_missing",
        "detail": detail,
    });
    let mut res = Response::new(axum::body::Body::from(body.to_string()));
    *res.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}
