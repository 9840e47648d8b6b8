use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_hmac_core::{
    AllowedHosts, Clock, DEFAULT_MAX_HEADER_LEN, DEFAULT_MAX_SKEW, Diagnostics, KeyRegistry,
    NonceStore, Scheme, SecretKey, SystemClock,
};

use super::{DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, HmacAuthLayer};
use crate::error::ConfigError;
#[cfg(feature = "policy")]
use crate::server::policy::{FailureThrottle, RiskMonitor};
use crate::server::respond::{DefaultResponder, RejectionResponder};
use crate::server::verify::proxy::TrustedProxies;
use crate::server::verify::schemes::{RoutePredicate, Routing, Schemes};
use crate::server::verify::{Settings, Verifier};
use crate::store::MemoryNonceStore;

/// Settings for an [`HmacAuthLayer`], with secure defaults.
///
/// | setting | default |
/// |---|---|
/// | allowed hosts | none: an argument of [`HmacAuthLayer::builder`] |
/// | [`max_skew`](Self::max_skew) | 300 s |
/// | [`body_limit`](Self::body_limit) | 1 MiB |
/// | [`streaming_body_limit`](Self::streaming_body_limit) | the body limit |
/// | [`body_timeout`](Self::body_timeout) | 30 s |
/// | [`max_header_len`](Self::max_header_len) | 4096 bytes |
/// | [`nonce_store`](Self::nonce_store) | a [`MemoryNonceStore`] of [`DEFAULT_MEMORY_BUDGET`](crate::store::DEFAULT_MEMORY_BUDGET) |
/// | [`clock`](Self::clock) | the system clock |
/// | [`responder`](Self::responder) | [`DefaultResponder`] |
/// | [`diagnostics`](Self::diagnostics) | [`Diagnostics::Keyed`]: useful only to the key's holder, for every scheme |
/// | [`reveal_key_errors`](Self::reveal_key_errors) | off: unknown and revoked keys answer as a bad signature |
/// | [`skip`](Self::skip) | none: every request is verified |
/// | [`throttle_failures`] (feature `policy`) | off |
/// | [`risk_monitor`] (feature `policy`) | off: every event's risk is `low` |
/// | [`trusted_proxies`](Self::trusted_proxies) | none: the connection's address, `Host` and scheme |
/// | [`require_https`](Self::require_https) | off |
///
#[cfg_attr(
    feature = "policy",
    doc = "[`throttle_failures`]: Self::throttle_failures\n[`risk_monitor`]: Self::risk_monitor"
)]
#[cfg_attr(
    not(feature = "policy"),
    doc = "[`throttle_failures`]: crate#features\n[`risk_monitor`]: crate#features"
)]
pub struct HmacAuthBuilder {
    schemes: Schemes,
    routes: Vec<(Vec<String>, RoutePredicate)>,
    settings: Settings,
    nonces: Option<Arc<dyn NonceStore>>,
    #[cfg(feature = "policy")]
    throttle: Option<FailureThrottle>,
    #[cfg(feature = "policy")]
    risk: Option<RiskMonitor>,
}

impl HmacAuthBuilder {
    /// A builder for the set `schemes` with keys from `registry`, for a server that answers for
    /// `hosts`.
    pub fn new(schemes: Schemes, registry: impl KeyRegistry, hosts: AllowedHosts) -> Self {
        Self {
            schemes,
            routes: Vec::new(),
            settings: Settings {
                registry: Arc::new(registry),
                hosts,
                max_skew: DEFAULT_MAX_SKEW,
                body_limit: DEFAULT_BODY_LIMIT,
                streaming_body_limit: None,
                max_header_len: DEFAULT_MAX_HEADER_LEN,
                clock: Arc::new(SystemClock),
                responder: Arc::new(DefaultResponder),
                diagnostics: Diagnostics::Keyed,
                reveal_key_errors: false,
                body_timeout: DEFAULT_BODY_TIMEOUT,
                skip: None,
                proxies: None,
                require_https: false,
            },
            nonces: None,
            #[cfg(feature = "policy")]
            throttle: None,
            #[cfg(feature = "policy")]
            risk: None,
        }
    }

