use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::DATE;
use http::{HeaderValue, Request, Response};
use http_body::Body;
use tower::Service;
use tower_hmac_core::V1;

use super::body::{ResponseBody, VerifiedBody};
use super::future::ResponseFuture;
use super::schemes::SchemeSet;
use super::verify::{AuditMeta, Failure, Verifier};

/// Verifies each request before the inner service sees it.
///
/// A rejected request never reaches the inner service: it is answered with a response (see
/// [`RejectionResponder`](super::RejectionResponder)) carrying the
/// [`Rejection`](crate::protocol::Rejection) in its extensions. An accepted one reaches it with
/// its body unchanged and [`Authenticated`](crate::Authenticated) in its extensions. The service's error is the inner
/// service's.
pub struct HmacAuth<S, Sc = (V1,)> {
    inner: S,
    config: Arc<Verifier<Sc>>,
}

impl<S, Sc> HmacAuth<S, Sc> {
    pub(crate) fn new(inner: S, config: Arc<Verifier<Sc>>) -> Self {
        Self { inner, config }
    }
}

impl<S: Clone, Sc> Clone for HmacAuth<S, Sc> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug, Sc: fmt::Debug> fmt::Debug for HmacAuth<S, Sc> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacAuth")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, Sc, ReqBody, ResBody> Service<Request<ReqBody>> for HmacAuth<S, Sc>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>> + Clone,
    Sc: SchemeSet,
    ReqBody: Body,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Sc, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The ready service is the one that must be called; leave a fresh clone behind.
        let clone = self.inner.clone();
        let inner = mem::replace(&mut self.inner, clone);
        let meta = AuditMeta::of(
            req.headers(),
            req.extensions(),
            self.config.settings.proxies.as_ref(),
        );
        let verification = self.config.verify(req, &meta);
        ResponseFuture::new(verification, inner, Arc::clone(&self.config), meta)
    }
}

/// The response for a refused request: the responder's, with a `Date` and the [`Rejection`]
/// (`crate::protocol::Rejection`) in its extensions.
pub(crate) fn rejection_response<Sc>(config: &Verifier<Sc>, failure: Failure) -> Response<Bytes> {
    let mut res = config.settings.responder.response(&failure.rejection);
    if !res.headers().contains_key(DATE) {
        let date = httpdate::fmt_http_date(config.settings.clock.now());
        if let Ok(value) = HeaderValue::from_str(&date) {
            res.headers_mut().insert(DATE, value);
        }
    }
    res.extensions_mut().insert(failure.rejection);
    res
}
