//! The checks every scheme shares: allowed hosts, clock skew, and the replay window; and the
//! scopes a caller verified by another layer holds ([`GrantedScopes`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::key::{SecretKey, hmac_sha256};

/// The default allowed clock skew: 300 seconds either way.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);

/// The hosts a server answers for.
///
/// There is no default: a server either lists its hosts (with the port when it is not the
/// scheme's default, exactly as clients send it in `Host`) or opts out with
/// [`AllowedHosts::any`].
#[derive(Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    hosts: Option<Vec<Box<[u8]>>>,
}

impl AllowedHosts {
    /// Only these hosts (`api.example.com`, `api.example.com:8443`, `127.0.0.1:8080`, `[::1]:8080`).
    /// Compared case-insensitively and exactly otherwise: `example.com` does not allow
    /// `example.com:8080`.
    pub fn new<I, S>(hosts: I) -> Result<Self, HostError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Vec::new();
        for host in hosts {
            let host = host.as_ref();
            if host.is_empty()
                || host.len() > 255
                || !host.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
                })
            {
                return Err(HostError {
                    host: host.to_owned(),
                });
            }
            list.push(host.to_ascii_lowercase().into_bytes().into_boxed_slice());
        }
        if list.is_empty() {
            return Err(HostError {
                host: String::new(),
            });
        }
        Ok(Self { hosts: Some(list) })
    }

    /// Every host. **This weakens security**: a request signed for one of your services is then
    /// accepted by every other service that shares its key. Use it only when a proxy in front
    /// already pins the host, and say so where you use it.
    pub fn any() -> Self {
        Self { hosts: None }
    }

    /// Whether `host` (already lower-cased) is allowed.
    pub fn allows(&self, host: &[u8]) -> bool {
        match &self.hosts {
            None => true,
            Some(list) => list.iter().any(|allowed| allowed.as_ref() == host),
        }
    }

    /// Whether this is [`AllowedHosts::any`].
    pub fn is_any(&self) -> bool {
        self.hosts.is_none()
    }
}

impl fmt::Debug for AllowedHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.hosts {
            None => f.write_str("AllowedHosts(any)"),
            Some(list) => f
                .debug_list()
                .entries(list.iter().map(|h| String::from_utf8_lossy(h)))
                .finish(),
        }
    }
}

/// An allowed host that is not a host name, IP literal or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid allowed host {host:?}: expected host or host:port, and at least one")]
pub struct HostError {
    host: String,
}

/// Whether a request made at `timestamp` is fresh at `now` (both Unix seconds):
/// `|now − timestamp| ≤ max_skew`.
pub fn is_fresh(timestamp: u64, now: u64, max_skew: Duration) -> bool {
    timestamp.abs_diff(now) <= max_skew.as_secs()
}

/// Until when (Unix milliseconds, exclusive) a request made at `timestamp` can be accepted:
/// [`is_fresh`] compares whole seconds of the server's clock, so the last accepted instant is just
/// before `timestamp + max_skew + 1` s. A nonce must be remembered at least until then.
pub fn acceptable_until_millis(timestamp: u64, max_skew: Duration) -> u64 {
    timestamp
        .saturating_add(max_skew.as_secs())
        .saturating_add(1)
        .saturating_mul(1000)
}

/// The label that separates server-time MACs from request signatures (protocol 1, revision 2:
/// the MAC is bound to the nonce of the request it answers).
pub const TIME_MAC_LABEL: &str = "HMAC-SHA256-TIME-2\n";

/// `HMAC(key, "HMAC-SHA256-TIME-2\n" + ts + "\n" + nonce)`: proves that a server time came from
/// a holder of the key, in answer to the request that carried `nonce` — so an answer captured
/// earlier cannot be replayed to the client for another request.
pub fn time_mac(key: &SecretKey, ts: u64, nonce: &str) -> [u8; 32] {
    hmac_sha256(
        key,
        &[
            TIME_MAC_LABEL.as_bytes(),
            ts.to_string().as_bytes(),
            b"\n",
            nonce.as_bytes(),
        ],
    )
}

