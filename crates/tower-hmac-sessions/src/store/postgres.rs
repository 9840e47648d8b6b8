//! Sessions in PostgreSQL, shared by every instance: rotation is one transaction that locks the
//! token's row, so of concurrent uses of one token exactly one rotates.
//!
//! Every operation is bounded by the store's timeout three ways: the pool's acquire timeout (a
//! server that does not accept or answer connections), PostgreSQL's `statement_timeout` (a
//! statement the server runs too long, a lock waited on too long) and a timeout around the whole
//! operation (a server that stopped answering mid-transaction). Its horizon is 0: the denylist
//! is a table committed in the same transaction as the revocation, as durable as the sessions
//! themselves (see docs/SESSIONS.md for a restore from a backup).

use std::num::NonZeroUsize;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

use super::{
    DEFAULT_TIMEOUT, IssuedAccess, NewSession, Rotation, Session, SessionStore, StoreError,
    TokenHash, bounded,
};

const TABLES: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS tower_hmac_sessions (
        id text PRIMARY KEY,
        subject text NOT NULL,
        scopes text NOT NULL,
        absolute_expiry bigint NOT NULL,
        idle_timeout bigint NOT NULL,
        last_used bigint NOT NULL,
        revoked boolean NOT NULL DEFAULT false)",
    "CREATE INDEX IF NOT EXISTS tower_hmac_sessions_subject ON tower_hmac_sessions (subject)",
    "CREATE TABLE IF NOT EXISTS tower_hmac_refresh_tokens (
        hash bytea PRIMARY KEY,
        session_id text NOT NULL REFERENCES tower_hmac_sessions (id) ON DELETE CASCADE,
        used boolean NOT NULL DEFAULT false)",
    "CREATE TABLE IF NOT EXISTS tower_hmac_access_tokens (
        jti text PRIMARY KEY,
        session_id text NOT NULL REFERENCES tower_hmac_sessions (id) ON DELETE CASCADE,
        expires_at bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tower_hmac_denied_tokens (
        jti text PRIMARY KEY,
        expires_at bigint NOT NULL)",
    // When a session started (the session limit ends the oldest); 0 for sessions started
    // before the column existed.
    "ALTER TABLE tower_hmac_sessions ADD COLUMN IF NOT EXISTS created bigint NOT NULL DEFAULT 0",
];

/// Sessions in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresSessionStore {
    pool: PgPool,
    timeout: Duration,
}

fn store_error(e: sqlx::Error) -> StoreError {
    StoreError::new(e)
}

fn secs(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PostgresSessionStore {
    /// Connects to `url`; the tables live in `schema` (made if missing; letters, digits and `_`)
    /// or the connection's default. Each operation is bounded by [`DEFAULT_TIMEOUT`].
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, schema, DEFAULT_TIMEOUT).await
    }

    /// [`connect`](Self::connect) with another per-operation timeout (at least 1 ms): the pool's
    /// acquire timeout, the `statement_timeout` of its connections and the bound of each whole
    /// operation. Longer: a frozen PostgreSQL holds every login, refresh and authenticated request
    /// that long.
    pub async fn connect_with_timeout(
        url: &str,
        schema: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let timeout = timeout.max(Duration::from_millis(1));
        let mut options = PgConnectOptions::from_str(url)
            .map_err(store_error)?
            .options([("statement_timeout", timeout.as_millis())]);
        if let Some(schema) = schema {
            if schema.is_empty()
                || !schema
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(StoreError::new(format!(
                    "schema {schema:?}: letters, digits and _ only"
                )));
            }
            options = options.options([("search_path", schema)]);
        }
        let pool = bounded(timeout, async {
            PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(timeout)
                .connect_with(options)
                .await
                .map_err(store_error)
        })
        .await?;
        if let Some(schema) = schema {
            // Checked above: letters, digits and `_` only.
            let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
            bounded(timeout, async {
                sqlx::query(sqlx::AssertSqlSafe(create))
                    .execute(&pool)
                    .await
                    .map_err(store_error)
            })
            .await?;
        }
        for table in TABLES {
            bounded(timeout, async {
                sqlx::query(table).execute(&pool).await.map_err(store_error)
            })
            .await?;
        }
        Ok(Self { pool, timeout })
    }

    /// The per-operation timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Records an access token of a live session inside `tx` (the one that starts or rotates it),
