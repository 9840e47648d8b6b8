//! Sessions in Redis or Redis Cluster, shared by every instance: each decision one Lua script, so
//! rotation is atomic. Keys under a prefix of their own; times from the caller's clock (TTLs
//! relative to it). Every operation is bounded by the store's timeout.
//!
//! # Keys: every script touches one hash slot
//!
//! | key | what | slot |
//! |---|---|---|
//! | `<prefix>{<session>}:session` | hash: subject, scopes, lifetimes, `revoked`; its presence is the session's horizon marker | the session's |
//! | `<prefix>{<session>}:tokens` | hash: every refresh token of the session (SHA-256, hex) → `0` current, `1` used | the session's |
//! | `<prefix>{<session>}:access` | sorted set: its access tokens' ids → their `deny_until`; its denylist once the session is revoked | the session's |
//! | `<prefix>token:<sha-256 hex>` | string: the session of a refresh token, written once, never changed | the token's |
//! | `<prefix>subject:<subject>` | set: the subject's sessions | the subject's |
//! | `<prefix>{s:<subject>}:order`, `…:seq` | sorted set: the subject's sessions in the order of their logins, and its counter (the session limit only) | the subject's tag |
//!
//! The three keys of a session share the hash tag `{<session>}` (a session id with `{`, `}`,
//! a leading `~` or nothing in it is tagged `~<hex>`), so the scripts that start, rotate,
//! revoke and check a session run in its slot, with every key in `KEYS`. A refresh token is
//! found from its hash alone through its index `token:<hash>`, which is written **before** the
//! script that makes the token valid in its session: a crash or a lost node between the two
//! leaves an index entry whose session does not know the token, which resolves to "unknown" —
//! never a valid token the index cannot find. Likewise a login adds the session to its
//! subject's set before the session exists, so [`revoke_subject`](SessionStore::revoke_subject)
//! never misses a live session. `revoke_subject` reads the set, then revokes one session per
//! script (each in its own slot): a failure in the middle (a node down) leaves the sessions
//! already revoked revoked and returns an error; the caller retries, and sessions revoked
//! before count 0 the second time.
//!
//! # Losing data (the horizon, per session)
//!
//! A session's record is its own horizon marker ([`SessionStore::horizon`]): it lives as long as
//! the session or any of its access tokens (every token recorded stretches its TTL to the
//! token's `deny_until`), in the same slot — on the same node — as the session's denylist. While
//! it is there the store remembers every revocation of the session (horizon 0); when the node
//! that holds it loses its data (a restart without persistence, a flush), the session's access
//! tokens find no record and are refused (`token_before_horizon`, horizon `u64::MAX`, and a
//! `session_store_horizon` warning on `tower_hmac::sessions`): a lost logout never re-validates
//! a token, and the sessions on the other nodes go on. No clock is involved: nothing depends on
//! the instances agreeing on the time. Eviction is refused at start (`maxmemory-policy` must be
//! `noeviction`): an evicted entry would be a partial loss that no marker shows. A failover to a
//! replica that had not received the latest writes may lose a revocation while the record
//! stays: that is Redis replication's asynchrony, which the store cannot see.
//!
//! # Redis Cluster
//!
//! Pass a cluster connection (`redis::cluster_async::ClusterConnection`, the `redis` crate's
//! feature `cluster-async`) to [`RedisSessionStore::from_connection`], then
//! [`check`](RedisSessionStore::check) it. On a cluster, the eviction policy is read from one
//! node: configure every node alike. `tests/it/sessions_cluster.rs` runs the conformance suite
//! against a three-node cluster, with a node killed mid-run.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};

use super::{
    AccessCheck, DEFAULT_TIMEOUT, IssuedAccess, NewSession, Rotation, Session, SessionStore,
    StoreError, TokenHash, bounded,
};

mod scripts;

use scripts::Scripts;

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "tower-hmac:sessions:";

