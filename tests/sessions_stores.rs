//! The session stores' conformance suite (tower-hmac-sessions `conformance::run`) on all three:
//! in memory, on the machine's Redis (a prefix of this run's own) and PostgreSQL (a schema of
//! this run's own) — rotation once, reuse revoking the family, revocation of a session and of
//! every session of a subject, lifetimes, 100 concurrent uses of one refresh token of which
//! exactly one rotates, and (issue 24 item 6) a reuse or a logout landing right after a rotation:
//! the access token the rotation issued is denied, since the rotation recorded it in the same
//! atomic step — deterministically, and then as 20 races of a rotation and a revocation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tower_hmac_sessions::store::{PostgresSessionStore, RedisSessionStore};
use tower_hmac_sessions::{MemorySessionStore, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_store_conforms() {
    conformance::run(Arc::new(MemorySessionStore::new()), "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_redis_store_conforms() {
    let prefix = tower_hmac_integration::unique_prefix("sessions");
    let store = RedisSessionStore::connect(&tower_hmac_integration::redis_url(), &prefix)
        .await
        .unwrap();
    conformance::run(Arc::new(store), "redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_postgres_store_conforms() {
    let url = std::env::var("TOWER_HMAC_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("th_sessions_{}", std::process::id());
    let store = PostgresSessionStore::connect(&url, Some(&schema))
        .await
        .unwrap();
    conformance::run(Arc::new(store), "postgres").await;
    // This run's schema goes (best effort).
    let _ = std::process::Command::new("psql")
        .arg(&url)
        .arg("-c")
        .arg(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .output();
}
