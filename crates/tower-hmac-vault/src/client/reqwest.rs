//! [`DelegationMiddleware`]: the delegating client as a `reqwest-middleware` middleware.

use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use super::delegation::Delegation;
use super::on_behalf::OnBehalfOf;

/// A [`reqwest_middleware`] middleware that sends each request marked with an [`OnBehalfOf`]
/// (in the middleware extensions) with that user's token: refused locally, as a
/// [`DelegationError`](super::DelegationError) inside `reqwest_middleware::Error::Middleware`
/// (see [`DelegationError::from_middleware`](super::DelegationError::from_middleware)), when a
/// scope is missing or the destination is not under the upstream's base URL; on `401`, one
/// single-flight refresh and one retry.
///
/// The retry needs the request again (`reqwest::Request::try_clone`): a request whose body is
/// a stream is sent once; on `401` the token is still refreshed for the next request, and the
/// `401` returned. A request without an `OnBehalfOf` passes through untouched.
///
/// A request carrying a token is sent with the delegation's own HTTP client
/// ([`Delegation::http_client`]: redirects off), not with the client this middleware wraps nor
/// through the middlewares after it: a client that follows redirects (reqwest's default) would
/// carry the token outside the upstream's base URL (a same-origin redirect keeps the
/// `Authorization` header). A redirect is passed back to the caller.
///
/// ```
/// # fn run(delegation: tower_hmac_vault::client::Delegation) {
/// use tower_hmac_vault::client::{DelegationMiddleware, OnBehalfOf};
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(DelegationMiddleware::new(delegation))
///     .build();
/// let request = client
///     .get("https://api.github.com/user")
///     .with_extension(OnBehalfOf::new("alice", "github", ["read:user"]));
/// # let _ = request; }
/// ```
#[derive(Debug, Clone)]
pub struct DelegationMiddleware {
    delegation: Delegation,
}

impl DelegationMiddleware {
    /// A middleware over `delegation`.
    pub fn new(delegation: Delegation) -> Self {
        Self { delegation }
    }
}

#[async_trait::async_trait]
impl Middleware for DelegationMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let Some(on) = extensions.get::<OnBehalfOf>().cloned() else {
            return next.run(req, extensions).await;
        };
        let auth = self
            .delegation
            .authorize(&on, Some(req.url()))
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        let header = auth
            .header()
            .map_err(reqwest_middleware::Error::middleware)?;
        req.headers_mut()
            .insert(http::header::AUTHORIZATION, header);
        // Not `next`: its client may follow redirects, with the token (see above).
        let client = self.delegation.http_client();
        let retry = req.try_clone();
        let res = client.execute(req).await?;
        if res.status() != http::StatusCode::UNAUTHORIZED {
            return Ok(res);
        }
        let auth = self
            .delegation
            .reauthorize(auth)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        let Some(mut again) = retry else {
            return Ok(res);
        };
        drop(res);
        let header = auth
            .header()
            .map_err(reqwest_middleware::Error::middleware)?;
        again
            .headers_mut()
            .insert(http::header::AUTHORIZATION, header);
        Ok(client.execute(again).await?)
    }
}
