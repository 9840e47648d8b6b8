//! The verification of one request with one scheme, written out as a future: no boxing, and no
//! bound on the request body beyond being a body.
//!
//! The order of the checks is the layer's (see the module docs of `server`): parse → key lookup
//! → authority and host → time → signed head → body (limit, time, digests) → MAC → replay guard.
//! Each `await` of the pipeline is a state: `Lookup` (the registry), `Reading` (the body, with
//! its timer), `Storing` (the replay store). The synchronous work between them lives in the
//! `Verifier` methods below, so that the states only carry what the next step needs.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use bytes::Buf;
use http::request::Parts;
use http::{Request, Uri};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_hmac_core::clock::unix_seconds;
use tower_hmac_core::policy::is_fresh;
use tower_hmac_core::{
    Credentials, KeyRecord, KeyState, NonceLifetime, NonceOutcome, NonceStoreError,
    NonceStoreErrorKind, RegistryError, Rejection, RejectionKind, ReplayKey, Scheme, SecretKey,
    StoreFuture, TimeHint, request_host_cow, unix_millis,
};

use super::body::VerifiedBody;
use super::proxy::restore_received;
use super::verify::{Failure, Verifier, authority_mismatch, host_not_allowed, signed_uri};
use crate::Authenticated;
use crate::extract::Decisions;

/// An error a body may fail with.
pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// What the checks before the body established.
struct Ctx<Sc: Scheme> {
    parts: Parts,
    creds: Sc::Credentials,
    /// The active key's record; `None` for an unknown, revoked or disallowed key, which goes on
    /// with the decoy key.
    record: Option<KeyRecord>,
    /// Why the key was refused, when it was.
    refused: Option<RejectionKind>,
    /// The app of a known but refused key, for the log line.
    refused_app: Option<Arc<str>>,
    /// For a refused key id: the decoy key it is verified with, derived from the layer's random
    /// one and the key id, so that its answers (keyed digests, `tsm`) differ from another
    /// refused key id's as two real keys' do.
    decoy: Option<SecretKey>,
    /// The URI the router routes on, put back after verifying against the signed one.
    routed: Option<Uri>,
    now: SystemTime,
    /// The time a stale answer teaches, rounded up (after any store's horizon).
    hint_secs: u64,
    /// With revealed key errors: the body and MAC are only the decoy's work, the answer is
    /// `refused`.
    decoy_only: bool,
}

