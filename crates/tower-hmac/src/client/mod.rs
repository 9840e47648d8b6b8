//! The signing side: a Tower layer for any HTTP client and, with the `reqwest` feature, a
//! `reqwest-middleware` middleware.
//!
//! Both take a [`RequestSigner`] — the key, the headers to sign, the body limit — and behave the
//! same: sign with protocol v1 (a fresh nonce per request, `host` and `content-type` always
//! signed), send, and on `401 stale_timestamp` whose server time verifies with the key (`tsm`),
//! store the offset ([`ClockOffset`]) and retry once. An unverifiable time is ignored.
//!
//! With hyper-util's client:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use tower_hmac::SecretKey;
//! use tower_hmac::client::{RequestSigner, SignRequestLayer};
//!
//! let key = SecretKey::from_base64(&std::env::var("TOWER_HMAC_SECRET")?)?;
//! let hyper = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
//! let mut client = ServiceBuilder::new()
//!     .layer(SignRequestLayer::new(RequestSigner::new("backoffice-2026", key)?))
//!     .service(hyper);
//!
//! let req = http::Request::get("http://127.0.0.1:8080/whoami").body(Full::<Bytes>::default())?;
//! let res = ServiceExt::<http::Request<Full<Bytes>>>::ready(&mut client).await?.call(req).await?;
//! # Ok(()) }
//! ```

mod future;
mod layer;
#[cfg(feature = "reqwest")]
mod reqwest;
mod service;
mod signer;

pub use future::ResponseFuture;
pub use layer::SignRequestLayer;
#[cfg(feature = "reqwest")]
pub use reqwest::SigningMiddleware;
pub use service::SignRequest;
pub use signer::{
    ClockOffset, DEFAULT_CLIENT_BODY_LIMIT, DEFAULT_MAX_CLOCK_OFFSET, RequestSigner,
    SignRequestError, Signed,
};
