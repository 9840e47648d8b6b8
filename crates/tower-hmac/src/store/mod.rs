//! Nonce stores that live in this process.
//!
//! [`MemoryNonceStore`] is the default: compact, sharded, without housekeeping stalls, sized by a
//! memory budget, with a fair share per key. [`MokaNonceStore`] keeps the replay guarantees on the
//! moka cache; `docs/PERFORMANCE.md` compares the two.
//!
//! Both know when their memory begins (the process start): a request that may have been signed
//! before then is answered [`NonceOutcome::BeforeHorizon`](crate::protocol::NonceOutcome), which
//! the layer turns into `stale_timestamp`, so a request captured before a restart cannot be
//! replayed after it.
//!
#![cfg_attr(feature = "moka", doc = "[`MokaNonceStore`]: MokaNonceStore")]
#![cfg_attr(not(feature = "moka"), doc = "[`MokaNonceStore`]: crate#features")]

mod horizon;
mod memory;
#[cfg(feature = "moka")]
mod moka;

pub use self::memory::{DEFAULT_KEY_SHARE_PERCENT, DEFAULT_MEMORY_BUDGET, MemoryNonceStore};
#[cfg(feature = "moka")]
pub use self::moka::MokaNonceStore;
pub use tower_hmac_core::{
    NonceLifetime, NonceOutcome, NonceStore, NonceStoreError, NonceStoreErrorKind, StoreFuture,
    unix_millis,
};
