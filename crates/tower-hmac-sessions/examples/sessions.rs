//! Sessions for people: a login issues an access token and a refresh token, `BearerAuthLayer`
//! lets the access token through to an Axum handler, a refresh rotates the pair, and the spent
//! refresh token presented again ends the session — its live access token included.
//!
//! ```sh
//! cargo run -p tower-hmac-sessions --example sessions
//! ```

use std::sync::Arc;

use axum::body::Body;
use axum::{Router, routing::get};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_hmac_sessions::{
    AccessClaims, BearerAuthLayer, MemorySessionStore, SessionConfig, Sessions, SigningKeys,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn me(claims: AccessClaims) -> String {
    format!("hello {}", claims.sub)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sessions = Arc::new(Sessions::new(
        SigningKeys::generate("2026-11")?, // or SigningKeys::from_env("2026-11", "JWT_SECRET")?
        MemorySessionStore::new(),         // RedisSessionStore or PostgresSessionStore for replicas
        SessionConfig::new("https://auth.example.com", "orders-api"),
    ));
    let app = Router::new()
        .route("/me", get(me))
        .layer(BearerAuthLayer::new(Arc::clone(&sessions)));

    // Your login route, once the password checked out (`LoginGuard` limits the attempts):
    let pair = sessions.login("alice", &["orders:read".to_owned()]).await?;
    println!("logged in:  {}", get_me(&app, &pair.access_token).await?);

    // Your refresh route: a new pair, and the refresh token used is spent.
    let next = sessions.refresh(&pair.refresh_token).await?;
    println!("refreshed:  {}", get_me(&app, &next.access_token).await?);

    // The spent refresh token again (a stolen copy): refused, and the session is revoked.
    let reuse = sessions.refresh(&pair.refresh_token).await.err();
    println!("reuse:      {}", reuse.map_or("accepted", |e| e.code()));
    println!("then:       {}", get_me(&app, &next.access_token).await?);
    Ok(())
}

/// `GET /me` with the access token: the status and the body.
async fn get_me(app: &Router, access_token: &str) -> Result<String, Error> {
    let bearer = format!("Bearer {access_token}");
    let request = http::Request::get("/me")
        .header(http::header::AUTHORIZATION, bearer)
        .body(Body::empty())?;
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(format!("{status} {}", String::from_utf8_lossy(&body)))
}
