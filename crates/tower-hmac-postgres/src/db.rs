//! The registry's SQL: the pool and migrations, the snapshot of every key and the read of one.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use sqlx::Row as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tower_hmac_core::{KeyRecord, KeyState, SecretKey, is_valid_key_id};

use crate::{Keyring, PostgresError};

/// The schema's migrations, as `sqlx::migrate!("./migrations")` would embed them (same versions,
/// descriptions and checksums, so a database migrated by either is migrated for the other),
/// without sqlx's macro crates: they doubled the crate's build.
fn migrator() -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use std::borrow::Cow;
    let migration = |version, description, sql| {
        Migration::new(
            version,
            Cow::Borrowed(description),
            MigrationType::Simple,
            sqlx::SqlStr::from_static(sql),
            false,
        )
    };
    Migrator {
        migrations: Cow::Owned(vec![
            migration(1, "keys", include_str!("../migrations/0001_keys.sql")),
            migration(
                2,
                "key versions",
                include_str!("../migrations/0002_key_versions.sql"),
            ),
        ]),
        ..Migrator::DEFAULT
    }
}

/// A key's version: the number the database gave its last change, from one sequence
/// (`tower_hmac_key_versions`, migration 0002), so a later change has a greater one.
pub(crate) type Version = i64;

/// What the database holds for one key id.
#[derive(Debug)]
pub(crate) enum Found {
    /// The key, at this version.
    Key(Version, KeyRecord),
    /// Deleted, by the change of this version.
    Deleted(Version),
    /// No row and no record of a deletion.
    Nothing,
}

