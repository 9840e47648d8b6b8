//! [`Delegated`]: the service of the [`DelegationLayer`](super::DelegationLayer).

use std::mem;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{BoxError, Service, ServiceExt};
use url::Url;

use super::delegation::Delegation;
use super::future::ResponseFuture;
use super::on_behalf::OnBehalfOf;

/// Sends each request marked with an [`OnBehalfOf`] with that user's token; see
/// [`DelegationLayer`](super::DelegationLayer).
///
/// Errors are boxed: a [`DelegationError`](super::DelegationError) (find it with
/// [`DelegationError::from_boxed`](super::DelegationError::from_boxed)) or the inner service's
/// error.
#[derive(Debug, Clone)]
pub struct Delegated<S> {
    inner: S,
    delegation: Delegation,
}

impl<S> Delegated<S> {
    pub(crate) fn new(inner: S, delegation: Delegation) -> Self {
        Self { inner, delegation }
    }
}

impl<S, B, ResBody> Service<Request<B>> for Delegated<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Clone + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ResponseFuture<Response<ResBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The ready service goes into the future; a clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = mem::replace(&mut self.inner, clone);
        let delegation = self.delegation.clone();
        ResponseFuture::new(async move {
            let Some(on) = req.extensions().get::<OnBehalfOf>().cloned() else {
                return inner.call(req).await.map_err(Into::into);
            };
            let url = Url::parse(&req.uri().to_string()).ok();
            let auth = delegation.authorize(&on, url.as_ref()).await?;
            req.headers_mut()
                .insert(http::header::AUTHORIZATION, auth.header()?);
            let mut again = req.clone();
            let res = inner.call(req).await.map_err(Into::into)?;
            if res.status() != http::StatusCode::UNAUTHORIZED {
                return Ok(res);
            }
            drop(res);
            let auth = delegation.reauthorize(auth).await?;
            again
                .headers_mut()
                .insert(http::header::AUTHORIZATION, auth.header()?);
            let ready = inner.ready().await.map_err(Into::into)?;
            ready.call(again).await.map_err(Into::into)
        })
    }
}
