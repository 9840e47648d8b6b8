//! Nonce stores that live in this process.

mod moka;

pub use self::moka::MokaNonceStore;
