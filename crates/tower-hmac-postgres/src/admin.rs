//! The admin side: every change one transaction with its audit row and its `NOTIFY`.

use std::time::{Duration, SystemTime};

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Row as _, Transaction};
use tower_hmac_core::{SecretKey, is_valid_key_id};

use crate::db::{SELECT_KEY_FOR_UPDATE, pool};
use crate::{CHANNEL, Keyring, PostgresError};

/// One key as [`KeyAdmin::list`] shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key id.
    pub key_id: String,
    /// Its app.
    pub app_id: String,
    /// `active` or `revoked`.
    pub state: String,
    /// Start of validity.
    pub not_before: Option<SystemTime>,
    /// End of validity.
    pub not_after: Option<SystemTime>,
    /// The id of the master key it is encrypted under.
    pub master_key: String,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEntry {
    /// Who made the change (the `actor` given).
    pub actor: String,
    /// The key id.
    pub key_id: String,
    /// `added`, `revoked`, `expires` (rotation), `scopes`, `reencrypted`.
    pub action: String,
    /// The state before.
    pub old_state: Option<String>,
    /// The state after.
    pub new_state: Option<String>,
    /// When.
    pub at: SystemTime,
}

/// Changes the keys: every change is one transaction with its audit row and its `NOTIFY`.
#[derive(Debug, Clone)]
pub struct KeyAdmin {
    pool: PgPool,
    keyring: Keyring,
}

impl KeyAdmin {
    /// Connects (and applies the migrations).
    pub async fn connect(
        url: &str,
        keyring: Keyring,
        schema: Option<&str>,
    ) -> Result<Self, PostgresError> {
        Ok(Self {
            pool: pool(url, schema, 4).await?,
            keyring,
        })
    }

    /// Adds a key of `app_id` (the app is created when new). A `from_text` secret keeps its
    /// text form.
    pub async fn add_key(
        &self,
        app_id: &str,
        key_id: &str,
        secret: &SecretKey,
        actor: &str,
    ) -> Result<(), PostgresError> {
        self.insert_key(app_id, key_id, secret, None, actor).await
    }