/// Sessions in Redis, or in Redis Cluster: a connection manager (`connect`) by default, any
/// `redis` connection with [`from_connection`](Self::from_connection).
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use tower_hmac_sessions::store::RedisSessionStore;
///
/// // One Redis (checked: it answers, and does not evict keys).
/// let store = RedisSessionStore::connect("redis://127.0.0.1:6379", "app:sessions:").await?;
///
/// // Redis Cluster, with the `redis` crate's feature `cluster-async`:
/// // let conn = redis::cluster::ClusterClient::new(nodes)?.get_async_connection().await?;
/// // let store = RedisSessionStore::from_connection(conn, "app:sessions:")?
/// //     .with_timeout(std::time::Duration::from_millis(300));
/// // store.check().await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisSessionStore<C = ConnectionManager> {
    conn: C,
    prefix: Arc<str>,
    timeout: Duration,
    scripts: Arc<Scripts>,
}

impl<C> std::fmt::Debug for RedisSessionStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn store_error(e: redis::RedisError) -> StoreError {
    StoreError::new(e)
}

fn warn_lost(session_id: &str) {
    tracing::warn!(
        target: crate::TRACING_TARGET,
        event = "session_store_horizon",
        session_id,
        "the Redis session store has no record of this session: the node holding it lost its \
         data (a restart without persistence, a flush, a failover) or the session ended; its \
         access tokens are refused (token_before_horizon) and it must log in again"
    );
}

/// The hash tag of a session: its id, or `~` and its hex when the id is empty, holds a brace
/// (which would end or empty the tag) or starts with `~` (so that the two forms never meet).
fn tag(session_id: &str) -> std::borrow::Cow<'_, str> {
    if session_id.is_empty() || session_id.starts_with('~') || session_id.contains(['{', '}']) {
        format!("~{}", hex::encode(session_id)).into()
    } else {
        session_id.into()
    }
}

/// Redis's answer to a rotation, by the script.
fn rotation(session_id: &str, answer: &[String]) -> Result<Rotation, StoreError> {
    Ok(match answer {
        [status, sub, scopes, abs] if status == "rotated" => Rotation::Rotated(Session {
            session_id: session_id.to_owned(),
            subject: sub.clone(),
            scopes: scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            absolute_expiry: abs
                .parse()
                .map_err(|_| StoreError::new("a session's absolute expiry is not a number"))?,
        }),
        [status, sub] if status == "reused" => Rotation::Reused {
            session_id: session_id.to_owned(),
            subject: sub.clone(),
        },
        [status] if status == "revoked" => Rotation::Revoked,
        [status] if status == "expired" => Rotation::Expired,
        [status] if status == "unknown" => Rotation::Unknown,
        [status] if status == "collision" => {
            return Err(StoreError::new("the new refresh token is already recorded"));
        }
        _ => {
            return Err(StoreError::new(
                "unexpected answer from the rotation script",
            ));
        }
    })
}

impl RedisSessionStore<ConnectionManager> {
    /// Connects to `url` (`redis://…`), keys under `prefix`, with [`DEFAULT_TIMEOUT`]; fails
    /// when Redis does not answer a `PING` within it, or may evict keys
    /// ([`check`](Self::check)).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, prefix, DEFAULT_TIMEOUT).await
    }

    /// [`connect`](Self::connect) with another per-operation timeout (at least 1 ms): how long
    /// connecting and each operation may take before the store answers
    /// `session_store_unavailable`. Longer: a frozen Redis holds every login, refresh and
    /// authenticated request that long.
    pub async fn connect_with_timeout(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let timeout = timeout.max(Duration::from_millis(1));
        let client = redis::Client::open(url).map_err(store_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = bounded(timeout, async {
            client
                .get_connection_manager_with_config(config)
                .await
                .map_err(store_error)
        })
        .await?;
        let store = Self::from_connection(conn, prefix)?.with_timeout(timeout);
        store.check().await?;
        Ok(store)
    }
}

