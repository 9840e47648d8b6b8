//! The Redis session store on a real Redis Cluster ([`crate::cluster`]: three nodes of the
//! test's own, the slots split three ways): the sessions conformance suite (100 concurrent
//! rotations of one refresh token of which exactly one wins, reuse, revocation, lifetimes, the
//! races of issue 24 item 6), every session's keys in one slot, a node killed mid-run (refusals,
//! never a token handed out that the store did not record), and a node that loses its data
//! (its sessions' tokens refused, a lost logout never re-validating one; the others go on).
//! A script whose keys spanned two slots would fail every one of these with `CROSSSLOT`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use redis::cluster_async::ClusterConnection;
use sha2::{Digest, Sha256};
use tower_hmac::protocol::ManualClock;
use tower_hmac_integration::unique_prefix;
use tower_hmac_sessions::store::RedisSessionStore;
use tower_hmac_sessions::{
    AccessCheck, IssuedAccess, NewSession, Rotation, SessionConfig, SessionStore, Sessions,
    SigningKeys, TokenError, TokenPair, conformance,
};

use crate::cluster::{Cluster, NODES, node};
use crate::support::PATIENCE;

const NOW: u64 = 1_900_000_000;

fn keys() -> SigningKeys {
    SigningKeys::new("k1", tower_hmac::SecretKey::from_bytes(&[7; 32]).unwrap()).unwrap()
}

fn config() -> SessionConfig {
    SessionConfig::new("https://auth.example.com", "orders-api")
}

/// A patient store on the cluster (a busy machine answers late): the tests check what the store
/// does, not how fast.
async fn patient_store(cluster: &Cluster, prefix: &str) -> RedisSessionStore<ClusterConnection> {
    let store = RedisSessionStore::from_connection(cluster.connection().await, prefix)
        .unwrap()
        .with_timeout(PATIENCE);
    store.check().await.unwrap();
    store
}