pin_project! {
    /// The verification of one request with the scheme `Sc` of the set `S`.
    pub struct SchemeVerification<S, Sc, B>
    where
        Sc: Scheme,
    {
        verifier: Arc<Verifier<S>>,
        scheme: fn(&S) -> &Sc,
        #[pin]
        state: State<Sc, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Sc, B>
    where
        Sc: Scheme,
    {
        Failed {
            failure: Option<Failure>,
        },
        Lookup {
            lookup: StoreFuture<Result<Option<KeyRecord>, RegistryError>>,
            parts: Option<Parts>,
            body: Option<B>,
            creds: Option<Sc::Credentials>,
        },
        Reading {
            #[pin]
            body: B,
            #[pin]
            timer: Option<tokio::time::Sleep>,
            collected: VerifiedBody,
            // Bytes read, before any decoding (what the body limit counts).
            read: u64,
            pending: Option<Sc::Pending>,
            ctx: Option<Ctx<Sc>>,
        },
        Storing {
            store: StoreFuture<Result<NonceOutcome, tower_hmac_core::NonceStoreError>>,
            collected: Option<VerifiedBody>,
            ctx: Option<Ctx<Sc>>,
        },
        Done,
    }
}

impl<S, Sc, B> SchemeVerification<S, Sc, B>
where
    Sc: Scheme,
    B: Body,
    B::Error: Into<BodyError>,
{
    /// Starts verifying with the scheme `scheme(&verifier.schemes)`: parses the credentials and
    /// asks the registry for the key.
    pub(crate) fn new(
        verifier: Arc<Verifier<S>>,
        scheme: fn(&S) -> &Sc,
        parts: Parts,
        body: B,
        client: Option<std::net::IpAddr>,
    ) -> Self {
        let sc = scheme(&verifier.schemes);
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

impl<S, Sc, B> Future for SchemeVerification<S, Sc, B>
where
    S: Send + Sync + 'static,
    Sc: Scheme,
    B: Body,
    B::Error: Into<BodyError>,
{
    type Output = Result<Request<VerifiedBody>, Failure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let verifier: &Verifier<S> = this.verifier;
        let scheme = (this.scheme)(&verifier.schemes);
        let mut state = this.state;
        loop {
            match state.as_mut().project() {
                StateProj::Failed { failure } => {
                    let failure = failure.take();
                    state.set(State::Done);
                    return match failure {
                        Some(failure) => Poll::Ready(Err(failure)),
                        None => Poll::Pending,
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
                // Polled after completion: there is nothing more to give.
                StateProj::Done => return Poll::Pending,
            }
        }
    }
}

impl<S, Sc: Scheme, B> fmt::Debug for SchemeVerification<S, Sc, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemeVerification")
            .field("scheme", &(self.scheme)(&self.verifier.schemes).id())
            .finish_non_exhaustive()
    }
}

fn too_large() -> Rejection {
    Rejection::new(RejectionKind::BodyTooLarge)
}

/// Reads a body's data frames as they arrive, handing each chunk to `on_chunk`: ready with
/// `Ok` at its end, or with the first refusal — `on_chunk`'s, `body_too_large` past `limit`
/// bytes read (counted in `read`), `body_unreadable`, `trailers_not_allowed` (no signature
/// covers trailers, and the inner service's body has none), or `body_timeout` once `timer` has
/// fired while the body waits.
pub(crate) fn poll_body<B>(
    mut body: Pin<&mut B>,
    cx: &mut Context<'_>,
    timer: Pin<&mut Option<tokio::time::Sleep>>,
    read: &mut u64,
    limit: u64,
    mut on_chunk: impl FnMut(bytes::Bytes) -> Result<(), Rejection>,
) -> Poll<Result<(), Rejection>>
where
    B: Body,
    B::Error: Into<BodyError>,
{
    loop {
        match body.as_mut().poll_frame(cx) {
            Poll::Pending => {
                let expired = timer.as_pin_mut().is_some_and(|t| t.poll(cx).is_ready());
                return if expired {
                    Poll::Ready(Err(Rejection::new(RejectionKind::BodyTimeout)))
                } else {
                    Poll::Pending
                };
            }
            Poll::Ready(None) => return Poll::Ready(Ok(())),
            Poll::Ready(Some(Err(e))) => {
                return Poll::Ready(Err(
                    Rejection::new(RejectionKind::BodyUnreadable).with_source(e)
                ));
            }
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    let chunk = data.copy_to_bytes(data.remaining());
                    *read += chunk.len() as u64;
                    if *read > limit {
                        return Poll::Ready(Err(too_large()));
                    }
                    if let Err(rejection) = on_chunk(chunk) {
                        return Poll::Ready(Err(rejection));
                    }
                }
                Err(frame) if frame.is_trailers() => {
                    return Poll::Ready(Err(Rejection::new(RejectionKind::TrailersNotAllowed)));
                }
                Err(_) => {}
            },
        }
    }
}

impl<S> Verifier<S> {
    /// The key a request is verified with: its own, or the decoy for a refused one.
    fn secret<'a, Sc: Scheme>(&'a self, ctx: &'a Ctx<Sc>) -> &'a SecretKey {
        match (&ctx.record, &ctx.decoy) {
            (Some(record), _) => record.secret(),
            (None, Some(decoy)) => decoy,
            (None, None) => &self.decoy_key,
        }
    }

    /// A failure of this request, with what the log line says of the caller.
    fn fail<Sc: Scheme>(&self, scheme: &Sc, ctx: &Ctx<Sc>, rejection: Rejection) -> Failure {
        Failure {
            key_id: Some(ctx.creds.key_id().to_owned()),
            app_id: ctx
                .record
                .as_ref()
                .map(|r| r.app_id_arc().clone())
                .or_else(|| ctx.refused_app.clone()),
            hidden: ctx.refused,
            ..Failure::from_rejection(rejection).in_scheme(scheme)
        }
    }

