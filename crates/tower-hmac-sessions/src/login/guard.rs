//! [`LoginGuard`]: password checks on the blocking pool, bounded, and failed logins throttled.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::Semaphore;
use tower_hmac_core::{Clock, SystemClock, unix_millis};

use super::throttle::{Buckets, Keys, Spread};
use crate::TRACING_TARGET;
use crate::audit::{Stage, count_refusal};

/// The limits of a [`LoginGuard`], with secure defaults; each is configurable.
///
/// | limit | default |
/// |---|---|
/// | failures per (user name, client address) | 5 per 5 minutes |
/// | failures per client address, whatever the name | 20 per 5 minutes |
/// | distinct addresses failing for one name before a high-risk alert | 10 in 5 minutes |
/// | password checks at once | 4 |
/// | logins waiting for a check | 64 |
/// | buckets kept per dimension | 65 536 |
/// | IPv6 prefix counted as one address | /64 |
///
/// A user name alone is never throttled: anybody can type anybody's name, and a throttle per
/// name would let them lock its owner out. A name failing from many addresses raises an alert
/// instead.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    pair_failures: u32,
    address_failures: u32,
    window: Duration,
    spread_addresses: u32,
    concurrent_checks: usize,
    waiting_checks: usize,
    capacity: usize,
    ipv6_prefix: u8,
    #[cfg(feature = "shared-throttle")]
    shared: Option<super::shared::StoreHandle>,
    #[cfg(feature = "shared-throttle")]
    on_store_error: tower_hmac::server::OnStoreError,
    #[cfg(feature = "shared-throttle")]
    store_timeout: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            pair_failures: 5,
            address_failures: 20,
            window: Duration::from_secs(300),
            spread_addresses: 10,
            concurrent_checks: 4,
            waiting_checks: 64,
            capacity: 65_536,
            ipv6_prefix: 64,
            #[cfg(feature = "shared-throttle")]
            shared: None,
            #[cfg(feature = "shared-throttle")]
            on_store_error: tower_hmac::server::OnStoreError::FailOpen,
            #[cfg(feature = "shared-throttle")]
            store_timeout: tower_hmac::server::DEFAULT_STORE_TIMEOUT,
        }
    }
}

impl LoginLimits {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `per_pair` failures of one user name from one address and `per_address` from one
    /// address, each refilling over `window` (1 s to 1 day). Larger numbers let a guesser try
    /// more passwords.
    pub fn failures(mut self, per_pair: u32, per_address: u32, window: Duration) -> Self {
        self.pair_failures = per_pair;
        self.address_failures = per_address;
        self.window = window;
        self
    }

    /// How many distinct addresses failing for one name within the window raise a high-risk
    /// alert (at least 2).
    pub fn spread_alert(mut self, addresses: u32) -> Self {
        self.spread_addresses = addresses;
        self
    }

    /// How many password checks run at once on the blocking pool (at least 1), and how many
    /// logins may wait for one before further logins are answered `503 login_unavailable`.
    pub fn checks(mut self, concurrent: usize, waiting: usize) -> Self {
        self.concurrent_checks = concurrent;
        self.waiting_checks = waiting;
        self
    }

    /// How many buckets each dimension keeps at most (at least 64), whatever the traffic.
    pub fn capacity(mut self, buckets: usize) -> Self {
        self.capacity = buckets;
        self
    }

    /// The IPv6 prefix length an address counts as (32 to 128).
    pub fn ipv6_prefix(mut self, len: u8) -> Self {
        self.ipv6_prefix = len;
        self
    }

    /// Keeps the failure buckets in `store`, shared by every instance (feature
    /// `shared-throttle`; default: in this process), so that N instances allow together what
    /// one allows: `tower_hmac_redis::RedisPolicyStore`, the store of the HMAC layer's
    /// `FailureThrottle::shared`. Each login waits for one call to the store before its hash,
    /// and a failed one for one more. The many-addresses alert stays per instance.
    #[cfg(feature = "shared-throttle")]
    pub fn shared(
        mut self,
        store: std::sync::Arc<dyn tower_hmac::server::SharedPolicyStore>,
    ) -> Self {
        self.shared = Some(super::shared::StoreHandle(store));
        self
    }

