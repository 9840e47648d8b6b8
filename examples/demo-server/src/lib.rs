//! The tower-hmac demo server: an Axum app with open and signed routes.
//!
//! `cargo run -p demo-server` listens on 127.0.0.1:8080 with the demo registry embedded in the
//! binary (`demo-registry.toml`), so it needs no file and no other service.

pub mod sessions;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_hmac::protocol::HostError;
use tower_hmac::registry::KeyRegistry;
use tower_hmac::server::Schemes;
use tower_hmac::{AllowedHosts, Authenticated, HmacAuthBuilder, HmacAuthLayer, InMemoryRegistry};

/// The demo registry, embedded: **published demo keys**, for this demo only.
pub const DEMO_REGISTRY: &str = include_str!("../demo-registry.toml");
/// The key id the demo prints instructions for.
pub const DEMO_KEY_ID: &str = "demo-2026";
/// The key id of the demo's operator app (`demo-admin`, scope `admin`).
pub const DEMO_ADMIN_KEY_ID: &str = "demo-admin-2026";
/// Its secret (Base64; published: never use it elsewhere).
pub const DEMO_ADMIN_SECRET: &str = "ZGVtby1hZG1pbi0yMDI2LS1ub3QtYS1zZWNyZXQtLWRvLW5vdC11c2UtaXQ=";
/// The registry key of the demo's GitHub webhook route (its secret: [`DEMO_GITHUB_SECRET`]).
pub const DEMO_GITHUB_KEY_ID: &str = "demo-github-webhooks";
/// The demo's GitHub webhook secret (published: never use it).
pub const DEMO_GITHUB_SECRET: &str = "demo_github_webhook_secret_published_0001";
/// The registry key of the demo's Stripe webhook route (its secret: [`DEMO_STRIPE_SECRET`]).
pub const DEMO_STRIPE_KEY_ID: &str = "demo-stripe-webhooks";
/// The demo's Stripe signing secret (published: never use it).
pub const DEMO_STRIPE_SECRET: &str = "whsec_demo_stripe_secret_published_do_not_use";
/// The registry key of the demo's Slack webhook route (its secret: [`DEMO_SLACK_SECRET`]).
pub const DEMO_SLACK_KEY_ID: &str = "demo-slack-signing";
/// The demo's Slack signing secret (published: never use it).
pub const DEMO_SLACK_SECRET: &str = "demo_slack_signing_secret_published_0001";
/// The default listening address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The demo registry.
pub fn demo_registry() -> Result<InMemoryRegistry, tower_hmac::RegistryFileError> {
    InMemoryRegistry::from_toml_str(DEMO_REGISTRY)
}

/// The secret of [`DEMO_KEY_ID`] as Base64, for printing the demo's instructions.
pub fn demo_secret_base64() -> &'static str {
    DEMO_REGISTRY
        .lines()
        .skip_while(|l| !l.contains(DEMO_KEY_ID))
        .find_map(|l| l.strip_prefix("secret = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_default()
}

/// The hosts a client may name for a server bound to `addr`: the address itself, for loopback
/// `localhost` with the same port, and `extra` (a load balancer's name, for example).
pub fn hosts_for(addr: SocketAddr, extra: &[String]) -> Result<AllowedHosts, HostError> {
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        hosts.push(format!("localhost:{}", addr.port()));
    }
    hosts.extend(extra.iter().cloned());
    AllowedHosts::new(hosts)
}

/// The demo's schemes, in the layer's order (the first of a request's candidates names the
/// challenge of a request that carries no credentials):
///
/// 1. protocol v1;
/// 2. softaware's ASP.NET `Hmac` ([`softaware`]);
/// 3. RFC 9421 HTTP Message Signatures, `hmac-sha256` ([`rfc9421`]);
/// 4. AWS SigV4, region `us-east-1`, service `demo` ([`sigv4`]);
/// 5. Kong's `hmac-auth` ([`kong`]);
/// 6. APISIX's `hmac-auth` ([`apisix`]);
/// 7. the ID:TS:HMAC token (30 s window), on [`TOKEN_ROUTE`] only;
/// 8. GitHub's `X-Hub-Signature-256`, on [`GITHUB_ROUTE`] only;
/// 9. Stripe's `Stripe-Signature`, on [`STRIPE_ROUTE`] only;
/// 10. Slack's `X-Slack-Signature`, on [`SLACK_ROUTE`] only.
///
/// The last four are kept to their routes by [`reserve_routes`]; the first six verify every
/// other signed route.
pub fn demo_schemes() -> Schemes {
    demo_schemes_with_sigv4(sigv4())
}

