//! The one event and the one metric of every decision. What they may say is decided here: what
//! an answer hides, the metrics and logs readable by others hide too.

use std::net::IpAddr;

use tower_hmac_core::Rejection;

use super::failure::Failure;
use super::risk::{RiskLevel, Signals};
use crate::Authenticated;

/// The tracing target of the layer's decisions.
pub const TRACING_TARGET: &str = "tower_hmac::auth";

const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// What the event of a decision says of the request besides the verdict: when it arrived, its
/// `X-Request-Id`, and where it came from (the client's address when the server knows it).
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditMeta {
    pub(crate) started: Option<std::time::Instant>,
    pub(crate) request_id: Option<http::HeaderValue>,
    pub(crate) client: Option<IpAddr>,
}

/// What an event says of the request, for an alert.
#[cfg_attr(not(feature = "policy"), allow(dead_code))]
pub(crate) struct Seen<'a> {
    pub(crate) client: Option<IpAddr>,
    pub(crate) request_id: Option<&'a str>,
}

impl AuditMeta {
    /// From the request's head, before verifying it, and the client's address as the layer
    /// takes it (the connection's, or a trusted proxy's).
    pub(crate) fn of(headers: &http::HeaderMap, client: Option<IpAddr>) -> Self {
        Self {
            started: Some(std::time::Instant::now()),
            // Only a short, visible-ASCII id is logged.
            request_id: headers
                .get(X_REQUEST_ID)
                .filter(|v| v.len() <= 128 && v.to_str().is_ok())
                .cloned(),
            client,
        }
    }

    pub(crate) fn seen(&self) -> Seen<'_> {
        Seen {
            client: self.client,
            request_id: self.request_id(),
        }
    }

    fn request_id(&self) -> Option<&str> {
        self.request_id.as_ref().and_then(|v| v.to_str().ok())
    }

    fn client(&self) -> String {
        self.client.map(|c| c.to_string()).unwrap_or_default()
    }

    fn latency_us(&self) -> u64 {
        self.started.map_or(0, |s| {
            u64::try_from(s.elapsed().as_micros()).unwrap_or(u64::MAX)
        })
    }
}

/// Emits the one event of a decision (and, with the `metrics` feature, its counter and its
/// latency).
pub(crate) fn log_accepted(auth: Option<&Authenticated>, meta: &AuditMeta, signals: Signals) {
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

pub(crate) fn log_rejected(
    failure: &Failure,
    meta: &AuditMeta,
    signals: Signals,
    reveal_key_errors: bool,
) {
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
