//! The verification of one request, in one place, in the order a newcomer reads it:
//!
//! 1. admit (`Verifier::verify`, in `mod.rs`): a skipped request is only read; HTTPS when
//!    required, the client address's throttle, a trusted proxy's host;
//! 2. select the one scheme among those the route allows whose credentials the head carries;
//! 3. parse its credentials, then the key id's throttle (`SchemeVerification::new`);
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
//! Each `await` is a state of a hand-written future: nothing is boxed for protocol v1, and the
//! request body needs no bound beyond being a body. The synchronous work between the states lives
//! in `checks.rs`, so that the states only carry what the next step needs. The rules every scheme
//! shares are applied in those steps and nowhere else.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Request;
use http::request::Parts;
use http_body::Body;
use pin_project_lite::pin_project;
use tower_hmac_core::{Credentials, KeyRecord, NonceOutcome, RegistryError, Scheme, StoreFuture};

use super::Verifier;
use super::body::{BodyError, VerifiedBody, poll_body};
use super::checks::Ctx;
use super::schemes::{AnyCredentials, AnyPending, Entry};
use super::skip::Passthrough;
use crate::extract::Decisions;
use crate::server::observe::Failure;

pin_project! {
    /// The verification of one request: refused before any scheme's checks, skipped, or the
    /// checks of the scheme its credentials name.
    #[project = VerificationProj]
    pub(crate) enum Verification<B> {
        /// No scheme, or several, claimed the request, or it was not admitted.
        Refused {
            failure: Option<Failure>,
        },
        /// Skipped (`HmacAuthBuilder::skip`): the body is read and handed on.
        Skipped {
            #[pin]
            read: Passthrough<B>,
        },
        /// Verifying with the scheme its credentials name.
        Verifying {
            #[pin]
            inner: SchemeVerification<B>,
        },
    }
}

impl<B> Future for Verification<B>
where
    B: Body,
    B::Error: Into<BodyError>,
{
    type Output = Result<Request<VerifiedBody>, Failure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            VerificationProj::Refused { failure } => match failure.take() {
                Some(failure) => Poll::Ready(Err(failure)),
                None => panic!("a request's verification was polled after it completed"),
            },
            VerificationProj::Skipped { read } => read.poll(cx),
            VerificationProj::Verifying { inner } => inner.poll(cx),
        }
    }
}

impl<B> fmt::Debug for Verification<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verification").finish_non_exhaustive()
    }
}

pin_project! {
    /// The verification of one request with one scheme of the layer's set.
    pub(crate) struct SchemeVerification<B> {
        verifier: Arc<Verifier>,
        // The scheme's index in the set (no clone of it per request).
        scheme: usize,
        #[pin]
        state: State<B>,
    }
}

pin_project! {
    /// Where a verification is: each `await` of the checks is a state.
    #[project = StateProj]
    pub(super) enum State<B> {
        Failed {
            failure: Option<Failure>,
        },
        Lookup {
            lookup: StoreFuture<Result<Option<KeyRecord>, RegistryError>>,
            parts: Option<Parts>,
            body: Option<B>,
            creds: Option<AnyCredentials>,
        },
        Reading {
            #[pin]
            body: B,
            #[pin]
            timer: Option<tokio::time::Sleep>,
            collected: VerifiedBody,
            // Bytes read, before any decoding (what the body limit counts).
            read: u64,
            pending: Option<AnyPending>,
            ctx: Option<Ctx>,
        },
        Storing {
            store: StoreFuture<Result<NonceOutcome, tower_hmac_core::NonceStoreError>>,
            collected: Option<VerifiedBody>,
            ctx: Option<Ctx>,
        },
        Done,
    }
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
        let state = match sc.parse(&parts, verifier.settings.max_header_len) {
            Err(rejection) => State::Failed {
                failure: Some(Failure::from_rejection(rejection).in_scheme(sc)),
            },
            Ok(creds) => match verifier.key_id_throttled(creds.key_id(), client) {
                Some(failure) => State::Failed {
                    failure: Some(failure.in_scheme(sc)),
                },
                None => State::Lookup {
                    lookup: verifier.settings.registry.lookup(creds.key_id()),
                    parts: Some(parts),
                    body: Some(body),
                    creds: Some(creds),
                },
            },
        };
        Self {
            verifier,
            scheme,
            state,
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
        let this = self.project();
        let verifier: &Verifier = this.verifier;
        let scheme: &Entry = verifier.schemes.entry(*this.scheme);
        let mut state = this.state;
        loop {
            match state.as_mut().project() {
                StateProj::Failed { failure } => {
                    let failure = failure.take();
                    state.set(State::Done);
                    return match failure {
                        Some(failure) => Poll::Ready(Err(failure)),
                        None => panic!("a request's verification was polled after it completed"),
                    };
                }
                StateProj::Lookup {
                    lookup,
                    parts,
                    body,
                    creds,
                } => {
                    let found = ready!(Pin::new(lookup).poll(cx));
                    let (Some(parts), Some(body), Some(creds)) =
                        (parts.take(), body.take(), creds.take())
                    else {
                        state.set(State::Done);
                        return Poll::Pending;
                    };
                    let next = match verifier.before_body(scheme, parts, creds, found) {
                        Ok((ctx, pending)) => verifier.reading(scheme, body, pending, ctx),
                        Err(failure) => State::Failed {
                            failure: Some(failure),
                        },
                    };
                    state.set(next);
                }
                StateProj::Reading {
                    mut body,
                    timer,
                    collected,
                    read: raw,
                    pending,
                    ctx,
                } => {
                    let limit = verifier.settings.body_limit;
                    let read = poll_body(body.as_mut(), cx, timer, raw, limit, |chunk| {
                        match pending.as_mut() {
                            Some(pending) => {
                                // The body fails at its first bad part.
                                scheme.decode(pending, chunk, &mut |piece| collected.push(piece))
                            }
                            None => Ok(()),
                        }
                    });
                    let Poll::Ready(read) = read else {
                        return Poll::Pending;
                    };
                    let (Some(ctx), Some(pending)) = (ctx.take(), pending.take()) else {
                        state.set(State::Done);
                        return Poll::Pending;
                    };
                    let collected = mem::take(collected);
                    let next = match read {
                        Ok(()) => verifier.after_body(scheme, ctx, pending, collected),
                        Err(_) if ctx.decoy_only => State::Failed {
                            failure: Some(verifier.refusal(scheme, &ctx)),
                        },
                        Err(rejection) => State::Failed {
                            failure: Some(verifier.fail(scheme, &ctx, rejection)),
                        },
                    };
                    state.set(next);
                }
                StateProj::Storing {
                    store,
                    collected,
                    ctx,
                } => {
                    let outcome = ready!(Pin::new(store).poll(cx));
                    let (Some(ctx), Some(collected)) = (ctx.take(), collected.take()) else {
                        state.set(State::Done);
                        return Poll::Pending;
                    };
                    state.set(State::Done);
                    let decisions: Arc<dyn Decisions> = this.verifier.clone();
                    return Poll::Ready(
                        verifier.after_store(scheme, ctx, collected, outcome, decisions),
                    );
                }
                StateProj::Done => {
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
