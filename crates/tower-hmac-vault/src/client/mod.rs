//! The delegating client (feature `client`): requests made on a user's behalf to an upstream
//! API carry that user's token from the [`Vault`](crate::Vault), refused locally when the user
//! did not grant the action's scopes or the destination is not under the upstream's HTTPS base
//! URL (both audited as `DELEGATION_REFUSED`), refreshed single-flight per (user, upstream) on a
//! `401` and retried once, renewed in the background before they expire.
//!
//! The refresh speaks RFC 6749 §6 (`grant_type=refresh_token`) through the `oauth2` crate. The
//! new access token and the rotated refresh token (or the old one, if none came back) are
//! stored in one compare-and-set ([`Vault::replace`](crate::Vault::replace)): `TOKEN_REFRESHED`.
//! A refresh the token endpoint refuses (`invalid_grant`, any 4xx) revokes what the vault holds
//! for the user and upstream and emits `TOKEN_REFRESH_FAILED` (high risk); the caller gets
//! `refresh_failed` (answer the end user 401: they must link the upstream again). A token
//! endpoint that is down (5xx, timeout) revokes nothing: `upstream_unavailable`.
//!
//! With reqwest (the default settings: HTTPS only, refresh 30 minutes before expiry):
//!
//! ```no_run
//! # async fn run(vault: std::sync::Arc<tower_hmac_vault::Vault>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use tower_hmac_vault::client::{Delegation, DelegationError, DelegationMiddleware, OnBehalfOf, Upstream};
//!
//! let github = Upstream::builder(
//!     "github",
//!     "https://api.github.com/",
//!     "https://github.com/login/oauth/access_token",
//!     std::env::var("GITHUB_CLIENT_ID")?,
//! )
//! .client_secret(std::env::var("GITHUB_CLIENT_SECRET")?)
//! .build()?;
//! let delegation = Delegation::builder(vault).upstream(github).build()?;
//! let _refresher = delegation.spawn_refresher(std::time::Duration::from_secs(60));
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(DelegationMiddleware::new(delegation))
//!     .build();
//! match client
//!     .get("https://api.github.com/user")
//!     .with_extension(OnBehalfOf::new("alice", "github", ["read:user"]))
//!     .send()
//!     .await
//! {
//!     Ok(response) => println!("{}", response.status()),
//!     Err(e) => match DelegationError::from_middleware(&e) {
//!         Some(refused) => println!("{} -> {}", refused.code(), refused.status()),
//!         None => return Err(e.into()),
//!     },
//! }
//! # Ok(()) }
//! ```
//!
//! Customised: a local upstream over plain HTTP during development (**weakens security**: only
//! loopback addresses are accepted), refreshed 5 minutes before expiry, sent with
//! [`Delegation::send`]:
//!
//! ```no_run
//! # async fn run(vault: std::sync::Arc<tower_hmac_vault::Vault>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use std::time::Duration;
//! use tower_hmac_vault::client::{Delegation, Upstream};
//!
//! let local = Upstream::builder("local", "http://127.0.0.1:8081/", "http://127.0.0.1:8081/token", "demo")
//!     .allow_insecure_loopback(true)
//!     .refresh_before(Duration::from_secs(300))
//!     .build()?;
//! let delegation = Delegation::builder(vault).upstream(local).build()?;
//! let request = delegation.http_client().get("http://127.0.0.1:8081/me").build()?;
//! let response = delegation.send("alice", "local", &["profile"], request).await?;
//! # let _ = response; Ok(()) }
//! ```
//!
//! For hyper or another Tower client, [`DelegationLayer`] does the same with the `OnBehalfOf`
//! in the `http::Request`'s extensions.

mod delegation;
mod error;
mod flight;
mod future;
mod layer;
mod on_behalf;
mod refresh;
mod refresher;
mod reqwest;
mod service;
mod upstream;

pub use delegation::{
    ASSUMED_TOKEN_LIFETIME, DEFAULT_REFRESH_BATCH, DEFAULT_SEND_MARGIN, DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT, Delegation, DelegationBuilder, FAILED_REFRESH_HOLD, MAX_TOKEN_LIFETIME,
};
pub use error::{ConfigError, DelegationError, DelegationErrorKind};
pub use future::ResponseFuture;
pub use layer::DelegationLayer;
pub use on_behalf::OnBehalfOf;
pub use refresher::RefreshRound;
pub use reqwest::DelegationMiddleware;
pub use service::Delegated;
pub use upstream::{DEFAULT_REFRESH_BEFORE, Upstream, UpstreamBuilder};
