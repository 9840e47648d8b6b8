//! Serving the demo: the listener loop, the header-read timeout, graceful shutdown and the
//! headers every response carries.

use std::io;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_hmac::{HmacAuthLayer, InMemoryRegistry};

use crate::layer::{layer, replay_store};
use crate::routes::app;
use crate::settings::Settings;

/// The default listening address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The default time a client has to send a request's whole head: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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
/// one `layer`), the session routes ([`sessions::routes`](crate::sessions::routes)) when given and, given the exporter's
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
