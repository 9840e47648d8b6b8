use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower::Service;

use super::future::ResponseFuture;
use crate::server::observe::Failure;
use crate::server::respond::ResponseBody;
use crate::server::verify::proxy::Origin;
use crate::server::verify::{Settings, VerifiedBody, Verifier};

/// Verifies each request before the inner service sees it.
///
/// A rejected request never reaches the inner service: it is answered with a response (see
/// [`RejectionResponder`](crate::server::RejectionResponder)) carrying the
/// [`Rejection`](crate::protocol::Rejection) in its extensions. An accepted one reaches it with
/// its body unchanged and [`Authenticated`](crate::Authenticated) in its extensions. The service's error is the inner
/// service's.
///
/// The checks start in `call`, where the request arrives, and go as far as they can without
/// waiting: a request they settle there (a `GET` with an in-process registry and replay store)
/// has its nonce recorded, its decision reported and the inner service called before `call`
/// returns. Put the layer outside a `tower::buffer::Buffer`, not inside it: a `Buffer` calls its
/// service from one worker task, which would verify its requests one at a time.
pub struct HmacAuth<S> {
    inner: S,
    config: Arc<Verifier>,
}

impl<S> HmacAuth<S> {
    pub(crate) fn new(inner: S, config: Arc<Verifier>) -> Self {
        Self { inner, config }
    }

    /// Whether a request with this head carries credentials this layer would look for: those of
    /// one of the schemes its route allows (the schemes a
    /// [`reserve`](crate::HmacAuthBuilder::reserve) rule gives the request, else those no rule
    /// reserves), found where each scheme's [`Locator`](crate::protocol::Locator) says — the
    /// choice the layer makes before verifying, so a request it would refuse as carrying
    /// credentials for two schemes counts too. Nothing is verified, and the
    /// [`skip`](crate::HmacAuthBuilder::skip) predicate is not consulted.
    ///
    /// For a layer in front of this one that sends some requests elsewhere (a bearer token's
    /// check): a request it would take that this layer would also claim is ambiguous.
    /// `Authorization: Bearer …` alone is no scheme's credentials (unless a custom scheme's
    /// locator reads it).
    ///
    /// ```
    /// use tower::Layer as _;
    /// use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry};
    ///
    /// let layer = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["api.example.com"])?)
    ///     .build()?;
    /// let hmac = layer.layer(());
    /// let head = |authorization: &str| {
    ///     http::Request::post("/orders")
    ///         .header("authorization", authorization)
    ///         .body(())
    ///         .map(|req| req.into_parts().0)
    /// };
    /// assert!(hmac.carries_credentials(&head("HMAC-SHA256 Credential=billing-1, …")?));
    /// assert!(!hmac.carries_credentials(&head("Bearer eyJhbGciOi…")?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn carries_credentials(&self, parts: &http::request::Parts) -> bool {
        let candidates = self.config.routing.candidates(parts);
        self.config.schemes.claims(parts, candidates)
    }
}

impl<S: Clone> Clone for HmacAuth<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for HmacAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacAuth")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HmacAuth<S>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>> + Clone,
    ReqBody: Body,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The ready service is the one that must be called; leave a fresh clone behind.
        let clone = self.inner.clone();
        let inner = mem::replace(&mut self.inner, clone);
        let origin = Origin::of(
            req.headers(),
            req.extensions(),
            self.config.settings.proxies.as_ref(),
        );
        let meta = self.config.audit_meta(req.headers(), origin.client);
        let verification = self.config.verify(req, &origin);
        ResponseFuture::new(verification, inner, Arc::clone(&self.config), meta)
    }
}

/// The response for a refused request: the responder's, with a `Date` and the [`Rejection`]
/// (`crate::protocol::Rejection`) in its extensions.
pub(crate) fn rejection_response(settings: &Settings, failure: Failure) -> Response<Bytes> {
    crate::server::respond::rejection_response(
        &*settings.responder,
        &*settings.clock,
        failure.rejection,
    )
}

#[cfg(test)]
#[cfg(feature = "kong")]
mod tests {
    use tower::Layer as _;

    use crate::{AllowedHosts, HmacAuthLayer, InMemoryRegistry};
    use tower_hmac_core::test_util::request_head as head;

    /// Kong's credentials count only on the routes reserved for Kong.
    #[test]
    fn carries_credentials_follows_the_routing() {
        let layer = HmacAuthLayer::builder(
            InMemoryRegistry::new(),
            AllowedHosts::new(["api.test"]).unwrap(),
        )
        .with_scheme(tower_hmac_core::gateway::Kong::new())
        .reserve(["kong"], |head| head.uri.path().starts_with("/gateway/"))
        .build()
        .unwrap();
        let hmac = layer.layer(());
        let bearer = ("authorization", "Bearer abc");
        let kong = (
            "proxy-authorization",
            "hmac username=\"u\", signature=\"AA\"",
        );
        assert!(hmac.carries_credentials(&head(&[bearer, kong], "/gateway/orders")));
        assert!(!hmac.carries_credentials(&head(&[bearer, kong], "/orders")));
        assert!(!hmac.carries_credentials(&head(&[bearer], "/gateway/orders")));
        let v1 = ("authorization", "HMAC-SHA256 Credential=k");
        assert!(hmac.carries_credentials(&head(&[v1], "/orders")));
        assert!(!hmac.carries_credentials(&head(&[v1], "/gateway/orders")));
    }
}
