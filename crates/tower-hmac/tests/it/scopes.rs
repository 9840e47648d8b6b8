//! Scopes (issue 15, first part): granted per app or per key in the registry file, exposed by
//! `Authenticated`, required per route by `RequireScope` (`403 insufficient_scope`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::routing::{get, post};
use http::Request;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use tower_hmac::protocol::{Problem, SignParams, Signer, body_sha256, generate_nonce};
use tower_hmac::server::RequireScope;
use tower_hmac::{
    AllowedHosts, Authenticated, HmacAuthLayer, InMemoryRegistry, MemoryNonceStore, SecretKey,
};

const NOW: u64 = 1_700_000_000;
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn app() -> Router {
    let registry = InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"shop\"\nscopes = [\"orders:read\", \"orders:write\"]\n\
         [[apps.keys]]\nid = \"shop-1\"\nsecret = \"{KEY}\"\n\
         [[apps.keys]]\nid = \"shop-reader\"\nsecret = \"{KEY}\"\nscopes = [\"orders:read\"]\n\
         [[apps]]\nid = \"partner\"\n\
         [[apps.keys]]\nid = \"partner-1\"\nsecret = \"{KEY}\"\n"
    ))
    .unwrap();
    let hmac = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.test"]).unwrap())
        .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
        .nonce_store(MemoryNonceStore::new(100).unwrap().with_horizon(UNIX_EPOCH))
        .build()
        .unwrap();
    let scopes = |auth: Authenticated| async move { auth.scopes().join(",") };
    Router::new()
        .route("/orders", post(scopes))
        .route_layer(RequireScope::new("orders:write"))
        .route("/both", get(scopes))
        .route_layer(RequireScope::all(["orders:read", "orders:write"]))
        .route("/open", get(scopes))
        .layer(hmac)
}

async fn call(app: &Router, method: &str, path: &str, key_id: &str) -> (u16, String, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("https://api.test{path}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let (m, uri) = (request.method().clone(), request.uri().clone());
    Signer::new(key_id, SecretKey::from_base64(KEY).unwrap())
        .unwrap()
        .authorize(
            &m,
            &uri,
            request.headers_mut(),
            &body_sha256(b""),
            &SignParams::new(NOW, &generate_nonce().unwrap()),
        )
        .unwrap();
    let res = app.clone().oneshot(request).await.unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, challenge, body)
}

#[tokio::test]
async fn routes_require_scopes_granted_per_app_or_per_key() {
    let app = app();
    assert_eq!(
        call(&app, "POST", "/orders", "shop-1").await.2,
        "orders:read,orders:write"
    );
    assert_eq!(call(&app, "GET", "/both", "shop-1").await.0, 200);
    // A key's own list narrows its app's.
    let (status, challenge, body) = call(&app, "POST", "/orders", "shop-reader").await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge,
        "HMAC-SHA256 error=\"insufficient_scope\", scope=\"orders:write\""
    );
    let problem = Problem::from_json(&body).unwrap();
    assert_eq!(problem.kind(), tower_hmac::RejectionKind::InsufficientScope);
    assert_eq!(problem.scope(), Some("orders:write"));
    // All of them: the first one missing is named.
    let (status, challenge, _) = call(&app, "GET", "/both", "shop-reader").await;
    assert_eq!(status, 403);
    assert!(challenge.ends_with("scope=\"orders:write\""), "{challenge}");
    // No scopes at all: refused where one is needed, served where none is.
    assert_eq!(call(&app, "POST", "/orders", "partner-1").await.0, 403);
    assert_eq!(
        call(&app, "GET", "/open", "partner-1").await,
        (200, String::new(), String::new())
    );
}

#[test]
fn the_registry_file_refuses_invalid_scopes() {
    for scope in ["", "with space", "quote\"d", &"x".repeat(129)] {
        let err = InMemoryRegistry::from_toml_str(&format!(
            "[[apps]]\nid = \"a\"\nscopes = [{scope:?}]\n[[apps.keys]]\nid = \"k\"\nsecret = \"{KEY}\"\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("invalid scope"), "{scope}: {err}");
    }
}

#[tokio::test]
async fn a_scope_refusal_answers_through_the_layers_responder_and_challenge() {
    // An S3 client behind a layer with the S3 responder got problem+json on a 403.
    let registry = InMemoryRegistry::from_toml_str(&format!(
        "[[apps]]\nid = \"shop\"\n[[apps.keys]]\nid = \"shop-1\"\nsecret = \"{KEY}\"\n"
    ))
    .unwrap();
    let hmac = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.test"]).unwrap())
        .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
        .nonce_store(MemoryNonceStore::new(100).unwrap().with_horizon(UNIX_EPOCH))
        .responder(tower_hmac::server::S3XmlResponder)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/orders", post(|| async { "ok" }))
        .route_layer(RequireScope::new("orders:write"))
        .layer(hmac);
    let (status, _, body) = call(&app, "POST", "/orders", "shop-1").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(
        body.contains("<TowerHmacCode>insufficient_scope</TowerHmacCode>"),
        "{body}"
    );
}

#[tokio::test]
async fn a_scope_refusal_names_the_scheme_that_verified() {
    // The challenge is the verifying scheme's, not a map of ids kept beside it.
    let caller = Authenticated::new("shop".into(), "shop-1".into());
    assert_eq!(caller.challenge(), "HMAC-SHA256");
    let (status, challenge, _) = call(&app(), "POST", "/orders", "shop-reader").await;
    assert_eq!(status, 403);
    assert!(challenge.starts_with("HMAC-SHA256 "), "{challenge}");
}
