//! The verification pipeline, separate from `Service::call`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{Request, Uri, header};
use http_body::Body;
use tower_hmac_core::clock::unix_seconds;
use tower_hmac_core::policy::is_fresh;
use tower_hmac_core::unix_millis;
use tower_hmac_core::{
    AllowedHosts, Clock, Credentials, KeyRegistry, KeyState, NonceLifetime, NonceOutcome,
    NonceStore, NonceStoreErrorKind, Rejection, RejectionKind, Scheme, SecretKey, TimeHint,
    request_host, trim_ows,
};

use super::body::{VerifiedBody, read_body};
use super::response::RejectionResponder;
use super::schemes::SchemeSet;
use crate::Authenticated;

/// The tracing target of the layer's decisions.
pub const TRACING_TARGET: &str = "tower_hmac::auth";

/// Everything the layer checks, with its settings: what [`HmacAuthLayer`](super::HmacAuthLayer)
/// runs for each request before the inner service. Built by the layer's builder; shared by every
/// clone of the layer.
pub struct Verifier<S> {
    pub(crate) schemes: S,
    pub(crate) settings: Settings,
    pub(crate) nonces: Arc<dyn NonceStore>,
    /// A random key that verifies nothing: an unknown or revoked key id still costs a MAC, so
    /// that its answer takes as long as a bad signature's.
    pub(crate) decoy_key: SecretKey,
}

/// The layer's settings: one struct, filled by the builder and read by the verifier.
pub(crate) struct Settings {
    pub(crate) registry: Arc<dyn KeyRegistry>,
    pub(crate) hosts: AllowedHosts,
    pub(crate) max_skew: Duration,
    pub(crate) body_limit: u64,
    pub(crate) max_header_len: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) responder: Arc<dyn RejectionResponder>,
    pub(crate) diagnostics: bool,
    pub(crate) reveal_key_errors: bool,
    pub(crate) body_timeout: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("hosts", &self.hosts)
            .field("max_skew", &self.max_skew)
            .field("body_limit", &self.body_limit)
            .field("body_timeout", &self.body_timeout)
            .field("max_header_len", &self.max_header_len)
            .field("diagnostics", &self.diagnostics)
            .field("reveal_key_errors", &self.reveal_key_errors)
            .finish_non_exhaustive()
    }
}

impl<S: fmt::Debug> fmt::Debug for Verifier<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("schemes", &self.schemes)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A refused request: its [`Rejection`], with what is known of the caller for the log line.
#[derive(Debug)]
pub struct Failure {
    pub(crate) rejection: Rejection,
    pub(crate) key_id: Option<String>,
    pub(crate) app_id: Option<Arc<str>>,
    /// The real reason, when the answer hides it (an unknown or revoked key answered as any
    /// other key that verifies nothing): logged, never sent.
    pub(crate) hidden: Option<RejectionKind>,
}

impl Failure {
    pub(crate) fn from_rejection(rejection: Rejection) -> Self {
        Self {
            rejection,
            key_id: None,
            app_id: None,
            hidden: None,
        }
    }

    /// The rejection the client is answered with.
    pub fn rejection(&self) -> &Rejection {
        &self.rejection
    }
}

/// The URI the client signed: axum's `OriginalUri` when a router nested the route (it strips the
/// prefix from the URI the layer sees), the request's own otherwise.
#[cfg(feature = "axum")]
fn signed_uri(parts: &Parts) -> Option<Uri> {
    let original = &parts.extensions.get::<axum::extract::OriginalUri>()?.0;
    (original != &parts.uri).then(|| original.clone())
}

#[cfg(not(feature = "axum"))]
fn signed_uri(_parts: &Parts) -> Option<Uri> {
    None
}

/// Whether the request names two authorities: a repeated `Host`, or a URI authority
/// (absolute-form target, HTTP/2 `:authority`) that is not its `Host` (RFC 9112 §3.2.2,
/// RFC 9113 §8.3.1).
fn authority_mismatch(parts: &Parts) -> bool {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return true;
    }
    match (parts.uri.authority(), host) {
        (Some(authority), Some(host)) => {
            // Userinfo is not part of the host.
            let authority = authority.as_str().rsplit('@').next().unwrap_or_default();
            !authority
                .as_bytes()
                .eq_ignore_ascii_case(trim_ows(host.as_bytes()))
        }
        _ => false,
    }
}

/// `host_not_allowed` naming the host received (a user who bound `0.0.0.0` sees why).
fn host_not_allowed(host: &[u8]) -> Rejection {
    let shown: String = String::from_utf8_lossy(host)
        .chars()
        .take(255)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    Rejection::new(RejectionKind::HostNotAllowed).with_detail(format!(
        "the request's host {shown:?} is not one of the allowed hosts"
    ))
}

