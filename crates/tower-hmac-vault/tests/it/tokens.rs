//! What the vault stores: RFC 6749 appendix A's token and scope syntax, nothing else. A token
//! with a CR or LF (which would become a header injection attempt, or be refused only when
//! sent) or a scope with a space or a quote is refused when stored, `invalid_tokens`.

use tower_hmac_core::keyring::{Keyring, MasterKey};
use tower_hmac_core::{ManualClock, SecretKey};
use tower_hmac_vault::store::MemoryVaultStore;
use tower_hmac_vault::{DelegatedTokens, Vault, VaultError};

use crate::client_fake_upstream::START;

fn vault() -> Vault {
    Vault::new(
        MemoryVaultStore::new(),
        Keyring::new(MasterKey::generate().unwrap()),
        SecretKey::generate().unwrap(),
    )
}

fn tokens(access: &str, refresh: Option<&str>, scopes: &[&str]) -> DelegatedTokens {
    DelegatedTokens::new(
        access,
        refresh.map(str::to_owned),
        1_900_000_000,
        scopes.iter().map(|s| (*s).to_owned()).collect(),
    )
}

#[tokio::test]
async fn tokens_and_scopes_outside_rfc_6749s_syntax_are_refused() {
    let vault = vault();
    let refused = [
        tokens("at\r\nX-Injected: 1", None, &["read"]),
        tokens("at\n", None, &["read"]),
        tokens("at\u{0}", None, &["read"]),
        tokens("at\u{7f}", None, &["read"]),
        tokens("\u{e9}t\u{e9}", None, &["read"]),
        tokens("at", Some("rt\r\n"), &["read"]),
        tokens("at", Some(""), &["read"]),
        tokens("", None, &["read"]),
        tokens("at", None, &["read write"]),
        tokens("at", None, &["re\"ad"]),
        tokens("at", None, &["re\\ad"]),
        tokens("at", None, &[""]),
        tokens("at", None, &["r\u{e9}ad"]),
    ];
    for (i, t) in refused.iter().enumerate() {
        let result = vault.put("alice", "github", t).await;
        assert!(
            matches!(result, Err(VaultError::InvalidTokens)),
            "case {i}: {result:?}"
        );
    }
    assert!(vault.get("alice", "github").await.unwrap().is_none());

    // The whole of VSCHAR and NQCHAR is accepted (a token may hold spaces and quotes).
    let vschar: String = (0x20u8..=0x7e).map(char::from).collect();
    let nqchar: String = (0x21u8..=0x7e)
        .filter(|b| *b != b'"' && *b != b'\\')
        .map(char::from)
        .collect();
    let ok = tokens(&vschar, Some(&vschar), &[&nqchar[..64], &nqchar[64..]]);
    vault.put("alice", "github", &ok).await.unwrap();
    let entry = vault.get("alice", "github").await.unwrap().unwrap();
    assert_eq!(entry.tokens.access_token(), vschar);
    assert_eq!(entry.tokens.refresh_token(), Some(vschar.as_str()));
}

/// A token endpoint that answers `answer` to every refresh, and an API that refuses every
/// token.
async fn hostile_upstream(answer: serde_json::Value) -> String {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/token",
            post(move || {
                let answer = answer.clone();
                async move { axum::Json(answer) }
            }),
        )
        .route(
            "/api/me",
            get(|| async { axum::http::StatusCode::UNAUTHORIZED }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

/// A delegated call for alice, linked with an expired token, against a token endpoint that
/// answers `answer`: the call's result and the vault.
async fn refresh_against(
    answer: serde_json::Value,
) -> (
    Result<reqwest::Response, tower_hmac_vault::client::DelegationError>,
    std::sync::Arc<Vault>,
) {
    use tower_hmac_vault::client::{Delegation, Upstream};
    let origin = hostile_upstream(answer).await;
    // On a clock of the test's own: what the vault computes from it is known exactly.
    let vault = std::sync::Arc::new(vault().with_clock(ManualClock::at_unix(START)));
    let linked = DelegatedTokens::new("linked", Some("refresh".into()), 1, vec!["read".into()]);
    vault.put("alice", "hostile", &linked).await.unwrap();
    let upstream = Upstream::builder(
        "hostile",
        format!("{origin}/api/"),
        format!("{origin}/token"),
        "client",
    )
    .allow_insecure_loopback(true)
    .build()
    .unwrap();
    let delegation = Delegation::builder(std::sync::Arc::clone(&vault))
        .upstream(upstream)
        .build()
        .unwrap();
    let request = delegation
        .http_client()
        .get(format!("{origin}/api/me"))
        .build()
        .unwrap();
    let result = delegation
        .send("alice", "hostile", &["read"], request)
        .await;
    (result, vault)
}

async fn assert_kept(vault: &Vault) {
    let kept = vault.get("alice", "hostile").await.unwrap().unwrap();
    assert_eq!(kept.tokens.access_token(), "linked");
    assert_eq!(kept.tokens.refresh_token(), Some("refresh"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_answer_outside_the_syntax_is_unusable_and_what_the_vault_holds_stays() {
    // An access token with a CR LF in it: a header injection attempt.
    let (result, vault) = refresh_against(serde_json::json!({
        "access_token": "fresh\r\nX-Injected: 1",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "rotated",
    }))
    .await;
    let error = result.expect_err("the answer is unusable");
    assert_eq!(error.code(), "upstream_unavailable");
    assert_eq!(error.status(), 503);
    assert_kept(&vault).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_another_type_than_bearer_is_not_used() {
    // RFC 6749 §7.1: the client does not use a token type it does not understand.
    let (result, vault) = refresh_against(serde_json::json!({
        "access_token": "fresh",
        "token_type": "mac",
        "expires_in": 3600,
        "refresh_token": "rotated",
    }))
    .await;
    assert_eq!(
        result.expect_err("not a bearer token").code(),
        "upstream_unavailable"
    );
    assert_kept(&vault).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expires_in_beyond_a_year_is_taken_as_366_days() {
    let (result, vault) = refresh_against(serde_json::json!({
        "access_token": "fresh",
        "token_type": "bearer",
        "expires_in": u64::MAX,
        "refresh_token": "rotated",
    }))
    .await;
    // The API refuses every token: the call ends 401 after one refresh and one retry.
    assert_eq!(result.unwrap().status(), 401);
    let entry = vault.get("alice", "hostile").await.unwrap().unwrap();
    assert_eq!(entry.tokens.access_token(), "fresh");
    assert_eq!(
        entry.tokens.expires_at(),
        START + tower_hmac_vault::client::MAX_TOKEN_LIFETIME.as_secs()
    );
}
