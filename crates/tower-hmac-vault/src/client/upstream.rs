//! An upstream's settings: where its API and its token endpoint are, who we are to it, when to
//! refresh; HTTPS enforced.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, EndpointNotSet, EndpointSet, TokenUrl};
use url::Url;
use zeroize::Zeroizing;

use super::error::ConfigError;
use crate::MAX_USER_LEN;

/// How long before its expiry the background refresher renews an access token: 30 minutes.
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(30 * 60);

/// The OAuth 2 client of one upstream's token endpoint (only the token endpoint is set).
pub(crate) type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// One upstream API the service calls on its users' behalf: its name in the vault, the base
/// URL its requests must stay under, its token endpoint, our OAuth 2 client id (and secret), and
/// when to refresh. Built by [`Upstream::builder`]; every URL must be `https://` (`http://` to a
/// loopback address only with [`UpstreamBuilder::allow_insecure_loopback`]).
///
/// `Debug` never shows the client secret.
#[derive(Clone)]
pub struct Upstream {
    name: String,
    base: Url,
    token_url: Url,
    client_id: String,
    has_secret: bool,
    refresh_before: Duration,
    insecure_loopback: bool,
    oauth: TokenClient,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("base_url", &self.base.as_str())
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.has_secret.then_some("[redacted]"))
            .field("refresh_before", &self.refresh_before)
            .field("insecure_loopback", &self.insecure_loopback)
            .finish()
    }
}

impl Upstream {
    /// Settings for the upstream the vault knows as `name`, whose API is under `base_url`,
    /// whose token endpoint is `token_url`, where we are the OAuth 2 client `client_id`.
    /// Checked by [`UpstreamBuilder::build`].
    pub fn builder(
        name: impl Into<String>,
        base_url: impl Into<String>,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> UpstreamBuilder {
        UpstreamBuilder {
            name: name.into(),
            base_url: base_url.into(),
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: None,
            refresh_before: DEFAULT_REFRESH_BEFORE,
            insecure_loopback: false,
        }
    }

    /// The upstream's name in the vault.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The base URL every request on a user's behalf must stay under.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// Our OAuth 2 client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// How long before expiry the background refresher renews a token.
    pub fn refresh_before(&self) -> Duration {
        self.refresh_before
    }

    /// Whether `http://` to loopback is allowed (development only).
    pub fn allows_insecure_loopback(&self) -> bool {
        self.insecure_loopback
    }

    pub(crate) fn oauth(&self) -> &TokenClient {
        &self.oauth
    }

    /// Whether `url` is under the base URL: same scheme, host and port, a path at or below the
    /// base path, no user name or password.
    pub fn covers(&self, url: &Url) -> bool {
        let base = &self.base;
        if url.scheme() != base.scheme()
            || url.host_str() != base.host_str()
            || url.port_or_known_default() != base.port_or_known_default()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return false;
        }
        let prefix = base.path();
        let path = url.path();
        // The base path ends with '/' (see `build`); the base itself without it is covered too.
        path.starts_with(prefix) || path == prefix.trim_end_matches('/')
    }
}

/// Builds an [`Upstream`]; see [`Upstream::builder`].
pub struct UpstreamBuilder {
    name: String,
    base_url: String,
    token_url: String,
    client_id: String,
    client_secret: Option<Zeroizing<String>>,
    refresh_before: Duration,
    insecure_loopback: bool,
}

impl fmt::Debug for UpstreamBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamBuilder")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("refresh_before", &self.refresh_before)
            .field("insecure_loopback", &self.insecure_loopback)
            .finish()
    }
}

