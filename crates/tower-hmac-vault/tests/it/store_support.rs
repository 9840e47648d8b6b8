//! What the stores' tests share: stores of their own on the machine's Redis and PostgreSQL (a
//! key prefix, a schema no other run uses), removed at the end; every raw byte they hold.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sha2::{Digest, Sha256};
use tower_hmac_vault::store::{PostgresVaultStore, RedisVaultStore};

/// The tests' stores wait this long for an answer: they check what the stores do, not how fast
/// (the timeouts themselves are tested with servers that never answer).
pub(crate) const PATIENT: Duration = Duration::from_secs(30);

/// The PostgreSQL the tests use: `$TOWER_HMAC_DATABASE_URL`, or the project's usual one.
pub(crate) fn database_url() -> String {
    std::env::var("TOWER_HMAC_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A store on the machine's Redis under a prefix of its own.
pub(crate) async fn redis_store(label: &str) -> (RedisVaultStore, String) {
    let url = tower_hmac_integration::require_redis().await;
    let prefix = tower_hmac_integration::unique_prefix(label);
    let store = RedisVaultStore::connect_with_timeout(&url, &prefix, PATIENT)
        .await
        .unwrap();
    (store, prefix)
}

/// A patient plain connection to the machine's Redis (to read and clean up).
pub(crate) async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(tower_hmac_integration::redis_url())
        .unwrap()
        .get_multiplexed_async_connection_with_config(&tower_hmac_integration::wait::patient())
        .await
        .unwrap()
}

/// Every key under `prefix` (SCAN: never a `KEYS` on a shared Redis).
pub(crate) async fn redis_keys(prefix: &str) -> Vec<String> {
    let mut conn = redis_connection().await;
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            keys.sort();
            return keys;
        }
        cursor = next;
    }
}

/// Deletes every key under `prefix`.
pub(crate) async fn redis_cleanup(prefix: &str) {
    let keys = redis_keys(prefix).await;
    if !keys.is_empty() {
        let mut conn = redis_connection().await;
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<i64>(&mut conn)
            .await
            .unwrap();
    }
}

/// A schema name no other run uses.
pub(crate) fn unique_schema(label: &str) -> String {
    let digest = Sha256::digest(tower_hmac_integration::unique_prefix(label).as_bytes());
    format!("th_vault_{label}_{}", &hex::encode(digest)[..16])
}

/// A store on the machine's PostgreSQL in a schema of its own.
pub(crate) async fn postgres_store(label: &str) -> (PostgresVaultStore, String) {
    let schema = unique_schema(label);
    let store = PostgresVaultStore::connect_with_timeout(&database_url(), Some(&schema), PATIENT)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not usable at {} ({e}): these tests need one (set \
                 TOWER_HMAC_DATABASE_URL)",
                database_url()
            )
        });
    (store, schema)
}

/// Drops a test's schema.
pub(crate) async fn postgres_cleanup(store: &PostgresVaultStore, schema: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(store.pool())
    .await
    .unwrap();
}

/// A listener that accepts connections and never answers (a frozen server); it stays bound
/// while the returned value lives.
pub(crate) fn silent_server() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}
