//! The shared throttle and the shared risk state of a built layer: each request's call to the
//! [`SharedPolicyStore`], bounded by a timeout, and what happens when the store fails (the
//! in-process buckets take over, or every checked request is refused).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use tower_hmac_core::clock::unix_seconds;
use tower_hmac_core::{Clock, Rejection, RejectionKind, StoreFuture, unix_millis};

use super::PolicyFuture;
use super::shared::{
    ActivityAnswer, ActivityCall, BucketAnswer, BucketCall, BucketScope, GcraRate, OnStoreError,
    PolicyStoreError, PolicyStoreErrorKind, SharedPolicyStore, masked_text,
};
use super::throttle::Throttle;
use crate::server::observe::{Failure, TRACING_TARGET};

/// The `Retry-After` of a refusal while a fail-closed store is down.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(1);

/// Calls the store, bounded by `timeout`.
async fn bounded<T>(
    timeout: Duration,
    call: StoreFuture<Result<T, PolicyStoreError>>,
) -> Result<T, PolicyStoreError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(answer) => answer,
        Err(_) => Err(PolicyStoreError::new(PolicyStoreErrorKind::Timeout)),
    }
}

/// Logs the first failure of an outage and the recovery after it.
fn note(degraded: &AtomicBool, answer: Result<(), &PolicyStoreError>, what: &str) {
    match answer {
        Ok(()) => {
            if degraded.swap(false, Ordering::AcqRel) {
                tracing::info!(target: TRACING_TARGET, what, "the shared policy store answers again");
            }
        }
        Err(error) => {
            if !degraded.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    target: TRACING_TARGET,
                    what,
                    error = %error,
                    source = ?std::error::Error::source(error).map(ToString::to_string),
                    "the shared policy store failed: counting in this process until it answers"
                );
            }
        }
    }
}

/// Microseconds since the Unix epoch on the layer's clock (whole milliseconds).
fn now_micros(clock: &dyn Clock) -> u64 {
    unix_millis(clock.now()).saturating_mul(1000)
}

/// The failure throttle with its buckets in a shared store.
pub(crate) struct SharedThrottle {
    pub(crate) store: Arc<dyn SharedPolicyStore>,
    pub(crate) rate: GcraRate,
    pub(crate) per_address: bool,
    pub(crate) per_key_id: bool,
    pub(crate) ipv6_prefix: u8,
    pub(crate) on_error: OnStoreError,
    pub(crate) timeout: Duration,
    /// The in-process buckets that count while the store fails (fail-open).
    pub(crate) local: Throttle,
    pub(crate) clock: Arc<dyn Clock>,
    /// Whether the last call failed (one warning per outage).
    pub(crate) degraded: AtomicBool,
}

impl fmt::Debug for SharedThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedThrottle")
            .field("rate", &self.rate)
            .field("per_address", &self.per_address)
            .field("per_key_id", &self.per_key_id)
            .field("on_error", &self.on_error)
            .field("timeout", &self.timeout)
            .field("degraded", &self.degraded.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SharedThrottle {
    fn call(&self, key_id: Option<&str>, client: IpAddr, record: bool) -> Option<BucketCall> {
        let key_id = key_id.filter(|_| self.per_key_id);
        if !self.per_address && key_id.is_none() {
            return None;
        }
        Some(BucketCall {
            scope: BucketScope::Throttle,
            address: masked_text(client, self.ipv6_prefix),
            address_bucket: self.per_address,
            key_id: key_id.map(str::to_owned),
            rate: self.rate,
            key_id_rate: None,
            now_micros: now_micros(&*self.clock),
            record,
        })
    }

    /// The check of a request before its key is looked up: the refusal when its address's
    /// bucket, or its key id's at that address, is empty. One call to the store for both.
    pub(crate) fn check(
        self: &Arc<Self>,
        key_id: &str,
        client: IpAddr,
    ) -> Option<PolicyFuture<Option<Failure>>> {
        let call = self.call(Some(key_id), client, false)?;
        let this = Arc::clone(self);
        let key_id = key_id.to_owned();
        Some(Box::pin(async move {
            let answer = bounded(this.timeout, this.store.buckets(call)).await;
            note(
                &this.degraded,
                answer.as_ref().map(|_| ()),
                "throttle check",
            );
            let (address_wait, key_id_wait) = match answer {
                Ok(BucketAnswer {
                    address_wait,
                    key_id_wait,
                    ..
                }) => (address_wait, key_id_wait),
                Err(_) if this.on_error == OnStoreError::FailClosed => {
                    return Some(unavailable());
                }
                Err(_) => (
                    this.local.address_blocked(client),
                    this.local.key_id_blocked(&key_id, client),
                ),
            };
            if let Some(wait) = address_wait {
                return Some(Failure::throttled(wait, "address"));
            }
            key_id_wait.map(|wait| Failure {
                key_id: Some(key_id),
                ..Failure::throttled(wait, "key_id")
            })
        }))
    }

    /// Counts a failure against its buckets in the store (in process when the store fails).
    pub(crate) fn record(
        self: &Arc<Self>,
        key_id: Option<&str>,
        client: IpAddr,
    ) -> Option<PolicyFuture<()>> {
        let call = self.call(key_id, client, true)?;
        let this = Arc::clone(self);
        let key_id = key_id.map(str::to_owned);
        Some(Box::pin(async move {
            let answer = bounded(this.timeout, this.store.buckets(call)).await;
            note(
                &this.degraded,
                answer.as_ref().map(|_| ()),
                "throttle count",
            );
            if answer.is_err() {
                this.local.record_failure(key_id.as_deref(), Some(client));
            }
        }))
    }
}

/// The refusal while a fail-closed store is down: no failure may go uncounted.
#[cold]
fn unavailable() -> Failure {
    let rejection = Rejection::new(RejectionKind::TooManyFailures)
        .with_retry_after(UNAVAILABLE_RETRY)
        .with_detail("the failure throttle's shared store is unavailable; try again later");
    Failure {
        throttled_by: Some("store"),
        ..Failure::from_rejection(rejection)
    }
}

/// The risk monitor's state in a shared store.
pub(crate) struct SharedRisk {
    pub(crate) store: Arc<dyn SharedPolicyStore>,
    pub(crate) burst_rate: GcraRate,
    pub(crate) rate_factor: u32,
    pub(crate) rate_floor: u32,
    pub(crate) memory: Duration,
    pub(crate) timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) degraded: AtomicBool,
}

