//! The suite every [`SessionStore`] passes (feature `conformance`): run it on your own store.
//!
//! Each check uses session and subject names of its own, prefixed by `label`, so that runs
//! sharing one Redis or PostgreSQL never collide. Panics on a violated property.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::num::NonZeroUsize;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::store::{AccessCheck, IssuedAccess, NewSession, Rotation, SessionStore, TokenHash};

const NOW: u64 = 1_800_000_000;

fn hash(text: &str) -> TokenHash {
    Sha256::digest(text.as_bytes()).into()
}

/// The access token `jti`, denied until `deny_until` once its session is revoked.
fn access(jti: &str, deny_until: u64) -> IssuedAccess {
    IssuedAccess {
        jti: jti.to_owned(),
        deny_until,
    }
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
    tokens_the_store_recorded_are_never_before_its_horizon(&*store, label).await;
    tokens_issued_before_the_horizon_are_refused(&*store, label).await;
    rotation_is_once_and_reuse_revokes_the_family(&*store, label).await;
    revocation_ends_refresh_and_denies_live_access_tokens(&*store, label).await;
    every_session_of_a_subject_is_revoked(&*store, label).await;
    lifetimes_end_sessions(&*store, label).await;
    a_reuse_right_after_a_rotation_denies_the_token_it_issued(&*store, label).await;
    a_revocation_right_after_a_rotation_denies_the_token_it_issued(&*store, label).await;
    one_of_a_hundred_concurrent_uses_succeeds(Arc::clone(&store), label).await;
    a_rotation_racing_a_revocation_never_issues_an_undenied_token(Arc::clone(&store), label).await;
    a_limit_of_one_ends_the_older_session(&*store, label).await;
    a_session_limit_keeps_the_newest_live_sessions(&*store, label).await;
    concurrent_logins_under_a_limit_of_one_converge(Arc::clone(&store), label).await;
    the_scopes_of_a_refresh_tokens_session_are_read(&*store, label).await;
}

const ONE: NonZeroUsize = NonZeroUsize::MIN;

/// Starts `name` for `subject` at `at` under the limit `max`: the sessions it ended.
async fn login(
    store: &dyn SessionStore,
    label: &str,
    name: &str,
    subject: &str,
    at: u64,
    max: NonZeroUsize,
) -> Vec<String> {
    let s = session(label, name, subject);
    let t = hash(&format!("{label}-{name}-t0"));
    store
        .create_limited(
            &s,
            &t,
            &access(&format!("{label}-jti-{name}"), at + 900),
            at,
            max,
        )
        .await
        .unwrap()
}

/// Whether `name`'s first refresh token still rotates.
async fn rotates(store: &dyn SessionStore, label: &str, name: &str, at: u64) -> Rotation {
    store
        .rotate(
            &hash(&format!("{label}-{name}-t0")),
            &hash(&format!("{label}-{name}-t1")),
            &access(&format!("{label}-jti-{name}-1"), at + 900),
            at,
        )
        .await
        .unwrap()
}

/// Issue 30 item 4: with a limit of 1, a login ends the subject's older session as a logout
/// does (its refresh token fails, its access token is denied); another subject's is untouched.
async fn a_limit_of_one_ends_the_older_session(store: &dyn SessionStore, label: &str) {
    assert!(
        login(store, label, "lim1-a", "kim", NOW, ONE)
            .await
            .is_empty()
    );
    assert!(
        login(store, label, "lim1-other", "lou", NOW, ONE)
            .await
            .is_empty()
    );
    assert_eq!(
        login(store, label, "lim1-b", "kim", NOW + 1, ONE).await,
        [format!("{label}-lim1-a")]
    );
    assert_eq!(
        rotates(store, label, "lim1-a", NOW + 2).await,
        Rotation::Revoked
    );
    assert_eq!(
        store
            .check_access(
                &format!("{label}-lim1-a"),
                &format!("{label}-jti-lim1-a"),
                NOW,
                NOW + 2
            )
            .await
            .unwrap(),
        AccessCheck::Denied,
        "the ended session's access token is denied"
    );
    assert!(matches!(
        rotates(store, label, "lim1-b", NOW + 2).await,
        Rotation::Rotated(_)
    ));
    assert!(
        matches!(
            rotates(store, label, "lim1-other", NOW + 2).await,
            Rotation::Rotated(_)
        ),
        "another subject's session is not touched"
    );
}

