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
/// `Authorization` header). A redirect is passed back to the caller. So the wrapped client's
/// settings (user agent, default headers, proxy, timeout) do not apply to such a request: the
/// delegation's do ([`DelegationBuilder::user_agent`](super::DelegationBuilder::user_agent),
/// [`timeout`](super::DelegationBuilder::timeout)). A transport error comes back as the
/// `upstream_unavailable` [`DelegationError`](super::DelegationError), without the URL, as from
/// [`Delegation::send`](super::Delegation::send): both are one path.
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
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let Some(on) = extensions.get::<OnBehalfOf>() else {
            return next.run(req, extensions).await;
        };
        // Not `next`: its client may follow redirects, with the token (see above).
        self.delegation
            .execute(on, req)
            .await
            .map_err(reqwest_middleware::Error::middleware)
    }
}
