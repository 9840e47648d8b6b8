//! What the layer does beyond verifying: failed-authentication throttling and risk signals
//! (feature `policy`). Without the feature nothing is throttled and every event is low-risk.

use std::net::IpAddr;
use std::time::Duration;

#[cfg(feature = "policy")]
use tower_hmac_core::RejectionKind;

#[cfg(feature = "policy")]
mod monitor;
mod scope;
#[cfg(feature = "policy")]
mod throttle;

#[cfg(feature = "policy")]
use monitor::Monitor;
#[cfg(feature = "policy")]
pub use monitor::{Alert, AlertHook, RiskMonitor};
pub use scope::{RequireScope, RequireScopeService, ScopeFuture};
#[cfg(feature = "policy")]
use throttle::Throttle;
#[cfg(feature = "policy")]
pub use throttle::{DEFAULT_THROTTLE_CAPACITY, FailureThrottle};

#[cfg(feature = "policy")]
use super::observe::RiskLevel;
use super::observe::{AuditMeta, Failure, Signals};
use crate::Authenticated;

/// The throttle and the risk monitor of a built layer, each when enabled.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    #[cfg(feature = "policy")]
    pub(crate) throttle: Option<Throttle>,
    #[cfg(feature = "policy")]
    pub(crate) risk: Option<Monitor>,
    /// Whether the "no client address" warning was logged (once per layer).
    #[cfg(feature = "policy")]
    pub(crate) warned_no_client: std::sync::atomic::AtomicBool,
}

#[cfg(feature = "policy")]
use std::sync::atomic::Ordering;

#[cfg(feature = "policy")]
impl Policy {
    /// Whether an alert hook is set: an alert carries the request id.
    pub(crate) fn alerts(&self) -> bool {
        self.risk.as_ref().is_some_and(Monitor::alerts)
    }

    /// How long this client address must wait, if its bucket is empty.
    #[inline]
    pub(crate) fn address_wait(&self, client: Option<IpAddr>) -> Option<Duration> {
        self.throttle.as_ref()?.address_blocked(client?)
    }

    /// How long this key id must wait from this client address, if that bucket is empty.
    #[inline]
    pub(crate) fn key_id_wait(&self, key_id: &str, client: Option<IpAddr>) -> Option<Duration> {
        self.throttle.as_ref()?.key_id_blocked(key_id, client?)
    }

    /// The risk signals of an accepted request (and its alert, when high).
    pub(crate) fn accepted(&self, auth: &Authenticated, meta: &AuditMeta) -> Signals {
        let Some(monitor) = &self.risk else {
            return Signals::default();
        };
        let signals = monitor.on_accepted(auth.key_id(), meta.client);
        if signals.level() == RiskLevel::High {
            monitor.alert(|at| Alert {
                risk: RiskLevel::High,
                signals,
                outcome: "accepted",
                code: "ok",
                app_id: Some(auth.app_id().to_owned()),
                key_id: Some(auth.key_id().to_owned()),
                scheme: Some(auth.scheme()),
                client: meta.client,
                request_id: meta.request_id().map(str::to_owned),
                at,
            });
        }
        signals
    }

    /// A refusal: counted against its buckets when it is a failed authentication; its risk
    /// signals (and its alert, when high). `skew` is the layer's allowed skew.
    pub(crate) fn rejected(&self, failure: &Failure, meta: &AuditMeta, skew: Duration) -> Signals {
        if self.throttle.is_none() && self.risk.is_none() {
            return Signals::default();
        }
        let counts = failure.counts_as_failure();
        let key_id = failure.key_id.as_deref();
        if let (true, Some(throttle)) = (counts, &self.throttle) {
            if meta.client.is_none() && !self.warned_no_client.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    target: super::observe::TRACING_TARGET,
                    "failures are throttled per client address, and this request has none: \
                     serve with `into_make_service_with_connect_info::<SocketAddr>()` (axum), \
                     insert `PeerAddr`, or trust a proxy that forwards it; until then nothing \
                     is throttled"
                );
            }
            // A replay counts against its address only: the key's holder did not send it.
            let key_id = key_id.filter(|_| !failure.mac_verified);
            throttle.record_failure(key_id, meta.client);
        }
        let mut signals = match (counts, &self.risk) {
            (true, Some(monitor)) => monitor.on_failure(key_id, meta.client, failure.off_by, skew),
            _ => Signals::default(),
        };
        if failure.rejection.kind() == RejectionKind::TooManyFailures {
            signals.add(super::observe::Signal::Throttled);
        }
        if let (Some(monitor), RiskLevel::High) = (&self.risk, signals.level()) {
            monitor.alert(|at| Alert {
                risk: RiskLevel::High,
                signals,
                outcome: "rejected",
                code: failure.logged_code(),
                app_id: failure.app_id.as_deref().map(str::to_owned),
                key_id: failure.key_id.clone(),
                scheme: failure.scheme_id,
                client: meta.client,
                request_id: meta.request_id().map(str::to_owned),
                at,
            });
        }
        signals
    }
}

#[cfg(not(feature = "policy"))]
impl Policy {
    pub(crate) fn alerts(&self) -> bool {
        false
    }

    #[inline]
    pub(crate) fn address_wait(&self, _: Option<IpAddr>) -> Option<Duration> {
        None
    }

    #[inline]
    pub(crate) fn key_id_wait(&self, _: &str, _: Option<IpAddr>) -> Option<Duration> {
        None
    }

    pub(crate) fn accepted(&self, _: &Authenticated, _: &AuditMeta) -> Signals {
        Signals::default()
    }

    pub(crate) fn rejected(&self, _: &Failure, _: &AuditMeta, _: Duration) -> Signals {
        Signals::default()
    }
}
