//! The verification of one request, in one place, in the order a newcomer reads it:
//!
//! 1. admit (`Verifier::verify`, in `mod.rs`): a skipped request is only read; HTTPS when
//!    required, the client address's throttle, a trusted proxy's host;
//! 2. select the one scheme among those the route allows whose credentials the head carries;
//! 3. parse its credentials, then the key id's throttle (`SchemeVerification::new`); with a
//!    shared throttle, one call to its store for the address and the key id (state `Throttling`);
//! 4. look the key up (state `Lookup`), then in `checks.rs` `before_body`: the key's state (a
//!    decoy key for an unknown, revoked or disallowed one, never accepted), the authority and the
//!    allowed host, the freshness, the scheme's signed head;
//! 5. read the body (state `Reading`): the limit, the timeout, no trailers, the scheme's streamed
//!    decoding and digests;
//! 6. `after_body`: the MAC in constant time (a mismatch's diagnostics keyed with the key being
//!    verified), then the replay key — bound by the MAC that verified — into the one replay store
//!    (state `Storing`);
//! 7. `after_store`: the replay store's answer, then the accepted request with its identity.
//!
//! Each `await` is a state of a hand-written future, polled first where the request arrives
//! (`HmacAuth::call`). A request it settles there — a `GET` with an in-process registry and
//! replay store and no shared policy store — boxes nothing; one that waits keeps its state in
//! one box, and a body still to come is pinned in a box of its own. The request body needs no
//! bound beyond being a body. The synchronous work between the states lives
//! in `checks.rs`, so that the states only carry what the next step needs. The rules every scheme
//! shares are applied in those steps and nowhere else.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::Request;
use http::request::Parts;
use http_body::Body;
use pin_project_lite::pin_project;
use tower_hmac_core::{Credentials, KeyRecord, NonceOutcome, RegistryError, Scheme, StoreFuture};

use super::Verifier;
use super::body::{BodyError, VerifiedBody, poll_body};
use super::checks::Ctx;
use super::schemes::{AnyPending, Entry};
use super::skip::Passthrough;
use crate::extract::Decisions;
use crate::server::observe::Failure;
use crate::server::policy::PolicyFuture;

/// The verification of one request: refused before any scheme's checks, skipped, or the
/// checks of the scheme its credentials name.
///
/// `Unpin` whatever the body: the layer polls it once where the request arrives
/// (`HmacAuth::call`) and keeps it, boxed, only when it has to wait — for a body still to come
/// or a store that answers later. A request body is pinned only once it is read, in a box of its
/// own (`HeldBody`); a body already at its end (a `GET`'s) is never polled.
// The large variant is the common one (a scheme's checks); the whole value lives where the
// request arrives and is boxed as one when it waits.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Verification<B> {
    /// No scheme, or several, claimed the request, or it was not admitted.
    Refused { failure: Option<Failure> },
    /// Skipped (`HmacAuthBuilder::skip`): the body is read and handed on.
    Skipped { read: Passthrough<B> },
    /// Verifying with the scheme its credentials name.
    Verifying { inner: SchemeVerification<B> },
}

impl<B> Future for Verification<B>
where
    B: Body,
    B::Error: Into<BodyError>,
{
    type Output = Result<Request<VerifiedBody>, Failure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Refused { failure } => match failure.take() {
                Some(failure) => Poll::Ready(Err(failure)),
                None => panic!("a request's verification was polled after it completed"),
            },
            Self::Skipped { read } => Pin::new(read).poll(cx),
            Self::Verifying { inner } => Pin::new(inner).poll(cx),
        }
    }
}

impl<B> fmt::Debug for Verification<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verification").finish_non_exhaustive()
    }
}

/// The verification of one request with one scheme of the layer's set. What the checks
/// establish (`Ctx`), the body, its timer and what was read stay in place from the parse to the
/// accepted request; a step carries only its own future, so going from one step to the next
/// moves a few words, never the request's head.
pub(crate) struct SchemeVerification<B> {
    verifier: Arc<Verifier>,
    // The scheme's index in the set (no clone of it per request).
    scheme: usize,
    // `None` once the credentials were refused (or the request handed on).
    ctx: Option<Ctx>,
    pending: Option<AnyPending>,
    collected: VerifiedBody,
    body: HeldBody<B>,
    step: Step,
}

