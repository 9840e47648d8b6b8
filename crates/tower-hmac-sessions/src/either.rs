//! HMAC clients and logged-in users on one route: [`HmacOrBearerLayer`] sends a request with
//! `Authorization: Bearer …` to the session check ([`BearerAuthLayer`]) and every other request
//! to tower-hmac's [`HmacAuthLayer`], which answers missing credentials as it does alone
//! (`401 missing_authorization`). A request carrying a bearer token *and* another scheme's
//! credentials is refused (`400 ambiguous_credentials`), never decided for one of them: a second
//! `Authorization` header, or credentials any scheme the HMAC layer verifies on that route would
//! find ([`HmacAuth::carries_credentials`]: `Proxy-Authorization: hmac …` when Kong's scheme is
//! configured, a presigned URL's `X-Amz-Signature` when SigV4's is, …). A header no configured
//! scheme reads (`Signature` without RFC 9421's scheme) is not a credential: the bearer token
//! decides.
//!
//! The handler learns who called from [`Caller`] (`Service` for a signed call, `User` for a
//! session), and tower-hmac's `RequireScope` guards the route for both: a key's registry scopes
//! or the token's `scope` claim (which [`BearerAuthLayer`] hands on as a
//! [`GrantedScopes`]). A bearer caller lacking a scope gets
//! `403 insufficient_scope` with `WWW-Authenticate: Bearer error="insufficient_scope",
//! scope="…"` (RFC 6750 §3.1); a signed caller the same `403` with its scheme's challenge.
//!
//! Default use, one layer and one rule on a route (feature `hmac`, and `axum` for the
//! extractor):
//!
#![cfg_attr(feature = "axum", doc = "```")]
#![cfg_attr(not(feature = "axum"), doc = "```ignore")]
//! use std::sync::Arc;
//!
//! use axum::{Router, routing::post};
//! use tower_hmac::server::RequireScope;
//! use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, SecretKey};
//! use tower_hmac_sessions::either::{Caller, HmacOrBearerLayer};
//! use tower_hmac_sessions::{
//!     BearerAuthLayer, MemorySessionStore, SessionConfig, Sessions, SigningKeys,
//! };
//!
//! async fn create_order(caller: Caller) -> String {
//!     match caller {
//!         Caller::Service(service) => format!("order by the service {}", service.app_id()),
//!         Caller::User(user) => format!("order by the user {}", user.sub),
//!         _ => "order".to_owned(),
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The services' keys (the registry file, PostgreSQL, …) and the users' sessions.
//! let hmac = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["api.example.com"])?)
//!     .build()?;
//! let keys = SigningKeys::new("k1", SecretKey::from_bytes(&[7; 32])?)?;
//! let config = SessionConfig::production("https://api.example.com", "orders-api");
//! let sessions = Arc::new(Sessions::new(keys, MemorySessionStore::new(), config));
//!
//! let app: Router = Router::new()
//!     .route("/orders", post(create_order))
//!     // Runs after the identity is known, whichever it is.
//!     .route_layer(RequireScope::new("orders:write"))
//!     .layer(HmacOrBearerLayer::new(hmac, BearerAuthLayer::new(sessions)));
//! # Ok(()) }
//! ```
//!
//! Customised: each layer keeps its own settings (the HMAC layer's schemes, body limit and
//! replay store; the bearer layer's [`client_address`](BearerAuthLayer::client_address)), and the
//! `/auth/*` endpoints ([`routes::AuthRoutes`](crate::routes::AuthRoutes)) sit outside this layer,
//! where a user logs in.
//!
//! A bearer request never reaches the HMAC layer (it costs no replay-store write), and a signed
//! request never reaches the session check. Each refusal is logged and counted once: by the HMAC
//! layer for its requests, by the bearer layer (`tower_hmac::sessions`, `access_refused`) for
//! bearer requests and for the ambiguous ones.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll, ready as ready_poll};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{HeaderValue, Request, Response};
use http_body_util::Either;
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tower_hmac::server::{DefaultResponder, HmacAuth, RejectionResponder as _, ResponseBody};
use tower_hmac::{Authenticated, HmacAuthLayer, Rejection, RejectionKind};
use tower_hmac_core::GrantedScopes;

