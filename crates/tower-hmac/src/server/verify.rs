//! The verifier: the layer's settings and what the checks share; the checks themselves are the
//! hand-written future in `verification.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{Request, Uri, header};
use http_body::Body;
use tower_hmac_core::{
    AllowedHosts, Clock, Diagnostics, KeyRegistry, NonceStore, Rejection, RejectionKind, SecretKey,
    trim_ows,
};

use super::policy::{Policy, Seen};
use super::proxy::{Origin, TrustedProxies, apply_forwarded_host};
use super::response::RejectionResponder;
use super::risk::{RiskLevel, Signals};
use super::schemes::SchemeSet;
use super::verification::BodyError;
use crate::Authenticated;
use crate::extract::Decisions;

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
    /// The failed-authentication throttle and the risk monitor, when enabled.
    pub(crate) policy: Policy,
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
    pub(crate) diagnostics: Diagnostics,
    pub(crate) reveal_key_errors: bool,
    pub(crate) body_timeout: Duration,
    pub(crate) skip: Option<super::skip::SkipPredicate>,
    pub(crate) proxies: Option<TrustedProxies>,
    pub(crate) require_https: bool,
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
            .field("proxies", &self.proxies)
            .field("require_https", &self.require_https)
            .finish_non_exhaustive()
    }
}

impl<S: fmt::Debug> fmt::Debug for Verifier<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("schemes", &self.schemes)
            .field("settings", &self.settings)
            .field("policy", &self.policy)
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
    /// For a request outside the time window: how far, in seconds (a risk signal).
    #[cfg_attr(not(feature = "policy"), allow(dead_code))]
    pub(crate) off_by: Option<u64>,
    /// For a throttled request: which bucket was empty (`key_id` or `address`).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) throttled_by: Option<&'static str>,
    /// The id of the scheme that refused it (`v1`, `sigv4`, …), when one was picked: the label
    /// of metrics and events, the same as an accepted request's.
    pub(crate) scheme_id: Option<&'static str>,
    /// Refused after its MAC verified (a replay, a scope): the caller's key id and app are then
    /// facts of a signed request, not claims.
    pub(crate) mac_verified: bool,
    /// Refused by the route after the layer accepted the request (a scope): the request is
    /// already counted as accepted, so the refusal has a counter of its own.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) after_accept: bool,
}

impl Failure {
    pub(crate) fn from_rejection(rejection: Rejection) -> Self {
        Self {
            rejection,
            key_id: None,
            app_id: None,
            hidden: None,
            off_by: None,
            throttled_by: None,
            scheme_id: None,
            mac_verified: false,
            after_accept: false,
        }
    }

    /// This failure as `scheme`'s: its name in the challenge, its id in events and metrics.
    pub(crate) fn in_scheme<Sc: tower_hmac_core::Scheme>(mut self, scheme: &Sc) -> Self {
        self.rejection = self.rejection.with_scheme(scheme.name());
        self.scheme_id = Some(scheme.id());
        self
    }

