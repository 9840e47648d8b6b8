//! Issue 30's check: what the vault leaves in Redis and in PostgreSQL, read back raw — every key
//! and value under the store's prefix, every column of every row — holds no token and no user
//! id, in clear, hex or Base64 (at every alignment), nor the user id's plain SHA-256; and the
//! vault still opens the record.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use tower_hmac_core::SecretKey;
use tower_hmac_core::keyring::{Keyring, MasterKey};
use tower_hmac_vault::store::VaultStore;
use tower_hmac_vault::{DelegatedTokens, Vault};

use crate::store_support::{
    postgres_cleanup, postgres_store, redis_cleanup, redis_connection, redis_keys, redis_store,
};

/// A row of the vault's table: every column, the numbers and the time as text.
type Row = (
    String,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    String,
    String,
    String,
);

const USER: &str = "alice@example.com";
const ACCESS: &str = "at-SECRET-123";
const REFRESH: &str = "rt-SECRET-456";

/// Every form of `secret` that must not appear: itself, its hex (both cases), and the Base64
/// characters that encode it alone whatever bytes surround it (three alignments, both
/// alphabets).
fn forms(secret: &str) -> Vec<Vec<u8>> {
    let bytes = secret.as_bytes();
    let mut forms = vec![
        bytes.to_vec(),
        hex::encode(bytes).into_bytes(),
        hex::encode_upper(bytes).into_bytes(),
    ];
    for offset in 0..3 {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(bytes);
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&shifted);
            let start = (offset * 8).div_ceil(6);
            let end = (shifted.len() * 8) / 6;
            forms.push(encoded.as_bytes()[start..end].to_vec());
        }
    }
    forms
}

/// What must appear nowhere.
fn needles() -> Vec<Vec<u8>> {
    let mut needles: Vec<Vec<u8>> = [USER, ACCESS, REFRESH]
        .into_iter()
        .flat_map(forms)
        .collect();
    needles.push(hex::encode(Sha256::digest(USER.as_bytes())).into_bytes());
    needles
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn tokens() -> DelegatedTokens {
    DelegatedTokens::new(
        ACCESS,
        Some(REFRESH.into()),
        1_900_000_000,
        vec!["repo".into()],
    )
}

/// Stores the tokens through a vault over `store` (two upstreams, and a replace: every write
/// path), and answers the vault.
async fn store_tokens(store: impl VaultStore) -> Vault {
    let vault = Vault::new(
        store,
        Keyring::new(MasterKey::generate().unwrap()),
        SecretKey::generate().unwrap(),
    );
    vault.put(USER, "github", &tokens()).await.unwrap();
    vault.put(USER, "gitlab", &tokens()).await.unwrap();
    let hash = vault.user_hash(USER).unwrap();
    let entry = vault.get_hashed(&hash, "gitlab").await.unwrap().unwrap();
    assert!(
        vault
            .replace(&hash, "gitlab", entry.version, &tokens())
            .await
            .unwrap()
    );
    vault
}

/// The checks on `dump` (every raw item read back), with the vault that wrote them.
async fn check(vault: &Vault, dump: &[Vec<u8>]) {
    let hash = vault.user_hash(USER).unwrap();
    // The dump is the vault's data: the user's hash is in it.
    assert!(
        dump.iter()
            .any(|item| contains(item, hash.as_str().as_bytes())),
        "the dump holds the vault's records"
    );
    for needle in needles() {
        for item in dump {
            assert!(
                !contains(item, &needle),
                "{:?} found in {:?}",
                String::from_utf8_lossy(&needle),
                String::from_utf8_lossy(item)
            );
        }
    }
    for upstream in ["github", "gitlab"] {
        let entry = vault.get(USER, upstream).await.unwrap().unwrap();
        assert_eq!(entry.tokens.access_token(), ACCESS);
        assert_eq!(entry.tokens.refresh_token(), Some(REFRESH));
    }
}

#[tokio::test]
async fn redis_holds_no_token_or_user_id_in_clear() {
    let (store, prefix) = redis_store("vault-at-rest").await;
    let vault = store_tokens(store).await;
    let mut conn = redis_connection().await;
    let mut dump: Vec<Vec<u8>> = Vec::new();
    let keys = redis_keys(&prefix).await;
    for key in &keys {
        dump.push(key.clone().into_bytes());
        let kind: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "hash" => redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "set" => redis::cmd("SMEMBERS")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .unwrap(),
            other => panic!("{key}: a {other} the vault does not write"),
        };
        dump.extend(values);
    }
    check(&vault, &dump).await;
    redis_cleanup(&prefix).await;
    // Records, the user's upstream set, the index entries: all read.
    assert_eq!(keys.len(), 5, "{keys:?}");
}

#[tokio::test]
async fn postgres_holds_no_token_or_user_id_in_clear() {
    let (store, schema) = postgres_store("at_rest").await;
    let pool = store.pool().clone();
    let vault = store_tokens(store.clone()).await;
    let table = format!(
        "{schema}.{}",
        tower_hmac_vault::store::PostgresVaultStore::TABLE
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT user_hash, upstream, master_key, nonce, ciphertext, expires_at::text,
                    version::text, updated_at::text FROM {table}"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    // Every column, including any added later: the whole row as text (bytea as hex).
    let whole: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT row_to_json(t)::text FROM {table} t"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut dump: Vec<Vec<u8>> = whole.into_iter().map(String::into_bytes).collect();
    for (user, upstream, master, nonce, ciphertext, expires_at, version, updated_at) in &rows {
        for text in [user, upstream, master, expires_at, version, updated_at] {
            dump.push(text.clone().into_bytes());
        }
        dump.push(nonce.clone());
        dump.push(ciphertext.clone());
    }
    check(&vault, &dump).await;
    postgres_cleanup(&store, &schema).await;
    assert_eq!(rows.len(), 2);
}

#[test]
fn the_forms_searched_for_include_base64_at_every_alignment() {
    let forms = forms("at-SECRET-123");
    for wrapped in [
        &b"at-SECRET-123"[..],
        b"x:at-SECRET-123",
        b"{\"a\":\"at-SECRET-123\"}",
    ] {
        let encoded = STANDARD_NO_PAD.encode(wrapped);
        assert!(
            forms.iter().any(|f| contains(encoded.as_bytes(), f)),
            "{encoded}"
        );
    }
    assert!(forms.iter().any(|f| f == b"61742d5345435245542d313233"));
}