impl<C> RedisSessionStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store on an existing connection — a Redis Cluster connection
    /// (`redis::cluster_async::ClusterConnection`), a connection manager with settings of your
    /// own — keys under `prefix`, with [`DEFAULT_TIMEOUT`]. Call [`check`](Self::check) before
    /// serving. Fails when `prefix` holds `{` or `}`: the store's hash tags are its own.
    pub fn from_connection(conn: C, prefix: &str) -> Result<Self, StoreError> {
        if prefix.contains(['{', '}']) {
            return Err(StoreError::new(
                "a Redis session store's prefix may not hold `{` or `}` (the store tags each \
                 session's keys with a hash tag of its own)",
            ));
        }
        Ok(Self {
            conn,
            prefix: prefix.into(),
            timeout: DEFAULT_TIMEOUT,
            scripts: Arc::new(Scripts::new()),
        })
    }

    /// Another per-operation timeout (at least 1 ms); see
    /// [`connect_with_timeout`](RedisSessionStore::connect_with_timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The per-operation timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Checks that Redis answers a `PING` (on a cluster: every primary) within the timeout, and
    /// refuses a Redis that may evict keys: an evicted denylist entry is a logged-out access
    /// token accepted again, and no marker can tell a partial loss (the replay store refuses
    /// such a Redis for the same reason). Where `CONFIG` is not allowed (managed Redis) a
    /// warning says what to check. Then loads the store's scripts (on a cluster: on every node,
    /// while they all answer), so that a script first needed while a node is down is not loaded
    /// then — `SCRIPT LOAD` goes to every node, and would wait for the one that is down.
    pub async fn check(&self) -> Result<(), StoreError> {
        self.ping().await?;
        self.check_eviction_policy().await?;
        let mut conn = self.conn.clone();
        bounded(self.timeout, async {
            for script in self.scripts.all() {
                script.load_async(&mut conn).await.map_err(store_error)?;
            }
            Ok(())
        })
        .await
    }

    async fn check_eviction_policy(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let answer = bounded(self.timeout, async {
            redis::cmd("CONFIG")
                .arg("GET")
                .arg("maxmemory-policy")
                .query_async::<Vec<String>>(&mut conn)
                .await
                .map_err(store_error)
        })
        .await;
        match answer
            .as_deref()
            .map(|pair| pair.get(1).map(String::as_str))
        {
            Ok(Some("noeviction")) => Ok(()),
            Ok(Some(policy)) => Err(StoreError::new(format!(
                "Redis maxmemory-policy is {policy:?}, which can evict the session store's keys \
                 (an evicted denylist entry re-validates a logged-out token); set \
                 `maxmemory-policy noeviction`"
            ))),
            Ok(None) | Err(_) => {
                tracing::warn!(
                    target: "tower_hmac::sessions",
                    "cannot read Redis's maxmemory-policy (CONFIG not allowed?): make sure it is \
                     noeviction, or logged-out tokens may be accepted again after an eviction"
                );
                Ok(())
            }
        }
    }

    /// The keys of one session — its record, its refresh tokens, its access tokens — all in one
    /// hash slot.
    pub fn session_keys(&self, session_id: &str) -> [String; 3] {
        let tag = tag(session_id);
        ["session", "tokens", "access"].map(|kind| format!("{}{{{tag}}}:{kind}", self.prefix))
    }

    /// The key that says which session a refresh token (its SHA-256) belongs to.
    pub fn token_key(&self, token: &TokenHash) -> String {
        format!("{}token:{}", self.prefix, hex::encode(token))
    }

    /// The key of the set of a subject's sessions.
    pub fn subject_key(&self, subject: &str) -> String {
        format!("{}subject:{subject}", self.prefix)
    }

    /// The keys of a subject's order of logins and its counter (one hash slot).
    pub fn order_keys(&self, subject: &str) -> [String; 2] {
        let tag = tag(subject);
        ["order", "seq"].map(|kind| format!("{}{{s:{tag}}}:{kind}", self.prefix))
    }

    /// The session limit, after `session` was created: its place in the subject's order (one
    /// script in the subject's slot: concurrent logins are ordered there), then, walking the
    /// sessions started before it from the newest, keeps `max - 1` live ones and ends the
    /// others (one script each, in each session's slot). A session that ends after it was
    /// counted is not made up for: the limit holds, possibly with one session fewer. The
    /// order drops the sessions found ended; one this login failed to end stays in it, for
    /// the next login to end.
    async fn limit_unbounded(
        &self,
        session: &NewSession,
        now: u64,
        max: NonZeroUsize,
    ) -> Result<Vec<String>, StoreError> {
        let [order_key, seq_key] = self.order_keys(&session.subject);
        let lifetime = session.absolute_expiry.saturating_sub(now).max(1);
        let mut order = self.scripts.order.key(&order_key);
        order.key(seq_key).arg(&session.session_id).arg(lifetime);
        let newest_first: Vec<String> = self.run(&order).await?;
        let older = newest_first
            .iter()
            .skip_while(|id| **id != session.session_id)
            .skip(1);
        let (mut kept, mut ended, mut gone) = (1usize, Vec::new(), Vec::new());
        for id in older {
            let mode = if kept < max.get() { "check" } else { "end" };
            let [session_key, _, access_key] = self.session_keys(id);
            let mut limit = self.scripts.limit.key(session_key);
            limit.key(access_key).arg(now).arg(mode);
            match (self.run::<i64>(&limit).await?, mode) {
                (1, "check") => kept += 1,
                (1, _) => {
                    ended.push(id.clone());
                    gone.push(id.clone());
                }
                _ => gone.push(id.clone()),
            }
        }
        if !gone.is_empty() {
            let mut conn = self.conn.clone();
            let _: i64 = redis::cmd("ZREM")
                .arg(&order_key)
                .arg(&gone)
                .query_async(&mut conn)
                .await
                .map_err(store_error)?;
        }
        Ok(ended)
    }

    async fn scopes_of_unbounded(
        &self,
        token: &TokenHash,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let Some((session_id, _)) = self.read_index(token).await? else {
            return Ok(None);
        };
        let [session_key, tokens_key, _] = self.session_keys(&session_id);
        let mut conn = self.conn.clone();
        // Both keys carry the session's hash tag: one slot, one round trip.
        let (scopes, used): (Option<String>, Option<String>) = redis::pipe()
            .cmd("HGET")
            .arg(session_key)
            .arg("scopes")
            .cmd("HGET")
            .arg(tokens_key)
            .arg(hex::encode(token))
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        // A used token (or one the session no longer knows) has no scopes to offer: the
        // rotation that follows reports it.
        if used.as_deref() != Some("0") {
            return Ok(None);
        }
        Ok(scopes.map(|s| {
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        }))
    }

    /// Runs a prepared script (no timeout: the caller bounds the operation).
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)
    }

    /// The session a token's index names (`None` when there is none) and the index's remaining
    /// TTL in milliseconds (negative: none).
    async fn read_index(&self, token: &TokenHash) -> Result<Option<(String, i64)>, StoreError> {
        let invocation = self.scripts.read_index.key(self.token_key(token));
        let (found, sid, pttl): (i64, String, i64) = self.run(&invocation).await?;
        Ok((found == 1).then_some((sid, pttl)))
    }

    /// Writes a token's index (before the script that makes the token valid); an index that is
    /// already there is an error (a token is never moved to another session).
    async fn write_index(
        &self,
        token: &TokenHash,
        session_id: &str,
        ttl_millis: i64,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.token_key(token)).arg(session_id).arg("NX");
        if ttl_millis > 0 {
            cmd.arg("PX").arg(ttl_millis);
        }
        let mut conn = self.conn.clone();
        let written: Option<String> = cmd.query_async(&mut conn).await.map_err(store_error)?;
        match written {
            Some(_) => Ok(()),
            None => Err(StoreError::new("the refresh token is already recorded")),
        }
    }

    async fn create_unbounded(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<(), StoreError> {
        let lifetime = session.absolute_expiry.saturating_sub(now).max(1);
        // The subject's set first (a session it misses would escape `revoke_subject`), then the
        // token's index, then the session itself: each earlier step left alone by a failure of
        // a later one resolves to nothing.
        let mut add = self
            .scripts
            .subject_add
            .key(self.subject_key(&session.subject));
        add.arg(&session.session_id)
            .arg(lifetime.saturating_add(access.deny_until.saturating_sub(now)));
        let _: i64 = self.run(&add).await?;
        let millis = i64::try_from(lifetime.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.write_index(token, &session.session_id, millis).await?;
        let [session_key, tokens_key, access_key] = self.session_keys(&session.session_id);
        let mut invocation = self.scripts.create.key(session_key);
        invocation
            .key(tokens_key)
            .key(access_key)
            .arg(hex::encode(token))
            .arg(&session.subject)
            .arg(session.scopes.join(" "))
            .arg(session.absolute_expiry)
            .arg(session.idle_timeout)
            .arg(now)
            .arg(&access.jti)
            .arg(access.deny_until);
        match self.run::<i64>(&invocation).await? {
            1 => Ok(()),
            _ => Err(StoreError::new("the session id is already recorded")),
        }
    }

    async fn rotate_unbounded(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        let Some((session_id, ttl_millis)) = self.read_index(old).await? else {
            return Ok(Rotation::Unknown);
        };
        // The new token's index before the script that makes it valid; the same lifetime as
        // the old one's (the session's).
        self.write_index(new, &session_id, ttl_millis).await?;
        let [session_key, tokens_key, access_key] = self.session_keys(&session_id);
        let mut invocation = self.scripts.rotate.key(session_key);
        invocation
            .key(tokens_key)
            .key(access_key)
            .arg(hex::encode(old))
            .arg(hex::encode(new))
            .arg(now)
            .arg(&access.jti)
            .arg(access.deny_until);
        let answer: Vec<String> = self.run(&invocation).await?;
        let outcome = rotation(&session_id, &answer)?;
        if !matches!(outcome, Rotation::Rotated(_)) {
            // The new token was not made valid: its index goes (best effort: one left behind
            // resolves to "unknown", and expires with the session).
            let mut conn = self.conn.clone();
            let _: Result<i64, _> = redis::cmd("DEL")
                .arg(self.token_key(new))
                .query_async(&mut conn)
                .await;
        }
        Ok(outcome)
    }

    /// 1 revoked now, 0 already revoked, -1 no record of the session.
    async fn revoke_unbounded(&self, session_id: &str, now: u64) -> Result<i64, StoreError> {
        let [session_key, _, access_key] = self.session_keys(session_id);
        let mut invocation = self.scripts.revoke_session.key(session_key);
        invocation.key(access_key).arg(now);
        self.run(&invocation).await
    }

    async fn session_of_unbounded(&self, token: &TokenHash) -> Result<Option<String>, StoreError> {
        let Some((session_id, _)) = self.read_index(token).await? else {
            return Ok(None);
        };
        // An index whose session does not know the token (a login or rotation that failed
        // after writing it) is no token.
        let [_, tokens_key, _] = self.session_keys(&session_id);
        let mut conn = self.conn.clone();
        let known: bool = redis::cmd("HEXISTS")
            .arg(tokens_key)
            .arg(hex::encode(token))
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(known.then_some(session_id))
    }

    /// The check script: `allowed`, `denied`, or `lost` (no record of the session).
    async fn check_unbounded(
        &self,
        session_id: &str,
        jti: &str,
        now: u64,
    ) -> Result<String, StoreError> {
        let [session_key, _, access_key] = self.session_keys(session_id);
        let mut invocation = self.scripts.check.key(session_key);
        invocation.key(access_key).arg(jti).arg(now);
        self.run(&invocation).await
    }
}

#[async_trait]
impl<C> SessionStore for RedisSessionStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn create(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<(), StoreError> {
        bounded(
            self.timeout,
            self.create_unbounded(session, token, access, now),
        )
        .await
    }

    /// The session started (as [`create`](SessionStore::create)), then the limit kept in the
    /// subject's order of logins (one script in the subject's slot, so concurrent logins are
    /// ordered) and the older sessions ended one script each, in their slots.
    async fn create_limited(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
        max: NonZeroUsize,
    ) -> Result<Vec<String>, StoreError> {
        bounded(self.timeout, async {
            self.create_unbounded(session, token, access, now).await?;
            self.limit_unbounded(session, now, max).await
        })
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
        Ok(bounded(self.timeout, self.revoke_unbounded(session_id, now)).await? == 1)
    }

    /// One script per session, each in its session's slot and bounded by the timeout: a
    /// failure in the middle leaves the sessions already revoked revoked and returns the error
    /// (retry). Sessions of which nothing is left are dropped from the subject's set.
    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<usize, StoreError> {
        let subject_key = self.subject_key(subject);
        let mut conn = self.conn.clone();
        let sessions: Vec<String> = bounded(self.timeout, async {
            redis::cmd("SMEMBERS")
                .arg(&subject_key)
                .query_async(&mut conn)
                .await
                .map_err(store_error)
        })
        .await?;
        let mut count = 0;
        let mut gone = Vec::new();
        for session_id in sessions {
            match bounded(self.timeout, self.revoke_unbounded(&session_id, now)).await? {
                1 => count += 1,
                -1 => gone.push(session_id),
                _ => {}
            }
        }
        if !gone.is_empty() {
            bounded(self.timeout, async {
                redis::cmd("SREM")
                    .arg(&subject_key)
                    .arg(&gone)
                    .query_async::<i64>(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
        }
        Ok(count)
    }

    async fn session_of(&self, token: &TokenHash) -> Result<Option<String>, StoreError> {
        bounded(self.timeout, self.session_of_unbounded(token)).await
    }

    async fn is_denied(&self, session_id: &str, jti: &str, now: u64) -> Result<bool, StoreError> {
        let status = bounded(self.timeout, self.check_unbounded(session_id, jti, now)).await?;
        // Only a token the store knows to be allowed is not denied: a session without a record
        // ("lost") may have been revoked.
        Ok(status != "allowed")
    }

    /// 0 while the store holds the session's record (it remembers every revocation of the
    /// session, beside it); `u64::MAX` (every token of it is before) when it has none: the node
    /// that held it lost its data, or the session ended.
    async fn horizon(&self, session_id: &str, now: u64) -> Result<u64, StoreError> {
        let status = bounded(self.timeout, self.check_unbounded(session_id, "", now)).await?;
        Ok(if status == "lost" {
            warn_lost(session_id);
            u64::MAX
        } else {
            0
        })
    }

    /// The session's record (its horizon) and its denylist in one script, in its slot.
    async fn check_access(
        &self,
        session_id: &str,
        jti: &str,
        _issued_at: u64,
        now: u64,
    ) -> Result<AccessCheck, StoreError> {
        let status = bounded(self.timeout, self.check_unbounded(session_id, jti, now)).await?;
        Ok(match status.as_str() {
            "allowed" => AccessCheck::Allowed,
            "lost" => {
                warn_lost(session_id);
                AccessCheck::BeforeHorizon { horizon: u64::MAX }
            }
            _ => AccessCheck::Denied,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        bounded(self.timeout, async {
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(store_error)
        })
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::tag;

    #[test]
    fn a_plain_session_id_is_its_own_tag() {
        assert_eq!(tag("3f2a"), "3f2a");
    }

    #[test]
    fn a_session_id_that_could_break_or_forge_a_tag_is_hex() {
        assert_eq!(tag(""), "~");
        assert_eq!(tag("a}b"), "~617d62");
        assert_eq!(tag("{"), "~7b");
        // `~7b` itself cannot pose as `{`.
        assert_eq!(tag("~7b"), "~7e3762");
    }
}
