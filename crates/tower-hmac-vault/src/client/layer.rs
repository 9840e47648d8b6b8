//! [`DelegationLayer`]: the delegating client as a Tower layer.

use tower::Layer;

use super::delegation::Delegation;
use super::service::Delegated;

/// Wraps an HTTP client service (hyper-util's, or another Tower stack) so that each request
/// marked with an [`OnBehalfOf`](super::OnBehalfOf) in its extensions is sent with that user's
/// token, exactly as the [`DelegationMiddleware`](super::DelegationMiddleware) does: refused
/// locally for a missing scope or a destination outside the upstream's HTTPS base URL (the
/// request's URI must be absolute); on `401`, one single-flight refresh and one retry. The body
/// type must be `Clone` (e.g. `http_body_util::Full<Bytes>`) for the retry.
///
/// The wrapped service sends the token: it must not follow redirects (hyper-util's client does
/// not; tower-http's `FollowRedirect` would carry the token to wherever the upstream points).
///
/// ```
/// # fn run(delegation: tower_hmac_vault::client::Delegation) {
/// use tower::ServiceBuilder;
/// use tower_hmac_vault::client::DelegationLayer;
///
/// let layer = DelegationLayer::new(delegation);
/// # let _ = ServiceBuilder::new().layer(layer);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DelegationLayer {
    delegation: Delegation,
}

impl DelegationLayer {
    /// A layer over `delegation`.
    pub fn new(delegation: Delegation) -> Self {
        Self { delegation }
    }
}

impl<S> Layer<S> for DelegationLayer {
    type Service = Delegated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Delegated::new(inner, self.delegation.clone())
    }
}