use crate::layer::{BearerAuth, BearerAuthLayer, BearerFuture};
use crate::tokens::AccessClaims;

/// One route for signed service calls and logged-in users: `Authorization: Bearer …` goes to
/// the [`BearerAuthLayer`], every other request to the [`HmacAuthLayer`]; a request with both
/// kinds of credentials is refused `400 ambiguous_credentials`. See the [module](self).
#[derive(Clone)]
pub struct HmacOrBearerLayer {
    hmac: HmacAuthLayer,
    bearer: BearerAuthLayer,
}

impl fmt::Debug for HmacOrBearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacOrBearerLayer").finish_non_exhaustive()
    }
}

impl HmacOrBearerLayer {
    /// Signed calls verified by `hmac`, bearer tokens by `bearer`.
    pub fn new(hmac: HmacAuthLayer, bearer: BearerAuthLayer) -> Self {
        Self { hmac, bearer }
    }
}

impl<S: Clone> Layer<S> for HmacOrBearerLayer {
    type Service = HmacOrBearer<S>;

    fn layer(&self, inner: S) -> HmacOrBearer<S> {
        HmacOrBearer {
            hmac: self.hmac.layer(inner.clone()),
            bearer: self.bearer.layer(inner),
        }
    }
}

/// The service of [`HmacOrBearerLayer`].
#[derive(Clone)]
pub struct HmacOrBearer<S> {
    hmac: HmacAuth<S>,
    bearer: BearerAuth<S>,
}

impl<S> fmt::Debug for HmacOrBearer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacOrBearer").finish_non_exhaustive()
    }
}

/// Which layer a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Hmac,
    Bearer,
    /// A bearer token and another scheme's credentials: what the request carries names why.
    Ambiguous(&'static str),
}

/// Whether an `Authorization` value uses the `Bearer` scheme (case-insensitive, RFC 9110 §11.1).
fn is_bearer(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    let scheme = bytes.split(|b| *b == b' ').next().unwrap_or_default();
    scheme.eq_ignore_ascii_case(b"bearer")
}

/// The route of a request: bearer only when a bearer token is the only credential it carries.
/// Which credentials the other schemes read is `hmac`'s to say: its schemes, on this route.
fn route<S>(parts: &Parts, hmac: &HmacAuth<S>) -> Route {
    let authorizations = parts.headers.get_all(AUTHORIZATION);
    if !authorizations.iter().any(is_bearer) {
        return Route::Hmac;
    }
    if authorizations.iter().count() > 1 {
        return Route::Ambiguous("a bearer token and another Authorization header");
    }
    if hmac.carries_credentials(parts) {
        return Route::Ambiguous("a bearer token and another scheme's credentials");
    }
    Route::Bearer
}

/// The answer to a request with two kinds of credentials: `400 ambiguous_credentials`, logged
/// and counted once as an access refusal.
fn ambiguous(why: &'static str) -> Response<Bytes> {
    let rejection = Rejection::new(RejectionKind::AmbiguousCredentials).with_detail(format!(
        "the request carries {why}: send one kind of credentials"
    ));
    crate::audit::count_refusal(crate::audit::Stage::Access, rejection.code());
    tracing::info!(
        target: crate::TRACING_TARGET,
        event = "access_refused",
        outcome = "rejected",
        code = rejection.code(),
        risk = "medium",
    );
    let mut res = DefaultResponder.response(&rejection);
    res.extensions_mut().insert(rejection);
    res
}