/// [`demo_schemes`] with this SigV4 in place of the demo's [`sigv4`] (a test that changes one of
/// its settings: `demo_schemes_with_sigv4(sigv4().query_order(QueryOrder::Sorted))`).
pub fn demo_schemes_with_sigv4(sigv4: tower_hmac::protocol::sigv4::SigV4) -> Schemes {
    use tower_hmac::protocol::webhooks::{GitHub, Slack, Stripe};
    Schemes::v1()
        .with(softaware())
        .with(rfc9421())
        .with(sigv4)
        .with(kong())
        .with(apisix())
        .with(tower_hmac::protocol::token::Token::default())
        .with(GitHub::new(DEMO_GITHUB_KEY_ID))
        .with(Stripe::new(DEMO_STRIPE_KEY_ID))
        .with(Slack::new(DEMO_SLACK_KEY_ID))
}

/// The route that accepts the ID:TS:HMAC token, and the only one (the token is not bound to the
/// request).
pub const TOKEN_ROUTE: &str = "/token/whoami";
/// GitHub's webhook route (`POST`).
pub const GITHUB_ROUTE: &str = "/webhooks/github";
/// Stripe's webhook route (`POST`).
pub const STRIPE_ROUTE: &str = "/webhooks/stripe";
/// Slack's webhook route (`POST`).
pub const SLACK_ROUTE: &str = "/webhooks/slack";

/// The demo's route reservations on `builder`: the token on [`TOKEN_ROUTE`], each webhook
/// provider on its route. On those paths only that scheme's credentials are looked for (a
/// protocol v1 signature there is `401 unsupported_scheme`); on every other path those four
/// schemes are not looked for (a token or a webhook signature there is `401
/// missing_authorization`). The set must hold the four (`build()` refuses an unknown id).
///
/// The paths are compared exactly, as the router matches them.
pub fn reserve_routes(builder: HmacAuthBuilder) -> HmacAuthBuilder {
    builder
        .reserve(["token"], |head| head.uri.path() == TOKEN_ROUTE)
        .reserve(["github"], |head| head.uri.path() == GITHUB_ROUTE)
        .reserve(["stripe"], |head| head.uri.path() == STRIPE_ROUTE)
        .reserve(["slack"], |head| head.uri.path() == SLACK_ROUTE)
}

/// A builder of the demo's layer with its schemes ([`demo_schemes`]) and route reservations
/// ([`reserve_routes`]), every other setting at the library's default (no throttle, the system
/// clock, a replay store of its own): what [`layer`] starts from.
pub fn demo_builder(registry: impl KeyRegistry, hosts: AllowedHosts) -> HmacAuthBuilder {
    reserve_routes(HmacAuthBuilder::new(demo_schemes(), registry, hosts))
}

/// The SigV4 region the demo serves.
pub const DEMO_SIGV4_REGION: &str = "us-east-1";
/// The SigV4 service the demo serves (the generic path rule).
pub const DEMO_SIGV4_SERVICE: &str = "demo";

/// AWS SigV4 as the demo serves it: region `us-east-1`, service `demo` (the generic path rule);
/// also service `s3` with S3's path rule, for S3 clients. A body may go unsigned
/// (`UNSIGNED-PAYLOAD`, presigned uploads) only on the S3 routes, under `/objects/`.
pub fn sigv4() -> tower_hmac::protocol::sigv4::SigV4 {
    use tower_hmac::protocol::sigv4::{SigV4, UnsignedPayload};
    SigV4::new(DEMO_SIGV4_REGION, DEMO_SIGV4_SERVICE)
        .s3_service("s3")
        .unsigned_payload(UnsignedPayload::under_paths([DEMO_S3_PREFIX]))
}

