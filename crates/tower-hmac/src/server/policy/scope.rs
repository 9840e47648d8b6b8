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
use tower_hmac_core::{GrantedScopes, Rejection, RejectionKind};

use crate::Authenticated;
use crate::server::respond::{DefaultResponder, RejectionResponder as _, ResponseBody};

/// Requires the authenticated caller to hold every one of some scopes, else
/// `403 insufficient_scope` naming the first one missing in the problem body and in
/// `WWW-Authenticate: <scheme> error="insufficient_scope", scope="…"` (RFC 6750 §3.1). Put it
/// inside the verifying layer (for Axum, `route_layer` after the layer, so that it runs after
/// it); a request without an identity is refused the same way.
///
/// The caller is, in this order:
/// - an HMAC identity ([`Authenticated`], the key's registry `scopes`): its refusal is answered,
///   logged and counted by the layer that accepted the request, with the scheme's challenge
///   (`HMAC-SHA256`, `AWS4-HMAC-SHA256`, …);
/// - else a caller another layer verified, with its [`GrantedScopes`] (tower-hmac-sessions'
///   `BearerAuthLayer` and `HmacOrBearerLayer` put a session's token's `scope` there): the same
///   `403`, with that scheme's challenge (`Bearer error="insufficient_scope", scope="…"`),
///   logged once by that layer's record of refusals;
/// - else nobody: refused, and logged as a refusal outside any layer.
///
/// So one `RequireScope` guards a route that accepts both signed service calls and logged-in
/// users (tower-hmac-sessions' `HmacOrBearerLayer`).
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

    /// The first scope required that the caller lacks: an HMAC identity's, else another
    /// layer's `granted` scopes, else none.
    fn missing(
        &self,
        caller: Option<&Authenticated>,
        granted: Option<&GrantedScopes>,
        extensions: &http::Extensions,
    ) -> Option<&str> {
        let holds = |scope: &str| match (caller, granted) {
            (Some(caller), _) => caller.has_scope(scope),
            (None, Some(granted)) => granted.has_scope(extensions, scope),
            (None, None) => false,
        };
        self.scopes.iter().find(|scope| !holds(scope)).map(|s| &**s)
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
        // Another layer's caller counts only when there is no HMAC identity.
        let granted = caller
            .is_none()
            .then(|| req.extensions().get::<GrantedScopes>())
            .flatten();
        let Some(scope) = self.scope.missing(caller, granted, req.extensions()) else {
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
            // No identity from the HMAC layer: refused all the same, and said so once — by the
            // layer that verified the caller when it keeps a record, else as outside any layer.
            None => {
                let scheme = match (caller, granted) {
                    (Some(caller), _) => caller.challenge(),
                    (None, Some(granted)) => granted.challenge(),
                    (None, None) => tower_hmac_core::SCHEME,
                };
                let rejection = rejection.with_scheme(scheme);
                if !granted.is_some_and(|g| g.log_refusal(&rejection)) {
                    crate::server::observe::log_refusal_outside_layer(&rejection);
                }
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::header::WWW_AUTHENTICATE;
    use tower::ServiceExt as _;

    use super::*;

    /// The status and challenge of a request to a route requiring `orders:write`, carrying
    /// `caller` and `granted` in its extensions.
    async fn answer(
        caller: Option<Authenticated>,
        granted: Option<GrantedScopes>,
    ) -> (u16, String) {
        let route =
            RequireScope::new("orders:write").layer(tower::service_fn(|_req: Request<()>| async {
                Ok::<_, Infallible>(Response::new(Bytes::new()))
            }));
        let mut req = Request::new(());
        if let Some(caller) = caller {
            req.extensions_mut().insert(caller);
        }
        if let Some(granted) = granted {
            req.extensions_mut().insert(granted);
        }
        let res = route.oneshot(req).await.unwrap();
        let challenge = res
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (res.status().as_u16(), challenge)
    }

    fn service(scopes: &[&str]) -> Authenticated {
        Authenticated::new("shop".into(), "shop-1".into())
            .with_scopes(scopes.iter().map(|s| Box::from(*s)).collect())
    }

    #[tokio::test]
    async fn another_layers_granted_scopes_satisfy_the_rule() {
        let granted = GrantedScopes::new("Bearer", ["orders:read", "orders:write"]);
        assert_eq!(answer(None, Some(granted)).await, (200, String::new()));
    }

    #[tokio::test]
    async fn another_layers_caller_lacking_a_scope_gets_its_schemes_challenge() {
        let granted = GrantedScopes::new("Bearer", ["orders:read"]);
        assert_eq!(
            answer(None, Some(granted)).await,
            (
                403,
                "Bearer error=\"insufficient_scope\", scope=\"orders:write\"".to_owned()
            )
        );
    }

    #[tokio::test]
    async fn an_hmac_identity_decides_even_beside_granted_scopes() {
        // The HMAC identity is the caller: another layer's scopes never widen it.
        let granted = GrantedScopes::new("Bearer", ["orders:write"]);
        let (status, challenge) = answer(Some(service(&["orders:read"])), Some(granted)).await;
        assert_eq!(status, 403);
        assert!(challenge.starts_with("HMAC-SHA256 "), "{challenge}");
        assert_eq!(
            answer(Some(service(&["orders:write"])), None).await,
            (200, String::new())
        );
    }

    #[tokio::test]
    async fn granted_scopes_looked_up_in_the_callers_claims_decide_the_same_way() {
        #[derive(Clone)]
        struct Claims(&'static str);
        let route =
            RequireScope::new("orders:write").layer(tower::service_fn(|_req: Request<()>| async {
                Ok::<_, Infallible>(Response::new(Bytes::new()))
            }));
        for (claims, status) in [("orders:read orders:write", 200), ("orders:read", 403)] {
            let mut req = Request::new(());
            req.extensions_mut().insert(Claims(claims));
            req.extensions_mut()
                .insert(GrantedScopes::lookup("Bearer", |ext, scope| {
                    ext.get::<Claims>()
                        .is_some_and(|c| c.0.split(' ').any(|s| s == scope))
                }));
            let res = route.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status().as_u16(), status, "{claims}");
        }
    }

    #[tokio::test]
    async fn no_identity_is_refused() {
        assert_eq!(answer(None, None).await.0, 403);
    }
}