impl<S, ReqBody, ResBody, E> Service<Request<ReqBody>> for HmacOrBearer<S>
where
    HmacAuth<S>: Service<Request<ReqBody>, Response = Response<ResponseBody<ResBody>>, Error = E>,
    BearerAuth<S>: Service<
            Request<ReqBody>,
            Response = Response<ResBody>,
            Error = E,
            Future = BearerFuture<Response<ResBody>, E>,
        >,
    ResBody: From<Bytes>,
{
    type Response = Response<Either<ResponseBody<ResBody>, ResBody>>;
    type Error = E;
    type Future =
        HmacOrBearerFuture<<HmacAuth<S> as Service<Request<ReqBody>>>::Future, ResBody, E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        // Both, as tower's `Steer` does: either may be called next. Each calls a clone of the
        // inner service and leaves a fresh one behind.
        ready_poll!(self.hmac.poll_ready(cx))?;
        self.bearer.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The identities are this layer's to give: none from elsewhere survives it.
        req.extensions_mut().remove::<Authenticated>();
        req.extensions_mut().remove::<AccessClaims>();
        req.extensions_mut().remove::<GrantedScopes>();
        // The head alone decides (moved out and back: nothing is cloned).
        let (parts, body) = req.into_parts();
        let route = route(&parts, &self.hmac);
        let req = Request::from_parts(parts, body);
        match route {
            Route::Hmac => HmacOrBearerFuture::Hmac {
                future: self.hmac.call(req),
            },
            Route::Bearer => HmacOrBearerFuture::Bearer {
                future: self.bearer.call(req),
            },
            Route::Ambiguous(why) => HmacOrBearerFuture::Refused {
                future: ready(Ok(ambiguous(why).map(ResBody::from))),
            },
        }
    }
}

pin_project! {
    /// The response future of [`HmacOrBearer`].
    // Opaque states of a future: their fields are not an API (and `pin_project_lite` takes no
    // doc comments on them).
    #[allow(missing_docs)]
    #[project = HmacOrBearerFutureProj]
    pub enum HmacOrBearerFuture<H, RB, E> {
        /// The HMAC layer's future.
        Hmac { #[pin] future: H },
        /// The bearer layer's future.
        Bearer { #[pin] future: BearerFuture<Response<RB>, E> },
        /// Refused here (two kinds of credentials).
        Refused { #[pin] future: Ready<Result<Response<RB>, E>> },
    }
}

impl<H, HB, RB, E> Future for HmacOrBearerFuture<H, RB, E>
where
    H: Future<Output = Result<Response<HB>, E>>,
{
    type Output = Result<Response<Either<HB, RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            HmacOrBearerFutureProj::Hmac { future } => {
                let res = ready_poll!(future.poll(cx))?;
                Poll::Ready(Ok(res.map(Either::Left)))
            }
            HmacOrBearerFutureProj::Bearer { future } => {
                let res = ready_poll!(future.poll(cx))?;
                Poll::Ready(Ok(res.map(Either::Right)))
            }
            HmacOrBearerFutureProj::Refused { future } => {
                let res = ready_poll!(future.poll(cx))?;
                Poll::Ready(Ok(res.map(Either::Right)))
            }
        }
    }
}

impl<H, RB, E> fmt::Debug for HmacOrBearerFuture<H, RB, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacOrBearerFuture").finish_non_exhaustive()
    }
}

/// Who called a route behind [`HmacOrBearerLayer`]: a service that signed the request, or a
/// user with a session's access token. With the `axum` feature it is an extractor; on a route
/// the layer does not cover, extracting it fails with `500 layer_missing` (never an anonymous
/// caller), and `Option<Caller>` extracts `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Caller {
    /// A signed service call: the key's app, key id, scheme and scopes.
    Service(Authenticated),
    /// A logged-in user: the access token's claims (`sub`, `sid`, `scope`, …).
    User(AccessClaims),
}

