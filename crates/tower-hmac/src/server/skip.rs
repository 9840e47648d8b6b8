//! Requests the layer lets through unverified ([`HmacAuthBuilder::skip`]): their body is read
//! (within the same limits) into the [`VerifiedBody`] the inner service takes, and no
//! [`Authenticated`](crate::Authenticated) is attached.
//!
//! [`HmacAuthBuilder::skip`]: super::HmacAuthBuilder::skip

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf as _;
use http::Request;
use http::request::Parts;
use http_body::Body;
use pin_project_lite::pin_project;
use tower_hmac_core::{Rejection, RejectionKind};

use super::body::VerifiedBody;
use super::verification::BodyError;
use super::verify::Failure;

/// Which requests skip verification.
pub(crate) type SkipPredicate = std::sync::Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

pin_project! {
    /// Reads a skipped request's body.
    pub struct Passthrough<B> {
        #[pin]
        body: B,
        #[pin]
        timer: Option<tokio::time::Sleep>,
        parts: Option<Parts>,
        collected: VerifiedBody,
        limit: u64,
    }
}

impl<B: Body> Passthrough<B> {
    pub(crate) fn new(parts: Parts, body: B, limit: u64, timeout: Duration) -> Self {
        let timer = (!body.is_end_stream() && tokio::runtime::Handle::try_current().is_ok())
            .then(|| tokio::time::sleep(timeout));
        Self {
            body,
            timer,
            parts: Some(parts),
            collected: VerifiedBody::default(),
            limit,
        }
    }
}

impl<B> Future for Passthrough<B>
where
    B: Body,
    B::Error: Into<BodyError>,
{
    type Output = Result<Request<VerifiedBody>, Failure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let fail =
            |kind: RejectionKind| Poll::Ready(Err(Failure::from_rejection(Rejection::new(kind))));
        loop {
            match this.body.as_mut().poll_frame(cx) {
                Poll::Ready(None) => {
                    let Some(parts) = this.parts.take() else {
                        return Poll::Pending;
                    };
                    let body = std::mem::take(this.collected);
                    return Poll::Ready(Ok(Request::from_parts(parts, body)));
                }
                Poll::Ready(Some(Err(e))) => {
                    let rejection = Rejection::new(RejectionKind::BodyUnreadable).with_source(e);
                    return Poll::Ready(Err(Failure::from_rejection(rejection)));
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(mut data) => {
                        let chunk = data.copy_to_bytes(data.remaining());
                        if this.collected.len() + chunk.len() as u64 > *this.limit {
                            return fail(RejectionKind::BodyTooLarge);
                        }
                        this.collected.push(chunk);
                    }
                    // The inner service's body carries no trailers.
                    Err(frame) if frame.is_trailers() => {
                        return fail(RejectionKind::TrailersNotAllowed);
                    }
                    Err(_) => {}
                },
                Poll::Pending => {
                    let expired = this
                        .timer
                        .as_mut()
                        .as_pin_mut()
                        .is_some_and(|t| t.poll(cx).is_ready());
                    return if expired {
                        fail(RejectionKind::BodyTimeout)
                    } else {
                        Poll::Pending
                    };
                }
            }
        }
    }
}

impl<B> std::fmt::Debug for Passthrough<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passthrough").finish_non_exhaustive()
    }
}
