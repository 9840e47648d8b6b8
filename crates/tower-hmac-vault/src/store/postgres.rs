//! Sealed records in PostgreSQL, shared by every instance: one row per (user hash, upstream),
//! written with compare-and-set statements (`INSERT … ON CONFLICT DO NOTHING` for a new record,
//! `UPDATE … WHERE version = $n` for an existing one).
//!
//! The store creates its table and indexes (`CREATE … IF NOT EXISTS`, under an advisory lock so
//! that instances starting together do not collide) in the schema it is given, or the
//! connection's default one:
//!
//! ```sql
//! CREATE TABLE tower_hmac_vault (
//!     user_hash text NOT NULL,          -- the user's keyed hash, never the user id
//!     upstream text NOT NULL,
//!     master_key text NOT NULL,         -- the id of the master key that sealed it
//!     nonce bytea NOT NULL,
//!     ciphertext bytea NOT NULL,        -- the tokens and scopes, AES-256-GCM
//!     expires_at bigint NOT NULL,       -- the access token's expiry, Unix seconds
//!     version bigint NOT NULL,
//!     updated_at timestamptz NOT NULL DEFAULT now(),
//!     PRIMARY KEY (user_hash, upstream));
//! CREATE INDEX tower_hmac_vault_expiring ON tower_hmac_vault (expires_at);
//! CREATE INDEX tower_hmac_vault_master_key ON tower_hmac_vault (master_key);
//! ```
//!
//! Every operation is bounded by the store's timeout: around the whole operation, and (with
//! [`connect`](PostgresVaultStore::connect)) as the pool's acquire timeout and the connections'
//! `statement_timeout`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Row};

use super::{
    DEFAULT_TIMEOUT, Expiring, SealedRecord, StoreRefused, VaultStore, VaultStoreError, bounded,
};
use crate::UserHash;

const TABLE: &str = "tower_hmac_vault";

/// The statements, with the table's qualified name in them.
#[derive(Debug)]
struct Sql {
    get: String,
    insert: String,
    update: String,
    delete: String,
    delete_user: String,
    expiring: String,
    sealed_under_other: String,
}

impl Sql {
    fn new(table: &str) -> Self {
        let columns = "user_hash, upstream, master_key, nonce, ciphertext, expires_at, version";
        Self {
            get: format!(
                "SELECT master_key, nonce, ciphertext, expires_at, version FROM {table}
                 WHERE user_hash = $1 AND upstream = $2"
            ),
            insert: format!(
                "INSERT INTO {table} ({columns}) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (user_hash, upstream) DO NOTHING"
            ),
            update: format!(
                "UPDATE {table} SET master_key = $3, nonce = $4, ciphertext = $5,
                 expires_at = $6, version = $7, updated_at = now()
                 WHERE user_hash = $1 AND upstream = $2 AND version = $8"
            ),
            delete: format!("DELETE FROM {table} WHERE user_hash = $1 AND upstream = $2"),
            delete_user: format!("DELETE FROM {table} WHERE user_hash = $1"),
            expiring: format!(
                // Byte order (`COLLATE "C"`), as `Expiring`'s: the page after a record is the
                // same whatever the database's collation.
                // `expires_at >= $2` lets the index start at the cursor's second.
                "SELECT user_hash, upstream, expires_at FROM {table} WHERE expires_at < $1
                 AND expires_at >= $2
                 AND (expires_at, user_hash COLLATE \"C\", upstream COLLATE \"C\") > ($2, $3, $4)
                 ORDER BY expires_at, user_hash COLLATE \"C\", upstream COLLATE \"C\" LIMIT $5"
            ),
            sealed_under_other: format!(
                "SELECT user_hash, upstream FROM {table} WHERE master_key <> $1 LIMIT $2"
            ),
        }
    }

    fn schema(table: &str) -> [String; 3] {
        [
            format!(
                "CREATE TABLE IF NOT EXISTS {table} (
                    user_hash text NOT NULL,
                    upstream text NOT NULL,
                    master_key text NOT NULL,
                    nonce bytea NOT NULL,
                    ciphertext bytea NOT NULL,
                    expires_at bigint NOT NULL,
                    version bigint NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (user_hash, upstream))"
            ),
            format!("CREATE INDEX IF NOT EXISTS {TABLE}_expiring ON {table} (expires_at)"),
            format!("CREATE INDEX IF NOT EXISTS {TABLE}_master_key ON {table} (master_key)"),
        ]
    }
}

