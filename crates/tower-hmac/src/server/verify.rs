//! The verifier: the layer's settings and what the checks share; the checks themselves are the
//! hand-written future in `verification.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{Request, Uri, header};
use http_body::Body;
use tower_hmac_core::{
    AllowedHosts, Clock, KeyRegistry, NonceStore, Rejection, RejectionKind, SecretKey, trim_ows,
};

use super::response::RejectionResponder;
use super::schemes::SchemeSet;
use super::verification::BodyError;
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
    pub(crate) skip: Option<super::skip::SkipPredicate>,
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
            .field("skip", &self.skip.is_some())
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
pub(crate) fn signed_uri(parts: &Parts) -> Option<Uri> {
    let original = &parts.extensions.get::<axum::extract::OriginalUri>()?.0;
    (original != &parts.uri).then(|| original.clone())
}

#[cfg(not(feature = "axum"))]
pub(crate) fn signed_uri(_parts: &Parts) -> Option<Uri> {
    None
}

/// Whether the request names two authorities: a repeated `Host`, or a URI authority
/// (absolute-form target, HTTP/2 `:authority`) that is not its `Host` (RFC 9112 §3.2.2,
/// RFC 9113 §8.3.1).
pub(crate) fn authority_mismatch(parts: &Parts) -> bool {
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
pub(crate) fn host_not_allowed(host: &[u8]) -> Rejection {
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
    /// Picks the scheme whose credentials the request carries and starts its checks.
    pub(crate) fn verify<B>(self: &Arc<Self>, req: Request<B>) -> S::Verification<B>
    where
        B: Body,
        B::Error: Into<BodyError>,
    {
        let (parts, body) = req.into_parts();
        S::verification(self, parts, body)
    }
}

const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// What the event of a decision says of the request besides the verdict: when it arrived, its
/// `X-Request-Id`, and the client's address when the server knows it (Axum's `ConnectInfo`).
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditMeta {
    pub(crate) started: Option<std::time::Instant>,
    pub(crate) request_id: Option<http::HeaderValue>,
    pub(crate) client: Option<std::net::SocketAddr>,
}

impl AuditMeta {
    /// From the request's head, before verifying it.
    pub(crate) fn of(parts_headers: &http::HeaderMap, extensions: &http::Extensions) -> Self {
        #[cfg(feature = "axum")]
        let client = extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        #[cfg(not(feature = "axum"))]
        let client = {
            let _ = extensions;
            None
        };
        Self {
            started: Some(std::time::Instant::now()),
            // Only a short, visible-ASCII id is logged.
            request_id: parts_headers
                .get(X_REQUEST_ID)
                .filter(|v| v.len() <= 128 && v.to_str().is_ok())
                .cloned(),
            client,
        }
    }

    fn request_id(&self) -> &str {
        self.request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn client(&self) -> String {
        self.client.map(|c| c.ip().to_string()).unwrap_or_default()
    }

    fn latency_us(&self) -> u64 {
        self.started.map_or(0, |s| {
            u64::try_from(s.elapsed().as_micros()).unwrap_or(u64::MAX)
        })
    }
}

/// Emits the one event of a decision (and, with the `metrics` feature, its counter and its
/// latency).
pub(crate) fn log_accepted(auth: Option<&Authenticated>, meta: &AuditMeta) {
    let started = meta.started;
    #[cfg(feature = "metrics")]
    if let Some(auth) = auth {
        metrics::counter!(
            "tower_hmac_requests_total",
            "outcome" => "accepted",
            "code" => "ok",
            "scheme" => auth.scheme(),
            "app" => auth.app_id().to_owned(),
        )
        .increment(1);
        if let Some(started) = started {
            metrics::histogram!("tower_hmac_verification_seconds", "outcome" => "accepted")
                .record(started.elapsed().as_secs_f64());
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = started;
    if let Some(auth) = auth {
        tracing::debug!(
            target: TRACING_TARGET,
            outcome = "accepted",
            app_id = auth.app_id(),
            key_id = auth.key_id(),
            scheme = auth.scheme(),
            client = %meta.client(),
            request_id = meta.request_id(),
            latency_us = meta.latency_us(),
        );
    }
}

pub(crate) fn log_rejected(failure: &Failure, meta: &AuditMeta) {
    let started = meta.started;
    // The real reason: the answer may hide it, the operator's log does not.
    let code = failure
        .hidden
        .map_or(failure.rejection.code(), RejectionKind::code);
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(
            "tower_hmac_requests_total",
            "outcome" => "rejected",
            "code" => code,
            "scheme" => failure.rejection.scheme().unwrap_or("none"),
            "app" => failure.app_id.as_deref().unwrap_or("unknown").to_owned(),
        )
        .increment(1);
        if let Some(started) = started {
            metrics::histogram!("tower_hmac_verification_seconds", "outcome" => "rejected")
                .record(started.elapsed().as_secs_f64());
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = started;
    let answered = failure.rejection.code();
    let key_id = failure.key_id.as_deref().unwrap_or("");
    let app_id = failure.app_id.as_deref().unwrap_or("");
    let detail = failure.rejection.detail().unwrap_or("");
    let scheme = failure.rejection.scheme().unwrap_or("");
    if failure.rejection.status().is_server_error() {
        let error = std::error::Error::source(&failure.rejection)
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::warn!(target: TRACING_TARGET, outcome = "rejected", code, answered, app_id, key_id, scheme, client = %meta.client(), request_id = meta.request_id(), latency_us = meta.latency_us(), detail, error);
    } else {
        tracing::info!(target: TRACING_TARGET, outcome = "rejected", code, answered, app_id, key_id, scheme, client = %meta.client(), request_id = meta.request_id(), latency_us = meta.latency_us(), detail);
    }
}
