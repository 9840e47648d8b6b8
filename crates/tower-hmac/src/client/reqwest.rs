use http::Extensions;
use reqwest_middleware::{Middleware, Next};
use tower_hmac_core::body_sha256;

use super::signer::{RequestSigner, SignRequestError, Signed};

/// A [`reqwest_middleware`] middleware that signs every request and recovers from a skewed clock
/// exactly as [`SignRequestLayer`](super::SignRequestLayer) does.
///
/// ```
/// use tower_hmac::SecretKey;
/// use tower_hmac::client::{SigningMiddleware, RequestSigner};
///
/// let key = SecretKey::from_base64("c2VjcmV0LWtleS1vZi1hdC1sZWFzdC0zMi1ieXRlcyEhIQ==").unwrap();
/// let signer = RequestSigner::new("backoffice-2026", key).unwrap();
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(SigningMiddleware::new(signer))
///     .build();
/// ```
///
/// Bodies must be bytes (not streams) so they can be hashed and, for the retry, sent again.
#[derive(Debug, Clone)]
pub struct SigningMiddleware {
    signer: RequestSigner,
}

impl SigningMiddleware {
    /// A middleware that signs with `signer`.
    pub fn new(signer: RequestSigner) -> Self {
        Self { signer }
    }

    /// The signer (to read its learned clock offset).
    pub fn signer(&self) -> &RequestSigner {
        &self.signer
    }

    fn sign(
        &self,
        req: &mut reqwest::Request,
        hash: &[u8; 32],
    ) -> Result<Signed, SignRequestError> {
        let mut url = req.url().clone();
        url.set_fragment(None);
        let uri: http::Uri = url.as_str().parse().map_err(|_| {
            SignRequestError::Sign(tower_hmac_core::SignError::MissingHeader("host".into()))
        })?;
        let method = req.method().clone();
        self.signer.sign(&method, &uri, req.headers_mut(), hash)
    }
}

fn body_hash(req: &reqwest::Request, limit: u64) -> Result<[u8; 32], SignRequestError> {
    let bytes = match req.body() {
        None => &[][..],
        Some(body) => body.as_bytes().ok_or(SignRequestError::StreamingBody)?,
    };
    if bytes.len() as u64 > limit {
        return Err(SignRequestError::BodyTooLarge { limit });
    }
    Ok(body_sha256(bytes))
}

#[async_trait::async_trait]
impl Middleware for SigningMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let hash = body_hash(&req, self.signer.body_limit_bytes())
            .map_err(reqwest_middleware::Error::middleware)?;
        let signed = self
            .sign(&mut req, &hash)
            .map_err(reqwest_middleware::Error::middleware)?;
        let retry = if self.signer.retries() {
            req.try_clone()
        } else {
            None
        };
        let res = next.clone().run(req, extensions).await?;
        let Some(mut again) = retry else {
            return Ok(res);
        };
        if !self.signer.learn_from(res.status(), res.headers(), &signed) {
            return Ok(res);
        }
        drop(res);
        self.sign(&mut again, &hash)
            .map_err(reqwest_middleware::Error::middleware)?;
        next.run(again, extensions).await
    }
}
