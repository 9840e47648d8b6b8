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

use super::body::{VerifiedBody, read_and_hash};
use super::response::RejectionResponse;
use crate::Authenticated;

/// The tracing target of the layer's decisions.
pub const TRACING_TARGET: &str = "tower_hmac::auth";

pub(crate) struct Config<Sc> {
    pub(crate) scheme: Sc,
    pub(crate) registry: Arc<dyn KeyRegistry>,
    pub(crate) nonces: Arc<dyn NonceStore>,
    pub(crate) hosts: AllowedHosts,
    pub(crate) max_skew: Duration,
    pub(crate) body_limit: u64,
    pub(crate) max_header_len: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) responder: Arc<dyn RejectionResponse>,
    pub(crate) diagnostics: bool,
    pub(crate) reveal_key_errors: bool,
    pub(crate) body_timeout: Duration,
    /// A random key that verifies nothing: an unknown or revoked key id still costs a MAC, so
    /// that its answer takes as long as a bad signature's.
    pub(crate) decoy_key: SecretKey,
}

impl<Sc: fmt::Debug> fmt::Debug for Config<Sc> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("scheme", &self.scheme)
            .field("hosts", &self.hosts)
            .field("max_skew", &self.max_skew)
            .field("body_limit", &self.body_limit)
            .field("max_header_len", &self.max_header_len)
            .finish_non_exhaustive()
    }
}

/// A rejection with what is known of the caller, for the log line.
pub(crate) struct Failure {
    pub(crate) rejection: Rejection,
    pub(crate) key_id: Option<String>,
    pub(crate) app_id: Option<Arc<str>>,
    /// The real reason, when the answer hides it (an unknown or revoked key answered as any
    /// other key that verifies nothing): logged, never sent.
    pub(crate) hidden: Option<RejectionKind>,
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

impl<Sc: Scheme> Config<Sc> {
    /// Runs every check in the documented order: parse → key lookup → host → clock skew →
    /// signed headers present → body (limit, hash) → MAC → replay guard.
    pub(crate) async fn verify<B>(&self, req: Request<B>) -> Result<Request<VerifiedBody>, Failure>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let scheme_name = self.scheme.name();
        let fail =
            |rejection: Rejection, key_id: Option<&str>, app_id: Option<&Arc<str>>| Failure {
                rejection: rejection.with_scheme(scheme_name),
                key_id: key_id.map(str::to_owned),
                app_id: app_id.cloned(),
                hidden: None,
            };

        let (mut parts, body) = req.into_parts();
        let creds = self
            .scheme
            .parse(&parts, self.max_header_len)
            .map_err(|r| fail(r, None, None))?;
        let key_id = Some(creds.key_id());

        // An unknown or revoked key goes on as a key that verifies nothing (the decoy), so that
        // neither the answer's time nor — unless the server reveals key errors — its code tells
        // which key ids exist.
        let (record, refused, revoked_app) = match self.registry.lookup(creds.key_id()).await {
            Ok(Some(record)) if record.state() == KeyState::Active => (Some(record), None, None),
            Ok(found) => {
                let kind = match found {
                    Some(_) => RejectionKind::RevokedKey,
                    None => RejectionKind::UnknownKey,
                };
                // A revoked key's app, for the log line only.
                let app_id = found.as_ref().map(|r| r.app_id_arc().clone());
                if self.reveal_key_errors {
                    self.decoy_verification(&creds, &parts, body).await;
                    return Err(fail(kind.into(), key_id, app_id.as_ref()));
                }
                (None, Some(kind), app_id)
            }
            Err(e) => {
                let rejection = Rejection::new(RejectionKind::KeyStoreUnavailable).with_source(e);
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
        if !self.hosts.allows(&host) {
            return Err(fail(host_not_allowed(&host)));
        }

        let now = self.clock.now();
        let now_secs = unix_seconds(now);
        // The time a stale answer teaches, rounded up: a client that re-signs with it signs after
        // this instant, so after any replay store's horizon too.
        let hint_secs = unix_millis(now).div_ceil(1000);
        if !is_fresh(creds.timestamp(), now_secs, self.max_skew) {
            return Err(fail(self.stale(secret, hint_secs, creds.nonce())));
        }

        let pending = self.scheme.prepare(&creds, &parts).map_err(fail)?;
        let (body, body_sha256) = self.read_body(body).await.map_err(fail)?;

        self.scheme
            .verify(&creds, &pending, &body_sha256, secret)
            .map_err(|r| {
                fail(if self.diagnostics {
                    r
                } else {
                    r.without_line_digests()
                })
            })?;
        let Some(record) = &record else {
            // Unreachable with a random decoy key; never accept without a registered key.
            return Err(fail(RejectionKind::InvalidSignature.into()));
        };

        let lifetime = NonceLifetime::for_request(creds.timestamp(), now, self.max_skew);
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
                return Err(fail(self.stale(secret, after, creds.nonce())));
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
        parts.extensions.insert(Authenticated::new(
            record.app_id_arc().clone(),
            creds.key_id().into(),
        ));
        Ok(Request::from_parts(parts, body))
    }

    /// `stale_timestamp` with the server's time `ts`, MACed with the key and bound to the nonce.
    fn stale(&self, key: &SecretKey, ts: u64, nonce: &str) -> Rejection {
        let tsm = self.scheme.time_mac(key, ts, nonce);
        Rejection::new(RejectionKind::StaleTimestamp).with_time_hint(TimeHint::new(ts, Some(tsm)))
    }
}

impl<Sc: Scheme> Config<Sc> {
    /// Reads and hashes the body within the limits of size and time.
    async fn read_body<B>(&self, body: B) -> Result<(VerifiedBody, [u8; 32]), Rejection>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // A body already at its end (a GET's) needs no timer. The timer needs a Tokio runtime
        // (axum and hyper-util run on one); elsewhere the body is read without a time limit
        // rather than panicking.
        let untimed = body.is_end_stream() || tokio::runtime::Handle::try_current().is_err();
        let read = read_and_hash(body, self.body_limit);
        if untimed {
            return read.await;
        }
        tokio::time::timeout(self.body_timeout, read)
            .await
            .unwrap_or_else(|_| Err(Rejection::new(RejectionKind::BodyTimeout)))
    }

    /// What a bad signature costs — the canonical request, the body, a MAC — done with a key
    /// that verifies nothing; its outcome is ignored.
    async fn decoy_verification<B>(
        &self,
        creds: &Sc::Credentials,
        parts: &http::request::Parts,
        body: B,
    ) where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Ok(pending) = self.scheme.prepare(creds, parts) else {
            return;
        };
        let Ok((_, body_sha256)) = self.read_body(body).await else {
            return;
        };
        let _ = self
            .scheme
            .verify(creds, &pending, &body_sha256, &self.decoy_key);
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
