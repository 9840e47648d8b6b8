//! Issue 24's red-team findings, over TCP against the demo binary: one module per finding.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

#[path = "../common/mod.rs"]
mod common;

mod diagnostics;
mod lockout;
mod metrics;
mod postgres;
mod registry_file;
mod session_faults;
mod sessions;
mod sigv4;
mod softaware;
mod startup;
mod stripe;
mod webhooks;
