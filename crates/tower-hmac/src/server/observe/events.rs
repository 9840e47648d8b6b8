//! The one event and the one metric of every decision. What they may say is decided here: what
//! an answer hides, the metrics and logs readable by others hide too.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use tower_hmac_core::Rejection;

use super::failure::Failure;
use super::risk::{RiskLevel, Signals};
use crate::Authenticated;

/// The tracing target of the layer's decisions.
pub const TRACING_TARGET: &str = "tower_hmac::auth";

const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// What the event of a decision says of the request besides the verdict: when it arrived, its
/// `X-Request-Id`, and where it came from (the client's address when the server knows it).
///
/// Each is taken only for whoever reads it (issue 28: a capability nobody configured costs
/// nothing): the clock only when an event or the latency histogram may record it, the request id
/// only when an event or an alert may carry it.
#[derive(Debug, Clone)]
pub(crate) struct AuditMeta {
    started: Option<std::time::Instant>,
    request_id: Option<http::HeaderValue>,
    pub(crate) client: Option<IpAddr>,
    /// A `metrics` recorder was installed when the request arrived: its counter and its
    /// latency are recorded (both or neither).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    metrics: bool,
}

impl AuditMeta {
    /// From the request's head, before verifying it, and the client's address as the layer
    /// takes it (the connection's, or a trusted proxy's). `alerts`: whether an alert hook may
    /// carry the request id.
    pub(crate) fn of(headers: &http::HeaderMap, client: Option<IpAddr>, alerts: bool) -> Self {
        let logged = events_enabled();
        let metrics = metrics_recording();
        if logged && client.is_none() {
            warn_without_client(&WARNED_NO_CLIENT);
        }
        let request_id = if logged || alerts {
            // Only a short, visible-ASCII id is logged.
            headers
                .get(X_REQUEST_ID)
                .filter(|v| v.len() <= 128 && v.to_str().is_ok())
                .cloned()
        } else {
            None
        };
        Self {
            started: (logged || metrics).then(std::time::Instant::now),
            request_id,
            client,
            metrics,
        }
    }

    /// For a decision made without the request's head: nothing known of it.
    fn unknown() -> Self {
        Self {
            started: None,
            request_id: None,
            client: None,
            metrics: metrics_recording(),
        }
    }