    /// The code the log gives: the real reason, when the answer hides it.
    pub(crate) fn logged_code(&self) -> &'static str {
        self.hidden
            .map_or(self.rejection.code(), RejectionKind::code)
    }

    /// Whether it counts against the throttle and the burst signal: a failed authentication or a
    /// replay, not the server's own trouble (a store down, the replay store's horizon), another
    /// refusal of a request signed with the key (a scope), a slow or broken body, plain HTTP or
    /// the throttle itself.
    #[cfg_attr(not(feature = "policy"), allow(dead_code))]
    pub(crate) fn counts_as_failure(&self) -> bool {
        // Past the MAC the caller proved the key: a refusal there is the server's state (the
        // replay store's horizon after a restart, a store down), never a guess — except a
        // replay, which whoever captured a request can repeat at will.
        if self.mac_verified {
            return self.rejection.kind() == RejectionKind::ReplayedNonce;
        }
        !matches!(
            self.rejection.kind(),
            RejectionKind::TooManyFailures
                | RejectionKind::HttpsRequired
                | RejectionKind::ReplayQuotaExceeded
                | RejectionKind::ReplayStoreUnavailable
                | RejectionKind::KeyStoreUnavailable
                | RejectionKind::BodyTimeout
                | RejectionKind::BodyUnreadable
                | RejectionKind::InsufficientScope
        )
    }

    /// `429 too_many_failures`, waiting `wait`, for the bucket `by`.
    pub(crate) fn throttled(wait: std::time::Duration, by: &'static str) -> Self {
        // Whole seconds, rounded up: a client that waits that long finds a token back.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let rejection = Rejection::new(RejectionKind::TooManyFailures)
            .with_retry_after(std::time::Duration::from_secs(secs.max(1)))
            .with_detail(format!(
                "too many failed authentications from this {}",
                by.replace('_', " ")
            ));
        Self {
            throttled_by: Some(by),
            ..Self::from_rejection(rejection)
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
    pub(crate) fn verify<B>(
        self: &Arc<Self>,
        req: Request<B>,
        meta: &AuditMeta,
    ) -> S::Verification<B>
    where
        B: Body,
        B::Error: Into<BodyError>,
    {
        let (parts, body) = req.into_parts();
        S::verification(self, parts, body, &meta.origin)
    }
}

impl<S> Verifier<S> {
    /// The checks before any scheme's: HTTPS when required, the client address's throttle; then
    /// the host a trusted proxy forwarded takes the place of `Host` for verifying.
    pub(crate) fn admit(&self, parts: &mut Parts, origin: &Origin) -> Result<(), Failure> {
        if self.settings.require_https && !origin.is_https(parts) {
            return Err(Failure::from_rejection(Rejection::new(
                RejectionKind::HttpsRequired,
            )));
        }
        if let Some(wait) = self.policy.address_wait(origin.client) {
            return Err(Failure::throttled(wait, "address"));
        }
        if let Some(host) = &origin.host {
            apply_forwarded_host(parts, host);
        }
        Ok(())
    }

    /// The throttle's answer for a key id from this client address, before its key is looked up.
    pub(crate) fn key_id_throttled(
        &self,
        key_id: &str,
        client: Option<std::net::IpAddr>,
    ) -> Option<Failure> {
        let wait = self.policy.key_id_wait(key_id, client)?;
        Some(Failure {
            key_id: Some(key_id.to_owned()),
            ..Failure::throttled(wait, "key_id")
        })
    }

    /// After an accepted request: its risk signals, event, metrics and alert.
    pub(crate) fn accepted(&self, auth: Option<&Authenticated>, meta: &AuditMeta) {
        let signals = auth.map_or_else(Signals::default, |auth| {
            self.policy.accepted(auth, &meta.seen())
        });
        log_accepted(auth, meta, signals);
    }

    /// After a refused request: the throttle's count, its risk signals, event, metrics and alert.
    pub(crate) fn rejected(&self, failure: &Failure, meta: &AuditMeta) {
        let signals = self
            .policy
            .rejected(failure, &meta.seen(), self.settings.max_skew);
        #[cfg(feature = "metrics")]
        if let Some(by) = failure.throttled_by {
            metrics::counter!("tower_hmac_throttled_total", "by" => by).increment(1);
        }
        log_rejected(failure, meta, signals, self.settings.reveal_key_errors);
    }
}

impl<S: Send + Sync + 'static> Decisions for Verifier<S> {
    /// A refusal after the layer accepted the request (`insufficient_scope`): one event and one
    /// metric like any of the layer's, answered by the layer's responder with the scheme's
    /// challenge.
    fn refuse(
        &self,
        caller: &Authenticated,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
        rejection: Rejection,
    ) -> http::Response<bytes::Bytes> {
        let meta = AuditMeta::of(headers, extensions, self.settings.proxies.as_ref());
        let failure = Failure {
            key_id: Some(caller.key_id().to_owned()),
            app_id: Some(caller.app_id().into()),
            scheme_id: Some(caller.scheme()),
            mac_verified: true,
            after_accept: true,
            ..Failure::from_rejection(rejection.with_scheme(caller.challenge()))
        };
        self.rejected(&failure, &meta);
        super::service::rejection_response(self, failure)
    }
}

const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// What the event of a decision says of the request besides the verdict: when it arrived, its
/// `X-Request-Id`, and where it came from (the client's address when the server knows it).
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditMeta {
    pub(crate) started: Option<std::time::Instant>,
    pub(crate) request_id: Option<http::HeaderValue>,
    pub(crate) origin: Origin,
}

impl AuditMeta {
    /// From the request's head, before verifying it.
    pub(crate) fn of(
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
        proxies: Option<&TrustedProxies>,
    ) -> Self {
        Self {
            started: Some(std::time::Instant::now()),
            // Only a short, visible-ASCII id is logged.
            request_id: headers
                .get(X_REQUEST_ID)
                .filter(|v| v.len() <= 128 && v.to_str().is_ok())
                .cloned(),
            origin: Origin::of(headers, extensions, proxies),
        }
    }