    /// Other hosts this server answers for than those given to the builder. A request whose
    /// `Host` (or, without one, URI authority) is not among them is refused with
    /// `host_not_allowed`.
    pub fn allowed_hosts(mut self, hosts: AllowedHosts) -> Self {
        self.settings.hosts = hosts;
        self
    }

    /// How far a request's timestamp may be from the server's clock, either way: a whole number
    /// of seconds (the protocol's timestamps are whole seconds) from 1 s to 1 h; default 300 s.
    /// The replay store holds every accepted nonce for about twice this long, so a larger value
    /// makes it hold more.
    pub fn max_skew(mut self, max_skew: Duration) -> Self {
        self.settings.max_skew = max_skew;
        self
    }

    /// The largest body read, in bytes (default 1 MiB); larger bodies get `413 body_too_large`.
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.settings.body_limit = bytes;
        self
    }

    /// The largest body of a streaming upload, in bytes, as sent (default: the
    /// [`body_limit`](Self::body_limit)): a body whose scheme verifies it chunk by chunk as it
    /// arrives — SigV4's `aws-chunked` uploads (`X-Amz-Content-Sha256:
    /// STREAMING-AWS4-HMAC-SHA256-PAYLOAD`), as the AWS SDKs send large S3 objects. For these,
    /// the `body_limit` bounds each chunk (a larger one gets `413 body_too_large`, S3's
    /// `EntityTooLarge`, on its header) and this bounds the whole body (`body_too_large` too).
    ///
    /// The layer still holds the whole verified body until the request is accepted, so this is
    /// memory per request — but only a holder of the key (or of a copy of a signed upload, replayed
    /// within its window: the replay is refused once the body is read) can fill it: a client
    /// without the key is refused at its first chunk, after at most `body_limit` bytes. Raising
    /// the `body_limit` instead would let any client make the layer buffer that much.
    ///
    /// ```
    /// use tower_hmac::{HmacAuthLayer, InMemoryRegistry, protocol::AllowedHosts};
    ///
    /// // S3 clients uploading objects of up to 64 MiB in chunks of up to 1 MiB (the default
    /// // body limit; the SDKs send 64 KiB chunks).
    /// let layer = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["s3.example.com"]).unwrap())
    ///     .streaming_body_limit(64 * 1024 * 1024)
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn streaming_body_limit(mut self, bytes: u64) -> Self {
        self.settings.streaming_body_limit = Some(bytes);
        self
    }

    /// How long the whole body may take to arrive (default 30 s); a slower one gets
    /// `408 body_timeout`, so a trickled body cannot hold a connection and its buffer forever.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.settings.body_timeout = timeout;
        self
    }

    /// The longest `Authorization` header parsed, in bytes (256 to 65536; default 4096).
    pub fn max_header_len(mut self, bytes: usize) -> Self {
        self.settings.max_header_len = bytes;
        self
    }

    /// The replay store (default: a [`MemoryNonceStore`] of the default memory budget, private to
    /// this layer and its clones). Share one store between instances with a distributed store.
    pub fn nonce_store(mut self, store: impl NonceStore) -> Self {
        self.nonces = Some(Arc::new(store));
        self
    }

    /// The clock (default: the system clock). For tests, pass a closure returning a `SystemTime`.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.settings.clock = Arc::new(clock);
        self
    }

    /// How rejections are answered (default: [`DefaultResponder`]).
    pub fn responder(mut self, responder: impl RejectionResponder) -> Self {
        self.settings.responder = Arc::new(responder);
        self
    }

    /// Whether an `invalid_signature` rejection carries the digests of the server's string to
    /// sign, one per line (default: yes). Each is keyed with the key being verified, so only a
    /// holder of that key (`tower-hmac explain`) can tell from them which part of a request it
    /// signed differently; to anyone else they are random.
    ///
    /// The same for every scheme: SigV4's canonical request, Kong's and APISIX's signing string,
    /// RFC 9421's signature base are sent only as keyed digests. `false` is
    /// [`Diagnostics::Off`]; `true` is [`Diagnostics::Keyed`].
    pub fn signature_diagnostics(mut self, enabled: bool) -> Self {
        self.settings.diagnostics = if enabled {
            Diagnostics::Keyed
        } else {
            Diagnostics::Off
        };
        self
    }

    /// What an `invalid_signature` answer tells of the server's signed text (default
    /// [`Diagnostics::Keyed`]). [`Diagnostics::Clear`] is **unsafe outside development**: it
    /// sends the text itself (S3 clients' `<StringToSign>` and `<CanonicalRequest>`), which
    /// reflects every covered header's value — a proxy's injected ones too — to anyone.
    pub fn diagnostics(mut self, diagnostics: Diagnostics) -> Self {
        self.settings.diagnostics = diagnostics;
        self
    }

    /// Whether an unknown or revoked key id is answered with its own code (`unknown_key`,
    /// `revoked_key`) — default: **no**. By default such a request goes through every check with
    /// a key that verifies nothing and is answered as a wrong signature would be
    /// (`invalid_signature`, or whichever check fails first), so a caller cannot tell which key
    /// ids exist; the log line still says `unknown_key` or `revoked_key`. Turning this on helps
    /// client developers and **tells anyone which key ids exist**.
    pub fn reveal_key_errors(mut self, enabled: bool) -> Self {
        self.settings.reveal_key_errors = enabled;
        self
    }

    /// Also verifies `scheme`: the layer picks, per request, the scheme whose credentials it
    /// carries. One line per scheme:
    ///
    /// ```
    /// # use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry};
    /// # use tower_hmac::protocol::V1;
    /// let layer = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["api.example.com"]).unwrap())
    ///
    ///     // .with_scheme(SigV4::new(…))   — each further scheme, one line
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.scheme_ids(), ["v1"]);
    /// ```
    pub fn with_scheme(mut self, scheme: impl Scheme) -> Self {
        self.schemes.push(scheme);
        self
    }

    /// Verifies exactly this set of schemes instead, protocol v1 included only if it is in it.
    ///
    /// ```
    /// # use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry};
    /// use tower_hmac::server::Schemes;
    /// # #[cfg(feature = "webhooks")] {
    /// use tower_hmac::protocol::webhooks::GitHub;
    /// let layer = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["api.example.com"]).unwrap())
    ///     .schemes(Schemes::empty().with(GitHub::new("github")))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.scheme_ids(), ["github"]);
    /// # }
    /// ```
    pub fn schemes(mut self, schemes: Schemes) -> Self {
        self.schemes = schemes;
        self
    }

    /// Reserves the requests `predicate` picks for the schemes `ids`: in those requests only
    /// their credentials are looked for, and those schemes verify no request outside the routes
    /// reserved for them. A webhook provider's signature, a bearer token: each on its own routes,
    /// in one layer with one replay store. Rules are tried in the order given; a request no rule
    /// picks is verified with the schemes no rule names. `build()` refuses an id not in the set.
    ///
    /// ```
    /// # use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry};
    /// # #[cfg(feature = "webhooks")] {
    /// use tower_hmac::protocol::webhooks::GitHub;
    /// let layer = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["api.example.com"]).unwrap())
    ///     .with_scheme(GitHub::new("github"))
    ///     .reserve(["github"], |head| head.uri.path() == "/webhooks/github")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.scheme_ids(), ["v1", "github"]);
    /// # }
    /// ```
    pub fn reserve<I>(
        mut self,
        ids: I,
        predicate: impl Fn(&http::request::Parts) -> bool + Send + Sync + 'static,
    ) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.routes.push((
            ids.into_iter().map(Into::into).collect(),
            Arc::new(predicate),
        ));
        self
    }

    /// Lets the requests `predicate` picks through **unverified** (a health check, a metrics
    /// scrape behind a layer that wraps the whole router): their body is read within the same
    /// limits and handed on, with no [`Authenticated`](crate::Authenticated) — so an extractor
    /// that needs one refuses them. The predicate sees the request's head only; keep it narrow
    /// (an exact path and method), since everything it picks is open.
    ///
    /// ```
    /// # use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry};
    /// let layer = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["api.example.com"]).unwrap())
    ///     .skip(|head| head.method == http::Method::GET && head.uri.path() == "/health")
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn skip(
        mut self,
        predicate: impl Fn(&http::request::Parts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.settings.skip = Some(Arc::new(predicate));
        self
    }

    #[cfg(feature = "policy")]
    /// Throttles failed authentications per key id and per client address (off by default): see
    /// [`FailureThrottle`]. Throttled requests are answered `429 too_many_failures` with
    /// `Retry-After` before their body is read or any MAC computed.
    pub fn throttle_failures(mut self, throttle: FailureThrottle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    #[cfg(feature = "policy")]
    /// Gives each decision's event a risk level from the signals of [`RiskMonitor`] (off by
    /// default), logs high-risk ones at `warn` and hands them to its alert hook.
    pub fn risk_monitor(mut self, monitor: RiskMonitor) -> Self {
        self.risk = Some(monitor);
        self
    }

    /// The proxies whose `X-Forwarded-*` or `Forwarded` headers are believed (default: none —
    /// the connection's address, the `Host` header and the connection's scheme are used). A
    /// trusted proxy's forwarded host is the host checked against the allowed hosts and verified
    /// in the signature; its client address is the one throttled and logged.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.settings.proxies = Some(proxies);
        self
    }

    /// Refuses requests that did not come over HTTPS (`403 https_required`; default: off). A
    /// request counts as HTTPS when a trusted proxy says so (`X-Forwarded-Proto: https`,
    /// `Forwarded: proto=https`), when its URI's scheme is `https` (HTTP/2), or when the server's
    /// TLS acceptor put the [`Tls`](crate::server::Tls) marker in its extensions. Signatures protect a
    /// request's integrity, not its confidentiality: over plain HTTP its body and headers are
    /// readable by anyone on the path.
    pub fn require_https(mut self, required: bool) -> Self {
        self.settings.require_https = required;
        self
    }

    /// The layer, or what is wrong with the settings.
    pub fn build(self) -> Result<HmacAuthLayer, ConfigError> {
        self.schemes.check()?;
        let routing = Routing::new(&self.schemes, self.routes)?;
        let settings = self.settings;
        let skew = settings.max_skew.as_secs();
        if !(1..=3600).contains(&skew) || settings.max_skew.subsec_nanos() != 0 {
            return Err(ConfigError::MaxSkewOutOfRange {
                given: settings.max_skew,
            });
        }
        if !(256..=65536).contains(&settings.max_header_len) {
            return Err(ConfigError::MaxHeaderLenOutOfRange {
                len: settings.max_header_len,
            });
        }
        if settings.body_timeout.is_zero() {
            return Err(ConfigError::ZeroBodyTimeout);
        }
        let decoy_key = SecretKey::generate().map_err(|_| ConfigError::RandomUnavailable)?;
        let nonces = match self.nonces {
            Some(store) => store,
            None => Arc::new(MemoryNonceStore::default()),
        };
        #[cfg(feature = "policy")]
        let (throttle, shared_throttle) = match &self.throttle {
            Some(t) => t.build_policy(Arc::clone(&settings.clock))?,
            None => (None, None),
        };
        #[cfg(feature = "policy")]
        let policy = crate::server::policy::Policy {
            throttle,
            shared_throttle,
            risk: self
                .risk
                .map(|r| r.build(Arc::clone(&settings.clock)))
                .transpose()?,
            warned_no_client: Default::default(),
        };
        #[cfg(not(feature = "policy"))]
        let policy = crate::server::policy::Policy::default();
        Ok(HmacAuthLayer {
            config: Arc::new(Verifier {
                schemes: self.schemes,
                routing,
                settings,
                nonces,
                decoy_key,
                policy,
            }),
        })
    }
}

impl fmt::Debug for HmacAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacAuthBuilder")
            .field("schemes", &self.schemes)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