/// Issue 30 item 4: a limit of 2 keeps the two most recent live sessions; one already ended
/// (logout) does not count and is not ended again.
async fn a_session_limit_keeps_the_newest_live_sessions(store: &dyn SessionStore, label: &str) {
    let two = NonZeroUsize::new(2).unwrap();
    assert!(
        login(store, label, "lim2-a", "max", NOW, two)
            .await
            .is_empty()
    );
    assert!(
        login(store, label, "lim2-b", "max", NOW + 1, two)
            .await
            .is_empty()
    );
    assert_eq!(
        login(store, label, "lim2-c", "max", NOW + 2, two).await,
        [format!("{label}-lim2-a")]
    );
    assert!(
        store
            .revoke_session(&format!("{label}-lim2-c"), NOW + 3)
            .await
            .unwrap()
    );
    assert!(
        login(store, label, "lim2-d", "max", NOW + 4, two)
            .await
            .is_empty(),
        "b and d are the two live sessions: nothing to end"
    );
    assert_eq!(
        login(store, label, "lim2-e", "max", NOW + 5, two).await,
        [format!("{label}-lim2-b")]
    );
    assert!(matches!(
        rotates(store, label, "lim2-d", NOW + 6).await,
        Rotation::Rotated(_)
    ));
    assert!(matches!(
        rotates(store, label, "lim2-e", NOW + 6).await,
        Rotation::Rotated(_)
    ));
    assert_eq!(
        rotates(store, label, "lim2-b", NOW + 6).await,
        Rotation::Revoked
    );
}