/// Sealed records in PostgreSQL.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use tower_hmac_vault::store::PostgresVaultStore;
///
/// let store = PostgresVaultStore::connect("postgres://app@db/app", Some("vault")).await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresVaultStore {
    pool: PgPool,
    timeout: Duration,
    sql: Arc<Sql>,
}

fn store_error(e: sqlx::Error) -> VaultStoreError {
    VaultStoreError::new(e)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsigned(n: i64, what: &str) -> Result<u64, VaultStoreError> {
    u64::try_from(n).map_err(|_| VaultStoreError::new(format!("a vault row's {what} is negative")))
}

fn check_schema(schema: &str) -> Result<(), VaultStoreError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    ok.then_some(()).ok_or_else(|| {
        VaultStoreError::new(StoreRefused::InvalidSchema {
            schema: schema.to_owned(),
        })
    })
}

/// A row's user and upstream, its first two columns.
fn pair(row: &sqlx::postgres::PgRow) -> Result<(UserHash, String), VaultStoreError> {
    let user: String = row.try_get(0).map_err(store_error)?;
    let upstream: String = row.try_get(1).map_err(store_error)?;
    let user = UserHash::from_hex(&user)
        .ok_or_else(|| VaultStoreError::new("a vault row's user_hash is not a hash"))?;
    Ok((user, upstream))
}

