//! The skip predicate (issue 15): the requests it picks pass unverified, with their body read
//! within the layer's limits and no identity; everything else is verified as before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::routing::{get, post};
use http::Request;
use tower::ServiceExt as _;
use tower_hmac::{AllowedHosts, Authenticated, HmacAuthLayer, InMemoryRegistry};

fn app() -> Router {
    let hmac = HmacAuthLayer::builder(
        InMemoryRegistry::new(),
        AllowedHosts::new(["api.test"]).unwrap(),
    )
    .body_limit(16)
    .skip(|head| {
        matches!(head.uri.path(), "/health" | "/upload" | "/who")
            && head.method != http::Method::DELETE
    })
    .build()
    .unwrap();
    Router::new()
        .route(
            "/health",
            get(|| async { "ok" }).delete(|| async { "gone" }),
        )
        .route(
            "/upload",
            post(|body: bytes::Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/who",
            get(|auth: Authenticated| async move { auth.app_id().to_owned() }),
        )
        .route("/orders", get(|| async { "orders" }))
        .layer(hmac)
}

async fn status(method: &str, path: &str, body: &'static str) -> u16 {
    let request = Request::builder()
        .method(method)
        .uri(format!("https://api.test{path}"))
        .body(axum::body::Body::from(body))
        .unwrap();
    app().oneshot(request).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn skipped_requests_pass_unverified_and_others_do_not() {
    assert_eq!(status("GET", "/health", "").await, 200);
    // The predicate decides on the whole head: the same path with another method is verified.
    assert_eq!(status("DELETE", "/health", "").await, 401);
    assert_eq!(status("GET", "/orders", "").await, 401);
    // The body is read within the layer's limit.
    assert_eq!(status("POST", "/upload", "0123456789").await, 200);
    assert_eq!(status("POST", "/upload", "0123456789abcdefXYZ").await, 413);
    // No identity: an extractor that needs one refuses.
    assert_eq!(status("GET", "/who", "").await, 500);
}
