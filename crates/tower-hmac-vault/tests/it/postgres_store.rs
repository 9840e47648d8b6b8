//! What only the PostgreSQL store does: the table and indexes it creates (in the schema it is
//! given, again without harm), and a server that never answers failing within the timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tower_hmac_vault::store::{PostgresVaultStore, VaultStore as _};

use crate::store_support::{database_url, postgres_cleanup, postgres_store, silent_server};

#[tokio::test]
async fn the_table_has_its_columns_primary_key_and_indexes() {
    let (store, schema) = postgres_store("layout").await;
    // Opened again on the same schema: nothing to create, nothing lost.
    let again = PostgresVaultStore::from_pool(store.pool().clone(), Some(&schema))
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
    for schema in ["", "Upper", "a;b", "a.b"] {
        let answer = PostgresVaultStore::connect(&database_url(), Some(schema)).await;
        assert!(answer.is_err(), "{schema:?}");
    }
}
