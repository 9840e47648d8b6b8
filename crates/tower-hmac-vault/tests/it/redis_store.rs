//! What only the Redis store does: records that expire when asked to (and never by default),
//! stale index entries (a crash between a write's steps) checked against the records and
//! corrected, a Redis that never answers failing within the timeout, prefixes that would break
//! its hash tags refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tower_hmac_vault::UserHash;
use tower_hmac_vault::store::{
    Expiring, RedisVaultStore, SealedRecord, StoreRefused, VaultStore as _,
};

use crate::store_support::{redis_cleanup, redis_connection, redis_store, silent_server};

fn record(user: &UserHash, upstream: &str, master: &str, expires_at: u64) -> SealedRecord {
    SealedRecord {
        user: user.clone(),
        upstream: upstream.into(),
        master_key: master.into(),
        nonce: [3; 12],
        ciphertext: vec![4; 48],
        expires_at,
        version: 1,
    }
}

fn user(n: u8) -> UserHash {
    UserHash::from_hex(&format!("{n:02x}").repeat(32)).unwrap()
}

async fn expire_time(key: &str) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(&mut redis_connection().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn records_never_expire_by_default() {
    let (store, prefix) = redis_store("vault-no-ttl").await;
    let u = user(1);
    assert!(
        store
            .put(&record(&u, "up", "k1", 1_000), None)
            .await
            .unwrap()
    );
    let times = [
        expire_time(&store.record_key(&u, "up")).await,
        expire_time(&store.user_key(&u)).await,
    ];
    redis_cleanup(&prefix).await;
    assert_eq!(
        times,
        [-1, -1],
        "no expiry (a refresh token may live for months)"
    );
}

#[tokio::test]
async fn records_expire_the_configured_time_after_their_access_token() {
    let (store, prefix) = redis_store("vault-ttl").await;
    let store = store.expire_records_after(Duration::from_secs(90 * 86_400));
    let u = user(2);
    let far = 4_000_000_000;
    assert!(store.put(&record(&u, "a", "k1", far), None).await.unwrap());
    assert!(
        store
            .put(&record(&u, "b", "k1", far + 10), None)
            .await
            .unwrap()
    );
    let at = |expires_at: u64| i64::try_from((expires_at + 90 * 86_400) * 1000).unwrap();
    let times = [
        expire_time(&store.record_key(&u, "a")).await,
        expire_time(&store.record_key(&u, "b")).await,
        expire_time(&store.user_key(&u)).await,
    ];
    redis_cleanup(&prefix).await;
    assert_eq!(
        times,
        [at(far), at(far + 10), at(far + 10)],
        "the set lives as long as its last record"
    );
}

/// A write adds its index entries before its script and a crash may stop it there; a delete
/// removes them after its script. Either leaves entries the records do not back: they are
/// checked against the records, corrected, and never answered.
#[tokio::test]
async fn stale_index_entries_are_checked_against_the_records_and_corrected() {
    let (store, prefix) = redis_store("vault-stale").await;
    let (real, ghost, moved) = (user(0x31), user(0x32), user(0x33));
    assert!(
        store
            .put(&record(&real, "up", "old", 500), None)
            .await
            .unwrap()
    );
    assert!(
        store
            .put(&record(&moved, "up", "old", 900), None)
            .await
            .unwrap()
    );
    // As a crash would leave them: an entry with no record, an entry earlier than its record,
    // an entry under a master key the record no longer has.
    let mut conn = redis_connection().await;
    let expiring = format!("{prefix}{{index-3}}:expiring");
    let sealed = format!("{prefix}{{index-3}}:sealed");
    let member = |u: &UserHash| format!("{}:up", u.as_str());
    for (score, m) in [(100, member(&ghost)), (200, member(&moved))] {
        redis::cmd("ZADD")
            .arg(&expiring)
            .arg(score)
            .arg(m)
            .query_async::<i64>(&mut conn)
            .await
            .unwrap();
    }
    for m in [
        format!("older\0{}", member(&ghost)),
        format!("older\0{}", member(&moved)),
    ] {
        redis::cmd("ZADD")
            .arg(&sealed)
            .arg(0)
            .arg(m)
            .query_async::<i64>(&mut conn)
            .await
            .unwrap();
    }

    let due = store.expiring(1_000, None, 1).await.unwrap();
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(&expiring)
        .arg(member(&moved))
        .query_async(&mut conn)
        .await
        .unwrap();
    let ghost_score: Option<f64> = redis::cmd("ZSCORE")
        .arg(&expiring)
        .arg(member(&ghost))
        .query_async(&mut conn)
        .await
        .unwrap();
    let all_due = store.expiring(1_000, None, 10).await.unwrap();
    let others = store.sealed_under_other("new", 10).await.unwrap();
    let sealed_left: Vec<String> = redis::cmd("ZRANGE")
        .arg(&sealed)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    redis_cleanup(&prefix).await;

    assert_eq!(
        pairs(due),
        vec![(real.clone(), "up".to_owned())],
        "the ghost and the early entry skipped"
    );
    assert_eq!(
        (score, ghost_score),
        (Some(900.0), None),
        "corrected, and dropped"
    );
    assert_eq!(
        pairs(all_due),
        vec![(real.clone(), "up".into()), (moved.clone(), "up".into())]
    );
    let mut others = others;
    others.sort();
    assert_eq!(
        others,
        vec![(real.clone(), "up".into()), (moved.clone(), "up".into())]
    );
    assert_eq!(
        sealed_left,
        vec![
            format!("old\0{}", member(&real)),
            format!("old\0{}", member(&moved))
        ],
        "the entries no record backs are gone"
    );
}

#[tokio::test]
async fn a_redis_that_never_answers_is_an_error_within_the_timeout() {
    let (_server, port) = silent_server();
    let url = format!("redis://127.0.0.1:{port}");
    let answer =
        RedisVaultStore::connect_with_timeout(&url, "t:", Duration::from_millis(200)).await;
    assert!(answer.is_err(), "connecting to a frozen Redis fails");
}

#[tokio::test]
async fn an_operation_on_a_redis_that_stops_answering_fails_within_the_timeout() {
    let (_server, port) = silent_server();
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    // A lazy connection manager: no handshake until the first command.
    let conn = redis::aio::ConnectionManager::new_lazy_with_config(
        client,
        redis::aio::ConnectionManagerConfig::new(),
    )
    .unwrap();
    let store = RedisVaultStore::from_connection(conn, "t:")
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    let error = store.get(&user(1), "up").await.unwrap_err();
    assert!(error.to_string().starts_with("vault store:"), "{error}");
    assert!(store.ping().await.is_err());
}

#[tokio::test]
async fn a_prefix_with_a_brace_is_refused() {
    let conn = redis_connection().await;
    for prefix in ["a{", "}b", "{x}"] {
        assert!(
            RedisVaultStore::from_connection(conn.clone(), prefix).is_err(),
            "{prefix}"
        );
    }
}

/// Sets `maxmemory-policy` on one node of a cluster of the test's own (never the shared Redis).
async fn set_policy(port: u16, policy: &str) {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg(policy)
        .query_async::<()>(&mut tower_hmac_integration::cluster::node(port).await)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_may_evict_keys_is_refused_at_connect() {
    // The cluster's nodes are Redis servers of this test's own, each on a port the OS gave;
    // each is connected to directly here (not as a cluster).
    let cluster = tower_hmac_integration::cluster::Cluster::start().await;
    let (evicting, safe) = (cluster.ports()[0], cluster.ports()[1]);
    set_policy(evicting, "allkeys-lru").await;
    let connect = |port: u16| async move {
        RedisVaultStore::connect_with_timeout(
            &format!("redis://127.0.0.1:{port}"),
            "t:",
            tower_hmac_integration::wait::PATIENCE,
        )
        .await
    };

    let refused = connect(evicting).await.unwrap_err();
    assert_eq!(
        refused.refused(),
        Some(&StoreRefused::EvictingPolicy {
            policy: "allkeys-lru".into()
        }),
        "{refused}"
    );
    connect(safe).await.unwrap();

    // A store on a connection of the caller's own is checked on its first operation, and on
    // each one after, until the policy is safe: a record is never written where it may be
    // evicted.
    let own = RedisVaultStore::from_connection(
        tower_hmac_integration::cluster::node(evicting).await,
        "t:",
    )
    .unwrap();
    let user = UserHash::from_hex(&"ab".repeat(32)).unwrap();
    for _ in 0..2 {
        let refused = own.get(&user, "up").await.unwrap_err();
        assert_eq!(
            refused.refused(),
            Some(&StoreRefused::EvictingPolicy {
                policy: "allkeys-lru".into()
            }),
            "{refused}"
        );
    }

    set_policy(evicting, "noeviction").await;
    connect(evicting).await.unwrap();
    assert_eq!(own.get(&user, "up").await.unwrap(), None);
}

/// The (user, upstream) of each record `expiring` listed.
fn pairs(listed: Vec<Expiring>) -> Vec<(UserHash, String)> {
    listed.into_iter().map(|e| (e.user, e.upstream)).collect()
}
