//! An Axum server behind `HmacAuthLayer` and a client that signs its requests with
//! `SignRequestLayer`, in one process over real TCP: the signed request is answered `200` with
//! the caller's identity, the same request unsigned `401`.
//!
//! ```sh
//! cargo run -p tower-hmac --example server_and_client
//! ```

use axum::{Router, routing::get};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::client::{RequestSigner, SignRequestLayer};
use tower_hmac::{AllowedHosts, Authenticated, HmacAuthLayer, InMemoryRegistry, SecretKey};

async fn whoami(caller: Authenticated) -> String {
    format!("hello {} (key {})", caller.app_id(), caller.key_id())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // One key, shared by the server's registry and the client. In production the registry
    // comes from a file (`InMemoryRegistry::from_toml_file`) and the client's key from its
    // environment (`SecretKey::from_base64(&std::env::var("TOWER_HMAC_SECRET")?)`).
    let key = SecretKey::generate()?;
    let registry = InMemoryRegistry::new();
    registry.insert("backoffice-2026-11", "backoffice", key.clone());

    // The server: the layer in front of the routes, answering for this one host.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let hmac = HmacAuthLayer::builder(registry, AllowedHosts::new([addr.to_string()])?).build()?;
    let app = Router::new().route("/whoami", get(whoami)).layer(hmac);
    // With the client's address (`ConnectInfo`): the log's `client` field, the per-address throttle.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The client: any Tower HTTP client (here hyper-util's) behind the signing layer.
    let plain = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let signer = RequestSigner::new("backoffice-2026-11", key)?;
    let client = ServiceBuilder::new()
        .layer(SignRequestLayer::new(signer))
        .service(plain.clone());

    let url = format!("http://{addr}/whoami");
    let request = http::Request::get(&url).body(Full::default())?;
    // The signing service accepts any request body, so name the request type for `oneshot`.
    let response = ServiceExt::<http::Request<Full<Bytes>>>::oneshot(client, request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("signed:   {status} {}", String::from_utf8_lossy(&body));
    assert_eq!(status, http::StatusCode::OK);

    // Without a signature the layer answers before the handler runs.
    let response = plain
        .request(http::Request::get(&url).body(Full::default())?)
        .await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("unsigned: {status} {}", String::from_utf8_lossy(&body));
    assert_eq!(status, http::StatusCode::UNAUTHORIZED);
    Ok(())
}