    /// What a shared guard does while its store fails (default `FailOpen`: this instance's own
    /// buckets count; `FailClosed` answers `503 login_unavailable`, **an outage of logins**).
    #[cfg(feature = "shared-throttle")]
    pub fn on_store_error(mut self, mode: tower_hmac::server::OnStoreError) -> Self {
        self.on_store_error = mode;
        self
    }

    /// How long a login waits for the shared store (default 100 ms; clamped to 1 ms – 10 s).
    #[cfg(feature = "shared-throttle")]
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout.clamp(Duration::from_millis(1), Duration::from_secs(10));
        self
    }
}

/// A [`LoginLimits`] out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("login limits out of range: {0}")]
pub struct LoginLimitsError(&'static str);

/// Why a login was refused; each has a stable code, a status and, when throttled, a wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginRefusal {
    /// The password check failed (`invalid_credentials`, 401).
    #[error("invalid_credentials")]
    InvalidCredentials,
    /// Too many failures from this address, or of this name from this address
    /// (`too_many_failures`, 429 with `Retry-After`).
    #[error("too_many_failures")]
    Throttled {
        /// How long until one more attempt is allowed.
        retry_after: Duration,
    },
    /// Too many logins are waiting for a password check, or the check failed to run
    /// (`login_unavailable`, 503 with `Retry-After: 1`).
    #[error("login_unavailable")]
    Unavailable,
}

impl LoginRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::Throttled { .. } => "too_many_failures",
            Self::Unavailable => "login_unavailable",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::InvalidCredentials => http::StatusCode::UNAUTHORIZED,
            Self::Throttled { .. } => http::StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// `Retry-After`, whole seconds rounded up, when the answer should carry one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after } => {
                Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))
            }
            Self::Unavailable => Some(1),
            Self::InvalidCredentials => None,
        }
    }
}

/// One user name failing from many addresses, as handed to a [`LoginAlertHook`]. Never a
/// password.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginAlert {
    /// The user name (at most 64 characters of it).
    pub username: String,
    /// How many distinct addresses failed for it within the window.
    pub addresses: usize,
    /// The address of the failure that raised it.
    pub client: Option<IpAddr>,
    /// When, on the guard's clock.
    pub at: SystemTime,
}

/// Where high-risk login alerts go. Called on the request's task: must not block (hand the
/// alert to a channel). Implemented for closures.
pub trait LoginAlertHook: Send + Sync + 'static {
    /// One alert.
    fn alert(&self, alert: LoginAlert);
}

impl<F: Fn(LoginAlert) + Send + Sync + 'static> LoginAlertHook for F {
    fn alert(&self, alert: LoginAlert) {
        self(alert);
    }
}

/// Guards a login route: each password check runs on Tokio's blocking pool (a memory-hard hash
/// never stalls the async workers), at most [`LoginLimits::checks`] at once; failures are
/// counted per client address and per (user name, address), and a login whose address or pair
/// is out of failures is answered `429 too_many_failures` with `Retry-After` before any hash.
/// Successful logins cost nothing. Every refusal is one event on `tower_hmac::sessions`
/// (`event = "login_refused"`, the code, the client, the name — never the password) and one
/// `tower_hmac_sessions_refusals_total{stage="login", code}` (feature `metrics`).
///
/// ```
/// # async fn demo() {
/// use tower_hmac_sessions::{LoginGuard, LoginLimits};
/// let guard = LoginGuard::new(LoginLimits::new()).unwrap();
/// let client = "192.0.2.7".parse().ok();
/// let stored = "…an Argon2 hash…".to_owned();
/// let outcome = guard
///     .check("alice", client, move || {
///         // argon2's verify_password(given, &stored).is_ok()
///         stored.is_empty()
///     })
///     .await;
/// assert!(outcome.is_err());
/// # }
/// ```
pub struct LoginGuard {
    counts: Arc<Counts>,
    keys: Keys,
    checks: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    hook: Option<Arc<dyn LoginAlertHook>>,
}