/// The session id an access token names (its `sid` claim), read without verifying it.
fn sid_of(access_token: &str) -> String {
    let payload = access_token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

fn token_hash(refresh_token: &str) -> [u8; 32] {
    Sha256::digest(refresh_token.as_bytes()).into()
}

/// The node that holds a session's keys, after checking that they share one slot.
async fn node_of_session(
    cluster: &Cluster,
    store: &RedisSessionStore<ClusterConnection>,
    sid: &str,
) -> usize {
    let mut slots = BTreeSet::new();
    for key in store.session_keys(sid) {
        slots.insert(cluster.slot_of(&key).await);
    }
    assert_eq!(
        slots.len(),
        1,
        "the keys of session {sid:?}: slots {slots:?}"
    );
    Cluster::node_of_slot(*slots.first().unwrap())
}

/// Logs in until every node holds at least `per_node` sessions: each pair with its node.
async fn sessions_on_every_node(
    cluster: &Cluster,
    store: &RedisSessionStore<ClusterConnection>,
    sessions: &Sessions,
    per_node: usize,
) -> Vec<(TokenPair, usize)> {
    let mut pairs = Vec::new();
    let mut counts = [0; NODES];
    for _ in 0..500 {
        if counts.iter().all(|&n| n >= per_node) {
            return pairs;
        }
        let pair = sessions
            .login("alice", &["orders:read".to_owned()])
            .await
            .unwrap();
        let node = node_of_session(cluster, store, &sid_of(&pair.access_token)).await;
        counts[node] += 1;
        pairs.push((pair, node));
    }
    panic!("500 logins did not put {per_node} sessions on every node: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_redis_session_store_conforms_on_a_cluster() {
    let cluster = Cluster::start().await;
    let prefix = unique_prefix("sessions-cluster");
    let store = patient_store(&cluster, &prefix).await;
    conformance::run(Arc::new(store.clone()), "cluster").await;

    // Session ids that could break a hash tag (empty, a brace, the escape's own form) still
    // keep their keys in one slot — and apart from each other.
    let odd = ["", "a}b", "{x}", "{", "~7b", "plain"];
    let mut tagged = BTreeSet::new();
    for (i, sid) in odd.iter().enumerate() {
        node_of_session(&cluster, &store, sid).await;
        assert!(tagged.insert(store.session_keys(sid)[0].clone()), "{sid:?}");
        let session = NewSession {
            session_id: (*sid).to_owned(),
            subject: format!("odd-{i}"),
            scopes: vec![],
            absolute_expiry: NOW + 3_600,
            idle_timeout: 600,
        };
        let (t1, t2) = (
            token_hash(&format!("odd-{i}-1")),
            token_hash(&format!("odd-{i}-2")),
        );
        let jti = format!("odd-jti-{i}");
        let issued = IssuedAccess {
            jti: jti.clone(),
            deny_until: NOW + 900,
        };
        store.create(&session, &t1, &issued, NOW).await.unwrap();
        let rotated = store.rotate(&t1, &t2, &issued, NOW + 1).await.unwrap();
        assert!(
            matches!(rotated, Rotation::Rotated(_)),
            "{sid:?}: {rotated:?}"
        );
        assert_eq!(store.session_of(&t2).await.unwrap().as_deref(), Some(*sid));
        assert_eq!(
            store
                .revoke_subject(&session.subject, NOW + 2)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .check_access(sid, &jti, NOW + 1, NOW + 3)
                .await
                .unwrap(),
            AccessCheck::Denied
        );
    }

    // Through `Sessions`: 100 concurrent refreshes of one refresh token, exactly one succeeds;
    // the others are refused (a reuse, which revokes the session, or its revocation).
    let sessions = Arc::new(Sessions::new(keys(), store.clone(), config()));
    let pair = sessions.login("bob", &[]).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (sessions, token) = (Arc::clone(&sessions), pair.refresh_token.clone());
        tasks.spawn(async move { sessions.refresh(&token).await });
    }
    let (mut won, mut refused) = (Vec::new(), 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(pair) => won.push(pair),
            Err(e) => {
                assert!(
                    matches!(e.code(), "refresh_token_reused" | "session_revoked"),
                    "{e:?}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!((won.len(), refused), (1, 99), "exactly one refresh wins");
    assert_eq!(
        sessions
            .verify_access(&won[0].access_token)
            .await
            .unwrap_err(),
        TokenError::Revoked,
        "the reuses revoked the session, the winner's access token with it"
    );

    // The sessions are spread over every node: no script needed them together.
    let counts = cluster.keys_per_node().await;
    assert!(counts.iter().all(|&n| n > 0), "keys per node: {counts:?}");
    println!("keys per node after the run: {counts:?}");
}

/// A node dies while clients log in, refresh and call: what touches it is refused
/// (`session_store_unavailable`, never a wrong answer); and afterwards no token exists that the
/// store did not record — every access token handed out is denied once its session is revoked,
/// every refresh token handed out is known to the store (or its node is unreachable).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_lost_mid_run_refuses_and_never_hands_out_an_unrecorded_token() {
    const DEAD: usize = 2;
    let mut cluster = Cluster::start().await;
    let prefix = unique_prefix("sessions-cluster-down");
    let patient = patient_store(&cluster, &prefix).await;
    let clock = ManualClock::at_unix(NOW);
    let before = Sessions::new(keys(), patient.clone(), config()).with_clock(clock.clone());
    let pairs = sessions_on_every_node(&cluster, &patient, &before, 3).await;

    // The same store (its connection) with the timeout a service would set.
    let store = patient.clone().with_timeout(Duration::from_millis(300));
    let sessions = Sessions::new(keys(), store.clone(), config()).with_clock(clock.clone());
    cluster.kill_node(DEAD);
    clock.advance(Duration::from_secs(60));

    let mut handed_out: Vec<TokenPair> = pairs.iter().map(|(p, _)| p.clone()).collect();
    let mut refused = 0;
    for (pair, node) in &pairs {
        match sessions.refresh(&pair.refresh_token).await {
            Ok(next) => {
                assert_ne!(*node, DEAD, "a session on the dead node was refreshed");
                handed_out.push(next);
            }
            Err(e) => {
                assert_eq!(e.code(), "session_store_unavailable", "{e:?}");
                assert!(e.retry_after_secs().is_some());
                refused += 1;
            }
        }
        match sessions.verify_access(&pair.access_token).await {
            Ok(_) => assert_ne!(*node, DEAD, "a token of the dead node's session accepted"),
            Err(e) => assert_eq!(e, TokenError::StoreUnavailable),
        }
    }
    for i in 0..20 {
        match sessions.login(&format!("carol-{i}"), &[]).await {
            Ok(pair) => handed_out.push(pair),
            Err(e) => {
                assert_eq!(e.code(), "session_store_unavailable", "{e:?}");
                refused += 1;
            }
        }
    }
    println!(
        "with one node of three down: {} pairs handed out in all, {refused} refusals",
        handed_out.len()
    );
    assert!(refused > 0, "nothing was refused with a node down");

    // Every refresh token handed out is known to the store: never "unknown", only unreachable
    // when its index or its session is on the dead node.
    let checker = patient.clone().with_timeout(Duration::from_millis(300));
    for pair in &handed_out {
        let sid = sid_of(&pair.access_token);
        let hash = token_hash(&pair.refresh_token);
        let index_node = Cluster::node_of_slot(cluster.slot_of(&patient.token_key(&hash)).await);
        let session_node = node_of_session(&cluster, &patient, &sid).await;
        if index_node != DEAD && session_node != DEAD {
            assert_eq!(patient.session_of(&hash).await.unwrap(), Some(sid));
        } else {
            assert!(checker.session_of(&hash).await.is_err());
        }
    }
    // Every access token handed out was recorded: revoking its session denies it. On the dead
    // node, refused.
    let after = Sessions::new(keys(), patient.clone(), config()).with_clock(clock.clone());
    let mut revoked = BTreeSet::new();
    for pair in &handed_out {
        let sid = sid_of(&pair.access_token);
        if node_of_session(&cluster, &patient, &sid).await == DEAD {
            assert_eq!(
                sessions
                    .verify_access(&pair.access_token)
                    .await
                    .unwrap_err(),
                TokenError::StoreUnavailable
            );
            continue;
        }
        if revoked.insert(sid.clone()) {
            patient.revoke_session(&sid, NOW + 61).await.unwrap();
        }
        assert_eq!(
            after.verify_access(&pair.access_token).await.unwrap_err(),
            TokenError::Revoked,
            "an access token of session {sid} that its revocation did not deny"
        );
    }
    assert!(!revoked.is_empty());
}

/// Issue 29 part 3: one node of the cluster loses its data (a restart without persistence; here
/// a `FLUSHALL` of that node alone). The tokens of its sessions are refused
/// (`token_before_horizon`) — a logout it held is never undone — while the sessions of the
/// other nodes go on, their logouts kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_its_data_refuses_its_sessions_tokens_only() {
    const LOST: usize = 1;
    let cluster = Cluster::start().await;
    let prefix = unique_prefix("sessions-cluster-loss");
    let store = patient_store(&cluster, &prefix).await;
    let clock = ManualClock::at_unix(NOW);
    let sessions = Sessions::new(keys(), store.clone(), config()).with_clock(clock.clone());
    let pairs = sessions_on_every_node(&cluster, &store, &sessions, 2).await;

    // One logout on every node.
    let mut logged_out = BTreeSet::new();
    for node in 0..NODES {
        let (pair, _) = pairs.iter().find(|(_, n)| *n == node).unwrap();
        let sid = sid_of(&pair.access_token);
        assert!(sessions.revoke_session(&sid).await.unwrap());
        logged_out.insert(sid);
    }
    clock.advance(Duration::from_secs(5));

    let mut conn = node(cluster.ports()[LOST]).await;
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    for (pair, node) in &pairs {
        let sid = sid_of(&pair.access_token);
        let verdict = sessions.verify_access(&pair.access_token).await;
        match (*node == LOST, logged_out.contains(&sid)) {
            (true, _) => assert_eq!(verdict.unwrap_err(), TokenError::BeforeHorizon),
            (false, true) => assert_eq!(verdict.unwrap_err(), TokenError::Revoked),
            (false, false) => assert_eq!(verdict.unwrap().sid, sid),
        }
        let refresh = sessions.refresh(&pair.refresh_token).await;
        let index_lost = Cluster::node_of_slot(
            cluster
                .slot_of(&store.token_key(&token_hash(&pair.refresh_token)))
                .await,
        ) == LOST;
        match (*node == LOST || index_lost, logged_out.contains(&sid)) {
            // The session, or the way to it, is gone: the client logs in again.
            (true, _) => assert_eq!(refresh.unwrap_err().code(), "invalid_grant"),
            (false, true) => assert_eq!(refresh.unwrap_err().code(), "session_revoked"),
            (false, false) => {
                let next = refresh.unwrap();
                sessions.verify_access(&next.access_token).await.unwrap();
            }
        }
    }
    // New sessions work on every node, the one that lost its data included.
    let again = sessions_on_every_node(&cluster, &store, &sessions, 1).await;
    for (pair, _) in &again {
        sessions.verify_access(&pair.access_token).await.unwrap();
    }
}