/// The demo's S3 routes: the only paths where a body may go unsigned.
pub const DEMO_S3_PREFIX: &str = "/objects/";

/// The softaware scheme as the demo serves it: plain `http` (the demo has no TLS).
pub fn softaware() -> tower_hmac::protocol::softaware::Softaware {
    tower_hmac::protocol::softaware::Softaware::new().uri_scheme("http")
}

/// RFC 9421 as the demo serves it: plain `http`, the default coverage (`@method`,
/// `@authority`, `@path`, `@query` with a query, `content-digest` with a body).
pub fn rfc9421() -> tower_hmac::protocol::rfc9421::Rfc9421 {
    tower_hmac::protocol::rfc9421::Rfc9421::new().uri_scheme("http")
}

/// The algorithms the demo key may use with the gateway formats: hmac-sha1 too, which Kong's and
/// APISIX's own test suites sign with (every other key: hmac-sha256 and up).
const DEMO_GATEWAY_ALGORITHMS: [tower_hmac::protocol::gateway::Algorithm; 4] = [
    tower_hmac::protocol::gateway::Algorithm::HmacSha1,
    tower_hmac::protocol::gateway::Algorithm::HmacSha256,
    tower_hmac::protocol::gateway::Algorithm::HmacSha384,
    tower_hmac::protocol::gateway::Algorithm::HmacSha512,
];

/// Kong's `hmac-auth` as the demo serves it: `username` = the key id, secret = the key's text
/// form (its Base64); hmac-sha1 for the demo key only.
pub fn kong() -> tower_hmac::protocol::gateway::Kong {
    tower_hmac::protocol::gateway::Kong::new().key_algorithms(DEMO_KEY_ID, &DEMO_GATEWAY_ALGORITHMS)
}

/// APISIX's `hmac-auth` (3.11+) as the demo serves it: `keyId` = the key id, secret = the key's
/// text form; hmac-sha1 for the demo key only.
pub fn apisix() -> tower_hmac::protocol::gateway::Apisix {
    // APISIX has no hmac-sha384.
    tower_hmac::protocol::gateway::Apisix::new().key_algorithms(
        DEMO_KEY_ID,
        &[
            DEMO_GATEWAY_ALGORITHMS[0],
            DEMO_GATEWAY_ALGORITHMS[1],
            DEMO_GATEWAY_ALGORITHMS[3],
        ],
    )
}

/// The demo routes, every signed one under the one `layer` ([`layer`]):
///
/// - `GET /health` is open;
/// - `GET /whoami` (answers `{"app_id", "key_id", "scheme", "scopes"}`), `GET /admin/whoami`
///   (the same, scope `admin` required: `403 insufficient_scope` for the demo key, 200 for
///   [`DEMO_ADMIN_KEY_ID`]), `POST /echo` (or `PUT`, for presigned uploads) and
///   `/objects/{*key}` (S3-style keys: `GET` as `/whoami`, `PUT` as `/echo`) need a signature
///   (protocol v1, softaware's `Hmac`, RFC 9421, AWS SigV4, Kong's or APISIX's `hmac-auth`);
/// - `GET /token/whoami` ([`TOKEN_ROUTE`]) needs the ID:TS:HMAC token, and no other route
///   accepts it;
/// - `POST /webhooks/github`, `/webhooks/stripe`, `/webhooks/slack` need their provider's
///   signature (answer `{"app_id", "scheme", "bytes"}`), and no other route accepts it.
///
/// Which scheme a route accepts is the layer's reservations ([`reserve_routes`]), not the
/// router's: a layer built without them accepts the token and the webhook signatures on every
/// signed route.
pub fn app(layer: HmacAuthLayer) -> Router {
    Router::new()
        .route("/admin/whoami", get(whoami))
        .route_layer(tower_hmac::server::RequireScope::new("admin"))
        .route("/whoami", get(whoami))
        .route("/echo", post(echo).put(echo))
        .route("/objects/{*key}", get(whoami).put(echo))
        .route(TOKEN_ROUTE, get(whoami))
        .route(GITHUB_ROUTE, post(webhook))
        .route(STRIPE_ROUTE, post(webhook))
        .route(SLACK_ROUTE, post(webhook))
        .route_layer(layer)
        .route("/health", get(health))
}

