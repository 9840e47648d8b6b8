//! Scopes: a route that requires the caller's key to grant some.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tower_hmac_core::{Rejection, RejectionKind};

use crate::Authenticated;
use crate::server::respond::{DefaultResponder, RejectionResponder as _, ResponseBody};

/// Requires the authenticated caller's key to grant every one of some scopes (the registry's
/// `scopes`), else `403 insufficient_scope` naming the first one missing in the problem body and
/// in `WWW-Authenticate: HMAC-SHA256 error="insufficient_scope", scope="…"`. Put it inside the
/// verifying layer (for Axum, `route_layer` after the HMAC layer, so that it runs after it); a
/// request without an identity is refused the same way.
///
/// ```
/// use axum::{Router, routing::{get, post}};
/// use tower_hmac::server::RequireScope;
///
/// # async fn list() {} async fn create() {}
/// let orders: Router = Router::new()
///     .route("/orders", post(create))
///     .route_layer(RequireScope::new("orders:write"))
///     .route("/orders/list", get(list));
/// // … .layer(hmac) around it all.
/// ```
#[derive(Debug, Clone)]
pub struct RequireScope {
    scopes: Arc<[Box<str>]>,
}

impl RequireScope {
    /// Requires `scope`.
    pub fn new(scope: impl Into<Box<str>>) -> Self {
        Self {
            scopes: Arc::new([scope.into()]),
        }
    }

    /// Requires every one of `scopes`.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        Self {
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// The first scope required that `caller` lacks.
    fn missing(&self, caller: Option<&Authenticated>) -> Option<&str> {
        self.scopes
            .iter()
            .find(|scope| !caller.is_some_and(|c| c.has_scope(scope)))
            .map(|s| &**s)
    }
}

impl<S> Layer<S> for RequireScope {
    type Service = RequireScopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopeService {
            inner,
            scope: self.clone(),
        }
    }
}

/// The service of [`RequireScope`].
#[derive(Debug, Clone)]
pub struct RequireScopeService<S> {
    inner: S,
    scope: RequireScope,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopeService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ScopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let caller = req.extensions().get::<Authenticated>();
        let Some(scope) = self.scope.missing(caller) else {
            return ScopeFuture::Inner {
                future: self.inner.call(req),
            };
        };
        let rejection = Rejection::new(RejectionKind::InsufficientScope)
            .with_detail(format!("this route requires the scope {scope:?}"))
            .with_required_scope(scope);
        let response = match caller.and_then(|c| Some((c, c.decisions()?))) {
            // Behind the layer: its responder, event and metric, the scheme's challenge.
            Some((caller, decisions)) => {
                decisions.refuse(caller, req.headers(), req.extensions(), rejection)
            }
            // No identity from a layer: refused all the same, and said so.
            None => {
                let rejection = rejection
                    .with_scheme(caller.map_or(tower_hmac_core::SCHEME, Authenticated::challenge));
                crate::server::observe::log_refusal_outside_layer(&rejection);
                let mut res = DefaultResponder.response(&rejection);
                res.extensions_mut().insert(rejection);
                res
            }
        };
        ScopeFuture::Refused {
            response: Some(response),
        }
    }
}

pin_project! {
    /// The response future of [`RequireScopeService`].
    // Opaque states of a future: their fields are not an API (and `pin_project_lite` takes no
    // doc comments on them).
    #[allow(missing_docs)]
    #[project = ScopeFutureProj]
    pub enum ScopeFuture<F> {
        /// The caller has the scopes: the inner service's future.
        Inner { #[pin] future: F },
        /// Refused: the answer.
        Refused { response: Option<Response<Bytes>> },
    }
}

impl<F, B, E> Future for ScopeFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ScopeFutureProj::Inner { future } => {
                let res = ready!(future.poll(cx))?;
                Poll::Ready(Ok(res.map(ResponseBody::inner)))
            }
            ScopeFutureProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response.map(ResponseBody::rejection))),
                None => panic!("`ScopeFuture` polled after it completed"),
            },
        }
    }
}

impl<F> fmt::Debug for ScopeFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeFuture").finish_non_exhaustive()
    }
}
