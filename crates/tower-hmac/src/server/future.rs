use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::body::{ResponseBody, VerifiedBody};

/// The verification's own future: what the layer checks before the inner service runs, ending in
/// the request to pass on or the rejection's response.
pub(crate) type Verification =
    Pin<Box<dyn Future<Output = Result<Request<VerifiedBody>, Response<Bytes>>> + Send + 'static>>;

pin_project! {
    /// The response future of [`HmacAuth`](super::HmacAuth): the verification, then the inner
    /// service's own future, polled in place.
    ///
    /// The verification (whose registry and replay-store calls may do I/O) is one allocation per
    /// request; the inner service's future is not boxed, so neither it nor the inner service
    /// need be `Send` or `'static`.
    pub struct ResponseFuture<S, ResBody>
    where
        S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
    {
        #[pin]
        state: State<S, S::Future>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F> {
        Verifying {
            verification: Verification,
            inner: Option<S>,
        },
        Calling {
            #[pin]
            future: F,
        },
        Done,
    }
}

impl<S, ResBody> ResponseFuture<S, ResBody>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
{
    pub(crate) fn new(verification: Verification, inner: S) -> Self {
        Self {
            state: State::Verifying {
                verification,
                inner: Some(inner),
            },
        }
    }
}

impl<S, ResBody> Future for ResponseFuture<S, ResBody>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Verifying {
                    verification,
                    inner,
                } => match ready!(verification.as_mut().poll(cx)) {
                    Ok(request) => {
                        let Some(mut service) = inner.take() else {
                            // Only reachable if polled again after a panic in the inner call.
                            return Poll::Pending;
                        };
                        let future = service.call(request);
                        state.set(State::Calling { future });
                    }
                    Err(response) => {
                        state.set(State::Done);
                        return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                    }
                },
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    state.set(State::Done);
                    return Poll::Ready(result.map(|res| res.map(ResponseBody::inner)));
                }
                // Polled after completion: there is nothing more to give.
                StateProj::Done => return Poll::Pending,
            }
        }
    }
}

impl<S, ResBody> fmt::Debug for ResponseFuture<S, ResBody>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
