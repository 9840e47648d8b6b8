//! The refresh itself: RFC 6749 §6 (`grant_type=refresh_token`) through the `oauth2` crate, over
//! the delegation's reqwest client, and what its answer means.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use oauth2::basic::BasicErrorResponseType;
use oauth2::{
    AsyncHttpClient, HttpRequest, HttpResponse, RefreshToken, RequestTokenError, TokenResponse,
};
use zeroize::Zeroizing;

use super::upstream::Upstream;

/// The largest token endpoint answer read, bytes.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// What a successful refresh returned.
pub(crate) struct Refreshed {
    pub(crate) access_token: Zeroizing<String>,
    pub(crate) refresh_token: Option<Zeroizing<String>>,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) scopes: Option<Vec<String>>,
}

/// Why a refresh did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The token endpoint refused it (a 4xx): the refresh token is no good. The reason is the
    /// RFC 6749 §5.2 error code, or `token_endpoint_refused`.
    Refused(&'static str),
    /// The token endpoint did not answer usefully (5xx, 3xx, timeout, connection, an
    /// unreadable success): try again later.
    Unavailable(&'static str, Option<TokenHttpError>),
}

/// Exchanges `refresh_token` at `upstream`'s token endpoint.
pub(crate) async fn exchange(
    http: &reqwest::Client,
    upstream: &Upstream,
    refresh_token: &str,
) -> Result<Refreshed, Failure> {
    let client = TokenHttp {
        http,
        status: AtomicU16::new(0),
    };
    let refresh_token = RefreshToken::new(refresh_token.to_owned());
    let result = upstream
        .oauth()
        .exchange_refresh_token(&refresh_token)
        .request_async(&client)
        .await;
    let status = client.status.load(Ordering::SeqCst);
    match result {
        // RFC 6749 §7.1: a token of a type the client does not understand is not used (a `mac`
        // token sent as a bearer token would be refused, or worse, accepted).
        Ok(answer) if !is_bearer(answer.token_type()) => {
            Err(Failure::Unavailable("unsupported_token_type", None))
        }
        Ok(answer) => Ok(Refreshed {
            access_token: Zeroizing::new(answer.access_token().secret().clone()),
            refresh_token: answer
                .refresh_token()
                .map(|t| Zeroizing::new(t.secret().clone())),
            expires_in: answer.expires_in(),
            scopes: answer
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect()),
        }),
        // Only a 4xx reaches oauth2 as an error answer: a 5xx or a 3xx is a transport error of
        // `TokenHttp`.
        Err(RequestTokenError::ServerResponse(answer)) => {
            Err(Failure::Refused(match answer.error() {
                BasicErrorResponseType::InvalidGrant => "invalid_grant",
                BasicErrorResponseType::InvalidClient => "invalid_client",
                BasicErrorResponseType::InvalidRequest => "invalid_request",
                BasicErrorResponseType::InvalidScope => "invalid_scope",
                BasicErrorResponseType::UnauthorizedClient => "unauthorized_client",
                BasicErrorResponseType::UnsupportedGrantType => "unsupported_grant_type",
                BasicErrorResponseType::Extension(_) => "token_endpoint_refused",
            }))
        }
        Err(RequestTokenError::Request(e)) => {
            Err(Failure::Unavailable("token_endpoint_unavailable", Some(e)))
        }
        // A 4xx without a §5.2 body is still a refusal; an unreadable 200 is not (the refresh
        // token may still be good). The body is never kept: it may hold tokens.
        Err(RequestTokenError::Parse(..) | RequestTokenError::Other(_)) => {
            if (400..500).contains(&status) {
                Err(Failure::Refused("token_endpoint_refused"))
            } else {
                Err(Failure::Unavailable("invalid_token_response", None))
            }
        }
    }
}

fn is_bearer(token_type: &oauth2::basic::BasicTokenType) -> bool {
    match token_type {
        oauth2::basic::BasicTokenType::Bearer => true,
        oauth2::basic::BasicTokenType::Extension(name) => name.eq_ignore_ascii_case("bearer"),
        _ => false,
    }
}

/// The token endpoint could not be reached or did not answer with a 2xx or a 4xx. Never the
/// request (it holds the refresh token and the client secret) nor the answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenHttpError {
    /// It answered with this status.
    #[error("token endpoint answered {0}")]
    Status(u16),
    /// Its answer was too large.
    #[error("token endpoint answer too large")]
    TooLarge,
    /// No answer.
    #[error("token endpoint unreachable")]
    Transport(#[source] reqwest::Error),
}

/// `oauth2`'s HTTP client over the delegation's reqwest client (redirects off): records the
/// status, turns every answer that is neither 2xx nor 4xx into an error.
struct TokenHttp<'a> {
    http: &'a reqwest::Client,
    status: AtomicU16,
}

impl<'c> AsyncHttpClient<'c> for TokenHttp<'_> {
    type Error = TokenHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TokenHttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let mut request =
                reqwest::Request::try_from(request).map_err(TokenHttpError::Transport)?;
            if let Some(auth) = request.headers_mut().get_mut(http::header::AUTHORIZATION) {
                auth.set_sensitive(true);
            }
            let mut response = self
                .http
                .execute(request)
                .await
                .map_err(TokenHttpError::Transport)?;
            let status = response.status();
            self.status.store(status.as_u16(), Ordering::SeqCst);
            if !(status.is_success() || status.is_client_error()) {
                return Err(TokenHttpError::Status(status.as_u16()));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(TokenHttpError::Transport)? {
                if body.len() + chunk.len() > MAX_TOKEN_RESPONSE {
                    return Err(TokenHttpError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            let mut answer = http::Response::new(body);
            *answer.status_mut() = status;
            *answer.headers_mut() = response.headers().clone();
            Ok(answer)
        })
    }
}
