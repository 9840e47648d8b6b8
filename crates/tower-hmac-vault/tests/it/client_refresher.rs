//! The background refresher, on the vault's manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::time::Duration;

use tower_hmac_vault::client::{Delegation, RefreshRound};
use tower_hmac_vault::{AuditKind, DelegatedTokens};

use crate::client_fake_upstream::Setup;

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_refresher_renews_a_token_expiring_within_30_minutes_and_not_a_later_one() {
    let setup = Setup::new().await;
    let (alice_access, _) = setup.link("alice", 20 * MINUTE, &["profile"]).await;
    let (bob_access, _) = setup.link("bob", 40 * MINUTE, &["profile"]).await;

    let round = setup.delegation.refresh_due_once().await.unwrap();

    assert_eq!(round.refreshed, 1);
    assert_eq!(setup.up.refreshes(), 1);
    assert_ne!(
        setup.stored("alice").await.unwrap().0,
        alice_access,
        "renewed"
    );
    assert_eq!(
        setup.stored("bob").await.unwrap().0,
        bob_access,
        "not due yet"
    );
    let refreshed = setup.events_of(AuditKind::TokenRefreshed);
    assert_eq!(refreshed.len(), 1);
    assert_eq!(refreshed[0].reason, "expiring");

    // 15 minutes later bob's token expires within 25 minutes; alice's new one in 45.
    setup.clock.advance(15 * MINUTE);
    let round = setup.delegation.refresh_due_once().await.unwrap();
    assert_eq!(round.refreshed, 1);
    assert_ne!(setup.stored("bob").await.unwrap().0, bob_access);
    assert_eq!(setup.up.refreshes(), 2);

    // Nothing due: nothing done.
    let round = setup.delegation.refresh_due_once().await.unwrap();
    assert_eq!(round, RefreshRound::default());
    assert_eq!(setup.up.refreshes(), 2);
}

#[tokio::test]
async fn a_refused_background_refresh_revokes_and_is_counted() {
    let setup = Setup::new().await;
    setup.link("alice", 5 * MINUTE, &["profile"]).await;
    setup.up.refuse_refreshes();

    let round = setup.delegation.refresh_due_once().await.unwrap();

    assert_eq!(round.failed, 1);
    assert!(setup.stored("alice").await.is_none());
    assert_eq!(setup.events_of(AuditKind::TokenRefreshFailed).len(), 1);
}

#[tokio::test]
async fn spawn_refresher_runs_rounds_by_itself() {
    let setup = Setup::new().await;
    let (access, _) = setup.link("alice", 5 * MINUTE, &["profile"]).await;

    let handle = setup.delegation.spawn_refresher(Duration::from_secs(3600));
    // The first round starts at once; the bound only keeps a broken refresher from hanging
    // the suite.
    tokio::time::timeout(
        Duration::from_secs(60),
        setup.audited(AuditKind::TokenRefreshed),
    )
    .await
    .expect("the refresher refreshed");
    handle.abort();

    assert_ne!(setup.stored("alice").await.unwrap().0, access);
    assert_eq!(setup.up.refreshes(), 1);
}

/// A delegation whose refresher takes `batch` records a round, and for each of `users` a record
/// of the upstream `gone`, which it does not know, due one minute after the one before.
async fn with_orphans(batch: usize, users: &[&str]) -> (Setup, Delegation) {
    let setup = Setup::new().await;
    let delegation = Delegation::builder(setup.vault.clone())
        .upstream(setup.up.upstream())
        .refresh_batch(batch)
        .build()
        .unwrap();
    for (i, user) in users.iter().enumerate() {
        let expires = setup.vault.now() + 60 * (i as u64 + 1);
        let tokens = DelegatedTokens::new("old-access", Some("r".into()), expires, vec![]);
        setup.vault.put(user, "gone", &tokens).await.unwrap();
    }
    (setup, delegation)
}

/// Records the refresher cannot renew (an upstream no longer configured, no refresh token, a
/// token endpoint that is down) stay due, soonest first. A round carries on where the last one
/// stopped, so that a batch's worth of them never starves the records behind them.
#[tokio::test]
async fn records_it_cannot_renew_do_not_starve_the_ones_behind_them() {
    let (setup, delegation) = with_orphans(2, &["gone-1", "gone-2", "gone-3"]).await;
    let (access, _) = setup.link("alice", 20 * MINUTE, &["profile"]).await;

    let first = delegation.refresh_due_once().await.unwrap();
    assert_eq!((first.refreshed, first.skipped), (0, 2), "{first:?}");
    let second = delegation.refresh_due_once().await.unwrap();
    assert_eq!((second.refreshed, second.skipped), (1, 1), "{second:?}");
    assert_ne!(setup.stored("alice").await.unwrap().0, access, "renewed");
    // Past the end, the next round starts again from the soonest.
    let third = delegation.refresh_due_once().await.unwrap();
    assert_eq!((third.refreshed, third.skipped), (0, 2), "{third:?}");
}

/// A round whose page after the last stop is short goes on from the first due record, up to
/// where it began: nothing twice in one round, even when records before the stop were removed.
#[tokio::test]
async fn a_round_past_the_end_goes_on_from_the_first_without_repeating() {
    let users = ["gone-1", "gone-2", "gone-3", "gone-4"];
    let (setup, delegation) = with_orphans(3, &users).await;
    let first = delegation.refresh_due_once().await.unwrap();
    assert_eq!(first.skipped, 3, "{first:?}");
    // The round stopped at gone-3; the two before it go.
    for user in &users[..2] {
        assert!(setup.vault.revoke(user, "gone").await.unwrap());
    }
    // After gone-3: gone-4; from the first: gone-3, and not gone-4 again.
    let second = delegation.refresh_due_once().await.unwrap();
    assert_eq!(second.skipped, 2, "{second:?}");
}
