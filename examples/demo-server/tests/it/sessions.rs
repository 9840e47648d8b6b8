//! Issue 17 over TCP, on each of the three stores: PyJWT (a client nobody here wrote, in the
//! `.ci/run` virtualenv; `TOWER_HMAC_PYTHON`) verifies the access tokens the demo issues with the
//! key from `TOWER_HMAC_DEMO_JWT_SECRET`, forges the ones it must refuse, and runs login → call →
//! refresh → reuse detected → logout → logout of every session (tests/py/jwt_client.py).
//!
//! In memory against the demo binary (its settings as an operator gives them); on Redis and
//! PostgreSQL against the demo's session routes served in this process, on a store that waits
//! for the database as long as the test does (`common::serve_demo_with_sessions`).

use std::net::SocketAddr;

use crate::common::{PATIENCE, serve_demo_with_sessions, start_demo};

const SECRET: &str = "ZGVtby1qd3Qtc2VjcmV0LWZvci10aGUtdGVzdHMtb25seS0wMTIzNDU2Nzg5";

fn python() -> String {
    std::env::var("TOWER_HMAC_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs the PyJWT client against the demo at `addr` (sessions on `store`).
async fn flow(addr: SocketAddr, store: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/jwt_client.py");
    let out = tokio::process::Command::new(python())
        .arg(script)
        .arg(format!("http://{addr}"))
        .arg(SECRET)
        .output()
        .await
        .expect("python with PyJWT and requests (TOWER_HMAC_PYTHON)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "OK",
        "{store}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyjwt_verifies_and_the_flow_holds_in_memory() {
    let server = start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_JWT_SECRET", SECRET),
        ("TOWER_HMAC_DEMO_SESSION_STORE", "memory"),
        ("TOWER_HMAC_DEMO_SESSION_NAMESPACE", ""),
    ])
    .await;
    flow(server.addr, "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyjwt_verifies_and_the_flow_holds_on_redis() {
    let prefix = tower_hmac_integration::unique_prefix("demo-sessions");
    let store = tower_hmac_sessions::store::RedisSessionStore::connect_with_timeout(
        &tower_hmac_integration::redis_url(),
        &prefix,
        PATIENCE,
    )
    .await
    .unwrap();
    let server = serve_demo_with_sessions(store, Some(SECRET), None).await;
    flow(server.addr, "Redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyjwt_verifies_and_the_flow_holds_on_postgres() {
    let url = std::env::var("TOWER_HMAC_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("th_demo_sessions_{}", std::process::id());
    let store = tower_hmac_sessions::store::PostgresSessionStore::connect_with_timeout(
        &url,
        Some(&schema),
        PATIENCE,
    )
    .await
    .unwrap();
    let server = serve_demo_with_sessions(store, Some(SECRET), None).await;
    flow(server.addr, "PostgreSQL").await;
    drop(server);
    let _ = std::process::Command::new("psql")
        .arg(&url)
        .arg("-c")
        .arg(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .output();
}
