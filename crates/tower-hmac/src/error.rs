//! Configuration errors (returned by builders; never by a request).

/// A layer or store could not be built from the settings given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The allowed clock skew is outside 1 s to 1 h, or not a whole number of seconds (the
    /// protocol's timestamps are whole seconds).
    #[error("max_skew must be a whole number of seconds between 1 s and 1 h, got {given:?}")]
    MaxSkewOutOfRange {
        /// The value given.
        given: std::time::Duration,
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
    /// A nonce store's memory budget is below what one nonce per shard needs, or above what
    /// this machine can address.
    #[error("the nonce store's memory budget must be between 1 MiB and 1 TiB, got {bytes} bytes")]
    MemoryBudgetOutOfRange {
        /// The value given.
        bytes: u64,
    },
    /// A failure throttle's settings are out of range: at least one failure, a window of 1 s to
    /// one day, at least 64 buckets, an IPv6 prefix of 32 to 128 bits.
    #[error(
        "the failure throttle needs max_failures >= 1, a window of 1 s to 1 day, capacity >= 64 and an IPv6 prefix of 32 to 128; got {max_failures}, {window:?}, {capacity}, /{ipv6_prefix}"
    )]
    ThrottleOutOfRange {
        /// The failures allowed.
        max_failures: u32,
        /// The window.
        window: std::time::Duration,
        /// The buckets kept.
        capacity: usize,
        /// The IPv6 prefix length.
        ipv6_prefix: u8,
    },
    /// A trusted proxy is neither an IP address nor a network (`10.0.0.0/8`).
    #[error("a trusted proxy must be an IP address or network, got {given:?}")]
    InvalidProxyAddress {
        /// The value given (its first 64 characters).
        given: String,
    },
    /// The share of a nonce store one key id may hold is not 1 to 100 percent.
    #[error("a key's share of the nonce store must be 1 to 100 percent, got {percent}")]
    KeyShareOutOfRange {
        /// The value given.
        percent: u8,
    },
    /// The layer was given no scheme to verify.
    #[error("the layer verifies no scheme: add at least one")]
    NoScheme,
    /// Two schemes of a layer have the same id.
    #[error("the scheme {id:?} is in the layer's set twice")]
    DuplicateScheme {
        /// The id.
        id: &'static str,
    },
    /// Two schemes of a layer look for their credentials in the same place: every request one
    /// of them could verify would carry credentials for both, and be refused as ambiguous.
    #[error(
        "the schemes {first:?} and {second:?} read their credentials from the same place: a request for one would always be ambiguous"
    )]
    CollidingSchemes {
        /// The scheme added first.
        first: &'static str,
        /// The scheme added later.
        second: &'static str,
    },
    /// A scheme named by a route rule is not in the layer's set.
    #[error("the scheme {id:?} named by a route rule is not in the layer's set")]
    UnknownScheme {
        /// The id named (its first 64 characters).
        id: String,
    },
}
