//! Issue 25, item 4, against the machine's PostgreSQL (`TOWER_HMAC_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), each test in a schema of its own: the
//! interleavings that undid a revocation, forced step by step — a registry without its
//! background tasks, the steps of the refresh, the notification and the lookup called in order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tower_hmac_core::KeyState;

use super::*;
use crate::db::Found;
use crate::{KeyAdmin, MasterKey};

fn url() -> String {
    std::env::var("TOWER_HMAC_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of this test's own, dropped when the guard goes.
struct Schema(String);

impl Schema {
    fn new(name: &str) -> Self {
        Self(format!("th_{}_unit_{name}", std::process::id()))
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, schema) = (url(), self.0.clone());
        // A fresh runtime on a plain thread: drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                }
            });
        })
        .join();
    }
}

fn keyring() -> Keyring {
    Keyring::new(MasterKey::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap())
}

/// An admin, a registry with no task running (nothing applies a change but the test) and a
/// plain pool, all in `schema`, with one active key `key-a`.
async fn setup(schema: &Schema) -> (KeyAdmin, Arc<Shared>, PgPool) {
    let admin = KeyAdmin::connect(&url(), keyring(), Some(&schema.0))
        .await
        .unwrap();
    admin.generate_key("partner", "key-a", "t").await.unwrap();
    let options = RegistryOptions::default()
        .schema(&schema.0)
        .refresh_interval(Duration::from_secs(3600));
    let shared = Shared::open(&url(), keyring(), options).await.unwrap();
    let sql = sqlx::PgPool::connect(&format!("{}?options[search_path]={}", url(), schema.0))
        .await
        .unwrap();
    (admin, shared, sql)
}

fn state(shared: &Shared, key_id: &str) -> Option<KeyState> {
    match shared.read().get(key_id) {
        Held::Key(record) => Some(record.state()),
        Held::Deleted | Held::No => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_read_its_snapshot_before_a_revocation_does_not_undo_it() {
    let schema = Schema::new("order");
    let (admin, shared, _sql) = setup(&schema).await;
    assert_eq!(state(&shared, "key-a"), Some(KeyState::Active));

    // 1. The periodic refresh reads its snapshot: key-a active.
    let ticket = shared.read().ticket();
    let snapshot = read_snapshot(&shared.pool, &shared.keyring).await;
    // 2. key-a is revoked and the notification applied.
    admin.revoke("key-a", "ops").await.unwrap();
    shared.reload_key("key-a").await.unwrap();
    assert_eq!(state(&shared, "key-a"), Some(KeyState::Revoked));
    // 3. The snapshot is written: the revocation stays.
    shared.finish_refresh(ticket, snapshot).unwrap();
    assert_eq!(state(&shared, "key-a"), Some(KeyState::Revoked));
    // The next refresh, read after the revocation, agrees.
    shared.refresh().await.unwrap();
    assert_eq!(state(&shared, "key-a"), Some(KeyState::Revoked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_read_its_snapshot_before_a_deletion_does_not_undo_it() {
    let schema = Schema::new("delete");
    let (_admin, shared, sql) = setup(&schema).await;
    let ticket = shared.read().ticket();
    let snapshot = read_snapshot(&shared.pool, &shared.keyring).await;
    // Deleted by hand in SQL: the trigger records the deletion's version (and notifies).
    sqlx::query("DELETE FROM tower_hmac_keys WHERE key_id = 'key-a'")
        .execute(&sql)
        .await
        .unwrap();
    shared.reload_key("key-a").await.unwrap();
    assert_eq!(state(&shared, "key-a"), None);
    shared.finish_refresh(ticket, snapshot).unwrap();
    assert_eq!(state(&shared, "key-a"), None, "deleted stays deleted");
    assert!(shared.read().len() == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_that_read_a_key_before_its_revocation_does_not_undo_it() {
    let schema = Schema::new("lookup");
    let (admin, shared, _sql) = setup(&schema).await;
    // A key added after the registry loaded: the lookup of an id not held reads it active …
    admin.generate_key("partner", "key-b", "t").await.unwrap();
    let ticket = shared.read().ticket();
    let found = read_key(&shared.pool, &shared.keyring, "key-b")
        .await
        .unwrap();
    assert!(matches!(found, Found::Key(..)));
    // … it is revoked and the notification applied before the lookup writes what it read.
    admin.revoke("key-b", "ops").await.unwrap();
    shared.reload_key("key-b").await.unwrap();
    let answer = shared.write().apply("key-b", found, ticket);
    assert_eq!(answer.map(|r| r.state()), Some(KeyState::Revoked));
    assert_eq!(state(&shared, "key-b"), Some(KeyState::Revoked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_of_a_key_raises_its_version() {
    let schema = Schema::new("versions");
    let (admin, _shared, sql) = setup(&schema).await;
    let version = async || -> i64 {
        sqlx::query_scalar("SELECT version FROM tower_hmac_keys WHERE key_id = 'key-a'")
            .fetch_one(&sql)
            .await
            .unwrap()
    };
    let mut last = version().await;
    admin
        .set_app_scopes("partner", &["orders:read"], "ops")
        .await
        .unwrap();
    let now = version().await;
    assert!(now > last, "scopes of its app: {last} -> {now}");
    last = now;
    admin.revoke("key-a", "ops").await.unwrap();
    let now = version().await;
    assert!(now > last, "revoked: {last} -> {now}");
    // A change made by hand, too.
    last = now;
    sqlx::query("UPDATE tower_hmac_keys SET state = 'active' WHERE key_id = 'key-a'")
        .execute(&sql)
        .await
        .unwrap();
    let now = version().await;
    assert!(now > last, "by hand: {last} -> {now}");
}
