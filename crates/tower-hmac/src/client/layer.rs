use tower::Layer;

use super::service::SignRequest;
use super::signer::RequestSigner;

/// Signs every request of the service it wraps (any Tower HTTP client: hyper-util's, or another
/// layer stack), and recovers from a skewed clock.
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_hmac::SecretKey;
/// use tower_hmac::client::{RequestSigner, SignRequestLayer};
///
/// let key = SecretKey::from_base64("c2VjcmV0LWtleS1vZi1hdC1sZWFzdC0zMi1ieXRlcyEhIQ==").unwrap();
/// let signer = RequestSigner::new("backoffice-2026", key).unwrap();
/// let layer = SignRequestLayer::new(signer);
/// # let _ = ServiceBuilder::new().layer(layer);
/// ```
#[derive(Debug, Clone)]
pub struct SignRequestLayer {
    signer: RequestSigner,
}

impl SignRequestLayer {
    /// A layer that signs with `signer`.
    pub fn new(signer: RequestSigner) -> Self {
        Self { signer }
    }

    /// The signer (to read its learned clock offset).
    pub fn signer(&self) -> &RequestSigner {
        &self.signer
    }
}

impl<S> Layer<S> for SignRequestLayer {
    type Service = SignRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SignRequest::new(inner, self.signer.clone())
    }
}
