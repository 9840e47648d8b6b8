//! The tower-hmac demo server: an Axum app with open and signed routes.
//!
//! `cargo run -p demo-server` listens on 127.0.0.1:8080 with the demo registry embedded in the
//! binary (`demo-registry.toml`), so it needs no file and no other service.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_hmac::{AllowedHosts, Authenticated, ConfigError, HmacAuthLayer, InMemoryRegistry};

/// The demo registry, embedded: **published demo keys**, for this demo only.
pub const DEMO_REGISTRY: &str = include_str!("../demo-registry.toml");
/// The key id the demo prints instructions for.
pub const DEMO_KEY_ID: &str = "demo-2026";
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

/// The hosts a client may name for a server bound to `addr`: the address itself and, for
/// loopback, `localhost` with the same port.
pub fn hosts_for(addr: SocketAddr) -> Result<AllowedHosts, tower_hmac::core::HostError> {
    let port = addr.port();
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        hosts.push(format!("localhost:{port}"));
    }
    AllowedHosts::new(hosts)
}

/// The demo routes: `GET /health` is open; `GET /whoami` and `POST /echo` need a signature.
pub fn app(layer: HmacAuthLayer) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/echo", post(echo))
        .route_layer(layer)
        .route("/health", get(health))
}

/// The layer of the demo: the registry, and the hosts of `addr`.
pub fn layer(registry: InMemoryRegistry, addr: SocketAddr) -> Result<HmacAuthLayer, ConfigError> {
    let hosts = hosts_for(addr).map_err(|_| ConfigError::NoAllowedHosts)?;
    HmacAuthLayer::builder(registry)
        .allowed_hosts(hosts)
        .build()
}

/// Serves the demo on `listener` until the future is dropped.
pub async fn serve(listener: TcpListener, registry: InMemoryRegistry) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let layer = layer(registry, addr).map_err(io::Error::other)?;
    serve_with(listener, layer).await
}

/// Serves the demo routes behind a layer configured by the caller (tests use it for a skewed
/// server clock).
pub async fn serve_with(listener: TcpListener, layer: HmacAuthLayer) -> io::Result<()> {
    let app = app(layer).layer(tower_http::trace::TraceLayer::new_for_http());
    axum::serve(listener, app).await
}

async fn health() -> &'static str {
    "ok\n"
}

async fn whoami(auth: Authenticated) -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "app_id": auth.app_id(),
        "key_id": auth.key_id(),
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
        assert_eq!(registry.len(), 3);
        assert!(registry.get(DEMO_KEY_ID).is_some());
    }

    #[test]
    fn the_printed_secret_is_the_demo_keys() {
        let secret = tower_hmac::SecretKey::from_base64(demo_secret_base64()).unwrap();
        assert_eq!(secret.len(), 44);
    }

    #[test]
    fn loopback_hosts_include_localhost() {
        let hosts = hosts_for("127.0.0.1:8080".parse().unwrap()).unwrap();
        assert!(hosts.allows(b"127.0.0.1:8080"));
        assert!(hosts.allows(b"localhost:8080"));
        assert!(!hosts.allows(b"localhost"));
    }
}