/// forgetting the session's expired ones.
async fn record(
    tx: &mut Transaction<'_, Postgres>,
    session_id: &str,
    access: &IssuedAccess,
    now: u64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM tower_hmac_access_tokens WHERE session_id = $1 AND expires_at <= $2")
        .bind(session_id)
        .bind(secs(now))
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
    sqlx::query(
        "INSERT INTO tower_hmac_access_tokens (jti, session_id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(&access.jti)
    .bind(session_id)
    .bind(secs(access.deny_until))
    .execute(&mut **tx)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Revokes a session inside `tx`: marks it, moves its live access tokens to the denylist.
async fn revoke(
    tx: &mut Transaction<'_, Postgres>,
    session_id: &str,
    now: u64,
) -> Result<bool, StoreError> {
    let updated =
        sqlx::query("UPDATE tower_hmac_sessions SET revoked = true WHERE id = $1 AND NOT revoked")
            .bind(session_id)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO tower_hmac_denied_tokens (jti, expires_at)
         SELECT jti, expires_at FROM tower_hmac_access_tokens
         WHERE session_id = $1 AND expires_at > $2
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(session_id)
    .bind(secs(now))
    .execute(&mut **tx)
    .await
    .map_err(store_error)?;
    sqlx::query("DELETE FROM tower_hmac_access_tokens WHERE session_id = $1")
        .bind(session_id)
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
    Ok(true)
}

/// The operations, unbounded: [`SessionStore`] bounds each by the store's timeout.
impl PostgresSessionStore {
    async fn create_unbounded(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
        max: Option<NonZeroUsize>,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        if max.is_some() {
            // Logins of one subject under a session limit are serialized by a lock on the
            // subject, held to the commit: the second one's statements see the first's session
            // (committed), so it ends it; never both survive, never both are ended.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7091))")
                .bind(format!("tower_hmac_sessions:{}", session.subject))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        // What is past goes first: sessions after their absolute expiry (with their tokens),
        // denied ids after their token's expiry.
        sqlx::query("DELETE FROM tower_hmac_sessions WHERE absolute_expiry <= $1")
            .bind(secs(now))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query("DELETE FROM tower_hmac_denied_tokens WHERE expires_at <= $1")
            .bind(secs(now))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query(
            "INSERT INTO tower_hmac_sessions (id, subject, scopes, absolute_expiry, idle_timeout, last_used, created)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&session.session_id)
        .bind(&session.subject)
        .bind(session.scopes.join(" "))
        .bind(secs(session.absolute_expiry))
        .bind(secs(session.idle_timeout))
        .bind(secs(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        sqlx::query("INSERT INTO tower_hmac_refresh_tokens (hash, session_id) VALUES ($1, $2)")
            .bind(&token[..])
            .bind(&session.session_id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        record(&mut tx, &session.session_id, access, now).await?;
        let mut ended = Vec::new();
        if let Some(max) = max {
            let older: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM tower_hmac_sessions
                 WHERE subject = $1 AND id <> $2 AND NOT revoked
                   AND absolute_expiry > $3 AND last_used + idle_timeout > $3
                 ORDER BY created DESC, id DESC OFFSET $4 FOR UPDATE",
            )
            .bind(&session.subject)
            .bind(&session.session_id)
            .bind(secs(now))
            .bind(i64::try_from(max.get() - 1).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
            for id in older {
                if revoke(&mut tx, &id, now).await? {
                    ended.push(id);
                }
            }
        }
        tx.commit().await.map_err(store_error)?;
        Ok(ended)
    }

    async fn scopes_of_unbounded(
        &self,
        token: &TokenHash,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let scopes: Option<String> = sqlx::query_scalar(
            "SELECT s.scopes FROM tower_hmac_refresh_tokens t
             JOIN tower_hmac_sessions s ON s.id = t.session_id
             WHERE t.hash = $1 AND NOT t.used",
        )
        .bind(&token[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(scopes.map(|s| {
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        }))
    }

    async fn rotate_unbounded(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // The token's row lock serializes every use of one token.
        let Some(token) = sqlx::query(
            "SELECT session_id, used FROM tower_hmac_refresh_tokens WHERE hash = $1 FOR UPDATE",
        )
        .bind(&old[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        else {
            return Ok(Rotation::Unknown);
        };
        let session_id: String = token.get(0);
        let used: bool = token.get(1);
        let Some(session) = sqlx::query(
            "SELECT subject, scopes, absolute_expiry, idle_timeout, last_used, revoked
             FROM tower_hmac_sessions WHERE id = $1 FOR UPDATE",
        )
        .bind(&session_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        else {
            return Ok(Rotation::Unknown);
        };
        let subject: String = session.get(0);
        let scopes: String = session.get(1);
        let absolute: i64 = session.get(2);
        let idle: i64 = session.get(3);
        let last: i64 = session.get(4);
        let revoked: bool = session.get(5);
        if revoked {
            return Ok(Rotation::Revoked);
        }
        let now_i = secs(now);
        let outcome = if used {
            revoke(&mut tx, &session_id, now).await?;
            Rotation::Reused {
                session_id,
                subject,
            }
        } else if now_i >= absolute || now_i >= last.saturating_add(idle) {
            Rotation::Expired
        } else {
            sqlx::query("UPDATE tower_hmac_refresh_tokens SET used = true WHERE hash = $1")
                .bind(&old[..])
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            sqlx::query("INSERT INTO tower_hmac_refresh_tokens (hash, session_id) VALUES ($1, $2)")
                .bind(&new[..])
                .bind(&session_id)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            sqlx::query("UPDATE tower_hmac_sessions SET last_used = $2 WHERE id = $1")
                .bind(&session_id)
                .bind(now_i)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            // In the same transaction, under the session row's lock: a revocation (which updates
            // that row) runs wholly before (`Revoked` above) or after, and then denies it.
            record(&mut tx, &session_id, access, now).await?;
            Rotation::Rotated(Session {
                session_id,
                subject,
                scopes: scopes
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                absolute_expiry: u64::try_from(absolute).unwrap_or(0),
            })
        };
        tx.commit().await.map_err(store_error)?;
        Ok(outcome)
    }

    async fn revoke_session_unbounded(
        &self,
        session_id: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let revoked = revoke(&mut tx, session_id, now).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(revoked)
    }

    async fn revoke_subject_unbounded(&self, subject: &str, now: u64) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM tower_hmac_sessions WHERE subject = $1 AND NOT revoked FOR UPDATE",
        )
        .bind(subject)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let mut count = 0;
        for id in &ids {
            if revoke(&mut tx, id, now).await? {
                count += 1;
            }
        }
        tx.commit().await.map_err(store_error)?;
        Ok(count)
    }

    async fn session_of_unbounded(&self, token: &TokenHash) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT session_id FROM tower_hmac_refresh_tokens WHERE hash = $1")
            .bind(&token[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)
    }

    async fn is_denied_unbounded(&self, jti: &str, now: u64) -> Result<bool, StoreError> {
        let exp: Option<i64> =
            sqlx::query_scalar("SELECT expires_at FROM tower_hmac_denied_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(exp.is_some_and(|exp| exp > secs(now)))
    }
}

#[async_trait]
impl SessionStore for PostgresSessionStore {
    async fn create(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<(), StoreError> {
        bounded(
            self.timeout,
            self.create_unbounded(session, token, access, now, None),
        )
        .await
        .map(|_| ())
    }

    async fn create_limited(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
        max: NonZeroUsize,
    ) -> Result<Vec<String>, StoreError> {
        bounded(
            self.timeout,
            self.create_unbounded(session, token, access, now, Some(max)),
        )
        .await
    }

    async fn scopes_of(&self, token: &TokenHash) -> Result<Option<Vec<String>>, StoreError> {
        bounded(self.timeout, self.scopes_of_unbounded(token)).await
    }

    async fn rotate(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        bounded(self.timeout, self.rotate_unbounded(old, new, access, now)).await
    }

    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<bool, StoreError> {
        bounded(self.timeout, self.revoke_session_unbounded(session_id, now)).await
    }

    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<usize, StoreError> {
        bounded(self.timeout, self.revoke_subject_unbounded(subject, now)).await
    }

    async fn session_of(&self, token: &TokenHash) -> Result<Option<String>, StoreError> {
        bounded(self.timeout, self.session_of_unbounded(token)).await
    }

    async fn is_denied(&self, _session_id: &str, jti: &str, now: u64) -> Result<bool, StoreError> {
        bounded(self.timeout, self.is_denied_unbounded(jti, now)).await
    }

    /// 0: the denylist is committed with the revocation, in the same database as the sessions;
    /// it is lost only with them (a restore from a backup: docs/SESSIONS.md).
    async fn horizon(&self, _session_id: &str, _now: u64) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn ping(&self) -> Result<(), StoreError> {
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