impl<S: SchemeSet> Verifier<S> {
    /// Picks the scheme whose credentials the request carries, then runs its checks.
    pub(crate) async fn verify<B>(&self, req: Request<B>) -> Result<Request<VerifiedBody>, Failure>
    where
        B: Body + Send,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        match self.schemes.select(&parts) {
            Ok(index) => self.schemes.verify(index, self, parts, body).await,
            Err(rejection) => Err(Failure {
                rejection: rejection.with_scheme(self.schemes.first_name()),
                key_id: None,
                app_id: None,
                hidden: None,
            }),
        }
    }
}

impl<S> Verifier<S> {
    /// Runs every check in the documented order with one scheme: parse → key lookup → host →
    /// clock skew → signed head → body (limit, digests) → MAC → replay guard.
    pub(crate) async fn verify_with<Sc, B>(
        &self,
        scheme: &Sc,
        mut parts: Parts,
        body: B,
    ) -> Result<Request<VerifiedBody>, Failure>
    where
        Sc: Scheme,
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let scheme_name = scheme.name();
        let fail =
            |rejection: Rejection, key_id: Option<&str>, app_id: Option<&Arc<str>>| Failure {
                rejection: rejection.with_scheme(scheme_name),
                key_id: key_id.map(str::to_owned),
                app_id: app_id.cloned(),
                hidden: None,
            };

        let creds = scheme
            .parse(&parts, self.settings.max_header_len)
            .map_err(|r| fail(r, None, None))?;
        let key_id = Some(creds.key_id());

        // An unknown or revoked key goes on as a key that verifies nothing (the decoy), so that
        // neither the answer's time nor — unless the server reveals key errors — its code tells
        // which key ids exist.
        let (record, refused, revoked_app) =
            match self.settings.registry.lookup(creds.key_id()).await {
                Ok(Some(record))
                    if record.state() == KeyState::Active && record.allows_scheme(scheme.id()) =>
                {
                    (Some(record), None, None)
                }
                Ok(found) => {
                    let kind = match &found {
                        Some(r) if r.state() == KeyState::Active => RejectionKind::SchemeNotAllowed,
                        Some(_) => RejectionKind::RevokedKey,
                        None => RejectionKind::UnknownKey,
                    };
                    // A revoked key's app, for the log line only.
                    let app_id = found.as_ref().map(|r| r.app_id_arc().clone());
                    if self.settings.reveal_key_errors {
                        self.decoy_verification(scheme, &creds, &parts, body).await;
                        return Err(fail(kind.into(), key_id, app_id.as_ref()));
                    }
                    (None, Some(kind), app_id)
                }
                Err(e) => {
                    let rejection =
                        Rejection::new(RejectionKind::KeyStoreUnavailable).with_source(e);
                    return Err(fail(rejection, key_id, None));
                }
            };
        let secret = record.as_ref().map_or(&self.decoy_key, |r| r.secret());
        let app_id = record
            .as_ref()
            .map(|r| r.app_id_arc())
            .or(revoked_app.as_ref());
        let fail = |rejection: Rejection| Failure {
            hidden: refused,
            ..fail(rejection, key_id, app_id)
        };

        if authority_mismatch(&parts) {
            return Err(fail(RejectionKind::AuthorityMismatch.into()));
        }
        // Verify against what the client signed; the inner service gets the URI it routes on.
        let routed = signed_uri(&parts).map(|original| std::mem::replace(&mut parts.uri, original));

        let host = request_host(&parts.uri, &parts.headers).unwrap_or_default();
        if !self.settings.hosts.allows(&host) {
            return Err(fail(host_not_allowed(&host)));
        }

        let now = self.settings.clock.now();
        let now_secs = unix_seconds(now);
        // The time a stale answer teaches, rounded up: a client that re-signs with it signs after
        // this instant, so after any replay store's horizon too.
        let hint_secs = unix_millis(now).div_ceil(1000);
        let skew = self.settings.max_skew;
        match creds.expires() {
            None if !is_fresh(creds.timestamp(), now_secs, skew) => {
                return Err(fail(self.stale(scheme, secret, hint_secs, creds.nonce())));
            }
            // Valid from the timestamp (less the skew) to the expiry, inclusive.
            Some(expires) if now_secs > expires => {
                return Err(fail(RejectionKind::Expired.into()));
            }
            Some(_) if creds.timestamp() > now_secs.saturating_add(skew.as_secs()) => {
                return Err(fail(self.stale(scheme, secret, hint_secs, creds.nonce())));
            }
            _ => {}
        }

        let pending = scheme.prepare(&creds, &parts, secret).map_err(fail)?;
        let (body, pending) = self.read_body(scheme, pending, body).await.map_err(fail)?;