impl UpstreamBuilder {
    /// Our OAuth 2 client secret at the token endpoint (sent with HTTP Basic authentication,
    /// RFC 6749 §2.3.1). Never shown by `Debug`. Without one, the client id goes in the body (a
    /// public client).
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(Zeroizing::new(secret.into()));
        self
    }

    /// How long before its expiry the background refresher renews an access token (default
    /// [`DEFAULT_REFRESH_BEFORE`], 30 minutes).
    pub fn refresh_before(mut self, before: Duration) -> Self {
        self.refresh_before = before;
        self
    }

    /// **Development only, weakens security:** accepts `http://` URLs whose host is a loopback
    /// address (`127.0.0.0/8`, `::1`, `localhost`), so that a local upstream can be tried
    /// without TLS. Any other `http://` URL is refused even so. Off by default.
    pub fn allow_insecure_loopback(mut self, allow: bool) -> Self {
        self.insecure_loopback = allow;
        self
    }

    /// The checked settings: a valid name, `https://` URLs without user info, query or
    /// fragment (or loopback `http://` if allowed), a non-empty client id.
    pub fn build(self) -> Result<Upstream, ConfigError> {
        if !crate::vault::is_upstream_name(&self.name) {
            return Err(ConfigError::InvalidName);
        }
        if self.client_id.is_empty() || self.client_id.len() > MAX_USER_LEN {
            return Err(ConfigError::InvalidClientId);
        }
        let mut base = checked_url(&self.base_url, "base_url", self.insecure_loopback)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let token_url = checked_url(&self.token_url, "token_url", self.insecure_loopback)?;
        let mut oauth = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri(TokenUrl::from_url(token_url.clone()));
        let has_secret = self.client_secret.is_some();
        if let Some(secret) = &self.client_secret {
            oauth = oauth.set_client_secret(ClientSecret::new(secret.to_string()));
        }
        Ok(Upstream {
            name: self.name,
            base,
            token_url,
            client_id: self.client_id,
            has_secret,
            refresh_before: self.refresh_before,
            insecure_loopback: self.insecure_loopback,
            oauth,
        })
    }
}

fn checked_url(text: &str, which: &'static str, loopback: bool) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|_| ConfigError::InvalidUrl { which })?;
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || url.host().is_none()
    {
        return Err(ConfigError::InvalidUrl { which });
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback && is_loopback(&url) => Ok(url),
        _ => Err(ConfigError::InsecureUrl { which }),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(base: &str) -> Upstream {
        Upstream::builder("up", base, "https://auth.example/token", "client")
            .build()
            .unwrap()
    }

    #[test]
    fn covers_only_paths_under_the_base() {
        let up = up("https://api.example/v1");
        let yes = [
            "https://api.example/v1",
            "https://api.example/v1/me",
            "https://API.example:443/v1/a?b",
        ];
        for url in yes {
            assert!(up.covers(&Url::parse(url).unwrap()), "{url}");
        }
        let no = [
            "https://api.example/v1x",
            "https://api.example/v2/me",
            "https://api.example/v1/../v2",
            "https://api.example/v1/%2e%2e/v2",
            "http://api.example/v1/me",
            "https://api.example:8443/v1/me",
            "https://api.example.evil/v1/me",
            "https://user:pw@api.example/v1/me",
        ];
        for url in no {
            assert!(!up.covers(&Url::parse(url).unwrap()), "{url}");
        }
    }

    #[test]
    fn a_base_url_with_query_or_credentials_is_refused() {
        for base in [
            "https://u:p@api.example/",
            "https://api.example/?a=b",
            "https://api.example/#f",
            "nonsense",
        ] {
            let err = Upstream::builder("up", base, "https://auth.example/token", "c")
                .build()
                .unwrap_err();
            assert_eq!(err.code(), "invalid_upstream_url", "{base}");
        }
    }

    #[test]
    fn a_bad_name_or_client_id_is_refused() {
        let err = Upstream::builder("a b", "https://a.example", "https://a.example/t", "c")
            .build()
            .unwrap_err();
        assert_eq!(err.code(), "invalid_upstream");
        let err = Upstream::builder("ab", "https://a.example", "https://a.example/t", "")
            .build()
            .unwrap_err();
        assert_eq!(err.code(), "invalid_client_id");
    }
}
