use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

use bytes::Bytes;
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
    /// service's own future, polled in place. The verification runs where the request arrives
    /// (`HmacAuth::call`) as far as it can without waiting: a request it settles there (a `GET`
    /// on an in-process replay store, accepted or refused) leaves this future only the inner
    /// service's future or the refusal, a few words to move; one that has to wait (for a body
    /// still to come, a store that answers later) keeps its verification here, boxed. Neither
    /// the inner service nor the request body need be `Send` or `'static` (the future is `Send`
    /// when they are).
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
        // Waiting, in the verification's own box.
        Verifying {
            verification: Pin<Box<V>>,
            inner: Option<S>,
        },
        // With a shared risk store: the accepted request's signals, before the inner service.
        Assessing {
            step: PolicyFuture<Option<Signals>>,
            request: Option<Box<Request<VerifiedBody>>>,
            inner: Option<S>,
        },
        // With a shared store: the failure's count, before it is answered.
        Recording {
            step: PolicyFuture<Shared>,
            failure: Option<Box<Failure>>,
        },
        Calling {
            #[pin]
            future: F,
        },
        // Refused: the answer.
        Answered {
            response: Option<Response<Bytes>>,
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
    /// Polls the verification once where the request arrives, with a waker that wakes nothing:
    /// what it settles goes on at once (the decision, then the inner service's call); what has
    /// to wait is boxed and polled again, with the task's waker, when the server polls this
    /// future — every future the verification waits on registers the waker of its latest poll.
    pub(crate) fn new(
        mut verification: Verification<ReqBody>,
        inner: S,
        config: Arc<Verifier>,
        meta: AuditMeta,
    ) -> Self {
        let first = Pin::new(&mut verification).poll(&mut Context::from_waker(Waker::noop()));
        let state = match first {
            Poll::Ready(verified) => settle(&config, &meta, verified, inner),
            Poll::Pending => State::Verifying {
                verification: Box::pin(verification),
                inner: Some(inner),
            },
        };
        Self {
            state,
            config,
            meta,
        }
    }
}

/// What follows a verification's result: with a shared store, its step; otherwise the decision's
/// event and metrics, then the inner service's call (accepted) or the answer (refused). The one
/// place both the first poll and a later one go through.
fn settle<S, ReqBody, ResBody>(
    config: &Verifier,
    meta: &AuditMeta,
    verified: Result<Request<VerifiedBody>, Failure>,
    mut inner: S,
) -> State<S, S::Future, Verification<ReqBody>>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
{
    match verified {
        Ok(request) => {
            if let Some(step) = config.policy.shared_accepted(request.extensions(), meta) {
                return State::Assessing {
                    step,
                    request: Some(Box::new(request)),
                    inner: Some(inner),
                };
            }
            config.accepted(request.extensions().get::<Authenticated>(), meta);
            State::Calling {
                future: inner.call(request),
            }
        }
        Err(failure) => {
            if let Some(step) = config.policy.shared_rejected(&failure, meta) {
                return State::Recording {
                    step,
                    failure: Some(Box::new(failure)),
                };
            }
            config.rejected(&failure, meta);
            State::Answered {
                response: Some(rejection_response(&config.settings, failure)),
            }
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
                } => {
                    let verified = ready!(verification.as_mut().poll(cx));
                    let Some(service) = inner.take() else {
                        // Unreachable: taken only here, and the state is replaced right after.
                        return Poll::Pending;
                    };
                    state.set(settle(this.config, this.meta, verified, service));
                }
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
                    let future = service.call(*request);
                    state.set(State::Calling { future });
                }
                StateProj::Recording { step, failure } => {
                    let shared = ready!(step.as_mut().poll(cx));
                    let Some(failure) = failure.take() else {
                        return Poll::Pending;
                    };
                    this.config.rejected_with(&failure, this.meta, Some(shared));
                    state.set(State::Answered {
                        response: Some(rejection_response(&this.config.settings, *failure)),
                    });
                }
                StateProj::Answered { response } => {
                    let Some(response) = response.take() else {
                        panic!("`ResponseFuture` polled after it completed");
                    };
                    state.set(State::Done);
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
