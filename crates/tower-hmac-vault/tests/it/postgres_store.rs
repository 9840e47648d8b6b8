//! What only the PostgreSQL store does: the table and indexes it creates (in the schema it is
//! given, again without harm), and a server that never answers failing within the timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tower_hmac_integration::wait::eventually;
use tower_hmac_vault::store::{PostgresVaultStore, StoreRefused, VaultStore as _};

use crate::store_support::{
    PATIENT, database_url, postgres_cleanup, postgres_store, silent_server, unique_schema,
};

#[tokio::test]
async fn the_table_has_its_columns_primary_key_and_indexes() {
    let (store, schema) = postgres_store("layout").await;
    // Opened again on the same schema: nothing to create, nothing lost. (Patient: another test
    // holds the creation's lock for longer than the default timeout.)
    let again = PostgresVaultStore::connect_with_timeout(&database_url(), Some(&schema), PATIENT)
        .await
        .unwrap();
    again.ping().await.unwrap();
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
    )
    .bind(&schema)
    .bind(PostgresVaultStore::TABLE)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2
         ORDER BY indexname",
    )
    .bind(&schema)
    .bind(PostgresVaultStore::TABLE)
    .fetch_all(store.pool())
    .await
    .unwrap();
    postgres_cleanup(&store, &schema).await;

    let columns: Vec<(&str, &str)> = columns
        .iter()
        .map(|(c, t)| (c.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            ("user_hash", "text"),
            ("upstream", "text"),
            ("master_key", "text"),
            ("nonce", "bytea"),
            ("ciphertext", "bytea"),
            ("expires_at", "bigint"),
            ("version", "bigint"),
            ("updated_at", "timestamp with time zone"),
        ]
    );
    let on = |what: &str| indexes.iter().any(|i| i.ends_with(what));
    assert!(on("(user_hash, upstream)"), "primary key: {indexes:?}");
    assert!(on("(expires_at)") && on("(master_key)"), "{indexes:?}");
}

#[tokio::test]
async fn a_postgres_that_never_answers_is_an_error_within_the_timeout() {
    let (_server, port) = silent_server();
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let answer =
        PostgresVaultStore::connect_with_timeout(&url, None, Duration::from_millis(200)).await;
    assert!(answer.is_err(), "connecting to a frozen PostgreSQL fails");
}

#[tokio::test]
async fn a_schema_name_that_is_not_plain_is_refused() {
    // Refused before any connection: the URL names a server that never answers, which would
    // be another error (a timeout) if the name were not checked first.
    let (_server, port) = silent_server();
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let too_long = "a".repeat(64);
    for schema in ["", "Upper", "a;b", "a.b", "1a", "a-b", too_long.as_str()] {
        let refused = PostgresVaultStore::connect(&url, Some(schema))
            .await
            .unwrap_err();
        assert_eq!(
            refused.refused(),
            Some(&StoreRefused::InvalidSchema {
                schema: schema.into()
            }),
            "{schema:?}: {refused}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_is_created_within_the_timeout_given_to_connect() {
    // Another instance holds the creation's lock for longer than the default timeout (500 ms,
    // as the server's clock counts the wait): a store given a longer timeout waits for it.
    let schema = unique_schema("slow_create");
    let holder = sqlx::PgPool::connect(&database_url()).await.unwrap();
    let mut lock = holder.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tower_hmac_vault schema'))")
        .execute(&mut *lock)
        .await
        .unwrap();
    // The store's connections, told from every other by their application name.
    let url = format!("{}?application_name={schema}", database_url());
    let connecting = tokio::spawn({
        let schema = schema.clone();
        async move { PostgresVaultStore::connect_with_timeout(&url, Some(&schema), PATIENT).await }
    });
    let waited_past_default =
        eventually("the store waits past the default timeout, or fails", || {
            let (holder, schema) = (holder.clone(), schema.clone());
            let finished = connecting.is_finished();
            async move {
                if finished {
                    return Some(false);
                }
                let waiting: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                 WHERE application_name = $1 AND wait_event_type = 'Lock'
                 AND now() - query_start > interval '1 second')",
                )
                .bind(&schema)
                .fetch_one(&holder)
                .await
                .ok()?;
                waiting.then_some(true)
            }
        })
        .await;
    lock.rollback().await.unwrap();
    let store = connecting.await.unwrap();
    assert!(waited_past_default, "failed while waiting: {store:?}");
    let store = store.unwrap();
    store.ping().await.unwrap();
    postgres_cleanup(&store, &schema).await;
}
