//! [`Delegation`]: the vault, the upstreams, one HTTP client, and the single-flight refresh.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use subtle::ConstantTimeEq;
use tower_hmac_core::audit::{AuditEvent, AuditKind};
use url::Url;
use zeroize::Zeroizing;

use super::error::{ConfigError, DelegationError, DelegationErrorKind};
use super::flight::Flights;
use super::on_behalf::OnBehalfOf;
use super::refresh::{self, Failure};
use super::upstream::Upstream;
use crate::{DelegatedTokens, Entry, TRACING_TARGET, UserHash, Vault, VaultError};

/// The delegation's default `User-Agent`: this crate and its version.
pub const DEFAULT_USER_AGENT: &str = concat!("tower-hmac-vault/", env!("CARGO_PKG_VERSION"));

/// How long the HTTP client waits for a request (token endpoint included): 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// An access token that expires within this is refreshed before it is sent: 10 seconds.
pub const DEFAULT_SEND_MARGIN: Duration = Duration::from_secs(10);
/// How many expiring records the background refresher takes per round: 100.
pub const DEFAULT_REFRESH_BATCH: usize = 100;
/// The lifetime assumed for an access token whose token endpoint answer has no `expires_in`:
/// 1 hour (a `401` refreshes it earlier).
pub const ASSUMED_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The longest `expires_in` believed from a token endpoint: 366 days (a longer one, or one that
/// overflows, would put the token beyond any refresh before expiry).
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(366 * 86_400);
/// How long after a refresh the token endpoint did not answer usefully (5xx, timeout, an
/// unusable answer) the requests for the same record are answered `upstream_unavailable`
/// without another try: 5 s. The requests queued behind a hanging refresh share its failure
/// instead of each waiting for and retrying the same refresh token in turn.
pub const FAILED_REFRESH_HOLD: Duration = Duration::from_secs(5);

/// The delegating client's shared state: the [`Vault`], the [`Upstream`]s, one HTTP client
/// (redirects off), and a lock per (user, upstream) so that one refresh runs at a time for each.
/// Cheap to clone (an `Arc`); used by the [`DelegationMiddleware`](super::DelegationMiddleware),
/// the [`DelegationLayer`](super::DelegationLayer), [`send`](Self::send) and the background
/// refresher alike, so all of them share the single flight.
///
/// `Debug` shows no token and no client secret.
#[derive(Clone)]
pub struct Delegation {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) vault: Arc<Vault>,
    pub(super) upstreams: HashMap<String, Upstream>,
    pub(super) http: reqwest::Client,
    pub(super) flights: Flights,
    pub(super) send_margin: Duration,
    pub(super) refresh_batch: usize,
    /// Where the background refresher's last round stopped (`None`: at the end).
    pub(super) refresh_cursor: std::sync::Mutex<Option<crate::store::Expiring>>,
}