fn pairs(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<(UserHash, String)>, VaultStoreError> {
    rows.iter().map(pair).collect()
}

impl PostgresVaultStore {
    /// The table's name (in the store's schema).
    pub const TABLE: &str = TABLE;

    /// Connects to `url`; the table lives in `schema` (made if missing; lower-case letters,
    /// digits and `_`) or the connection's default. Each operation is bounded by
    /// [`DEFAULT_TIMEOUT`].
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, VaultStoreError> {
        Self::connect_with_timeout(url, schema, DEFAULT_TIMEOUT).await
    }

    /// [`connect`](Self::connect) with another per-operation timeout (at least 1 ms): the
    /// pool's acquire timeout, the `statement_timeout` of its connections and the bound of each
    /// whole operation.
    pub async fn connect_with_timeout(
        url: &str,
        schema: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, VaultStoreError> {
        let timeout = timeout.max(Duration::from_millis(1));
        if let Some(schema) = schema {
            check_schema(schema)?;
        }
        let options = PgConnectOptions::from_str(url)
            .map_err(store_error)?
            .options([("statement_timeout", timeout.as_millis())]);
        let pool = bounded(timeout, async {
            PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(timeout)
                .connect_with(options)
                .await
                .map_err(store_error)
        })
        .await?;
        Self::from_pool_with_timeout(pool, schema, timeout).await
    }

    /// A store on an existing pool (bound its acquire time and `statement_timeout` yourself);
    /// the table lives in `schema` (made if missing) or the connection's default. Creates the
    /// table and its indexes if missing, within [`DEFAULT_TIMEOUT`].
    pub async fn from_pool(pool: PgPool, schema: Option<&str>) -> Result<Self, VaultStoreError> {
        Self::from_pool_with_timeout(pool, schema, DEFAULT_TIMEOUT).await
    }

    /// [`from_pool`](Self::from_pool) with the store's per-operation timeout, which bounds the
    /// table's creation too.
    async fn from_pool_with_timeout(
        pool: PgPool,
        schema: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, VaultStoreError> {
        let table = match schema {
            Some(schema) => {
                check_schema(schema)?;
                format!("{schema}.{TABLE}")
            }
            None => TABLE.to_owned(),
        };
        let store = Self {
            pool,
            timeout: DEFAULT_TIMEOUT,
            sql: Arc::new(Sql::new(&table)),
        }
        .with_timeout(timeout);
        bounded(store.timeout, store.create(schema, &table)).await?;
        Ok(store)
    }

    async fn create(&self, schema: Option<&str>, table: &str) -> Result<(), VaultStoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // Instances starting together: one creates, the others wait and find it made.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tower_hmac_vault schema'))")
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        if let Some(schema) = schema {
            // Checked: lower-case letters, digits and `_` only.
            sqlx::query(AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        for statement in Sql::schema(table) {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)
    }

    /// Another per-operation timeout (at least 1 ms).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The per-operation timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl VaultStore for PostgresVaultStore {
    async fn get(
        &self,
        user: &UserHash,
        upstream: &str,
    ) -> Result<Option<SealedRecord>, VaultStoreError> {
        let row = bounded(self.timeout, async {
            sqlx::query(AssertSqlSafe(self.sql.get.as_str()))
                .bind(user.as_str())
                .bind(upstream)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)
        })
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let nonce: Vec<u8> = row.try_get(1).map_err(store_error)?;
        Ok(Some(SealedRecord {
            user: user.clone(),
            upstream: upstream.to_owned(),
            master_key: row.try_get(0).map_err(store_error)?,
            nonce: nonce
                .try_into()
                .map_err(|_| VaultStoreError::new("a vault row's nonce is not 12 bytes"))?,
            ciphertext: row.try_get(2).map_err(store_error)?,
            expires_at: unsigned(row.try_get(3).map_err(store_error)?, "expiry")?,
            version: unsigned(row.try_get(4).map_err(store_error)?, "version")?,
        }))
    }

    async fn put(
        &self,
        record: &SealedRecord,
        expected: Option<u64>,
    ) -> Result<bool, VaultStoreError> {
        let sql = match expected {
            None => self.sql.insert.as_str(),
            Some(_) => self.sql.update.as_str(),
        };
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(record.user.as_str())
            .bind(&record.upstream)
            .bind(&record.master_key)
            .bind(&record.nonce[..])
            .bind(&record.ciphertext)
            .bind(signed(record.expires_at))
            .bind(signed(record.version));
        if let Some(expected) = expected {
            query = query.bind(signed(expected));
        }
        let done = bounded(self.timeout, async {
            query.execute(&self.pool).await.map_err(store_error)
        })
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, user: &UserHash, upstream: &str) -> Result<bool, VaultStoreError> {
        let done = bounded(self.timeout, async {
            sqlx::query(AssertSqlSafe(self.sql.delete.as_str()))
                .bind(user.as_str())
                .bind(upstream)
                .execute(&self.pool)
                .await
                .map_err(store_error)
        })
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user(&self, user: &UserHash) -> Result<usize, VaultStoreError> {
        let done = bounded(self.timeout, async {
            sqlx::query(AssertSqlSafe(self.sql.delete_user.as_str()))
                .bind(user.as_str())
                .execute(&self.pool)
                .await
                .map_err(store_error)
        })
        .await?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn expiring(
        &self,
        before: u64,
        after: Option<&Expiring>,
        limit: usize,
    ) -> Result<Vec<Expiring>, VaultStoreError> {
        // No record expires before -1: `None` starts at the first.
        let (at, user, upstream) = after.map_or((-1, "", ""), |a| {
            (signed(a.expires_at), a.user.as_str(), &*a.upstream)
        });
        let rows = bounded(self.timeout, async {
            sqlx::query(AssertSqlSafe(self.sql.expiring.as_str()))
                .bind(signed(before))
                .bind(at)
                .bind(user)
                .bind(upstream)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)
        })
        .await?;
        rows.iter()
            .map(|row| {
                let (user, upstream) = pair(row)?;
                let at: i64 = row.try_get(2).map_err(store_error)?;
                Ok(Expiring {
                    expires_at: unsigned(at, "expires_at")?,
                    user,
                    upstream,
                })
            })
            .collect()
    }

    async fn sealed_under_other(
        &self,
        current: &str,
        limit: usize,
    ) -> Result<Vec<(UserHash, String)>, VaultStoreError> {
        let rows = bounded(self.timeout, async {
            sqlx::query(AssertSqlSafe(self.sql.sealed_under_other.as_str()))
                .bind(current)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)
        })
        .await?;
        pairs(&rows)
    }

    async fn ping(&self) -> Result<(), VaultStoreError> {
        bounded(self.timeout, async {
            sqlx::query("SELECT 1")
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(store_error)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::check_schema;

    #[test]
    fn a_schema_name_is_refused_unless_plain() {
        assert!(check_schema("vault_1").is_ok());
        for bad in ["", "Vault", "1vault", "a;drop", "a.b", "a\"b"] {
            assert!(check_schema(bad).is_err(), "{bad}");
        }
    }
}