/// Issue 30 item 4: 20 concurrent logins of one subject under a limit of 1 converge: exactly one
/// session survives, and each of the 19 others is ended once (never both survive, never all
/// ended).
async fn concurrent_logins_under_a_limit_of_one_converge(
    store: Arc<dyn SessionStore>,
    label: &str,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = Arc::clone(&store);
        let label = label.to_owned();
        tasks.spawn(
            async move { login(&*store, &label, &format!("conc-{i}"), "nina", NOW, ONE).await },
        );
    }
    let mut ended = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        ended.extend(outcome.unwrap());
    }
    let mut unique = ended.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ended.len(),
        "each session is ended once: {ended:?}"
    );
    let mut live = 0;
    for i in 0..20 {
        match rotates(&*store, label, &format!("conc-{i}"), NOW + 1).await {
            Rotation::Rotated(_) => live += 1,
            Rotation::Revoked => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((live, ended.len()), (1, 19), "exactly one login survives");
}

/// RFC 6749 §6's `scope` is checked against the session's before the token is used; a used
/// token has none (its refresh goes on to the rotation, which reports the reuse).
async fn the_scopes_of_a_refresh_tokens_session_are_read(store: &dyn SessionStore, label: &str) {
    let s = session(label, "scopes", "olga");
    let t = hash(&format!("{label}-scopes"));
    store
        .create(
            &s,
            &t,
            &access(&format!("{label}-jti-scopes"), NOW + 900),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        store.scopes_of(&t).await.unwrap(),
        Some(vec!["orders:read".to_owned()])
    );
    assert_eq!(store.scopes_of(&hash("no such token")).await.unwrap(), None);
    let next = hash(&format!("{label}-scopes-next"));
    assert!(matches!(
        store
            .rotate(
                &t,
                &next,
                &access(&format!("{label}-jti-scopes-1"), NOW + 905),
                NOW + 5
            )
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));
    assert_eq!(store.scopes_of(&t).await.unwrap(), None, "a used token");
    assert_eq!(
        store.scopes_of(&next).await.unwrap(),
        Some(vec!["orders:read".to_owned()])
    );
}

/// Issue 25 item 5: the horizon never refuses a token the store itself recorded (created or
/// rotated at `now`), and the check answers the denylist for such tokens.
async fn tokens_the_store_recorded_are_never_before_its_horizon(
    store: &dyn SessionStore,
    label: &str,
) {
    let s = session(label, "horizon", "judy");
    let t1 = hash(&format!("{label}-h1"));
    let t2 = hash(&format!("{label}-h2"));
    let (first, second) = (format!("{label}-jti-h1"), format!("{label}-jti-h2"));
    store
        .create(&s, &t1, &access(&first, NOW + 900), NOW)
        .await
        .unwrap();
    assert_eq!(
        store
            .check_access(&s.session_id, &first, NOW, NOW)
            .await
            .unwrap(),
        AccessCheck::Allowed,
        "a token issued at the store's create"
    );
    assert!(store.horizon(&s.session_id, NOW).await.unwrap() <= NOW);
    assert!(matches!(
        store
            .rotate(&t1, &t2, &access(&second, NOW + 905), NOW + 5)
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));
    assert_eq!(
        store
            .check_access(&s.session_id, &second, NOW + 5, NOW + 6)
            .await
            .unwrap(),
        AccessCheck::Allowed
    );
    assert!(store.revoke_session(&s.session_id, NOW + 6).await.unwrap());
    for (jti, iat) in [(&first, NOW), (&second, NOW + 5)] {
        assert_eq!(
            store
                .check_access(&s.session_id, jti, iat, NOW + 7)
                .await
                .unwrap(),
            AccessCheck::Denied,
            "{jti}"
        );
    }
}

/// Issue 25 item 5: a token issued before the store's horizon is refused whether or not the
/// store remembers anything of it (its revocation may have been lost); the horizon does not move
/// while the store keeps its data. A store whose horizon is 0 (its denylist is durable) has
/// nothing before it. The horizon is asked of a live session (a store may keep one per session).
async fn tokens_issued_before_the_horizon_are_refused(store: &dyn SessionStore, label: &str) {
    let s = session(label, "horizon-live", "judy");
    let t = hash(&format!("{label}-hl"));
    store
        .create(&s, &t, &access(&format!("{label}-jti-hl"), NOW + 900), NOW)
        .await
        .unwrap();
    let sid = &s.session_id;
    let horizon = store.horizon(sid, NOW + 10).await.unwrap();
    assert!(horizon <= NOW, "the horizon never passes a recorded token");
    assert_eq!(
        store.horizon(sid, NOW + 3_600).await.unwrap(),
        horizon,
        "the horizon stays while the store keeps its data"
    );
    let unknown = format!("{label}-jti-never-recorded");
    if horizon > 0 {
        assert_eq!(
            store
                .check_access(sid, &unknown, horizon - 1, NOW + 10)
                .await
                .unwrap(),
            AccessCheck::BeforeHorizon { horizon }
        );
    }
    assert_eq!(
        store
            .check_access(sid, &unknown, horizon, NOW + 10)
            .await
            .unwrap(),
        AccessCheck::Allowed,
        "from the horizon on, the denylist decides"
    );
}

async fn rotation_is_once_and_reuse_revokes_the_family(store: &dyn SessionStore, label: &str) {
    let s = session(label, "rotate", "alice");
    let t1 = hash(&format!("{label}-t1"));
    let t2 = hash(&format!("{label}-t2"));
    let t3 = hash(&format!("{label}-t3"));
    let (jti0, jti_a) = (format!("{label}-jti-0"), format!("{label}-jti-a"));
    store
        .create(&s, &t1, &access(&jti0, NOW + 900), NOW)
        .await
        .unwrap();
    assert_eq!(
        store.session_of(&t1).await.unwrap(),
        Some(s.session_id.clone())
    );
    match store
        .rotate(&t1, &t2, &access(&jti_a, NOW + 910), NOW + 10)
        .await
        .unwrap()
    {
        Rotation::Rotated(live) => {
            assert_eq!(live.session_id, s.session_id);
            assert_eq!(live.subject, s.subject);
            assert_eq!(live.scopes, s.scopes);
        }
        other => panic!("{other:?}"),
    }
    // t1 again: reuse → the whole family is revoked.
    let never = access(&format!("{label}-jti-never"), NOW + 920);
    assert_eq!(
        store.rotate(&t1, &t3, &never, NOW + 20).await.unwrap(),
        Rotation::Reused {
            session_id: s.session_id.clone(),
            subject: s.subject.clone()
        }
    );
    assert_eq!(
        store.rotate(&t2, &t3, &never, NOW + 30).await.unwrap(),
        Rotation::Revoked
    );
    for jti in [&jti0, &jti_a] {
        assert!(
            store.is_denied(&s.session_id, jti, NOW + 30).await.unwrap(),
            "{jti}: every access token of the family is denied"
        );
    }
    assert!(
        !store
            .is_denied(&s.session_id, &jti_a, NOW + 910)
            .await
            .unwrap(),
        "until its deny_until only"
    );
    // Every token the family had is known; the one a refused rotation offered never is.
    for t in [&t1, &t2] {
        assert_eq!(
            store.session_of(t).await.unwrap(),
            Some(s.session_id.clone())
        );
    }
    assert_eq!(
        store.session_of(&t3).await.unwrap(),
        None,
        "the token a refused rotation offered is not recorded"
    );
    assert_eq!(
        store
            .rotate(&hash(&format!("{label}-never")), &t3, &never, NOW)
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
    let t2 = hash(&format!("{label}-l2"));
    let t3 = hash(&format!("{label}-l3"));
    let (old, live) = (format!("{label}-jti-old"), format!("{label}-jti-live"));
    store
        .create(&s, &t1, &access(&old, NOW + 5), NOW)
        .await
        .unwrap();
    assert!(matches!(
        store
            .rotate(&t1, &t2, &access(&live, NOW + 900), NOW + 1)
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));
    let sid = &s.session_id;
    assert!(!store.is_denied(sid, &live, NOW + 10).await.unwrap());
    assert!(store.revoke_session(&s.session_id, NOW + 10).await.unwrap());
    assert!(
        !store.revoke_session(&s.session_id, NOW + 11).await.unwrap(),
        "once"
    );
    assert!(store.is_denied(sid, &live, NOW + 10).await.unwrap());
    assert!(
        !store.is_denied(sid, &old, NOW + 10).await.unwrap(),
        "already expired"
    );
    let next = access(&format!("{label}-jti-after-logout"), NOW + 912);
    assert_eq!(
        store.rotate(&t2, &t3, &next, NOW + 12).await.unwrap(),
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
    let (laptop, phone, dave) = (
        format!("{label}-jti-laptop"),
        format!("{label}-jti-phone"),
        format!("{label}-jti-dave"),
    );
    store
        .create(&a, &ta, &access(&laptop, NOW + 900), NOW)
        .await
        .unwrap();
    store
        .create(&b, &tb, &access(&phone, NOW + 900), NOW)
        .await
        .unwrap();
    store
        .create(&other, &to, &access(&dave, NOW + 900), NOW)
        .await
        .unwrap();
    assert_eq!(store.revoke_subject(&a.subject, NOW + 1).await.unwrap(), 2);
    let new = hash(&format!("{label}-cnew"));
    let next = access(&format!("{label}-jti-cnew"), NOW + 902);
    assert_eq!(
        store.rotate(&ta, &new, &next, NOW + 2).await.unwrap(),
        Rotation::Revoked
    );
    assert_eq!(
        store.rotate(&tb, &new, &next, NOW + 2).await.unwrap(),
        Rotation::Revoked
    );
    for (sid, jti) in [(&a.session_id, &laptop), (&b.session_id, &phone)] {
        assert!(store.is_denied(sid, jti, NOW + 2).await.unwrap(), "{jti}");
    }
    assert!(
        !store
            .is_denied(&other.session_id, &dave, NOW + 2)
            .await
            .unwrap(),
        "another subject's tokens go on"
    );
    assert!(
        matches!(
            store.rotate(&to, &new, &next, NOW + 2).await.unwrap(),
            Rotation::Rotated(_)
        ),
        "another subject's session goes on"
    );
}

async fn lifetimes_end_sessions(store: &dyn SessionStore, label: &str) {
    let unused = |n: &str| access(&format!("{label}-jti-lifetime-{n}"), NOW + 900);
    let idle = session(label, "idle", "erin");
    let t = hash(&format!("{label}-e1"));
    store.create(&idle, &t, &unused("e1"), NOW).await.unwrap();
    let next = hash(&format!("{label}-e2"));
    assert_eq!(
        store
            .rotate(&t, &next, &unused("e2"), NOW + 86_400)
            .await
            .unwrap(),
        Rotation::Expired,
        "a day without a refresh"
    );
    let mut short = session(label, "absolute", "erin");
    short.absolute_expiry = NOW + 100;
    let t = hash(&format!("{label}-f1"));
    store.create(&short, &t, &unused("f1"), NOW).await.unwrap();
    let next = hash(&format!("{label}-f2"));
    assert!(matches!(
        store
            .rotate(&t, &next, &unused("f2"), NOW + 50)
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));
    let after = hash(&format!("{label}-f3"));
    assert_eq!(
        store
            .rotate(&next, &after, &unused("f3"), NOW + 100)
            .await
            .unwrap(),
        Rotation::Expired
    );
}

/// Issue 24 item 6, deterministically: a refresh rotates, and a concurrent reuse of the old
/// refresh token revokes the session before the refresh has answered. The access token the
/// rotation issued must be denied: the rotation recorded it in the same atomic step.
async fn a_reuse_right_after_a_rotation_denies_the_token_it_issued(
    store: &dyn SessionStore,
    label: &str,
) {
    let s = session(label, "interleaved", "grace");
    let t1 = hash(&format!("{label}-i1"));
    let t2 = hash(&format!("{label}-i2"));
    let t3 = hash(&format!("{label}-i3"));
    let first = format!("{label}-jti-interleaved-0");
    let issued = format!("{label}-jti-interleaved-1");
    store
        .create(&s, &t1, &access(&first, NOW + 900), NOW)
        .await
        .unwrap();
    assert!(matches!(
        store
            .rotate(&t1, &t2, &access(&issued, NOW + 910), NOW + 10)
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));
    // The interleaving: the reuse lands between the rotation and the refresh's answer.
    let reuse = access(&format!("{label}-jti-interleaved-2"), NOW + 910);
    assert!(matches!(
        store.rotate(&t1, &t3, &reuse, NOW + 10).await.unwrap(),
        Rotation::Reused { .. }
    ));
    assert!(
        store
            .is_denied(&s.session_id, &issued, NOW + 11)
            .await
            .unwrap(),
        "the access token issued by the rotation outlives its revoked session"
    );
    assert!(
        store
            .is_denied(&s.session_id, &first, NOW + 11)
            .await
            .unwrap()
    );
}

/// The same with a logout (or logout-all) as the revocation that lands after the rotation.
async fn a_revocation_right_after_a_rotation_denies_the_token_it_issued(
    store: &dyn SessionStore,
    label: &str,
) {
    let s = session(label, "interleaved-logout", "heidi");
    let t1 = hash(&format!("{label}-j1"));
    let t2 = hash(&format!("{label}-j2"));
    let issued = format!("{label}-jti-interleaved-logout");
    store
        .create(&s, &t1, &access(&format!("{label}-jti-j0"), NOW + 900), NOW)
        .await
        .unwrap();
    assert!(matches!(
        store
            .rotate(&t1, &t2, &access(&issued, NOW + 910), NOW + 10)
            .await
            .unwrap(),
        Rotation::Rotated(_)
    ));
    assert_eq!(store.revoke_subject(&s.subject, NOW + 10).await.unwrap(), 1);
    assert!(
        store
            .is_denied(&s.session_id, &issued, NOW + 11)
            .await
            .unwrap()
    );
}

async fn one_of_a_hundred_concurrent_uses_succeeds(store: Arc<dyn SessionStore>, label: &str) {
    let s = session(label, "race", "frank");
    let t = hash(&format!("{label}-race"));
    let first = access(&format!("{label}-jti-race"), NOW + 900);
    store.create(&s, &t, &first, NOW).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let store = Arc::clone(&store);
        let new = hash(&format!("{label}-race-{i}"));
        let next = access(&format!("{label}-jti-race-{i}"), NOW + 901);
        tasks.spawn(async move { store.rotate(&t, &new, &next, NOW + 1).await.unwrap() });
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
    // The reuses revoked the family: the one token the rotation issued is denied; the calls
    // that did not rotate recorded nothing.
    let (mut denied, mut known) = (0, 0);
    for i in 0..100 {
        if store
            .is_denied(&s.session_id, &format!("{label}-jti-race-{i}"), NOW + 2)
            .await
            .unwrap()
        {
            denied += 1;
        }
        if store
            .session_of(&hash(&format!("{label}-race-{i}")))
            .await
            .unwrap()
            .is_some()
        {
            known += 1;
        }
    }
    assert_eq!(denied, 1, "the rotated token, and only it");
    assert_eq!(
        known, 1,
        "the refresh token the rotation issued, and only it, is recorded"
    );
}

/// Rotations racing revocations of their session, 20 times: whatever the order the store
/// serializes them in, a rotation that succeeded issued a token that the revocation denies.
async fn a_rotation_racing_a_revocation_never_issues_an_undenied_token(
    store: Arc<dyn SessionStore>,
    label: &str,
) {
    for trial in 0..20 {
        let s = session(label, &format!("racing-{trial}"), &format!("ivan-{trial}"));
        let t1 = hash(&format!("{label}-racing-{trial}"));
        let t2 = hash(&format!("{label}-racing-{trial}-next"));
        let jti = format!("{label}-jti-racing-{trial}");
        let first = access(&format!("{label}-jti-racing-{trial}-0"), NOW + 900);
        store.create(&s, &t1, &first, NOW).await.unwrap();
        let rotating = {
            let store = Arc::clone(&store);
            let issued = access(&jti, NOW + 901);
            tokio::spawn(async move { store.rotate(&t1, &t2, &issued, NOW + 1).await.unwrap() })
        };
        let revoking = {
            let store = Arc::clone(&store);
            let id = s.session_id.clone();
            tokio::spawn(async move { store.revoke_session(&id, NOW + 1).await.unwrap() })
        };
        let rotation = rotating.await.unwrap();
        assert!(revoking.await.unwrap(), "the revocation found the session");
        match rotation {
            Rotation::Rotated(_) => assert!(
                store.is_denied(&s.session_id, &jti, NOW + 2).await.unwrap(),
                "trial {trial}: a token issued before the revocation is denied after it"
            ),
            Rotation::Revoked => {}
            other => panic!("{other:?}"),
        }
    }
}