    fn seen(&self) -> Seen<'_> {
        Seen {
            client: self.origin.client,
            request_id: self.request_id(),
        }
    }

    fn request_id(&self) -> Option<&str> {
        self.request_id.as_ref().and_then(|v| v.to_str().ok())
    }

    fn client(&self) -> String {
        self.origin
            .client
            .map(|c| c.to_string())
            .unwrap_or_default()
    }

    fn latency_us(&self) -> u64 {
        self.started.map_or(0, |s| {
            u64::try_from(s.elapsed().as_micros()).unwrap_or(u64::MAX)
        })
    }
}

/// Emits the one event of a decision (and, with the `metrics` feature, its counter and its
/// latency).
fn log_accepted(auth: Option<&Authenticated>, meta: &AuditMeta, signals: Signals) {
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
    let Some(auth) = auth else { return };
    let risk = signals.level();
    macro_rules! event {
        ($level:ident) => {
            tracing::$level!(
                target: TRACING_TARGET,
                outcome = "accepted",
                code = "ok",
                app_id = auth.app_id(),
                key_id = auth.key_id(),
                scheme = auth.scheme(),
                client = %meta.client(),
                request_id = meta.request_id().unwrap_or(""),
                latency_us = meta.latency_us(),
                risk = risk.as_str(),
                signals = %signals,
            )
        };
    }
    match risk {
        RiskLevel::High => event!(warn),
        RiskLevel::Medium => event!(info),
        RiskLevel::Low => event!(debug),
    }
}

/// A refusal made without the layer's identity (`RequireScope` on a route the layer does not
/// cover): its one event and metric, with nothing known of the caller.
pub(crate) fn log_refusal_outside_layer(rejection: &Rejection) {
    let failure = Failure::from_rejection(rejection.clone());
    log_rejected(&failure, &AuditMeta::default(), Signals::default(), false);
}

/// The labels of a refusal's metric: what its answer says, no more. Metrics are read by whoever
/// can scrape them (often anyone who can reach the server), so a label that differs with the
/// key id's existence, state or owner would be the oracle the answer avoids: the code is the one
/// answered, and the app is named only when the answer reveals key errors anyway or the request
/// was signed with the key (refused after its MAC verified: a replay, a scope). The log keeps
/// the real code and the app.
fn metric_labels(failure: &Failure, reveal_key_errors: bool) -> (&'static str, &str) {
    let app = if reveal_key_errors || failure.mac_verified {
        failure.app_id.as_deref().unwrap_or("unknown")
    } else {
        "unknown"
    };
    (failure.rejection.code(), app)
}

fn log_rejected(failure: &Failure, meta: &AuditMeta, signals: Signals, reveal_key_errors: bool) {
    let started = meta.started;
    // The real reason: the answer may hide it, the operator's log does not.
    let code = failure.logged_code();
    #[cfg(feature = "metrics")]
    {
        let (answered, app) = metric_labels(failure, reveal_key_errors);
        if failure.after_accept {
            // One request, one count in `tower_hmac_requests_total` (its accepted signature):
            // the route's refusal after it is counted here.
            metrics::counter!(
                "tower_hmac_scope_refusals_total",
                "code" => answered,
                "scheme" => failure.scheme_id.unwrap_or("none"),
                "app" => app.to_owned(),
            )
            .increment(1);
        } else {
            metrics::counter!(
                "tower_hmac_requests_total",
                "outcome" => "rejected",
                "code" => answered,
                "scheme" => failure.scheme_id.unwrap_or("none"),
                "app" => app.to_owned(),
            )
            .increment(1);
        }
        if let (Some(started), false) = (started, failure.after_accept) {
            metrics::histogram!("tower_hmac_verification_seconds", "outcome" => "rejected")
                .record(started.elapsed().as_secs_f64());
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (started, reveal_key_errors, metric_labels);
    let answered = failure.rejection.code();
    let key_id = failure.key_id.as_deref().unwrap_or("");
    let app_id = failure.app_id.as_deref().unwrap_or("");
    let detail = failure.rejection.detail().unwrap_or("");
    let scheme = failure.scheme_id.unwrap_or("");
    let risk = signals.level();
    let error = if failure.rejection.status().is_server_error() {
        std::error::Error::source(&failure.rejection)
            .map(ToString::to_string)
            .unwrap_or_default()
    } else {
        String::new()
    };
    macro_rules! event {
        ($level:ident) => {
            tracing::$level!(
                target: TRACING_TARGET,
                outcome = "rejected",
                code,
                answered,
                app_id,
                key_id,
                scheme,
                client = %meta.client(),
                request_id = meta.request_id().unwrap_or(""),
                latency_us = meta.latency_us(),
                risk = risk.as_str(),
                signals = %signals,
                detail,
                error,
            )
        };
    }
    if risk == RiskLevel::High || failure.rejection.status().is_server_error() {
        event!(warn);
    } else {
        event!(info);
    }
}
