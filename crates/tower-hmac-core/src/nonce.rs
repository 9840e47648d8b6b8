//! The nonce store: the replay guard's memory.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::future::StoreFuture;
use crate::policy::acceptable_until_millis;

/// The result of recording a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NonceOutcome {
    /// The nonce was not seen inside its window and is now recorded.
    Fresh,
    /// The nonce was already recorded: the request is a replay.
    Replayed,
    /// The request may have been signed before the store's memory begins (the process started,
    /// or a Redis lost its data, after it): the store cannot tell whether it was seen. The layer
    /// refuses it as `stale_timestamp` with a time after the horizon, so an honest client
    /// re-signs once; a replay of a request accepted before the horizon is refused.
    BeforeHorizon {
        /// Unix milliseconds from which the store remembers every nonce it recorded.
        horizon_millis: u64,
    },
}

/// When a nonce is recorded, and until when it must be remembered — in Unix milliseconds of the
/// layer's clock, so that every store expires nonces on the clock that decides freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonceLifetime {
    now_millis: u64,
    signed_at_millis: u64,
    expires_millis: u64,
}

impl NonceLifetime {
    /// The lifetime of the nonce of a request signed at `timestamp` (Unix seconds) and accepted
    /// at `now` with the skew `max_skew`: it expires only once the request can no longer be
    /// accepted ([`acceptable_until_millis`]), so a copy sent in the last fresh millisecond is
    /// still a replay. A future-dated request is remembered for longer, for the same reason.
    pub fn for_request(timestamp: u64, now: SystemTime, max_skew: Duration) -> Self {
        Self::from_millis(
            unix_millis(now),
            timestamp.saturating_mul(1000),
            acceptable_until_millis(timestamp, max_skew),
        )
    }

    /// A lifetime from its three instants, in Unix milliseconds (`expires` is exclusive).
    pub fn from_millis(now_millis: u64, signed_at_millis: u64, expires_millis: u64) -> Self {
        Self {
            now_millis,
            signed_at_millis,
            expires_millis,
        }
    }

    /// The layer's clock when the nonce is recorded.
    pub fn now_millis(&self) -> u64 {
        self.now_millis
    }

    /// The earliest instant the request can have been signed (its timestamp).
    pub fn signed_at_millis(&self) -> u64 {
        self.signed_at_millis
    }

    /// The first instant at which the nonce may be forgotten.
    pub fn expires_millis(&self) -> u64 {
        self.expires_millis
    }

    /// How long from `now` the nonce must be remembered (at least 1 ms).
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.expires_millis.saturating_sub(self.now_millis).max(1))
    }
}

/// Unix milliseconds of a `SystemTime` (0 before 1970).
pub fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Remembers (key id, nonce) pairs for as long as a request carrying them could be accepted.
///
/// The one operation is an **atomic** insert-if-absent: two concurrent calls with the same pair
/// must not both return [`NonceOutcome::Fresh`]. A store must never forget a pair before
/// [`NonceLifetime::expires_millis`] on the layer's clock (an evicted nonce is a replayable
/// request); when it cannot remember more, it fails with
/// [`NonceStoreErrorKind::CapacityExceeded`] instead. A store that knows when its memory began
/// answers [`NonceOutcome::BeforeHorizon`] for a request that may have been signed before then.
pub trait NonceStore: Send + Sync + 'static {
    /// Records `(key_id, nonce)` for `lifetime` unless it is already recorded.
    fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &str,
        lifetime: NonceLifetime,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>>;
}

impl<T: NonceStore + ?Sized> NonceStore for Arc<T> {
    fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &str,
        lifetime: NonceLifetime,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>> {
        (**self).check_and_insert(key_id, nonce, lifetime)
    }
}

/// Why a nonce store failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NonceStoreErrorKind {
    /// The store holds as many live nonces as it may.
    CapacityExceeded,
    /// The store did not answer in time.
    Timeout,
    /// The store is unreachable or failed.
    Unavailable,
    /// This key id holds its whole share of the store; other keys go on (`429`).
    KeyQuotaExceeded,
}

/// A nonce store could not record a nonce; the request is refused (fail closed).
#[derive(Debug)]
pub struct NonceStoreError {
    kind: NonceStoreErrorKind,
    retry_after: Option<Duration>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl NonceStoreError {
    /// An error of this kind.
    pub fn new(kind: NonceStoreErrorKind) -> Self {
        Self {
            kind,
            retry_after: None,
            source: None,
        }
    }

    /// With its cause.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// With a hint of when to retry (sent as `Retry-After`).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> NonceStoreErrorKind {
        self.kind
    }

    /// When to retry, if the store knows.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for NonceStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            NonceStoreErrorKind::CapacityExceeded => f.write_str("nonce store is full"),
            NonceStoreErrorKind::Timeout => f.write_str("nonce store timed out"),
            NonceStoreErrorKind::Unavailable => f.write_str("nonce store unavailable"),
            NonceStoreErrorKind::KeyQuotaExceeded => {
                f.write_str("this key id holds its whole share of the nonce store")
            }
        }
    }
}

impl StdError for NonceStoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