/// The failure counts, shared with the blocking task that counts a mismatch: a login dropped
/// mid-check (the client hung up before the answer) is counted all the same.
struct Counts {
    pairs: Buckets,
    addresses: Buckets,
    spread: Spread,
    clock: Arc<dyn Clock>,
    /// The buckets every instance shares, when a store is given (`pairs` and `addresses` then
    /// count only while it fails).
    #[cfg(feature = "shared-throttle")]
    shared: Option<super::shared::SharedLogin>,
}

impl Counts {
    fn now(&self) -> u64 {
        unix_millis(self.clock.now())
    }

    #[cfg(feature = "shared-throttle")]
    fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    #[cfg(not(feature = "shared-throttle"))]
    fn is_shared(&self) -> bool {
        false
    }

    /// Counts a failure of `user` from the address; how many addresses the name failed from,
    /// when that raises the alert.
    fn fail(&self, user: u64, keys: (u64, u64)) -> Option<usize> {
        let now = self.now();
        if !self.is_shared() {
            self.fail_here(keys, now);
        }
        self.spread.record(user, keys.0, now)
    }

    /// Counts a failure in this process's buckets.
    fn fail_here(&self, (address, pair): (u64, u64), now: u64) {
        self.pairs.record(pair, now);
        self.addresses.record(address, now);
    }
}

impl fmt::Debug for LoginGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginGuard")
            .field("checks_available", &self.checks.available_permits())
            .field("waiting", &self.waiting())
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

/// The user name as a shared store's key holds it (empty without one: nothing is sent).
fn shared_user(username: &str, counts: &Counts) -> String {
    #[cfg(feature = "shared-throttle")]
    if counts.is_shared() {
        return super::shared::user_tag(username);
    }
    let _ = (username, counts);
    String::new()
}

/// Counts a failed login in the shared store, or here when it fails.
#[cfg(feature = "shared-throttle")]
async fn count_shared(counts: Arc<Counts>, keys: (u64, u64), (user, client): (String, IpAddr)) {
    let now = counts.now();
    if let Some(shared) = &counts.shared
        && !shared.record(&user, client, now).await
    {
        counts.fail_here(keys, now);
    }
}

#[cfg(not(feature = "shared-throttle"))]
async fn count_shared(_: Arc<Counts>, _: (u64, u64), _: (String, IpAddr)) {}

/// The most of a user name an event or an alert carries.
const NAME_IN_LOGS: usize = 64;

fn loggable(username: &str) -> String {
    username.chars().take(NAME_IN_LOGS).collect()
}

