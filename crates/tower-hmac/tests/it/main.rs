//! The integration tests of `tower-hmac`: one test binary, one module per suite.
//!
//! The tests run in parallel in one process, so none relies on what a process holds once: logs
//! are read through `common::capture` (one global subscriber, each test seeing only its own
//! thread's events), the tests that watch a registry file take turns (`SIGHUP` reaches every
//! watcher), every listener keeps the port the OS gave it, and each test's files are its own.

mod common;

mod audit;
mod caching;
mod client;
mod docs;
mod layer;
mod logging;
mod observers;
mod policy;
#[cfg(feature = "watch")]
mod reload;
#[cfg(feature = "watch")]
mod reload_audit;
mod schemes;
#[cfg(all(feature = "axum", feature = "toml"))]
mod scopes;
mod shared_policy;
#[cfg(feature = "axum")]
mod skip;
mod store_warning;
