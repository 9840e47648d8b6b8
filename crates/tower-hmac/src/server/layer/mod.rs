//! The Tower side: the layer, its builder, the service and its response future.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http_body::Body;
use tower::Layer;
use tower_hmac_core::AllowedHosts;
use tower_hmac_core::{KeyRegistry, Rejection};

mod builder;
mod decisions;
mod future;
mod service;

pub use builder::HmacAuthBuilder;
pub use future::ResponseFuture;
pub use service::HmacAuth;

use super::verify::proxy::Origin;
use super::verify::schemes::Schemes;
use super::verify::{VerifiedBody, Verifier};

/// The default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: u64 = 1024 * 1024;
/// The default time allowed for the whole body to arrive: 30 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Applies [`HmacAuth`] to a service: every request must carry a valid signature.
///
/// Cheap to clone; every clone shares one configuration and one replay store.
///
/// It verifies protocol v1 alone unless [`with_scheme`](HmacAuthBuilder::with_scheme) or
/// [`schemes`](HmacAuthBuilder::schemes) chose others: the set is a value ([`Schemes`]), chosen at
/// run time.
pub struct HmacAuthLayer {
    pub(super) config: Arc<Verifier>,
}

impl HmacAuthLayer {
    /// Starts a layer that verifies protocol v1, looks keys up in `registry`, and answers for
    /// `hosts` (an argument: without it the layer would accept requests signed for any other
    /// service that shares a key). Everything else has a secure default.
    ///
    /// Forgetting the hosts does not compile:
    ///
    /// ```compile_fail
    /// # use tower_hmac::{HmacAuthLayer, InMemoryRegistry};
    /// let layer = HmacAuthLayer::builder(InMemoryRegistry::new()).build();
    /// ```
    pub fn builder(registry: impl KeyRegistry, hosts: AllowedHosts) -> HmacAuthBuilder {
        HmacAuthBuilder::new(Schemes::v1(), registry, hosts)
    }

    /// Verifies one request as the service would, without calling an inner service: on success the
    /// request (with its body read, and [`Authenticated`](crate::Authenticated) in its extensions).
    pub async fn verify<B>(&self, request: Request<B>) -> Result<Request<VerifiedBody>, Rejection>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let origin = Origin::of(
            request.headers(),
            request.extensions(),
            self.config.settings.proxies.as_ref(),
        );
        self.config
            .verify(request, &origin)
            .await
            .map_err(|f| f.rejection)
    }

    /// The ids of the schemes this layer verifies, in order.
    pub fn scheme_ids(&self) -> Vec<&'static str> {
        self.config.schemes.ids()
    }
}

impl Clone for HmacAuthLayer {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
        }
    }
}

impl fmt::Debug for HmacAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacAuthLayer")
            .field("config", &self.config)
            .finish()
    }
}

impl<Svc> Layer<Svc> for HmacAuthLayer {
    type Service = HmacAuth<Svc>;

    fn layer(&self, inner: Svc) -> Self::Service {
        HmacAuth::new(inner, Arc::clone(&self.config))
    }
}
