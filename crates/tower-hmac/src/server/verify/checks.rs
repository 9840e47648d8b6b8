//! The checks of one request, in the order the verification future runs them (see `path.rs`):
//! the key's state, the authority and host, the time, the signed head; the body; the MAC; the
//! replay record; the accepted request. What every scheme shares is done here and only here: the
//! decoy key for refused key ids, keyed diagnostics, the replay key bound by the MAC.

use std::mem;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::request::Parts;
use http::{Request, Uri};
use http_body::Body;
use tower_hmac_core::clock::unix_seconds;
use tower_hmac_core::policy::is_fresh;
use tower_hmac_core::{
    Credentials, Freshness, KeyRecord, KeyState, NonceLifetime, NonceOutcome, NonceStoreError,
    NonceStoreErrorKind, RegistryError, Rejection, RejectionKind, ReplayKey, Scheme, SecretKey,
    StoreFuture, TimeHint, request_host_cow, unix_millis,
};

use super::body::{VerifiedBody, too_large};
use super::path::{HeldBody, Step};
use super::proxy::restore_received;
use super::schemes::{AnyCredentials, AnyPending, Entry};
use super::{Verifier, authority_mismatch, host_not_allowed, signed_uri};
use crate::Authenticated;
use crate::extract::Decisions;
use crate::server::observe::Failure;

/// What the checks before the body established.
pub(super) struct Ctx {
    pub(super) parts: Parts,
    pub(super) creds: AnyCredentials,
    /// The active key's record; `None` for an unknown, revoked or disallowed key, which goes on
    /// with the decoy key.
    pub(super) record: Option<KeyRecord>,
    /// Why the key was refused, when it was.
    pub(super) refused: Option<RejectionKind>,
    /// The app of a known but refused key, for the log line.
    pub(super) refused_app: Option<Arc<str>>,
    /// For a refused key id: the decoy key it is verified with, derived from the layer's random
    /// one and the key id, so that its answers (keyed digests, `tsm`) differ from another
    /// refused key id's as two real keys' do.
    /// Boxed: a refused key id's path pays for it, the accepted request's state stays small.
    pub(super) decoy: Option<Box<SecretKey>>,
    /// The URI the router routes on, put back after verifying against the signed one.
    /// Boxed: only a nested router has one, and the verification's state stays small.
    pub(super) routed: Option<Box<Uri>>,
    /// The time a stale answer teaches, rounded up (after any store's horizon).
    pub(super) hint_secs: u64,
    /// With revealed key errors: the body and MAC are only the decoy's work, the answer is
    /// `refused`.
    pub(super) decoy_only: bool,
    /// How long the replay key is remembered, once the time check passed.
    pub(super) lifetime: Option<NonceLifetime>,
}

impl Ctx {
    /// What is known once the credentials are parsed: the rest is filled in by the checks, in
    /// place (the verification never moves it between its steps).
    pub(super) fn new(parts: Parts, creds: AnyCredentials) -> Self {
        Self {
            parts,
            creds,
            record: None,
            refused: None,
            refused_app: None,
            decoy: None,
            routed: None,
            hint_secs: 0,
            decoy_only: false,
            lifetime: None,
        }
    }
}

impl Verifier {
    /// The key a request is verified with: its own, or the decoy for a refused one.
    pub(super) fn secret<'a>(&'a self, ctx: &'a Ctx) -> &'a SecretKey {
        match (&ctx.record, &ctx.decoy) {
            (Some(record), _) => record.secret(),
            (None, Some(decoy)) => decoy,
            (None, None) => &self.decoy_key,
        }
    }