/// The demo's one replay store, that of its one layer: a value recorded through one scheme is a
/// replay through every other, and with Redis through every instance.
pub type SharedNonceStore = std::sync::Arc<dyn tower_hmac::protocol::NonceStore>;

/// Opens the replay store the settings name: one in-process store, or a Redis client.
pub fn replay_store(
    settings: &Settings,
) -> Result<SharedNonceStore, Box<dyn std::error::Error + Send + Sync>> {
    Ok(match &settings.replay_store {
        ReplayStore::Memory => std::sync::Arc::new(tower_hmac::MemoryNonceStore::default()),
        ReplayStore::Redis { url, prefix } => std::sync::Arc::new(
            tower_hmac_redis::RedisNonceStore::open(url)?.with_prefix(prefix.as_str()),
        ),
    })
}

/// Where the demo keeps nonces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ReplayStore {
    /// The in-process `MemoryNonceStore` (the default): protects this instance only.
    #[default]
    Memory,
    /// A Redis shared by every instance, with a key prefix.
    Redis {
        /// The Redis URL.
        url: String,
        /// The key prefix.
        prefix: String,
    },
}

impl ReplayStore {
    /// From the setting's text: `memory` (or nothing), or a `redis://`/`rediss://` URL.
    pub fn parse(setting: &str, prefix: Option<String>) -> Result<Self, String> {
        match setting {
            "" | "memory" => Ok(Self::Memory),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => Ok(Self::Redis {
                url: url.to_owned(),
                prefix: prefix.unwrap_or_else(|| tower_hmac_redis::DEFAULT_PREFIX.to_owned()),
            }),
            other => Err(format!(
                "replay store {other:?}: expected \"memory\" or a redis:// URL"
            )),
        }
    }
}

/// The default time a client has to send a request's whole head: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The demo's settings beyond the registry (the defaults need no other service).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Hosts allowed besides the listening address.
    pub extra_hosts: Vec<String>,
    /// Where nonces are kept.
    pub replay_store: ReplayStore,
    /// The allowed clock skew (`TOWER_HMAC_DEMO_MAX_SKEW`, whole seconds); the layer's default
    /// (300 s) when unset.
    pub max_skew: Option<Duration>,
    /// Failed-authentication throttling (`TOWER_HMAC_DEMO_THROTTLE`): [`DEMO_THROTTLE`] unless
    /// set to `off` or `N/SECONDS`.
    pub throttle: Throttle,
    /// The proxies whose `X-Forwarded-*` headers are believed (`TOWER_HMAC_DEMO_TRUSTED_PROXIES`,
    /// comma-separated addresses or networks); none by default.
    pub trusted_proxies: Vec<String>,
    /// The layer's clock: the system's by default; a test's own, so that it sets the time
    /// instead of waiting for it.
    pub clock: Option<DemoClock>,
}

/// A clock for the demo's layer (see [`Settings::clock`]).
#[derive(Clone)]
pub struct DemoClock(pub std::sync::Arc<dyn tower_hmac::protocol::Clock>);

impl tower_hmac::protocol::Clock for DemoClock {
    fn now(&self) -> std::time::SystemTime {
        self.0.now()
    }
}

impl std::fmt::Debug for DemoClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoClock")
    }
}

/// The demo's throttle: 20 failed authentications a minute per client address and per key id at an address,
/// then `429 too_many_failures` (one more try every 3 s).
pub const DEMO_THROTTLE: (u32, u64) = (20, 60);

/// Whether and how the demo throttles failed authentications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// No throttling.
    Off,
    /// `failures` per `seconds`, per client address and per key id at an address.
    Failures {
        /// Failures allowed in the window.
        failures: u32,
        /// The window, in seconds.
        seconds: u64,
    },
}