        scheme.verify(&creds, pending, secret).map_err(|r| {
            fail(if self.settings.diagnostics {
                r
            } else {
                r.without_line_digests()
            })
        })?;
        let Some(record) = &record else {
            // Unreachable with a random decoy key; never accept without a registered key.
            return Err(fail(RejectionKind::InvalidSignature.into()));
        };

        let lifetime = match creds.expires() {
            None => NonceLifetime::for_request(creds.timestamp(), now, skew),
            Some(expires) => NonceLifetime::from_millis(
                unix_millis(now),
                creds.timestamp().saturating_mul(1000),
                expires.saturating_add(1).saturating_mul(1000),
            ),
        };
        match self
            .nonces
            .check_and_insert(creds.key_id(), creds.nonce(), lifetime)
            .await
        {
            Ok(NonceOutcome::Fresh) => {}
            Ok(NonceOutcome::BeforeHorizon { horizon_millis }) => {
                // Signed before the store's memory began: maybe accepted then. The time sent is
                // past the horizon, so the client's one retry is accepted.
                let after = hint_secs.max(horizon_millis.div_ceil(1000));
                return Err(fail(self.stale(scheme, secret, after, creds.nonce())));
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

        if let Some(routed) = routed {
            parts.uri = routed;
        }
        parts.extensions.insert(
            Authenticated::new(record.app_id_arc().clone(), creds.key_id().into())
                .with_scheme(scheme.id()),
        );
        Ok(Request::from_parts(parts, body))
    }

    /// `stale_timestamp` with the server's time `ts`, MACed with the key and bound to the nonce.
    fn stale<Sc: Scheme>(&self, scheme: &Sc, key: &SecretKey, ts: u64, nonce: &str) -> Rejection {
        let tsm = scheme.time_mac(key, ts, nonce);
        Rejection::new(RejectionKind::StaleTimestamp).with_time_hint(TimeHint::new(ts, Some(tsm)))
    }
}

impl<S> Verifier<S> {
    /// Reads the body within the limits of size and time, handing each chunk to the scheme.
    async fn read_body<Sc, B>(
        &self,
        scheme: &Sc,
        mut pending: Sc::Pending,
        body: B,
    ) -> Result<(VerifiedBody, Sc::Pending), Rejection>
    where
        Sc: Scheme,
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // A body already at its end (a GET's) needs no timer. The timer needs a Tokio runtime
        // (axum and hyper-util run on one); elsewhere the body is read without a time limit
        // rather than panicking.
        let untimed = body.is_end_stream() || tokio::runtime::Handle::try_current().is_err();
        let read = async {
            let body = read_body(body, self.settings.body_limit, |chunk| {
                scheme.update(&mut pending, chunk);
            })
            .await?;
            Ok((body, pending))
        };
        if untimed {
            return read.await;
        }
        tokio::time::timeout(self.settings.body_timeout, read)
            .await
            .unwrap_or_else(|_| Err(Rejection::new(RejectionKind::BodyTimeout)))
    }

    /// What a bad signature costs — the signed head, the body, a MAC — done with a key that
    /// verifies nothing; its outcome is ignored.
    async fn decoy_verification<Sc, B>(
        &self,
        scheme: &Sc,
        creds: &Sc::Credentials,
        parts: &Parts,
        body: B,
    ) where
        Sc: Scheme,
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Ok(pending) = scheme.prepare(creds, parts, &self.decoy_key) else {
            return;
        };
        let Ok((_, pending)) = self.read_body(scheme, pending, body).await else {
            return;
        };
        let _ = scheme.verify(creds, pending, &self.decoy_key);
    }
}

/// Emits the one event of a decision.
pub(crate) fn log_accepted(auth: Option<&Authenticated>) {
    if let Some(auth) = auth {
        tracing::debug!(
            target: TRACING_TARGET,
            outcome = "accepted",
            app_id = auth.app_id(),
            key_id = auth.key_id(),
            scheme = auth.scheme(),
        );
    }
}

pub(crate) fn log_rejected(failure: &Failure) {
    // The real reason: the answer may hide it, the operator's log does not.
    let code = failure
        .hidden
        .map_or(failure.rejection.code(), RejectionKind::code);
    let answered = failure.rejection.code();
    let key_id = failure.key_id.as_deref().unwrap_or("");
    let app_id = failure.app_id.as_deref().unwrap_or("");
    let detail = failure.rejection.detail().unwrap_or("");
    if failure.rejection.status().is_server_error() {
        let error = std::error::Error::source(&failure.rejection)
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::warn!(target: TRACING_TARGET, outcome = "rejected", code, answered, app_id, key_id, detail, error);
    } else {
        tracing::info!(target: TRACING_TARGET, outcome = "rejected", code, answered, app_id, key_id, detail);
    }
}
