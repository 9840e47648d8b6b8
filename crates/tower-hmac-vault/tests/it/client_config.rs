//! The delegating client's settings: HTTPS enforced at build time, secrets kept out of `Debug`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;

use tower_hmac_core::SecretKey;
use tower_hmac_core::keyring::{Keyring, MasterKey};
use tower_hmac_vault::Vault;
use tower_hmac_vault::client::{Delegation, Upstream};
use tower_hmac_vault::store::MemoryVaultStore;

use crate::client_fake_upstream::{HOUR, Setup};

fn build(base: &str, token: &str, loopback: bool) -> Result<Upstream, &'static str> {
    Upstream::builder("up", base, token, "client")
        .allow_insecure_loopback(loopback)
        .build()
        .map_err(|e| e.code())
}

#[test]
fn an_http_upstream_that_is_not_loopback_is_refused_even_with_insecure_loopback() {
    for loopback in [false, true] {
        let refused = build(
            "http://api.example.com/",
            "https://auth.example.com/token",
            loopback,
        );
        assert_eq!(refused.unwrap_err(), "insecure_upstream_url");
        let refused = build(
            "http://10.0.0.1/",
            "https://auth.example.com/token",
            loopback,
        );
        assert_eq!(refused.unwrap_err(), "insecure_upstream_url");
    }
}

#[test]
fn a_loopback_http_upstream_needs_allow_insecure_loopback() {
    for base in [
        "http://127.0.0.1:8081/",
        "http://[::1]:8081/",
        "http://localhost:8081/",
    ] {
        let token = format!("{base}token");
        assert_eq!(
            build(base, &token, false).unwrap_err(),
            "insecure_upstream_url"
        );
        assert!(build(base, &token, true).is_ok(), "{base}");
    }
}

#[test]
fn an_http_token_endpoint_is_refused() {
    let refused = build(
        "https://api.example.com/",
        "http://auth.example.com/token",
        true,
    );
    assert_eq!(refused.unwrap_err(), "insecure_upstream_url");
    let refused = build(
        "https://api.example.com/",
        "ftp://auth.example.com/token",
        false,
    );
    assert_eq!(refused.unwrap_err(), "insecure_upstream_url");
    assert!(
        build(
            "https://api.example.com/",
            "https://auth.example.com/token",
            false
        )
        .is_ok()
    );
}

fn vault() -> Arc<Vault> {
    Arc::new(Vault::new(
        MemoryVaultStore::new(),
        Keyring::new(MasterKey::generate().unwrap()),
        SecretKey::generate().unwrap(),
    ))
}

#[test]
fn a_duplicate_upstream_is_refused() {
    let up = build(
        "https://api.example.com/",
        "https://auth.example.com/token",
        false,
    )
    .unwrap();
    let err = Delegation::builder(vault())
        .upstream(up.clone())
        .upstream(up)
        .build()
        .unwrap_err();
    assert_eq!(err.code(), "duplicate_upstream");
}

#[test]
fn a_user_agent_that_is_no_header_value_is_refused() {
    let err = Delegation::builder(vault())
        .user_agent("two\nlines")
        .build()
        .unwrap_err();
    assert_eq!(err.code(), "http_client");
    Delegation::builder(vault())
        .user_agent("my-service/1.0")
        .build()
        .unwrap();
}

#[tokio::test]
async fn debug_shows_no_secret_and_no_token() {
    let setup = Setup::new().await;
    let (access, refresh) = setup.link("alice", HOUR, &["profile"]).await;
    setup.up.expire_all();
    let res = setup
        .client()
        .get(setup.up.api("me"))
        .with_extension(tower_hmac_vault::client::OnBehalfOf::new(
            "alice",
            "fake",
            ["profile"],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (new_access, new_refresh) = setup.stored("alice").await.unwrap();

    let builder = Upstream::builder("up", "https://a.example/", "https://a.example/t", "c")
        .client_secret(crate::client_fake_upstream::CLIENT_SECRET);
    let shown = format!(
        "{:?} {:?} {:?} {:?}",
        setup.delegation,
        setup.delegation.upstream("fake").unwrap(),
        builder,
        tower_hmac_vault::client::OnBehalfOf::new("alice", "fake", ["profile"]),
    );
    assert!(shown.contains("[redacted]"), "{shown}");
    for secret in [
        crate::client_fake_upstream::CLIENT_SECRET,
        &access,
        &refresh,
        &new_access,
        &new_refresh,
        "alice",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}
