//! The demo server's integration tests, in one test binary: over real TCP, against the demo
//! binary where the binary itself is the subject (its environment, its startup text, its
//! metrics, its logs, a signal), and against the demo's routes and layer served in this process
//! on a clock the test controls where the time matters (a window's edge, a restart, clients
//! that sign with the machine's clock). No test waits for time to pass.
//!
//! Each test is independent of which others run beside it: no process-wide recorder, subscriber
//! or environment variable is set here, and every Redis prefix, PostgreSQL schema and file is
//! the test's own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;
mod delegation;

mod gateways;
mod key_lifecycle;
mod metrics;
mod multi_instance;
mod oauth_refresh;
mod one_layer;
mod policy;
mod postgres_registry;
mod red_team;
mod review_fixes;
mod rfc9421;
mod scale_out;
mod scopes;
mod sessions;
mod sigv4;
mod softaware;
mod startup_text;
mod token;
mod webhooks;