/// Checks a server time's MAC in constant time.
pub fn verify_time_mac(key: &SecretKey, ts: u64, nonce: &str, tsm: &[u8]) -> bool {
    time_mac(key, ts, nonce).ct_eq(tsm).into()
}

/// The scopes a caller holds when another layer than the HMAC layer verified it (a session's
/// bearer token): the verifying layer puts it in the request's extensions, and tower-hmac's
/// `RequireScope` reads it when the request carries no HMAC identity, so one rule is enforced
/// in one place whichever way the caller authenticated.
///
/// It exists only in a request's extensions, put there by server code after a verification:
/// nothing a client sends becomes one. A layer that puts it there must do so only for a caller
/// it verified.
///
/// Either a list of scopes ([`new`](Self::new)), or — for a layer that already keeps its
/// caller's claims in the extensions — a look-up in them ([`lookup`](Self::lookup)): nothing is
/// copied per request, and the scopes are read only when a rule asks.
///
/// ```
/// use tower_hmac_core::GrantedScopes;
///
/// let none = http::Extensions::new();
/// let granted = GrantedScopes::new("Bearer", "orders:read orders:write".split(' '));
/// assert!(granted.has_scope(&none, "orders:write"));
/// assert!(!granted.has_scope(&none, "admin"));
/// assert_eq!(granted.challenge(), "Bearer");
///
/// // A layer whose verified claims are in the extensions: looked up there.
/// #[derive(Clone)]
/// struct Claims(String);
/// let mut extensions = http::Extensions::new();
/// extensions.insert(Claims("orders:read".into()));
/// let granted = GrantedScopes::lookup("Bearer", |ext, scope| {
///     ext.get::<Claims>().is_some_and(|c| c.0.split(' ').any(|s| s == scope))
/// });
/// assert!(granted.has_scope(&extensions, "orders:read"));
/// assert!(!granted.has_scope(&none, "orders:read"));
/// ```
#[derive(Clone)]
pub struct GrantedScopes {
    holds: Holds,
    challenge: &'static str,
    on_refusal: Option<fn(&crate::Rejection)>,
}

#[derive(Clone)]
enum Holds {
    List(Arc<[Box<str>]>),
    Lookup(fn(&http::Extensions, &str) -> bool),
}

impl GrantedScopes {
    /// `scopes`, granted to a caller that authenticated with the scheme named `challenge` in
    /// `WWW-Authenticate` (`Bearer`): a scope refusal is answered with
    /// `<challenge> error="insufficient_scope", scope="…"` (RFC 6750 §3.1). Empty scopes are
    /// dropped.
    pub fn new<I, S>(challenge: &'static str, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        Self {
            holds: Holds::List(
                scopes
                    .into_iter()
                    .map(Into::into)
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
            challenge,
            on_refusal: None,
        }
    }

    /// The scopes `holds` finds in the request's extensions (the verifying layer's own record
    /// of its caller, put there beside this): nothing copied when the request is accepted.
    /// `holds` must answer `false` for an empty scope.
    pub fn lookup(challenge: &'static str, holds: fn(&http::Extensions, &str) -> bool) -> Self {
        Self {
            holds: Holds::Lookup(holds),
            challenge,
            on_refusal: None,
        }
    }

    /// With the verifying layer's record of a refusal made after it (its one event and one
    /// metric): `RequireScope` calls it, instead of logging the refusal as one made outside any
    /// layer. It must never log a token or a secret.
    pub fn with_refusal_log(mut self, log: fn(&crate::Rejection)) -> Self {
        self.on_refusal = Some(log);
        self
    }

    /// Whether `scope` is granted, for the request whose `extensions` hold this.
    pub fn has_scope(&self, extensions: &http::Extensions, scope: &str) -> bool {
        match &self.holds {
            Holds::List(scopes) => scopes.iter().any(|s| &**s == scope),
            Holds::Lookup(holds) => !scope.is_empty() && holds(extensions, scope),
        }
    }