    /// The request's `X-Request-Id`, when it was taken and is short visible ASCII.
    pub(crate) fn request_id(&self) -> Option<&str> {
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

/// The tracing target of what is wrong with how the layer is served (not a decision: the
/// decisions' target keeps exactly one event per decision).
const SETUP_TARGET: &str = "tower_hmac::setup";

/// Whether the "no client address" warning was logged: once per process. (Once per layer would
/// need the flag in the layer's state, which this module does not hold; an application
/// that forgets `ConnectInfo` forgets it for all its layers alike.)
static WARNED_NO_CLIENT: AtomicBool = AtomicBool::new(false);

/// A request without a client address while someone reads the decisions' events: their `client`
/// field would be empty, and the warning says what to add (once, on [`SETUP_TARGET`]). Returns
/// whether it warned.
fn warn_without_client(warned: &AtomicBool) -> bool {
    if warned.load(Ordering::Relaxed)
        || !tracing::event_enabled!(target: SETUP_TARGET, tracing::Level::WARN)
        || warned.swap(true, Ordering::Relaxed)
    {
        return false;
    }
    tracing::warn!(
        target: SETUP_TARGET,
        "a request reached the HMAC layer without the client's address, so its log's `client` \
         field is empty (and failures cannot be throttled per address): with axum, serve with \
         `axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())`; \
         with another server, insert `tower_hmac::server::PeerAddr` in each request's \
         extensions; behind a proxy, `trusted_proxies(…)` so its forwarded address is used"
    );
    true
}

/// Whether a subscriber may record an event of [`TRACING_TARGET`] at a level the layer logs at
/// (`debug`, `info` or `warn`). Without a subscriber it is a comparison with the global maximum
/// level; with one, its callsite interest (cached, asked per event only for dynamic filters).
///
/// Without a subscriber, `tracing` forwards events to the `log` crate when its `log` feature is
/// on (feature unification turns it on: sqlx does), so a `log` logger that records warnings
/// counts as a listener too. The answer is taken when the request arrives.
fn events_enabled() -> bool {
    events_enabled_with(log::max_level())
}

fn events_enabled_with(log_level: log::LevelFilter) -> bool {
    use tracing::Level;
    // The least verbose of the three first: without a subscriber, one comparison.
    if !tracing::level_enabled!(Level::WARN) {
        return log_level >= log::LevelFilter::Warn;
    }
    tracing::event_enabled!(target: TRACING_TARGET, Level::WARN)
        || tracing::event_enabled!(target: TRACING_TARGET, Level::INFO)
        || tracing::event_enabled!(target: TRACING_TARGET, Level::DEBUG)
}

/// Whether a `metrics` recorder is installed, globally or for this thread. The facade (0.24)
/// cannot say; without one it hands [`metrics::with_recorder`] its `NoopRecorder`, recognised
/// here by its vtable. Sound: a recorder with the same vtable runs the same code, so it records
/// nothing either. Not complete: vtables may be duplicated across codegen units, and then the
/// metrics are made for the no-op recorder as before.
///
/// A recorder seen for the first time is given every metric's unit and help text (once: see
/// `catalog`), whether it was installed before or after the layer was built.
#[cfg(feature = "metrics")]
fn metrics_recording() -> bool {
    metrics::with_recorder(|recorder| {
        let noop: &dyn metrics::Recorder = &metrics::NoopRecorder;
        // The vtables alone: the addresses set equal.
        let recording = !std::ptr::eq(
            std::ptr::from_ref(recorder).with_addr(0),
            std::ptr::from_ref(noop).with_addr(0),
        );
        if recording {
            super::catalog::describe_once(recorder);
        }
        recording
    })
}

#[cfg(not(feature = "metrics"))]
const fn metrics_recording() -> bool {
    false
}

/// Emits the one event of a decision (and, with the `metrics` feature, its counter and its
/// latency).
pub(crate) fn log_accepted(auth: Option<&Authenticated>, meta: &AuditMeta, signals: Signals) {
    let started = meta.started;
    #[cfg(feature = "metrics")]
    if let Some(auth) = auth
        && meta.metrics
    {
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
    log_rejected(&failure, &AuditMeta::unknown(), Signals::default(), false);
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
    if meta.metrics {
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

#[cfg(test)]
mod tests {
    use super::*;

    // No test of this binary installs a subscriber: nobody listens to the events.

    #[test]
    fn a_log_logger_that_records_warnings_is_a_listener() {
        // tracing forwards to `log` without a subscriber (its `log` feature): the request id
        // and the latency are taken for such a logger, not for one that is off.
        assert!(events_enabled_with(log::LevelFilter::Warn));
        assert!(events_enabled_with(log::LevelFilter::Debug));
        assert!(!events_enabled_with(log::LevelFilter::Error));
        assert!(!events_enabled_with(log::LevelFilter::Off));
    }

    fn headers(id: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(X_REQUEST_ID, id.parse().unwrap());
        headers
    }

    #[test]
    fn nothing_is_taken_for_nobody() {
        assert!(!events_enabled());
        let meta = AuditMeta::of(&headers("r-1"), None, false);
        assert_eq!(meta.request_id(), None);
        // The clock is read for the latency histogram only.
        assert_eq!(meta.started.is_some(), meta.metrics);
    }

    #[test]
    fn no_client_warning_is_not_spent_while_nobody_reads_it() {
        // No subscriber in this binary: nothing is logged, and the warning stays for when
        // someone listens.
        let warned = AtomicBool::new(false);
        assert!(!warn_without_client(&warned));
        assert!(!warned.load(Ordering::Relaxed));
    }

    #[test]
    fn an_alert_hook_gets_the_request_id() {
        let meta = AuditMeta::of(&headers("r-1"), None, true);
        assert_eq!(meta.request_id(), Some("r-1"));
    }

    #[test]
    fn a_long_request_id_is_not_taken() {
        let meta = AuditMeta::of(&headers(&"r".repeat(129)), None, true);
        assert_eq!(meta.request_id(), None);
        let meta = AuditMeta::of(&headers(&"r".repeat(128)), None, true);
        assert_eq!(meta.request_id().map(str::len), Some(128));
    }

    /// A recorder that keeps something: not the no-op one, whatever the codegen.
    #[cfg(feature = "metrics")]
    struct Kept(std::sync::atomic::AtomicUsize);

    #[cfg(feature = "metrics")]
    impl metrics::Recorder for Kept {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            metrics::Counter::noop()
        }
        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn a_recorder_is_seen_and_gets_the_latency() {
        let kept = Kept(std::sync::atomic::AtomicUsize::new(0));
        metrics::with_local_recorder(&kept, || {
            assert!(metrics_recording());
            let meta = AuditMeta::of(&headers("r-1"), None, false);
            assert!(meta.metrics && meta.started.is_some());
        });
    }
}