/// Counts a waiting login for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl LoginGuard {
    /// A guard with `limits`, on the system clock.
    pub fn new(limits: LoginLimits) -> Result<Self, LoginLimitsError> {
        if limits.pair_failures == 0 || limits.address_failures == 0 {
            return Err(LoginLimitsError("failures must be at least 1"));
        }
        if limits.window < Duration::from_secs(1) || limits.window > Duration::from_secs(86_400) {
            return Err(LoginLimitsError("the window must be 1 s to 1 day"));
        }
        if limits.spread_addresses < 2 {
            return Err(LoginLimitsError(
                "the spread alert needs at least 2 addresses",
            ));
        }
        if limits.concurrent_checks == 0 || limits.concurrent_checks > Semaphore::MAX_PERMITS {
            return Err(LoginLimitsError("at least 1 concurrent check"));
        }
        if limits.capacity < 64 {
            return Err(LoginLimitsError("a capacity of at least 64 buckets"));
        }
        if !(32..=128).contains(&limits.ipv6_prefix) {
            return Err(LoginLimitsError("an IPv6 prefix of 32 to 128"));
        }
        Ok(Self {
            counts: Arc::new(Counts {
                pairs: Buckets::new(limits.pair_failures, limits.window, limits.capacity),
                addresses: Buckets::new(limits.address_failures, limits.window, limits.capacity),
                spread: Spread::new(limits.spread_addresses, limits.window, limits.capacity),
                clock: Arc::new(SystemClock),
                #[cfg(feature = "shared-throttle")]
                shared: limits
                    .shared
                    .as_ref()
                    .map(|store| super::shared::SharedLogin {
                        store: Arc::clone(&store.0),
                        address_rate: super::shared::rate(limits.address_failures, limits.window),
                        pair_rate: super::shared::rate(limits.pair_failures, limits.window),
                        ipv6_prefix: limits.ipv6_prefix,
                        timeout: limits.store_timeout,
                        on_error: limits.on_store_error,
                    }),
            }),
            keys: Keys::new(limits.ipv6_prefix),
            checks: Arc::new(Semaphore::new(limits.concurrent_checks)),
            waiting: AtomicUsize::new(0),
            max_waiting: limits.waiting_checks,
            hook: None,
        })
    }

    /// With another clock (tests).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        // Not shared yet: the guard is not `Clone` and no check has started.
        if let Some(counts) = Arc::get_mut(&mut self.counts) {
            counts.clock = Arc::new(clock);
        }
        self
    }

    /// Where high-risk alerts go (one user name failing from many addresses).
    pub fn alert_hook(mut self, hook: impl LoginAlertHook) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// How many logins wait for a password check now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Checks a login of `username` from `client`: refused at once while the address or the
    /// pair is out of failures; otherwise `verify` (the password hash check, returning whether
    /// it matched) runs on the blocking pool, and a mismatch is counted. Without a client
    /// address nothing is throttled (give one: behind a proxy, the forwarded address).
    pub async fn check<F>(
        &self,
        username: &str,
        client: Option<IpAddr>,
        verify: F,
    ) -> Result<(), LoginRefusal>
    where
        F: FnOnce() -> bool + Send + 'static,
    {
        let user = self.keys.user(username);
        let keys = client.map(|c| {
            let address = self.keys.address(c);
            (address, self.keys.pair(user, address))
        });
        if let Some((address, pair)) = keys {
            let now = self.counts.now();
            let (by_address, by_pair) = match self.shared_waits(username, client, now).await {
                Ok(Some(waits)) => waits,
                Ok(None) => (
                    self.counts.addresses.blocked(address, now),
                    self.counts.pairs.blocked(pair, now),
                ),
                Err(()) => {
                    let refusal = LoginRefusal::Unavailable;
                    self.refused(&refusal, username, client, "", None);
                    return Err(refusal);
                }
            };
            let (wait, by) = match (by_address, by_pair) {
                (Some(a), Some(p)) => (a.max(p), "address"),
                (Some(a), None) => (a, "address"),
                (None, Some(p)) => (p, "user_address"),
                (None, None) => (Duration::ZERO, ""),
            };
            if !by.is_empty() {
                let refusal = LoginRefusal::Throttled { retry_after: wait };
                self.refused(&refusal, username, client, by, None);
                return Err(refusal);
            }
        }
        let shared_key = client.map(|c| (shared_user(username, &self.counts), c));
        let spread = match self.run(verify, user, keys, shared_key).await {
            Some(Ok(())) => return Ok(()),
            Some(Err(spread)) => spread,
            None => {
                let refusal = LoginRefusal::Unavailable;
                self.refused(&refusal, username, client, "", None);
                return Err(refusal);
            }
        };
        let refusal = LoginRefusal::InvalidCredentials;
        self.refused(&refusal, username, client, "", spread);
        Err(refusal)
    }

    /// Runs `verify` on the blocking pool under a permit, counting a mismatch there; `None`
    /// when too many wait or it panicked, `Some(Err(spread))` on a mismatch.
    async fn run<F>(
        &self,
        verify: F,
        user: u64,
        keys: Option<(u64, u64)>,
        shared_key: Option<(String, IpAddr)>,
    ) -> Option<Result<(), Option<usize>>>
    where
        F: FnOnce() -> bool + Send + 'static,
    {
        // A free slot is taken at once: such a login never counts as waiting (it did for an
        // instant, and a second login arriving then found the line full).
        let permit = match Arc::clone(&self.checks).try_acquire_owned() {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::Closed) => return None,
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return None;
                }
                let waiting = Waiting(&self.waiting);
                let permit = Arc::clone(&self.checks).acquire_owned().await.ok()?;
                drop(waiting);
                permit
            }
        };
        // The permit moves into the blocking task: a request dropped mid-check (the client
        // went away) does not free a slot while its hash still runs.
        let counts = Arc::clone(&self.counts);
        let runtime = tokio::runtime::Handle::current();
        let (outcome, counting) = tokio::task::spawn_blocking(move || {
            let outcome = if verify() {
                Ok(())
            } else {
                Err(keys.and_then(|keys| counts.fail(user, keys)))
            };
            drop(permit);
            // The shared count is spawned from here: it happens even if the login is dropped.
            let counting = match (outcome.is_err(), keys, shared_key) {
                (true, Some(keys), Some(shared_key)) if counts.is_shared() => {
                    Some(runtime.spawn(count_shared(counts, keys, shared_key)))
                }
                _ => None,
            };
            (outcome, counting)
        })
        .await
        .ok()?;
        if let Some(counting) = counting {
            let _ = counting.await;
        }
        Some(outcome)
    }

    /// The shared store's waits for this login: `Ok(None)` without a store, or while it fails
    /// and the guard fails open; `Err(())` while it fails and the guard fails closed.
    #[cfg(feature = "shared-throttle")]
    async fn shared_waits(
        &self,
        username: &str,
        client: Option<IpAddr>,
        now: u64,
    ) -> Result<Option<(Option<Duration>, Option<Duration>)>, ()> {
        use super::shared::SharedCheck;
        let (Some(shared), Some(client)) = (&self.counts.shared, client) else {
            return Ok(None);
        };
        match shared
            .check(&super::shared::user_tag(username), client, now)
            .await
        {
            SharedCheck::Waits(address, pair) => Ok(Some((address, pair))),
            SharedCheck::Fallback => Ok(None),
            SharedCheck::Closed => Err(()),
        }
    }

    #[cfg(not(feature = "shared-throttle"))]
    async fn shared_waits(
        &self,
        _: &str,
        _: Option<IpAddr>,
        _: u64,
    ) -> Result<Option<(Option<Duration>, Option<Duration>)>, ()> {
        Ok(None)
    }

    /// The one event and the one metric of a refusal (and the alert, when raised).
    fn refused(
        &self,
        refusal: &LoginRefusal,
        username: &str,
        client: Option<IpAddr>,
        throttled_by: &'static str,
        spread: Option<usize>,
    ) {
        let code = refusal.code();
        count_refusal(Stage::Login, code);
        let name = loggable(username);
        let client_text = client.map(|c| c.to_string()).unwrap_or_default();
        if let Some(addresses) = spread {
            tracing::warn!(
                target: TRACING_TARGET,
                event = "login_refused",
                outcome = "rejected",
                code,
                username = name.as_str(),
                client = client_text.as_str(),
                risk = "high",
                signals = "many_addresses",
                addresses,
                "one user name failed from many addresses: a password spray or a botnet"
            );
            if let Some(hook) = &self.hook {
                hook.alert(LoginAlert {
                    username: name,
                    addresses,
                    client,
                    at: self.counts.clock.now(),
                });
            }
            return;
        }
        match refusal {
            LoginRefusal::Throttled { retry_after } => tracing::info!(
                target: TRACING_TARGET,
                event = "login_refused",
                outcome = "rejected",
                code,
                username = name.as_str(),
                client = client_text.as_str(),
                throttled_by,
                retry_after_s = refusal.retry_after_secs().unwrap_or(0),
                retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
                risk = "medium",
            ),
            _ => tracing::info!(
                target: TRACING_TARGET,
                event = "login_refused",
                outcome = "rejected",
                code,
                username = name.as_str(),
                client = client_text.as_str(),
                risk = "low",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{LoginGuard, LoginLimits};

    /// A login that finds a free check slot takes it at once and never counts as waiting: with
    /// no waiting allowed at all, logins one after another still all run (each was refused
    /// `login_unavailable` when every login counted as waiting for an instant).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_free_check_slot_is_taken_without_waiting() {
        let guard = LoginGuard::new(LoginLimits::new().checks(1, 0)).unwrap();
        for _ in 0..3 {
            assert_eq!(guard.check("alice", None, || true).await, Ok(()));
            assert_eq!(guard.waiting(), 0);
        }
    }
}