impl Caller {
    /// The caller the layers left in `extensions`: the HMAC identity, else the session's.
    pub fn from_extensions(extensions: &http::Extensions) -> Option<Self> {
        if let Some(service) = extensions.get::<Authenticated>() {
            return Some(Self::Service(service.clone()));
        }
        extensions.get::<AccessClaims>().cloned().map(Self::User)
    }

    /// Whether the caller holds `scope` (the key's registry scopes, or the token's `scope`).
    pub fn has_scope(&self, scope: &str) -> bool {
        match self {
            Self::Service(service) => service.has_scope(scope),
            Self::User(user) => user.has_scope(scope),
        }
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = Response<axum::body::Body>;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Self::from_extensions(&parts.extensions).ok_or_else(|| {
            crate::layer::missing_layer_answer(
                "no Caller on this route: HmacOrBearerLayer is missing from it, or it is placed so that it runs after the middleware that extracts the caller (it must wrap the handler)",
            )
        })
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(Self::from_extensions(&parts.extensions))
    }
}

#[cfg(test)]
mod tests {
    use tower_hmac::{AllowedHosts, InMemoryRegistry};
    use tower_hmac_core::test_util::request_head as head;

    use super::*;

    /// The HMAC service of a layer verifying protocol v1 alone.
    fn v1() -> HmacAuth<()> {
        HmacAuthLayer::builder(
            InMemoryRegistry::new(),
            AllowedHosts::new(["api.test"]).unwrap(),
        )
        .build()
        .unwrap()
        .layer(())
    }

    #[test]
    fn a_bearer_token_alone_goes_to_the_session_check() {
        let hmac = v1();
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "Bearer"] {
            let parts = head(&[("authorization", value)], "/orders");
            assert_eq!(route(&parts, &hmac), Route::Bearer, "{value}");
        }
    }

    #[test]
    fn every_other_request_goes_to_the_hmac_layer() {
        let hmac = v1();
        assert_eq!(route(&head(&[], "/orders"), &hmac), Route::Hmac);
        for value in [
            "HMAC-SHA256 a=b",
            "AWS4-HMAC-SHA256 Credential=x",
            "Bearerx abc",
        ] {
            let parts = head(&[("authorization", value)], "/orders");
            assert_eq!(route(&parts, &hmac), Route::Hmac, "{value}");
        }
        let parts = head(&[("signature-input", "sig1=()")], "/orders");
        assert_eq!(route(&parts, &hmac), Route::Hmac);
    }

    #[test]
    fn a_bearer_token_with_another_authorization_header_is_ambiguous() {
        let hmac = v1();
        let bearer = ("authorization", "Bearer abc");
        for other in ["HMAC-SHA256 a=b", "Basic YTpi", "Bearer def"] {
            let parts = head(&[bearer, ("authorization", other)], "/orders");
            assert!(
                matches!(route(&parts, &hmac), Route::Ambiguous(_)),
                "{other}"
            );
        }
    }

    /// Only what a configured scheme reads is a credential: with protocol v1 alone, none of
    /// these is (the integration tests configure the schemes that read them).
    #[test]
    fn a_bearer_token_beside_what_no_configured_scheme_reads_goes_to_the_session_check() {
        let hmac = v1();
        let bearer = ("authorization", "Bearer abc");
        for other in [
            ("signature", "sig1=:AA==:"),
            ("signature-input", "sig1=()"),
            ("x-auth-token", "id:1:mac"),
            ("stripe-signature", "t=1,v1=00"),
            (
                "proxy-authorization",
                "hmac username=\"u\", signature=\"AA\"",
            ),
        ] {
            let parts = head(&[bearer, other], "/orders");
            assert_eq!(route(&parts, &hmac), Route::Bearer, "{other:?}");
        }
        let parts = head(&[bearer], "/orders?a=1&X-Amz-Signature=abc");
        assert_eq!(route(&parts, &hmac), Route::Bearer);
    }
}