    /// With revealed key errors: the key's own refusal (`unknown_key`, `revoked_key`,
    /// `scheme_not_allowed`).
    fn refusal<Sc: Scheme>(&self, scheme: &Sc, ctx: &Ctx<Sc>) -> Failure {
        let kind = ctx.refused.unwrap_or(RejectionKind::UnknownKey);
        Failure {
            hidden: None,
            ..self.fail(scheme, ctx, kind.into())
        }
    }

    /// `stale_timestamp` with the server's time `ts`, MACed with the key and bound to the nonce.
    fn stale<Sc: Scheme>(&self, scheme: &Sc, ctx: &Ctx<Sc>, ts: u64) -> Rejection {
        let tsm = scheme.time_mac(self.secret(ctx), ts, ctx.creds.nonce());
        Rejection::new(RejectionKind::StaleTimestamp).with_time_hint(TimeHint::new(ts, Some(tsm)))
    }

    /// Everything between the key lookup and the body: the key's state, the authority and host,
    /// the time, the signed head.
    fn before_body<Sc: Scheme>(
        &self,
        scheme: &Sc,
        parts: Parts,
        creds: Sc::Credentials,
        found: Result<Option<KeyRecord>, RegistryError>,
    ) -> Result<(Ctx<Sc>, Sc::Pending), Failure> {
        // An unknown or refused key goes on as a key that verifies nothing (the decoy), so that
        // neither the answer's time nor — unless the server reveals key errors — its code tells
        // which key ids exist.
        let now = self.settings.clock.now();
        let refusal = |record: &KeyRecord| {
            if record.state() != KeyState::Active {
                Some(RejectionKind::RevokedKey)
            } else if let Err(kind) = record.validity_at(now) {
                Some(kind)
            } else if !record.allows_scheme(scheme.id()) {
                Some(RejectionKind::SchemeNotAllowed)
            } else {
                None
            }
        };
        let (record, refused, refused_app) = match found {
            Ok(Some(record)) => match refusal(&record) {
                None => (Some(record), None, None),
                Some(kind) => (None, Some(kind), Some(record.app_id_arc().clone())),
            },
            Ok(None) => (None, Some(RejectionKind::UnknownKey), None),
            Err(e) => {
                return Err(Failure {
                    key_id: Some(creds.key_id().to_owned()),
                    ..Failure::from_rejection(
                        Rejection::new(RejectionKind::KeyStoreUnavailable).with_source(e),
                    )
                    .in_scheme(scheme)
                });
            }
        };
        // Only a refused key id pays for its decoy (one HMAC): the accept path derives nothing.
        let decoy = record.is_none().then(|| {
            self.decoy_key
                .derive(&[b"tower-hmac decoy\n", creds.key_id().as_bytes()])
        });
        let mut ctx = Ctx {
            parts,
            creds,
            record,
            refused,
            refused_app,
            decoy,
            routed: None,
            now,
            hint_secs: unix_millis(now).div_ceil(1000),
            decoy_only: false,
        };
        if ctx.refused.is_some() && self.settings.reveal_key_errors {
            // The work of a bad signature — the signed head, the body, a MAC — with the decoy
            // key, then the key's own refusal.
            ctx.decoy_only = true;
            let pending = scheme
                .prepare(&ctx.creds, &ctx.parts, self.secret(&ctx))
                .map_err(|_| self.refusal(scheme, &ctx))?;
            return Ok((ctx, pending));
        }

        if authority_mismatch(&ctx.parts) {
            return Err(self.fail(scheme, &ctx, RejectionKind::AuthorityMismatch.into()));
        }
        // Verify against what the client signed; the inner service gets the URI it routes on.
        ctx.routed =
            signed_uri(&ctx.parts).map(|original| mem::replace(&mut ctx.parts.uri, original));

        // Borrowed, not copied, when already lower case (no allocation on the accept path).
        // No host at all is the empty host, as before: allowed only by `AllowedHosts::any`.
        let refused = {
            let host = request_host_cow(&ctx.parts.uri, &ctx.parts.headers);
            let host = host.as_deref().unwrap_or_default();
            (!self.settings.hosts.allows(host)).then(|| host_not_allowed(host))
        };
        if let Some(rejection) = refused {
            return Err(self.fail(scheme, &ctx, rejection));
        }

        let now_secs = unix_seconds(now);
        let skew = scheme.max_skew().unwrap_or(self.settings.max_skew);
        let timestamp = ctx.creds.timestamp();
        let late = match ctx.creds.expires() {
            // No time to check.
            _ if ctx.creds.untimed().is_some() => false,
            None => !is_fresh(timestamp, now_secs, skew),
            // Valid from the timestamp (less the skew) to the expiry, inclusive.
            Some(expires) if now_secs > expires => {
                return Err(self.fail(scheme, &ctx, RejectionKind::Expired.into()));
            }
            Some(_) => timestamp > now_secs.saturating_add(skew.as_secs()),
        };
        if late {
            return Err(Failure {
                off_by: Some(timestamp.abs_diff(now_secs)),
                ..self.fail(scheme, &ctx, self.stale(scheme, &ctx, ctx.hint_secs))
            });
        }

        let pending = scheme
            .prepare(&ctx.creds, &ctx.parts, self.secret(&ctx))
            .map_err(|r| self.fail(scheme, &ctx, r))?;
        Ok((ctx, pending))
    }

