//! Issue 24's and 25's red-team findings, over TCP against the demo: one module per finding.

mod diagnostics;
mod lockout;
mod metrics;
mod postgres;
mod registry_file;
mod session_faults;
mod sessions;
pub(crate) mod sigv4;
mod softaware;
mod startup;
mod stripe;
mod webhooks;