    /// The scheme's name in `WWW-Authenticate` (`Bearer`).
    pub fn challenge(&self) -> &'static str {
        self.challenge
    }

    /// Records the refusal `rejection` with the verifying layer's log, if it gave one; whether
    /// it did.
    pub fn log_refusal(&self, rejection: &crate::Rejection) -> bool {
        match self.on_refusal {
            Some(log) => {
                log(rejection);
                true
            }
            None => false,
        }
    }
}

impl fmt::Debug for GrantedScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("GrantedScopes");
        match &self.holds {
            Holds::List(scopes) => out.field("scopes", scopes),
            Holds::Lookup(_) => out.field("scopes", &"(looked up in the extensions)"),
        };
        out.field("challenge", &self.challenge)
            .field("on_refusal", &self.on_refusal.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_scopes_drop_empty_ones_and_match_exactly() {
        let granted = GrantedScopes::new("Bearer", "a  b:c ".split(' '));
        let none = http::Extensions::new();
        assert!(granted.has_scope(&none, "a"));
        assert!(granted.has_scope(&none, "b:c"));
        assert!(!granted.has_scope(&none, "b"));
        assert!(!granted.has_scope(&none, ""));
        // A look-up never grants the empty scope, whatever it answers.
        let everything = GrantedScopes::lookup("Bearer", |_, _| true);
        assert!(everything.has_scope(&none, "x"));
        assert!(!everything.has_scope(&none, ""));
        assert!(!granted.log_refusal(&crate::Rejection::new(
            crate::RejectionKind::InsufficientScope
        )));
    }

    #[test]
    fn hosts_match_exactly_and_case_insensitively() {
        let hosts = AllowedHosts::new(["API.example.com", "127.0.0.1:8080"]).unwrap();
        assert!(hosts.allows(b"api.example.com"));
        assert!(hosts.allows(b"127.0.0.1:8080"));
        assert!(!hosts.allows(b"api.example.com:8080"));
        assert!(!hosts.allows(b"127.0.0.1"));
        assert!(!hosts.allows(b"evil.example.com"));
        assert!(!hosts.allows(b""));
    }

    #[test]
    fn an_empty_host_list_is_an_error() {
        assert!(AllowedHosts::new(Vec::<String>::new()).is_err());
        assert!(AllowedHosts::new([""]).is_err());
        assert!(AllowedHosts::new(["a b"]).is_err());
    }

    #[test]
    fn any_allows_everything() {
        assert!(AllowedHosts::any().allows(b"whatever"));
    }

    #[test]
    fn freshness_is_symmetric_and_inclusive() {
        let skew = Duration::from_secs(300);
        assert!(is_fresh(1000, 1300, skew));
        assert!(is_fresh(1300, 1000, skew));
        assert!(!is_fresh(1000, 1301, skew));
        assert!(!is_fresh(1301, 1000, skew));
        assert!(is_fresh(u64::MAX, u64::MAX, skew));
    }

    #[test]
    fn acceptance_ends_exactly_where_freshness_ends() {
        let skew = Duration::from_secs(300);
        let until = acceptable_until_millis(1000, skew);
        assert_eq!(until, 1_301_000);
        // Every millisecond before `until` is fresh by whole seconds; `until` itself is not.
        for ms in [until - 1000, until - 1, until] {
            assert_eq!(is_fresh(1000, ms / 1000, skew), ms < until, "at {ms} ms");
        }
        assert_eq!(acceptable_until_millis(u64::MAX, skew), u64::MAX);
    }

    #[test]
    fn time_mac_round_trips_and_is_bound_to_the_nonce() {
        let key = SecretKey::from_bytes(&[1; 32]).unwrap();
        let tsm = time_mac(&key, 1_700_000_000, "nonce-a");
        assert!(verify_time_mac(&key, 1_700_000_000, "nonce-a", &tsm));
        assert!(!verify_time_mac(&key, 1_700_000_000, "nonce-b", &tsm));
        assert!(!verify_time_mac(&key, 1_700_000_001, "nonce-a", &tsm));
        assert!(!verify_time_mac(&key, 1_700_000_000, "nonce-a", &tsm[..31]));
    }
}
