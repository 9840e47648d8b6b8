//! The settings of [`Sessions`](crate::Sessions): lifetimes, names, the session policy, presets.

use std::num::NonZeroUsize;
use std::time::Duration;

use crate::fingerprint::Fingerprint;

/// Lifetimes, names and the session policy, with secure defaults.
///
/// Two presets: [`production`](Self::production) (the founding document's values: one session
/// per subject, 24 h absolute and 30 min idle lifetimes, sessions bound to the `User-Agent`)
/// and [`development`](Self::development) (= [`new`](Self::new)).
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) access_ttl: Duration,
    pub(crate) leeway: Duration,
    pub(crate) absolute_lifetime: Duration,
    pub(crate) idle_lifetime: Duration,
    pub(crate) max_sessions: Option<NonZeroUsize>,
    pub(crate) fingerprint: Option<Fingerprint>,
}

impl SessionConfig {
    /// Tokens of `issuer` for `audience`: access tokens of 15 minutes, a 30 s leeway, sessions of
    /// at most 14 days and 24 hours without a refresh, no limit on sessions per subject, no
    /// device fingerprint.
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl: Duration::from_secs(15 * 60),
            leeway: Duration::from_secs(30),
            absolute_lifetime: Duration::from_secs(14 * 86_400),
            idle_lifetime: Duration::from_secs(86_400),
            max_sessions: None,
            fingerprint: None,
        }
    }

    /// The production preset: access tokens of 15 minutes, sessions of at most 24 hours and
    /// 30 minutes without a refresh, at most 1 session per subject (a login ends the older
    /// one), each session bound to its `User-Agent` (a token used with another is refused and
    /// its session ended). Log in through [`Sessions::login_from`](crate::Sessions::login_from)
    /// (or the `routes::AuthRoutes` router, feature `axum`).
    pub fn production(issuer: &str, audience: &str) -> Self {
        let user_agent = Fingerprint::headers(["user-agent"])
            .unwrap_or_else(|_| unreachable!("user-agent is a header name"));
        Self::new(issuer, audience)
            .access_ttl(Duration::from_secs(15 * 60))
            .absolute_lifetime(Duration::from_secs(24 * 3600))
            .idle_lifetime(Duration::from_secs(30 * 60))
            .max_sessions(1)
            .fingerprint(user_agent)
    }

    /// The development preset: [`new`](Self::new)'s values (14 days, 24 h idle, no session
    /// limit, no fingerprint).
    pub fn development(issuer: &str, audience: &str) -> Self {
        Self::new(issuer, audience)
    }

    /// How long an access token is valid (whole seconds, at least 1 s). Longer: a stolen access
    /// token lasts longer, and a revocation reaches it only through the denylist.
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// The leeway on `exp` and `nbf` (clock differences), at most 5 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(Duration::from_secs(300));
        self
    }

    /// The longest a session lives, refreshed or not.
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute_lifetime = lifetime;
        self
    }

    /// How long a session lives without a refresh (30 minutes in the production preset).
    pub fn idle_lifetime(mut self, lifetime: Duration) -> Self {
        self.idle_lifetime = lifetime;
        self
    }

    /// At most `n` live sessions per subject (0 is taken as 1): a login that would make one
    /// more ends the oldest ones, as a logout does (their refresh tokens fail, their access
    /// tokens are denied), each one `SESSION_ENDED_BY_LIMIT` audit event. Concurrent logins
    /// converge: with 1, exactly one of them survives. The store must support it
    /// ([`SessionStore::create_limited`](crate::SessionStore::create_limited); the three of
    /// this crate do): a store that does not refuses the login.
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = Some(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN));
        self
    }

    /// No limit on sessions per subject (the default). Weaker: a stolen password opens a
    /// session beside the user's, and neither ends the other.
    pub fn unlimited_sessions(mut self) -> Self {
        self.max_sessions = None;
        self
    }

    /// Binds each session to a device fingerprint: checked on every access token
    /// ([`BearerAuthLayer`](crate::BearerAuthLayer)) and refresh; a mismatch is refused
    /// (`fingerprint_mismatch`), ends the session and emits `SESSION_FINGERPRINT_MISMATCH`
    /// (high risk). With one set, [`Sessions::login`](crate::Sessions::login) and
    /// [`Sessions::refresh`](crate::Sessions::refresh), which see no request, refuse
    /// (`fingerprint_required`): use their `_from` forms.
    pub fn fingerprint(mut self, fingerprint: Fingerprint) -> Self {
        self.fingerprint = Some(fingerprint);
        self
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The idle lifetime.
    pub fn idle(&self) -> Duration {
        self.idle_lifetime
    }

    /// The absolute lifetime.
    pub fn absolute(&self) -> Duration {
        self.absolute_lifetime
    }

    /// The access tokens' lifetime.
    pub fn access_lifetime(&self) -> Duration {
        self.access_ttl
    }

    /// The session limit per subject, if any.
    pub fn session_limit(&self) -> Option<NonZeroUsize> {
        self.max_sessions
    }

    /// The device fingerprint, if any.
    pub fn device_fingerprint(&self) -> Option<&Fingerprint> {
        self.fingerprint.as_ref()
    }
}
