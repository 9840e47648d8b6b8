//! Configuration errors (returned by builders; never by a request).

/// A layer or store could not be built from the settings given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No allowed hosts were given: call `allowed_hosts` with [`AllowedHosts::new`] (or, knowing
    /// what it costs, [`AllowedHosts::any`]).
    ///
    /// [`AllowedHosts::new`]: tower_hmac_core::AllowedHosts::new
    /// [`AllowedHosts::any`]: tower_hmac_core::AllowedHosts::any
    #[error("no allowed hosts were configured; list the hosts this server answers for")]
    NoAllowedHosts,
    /// The allowed clock skew is outside 1 s to 1 h.
    #[error("max_skew must be between 1 second and 1 hour, got {secs} s")]
    MaxSkewOutOfRange {
        /// The value given, in seconds.
        secs: u64,
    },
    /// The `Authorization` length limit is outside 256 B to 64 KiB.
    #[error("max_header_len must be between 256 and 65536 bytes, got {len}")]
    MaxHeaderLenOutOfRange {
        /// The value given.
        len: usize,
    },
    /// The body timeout is zero.
    #[error("body_timeout must be more than zero")]
    ZeroBodyTimeout,
    /// The operating system's random number generator failed (the layer needs a random key).
    #[error("the operating system's random number generator is unavailable")]
    RandomUnavailable,
    /// A nonce store's capacity is zero.
    #[error("the nonce store's capacity must be at least 1")]
    ZeroCapacity,
}