    /// The body-reading state, or a failure when the declared length is already too large.
    fn reading<Sc: Scheme, B: Body>(
        &self,
        scheme: &Sc,
        body: B,
        pending: Sc::Pending,
        ctx: Ctx<Sc>,
    ) -> State<Sc, B> {
        if body.size_hint().lower() > self.settings.body_limit {
            let failure = if ctx.decoy_only {
                self.refusal(scheme, &ctx)
            } else {
                self.fail(scheme, &ctx, too_large())
            };
            return State::Failed {
                failure: Some(failure),
            };
        }
        // A body already at its end (a GET's) needs no timer. The timer needs a Tokio runtime
        // (axum and hyper-util run on one); elsewhere the body is read without a time limit
        // rather than panicking.
        let timer = (!body.is_end_stream() && tokio::runtime::Handle::try_current().is_ok())
            .then(|| tokio::time::sleep(self.settings.body_timeout));
        State::Reading {
            body,
            timer,
            collected: VerifiedBody::default(),
            read: 0,
            pending: Some(pending),
            ctx: Some(ctx),
        }
    }

    /// The MAC, then the replay store's call.
    fn after_body<Sc: Scheme, B>(
        &self,
        scheme: &Sc,
        ctx: Ctx<Sc>,
        pending: Sc::Pending,
        collected: VerifiedBody,
    ) -> State<Sc, B> {
        if ctx.decoy_only {
            let _ = scheme.verify(&ctx.creds, pending, self.secret(&ctx));
            return State::Failed {
                failure: Some(self.refusal(scheme, &ctx)),
            };
        }
        let verified = match scheme.verify(&ctx.creds, pending, self.secret(&ctx)) {
            Ok(verified) => verified,
            Err(rejection) => {
                // Every scheme's diagnostics, here only: keyed with the key being verified (the
                // decoy for a refused key id), never the signed text in clear unless the
                // operator asked for that.
                let rejection =
                    rejection.keyed_diagnostics(self.secret(&ctx), self.settings.diagnostics);
                return State::Failed {
                    failure: Some(self.fail(scheme, &ctx, rejection)),
                };
            }
        };
        if ctx.record.is_none() {
            // Unreachable with a random decoy key; never accept without a registered key.
            return State::Failed {
                failure: Some(self.fail(scheme, &ctx, RejectionKind::InvalidSignature.into())),
            };
        }
        let timestamp = ctx.creds.timestamp();
        let now_millis = unix_millis(ctx.now);
        let lifetime = match ctx.creds.expires() {
            // Remembered for the scheme's window from now (and never "before the horizon": there
            // is no signing time to compare).
            _ if ctx.creds.untimed().is_some() => {
                let keep = ctx.creds.untimed().unwrap_or_default();
                let keep = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
                NonceLifetime::from_millis(now_millis, now_millis, now_millis.saturating_add(keep))
            }
            None => NonceLifetime::for_request(
                timestamp,
                ctx.now,
                scheme.max_skew().unwrap_or(self.settings.max_skew),
            ),
            Some(expires) => NonceLifetime::from_millis(
                now_millis,
                timestamp.saturating_mul(1000),
                expires.saturating_add(1).saturating_mul(1000),
            ),
        };
        // The replay key, bound by the MAC that verified (never a value from the parse alone),
        // in the one replay space every scheme shares.
        let store = match verified.replay_key() {
            ReplayKey::SignedNonce => {
                self.nonces
                    .check_and_insert(ctx.creds.key_id(), ctx.creds.nonce(), lifetime)
            }
            ReplayKey::Mac(mac) => {
                let mut text = [0u8; 64];
                // The buffer is exactly twice the MAC's length: this cannot fail.
                let _ = hex::encode_to_slice(mac, &mut text);
                let text = std::str::from_utf8(&text).unwrap_or_default();
                self.nonces
                    .check_and_insert(ctx.creds.key_id(), text, lifetime)
            }
            ReplayKey::Off => StoreFuture::ready(Ok(NonceOutcome::Fresh)),
        };
        State::Storing {
            store,
            collected: Some(collected),
            ctx: Some(ctx),
        }
    }

