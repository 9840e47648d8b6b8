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

    /// A description, noted as `describe KIND NAME UNIT` (never a metric's name).
    fn described(
        &self,
        kind: &str,
        name: &metrics::KeyName,
        unit: Option<metrics::Unit>,
        help: &str,
    ) {
        assert!(!help.is_empty(), "{}", name.as_str());
        let unit = unit.map_or("none", |u| u.as_str());
        let entry = format!("describe {kind} {} {unit}", name.as_str());
        self.0.lock().unwrap().push(entry);
    }
}

#[cfg(feature = "metrics")]
impl metrics::Recorder for Registrations {
    fn describe_counter(
        &self,
        name: metrics::KeyName,
        unit: Option<metrics::Unit>,
        help: metrics::SharedString,
    ) {
        self.described("counter", &name, unit, &help);
    }
    fn describe_gauge(
        &self,
        name: metrics::KeyName,
        unit: Option<metrics::Unit>,
        help: metrics::SharedString,
    ) {
        self.described("gauge", &name, unit, &help);
    }
    fn describe_histogram(
        &self,
        name: metrics::KeyName,
        unit: Option<metrics::Unit>,
        help: metrics::SharedString,
    ) {
        self.described("histogram", &name, unit, &help);
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

#[cfg(feature = "metrics")]
#[test]
fn a_recorder_installed_after_the_layer_is_built_gets_every_description() {
    let clock = ManualClock::at_unix(T0);
    let layer = builder(&clock).build().unwrap();
    // Installed after the layer was built; leaked, so that no recorder of another test had its
    // address.
    let recorder: &'static Registrations = Box::leak(Box::default());
    metrics::with_local_recorder(recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(status(&layer, request(&key(1), &clock, "d-1")).await, 200);
            assert_eq!(status(&layer, request(&key(9), &clock, "d-2")).await, 401);
        });
    });
    for entry in [
        "describe counter tower_hmac_requests_total count",
        "describe histogram tower_hmac_verification_seconds seconds",
        "describe counter tower_hmac_scope_refusals_total count",
        "describe counter tower_hmac_throttled_total count",
        "describe counter tower_hmac_registry_lookups_total count",
        "describe gauge tower_hmac_replay_store_nonces count",
        "describe gauge tower_hmac_replay_store_capacity count",
    ] {
        // At least once: another test's recorder, in between, makes this one new again.
        assert!(
            recorder.count(entry) >= 1,
            "{entry}: {:?}",
            recorder.0.lock().unwrap()
        );
    }
    assert_eq!(recorder.count("tower_hmac_requests_total"), 2);
}

/// Set in the child process of [`a_request_without_a_client_address_warns_once_what_to_add`].
const CHILD: &str = "TOWER_HMAC_IT_NO_CLIENT_CHILD";

#[test]
fn a_request_without_a_client_address_warns_once_what_to_add() {
    // The warning is given once per process: checked in a process of its own (this binary, this
    // test alone), so no other test can have spent it.
    if std::env::var_os(CHILD).is_some() {
        return without_a_client_address();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "observers::a_request_without_a_client_address_warns_once_what_to_add",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
}

fn without_a_client_address() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clock = ManualClock::at_unix(T0);
        let signed = || common::signed_get(URL, "alice", &key(1), clock.unix());
        let layer = builder(&clock).build().unwrap();
        // Nobody reads the events yet: nothing said, nothing spent.
        assert_eq!(status(&layer, signed()).await, 200);

        let (captured, _guard) = common::capture(tracing::Level::DEBUG);
        assert_eq!(status(&layer, signed()).await, 200);
        assert_eq!(status(&layer, signed()).await, 200);
        let other = builder(&clock).build().unwrap();
        assert_eq!(status(&other, signed()).await, 200);
        // With the address: nothing to say.
        assert_eq!(status(&layer, request(&key(1), &clock, "c-1")).await, 200);

        let text = captured.text();
        let warnings: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("tower_hmac::setup"))
            .collect();
        assert_eq!(warnings.len(), 1, "{text}");
        for needle in [
            "WARN",
            "`client`",
            "into_make_service_with_connect_info::<std::net::SocketAddr>()",
            "PeerAddr",
            "trusted_proxies",
        ] {
            assert!(warnings[0].contains(needle), "{needle} in {}", warnings[0]);
        }
        // The decisions' target keeps one event per decision.
        let decisions = text
            .lines()
            .filter(|l| l.contains("tower_hmac::auth"))
            .count();
        assert_eq!(decisions, 4, "{text}");
    });
}
