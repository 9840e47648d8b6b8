//! Requests the layer lets through unverified ([`HmacAuthBuilder::skip`]): their body is read
//! (within the same limits) into the [`VerifiedBody`] the inner service takes, and no
//! [`Authenticated`](crate::Authenticated) is attached.
//!
//! [`HmacAuthBuilder::skip`]: super::HmacAuthBuilder::skip

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::Request;
use http::request::Parts;
use http_body::Body;

use super::body::{BodyError, VerifiedBody, poll_body};
use super::path::HeldBody;
use crate::server::observe::Failure;

/// Which requests skip verification.
pub(crate) type SkipPredicate = std::sync::Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

/// Reads a skipped request's body. `Unpin`, as the verification it is a state of: the body is
/// pinned only in a box of its own once it has to be polled (`HeldBody`), never when it is at
/// its end already.
pub(crate) struct Passthrough<B> {
    body: HeldBody<B>,
    timeout: Duration,
    parts: Option<Parts>,
    collected: VerifiedBody,
    read: u64,
    limit: u64,
}

impl<B: Body> Passthrough<B> {
    pub(crate) fn new(parts: Parts, body: B, limit: u64, timeout: Duration) -> Self {
        Self {
            body: HeldBody::new(body),
            timeout,
            parts: Some(parts),
            collected: VerifiedBody::default(),
            read: 0,
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
        let this = self.get_mut();
        let collected = &mut this.collected;
        // A body at its end has nothing to read: it is not polled (nor boxed).
        let read = match this.body.pollable(this.timeout) {
            None => Ok(()),
            Some((body, timer)) => ready!(poll_body(
                body,
                cx,
                timer,
                &mut this.read,
                this.limit,
                |chunk| {
                    collected.push(chunk);
                    Ok(())
                }
            )),
        };
        Poll::Ready(match (read, this.parts.take()) {
            (Ok(()), Some(parts)) => Ok(Request::from_parts(parts, std::mem::take(collected))),
            (Err(rejection), _) => Err(Failure::from_rejection(rejection)),
            // Polled again after its end.
            (Ok(()), None) => panic!("a skipped request's body read was polled after it completed"),
        })
    }
}

impl<B> std::fmt::Debug for Passthrough<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passthrough").finish_non_exhaustive()
    }
}
