//! Nonce stores that live in this process.
//!
//! [`MemoryNonceStore`] is the default: compact, sharded, without housekeeping stalls.
//! [`MokaNonceStore`] keeps the same guarantees on the moka cache; `docs/PERFORMANCE.md` compares
//! the two.

mod memory;
mod moka;

pub use self::memory::MemoryNonceStore;
pub use self::moka::MokaNonceStore;
