//! What the layer takes from a request for its observers (issue 28: a capability nobody configured
//! costs nothing): the request id and the clock are taken when an event, the latency histogram
//! or an alert may carry them, whichever is listening — and then they are all there.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use crate::common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::server::{Alert, PeerAddr, RiskMonitor, Signal, VerifiedBody};
use tower_hmac::test_util::ManualClock;
use tower_hmac::{AllowedHosts, HmacAuthBuilder, HmacAuthLayer, InMemoryRegistry, SecretKey};

const T0: u64 = 1_700_000_000;
const URL: &str = "http://api.example.com/orders";

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

async fn ok(_: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

fn builder(clock: &ManualClock) -> HmacAuthBuilder {
    let registry = InMemoryRegistry::new();
    registry.insert("alice", "app-a", key(1));
    HmacAuthLayer::builder(registry, AllowedHosts::new(["api.example.com"]).unwrap())
        .clock(clock.clone())
}

/// A request signed by alice with `secret`, from 192.0.2.9, with `X-Request-Id: id`.
fn request(secret: &SecretKey, clock: &ManualClock, id: &str) -> Request<Full<Bytes>> {
    let mut req = common::signed_get(URL, "alice", secret, clock.unix());
    req.headers_mut()
        .insert("x-request-id", id.parse().unwrap());
    req.extensions_mut()
        .insert(PeerAddr(SocketAddr::from(([192, 0, 2, 9], 40000))));
    req
}

async fn status(layer: &HmacAuthLayer, req: Request<Full<Bytes>>) -> u16 {
    let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(ok);
    svc.oneshot(req).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "current_thread")]
async fn an_alert_carries_the_request_id() {
    // No capture on this thread. (This binary's one subscriber filters per event, so the layer
    // cannot tell it will not record them: the unit tests of `observe::events` check the request
    // id is taken for an alert hook alone.)
    let clock = ManualClock::at_unix(T0);
    let alerts: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let sink = Arc::clone(&alerts);
    let layer = builder(&clock)
        .risk_monitor(
            RiskMonitor::new()
                .failure_burst(2, Duration::from_secs(60))
                .alert_hook(move |alert: Alert| sink.lock().unwrap().push(alert)),
        )
        .build()
        .unwrap();
    assert_eq!(status(&layer, request(&key(9), &clock, "req-1")).await, 401);
    assert_eq!(status(&layer, request(&key(9), &clock, "req-2")).await, 401);

    let alerts = alerts.lock().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].signals.contains(Signal::FailureBurst));
    assert_eq!(alerts[0].request_id.as_deref(), Some("req-2"));
}

#[tokio::test(flavor = "current_thread")]
async fn an_accepted_event_says_its_request_id_and_latency() {
    let (captured, _guard) = common::capture(tracing::Level::DEBUG);
    let clock = ManualClock::at_unix(T0);
    let layer = builder(&clock).build().unwrap();
    assert_eq!(status(&layer, request(&key(1), &clock, "acc-1")).await, 200);

    let text = captured.text();
    let event = text
        .lines()
        .find(|l| l.contains("tower_hmac::auth") && l.contains("outcome=\"accepted\""))
        .unwrap_or_else(|| panic!("no accepted event in {text}"));
    for field in ["request_id=\"acc-1\"", "latency_us=", "client=192.0.2.9"] {
        assert!(event.contains(field), "{field} in {event}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_subscriber_of_warnings_only_still_gets_the_request_id() {
    // The layer cannot know a decision's level before making it: a subscriber of any of the
    // levels it logs at gets the request id and latency.
    let (captured, _guard) = common::capture(tracing::Level::WARN);
    let clock = ManualClock::at_unix(T0);
    let layer = builder(&clock)
        .risk_monitor(RiskMonitor::new().failure_burst(2, Duration::from_secs(60)))
        .build()
        .unwrap();
    assert_eq!(status(&layer, request(&key(9), &clock, "w-1")).await, 401);
    assert_eq!(status(&layer, request(&key(9), &clock, "w-2")).await, 401);

    let text = captured.text();
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("tower_hmac::auth"))
        .collect();
    // The first refusal is logged at `info`: not captured. The second is a burst, at `warn`.
    assert_eq!(events.len(), 1, "{text}");
    for field in ["WARN", "risk=\"high\"", "request_id=\"w-2\"", "latency_us="] {
        assert!(events[0].contains(field), "{field} in {}", events[0]);
    }
}

/// A recorder counting what is registered, by metric name. Not a unit struct with no-op
/// methods: that one the layer could not tell from no recorder at all, and need not.
#[cfg(feature = "metrics")]
#[derive(Default)]
struct Registrations(Mutex<Vec<String>>);

#[cfg(feature = "metrics")]
impl Registrations {
    fn count(&self, name: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|n| *n == name).count()
    }

    fn note(&self, key: &metrics::Key) {
        self.0.lock().unwrap().push(key.name().to_owned());
    }
}

#[cfg(feature = "metrics")]
impl metrics::Recorder for Registrations {
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
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        self.note(key);
        metrics::Counter::noop()
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        self.note(key);
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.note(key);
        metrics::Histogram::noop()
    }
}

#[cfg(feature = "metrics")]
#[test]
fn with_a_recorder_every_decision_is_counted_and_timed() {
    let recorder = Registrations::default();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let clock = ManualClock::at_unix(T0);
            let layer = builder(&clock).build().unwrap();
            assert_eq!(status(&layer, request(&key(1), &clock, "m-1")).await, 200);
            assert_eq!(status(&layer, request(&key(9), &clock, "m-2")).await, 401);
        });
    });
    assert_eq!(recorder.count("tower_hmac_requests_total"), 2);
    assert_eq!(recorder.count("tower_hmac_verification_seconds"), 2);
}
