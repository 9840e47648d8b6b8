use std::mem;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower::{BoxError, Service, ServiceExt};
use tower_hmac_core::body_sha256;

use super::future::ResponseFuture;
use super::signer::{RequestSigner, buffer_body};

/// Signs each request, sends it with the inner service, and on a verified `stale_timestamp`
/// answer learns the server's clock offset and sends it once more with a new nonce.
///
/// The body is buffered (up to the signer's limit) and sent unchanged as `Full<Bytes>`. Errors
/// are boxed: a [`SignRequestError`](super::SignRequestError) or the inner service's error.
#[derive(Debug, Clone)]
pub struct SignRequest<S> {
    inner: S,
    signer: RequestSigner,
}

impl<S> SignRequest<S> {
    pub(crate) fn new(inner: S, signer: RequestSigner) -> Self {
        Self { inner, signer }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SignRequest<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ResponseFuture<Response<ResBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = mem::replace(&mut self.inner, clone);
        let signer = self.signer.clone();
        ResponseFuture::new(async move {
            let (mut parts, body) = req.into_parts();
            let body = buffer_body(body, signer.body_limit_bytes()).await?;
            let hash = body_sha256(&body);
            let signed = signer.sign(&parts.method, &parts.uri, &mut parts.headers, &hash)?;
            let retry = signer.retries().then(|| parts.clone());
            let res = inner
                .call(Request::from_parts(parts, Full::new(body.clone())))
                .await
                .map_err(Into::into)?;
            let Some(mut parts) = retry else {
                return Ok(res);
            };
            if !signer.learn_from(res.status(), res.headers(), &signed) {
                return Ok(res);
            }
            drop(res);
            signer.sign(&parts.method, &parts.uri, &mut parts.headers, &hash)?;
            let ready = inner.ready().await.map_err(Into::into)?;
            ready
                .call(Request::from_parts(parts, Full::new(body)))
                .await
                .map_err(Into::into)
        })
    }
}
