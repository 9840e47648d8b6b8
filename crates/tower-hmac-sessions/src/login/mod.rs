//! Login protection: [`LoginGuard`] runs the password check on the blocking pool with bounded
//! concurrency and throttles failed logins per client address and per (user name, address) —
//! never per name alone, so nobody can lock another user out — with a high-risk alert when one
//! name fails from many addresses.
//!
//! The default:
//!
//! ```
//! # use tower_hmac_sessions::{LoginGuard, LoginLimits};
//! let guard = LoginGuard::new(LoginLimits::new()).unwrap();
//! # let _ = guard;
//! ```
//!
//! Customised: 3 failures per pair and 10 per address in 10 minutes, 2 hashes at once, alerts
//! to a channel:
//!
//! ```
//! # use std::time::Duration;
//! # use tower_hmac_sessions::{LoginAlert, LoginGuard, LoginLimits};
//! // Bounded: a full channel drops an alert rather than block a login or grow without end.
//! let (alerts, _rx) = std::sync::mpsc::sync_channel::<LoginAlert>(64);
//! let guard = LoginGuard::new(
//!     LoginLimits::new()
//!         .failures(3, 10, Duration::from_secs(600))
//!         .checks(2, 32),
//! )
//! .unwrap()
//! .alert_hook(move |alert: LoginAlert| {
//!     let _ = alerts.try_send(alert);
//! });
//! # let _ = guard;
//! ```

mod guard;
#[cfg(feature = "shared-throttle")]
mod shared;
#[cfg(all(test, feature = "shared-throttle"))]
mod shared_tests;
mod throttle;

pub use guard::{
    LoginAlert, LoginAlertHook, LoginGuard, LoginLimits, LoginLimitsError, LoginRefusal,
};