impl fmt::Debug for Delegation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut upstreams: Vec<&Upstream> = self.inner.upstreams.values().collect();
        upstreams.sort_by(|a, b| a.name().cmp(b.name()));
        f.debug_struct("Delegation")
            .field("vault", &self.inner.vault)
            .field("upstreams", &upstreams)
            .field("send_margin", &self.inner.send_margin)
            .field("refresh_batch", &self.inner.refresh_batch)
            .field("refreshes_in_flight", &self.inner.flights.len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Delegation`]; see [`Delegation::builder`].
#[derive(Debug)]
pub struct DelegationBuilder {
    vault: Arc<Vault>,
    upstreams: Vec<Upstream>,
    timeout: Duration,
    user_agent: String,
    send_margin: Duration,
    refresh_batch: usize,
}

impl DelegationBuilder {
    /// Adds an upstream (a name used twice is a [`ConfigError::DuplicateUpstream`]).
    pub fn upstream(mut self, upstream: Upstream) -> Self {
        self.upstreams.push(upstream);
        self
    }

    /// How long the HTTP client waits for a whole request (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` of every request the delegation sends (default [`DEFAULT_USER_AGENT`]):
    /// a token-bearing request goes out with the delegation's own client, not with the one a
    /// [`DelegationMiddleware`](super::DelegationMiddleware) wraps, so that client's user agent
    /// does not apply (some APIs, GitHub's among them, refuse a request without one). A value
    /// that is not a valid header value fails [`build`](Self::build).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// An access token that expires within `margin` is refreshed before it is sent (default
    /// [`DEFAULT_SEND_MARGIN`]).
    pub fn send_margin(mut self, margin: Duration) -> Self {
        self.send_margin = margin;
        self
    }

    /// How many expiring records the background refresher takes per round (default
    /// [`DEFAULT_REFRESH_BATCH`]).
    pub fn refresh_batch(mut self, batch: usize) -> Self {
        self.refresh_batch = batch.max(1);
        self
    }

    /// The delegation. Its HTTP client follows no redirect and, unless an upstream allows
    /// insecure loopback, speaks HTTPS only.
    pub fn build(self) -> Result<Delegation, ConfigError> {
        let mut upstreams = HashMap::with_capacity(self.upstreams.len());
        let mut insecure_loopback = false;
        for upstream in self.upstreams {
            insecure_loopback |= upstream.allows_insecure_loopback();
            let name = upstream.name().to_owned();
            if upstreams.insert(name.clone(), upstream).is_some() {
                return Err(ConfigError::DuplicateUpstream(name));
            }
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!insecure_loopback)
            .timeout(self.timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(ConfigError::HttpClient)?;
        Ok(Delegation {
            inner: Arc::new(Inner {
                vault: self.vault,
                upstreams,
                http,
                flights: Flights::default(),
                send_margin: self.send_margin,
                refresh_batch: self.refresh_batch,
                refresh_cursor: std::sync::Mutex::new(None),
            }),
        })
    }
}

/// A request cleared to leave: whose token it carries.
pub(crate) struct Authorized {
    hash: UserHash,
    upstream: String,
    scopes: Vec<String>,
    access: Zeroizing<String>,
}

impl Authorized {
    /// The `Authorization` header for it, marked sensitive.
    pub(crate) fn header(&self) -> Result<HeaderValue, DelegationError> {
        bearer(&self.access)
    }
}

/// When the vault's record must be refreshed (checked again under the key's lock).
pub(super) enum Due {
    /// The upstream refused this access token: refresh unless the vault holds another.
    Stale(Zeroizing<String>),
    /// Refresh if the access token expires within this.
    Within(Duration),
}

fn bearer(access: &str) -> Result<HeaderValue, DelegationError> {
    let mut text = Zeroizing::new(String::with_capacity(7 + access.len()));
    text.push_str("Bearer ");
    text.push_str(access);
    let mut value = HeaderValue::from_str(&text)
        .map_err(|_| DelegationError::from(crate::VaultError::InvalidTokens))?;
    value.set_sensitive(true);
    Ok(value)
}

impl Delegation {
    /// Starts a delegation over `vault` (shared with whoever links and revokes tokens).
    pub fn builder(vault: Arc<Vault>) -> DelegationBuilder {
        DelegationBuilder {
            vault,
            upstreams: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            send_margin: DEFAULT_SEND_MARGIN,
            refresh_batch: DEFAULT_REFRESH_BATCH,
        }
    }

    /// The vault.
    pub fn vault(&self) -> &Arc<Vault> {
        &self.inner.vault
    }

    /// The upstream named `name`.
    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.inner.upstreams.get(name)
    }

    /// The HTTP client (redirects off), to build requests for [`send`](Self::send).
    pub fn http_client(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// How many (user, upstream) keys have a refresh in progress or waiting; 0 when idle (a
    /// key's lock is dropped as soon as nobody holds or waits for it).
    pub fn refreshes_in_flight(&self) -> usize {
        self.inner.flights.len()
    }

    /// Sends `request` with `user`'s token for `upstream`, for an action that needs `scopes`,
    /// as the [`DelegationMiddleware`](super::DelegationMiddleware) does: refused locally for a
    /// missing scope or a destination outside the upstream's base URL; on `401`, one
    /// (single-flight) refresh and one retry (none if the body cannot be cloned: a stream).
    pub async fn send<S: AsRef<str>>(
        &self,
        user: &str,
        upstream: &str,
        scopes: &[S],
        request: reqwest::Request,
    ) -> Result<reqwest::Response, DelegationError> {
        let on = OnBehalfOf::new(user, upstream, scopes.iter().map(AsRef::as_ref));
        self.execute(&on, request).await
    }

    /// [`send`](Self::send) for an [`OnBehalfOf`] (the middleware's path too): one place that
    /// sends a token, with the delegation's client (redirects off), and keeps the URL out of a
    /// transport error.
    pub(crate) async fn execute(
        &self,
        on: &OnBehalfOf,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Response, DelegationError> {
        let auth = self.authorize(on, Some(request.url())).await?;
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, auth.header()?);
        let retry = request.try_clone();
        let unavailable = |e: reqwest::Error| {
            DelegationError::new(DelegationErrorKind::UpstreamUnavailable)
                .with_source(e.without_url())
        };
        let response = self
            .inner
            .http
            .execute(request)
            .await
            .map_err(unavailable)?;
        if response.status() != http::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let auth = self.reauthorize(auth).await?;
        let Some(mut again) = retry else {
            return Ok(response);
        };
        drop(response);
        again
            .headers_mut()
            .insert(http::header::AUTHORIZATION, auth.header()?);
        self.inner.http.execute(again).await.map_err(unavailable)
    }

    fn audit(&self, kind: AuditKind, hash: &UserHash, upstream: &str, reason: &'static str) {
        let vault = &self.inner.vault;
        vault.audit().emit(
            AuditEvent::new(kind, vault.clock().now())
                .subject(hash.as_str())
                .upstream(upstream)
                .reason(reason),
        );
    }

    fn refuse(
        &self,
        kind: DelegationErrorKind,
        hash: &UserHash,
        upstream: &str,
    ) -> DelegationError {
        let error = DelegationError::new(kind);
        self.audit(AuditKind::DelegationRefused, hash, upstream, error.code());
        error
    }

    /// Clears a request on `on`'s behalf to `url` (`None`: not an absolute URL) and finds the
    /// token to send: the upstream is known, the destination under its base URL, the user's
    /// tokens there and granting every scope; a token about to expire is refreshed first.
    pub(crate) async fn authorize(
        &self,
        on: &OnBehalfOf,
        url: Option<&Url>,
    ) -> Result<Authorized, DelegationError> {
        let upstream = self
            .inner
            .upstreams
            .get(on.upstream())
            .ok_or_else(|| DelegationError::new(DelegationErrorKind::UnknownUpstream))?;
        let vault = &self.inner.vault;
        let hash = vault.user_hash(on.user())?;
        if !url.is_some_and(|url| upstream.covers(url)) {
            return Err(self.refuse(
                DelegationErrorKind::InsecureDestination,
                &hash,
                upstream.name(),
            ));
        }
        let entry = vault
            .get_hashed(&hash, upstream.name())
            .await?
            .ok_or_else(|| DelegationError::new(DelegationErrorKind::NotLinked))?;
        self.check_scopes(&entry.tokens, on.scopes(), &hash, upstream.name())?;
        let margin = self.inner.send_margin.as_secs();
        let mut tokens = entry.tokens;
        if tokens.expires_at() <= vault.now().saturating_add(margin)
            && tokens.refresh_token().is_some()
        {
            match self
                .refresh_locked(
                    &hash,
                    upstream,
                    Due::Within(self.inner.send_margin),
                    "expiring",
                )
                .await
            {
                Ok((fresh, _)) => tokens = fresh,
                // Not expired yet: try it while the token endpoint is away.
                Err(e)
                    if e.kind() == DelegationErrorKind::UpstreamUnavailable
                        && tokens.expires_at() > vault.now() => {}
                Err(e) => return Err(e),
            }
            self.check_scopes(&tokens, on.scopes(), &hash, upstream.name())?;
        }
        Ok(Authorized {
            hash,
            upstream: upstream.name().to_owned(),
            scopes: on.scopes().to_vec(),
            access: Zeroizing::new(tokens.access_token().to_owned()),
        })
    }

    /// After the upstream answered `401` to `auth`'s token: the vault's newer token, or a
    /// refresh (single-flight); its scopes checked again.
    pub(crate) async fn reauthorize(
        &self,
        auth: Authorized,
    ) -> Result<Authorized, DelegationError> {
        let upstream = self
            .inner
            .upstreams
            .get(&auth.upstream)
            .ok_or_else(|| DelegationError::new(DelegationErrorKind::UnknownUpstream))?;
        let (tokens, _) = self
            .refresh_locked(
                &auth.hash,
                upstream,
                Due::Stale(auth.access.clone()),
                "unauthorized",
            )
            .await?;
        self.check_scopes(&tokens, &auth.scopes, &auth.hash, &auth.upstream)?;
        Ok(Authorized {
            access: Zeroizing::new(tokens.access_token().to_owned()),
            ..auth
        })
    }

    fn check_scopes(
        &self,
        tokens: &DelegatedTokens,
        scopes: &[String],
        hash: &UserHash,
        upstream: &str,
    ) -> Result<(), DelegationError> {
        if tokens.grants(scopes) {
            Ok(())
        } else {
            Err(self.refuse(DelegationErrorKind::InsufficientScope, hash, upstream))
        }
    }

    /// Under the (user, upstream) lock: re-reads the vault, and refreshes if it is still `due`.
    /// The tokens to use, and whether this call refreshed them.
    ///
    /// Runs in a task of its own: a caller that gives up (a dropped request) does not cut a
    /// refresh short between the token endpoint's answer and the vault's write, which would
    /// lose a rotated refresh token; the lock goes with the task.
    pub(super) async fn refresh_locked(
        &self,
        hash: &UserHash,
        upstream: &Upstream,
        due: Due,
        trigger: &'static str,
    ) -> Result<(DelegatedTokens, bool), DelegationError> {
        let this = self.clone();
        let hash = hash.clone();
        let name = upstream.name().to_owned();
        tokio::spawn(async move { this.refresh_in_task(&hash, &name, due, trigger).await })
            .await
            .map_err(|e| {
                DelegationError::new(DelegationErrorKind::UpstreamUnavailable).with_source(e)
            })?
    }

    async fn refresh_in_task(
        &self,
        hash: &UserHash,
        name: &str,
        due: Due,
        trigger: &'static str,
    ) -> Result<(DelegatedTokens, bool), DelegationError> {
        let upstream = self
            .inner
            .upstreams
            .get(name)
            .ok_or_else(|| DelegationError::new(DelegationErrorKind::UnknownUpstream))?;
        let ticket = self.inner.flights.ticket(hash, name);
        let _guard = ticket.lock().await;
        let vault = &self.inner.vault;
        let entry = vault
            .get_hashed(hash, name)
            .await?
            .ok_or_else(|| DelegationError::new(DelegationErrorKind::NotLinked))?;
        let needed = match &due {
            Due::Stale(seen) => bool::from(
                entry
                    .tokens
                    .access_token()
                    .as_bytes()
                    .ct_eq(seen.as_bytes()),
            ),
            Due::Within(within) => {
                entry.tokens.refresh_token().is_some()
                    && entry.tokens.expires_at() <= vault.now().saturating_add(within.as_secs())
            }
        };
        if !needed {
            return Ok((entry.tokens, false));
        }
        let flights = &self.inner.flights;
        let hold = FAILED_REFRESH_HOLD.as_secs();
        let version = entry.version;
        if flights.failed_recently(hash, name, version, vault.now(), hold) {
            return Err(DelegationError::new(
                DelegationErrorKind::UpstreamUnavailable,
            ));
        }
        let result = self.refresh_entry(hash, upstream, entry, trigger).await;
        match &result {
            Err(e) if e.kind() == DelegationErrorKind::UpstreamUnavailable => {
                flights.record_failure(hash, name, version, vault.now(), hold);
            }
            Ok(_) => flights.clear_failure(hash, name),
            Err(_) => {}
        }
        result
    }

    async fn refresh_entry(
        &self,
        hash: &UserHash,
        upstream: &Upstream,
        entry: Entry,
        trigger: &'static str,
    ) -> Result<(DelegatedTokens, bool), DelegationError> {
        let vault = &self.inner.vault;
        let name = upstream.name();
        let Some(refresh_token) = entry.tokens.refresh_token() else {
            return self
                .refresh_failed(hash, name, &entry, "no_refresh_token")
                .await;
        };
        match refresh::exchange(&self.inner.http, upstream, refresh_token).await {
            Ok(mut fresh) => {
                let lifetime = fresh
                    .expires_in
                    .unwrap_or(ASSUMED_TOKEN_LIFETIME)
                    .min(MAX_TOKEN_LIFETIME);
                let expires_at = vault.now().saturating_add(lifetime.as_secs());
                // Moved out, not copied: the buffers are wiped where they end up.
                let access = std::mem::take(&mut *fresh.access_token);
                let refresh = match fresh.refresh_token.as_mut() {
                    Some(rotated) => std::mem::take(&mut **rotated),
                    None => refresh_token.to_owned(),
                };
                let scopes = fresh
                    .scopes
                    .take()
                    .unwrap_or_else(|| entry.tokens.scopes().to_vec());
                let tokens = DelegatedTokens::new(access, Some(refresh), expires_at, scopes);
                // The access token and the rotated refresh token in one compare-and-set.
                let replaced = match vault.replace(hash, name, entry.version, &tokens).await {
                    // Tokens outside RFC 6749's syntax (a CR or LF, …): the token endpoint's
                    // answer is unusable, as an unreadable one is; what the vault holds stays.
                    Err(VaultError::InvalidTokens) => {
                        tracing::warn!(
                            target: TRACING_TARGET,
                            upstream = name,
                            reason = "unusable_token_answer",
                            "token endpoint answered tokens outside RFC 6749's syntax; tokens kept"
                        );
                        return Err(DelegationError::new(
                            DelegationErrorKind::UpstreamUnavailable,
                        ));
                    }
                    other => other?,
                };
                if replaced {
                    self.audit(AuditKind::TokenRefreshed, hash, name, trigger);
                    return Ok((tokens, true));
                }
                // Another writer got there first (a new link, another instance's refresh):
                // theirs stands.
                let current = vault
                    .get_hashed(hash, name)
                    .await?
                    .ok_or_else(|| DelegationError::new(DelegationErrorKind::NotLinked))?;
                Ok((current.tokens, false))
            }
            Err(Failure::Refused(reason)) => self.refresh_failed(hash, name, &entry, reason).await,
            Err(Failure::Unavailable(reason, source)) => {
                // Not the refresh token's fault: nothing is revoked, a later try may succeed.
                tracing::warn!(
                    target: TRACING_TARGET,
                    upstream = name,
                    reason,
                    "token endpoint unavailable; tokens kept"
                );
                let error = DelegationError::new(DelegationErrorKind::UpstreamUnavailable);
                Err(match source {
                    Some(source) => error.with_source(source),
                    None => error,
                })
            }
        }
    }

    /// The token endpoint refused the refresh token: `TOKEN_REFRESH_FAILED`, and what the vault
    /// holds for the user and upstream is revoked — unless the record moved on meanwhile
    /// (another instance refreshed with the same refresh token first: theirs stands).
    async fn refresh_failed(
        &self,
        hash: &UserHash,
        name: &str,
        entry: &Entry,
        reason: &'static str,
    ) -> Result<(DelegatedTokens, bool), DelegationError> {
        let vault = &self.inner.vault;
        match vault.get_hashed(hash, name).await? {
            Some(current) if current.version != entry.version => {
                return Ok((current.tokens, false));
            }
            Some(_) => {
                self.audit(AuditKind::TokenRefreshFailed, hash, name, reason);
                vault.revoke_hashed(hash, name, "refresh_failed").await?;
            }
            None => {}
        }
        Err(DelegationError::new(DelegationErrorKind::RefreshFailed))
    }
}