    /// Adds a key usable only through `schemes` (their ids: `stripe`, `v1`, …; a request of
    /// another scheme signed with it is refused), otherwise as [`add_key`](Self::add_key): a
    /// provider's webhook secret imported with `SecretKey::from_text`, kept to its provider's
    /// scheme. The audit row is the same `added`.
    pub async fn add_key_for_schemes(
        &self,
        app_id: &str,
        key_id: &str,
        secret: &SecretKey,
        schemes: &[&str],
        actor: &str,
    ) -> Result<(), PostgresError> {
        let valid = |s: &&str| {
            (1..=32).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        if schemes.is_empty() {
            return Err(PostgresError::Invalid {
                key_id: key_id.to_owned(),
                message: "no scheme: a key limited to no scheme could never be used".into(),
            });
        }
        if let Some(bad) = schemes.iter().find(|s| !valid(s)) {
            return Err(PostgresError::Invalid {
                key_id: key_id.to_owned(),
                message: format!("invalid scheme id {bad:?}"),
            });
        }
        self.insert_key(app_id, key_id, secret, Some(schemes), actor)
            .await
    }

    async fn insert_key(
        &self,
        app_id: &str,
        key_id: &str,
        secret: &SecretKey,
        schemes: Option<&[&str]>,
        actor: &str,
    ) -> Result<(), PostgresError> {
        for (what, id) in [("app", app_id), ("key", key_id)] {
            if !is_valid_key_id(id) {
                return Err(PostgresError::Invalid {
                    key_id: key_id.to_owned(),
                    message: format!("invalid {what} id {id:?}"),
                });
            }
        }
        let text = secret.text_form();
        let is_text = text.as_bytes() == secret.expose_secret();
        let master = self.keyring.current();
        let (nonce, ciphertext) = master.seal(key_id.as_bytes(), secret.expose_secret())?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO tower_hmac_apps (id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(app_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO tower_hmac_keys (key_id, app_id, state, secret_is_text, nonce, ciphertext, master_key, schemes) \
             VALUES ($1, $2, 'active', $3, $4, $5, $6, $7)",
        )
        .bind(key_id)
        .bind(app_id)
        .bind(is_text)
        .bind(&nonce[..])
        .bind(&ciphertext)
        .bind(master.id())
        .bind(schemes)
        .execute(&mut *tx)
        .await?;
        change(&mut tx, actor, key_id, "added", None, Some("active")).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Generates a new 32-byte key for `app_id`, stores it encrypted and returns it — the only
    /// time it exists in plain text outside this process's memory is where the caller prints it.
    pub async fn generate_key(
        &self,
        app_id: &str,
        key_id: &str,
        actor: &str,
    ) -> Result<SecretKey, PostgresError> {
        let secret = SecretKey::generate().map_err(|e| PostgresError::MasterKey(e.to_string()))?;
        self.add_key(app_id, key_id, &secret, actor).await?;
        Ok(secret)
    }

    /// Rotation: a new key for `app_id`, and every other active key of the app valid only for
    /// `grace` more (its `not_after`), so that clients roll over in that time.
    pub async fn rotate(
        &self,
        app_id: &str,
        new_key_id: &str,
        grace: Duration,
        actor: &str,
    ) -> Result<SecretKey, PostgresError> {
        let secret = self.generate_key(app_id, new_key_id, actor).await?;
        let until = time::OffsetDateTime::from(SystemTime::now() + grace);
        let mut tx = self.pool.begin().await?;
        let old: Vec<String> = sqlx::query_scalar(
            "UPDATE tower_hmac_keys SET not_after = $1, updated_at = now() \
             WHERE app_id = $2 AND key_id <> $3 AND state = 'active' \
             AND (not_after IS NULL OR not_after > $1) RETURNING key_id",
        )
        .bind(until)
        .bind(app_id)
        .bind(new_key_id)
        .fetch_all(&mut *tx)
        .await?;
        for key_id in &old {
            change(
                &mut tx,
                actor,
                key_id,
                "expires",
                Some("active"),
                Some("active"),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(secret)
    }

    /// Sets what an app's keys may call (its scopes; a key with scopes of its own keeps them).
    pub async fn set_app_scopes(
        &self,
        app_id: &str,
        scopes: &[&str],
        actor: &str,
    ) -> Result<(), PostgresError> {
        if let Some(bad) = scopes.iter().find(|s| !tower_hmac_core::is_valid_scope(s)) {
            return Err(PostgresError::Invalid {
                key_id: format!("app {app_id}"),
                message: format!(
                    "scope {bad:?}: 1 to 128 visible ASCII characters, without quotes or backslashes"
                ),
            });
        }
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query("UPDATE tower_hmac_apps SET scopes = $1 WHERE id = $2")
            .bind(scopes)
            .bind(app_id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(PostgresError::NoSuchKey(format!("app {app_id}")));
        }
        // Touching the app's keys gives each a new version: the change is applied in order.
        let keys: Vec<String> = sqlx::query_scalar(
            "UPDATE tower_hmac_keys SET updated_at = now() WHERE app_id = $1 RETURNING key_id",
        )
        .bind(app_id)
        .fetch_all(&mut *tx)
        .await?;
        for key_id in &keys {
            change(&mut tx, actor, key_id, "scopes", None, None).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Revokes a key: refused (`revoked_key`) on every instance within a second.
    pub async fn revoke(&self, key_id: &str, actor: &str) -> Result<(), PostgresError> {
        let mut tx = self.pool.begin().await?;
        let old: Option<String> =
            sqlx::query_scalar("SELECT state FROM tower_hmac_keys WHERE key_id = $1 FOR UPDATE")
                .bind(key_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(old) = old else {
            return Err(PostgresError::NoSuchKey(key_id.to_owned()));
        };
        sqlx::query(
            "UPDATE tower_hmac_keys SET state = 'revoked', updated_at = now() WHERE key_id = $1",
        )
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
        change(
            &mut tx,
            actor,
            key_id,
            "revoked",
            Some(&old),
            Some("revoked"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every key, without secrets.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, PostgresError> {
        let rows = sqlx::query(
            "SELECT key_id, app_id, state, not_before, not_after, master_key FROM tower_hmac_keys ORDER BY app_id, key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let time = |name: &str| -> Result<Option<SystemTime>, sqlx::Error> {
                    Ok(row
                        .try_get::<Option<time::OffsetDateTime>, _>(name)?
                        .map(SystemTime::from))
                };
                Ok(KeyInfo {
                    key_id: row.try_get("key_id")?,
                    app_id: row.try_get("app_id")?,
                    state: row.try_get("state")?,
                    not_before: time("not_before")?,
                    not_after: time("not_after")?,
                    master_key: row.try_get("master_key")?,
                })
            })
            .collect()
    }

    /// The audit trail, oldest first.
    pub async fn audit(&self) -> Result<Vec<AuditEntry>, PostgresError> {
        let rows = sqlx::query(
            "SELECT actor, key_id, action, old_state, new_state, at FROM tower_hmac_audit ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    actor: row.try_get("actor")?,
                    key_id: row.try_get("key_id")?,
                    action: row.try_get("action")?,
                    old_state: row.try_get("old_state")?,
                    new_state: row.try_get("new_state")?,
                    at: row.try_get::<time::OffsetDateTime, _>("at")?.into(),
                })
            })
            .collect()
    }

    /// Master-key rotation: re-encrypts, one row per transaction, every row not under the
    /// keyring's current key (decrypting with the previous ones). Instances running with both
    /// keys in their keyring go on serving throughout. Returns how many rows were re-encrypted.
    pub async fn reencrypt(&self, actor: &str) -> Result<usize, PostgresError> {
        let current = self.keyring.current();
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT key_id FROM tower_hmac_keys WHERE master_key <> $1")
                .bind(current.id())
                .fetch_all(&self.pool)
                .await?;
        let mut done = 0;
        for key_id in ids {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(SELECT_KEY_FOR_UPDATE)
                .bind(&key_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { continue };
            let master_id: String = row.try_get("master_key")?;
            let old =
                self.keyring
                    .by_id(&master_id)
                    .ok_or_else(|| PostgresError::UnknownMasterKey {
                        key_id: key_id.clone(),
                        master: master_id.clone(),
                    })?;
            let nonce: Vec<u8> = row.try_get("nonce")?;
            let ciphertext: Vec<u8> = row.try_get("ciphertext")?;
            let plain = old
                .open(key_id.as_bytes(), &nonce, &ciphertext)
                .map_err(|_| PostgresError::Decrypt {
                    key_id: key_id.clone(),
                })?;
            let (nonce, ciphertext) = current.seal(key_id.as_bytes(), &plain)?;
            sqlx::query(
                "UPDATE tower_hmac_keys SET nonce = $1, ciphertext = $2, master_key = $3, updated_at = now() WHERE key_id = $4",
            )
            .bind(&nonce[..])
            .bind(&ciphertext)
            .bind(current.id())
            .bind(&key_id)
            .execute(&mut *tx)
            .await?;
            change(&mut tx, actor, &key_id, "reencrypted", None, None).await?;
            tx.commit().await?;
            done += 1;
        }
        Ok(done)
    }
}

/// The audit row and the `NOTIFY` of one change, in its transaction.
async fn change(
    tx: &mut Transaction<'_, Postgres>,
    actor: &str,
    key_id: &str,
    action: &str,
    old_state: Option<&str>,
    new_state: Option<&str>,
) -> Result<(), PostgresError> {
    sqlx::query(
        "INSERT INTO tower_hmac_audit (actor, key_id, action, old_state, new_state) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(actor)
    .bind(key_id)
    .bind(action)
    .bind(old_state)
    .bind(new_state)
    .execute(&mut **tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(key_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