impl Default for Throttle {
    fn default() -> Self {
        Self::Failures {
            failures: DEMO_THROTTLE.0,
            seconds: DEMO_THROTTLE.1,
        }
    }
}

impl Throttle {
    /// Parses `TOWER_HMAC_DEMO_THROTTLE`: `off`, or `N/SECONDS` (`20/60`).
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        let parsed = value.split_once('/').and_then(|(n, s)| {
            Some(Self::Failures {
                failures: n.trim().parse().ok().filter(|n| *n >= 1)?,
                seconds: s.trim().parse().ok().filter(|s| (1..=86_400).contains(s))?,
            })
        });
        parsed.ok_or_else(|| {
            format!(
                "TOWER_HMAC_DEMO_THROTTLE={value:?}: expected \"off\" or FAILURES/SECONDS, like 20/60"
            )
        })
    }
}

impl Settings {
    /// Parses `TOWER_HMAC_DEMO_MAX_SKEW`: whole seconds, 1 to 3600.
    pub fn parse_max_skew(value: &str) -> Result<Duration, String> {
        match value.trim().parse::<u64>() {
            Ok(secs @ 1..=3600) => Ok(Duration::from_secs(secs)),
            _ => Err(format!(
                "TOWER_HMAC_DEMO_MAX_SKEW={value:?}: expected whole seconds from 1 to 3600"
            )),
        }
    }
}

/// The demo's one layer, for every signed route: every scheme ([`demo_schemes`]), the token
/// and the webhook signatures kept to their routes ([`reserve_routes`]), the registry, the hosts
/// of `addr`, the replay `store` and the settings.
///
/// Every setting applies to every scheme, the token and the webhooks included: the clock, the
/// allowed skew (Stripe's and Slack's window, how far ahead a token may be stamped), the failure
/// throttle, the risk monitor and the trusted proxies. Until the demo mounted one layer, its
/// token and webhook routes had layers of their own that ignored these settings: they ran on the
/// system clock with the default skew, unthrottled and unmonitored, and believed no proxy.
pub fn layer(
    registry: impl KeyRegistry,
    addr: SocketAddr,
    settings: &Settings,
    store: &SharedNonceStore,
) -> Result<HmacAuthLayer, Box<dyn std::error::Error + Send + Sync>> {
    let mut builder =
        demo_builder(registry, hosts_for(addr, &settings.extra_hosts)?).nonce_store(store.clone());
    if let Some(skew) = settings.max_skew {
        builder = builder.max_skew(skew);
    }
    if let Some(clock) = &settings.clock {
        builder = builder.clock(clock.clone());
    }
    if let Throttle::Failures { failures, seconds } = settings.throttle {
        builder = builder.throttle_failures(tower_hmac::server::FailureThrottle::new(
            failures,
            Duration::from_secs(seconds),
        ));
    }
    if !settings.trusted_proxies.is_empty() {
        builder = builder.trusted_proxies(tower_hmac::server::TrustedProxies::x_forwarded(
            &settings.trusted_proxies,
        )?);
    }
    // Risk signals on every decision; high-risk ones also go to the alert hook, here a log line
    // of its own (a real service would page someone).
    let builder = builder.risk_monitor(tower_hmac::server::RiskMonitor::new().alert_hook(
        |alert: tower_hmac::server::Alert| {
            tracing::warn!(
                target: "demo_server::alerts",
                signals = %alert.signals,
                code = alert.code,
                key_id = alert.key_id.as_deref().unwrap_or(""),
                client = %alert.client.map(|c| c.to_string()).unwrap_or_default(),
                "high-risk authentication event"
            );
        },
    ));
    Ok(builder.build()?)
}

