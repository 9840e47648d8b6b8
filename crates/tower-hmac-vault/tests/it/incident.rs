//! Issue 30 item 5: the security-incident path. `revoke_all` deletes every upstream's tokens of
//! a user and ends all their sessions in one call, with one `ALL_TOKENS_REVOKED` event that
//! names the user only by their keyed hash; a revoker that fails does not stop the others.

use async_trait::async_trait;
use tower_hmac_core::audit::{AuditEvent, AuditKind, Risk};
use tower_hmac_core::keyring::{Keyring, MasterKey};
use tower_hmac_core::test_util::AuditLog;
use tower_hmac_core::{ManualClock, SecretKey};
use tower_hmac_sessions::{MemorySessionStore, SessionConfig, Sessions, SigningKeys, TokenError};
use tower_hmac_vault::store::MemoryVaultStore;
use tower_hmac_vault::{DelegatedTokens, RevokedAll, SubjectRevoker, Vault, revoke_all};

fn vault(clock: &ManualClock) -> (Vault, AuditLog) {
    let events = AuditLog::new();
    let vault = Vault::new(
        MemoryVaultStore::new(),
        Keyring::new(MasterKey::generate().unwrap()),
        SecretKey::from_bytes(&[9; 32]).unwrap(),
    )
    .with_clock(clock.clone())
    .audit_hook(events.clone());
    (vault, events)
}

fn sessions(clock: &ManualClock) -> Sessions {
    let keys = SigningKeys::new("k1", SecretKey::from_bytes(&[1; 32]).unwrap()).unwrap();
    Sessions::new(
        keys,
        MemorySessionStore::new(),
        SessionConfig::development("http://localhost", "demo"),
    )
    .with_clock(clock.clone())
}

fn tokens(access: &str) -> DelegatedTokens {
    DelegatedTokens::new(
        access,
        Some(format!("{access}-refresh")),
        1_800_003_600,
        vec!["orders:read".into()],
    )
}

fn all_revoked(events: &AuditLog) -> Vec<AuditEvent> {
    events.of_kind(AuditKind::AllTokensRevoked)
}

#[tokio::test]
async fn revoke_all_deletes_every_upstreams_tokens_and_ends_every_session() {
    let clock = ManualClock::at_unix(1_800_000_000);
    let (vault, events) = vault(&clock);
    let sessions = sessions(&clock);
    vault.put("alice", "github", &tokens("gh-a")).await.unwrap();
    vault.put("alice", "orders", &tokens("or-a")).await.unwrap();
    vault.put("bob", "github", &tokens("gh-b")).await.unwrap();
    let scopes = vec!["orders:read".to_string()];
    let first = sessions.login("alice", &scopes).await.unwrap();
    let second = sessions.login("alice", &scopes).await.unwrap();
    let bobs = sessions.login("bob", &scopes).await.unwrap();

    let revoked = revoke_all(&vault, "alice", &[&sessions as &dyn SubjectRevoker])
        .await
        .unwrap();

    assert_eq!(
        revoked,
        RevokedAll {
            tokens: 2,
            others: 2
        }
    );
    assert!(vault.get("alice", "github").await.unwrap().is_none());
    assert!(vault.get("alice", "orders").await.unwrap().is_none());
    assert!(
        vault.get("bob", "github").await.unwrap().is_some(),
        "bob untouched"
    );
    for pair in [&first, &second] {
        assert!(
            matches!(
                sessions.verify_access(&pair.access_token).await,
                Err(TokenError::Revoked)
            ),
            "alice's access tokens are refused at once"
        );
        assert!(sessions.refresh(&pair.refresh_token).await.is_err());
    }
    sessions.verify_access(&bobs.access_token).await.unwrap();

    let events = all_revoked(&events);
    assert_eq!(events.len(), 1, "one event for the whole incident");
    let event = &events[0];
    assert_eq!(event.risk, Risk::High);
    assert_eq!(event.count, Some(4));
    assert_eq!(event.reason, "security_incident");
    let hash = vault.user_hash("alice").unwrap();
    assert_eq!(event.subject.as_deref(), Some(hash.as_str()));
    assert!(
        !format!("{event:?}").contains("alice"),
        "the event names the user by their keyed hash only"
    );
}

#[tokio::test]
async fn sessions_sharing_the_vaults_audit_hook_add_no_event_naming_the_user() {
    let clock = ManualClock::at_unix(1_800_000_000);
    let (vault, events) = vault(&clock);
    let sessions = sessions(&clock).audit_hook(events.clone());
    let scopes = vec!["orders:read".to_string()];
    sessions.login("alice", &scopes).await.unwrap();
    vault.put("alice", "github", &tokens("gh-a")).await.unwrap();
    let before = events.len();

    revoke_all(&vault, "alice", &[&sessions as &dyn SubjectRevoker])
        .await
        .unwrap();

    let during = events.all().split_off(before);
    assert_eq!(
        during.len(),
        1,
        "one event for the whole incident: {during:?}"
    );
    assert_eq!(during[0].kind, AuditKind::AllTokensRevoked);
    assert_eq!(during[0].count, Some(2));
    assert!(!format!("{during:?}").contains("alice"), "{during:?}");
}

struct Broken;

#[async_trait]
impl SubjectRevoker for Broken {
    async fn revoke_subject(
        &self,
        _subject: &str,
    ) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
        Err("the API key table is down".into())
    }
}

#[tokio::test]
async fn a_failing_revoker_does_not_stop_the_others_and_the_failure_is_reported() {
    let clock = ManualClock::at_unix(1_800_000_000);
    let (vault, events) = vault(&clock);
    let sessions = sessions(&clock);
    vault.put("alice", "github", &tokens("gh-a")).await.unwrap();
    let pair = sessions
        .login("alice", &["orders:read".to_string()])
        .await
        .unwrap();

    let result = revoke_all(
        &vault,
        "alice",
        &[&Broken as &dyn SubjectRevoker, &sessions],
    )
    .await;

    let error = result.expect_err("the broken revoker's failure is returned");
    assert_eq!(error.code(), "vault_unavailable");
    assert!(vault.get("alice", "github").await.unwrap().is_none());
    assert!(matches!(
        sessions.verify_access(&pair.access_token).await,
        Err(TokenError::Revoked)
    ));
    let events = all_revoked(&events);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, "partial");
    assert_eq!(events[0].count, Some(2));
}