impl fmt::Debug for SharedRisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRisk")
            .field("burst_rate", &self.burst_rate)
            .field("memory", &self.memory)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SharedRisk {
    /// Counts a failure against the burst counters of its address, of its key id at that
    /// address, and of its key id across every address (a guess spread over addresses and
    /// instances): `Ok(true)` when it ends a burst; `Err` when the store failed.
    pub(crate) fn burst(
        self: &Arc<Self>,
        key_id: Option<&str>,
        client: IpAddr,
    ) -> PolicyFuture<Result<bool, ()>> {
        let now_micros = now_micros(&*self.clock);
        let call = BucketCall {
            scope: BucketScope::Burst,
            // The in-process monitor's bursts count IPv6 per /64 too.
            address: masked_text(client, 64),
            address_bucket: true,
            key_id: key_id.map(str::to_owned),
            rate: self.burst_rate,
            key_id_rate: None,
            now_micros,
            record: true,
        };
        let key_call = key_id.map(|key_id| BucketCall {
            scope: BucketScope::KeyBurst,
            address: "*".to_owned(),
            address_bucket: false,
            key_id: Some(key_id.to_owned()),
            rate: self.burst_rate,
            key_id_rate: None,
            now_micros,
            record: true,
        });
        let this = Arc::clone(self);
        Box::pin(async move {
            let at_address: PolicyFuture<_> =
                Box::pin(bounded(this.timeout, this.store.buckets(call)));
            let across = key_call.map(|call| -> PolicyFuture<_> {
                Box::pin(bounded(this.timeout, this.store.buckets(call)))
            });
            let (at_address, across) = join(Some(at_address), across).await;
            let at_address = at_address
                .unwrap_or_else(|| Err(PolicyStoreError::new(PolicyStoreErrorKind::Timeout)));
            let answer = match (at_address, across) {
                (Ok(a), Some(Ok(b))) => Ok(a.exhausted || b.exhausted),
                (Ok(a), None) => Ok(a.exhausted),
                (Err(e), _) | (_, Some(Err(e))) => Err(e),
            };
            note(&this.degraded, answer.as_ref().map(|_| ()), "risk bursts");
            answer.map_err(|_| ())
        })
    }

    /// One accepted request of `key_id`: its `new_address` and `rate_spike` from shared state.
    pub(crate) fn activity(
        self: &Arc<Self>,
        key_id: &str,
        client: Option<IpAddr>,
    ) -> PolicyFuture<Result<ActivityAnswer, ()>> {
        let call = ActivityCall {
            key_id: key_id.to_owned(),
            address: client.map(|c| c.to_canonical().to_string()),
            now_secs: unix_seconds(self.clock.now()),
            rate_factor: self.rate_factor,
            rate_floor: self.rate_floor,
            memory: self.memory,
        };
        let this = Arc::clone(self);
        Box::pin(async move {
            let answer = bounded(this.timeout, this.store.key_activity(call)).await;
            note(&this.degraded, answer.as_ref().map(|_| ()), "risk activity");
            answer.map_err(|_| ())
        })
    }
}

/// Both futures, polled together: the throttle's count and the monitor's burst in one step.
pub(crate) async fn join<A, B>(
    a: Option<PolicyFuture<A>>,
    b: Option<PolicyFuture<B>>,
) -> (Option<A>, Option<B>) {
    let (mut a, mut b) = (a, b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if let Some(f) = a.as_mut()
            && let Poll::Ready(v) = f.as_mut().poll(cx)
        {
            ra = Some(v);
            a = None;
        }
        if let Some(f) = b.as_mut()
            && let Poll::Ready(v) = f.as_mut().poll(cx)
        {
            rb = Some(v);
            b = None;
        }
        if a.is_none() && b.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra, rb)
}
