//! The nonce store: the replay guard's memory.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::future::StoreFuture;

/// The result of recording a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonceOutcome {
    /// The nonce was not seen inside its window and is now recorded.
    Fresh,
    /// The nonce was already recorded: the request is a replay.
    Replayed,
}

/// Remembers (key id, nonce) pairs for as long as a request carrying them could be accepted.
///
/// The one operation is an **atomic** insert-if-absent: two concurrent calls with the same pair
/// must not both return [`NonceOutcome::Fresh`]. A store must never forget a pair before its TTL
/// has passed (an evicted nonce is a replayable request); when it cannot remember more, it fails
/// with [`NonceStoreErrorKind::CapacityExceeded`] instead.
pub trait NonceStore: Send + Sync + 'static {
    /// Records `(key_id, nonce)` for `ttl` unless it is already recorded.
    fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>>;
}

impl<T: NonceStore + ?Sized> NonceStore for Arc<T> {
    fn check_and_insert(
        &self,
        key_id: &str,
        nonce: &str,
        ttl: Duration,
    ) -> StoreFuture<Result<NonceOutcome, NonceStoreError>> {
        (**self).check_and_insert(key_id, nonce, ttl)
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