    /// A failure of this request, with what the log line says of the caller.
    pub(super) fn fail(&self, scheme: &Entry, ctx: &Ctx, rejection: Rejection) -> Failure {
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
    pub(super) fn refusal(&self, scheme: &Entry, ctx: &Ctx) -> Failure {
        let kind = ctx.refused.unwrap_or(RejectionKind::UnknownKey);
        Failure {
            hidden: None,
            ..self.fail(scheme, ctx, kind.into())
        }
    }

    /// `stale_timestamp` with the server's time `ts`, MACed with the key and bound to the nonce.
    pub(super) fn stale(&self, scheme: &Entry, ctx: &Ctx, ts: u64) -> Rejection {
        let tsm = scheme.time_mac(self.secret(ctx), ts, ctx.creds.nonce());
        Rejection::new(RejectionKind::StaleTimestamp).with_time_hint(TimeHint::new(ts, Some(tsm)))
    }

    /// Everything between the key lookup and the body: the key's state, the authority and host,
    /// the time, the signed head.
    pub(super) fn before_body(
        &self,
        scheme: &Entry,
        ctx: &mut Ctx,
        found: Result<Option<KeyRecord>, RegistryError>,
    ) -> Result<AnyPending, Failure> {
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
                    key_id: Some(ctx.creds.key_id().to_owned()),
                    ..Failure::from_rejection(
                        Rejection::new(RejectionKind::KeyStoreUnavailable).with_source(e),
                    )
                    .in_scheme(scheme)
                });
            }
        };
        // Only a refused key id pays for its decoy (one HMAC): the accept path derives nothing.
        ctx.decoy = record.is_none().then(|| {
            Box::new(
                self.decoy_key
                    .derive(&[b"tower-hmac decoy\n", ctx.creds.key_id().as_bytes()]),
            )
        });
        ctx.record = record;
        ctx.refused = refused;
        ctx.refused_app = refused_app;
        ctx.hint_secs = unix_millis(now).div_ceil(1000);
        if ctx.refused.is_some() && self.settings.reveal_key_errors {
            // The work of a bad signature — the signed head, the body, a MAC — with the decoy
            // key, then the key's own refusal.
            ctx.decoy_only = true;
            return scheme
                .prepare(&ctx.creds, &ctx.parts, self.secret(ctx))
                .map_err(|_| self.refusal(scheme, ctx));
        }

        if authority_mismatch(&ctx.parts) {
            return Err(self.fail(scheme, ctx, RejectionKind::AuthorityMismatch.into()));
        }
        // Verify against what the client signed; the inner service gets the URI it routes on.
        ctx.routed = signed_uri(&ctx.parts)
            .map(|original| Box::new(mem::replace(&mut ctx.parts.uri, original)));

        // Borrowed, not copied, when already lower case (no allocation on the accept path).
        // No host at all is the empty host, as before: allowed only by `AllowedHosts::any`.
        let refused = {
            let host = request_host_cow(&ctx.parts.uri, &ctx.parts.headers);
            let host = host.as_deref().unwrap_or_default();
            (!self.settings.hosts.allows(host)).then(|| host_not_allowed(host))
        };
        if let Some(rejection) = refused {
            return Err(self.fail(scheme, ctx, rejection));
        }

        let skew = scheme.max_skew().unwrap_or(self.settings.max_skew);
        match judge_time(ctx.creds.freshness(), now, skew) {
            Ok(lifetime) => ctx.lifetime = Some(lifetime),
            Err(TimeRefusal::Expired) => {
                return Err(self.fail(scheme, ctx, RejectionKind::Expired.into()));
            }
            Err(TimeRefusal::Stale { signed_at }) => {
                return Err(Failure {
                    off_by: Some(signed_at.abs_diff(unix_seconds(now))),
                    ..self.fail(scheme, ctx, self.stale(scheme, ctx, ctx.hint_secs))
                });
            }
        }

        scheme
            .prepare(&ctx.creds, &ctx.parts, self.secret(ctx))
            .map_err(|r| self.fail(scheme, ctx, r))
    }

    /// The body-reading step, or a failure when the declared length
    /// is already too large. A body the scheme verifies chunk by chunk (SigV4's `aws-chunked`
    /// uploads) has the body limit for each chunk and the streaming limit for the whole.
    pub(super) fn reading<B: Body>(
        &self,
        scheme: &Entry,
        body: &HeldBody<B>,
        ctx: &Ctx,
        pending: &mut AnyPending,
    ) -> Step {
        let limit = match pending.limit_chunks(self.settings.body_limit) {
            true => self
                .settings
                .streaming_body_limit
                .unwrap_or(self.settings.body_limit),
            false => self.settings.body_limit,
        };
        if body.size_hint().lower() > limit {
            let failure = if ctx.decoy_only {
                self.refusal(scheme, ctx)
            } else {
                self.fail(scheme, ctx, too_large())
            };
            return Step::Failed(Some(failure));
        }
        // The body's timer starts with its first poll (`HeldBody::pollable`).
        Step::Reading { read: 0, limit }
    }

    /// The MAC, then the replay store's call.
    pub(super) fn after_body(&self, scheme: &Entry, ctx: &Ctx, pending: AnyPending) -> Step {
        if ctx.decoy_only {
            let _ = scheme.verify(&ctx.creds, pending, self.secret(ctx));
            return Step::Failed(Some(self.refusal(scheme, ctx)));
        }
        let verified = match scheme.verify(&ctx.creds, pending, self.secret(ctx)) {
            Ok(verified) => verified,
            Err(rejection) => {
                // Every scheme's diagnostics, here only: keyed with the key being verified (the
                // decoy for a refused key id), never the signed text in clear unless the
                // operator asked for that.
                let rejection =
                    rejection.keyed_diagnostics(self.secret(ctx), self.settings.diagnostics);
                return Step::Failed(Some(self.fail(scheme, ctx, rejection)));
            }
        };
        if ctx.record.is_none() {
            // Unreachable with a random decoy key; never accept without a registered key.
            return Step::Failed(Some(self.fail(
                scheme,
                ctx,
                RejectionKind::InvalidSignature.into(),
            )));
        }
        let Some(lifetime) = ctx.lifetime else {
            // Only a refused key id skips the time check, and it never gets here.
            return Step::Failed(Some(self.fail(
                scheme,
                ctx,
                RejectionKind::InvalidSignature.into(),
            )));
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
        Step::Storing(store)
    }

    /// The replay store's answer, then the request for the inner service.
    pub(super) fn after_store(
        &self,
        scheme: &Entry,
        mut ctx: Ctx,
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
            ctx.parts.uri = *routed;
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

/// Why a request's time refuses it.
enum TimeRefusal {
    /// Outside the window around its signing time (or signed too far ahead): `stale_timestamp`.
    Stale { signed_at: u64 },
    /// Past the last second its credentials are valid: `expired`.
    Expired,
}

/// The time policy, written once for every scheme: whether credentials with `freshness` may be
/// accepted at `now` with the window `skew`, and if so how long their replay key is remembered —
/// as long as a copy could still be accepted.
fn judge_time(
    freshness: Freshness,
    now: SystemTime,
    skew: Duration,
) -> Result<NonceLifetime, TimeRefusal> {
    let now_secs = unix_seconds(now);
    let now_millis = unix_millis(now);
    match freshness {
        Freshness::Window { at } if is_fresh(at, now_secs, skew) => {
            Ok(NonceLifetime::for_request(at, now, skew))
        }
        Freshness::Window { at } => Err(TimeRefusal::Stale { signed_at: at }),
        Freshness::Until { until, .. } if now_secs > until => Err(TimeRefusal::Expired),
        // Valid from the signing time (less the window) to the expiry, inclusive.
        Freshness::Until { from, .. } if from > now_secs.saturating_add(skew.as_secs()) => {
            Err(TimeRefusal::Stale { signed_at: from })
        }
        Freshness::Until { from, until } => Ok(NonceLifetime::from_millis(
            now_millis,
            from.saturating_mul(1000),
            until.saturating_add(1).saturating_mul(1000),
        )),
        // Remembered from now (and never "before the horizon": there is no signing time).
        Freshness::Untimed { remember } => {
            let keep = u64::try_from(remember.as_millis()).unwrap_or(u64::MAX);
            Ok(NonceLifetime::from_millis(
                now_millis,
                now_millis,
                now_millis.saturating_add(keep),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn one_time_policy_for_every_form_of_freshness() {
        let skew = Duration::from_secs(300);
        // A window either way.
        assert!(judge_time(Freshness::Window { at: NOW - 300 }, at(NOW), skew).is_ok());
        assert!(judge_time(Freshness::Window { at: NOW + 300 }, at(NOW), skew).is_ok());
        assert!(matches!(
            judge_time(Freshness::Window { at: NOW - 301 }, at(NOW), skew),
            Err(TimeRefusal::Stale { signed_at }) if signed_at == NOW - 301
        ));
        // Until its expiry, inclusive; never before its signing time less the window.
        let until = Freshness::Until {
            from: NOW - 3600,
            until: NOW,
        };
        let lifetime = judge_time(until, at(NOW), skew).ok().unwrap();
        assert_eq!(lifetime.expires_millis(), (NOW + 1) * 1000);
        assert!(matches!(
            judge_time(until, at(NOW + 1), skew),
            Err(TimeRefusal::Expired)
        ));
        let ahead = Freshness::Until {
            from: NOW + 301,
            until: NOW + 900,
        };
        assert!(matches!(
            judge_time(ahead, at(NOW), skew),
            Err(TimeRefusal::Stale { .. })
        ));
        // Untimed: remembered from now.
        let untimed = Freshness::Untimed {
            remember: Duration::from_secs(600),
        };
        let lifetime = judge_time(untimed, at(NOW), skew).ok().unwrap();
        assert_eq!(lifetime.expires_millis(), (NOW + 600) * 1000);
        assert_eq!(lifetime.signed_at_millis(), NOW * 1000);
    }
}
