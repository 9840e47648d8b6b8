//! The suite every [`SessionStore`] passes (feature `conformance`): run it on your own store.
//!
//! Each check uses session and subject names of its own, prefixed by `label`, so that runs
//! sharing one Redis or PostgreSQL never collide. Panics on a violated property.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::store::{NewSession, Rotation, SessionStore, TokenHash};

const NOW: u64 = 1_800_000_000;

fn hash(text: &str) -> TokenHash {
    Sha256::digest(text.as_bytes()).into()
}

fn session(label: &str, name: &str, subject: &str) -> NewSession {
    NewSession {
        session_id: format!("{label}-{name}"),
        subject: format!("{label}-{subject}"),
        scopes: vec!["orders:read".into()],
        absolute_expiry: NOW + 14 * 86_400,
        idle_timeout: 86_400,
    }
}

/// Runs every check against `store`.
pub async fn run(store: Arc<dyn SessionStore>, label: &str) {
    rotation_is_once_and_reuse_revokes_the_family(&*store, label).await;
    revocation_ends_refresh_and_denies_live_access_tokens(&*store, label).await;
    every_session_of_a_subject_is_revoked(&*store, label).await;
    lifetimes_end_sessions(&*store, label).await;
    one_of_a_hundred_concurrent_uses_succeeds(store, label).await;
}

async fn rotation_is_once_and_reuse_revokes_the_family(store: &dyn SessionStore, label: &str) {
    let s = session(label, "rotate", "alice");
    let t1 = hash(&format!("{label}-t1"));
    let t2 = hash(&format!("{label}-t2"));
    let t3 = hash(&format!("{label}-t3"));
    store.create(&s, &t1, NOW).await.unwrap();
    assert_eq!(
        store.session_of(&t1).await.unwrap(),
        Some(s.session_id.clone())
    );
    match store.rotate(&t1, &t2, NOW + 10).await.unwrap() {
        Rotation::Rotated(live) => {
            assert_eq!(live.session_id, s.session_id);
            assert_eq!(live.subject, s.subject);
            assert_eq!(live.scopes, s.scopes);
        }
        other => panic!("{other:?}"),
    }
    store
        .record_access(
            &s.session_id,
            &format!("{label}-jti-a"),
            NOW + 900,
            NOW + 10,
        )
        .await
        .unwrap();
    // t1 again: reuse → the whole family is revoked.
    assert_eq!(
        store.rotate(&t1, &t3, NOW + 20).await.unwrap(),
        Rotation::Reused {
            session_id: s.session_id.clone(),
            subject: s.subject.clone()
        }
    );
    assert_eq!(
        store.rotate(&t2, &t3, NOW + 30).await.unwrap(),
        Rotation::Revoked
    );
    assert!(
        store
            .is_denied(&format!("{label}-jti-a"), NOW + 30)
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_denied(&format!("{label}-jti-a"), NOW + 901)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .rotate(&hash(&format!("{label}-never")), &t3, NOW)
            .await
            .unwrap(),
        Rotation::Unknown
    );
}

async fn revocation_ends_refresh_and_denies_live_access_tokens(
    store: &dyn SessionStore,
    label: &str,
) {
    let s = session(label, "logout", "bob");
    let t1 = hash(&format!("{label}-l1"));
    store.create(&s, &t1, NOW).await.unwrap();
    let (live, old) = (format!("{label}-jti-live"), format!("{label}-jti-old"));
    store
        .record_access(&s.session_id, &old, NOW + 5, NOW)
        .await
        .unwrap();
    store
        .record_access(&s.session_id, &live, NOW + 900, NOW)
        .await
        .unwrap();
    assert!(!store.is_denied(&live, NOW + 10).await.unwrap());
    assert!(store.revoke_session(&s.session_id, NOW + 10).await.unwrap());
    assert!(
        !store.revoke_session(&s.session_id, NOW + 11).await.unwrap(),
        "once"
    );
    assert!(store.is_denied(&live, NOW + 10).await.unwrap());
    assert!(
        !store.is_denied(&old, NOW + 10).await.unwrap(),
        "already expired"
    );
    let t2 = hash(&format!("{label}-l2"));
    assert_eq!(
        store.rotate(&t1, &t2, NOW + 12).await.unwrap(),
        Rotation::Revoked
    );
}

async fn every_session_of_a_subject_is_revoked(store: &dyn SessionStore, label: &str) {
    let a = session(label, "laptop", "carol");
    let b = session(label, "phone", "carol");
    let other = session(label, "dave-laptop", "dave");
    let (ta, tb, to) = (
        hash(&format!("{label}-ca")),
        hash(&format!("{label}-cb")),
        hash(&format!("{label}-do")),
    );
    store.create(&a, &ta, NOW).await.unwrap();
    store.create(&b, &tb, NOW).await.unwrap();
    store.create(&other, &to, NOW).await.unwrap();
    store
        .record_access(&b.session_id, &format!("{label}-jti-phone"), NOW + 900, NOW)
        .await
        .unwrap();
    assert_eq!(store.revoke_subject(&a.subject, NOW + 1).await.unwrap(), 2);
    let new = hash(&format!("{label}-cnew"));
    assert_eq!(
        store.rotate(&ta, &new, NOW + 2).await.unwrap(),
        Rotation::Revoked
    );
    assert_eq!(
        store.rotate(&tb, &new, NOW + 2).await.unwrap(),
        Rotation::Revoked
    );
    assert!(
        store
            .is_denied(&format!("{label}-jti-phone"), NOW + 2)
            .await
            .unwrap()
    );
    assert!(
        matches!(
            store.rotate(&to, &new, NOW + 2).await.unwrap(),
            Rotation::Rotated(_)
        ),
        "another subject's session goes on"
    );
}

async fn lifetimes_end_sessions(store: &dyn SessionStore, label: &str) {
    let idle = session(label, "idle", "erin");
    let t = hash(&format!("{label}-e1"));
    store.create(&idle, &t, NOW).await.unwrap();
    let next = hash(&format!("{label}-e2"));
    assert_eq!(
        store.rotate(&t, &next, NOW + 86_400).await.unwrap(),
        Rotation::Expired,
        "a day without a refresh"
    );
    let mut short = session(label, "absolute", "erin");
    short.absolute_expiry = NOW + 100;
    let t = hash(&format!("{label}-f1"));
    store.create(&short, &t, NOW).await.unwrap();
    let next = hash(&format!("{label}-f2"));
    assert!(matches!(
        store.rotate(&t, &next, NOW + 50).await.unwrap(),
        Rotation::Rotated(_)
    ));
    let after = hash(&format!("{label}-f3"));
    assert_eq!(
        store.rotate(&next, &after, NOW + 100).await.unwrap(),
        Rotation::Expired
    );
}

async fn one_of_a_hundred_concurrent_uses_succeeds(store: Arc<dyn SessionStore>, label: &str) {
    let s = session(label, "race", "frank");
    let t = hash(&format!("{label}-race"));
    store.create(&s, &t, NOW).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let store = Arc::clone(&store);
        let new = hash(&format!("{label}-race-{i}"));
        tasks.spawn(async move { store.rotate(&t, &new, NOW + 1).await.unwrap() });
    }
    let mut rotated = 0;
    let mut others = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Rotation::Rotated(_) => rotated += 1,
            Rotation::Reused { .. } | Rotation::Revoked => others += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        (rotated, others),
        (1, 99),
        "exactly one concurrent use rotates"
    );
}
