//! A crate that depends on `tower-hmac` alone, as a user's would. The workspace README's code is
//! compiled here as doctests, so an example that needs anything a user does not have (the
//! `tower-hmac-core` crate, a private item) fails `cargo test --workspace`.

/// The workspace README's code.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// docs/DEPLOYMENT.md's code.
#[doc = include_str!("../../../docs/DEPLOYMENT.md")]
#[cfg(doctest)]
pub struct DeploymentDoctests;

/// docs/MIGRATING.md's code.
#[doc = include_str!("../../../docs/MIGRATING.md")]
#[cfg(doctest)]
pub struct MigratingDoctests;