/// A request's body: held as it came until it has to be polled, then pinned in a box with its
/// timer (one allocation for both). A body already at its end is never polled
/// (`http_body::Body::is_end_stream`: nothing would come), so a `GET` costs no box and no timer.
pub(super) struct HeldBody<B> {
    held: Option<B>,
    polled: Option<Pin<Box<Reading<B>>>>,
}

pin_project! {
    /// A body being read, and the time it has left.
    struct Reading<B> {
        #[pin]
        body: B,
        #[pin]
        timer: Option<tokio::time::Sleep>,
    }
}

// The held body is never pinned where it is: it is moved into its box before its first poll
// (`pollable`), and only the box's content is ever handed out pinned. So the verification and
// the skipped request's read that hold it are `Unpin` whatever the body.
impl<B> Unpin for HeldBody<B> {}

impl<B: Body> HeldBody<B> {
    pub(super) fn new(body: B) -> Self {
        Self {
            held: Some(body),
            polled: None,
        }
    }

    fn get(&self) -> Option<&B> {
        match (&self.held, &self.polled) {
            (Some(body), _) => Some(body),
            (None, Some(reading)) => Some(&reading.body),
            (None, None) => None,
        }
    }

    /// The body's size hint (exactly 0 once it is gone).
    pub(super) fn size_hint(&self) -> http_body::SizeHint {
        self.get()
            .map_or_else(|| http_body::SizeHint::with_exact(0), Body::size_hint)
    }

    /// The body to poll and its timer, boxed together on the first call, the timer started
    /// then with `timeout`; `None` for a body at its end (or gone). The timer needs a Tokio
    /// runtime (axum and hyper-util run on one); elsewhere the body is read without a time
    /// limit rather than panicking.
    pub(super) fn pollable(
        &mut self,
        timeout: Duration,
    ) -> Option<(Pin<&mut B>, Option<Pin<&mut tokio::time::Sleep>>)> {
        if self.polled.is_none() {
            let body = self.held.take_if(|body| !body.is_end_stream())?;
            let timer = tokio::runtime::Handle::try_current()
                .is_ok()
                .then(|| tokio::time::sleep(timeout));
            self.polled = Some(Box::pin(Reading { body, timer }));
        }
        let reading = self.polled.as_mut()?.as_mut().project();
        Some((reading.body, reading.timer.as_pin_mut()))
    }
}

/// Where a verification is: each `await` of the checks is a step.
pub(super) enum Step {
    Failed(Option<Failure>),
    /// With a shared throttle: its answer for the address and the key id, before the lookup.
    Throttling(PolicyFuture<Option<Failure>>),
    Lookup(StoreFuture<Result<Option<KeyRecord>, RegistryError>>),
    /// Reading the body; bytes read so far, before any decoding (what the body limit counts),
    /// and the limit of this body (the streaming limit for a body verified chunk by chunk).
    Reading {
        read: u64,
        limit: u64,
    },
    Storing(StoreFuture<Result<NonceOutcome, tower_hmac_core::NonceStoreError>>),
    Done,
}

impl<B> SchemeVerification<B>
where
    B: Body,
    B::Error: Into<BodyError>,
{
    /// Starts verifying with the set's scheme at `scheme` (an index `Schemes::select` gave):
    /// parses the credentials and asks the registry for the key.
    pub(crate) fn new(
        verifier: Arc<Verifier>,
        scheme: usize,
        parts: Parts,
        body: B,
        client: Option<std::net::IpAddr>,
    ) -> Self {
        let sc = verifier.schemes.entry(scheme);
        let (ctx, step) = match sc.parse(&parts, verifier.settings.max_header_len) {
            Err(rejection) => (
                None,
                Step::Failed(Some(Failure::from_rejection(rejection).in_scheme(sc))),
            ),
            Ok(creds) => match verifier.key_id_throttled(creds.key_id(), client) {
                Some(failure) => (None, Step::Failed(Some(failure.in_scheme(sc)))),
                None => match verifier.policy.shared_check(creds.key_id(), client) {
                    Some(check) => (Some(Ctx::new(parts, creds)), Step::Throttling(check)),
                    None => {
                        let lookup = verifier.settings.registry.lookup(creds.key_id());
                        (Some(Ctx::new(parts, creds)), Step::Lookup(lookup))
                    }
                },
            },
        };
        Self {
            verifier,
            scheme,
            ctx,
            pending: None,
            collected: VerifiedBody::default(),
            body: HeldBody::new(body),
            step,
        }
    }
}

