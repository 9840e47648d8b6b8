//! The integration tests of `tower-hmac-core`: one test binary, one module per suite.
//!
//! A suite that needs a scheme's feature is compiled only with it; the crate's dev-dependency on
//! itself enables every feature, so a plain `cargo test -p tower-hmac-core` runs every suite.
//! Property tests keep their regression seeds in `tests/proptest-regressions/<module>.txt`
//! (proptest's default place for a test binary rooted at `tests/it/main.rs`).

#[cfg(all(feature = "kong", feature = "apisix"))]
mod gateways;
mod properties;
#[cfg(feature = "rfc9421")]
mod rfc9421;
#[cfg(feature = "sigv4")]
mod sigv4;
#[cfg(feature = "softaware")]
mod softaware;
mod vectors;