/// The demo's layer with a Redis store checked at start: refuses to start when Redis may evict
/// nonce keys (`maxmemory-policy`) or does not answer.
pub async fn layer_checked(
    registry: impl KeyRegistry,
    addr: SocketAddr,
    settings: &Settings,
    store: &SharedNonceStore,
) -> Result<HmacAuthLayer, Box<dyn std::error::Error + Send + Sync>> {
    if let ReplayStore::Redis { url, .. } = &settings.replay_store {
        tower_hmac_redis::RedisNonceStore::connect(url).await?;
    }
    layer(registry, addr, settings, store)
}

/// Serves the demo with its default settings on `listener` until the future is dropped.
pub async fn serve(listener: TcpListener, registry: InMemoryRegistry) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let settings = Settings::default();
    let store = replay_store(&settings).map_err(io::Error::other)?;
    let layer = layer(registry, addr, &settings, &store).map_err(io::Error::other)?;
    serve_with(listener, layer).await
}

/// Serves the demo routes ([`app`]) behind a layer configured by the caller.
pub async fn serve_with(listener: TcpListener, layer: HmacAuthLayer) -> io::Result<()> {
    serve_with_timeout(listener, layer, DEFAULT_HEADER_READ_TIMEOUT).await
}

/// Serves the demo routes; a connection that has not sent a request's whole head within
/// `header_read_timeout` is closed (a client trickling one byte a second cannot hold it open).
pub async fn serve_with_timeout(
    listener: TcpListener,
    layer: HmacAuthLayer,
    header_read_timeout: Duration,
) -> io::Result<()> {
    serve_app(listener, app(layer), header_read_timeout).await
}

/// Serves the demo routes ([`app`]: the signed ones, the token's and the webhooks', under the
/// one `layer`), the session routes ([`sessions::routes`]) when given and, given the exporter's
/// handle, `GET /metrics` (open; Prometheus text format) — what `cargo run -p demo-server` runs.
/// Returns once `shutdown` completes and the connections in flight have finished (at most
/// [`SHUTDOWN_GRACE`]).
pub async fn serve_all(
    listener: TcpListener,
    layer: HmacAuthLayer,
    sessions: Option<Router>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let mut app = app(layer);
    if let Some(sessions) = sessions {
        app = app.merge(sessions);
    }
    if let Some(handle) = metrics {
        app = app.route(
            "/metrics",
            get(move || {
                let text = handle.render();
                async move { text }
            }),
        );
    }
    serve_until(listener, app, DEFAULT_HEADER_READ_TIMEOUT, shutdown).await
}

/// How long a graceful shutdown waits for the connections in flight: 10 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The headers every response carries: an API's answers are not to be sniffed, framed, cached or
/// sent on as referrers. (`Strict-Transport-Security` belongs to the TLS terminator in front.)
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

/// The app as served: a request id for every request (`X-Request-Id`, kept when the client sent
/// one, echoed in the response), a trace span per request, and the security headers.
pub fn served(app: Router) -> Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::set_header::SetResponseHeaderLayer;

    let mut app = app;
    for (name, value) in SECURITY_HEADERS {
        app = app.layer(SetResponseHeaderLayer::if_not_present(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static(value),
        ));
    }
    let request_id = http::HeaderName::from_static("x-request-id");
    app.layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn serve_app(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
) -> io::Result<()> {
    serve_until(listener, app, header_read_timeout, std::future::pending()).await
}

async fn serve_until(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt as _;

    let app = served(app);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // A connection that failed before it was accepted (reset, out of descriptors):
            // keep serving the others.
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // The layer logs and throttles by the client's address.
        let service = app.clone().map_request(move |mut req: http::Request<_>| {
            req.extensions_mut()
                .insert(tower_hmac::server::PeerAddr(peer));
            req
        });
        let service = TowerToHyperService::new(service);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for the connections in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period; closing them");
    }
    Ok(())
}

async fn health() -> &'static str {
    "ok\n"
}

async fn whoami(auth: Authenticated) -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "app_id": auth.app_id(),
        "key_id": auth.key_id(),
        "scheme": auth.scheme(),
        "scopes": auth.scopes(),
    }))
}

async fn webhook(auth: Authenticated, body: Bytes) -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "app_id": auth.app_id(),
        "scheme": auth.scheme(),
        "bytes": body.len(),
    }))
}

