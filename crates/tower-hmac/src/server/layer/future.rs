use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower::Service;

use super::service::rejection_response;
use crate::Authenticated;
use crate::server::observe::{AuditMeta, Failure, Signals};
use crate::server::policy::{PolicyFuture, Shared};
use crate::server::respond::ResponseBody;
use crate::server::verify::{BodyError, Verification, VerifiedBody, Verifier};

pin_project! {
    /// The response future of [`HmacAuth`](super::HmacAuth): the verification, then the inner
    /// service's own future, both polled in place — nothing is boxed, and neither the inner
    /// service nor the request body need be `Send` or `'static` (the future is `Send` when they
    /// are).
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
        ReqBody: Body,
        ReqBody::Error: Into<BodyError>,
    {
        #[pin]
        state: State<S, S::Future, Verification<ReqBody>>,
        config: Arc<Verifier>,
        // What the decision's event says of the request.
        meta: AuditMeta,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, V> {
        Verifying {
            #[pin]
            verification: V,
            inner: Option<S>,
        },
        // With a shared risk store: the accepted request's signals, before the inner service.
        Assessing {
            step: PolicyFuture<Option<Signals>>,
            request: Option<Request<VerifiedBody>>,
            inner: Option<S>,
        },
        // With a shared store: the failure's count, before it is answered.
        Recording {
            step: PolicyFuture<Shared>,
            failure: Option<Failure>,
        },
        Calling {
            #[pin]
            future: F,
        },
        Done,
    }
}

impl<S, ReqBody, ResBody> ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
    ReqBody: Body,
    ReqBody::Error: Into<BodyError>,
{
    pub(crate) fn new(
        verification: Verification<ReqBody>,
        inner: S,
        config: Arc<Verifier>,
        meta: AuditMeta,
    ) -> Self {
        Self {
            state: State::Verifying {
                verification,
                inner: Some(inner),
            },
            config,
            meta,
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
    ReqBody: Body,
    ReqBody::Error: Into<BodyError>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut state = this.state;
        loop {
            match state.as_mut().project() {
                StateProj::Verifying {
                    verification,
                    inner,
                } => match ready!(verification.poll(cx)) {
                    Ok(request) => {
                        let shared = this
                            .config
                            .policy
                            .shared_accepted(request.extensions(), this.meta);
                        if let Some(step) = shared {
                            let inner = inner.take();
                            state.set(State::Assessing {
                                step,
                                request: Some(request),
                                inner,
                            });
                            continue;
                        }
                        this.config
                            .accepted(request.extensions().get::<Authenticated>(), this.meta);
                        let Some(mut service) = inner.take() else {
                            // Only reachable if polled again after a panic in the inner call.
                            return Poll::Pending;
                        };
                        let future = service.call(request);
                        state.set(State::Calling { future });
                    }
                    Err(failure) => {
                        if let Some(step) = this.config.policy.shared_rejected(&failure, this.meta)
                        {
                            state.set(State::Recording {
                                step,
                                failure: Some(failure),
                            });
                            continue;
                        }
                        this.config.rejected(&failure, this.meta);
                        state.set(State::Done);
                        let response = rejection_response(&this.config.settings, failure);
                        return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                    }
                },
                StateProj::Assessing {
                    step,
                    request,
                    inner,
                } => {
                    let signals = ready!(step.as_mut().poll(cx));
                    let (Some(request), Some(mut service)) = (request.take(), inner.take()) else {
                        return Poll::Pending;
                    };
                    this.config.accepted_with(
                        request.extensions().get::<Authenticated>(),
                        this.meta,
                        signals,
                    );
                    let future = service.call(request);
                    state.set(State::Calling { future });
                }
                StateProj::Recording { step, failure } => {
                    let shared = ready!(step.as_mut().poll(cx));
                    let Some(failure) = failure.take() else {
                        return Poll::Pending;
                    };
                    this.config.rejected_with(&failure, this.meta, Some(shared));
                    state.set(State::Done);
                    let response = rejection_response(&this.config.settings, failure);
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    state.set(State::Done);
                    return Poll::Ready(result.map(|res| res.map(ResponseBody::inner)));
                }
                StateProj::Done => panic!("`ResponseFuture` polled after it completed"),
            }
        }
    }
}

impl<S, ReqBody, ResBody> fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
    ReqBody: Body,
    ReqBody::Error: Into<BodyError>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