impl<B> Future for SchemeVerification<B>
where
    B: Body,
    B::Error: Into<BodyError>,
{
    type Output = Result<Request<VerifiedBody>, Failure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let verifier: &Arc<Verifier> = &this.verifier;
        let scheme: &Entry = verifier.schemes.entry(this.scheme);
        loop {
            match &mut this.step {
                Step::Failed(failure) => {
                    let failure = failure.take();
                    this.step = Step::Done;
                    return match failure {
                        Some(failure) => Poll::Ready(Err(failure)),
                        None => panic!("a request's verification was polled after it completed"),
                    };
                }
                Step::Throttling(check) => {
                    let refused = ready!(check.as_mut().poll(cx));
                    let Some(ctx) = this.ctx.as_ref() else {
                        this.step = Step::Done;
                        return Poll::Pending;
                    };
                    this.step = match refused {
                        Some(failure) => Step::Failed(Some(failure.in_scheme(scheme))),
                        None => Step::Lookup(verifier.settings.registry.lookup(ctx.creds.key_id())),
                    };
                }
                Step::Lookup(lookup) => {
                    let found = ready!(Pin::new(lookup).poll(cx));
                    let Some(ctx) = this.ctx.as_mut() else {
                        this.step = Step::Done;
                        return Poll::Pending;
                    };
                    this.step = match verifier.before_body(scheme, ctx, found) {
                        Ok(pending) => {
                            let pending = this.pending.insert(pending);
                            verifier.reading(scheme, &this.body, ctx, pending)
                        }
                        Err(failure) => Step::Failed(Some(failure)),
                    };
                }
                Step::Reading { read: raw, limit } => {
                    let limit = *limit;
                    let pending = &mut this.pending;
                    let collected = &mut this.collected;
                    // A body at its end has nothing to read: it is not polled (nor boxed).
                    let read = match this.body.pollable(verifier.settings.body_timeout) {
                        None => Poll::Ready(Ok(())),
                        Some((body, timer)) => poll_body(body, cx, timer, raw, limit, |chunk| {
                            match pending.as_mut() {
                                // The body fails at its first bad part.
                                Some(pending) => scheme
                                    .decode(pending, chunk, &mut |piece| collected.push(piece)),
                                None => Ok(()),
                            }
                        }),
                    };
                    let Poll::Ready(read) = read else {
                        return Poll::Pending;
                    };
                    let (Some(ctx), Some(pending)) = (this.ctx.as_ref(), this.pending.take())
                    else {
                        this.step = Step::Done;
                        return Poll::Pending;
                    };
                    this.step = match read {
                        Ok(()) => verifier.after_body(scheme, ctx, pending),
                        Err(_) if ctx.decoy_only => {
                            Step::Failed(Some(verifier.refusal(scheme, ctx)))
                        }
                        Err(rejection) => Step::Failed(Some(verifier.fail(scheme, ctx, rejection))),
                    };
                }
                Step::Storing(store) => {
                    let outcome = ready!(Pin::new(store).poll(cx));
                    this.step = Step::Done;
                    let Some(ctx) = this.ctx.take() else {
                        return Poll::Pending;
                    };
                    let collected = mem::take(&mut this.collected);
                    let decisions: Arc<dyn Decisions> = verifier.clone();
                    return Poll::Ready(
                        verifier.after_store(scheme, ctx, collected, outcome, decisions),
                    );
                }
                Step::Done => {
                    panic!("a request's verification was polled after it completed")
                }
            }
        }
    }
}

impl<B> fmt::Debug for SchemeVerification<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemeVerification")
            .field("scheme", &self.verifier.schemes.entry(self.scheme).id())
            .finish_non_exhaustive()
    }
}