async fn echo(_auth: Authenticated, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let content_type = headers
        .get(CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| axum::http::HeaderValue::from_static("application/octet-stream"));
    ([(CONTENT_TYPE, content_type)], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_registry_loads() {
        let registry = demo_registry().unwrap();
        assert_eq!(registry.len(), 7);
        // The operator app's key grants `admin`; the demo key's app does not.
        let admin = registry.get(DEMO_ADMIN_KEY_ID).unwrap();
        assert_eq!(admin.scopes(), [Box::<str>::from("admin")]);
        assert_eq!(&*admin.secret().text_form(), DEMO_ADMIN_SECRET);
        let demo = registry.get(DEMO_KEY_ID).unwrap();
        assert!(!demo.scopes().iter().any(|s| &**s == "admin"));
        // The webhook secrets are the providers' strings, limited to their schemes.
        let stripe = registry.get(DEMO_STRIPE_KEY_ID).unwrap();
        assert_eq!(&*stripe.secret().text_form(), DEMO_STRIPE_SECRET);
        assert!(stripe.allows_scheme("stripe") && !stripe.allows_scheme("v1"));
        let slack = registry.get(DEMO_SLACK_KEY_ID).unwrap();
        assert_eq!(&*slack.secret().text_form(), DEMO_SLACK_SECRET);
        assert!(registry.get(DEMO_KEY_ID).is_some());
    }

    #[test]
    fn the_printed_secret_is_the_demo_keys() {
        // The printed value is the registry's secret for DEMO_KEY_ID: a request signed with it
        // verifies against the embedded registry's key for that id.
        let printed = tower_hmac::SecretKey::from_base64(demo_secret_base64()).unwrap();
        let registry = demo_registry().unwrap();
        let record = registry.get(DEMO_KEY_ID).unwrap();
        let uri: http::Uri = "/whoami".parse().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, "h".parse().unwrap());
        let auth = tower_hmac::protocol::Signer::new(DEMO_KEY_ID, printed)
            .unwrap()
            .sign(
                &(&http::Method::GET, &uri, &headers),
                &tower_hmac::protocol::EMPTY_BODY_SHA256,
                &tower_hmac::protocol::SignParams::new(1, "AAAAAAAAAAAAAAAAAAAAAA"),
            )
            .unwrap();
        let canonical =
            tower_hmac::protocol::CanonicalRequest::new(&auth, &http::Method::GET, &uri, &headers)
                .unwrap();
        assert!(
            canonical
                .verify(
                    record.secret(),
                    &tower_hmac::protocol::EMPTY_BODY_SHA256,
                    auth.signature()
                )
                .is_ok()
        );
    }

    #[test]
    fn max_skew_is_whole_seconds_in_range() {
        assert_eq!(
            Settings::parse_max_skew("2").unwrap(),
            Duration::from_secs(2)
        );
        assert!(Settings::parse_max_skew("0").is_err());
        assert!(Settings::parse_max_skew("1.5").is_err());
        assert!(Settings::parse_max_skew("3601").is_err());
    }

    #[test]
    fn the_replay_store_setting_is_memory_or_a_redis_url() {
        assert_eq!(ReplayStore::parse("", None).unwrap(), ReplayStore::Memory);
        assert_eq!(
            ReplayStore::parse("memory", None).unwrap(),
            ReplayStore::Memory
        );
        assert!(matches!(
            ReplayStore::parse("redis://127.0.0.1:6379", None).unwrap(),
            ReplayStore::Redis { .. }
        ));
        assert!(ReplayStore::parse("postgres://x", None).is_err());
    }

    #[test]
    fn loopback_hosts_include_localhost() {
        let hosts = hosts_for("127.0.0.1:8080".parse().unwrap(), &["api.test".into()]).unwrap();
        assert!(hosts.allows(b"api.test"));
        assert!(hosts.allows(b"127.0.0.1:8080"));
        assert!(hosts.allows(b"localhost:8080"));
        assert!(!hosts.allows(b"localhost"));
    }
}