/// A pool of `max_connections` to `url` (tables in `schema`), the migrations applied.
pub(crate) async fn pool(
    url: &str,
    schema: Option<&str>,
    max_connections: u32,
) -> Result<PgPool, PostgresError> {
    let mut options = PgConnectOptions::from_str(url)?;
    if let Some(schema) = schema {
        if !is_valid_key_id(schema) || schema.contains(['.', '~', '-']) {
            return Err(PostgresError::Invalid {
                key_id: String::new(),
                message: format!("schema {schema:?}: letters, digits and _ only"),
            });
        }
        options = options.options([("search_path", schema)]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options)
        .await?;
    if let Some(schema) = schema {
        // The name was checked above: letters, digits and `_` only.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&pool)
        .await?;
    }
    migrator().run(&pool).await?;
    Ok(pool)
}

/// The query of keys (`$tail` added: a condition, a lock), each with its scopes (its own, else
/// its app's).
macro_rules! select_keys {
    ($tail:literal) => {
        concat!(
            "SELECT k.key_id, k.app_id, k.state, k.schemes, k.not_before, k.not_after, ",
            "k.secret_is_text, k.nonce, k.ciphertext, k.master_key, k.version, ",
            "COALESCE(k.scopes, a.scopes) AS scopes ",
            "FROM tower_hmac_keys k JOIN tower_hmac_apps a ON a.id = k.app_id",
            $tail
        )
    };
}

const SELECT_KEYS: &str = select_keys!("");
const SELECT_KEYS_WHERE_ID: &str = select_keys!(" WHERE k.key_id = $1");
pub(crate) const SELECT_KEY_FOR_UPDATE: &str = select_keys!(" WHERE k.key_id = $1 FOR UPDATE OF k");

/// One row: its key id, its version and the record.
fn decode_row(
    row: &sqlx::postgres::PgRow,
    keyring: &Keyring,
) -> Result<(String, Version, KeyRecord), PostgresError> {
    let key_id: String = row.try_get("key_id")?;
    let invalid = |message: String| PostgresError::Invalid {
        key_id: key_id.clone(),
        message,
    };
    let master_id: String = row.try_get("master_key")?;
    let master = keyring
        .by_id(&master_id)
        .ok_or_else(|| PostgresError::UnknownMasterKey {
            key_id: key_id.clone(),
            master: master_id.clone(),
        })?;
    let nonce: Vec<u8> = row.try_get("nonce")?;
    let ciphertext: Vec<u8> = row.try_get("ciphertext")?;
    let plain = master
        .open(key_id.as_bytes(), &nonce, &ciphertext)
        .map_err(|_| PostgresError::Decrypt {
            key_id: key_id.clone(),
        })?;
    let is_text: bool = row.try_get("secret_is_text")?;
    let secret = if is_text {
        let text =
            std::str::from_utf8(&plain).map_err(|_| invalid("text secret is not UTF-8".into()))?;
        SecretKey::from_text(text)
    } else {
        SecretKey::from_bytes(&plain)
    }
    .map_err(|e| invalid(e.to_string()))?;
    let state = match row.try_get::<String, _>("state")?.as_str() {
        "active" => KeyState::Active,
        "revoked" => KeyState::Revoked,
        other => return Err(invalid(format!("unknown state {other:?}"))),
    };
    let app_id: String = row.try_get("app_id")?;
    let schemes: Option<Vec<String>> = row.try_get("schemes")?;
    let not_before: Option<time::OffsetDateTime> = row.try_get("not_before")?;
    let not_after: Option<time::OffsetDateTime> = row.try_get("not_after")?;
    let mut record = KeyRecord::new(app_id, secret)
        .with_key_id(key_id.as_str())
        .with_state(state)
        .with_validity(
            not_before.map(SystemTime::from),
            not_after.map(SystemTime::from),
        );
    if let Some(schemes) = schemes {
        record = record.with_schemes(schemes);
    }
    let scopes: Vec<String> = row.try_get("scopes")?;
    record = record.with_scopes(scopes);
    let version: Version = row.try_get("version")?;
    Ok((key_id, version, record))
}

/// Every key with its version: the snapshot of a full refresh. One row that does not decode fails
/// it all.
pub(crate) async fn read_snapshot(
    pool: &PgPool,
    keyring: &Keyring,
) -> Result<HashMap<Box<str>, (Version, KeyRecord)>, PostgresError> {
    let rows = sqlx::query(SELECT_KEYS).fetch_all(pool).await?;
    let mut keys = HashMap::with_capacity(rows.len());
    for row in &rows {
        let (id, version, record) = decode_row(row, keyring)?;
        keys.insert(id.into(), (version, record));
    }
    Ok(keys)
}

/// One key, or the version of its deletion.
pub(crate) async fn read_key(
    pool: &PgPool,
    keyring: &Keyring,
    key_id: &str,
) -> Result<Found, PostgresError> {
    let row = sqlx::query(SELECT_KEYS_WHERE_ID)
        .bind(key_id)
        .fetch_optional(pool)
        .await?;
    if let Some(row) = row {
        let (_, version, record) = decode_row(&row, keyring)?;
        return Ok(Found::Key(version, record));
    }
    let deleted: Option<Version> =
        sqlx::query_scalar("SELECT version FROM tower_hmac_key_tombstones WHERE key_id = $1")
            .bind(key_id)
            .fetch_optional(pool)
            .await?;
    Ok(deleted.map_or(Found::Nothing, Found::Deleted))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// Every file of `migrations/` is in the migrator, as `sqlx::migrate!` would name it
    /// (`<version>_<description with spaces for underscores>.sql`), in order.
    #[test]
    fn the_migrator_holds_every_migration_file() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
                let (version, description) = stem.split_once('_').unwrap();
                let sql = std::fs::read_to_string(&path).unwrap();
                (version.parse().unwrap(), description.replace('_', " "), sql)
            })
            .collect();
        files.sort();
        let migrator = super::migrator();
        let found: Vec<(i64, String, String)> = migrator
            .iter()
            .map(|m| {
                (
                    m.version,
                    m.description.to_string(),
                    m.sql.as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(found, files);
        for m in migrator.iter() {
            assert!(!m.sql.as_str().starts_with("-- no-transaction"));
        }
    }
}
