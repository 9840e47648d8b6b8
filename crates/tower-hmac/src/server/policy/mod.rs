//! What the layer does beyond verifying: failed-authentication throttling and risk signals
//! (feature `policy`). Without the feature nothing is throttled and every event is low-risk.

use std::net::IpAddr;
use std::time::Duration;

#[cfg(feature = "policy")]
use tower_hmac_core::RejectionKind;

#[cfg(feature = "policy")]
mod monitor;
#[cfg(feature = "policy")]
mod remote;
mod scope;
#[cfg(feature = "policy")]
mod shared;
#[cfg(feature = "policy")]
mod throttle;

#[cfg(feature = "policy")]
use monitor::Monitor;
#[cfg(feature = "policy")]
pub use monitor::{Alert, AlertHook, DEFAULT_RISK_MEMORY, RiskMonitor};
#[cfg(feature = "policy")]
use remote::SharedThrottle;
pub use scope::{RequireScope, RequireScopeService, ScopeFuture};
#[cfg(feature = "policy")]
pub use shared::{
    ADDRESSES_PER_KEY, ActivityAnswer, ActivityCall, BucketAnswer, BucketCall, BucketScope,
    DEFAULT_STORE_TIMEOUT, GcraRate, OnStoreError, PolicyStoreError, PolicyStoreErrorKind,
    RATE_INTERVAL_SECS, RATE_WARM_INTERVALS, SharedPolicyStore,
};
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
    /// The throttle with its buckets in a shared store (then `throttle` is `None`).
    #[cfg(feature = "policy")]
    pub(crate) shared_throttle: Option<std::sync::Arc<SharedThrottle>>,
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

    /// The check of a request's address and key id in the shared throttle, when there is one
    /// and the client's address is known: the step before its key is looked up.
    pub(crate) fn shared_check(
        &self,
        key_id: &str,
        client: Option<IpAddr>,
    ) -> Option<PolicyFuture<Option<Failure>>> {
        self.shared_throttle.as_ref()?.check(key_id, client?)
    }

    /// With a shared risk monitor: the signals of an accepted request from the shared state
    /// (the step between the decision and the inner service); `None` when the store failed.
    pub(crate) fn shared_accepted(
        &self,
        extensions: &http::Extensions,
        meta: &AuditMeta,
    ) -> Option<PolicyFuture<Option<Signals>>> {
        let shared = self.risk.as_ref()?.shared.as_ref()?;
        let auth = extensions.get::<Authenticated>()?;
        let activity = shared.activity(auth.key_id(), meta.client);
        Some(Box::pin(async move {
            activity.await.ok().map(Monitor::from_activity)
        }))
    }

    /// The risk signals of an accepted request (and its alert, when high).
    pub(crate) fn accepted(&self, auth: &Authenticated, meta: &AuditMeta) -> Signals {
        self.accepted_with(auth, meta, None)
    }

    /// [`accepted`](Self::accepted), with the signals a shared store gave.
    pub(crate) fn accepted_with(
        &self,
        auth: &Authenticated,
        meta: &AuditMeta,
        shared: Option<Signals>,
    ) -> Signals {
        let Some(monitor) = &self.risk else {
            return Signals::default();
        };
        // Without a shared store's answer (none configured, or it failed), this instance's.
        let signals = match shared {
            Some(signals) => signals,
            None => monitor.on_accepted(auth.key_id(), meta.client),
        };
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

    /// With a shared throttle or risk monitor, for a failure that counts from a known address:
    /// its count in the shared store and whether it ended a burst there, in one step (the two
    /// calls run together). Its output goes to [`rejected_with`](Self::rejected_with).
    pub(crate) fn shared_rejected(
        &self,
        failure: &Failure,
        meta: &AuditMeta,
    ) -> Option<PolicyFuture<Shared>> {
        let client = meta.client?;
        let shared_risk = self.risk.as_ref().and_then(|m| m.shared.as_ref());
        if (self.shared_throttle.is_none() && shared_risk.is_none()) || !failure.counts_as_failure()
        {
            return None;
        }
        let key_id = failure.key_id.as_deref();
        // A replay counts against its address only: the key's holder did not send it.
        let throttled_key_id = key_id.filter(|_| !failure.mac_verified);
        let count = self
            .shared_throttle
            .as_ref()
            .and_then(|t| t.record(throttled_key_id, client));
        let burst = shared_risk.map(|r| r.burst(key_id, client));
        Some(Box::pin(async move {
            let (_, burst) = remote::join(count, burst).await;
            Shared {
                // The store failed: the burst is counted in process.
                burst: burst.and_then(Result::ok),
            }
        }))
    }

    /// A refusal: counted against its buckets when it is a failed authentication; its risk
    /// signals (and its alert, when high). `skew` is the layer's allowed skew.
    pub(crate) fn rejected(&self, failure: &Failure, meta: &AuditMeta, skew: Duration) -> Signals {
        self.rejected_with(failure, meta, skew, None)
    }

    /// [`rejected`](Self::rejected), after [`shared_rejected`](Self::shared_rejected)'s step.
    pub(crate) fn rejected_with(
        &self,
        failure: &Failure,
        meta: &AuditMeta,
        skew: Duration,
        shared: Option<Shared>,
    ) -> Signals {
        if self.throttle.is_none() && self.shared_throttle.is_none() && self.risk.is_none() {
            return Signals::default();
        }
        let counts = failure.counts_as_failure();
        let key_id = failure.key_id.as_deref();
        if counts
            && (self.throttle.is_some() || self.shared_throttle.is_some())
            && meta.client.is_none()
            && !self.warned_no_client.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                target: super::observe::TRACING_TARGET,
                "failures are throttled per client address, and this request has none: \
                 serve with `into_make_service_with_connect_info::<SocketAddr>()` (axum), \
                 insert `PeerAddr`, or trust a proxy that forwards it; until then nothing \
                 is throttled"
            );
        }
        if let (true, Some(throttle)) = (counts, &self.throttle) {
            // A replay counts against its address only: the key's holder did not send it.
            let key_id = key_id.filter(|_| !failure.mac_verified);
            throttle.record_failure(key_id, meta.client);
        }
        let burst = shared.and_then(|s| s.burst);
        let mut signals = match (counts, &self.risk) {
            (true, Some(monitor)) => {
                monitor.on_failure(key_id, meta.client, failure.off_by, skew, burst)
            }
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

/// A boxed step of the policy: only a layer with a shared store has one.
pub(crate) type PolicyFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// What a shared store said of a failure.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shared {
    /// Whether it ended a burst; `None` when the store failed (counted in process then).
    #[cfg(feature = "policy")]
    burst: Option<bool>,
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

    #[inline]
    pub(crate) fn shared_check(
        &self,
        _: &str,
        _: Option<IpAddr>,
    ) -> Option<PolicyFuture<Option<Failure>>> {
        None
    }

    #[inline]
    pub(crate) fn shared_accepted(
        &self,
        _: &http::Extensions,
        _: &AuditMeta,
    ) -> Option<PolicyFuture<Option<Signals>>> {
        None
    }

    #[inline]
    pub(crate) fn shared_rejected(
        &self,
        _: &Failure,
        _: &AuditMeta,
    ) -> Option<PolicyFuture<Shared>> {
        None
    }

    pub(crate) fn accepted_with(
        &self,
        _: &Authenticated,
        _: &AuditMeta,
        _: Option<Signals>,
    ) -> Signals {
        Signals::default()
    }

    pub(crate) fn rejected_with(
        &self,
        _: &Failure,
        _: &AuditMeta,
        _: Duration,
        _: Option<Shared>,
    ) -> Signals {
        Signals::default()
    }
}
