//! Key lifecycle through PostgreSQL (issue 14): two demo instances with
//! `TOWER_HMAC_DEMO_REGISTRY=postgres://…`; keys added, rotated and revoked with
//! `tower_hmac_postgres::KeyAdmin` (what `tower-hmac keys` runs) are in force on both without a
//! restart — a revocation by the registry's `NOTIFY`, before its periodic full refresh could
//! have run. Against the machine's PostgreSQL (`TOWER_HMAC_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`), in a schema of this test's own.

use std::time::{Duration, Instant};

use tower_hmac_postgres::{KeyAdmin, Keyring, MasterKey, RegistryOptions};

use crate::common::{on_every_instance as on_both, on_every_instance_before, start_demo};

fn url() -> String {
    std::env::var("TOWER_HMAC_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_adds_rotates_and_revokes_keys_on_two_instances_through_postgres() {
    let schema = format!("th_demo_{}", std::process::id());
    let master = MasterKey::generate().unwrap();
    let admin = KeyAdmin::connect(&url(), Keyring::new(master.clone()), Some(&schema))
        .await
        .unwrap();
    let first = admin
        .generate_key("partner", "partner-1", "ops")
        .await
        .unwrap();
    let registry = format!("{}?options[search_path]={schema}", url());
    let master_b64 = master.to_base64();
    let env = [
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_REGISTRY", registry.as_str()),
        ("TOWER_HMAC_MASTER_KEY", master_b64.as_str()),
    ];
    // The instances' first full refresh after their start comes a refresh interval (30 s) after
    // it: a change in force before then came by NOTIFY (or, for a key id not held, by the lookup
    // of a key id not held).
    let before_any_refresh = Instant::now() + RegistryOptions::default().refresh_interval;
    let a = start_demo(&env).await;
    let b = start_demo(&env).await;
    let both = [a.addr, b.addr];
    on_both(&both, "partner-1", &first, 200).await;

    // Added while both run.
    let second = admin
        .generate_key("partner", "partner-2", "ops")
        .await
        .unwrap();
    on_every_instance_before(
        &both,
        "partner-2",
        &second,
        200,
        before_any_refresh,
        "the instances' first full refresh",
    )
    .await;
    // Rotation: a third key; the others keep working for the grace period.
    let third = admin
        .rotate("partner", "partner-3", Duration::from_secs(3600), "ops")
        .await
        .unwrap();
    on_both(&both, "partner-3", &third, 200).await;
    on_both(&both, "partner-1", &first, 200).await;
    // Revoked: refused on both, by NOTIFY (the key is held: nothing else would tell them before
    // the full refresh).
    admin.revoke("partner-1", "ops").await.unwrap();
    on_every_instance_before(
        &both,
        "partner-1",
        &first,
        401,
        before_any_refresh,
        "the instances' first full refresh",
    )
    .await;
    on_both(&both, "partner-2", &second, 200).await;
    // The audit trail has every change.
    let actions: Vec<String> = admin
        .audit()
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.action, e.key_id))
        .collect();
    assert!(
        actions.contains(&"revoked partner-1".to_owned()),
        "{actions:?}"
    );
    drop((a, b));
    let pool = sqlx::PgPool::connect(&url()).await.unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await;
}
