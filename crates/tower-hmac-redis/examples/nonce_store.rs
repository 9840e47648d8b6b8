//! The Redis replay store on an `HmacAuthLayer`: a signed request is accepted once, and the same
//! request sent again — to this instance or to any other sharing the Redis — is refused as a
//! replay. Needs a Redis at `$REDIS_URL` (default `redis://127.0.0.1:6379`) whose
//! `maxmemory-policy` is `noeviction` (Redis's default).
//!
//! ```sh
//! cargo run -p tower-hmac-redis --example nonce_store
//! ```

use std::convert::Infallible;
use std::sync::mpsc;

use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::client::{RequestSigner, SignRequestLayer};
use tower_hmac::server::VerifiedBody;
use tower_hmac::{AllowedHosts, HmacAuthLayer, InMemoryRegistry, Rejection, SecretKey};
use tower_hmac_redis::RedisNonceStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // `connect` checks now that Redis answers and cannot evict a nonce (`open` would check on
    // the first request, so that a service can start while Redis is down).
    let store = RedisNonceStore::connect(&url)
        .await?
        .with_prefix("orders-api:nonce:"); // one prefix per service

    let key = SecretKey::generate()?;
    let registry = InMemoryRegistry::new();
    registry.insert("backoffice-2026-11", "backoffice", key.clone());
    let hmac = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.example.com"])?)
        .nonce_store(store)
        .build()?;
    // The layer goes in front of any service: an Axum `Router` as well (`.layer(hmac)`).
    let server = ServiceBuilder::new().layer(hmac).service_fn(
        |_request: http::Request<VerifiedBody>| async {
            Ok::<_, Infallible>(http::Response::new(String::from("order placed")))
        },
    );

    // A client that signs its requests, and a tap that copies what it sends, as an attacker on
    // the wire would.
    let (wire, captured) = mpsc::channel();
    let client = ServiceBuilder::new()
        .layer(SignRequestLayer::new(RequestSigner::new(
            "backoffice-2026-11",
            key,
        )?))
        .map_request(move |request: http::Request<_>| {
            let _ = wire.send(request.headers().clone());
            request
        })
        .service(server.clone());

    let (url, order) = ("http://api.example.com/orders", r#"{"item":7}"#);
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(String::from(order))?;
    let response = client.oneshot(request).await?;
    println!("client: {}", response.status());

    // The captured request, sent again: its nonce is in Redis.
    let mut replay = http::Request::post(url).body(String::from(order))?;
    *replay.headers_mut() = captured.try_iter().last().ok_or("nothing was sent")?;
    let response = server.oneshot(replay).await?;
    let rejection = response.extensions().get::<Rejection>();
    let code = rejection.map_or("accepted", Rejection::code);
    println!("replay: {} {code}", response.status());
    Ok(())
}