    /// The replay store's answer, then the request for the inner service.
    fn after_store<Sc: Scheme>(
        &self,
        scheme: &Sc,
        mut ctx: Ctx<Sc>,
        collected: VerifiedBody,
        outcome: Result<NonceOutcome, NonceStoreError>,
        decisions: Arc<dyn Decisions>,
    ) -> Result<Request<VerifiedBody>, Failure> {
        // Past the MAC: a refusal here is of a request signed with the key.
        let fail = |rejection: Rejection| Failure {
            mac_verified: true,
            ..self.fail(scheme, &ctx, rejection)
        };
        match outcome {
            Ok(NonceOutcome::Fresh) => {}
            Ok(NonceOutcome::BeforeHorizon { horizon_millis }) => {
                // Signed before the store's memory began: maybe accepted then. The time sent is
                // past the horizon, so the client's one retry is accepted.
                let after = ctx.hint_secs.max(horizon_millis.div_ceil(1000));
                return Err(fail(self.stale(scheme, &ctx, after)));
            }
            Ok(_) => return Err(fail(RejectionKind::ReplayedNonce.into())),
            Err(e) => {
                let kind = match e.kind() {
                    NonceStoreErrorKind::KeyQuotaExceeded => RejectionKind::ReplayQuotaExceeded,
                    _ => RejectionKind::ReplayStoreUnavailable,
                };
                let mut rejection = Rejection::new(kind);
                if let Some(after) = e.retry_after() {
                    rejection = rejection.with_retry_after(after);
                }
                return Err(fail(rejection.with_source(e)));
            }
        }
        let Some(record) = ctx.record.take() else {
            return Err(self.fail(scheme, &ctx, RejectionKind::InvalidSignature.into()));
        };
        if let Some(routed) = ctx.routed.take() {
            ctx.parts.uri = routed;
        }
        restore_received(&mut ctx.parts);
        scheme.accepted(&ctx.creds, &mut ctx.parts);
        let key_id = match record.key_id_arc() {
            Some(shared) if **shared == *ctx.creds.key_id() => shared.clone(),
            _ => ctx.creds.key_id().into(),
        };
        let mut authenticated = Authenticated::new(record.app_id_arc().clone(), key_id)
            .with_scheme(scheme.id())
            .by_layer(scheme.name(), decisions);
        if let Some(scopes) = record.scopes_arc() {
            authenticated = authenticated.with_scopes(scopes.clone());
        }
        ctx.parts.extensions.insert(authenticated);
        Ok(Request::from_parts(ctx.parts, collected))
    }
}
