//! The login guard's buckets in a store every instance shares (feature `shared-throttle`):
//! tower-hmac's `SharedPolicyStore`, the one the HMAC layer's failure throttle uses
//! (`tower_hmac_redis::RedisPolicyStore` on Redis). One call per check over the address's bucket
//! and the (user name, address) bucket, both keyed by the address (one Redis Cluster slot); the
//! same GCRA as the in-process buckets, in whole milliseconds.
//!
//! User names are not written in clear: the pair's key holds the first 16 bytes of the SHA-256
//! of the folded name (`Alice ` and `alice` share a bucket, as in process).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tower_hmac::server::{
    BucketAnswer, BucketCall, BucketScope, GcraRate, OnStoreError, PolicyStoreError,
    PolicyStoreErrorKind, SharedPolicyStore,
};

/// A shared store, as the limits hold it.
#[derive(Clone)]
pub(crate) struct StoreHandle(pub(crate) Arc<dyn SharedPolicyStore>);

impl fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedPolicyStore")
    }
}

/// What the shared store said of a login before its check.
pub(crate) enum SharedCheck {
    /// The address's and the pair's waits, when their buckets are empty.
    Waits(Option<Duration>, Option<Duration>),
    /// The store failed and the guard fails open: the in-process buckets answer.
    Fallback,
    /// The store failed and the guard fails closed: the login is refused.
    Closed,
}

/// The login guard's shared buckets.
pub(crate) struct SharedLogin {
    pub(crate) store: Arc<dyn SharedPolicyStore>,
    pub(crate) address_rate: GcraRate,
    pub(crate) pair_rate: GcraRate,
    pub(crate) ipv6_prefix: u8,
    pub(crate) timeout: Duration,
    pub(crate) on_error: OnStoreError,
}

/// The rate of the in-process buckets of `burst` failures per `window`: a failure back every
/// `window / burst` whole milliseconds.
pub(crate) fn rate(burst: u32, window: Duration) -> GcraRate {
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    let period = (window_ms / u64::from(burst.max(1))).max(1);
    GcraRate::new(Duration::from_millis(period), burst)
}

/// The user name as the pair's key holds it.
pub(crate) fn user_tag(username: &str) -> String {
    let folded = username.trim().to_ascii_lowercase();
    hex::encode(&Sha256::digest(folded.as_bytes())[..16])
}

impl SharedLogin {
    fn call(&self, user: &str, client: IpAddr, now_ms: u64, record: bool) -> BucketCall {
        BucketCall::new(
            BucketScope::Login,
            client,
            Some(user),
            self.address_rate,
            now_ms.saturating_mul(1000),
            record,
        )
        .with_address(client, self.ipv6_prefix)
        .with_key_id_rate(self.pair_rate)
    }

    async fn bounded(&self, call: BucketCall) -> Result<BucketAnswer, PolicyStoreError> {
        match tokio::time::timeout(self.timeout, self.store.buckets(call)).await {
            Ok(answer) => answer,
            Err(_) => Err(PolicyStoreError::new(PolicyStoreErrorKind::Timeout)),
        }
    }

    /// The check before the password hash: one call for both buckets.
    pub(crate) async fn check(&self, user: &str, client: IpAddr, now_ms: u64) -> SharedCheck {
        match self.bounded(self.call(user, client, now_ms, false)).await {
            Ok(answer) => SharedCheck::Waits(answer.address_wait, answer.key_id_wait),
            Err(error) => {
                warn(&error);
                match self.on_error {
                    OnStoreError::FailClosed => SharedCheck::Closed,
                    _ => SharedCheck::Fallback,
                }
            }
        }
    }

    /// Counts a failed login; `false` when the store failed (then it is counted in process).
    pub(crate) async fn record(&self, user: &str, client: IpAddr, now_ms: u64) -> bool {
        match self.bounded(self.call(user, client, now_ms, true)).await {
            Ok(_) => true,
            Err(error) => {
                warn(&error);
                false
            }
        }
    }
}

fn warn(error: &PolicyStoreError) {
    tracing::warn!(
        target: crate::TRACING_TARGET,
        error = %error,
        source = ?std::error::Error::source(error).map(ToString::to_string),
        "the login guard's shared store failed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_rate_is_the_in_process_one() {
        let r = rate(5, Duration::from_secs(300));
        assert_eq!(r.emission_micros(), 60_000_000);
        assert_eq!(r.tolerance_micros(), 240_000_000);
        // A window that does not divide: whole milliseconds, rounded down, as in process.
        assert_eq!(
            rate(7, Duration::from_secs(60)).emission_micros(),
            8_571_000
        );
    }

    #[test]
    fn user_names_are_folded_and_hashed() {
        assert_eq!(user_tag("Alice "), user_tag("alice"));
        assert_ne!(user_tag("alice"), user_tag("bob"));
        assert_eq!(user_tag("alice").len(), 32);
    }
}
