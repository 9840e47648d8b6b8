//! The verification pipeline, separate from `Service::call`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http_body::Body;
use tower_hmac_core::policy::{is_fresh, nonce_ttl};
use tower_hmac_core::{
    AllowedHosts, Clock, Credentials, KeyRegistry, KeyState, NonceOutcome, NonceStore, Rejection,
    RejectionKind, Scheme, SecretKey, TimeHint, request_host,
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
            };

        let (mut parts, body) = req.into_parts();
        let creds = self
            .scheme
            .parse(&parts, self.max_header_len)
            .map_err(|r| fail(r, None, None))?;
        let key_id = Some(creds.key_id());

        let record = match self.registry.lookup(creds.key_id()).await {
            Ok(Some(record)) if record.state() == KeyState::Active => record,
            Ok(found) => {
                // Unknown or revoked: do the work of a bad signature before saying so.
                let app_id = found.as_ref().map(|r| r.app_id_arc().clone());
                let kind = match found {
                    Some(_) => RejectionKind::RevokedKey,
                    None => RejectionKind::UnknownKey,
                };
                self.decoy_verification(&creds, &parts, body).await;
                return Err(fail(kind.into(), key_id, app_id.as_ref()));
            }
            Err(e) => {
                let rejection = Rejection::new(RejectionKind::KeyStoreUnavailable).with_source(e);
                return Err(fail(rejection, key_id, None));
            }
        };
        let app_id = Some(record.app_id_arc());

        let host = request_host(&parts.uri, &parts.headers).unwrap_or_default();
        if !self.hosts.allows(&host) {
            return Err(fail(RejectionKind::HostNotAllowed.into(), key_id, app_id));
        }

        let now = self.clock.unix_seconds();
        if !is_fresh(creds.timestamp(), now, self.max_skew) {
            let tsm = self.scheme.time_mac(record.secret(), now);
            let rejection = Rejection::new(RejectionKind::StaleTimestamp)
                .with_time_hint(TimeHint::new(now, Some(tsm)));
            return Err(fail(rejection, key_id, app_id));
        }

        let pending = self
            .scheme
            .prepare(&creds, &parts)
            .map_err(|r| fail(r, key_id, app_id))?;

        let (body, body_sha256) = self
            .read_body(body)
            .await
            .map_err(|r| fail(r, key_id, app_id))?;

        self.scheme
            .verify(&creds, &pending, &body_sha256, record.secret())
            .map_err(|r| {
                let r = if self.diagnostics {
                    r
                } else {
                    r.without_line_digests()
                };
                fail(r, key_id, app_id)
            })?;

        let ttl = nonce_ttl(creds.timestamp(), now, self.max_skew);
        match self
            .nonces
            .check_and_insert(creds.key_id(), creds.nonce(), ttl)
            .await
        {
            Ok(NonceOutcome::Fresh) => {}
            Ok(NonceOutcome::Replayed) => {
                return Err(fail(RejectionKind::ReplayedNonce.into(), key_id, app_id));
            }
            Err(e) => {
                let mut rejection = Rejection::new(RejectionKind::ReplayStoreUnavailable);
                if let Some(after) = e.retry_after() {
                    rejection = rejection.with_retry_after(after);
                }
                return Err(fail(rejection.with_source(e), key_id, app_id));
            }
        }

        parts.extensions.insert(Authenticated::new(
            record.app_id_arc().clone(),
            creds.key_id().into(),
        ));
        Ok(Request::from_parts(parts, body))
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
    let code = failure.rejection.code();
    let key_id = failure.key_id.as_deref().unwrap_or("");
    let app_id = failure.app_id.as_deref().unwrap_or("");
    if failure.rejection.status().is_server_error() {
        let error = std::error::Error::source(&failure.rejection)
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::warn!(target: TRACING_TARGET, outcome = "rejected", code, app_id, key_id, error);
    } else {
        tracing::info!(target: TRACING_TARGET, outcome = "rejected", code, app_id, key_id);
    }
}
