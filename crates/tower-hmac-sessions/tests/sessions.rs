//! Issuing, verifying, refreshing and revoking with the in-memory store, on a clock the test
//! moves; the layer in memory (`oneshot`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};
use tower_hmac_core::{ManualClock, SecretKey};
use tower_hmac_sessions::{
    AccessClaims, BearerAuthLayer, MemorySessionStore, RefreshError, SessionConfig, Sessions,
    SigningKeys, TokenError,
};

type Clock = ManualClock;

fn clock() -> ManualClock {
    ManualClock::at_unix(1_800_000_000)
}

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

/// Sessions with `keys` and `config` on `clock`, in memory.
fn sessions_with(keys: SigningKeys, config: SessionConfig, clock: &Clock) -> Sessions {
    Sessions::new(keys, MemorySessionStore::new(), config).with_clock(clock.clone())
}

fn config() -> SessionConfig {
    SessionConfig::new("https://auth.example.com", "orders-api")
}

fn sessions(clock: &Clock) -> Sessions {
    sessions_with(SigningKeys::new("k1", key(1)).unwrap(), config(), clock)
}

fn scopes() -> Vec<String> {
    vec!["orders:read".into()]
}

#[tokio::test]
async fn an_access_token_carries_its_claims_and_expires() {
    let clock = clock();
    let s = sessions(&clock);
    let pair = s.login("alice", &scopes()).await.unwrap();
    assert_eq!((pair.expires_in, pair.token_type), (900, "Bearer"));
    let claims = s.verify_access(&pair.access_token).await.unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.iss, "https://auth.example.com");
    assert_eq!(claims.aud, "orders-api");
    assert_eq!(claims.exp - claims.iat, 900);
    assert!(claims.has_scope("orders:read"));
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(pair.access_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], "k1");
    // Within the leeway, then not.
    clock.advance(Duration::from_secs(900 + 30));
    assert!(s.verify_access(&pair.access_token).await.is_ok());
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        s.verify_access(&pair.access_token).await.unwrap_err(),
        TokenError::Expired
    );
}

#[tokio::test]
async fn forged_and_foreign_tokens_are_refused() {
    let clock = clock();
    let s = sessions(&clock);
    let pair = s.login("alice", &scopes()).await.unwrap();
    // Another key under the same kid.
    let other = sessions_with(SigningKeys::new("k1", key(9)).unwrap(), config(), &clock);
    let forged = other.login("alice", &scopes()).await.unwrap();
    assert_eq!(
        s.verify_access(&forged.access_token)
            .await
            .unwrap_err()
            .code(),
        "invalid_token"
    );
    // Another audience, another issuer.
    for config in [
        SessionConfig::new("https://auth.example.com", "billing-api"),
        SessionConfig::new("https://evil.example.com", "orders-api"),
    ] {
        let foreign = sessions_with(SigningKeys::new("k1", key(1)).unwrap(), config, &clock);
        let token = foreign
            .login("alice", &scopes())
            .await
            .unwrap()
            .access_token;
        assert_eq!(
            s.verify_access(&token).await.unwrap_err().code(),
            "invalid_token"
        );
    }
    // alg: none, with the same claims.
    let mut parts = pair.access_token.split('.');
    let (_, claims) = (parts.next().unwrap(), parts.next().unwrap());
    let none = format!(
        "{}.{claims}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#)
    );
    assert_eq!(
        s.verify_access(&none).await.unwrap_err().code(),
        "invalid_token"
    );
    // A refresh token is not an access token.
    assert_eq!(
        s.verify_access(&pair.refresh_token)
            .await
            .unwrap_err()
            .code(),
        "invalid_token"
    );
    // An unknown kid.
    let rotated = sessions_with(SigningKeys::new("k2", key(1)).unwrap(), config(), &clock);
    let token = rotated
        .login("alice", &scopes())
        .await
        .unwrap()
        .access_token;
    assert_eq!(
        s.verify_access(&token).await.unwrap_err().code(),
        "invalid_token"
    );
}

#[tokio::test]
async fn keys_rotate_by_kid() {
    let clock = clock();
    let old = sessions(&clock);
    let token = old.login("alice", &scopes()).await.unwrap().access_token;
    let keys = SigningKeys::new("k2", key(2))
        .unwrap()
        .with_key("k1", key(1))
        .unwrap();
    let new = sessions_with(keys, config(), &clock);
    assert!(new.verify_access(&token).await.is_ok(), "k1 still verifies");
    let fresh = new.login("bob", &scopes()).await.unwrap().access_token;
    assert!(new.verify_access(&fresh).await.is_ok());
    assert!(
        old.verify_access(&fresh).await.is_err(),
        "k2 is unknown to the old set"
    );
}

