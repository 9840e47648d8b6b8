//! The demo's routes and their handlers.

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_hmac::{Authenticated, HmacAuthLayer};

use crate::schemes::{GITHUB_ROUTE, SLACK_ROUTE, STRIPE_ROUTE, TOKEN_ROUTE};

/// The demo routes, every signed one under the one `layer` ([`layer`](crate::layer())):
///
/// - `GET /health` is open;
/// - `GET /whoami` (answers `{"app_id", "key_id", "scheme", "scopes"}`), `GET /admin/whoami`
///   (the same, scope `admin` required: `403 insufficient_scope` for the demo key, 200 for
///   [`DEMO_ADMIN_KEY_ID`](crate::DEMO_ADMIN_KEY_ID)), `POST /echo` (or `PUT`, for presigned uploads) and
///   `/objects/{*key}` (S3-style keys: `GET` as `/whoami`, `PUT` as `/echo`) need a signature
///   (protocol v1, softaware's `Hmac`, RFC 9421, AWS SigV4, Kong's or APISIX's `hmac-auth`);
/// - `GET /token/whoami` ([`TOKEN_ROUTE`]) needs the ID:TS:HMAC token, and no other route
///   accepts it;
/// - `POST /webhooks/github`, `/webhooks/stripe`, `/webhooks/slack` need their provider's
///   signature (answer `{"app_id", "scheme", "bytes"}`), and no other route accepts it.
///
/// Which scheme a route accepts is the layer's reservations ([`reserve_routes`](crate::reserve_routes)), not the
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
