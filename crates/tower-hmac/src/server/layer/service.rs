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
pub struct HmacAuth<S> {
    inner: S,
    config: Arc<Verifier>,
}

impl<S> HmacAuth<S> {
    pub(crate) fn new(inner: S, config: Arc<Verifier>) -> Self {
        Self { inner, config }
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