#[tokio::test]
async fn refresh_rotates_reuse_revokes_and_logout_ends_the_session() {
    let clock = clock();
    let s = sessions(&clock);
    let first = s.login("alice", &scopes()).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let second = s.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    let claims = s.verify_access(&second.access_token).await.unwrap();
    assert_eq!(claims.sub, "alice");
    // The old refresh token again: the whole family is revoked, live access tokens denied.
    assert!(matches!(
        s.refresh(&first.refresh_token).await.unwrap_err(),
        RefreshError::Reused
    ));
    assert!(matches!(
        s.refresh(&second.refresh_token).await.unwrap_err(),
        RefreshError::Revoked
    ));
    assert_eq!(
        s.verify_access(&second.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
    assert_eq!(
        s.verify_access(&first.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
    assert!(matches!(
        s.refresh("not-a-token").await.unwrap_err(),
        RefreshError::Invalid
    ));

    // Logout by access token's session, and by refresh token.
    let pair = s.login("alice", &scopes()).await.unwrap();
    let sid = s.verify_access(&pair.access_token).await.unwrap().sid;
    assert!(s.revoke_session(&sid).await.unwrap());
    assert!(s.refresh(&pair.refresh_token).await.is_err());
    let pair = s.login("alice", &scopes()).await.unwrap();
    assert!(
        s.revoke_by_refresh_token(&pair.refresh_token)
            .await
            .unwrap()
    );
    assert_eq!(
        s.verify_access(&pair.access_token).await.unwrap_err(),
        TokenError::Revoked
    );
}

#[tokio::test]
async fn a_password_change_ends_every_session_of_the_subject() {
    let clock = clock();
    let s = sessions(&clock);
    let laptop = s.login("alice", &scopes()).await.unwrap();
    let phone = s.login("alice", &scopes()).await.unwrap();
    let bob = s.login("bob", &scopes()).await.unwrap();
    assert_eq!(s.revoke_subject("alice").await.unwrap(), 2);
    for pair in [&laptop, &phone] {
        assert!(s.refresh(&pair.refresh_token).await.is_err());
        assert!(s.verify_access(&pair.access_token).await.is_err());
    }
    assert!(s.refresh(&bob.refresh_token).await.is_ok());
}

#[tokio::test]
async fn sessions_end_when_idle_or_old() {
    let clock = clock();
    let s = sessions(&clock);
    let pair = s.login("alice", &scopes()).await.unwrap();
    clock.advance(Duration::from_secs(86_400));
    assert!(matches!(
        s.refresh(&pair.refresh_token).await.unwrap_err(),
        RefreshError::Expired
    ));
    // Refreshed every 20 hours, it still ends after 14 days.
    let mut pair = s.login("alice", &scopes()).await.unwrap();
    let mut refreshed = 0;
    loop {
        clock.advance(Duration::from_secs(20 * 3600));
        match s.refresh(&pair.refresh_token).await {
            Ok(next) => {
                pair = next;
                refreshed += 1;
            }
            Err(RefreshError::Expired) => break,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(refreshed, 16, "14 days of 20-hour refreshes");
}

async fn me(claims: AccessClaims) -> String {
    claims.sub
}

#[tokio::test]
async fn the_layer_lets_valid_bearers_through_and_answers_the_others_with_codes() {
    let clock = clock();
    let s = Arc::new(sessions(&clock));
    let pair = s.login("alice", &scopes()).await.unwrap();
    let app = axum::Router::new()
        .route("/me", axum::routing::get(me))
        .layer(BearerAuthLayer::new(Arc::clone(&s)));
    let call = |auth: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::get("/me");
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            let res: Response<axum::body::Body> = app
                .oneshot(req.body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            let status = res.status();
            let challenge = res
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap(), challenge)
        }
    };
    let (status, body, _) = call(Some(format!("Bearer {}", pair.access_token))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "alice"));
    let (status, body, challenge) = call(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"code\":\"missing_token\""), "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    let (status, body, challenge) = call(Some("Bearer nonsense".into())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"code\":\"invalid_token\""), "{body}");
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    clock.advance(Duration::from_secs(2000));
    let (_, body, _) = call(Some(format!("Bearer {}", pair.access_token))).await;
    assert!(body.contains("\"code\":\"token_expired\""), "{body}");
    // The extractor outside the layer: 401, not a panic.
    let bare = axum::Router::new().route("/me", axum::routing::get(me));
    let res = ServiceBuilder::new()
        .service(bare)
        .oneshot(Request::get("/me").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn secrets_and_tokens_are_not_printed() {
    let keys = SigningKeys::new("k1", key(7)).unwrap();
    let text = format!("{keys:?}");
    assert!(text.contains("k1") && !text.contains(&hex::encode([7u8; 32])));
}
