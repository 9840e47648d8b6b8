//! Sessions in Redis, shared by every instance: each operation one Lua script, so rotation is
//! atomic. Keys under a prefix of their own; times from the caller's clock (TTLs relative to it).
//! Not for Redis Cluster (a script touches a session's and its token's keys together).
//!
//! The horizon is the marker key `<prefix>horizon` (Unix seconds): every script that records a
//! token or checks one creates it at the caller's `now` when it is missing — on first use, and
//! after Redis lost its data (a restart without persistence, a flush, an eviction) — so an
//! access token issued before the loss is refused (`token_before_horizon`) and a lost logout
//! never re-validates a token. Every operation is bounded by the store's timeout.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{
    AccessCheck, DEFAULT_TIMEOUT, IssuedAccess, NewSession, Rotation, Session, SessionStore,
    StoreError, TokenHash, bounded,
};

/// The horizon marker: read, or created at `now` when missing (returns it and whether it was
/// missing).
const HORIZON: &str = r"
local function horizon(p, now)
  local hk = p .. 'horizon'
  local h = redis.call('GET', hk)
  if h then return tonumber(h), 0 end
  redis.call('SET', hk, now)
  return now, 1
end
";

const CHECK: &str = r"
local p, jti, iat, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local h, missing = horizon(p, now)
if iat < h then return {'before', h, missing} end
local exp = redis.call('GET', p .. 'deny:' .. jti)
if exp and tonumber(exp) > now then return {'denied', h, missing} end
return {'allowed', h, missing}
";

const HORIZON_ONLY: &str = r"
local h, missing = horizon(ARGV[1], tonumber(ARGV[2]))
return {h, missing}
";

const REVOKE: &str = r"
local function revoke(p, sid, now)
  local sk = p .. 'sess:' .. sid
  if redis.call('HGET', sk, 'revoked') ~= '0' then return 0 end
  redis.call('HSET', sk, 'revoked', '1')
  local ak = p .. 'acc:' .. sid
  local acc = redis.call('ZRANGEBYSCORE', ak, '(' .. now, '+inf', 'WITHSCORES')
  for i = 1, #acc, 2 do
    local exp = tonumber(acc[i + 1])
    redis.call('SET', p .. 'deny:' .. acc[i], exp, 'EX', exp - now)
  end
  redis.call('DEL', ak)
  return 1
end
";

/// Records an access token of a live session (inside the script that starts or rotates it).
const RECORD: &str = r"
local function record(p, sid, jti, deny_until, now)
  local ak = p .. 'acc:' .. sid
  redis.call('ZREMRANGEBYSCORE', ak, '-inf', now)
  redis.call('ZADD', ak, deny_until, jti)
  if redis.call('TTL', ak) < deny_until - now then redis.call('EXPIRE', ak, math.max(deny_until - now, 1)) end
end
";

const CREATE: &str = r"
local p, tok, sid, sub, scopes = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local abs, idle, now = tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local jti, deny_until = ARGV[9], tonumber(ARGV[10])
local _, missing = horizon(p, now)
local ttl = math.max(abs - now, 1)
local sk = p .. 'sess:' .. sid
redis.call('HSET', sk, 'sub', sub, 'scopes', scopes, 'abs', abs, 'idle', idle, 'last', now, 'revoked', '0')
redis.call('EXPIRE', sk, ttl)
redis.call('HSET', p .. 'tok:' .. tok, 'sid', sid, 'used', '0')
redis.call('EXPIRE', p .. 'tok:' .. tok, ttl)
local subj = p .. 'subj:' .. sub
redis.call('SADD', subj, sid)
if redis.call('TTL', subj) < ttl then redis.call('EXPIRE', subj, ttl) end
record(p, sid, jti, deny_until, now)
return 1 + missing
";

const ROTATE: &str = r"
local p, old, new, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local jti, deny_until = ARGV[5], tonumber(ARGV[6])
horizon(p, now)
local tk = p .. 'tok:' .. old
local sid = redis.call('HGET', tk, 'sid')
if not sid then return {'unknown'} end
local sk = p .. 'sess:' .. sid
local s = redis.call('HMGET', sk, 'sub', 'scopes', 'abs', 'idle', 'last', 'revoked')
if not s[1] then return {'unknown'} end
if s[6] == '1' then return {'revoked'} end
if redis.call('HGET', tk, 'used') == '1' then
  revoke(p, sid, now)
  return {'reused', sid, s[1]}
end
local abs = tonumber(s[3])
if now >= abs or now >= tonumber(s[5]) + tonumber(s[4]) then return {'expired'} end
redis.call('HSET', tk, 'used', '1')
local nk = p .. 'tok:' .. new
redis.call('HSET', nk, 'sid', sid, 'used', '0')
redis.call('EXPIRE', nk, math.max(abs - now, 1))
redis.call('HSET', sk, 'last', now)
-- In the same script: a revocation runs wholly before (revoked above) or after (denies it).
record(p, sid, jti, deny_until, now)
return {'rotated', sid, s[1], s[2], s[3]}
";

const REVOKE_SESSION: &str = "return revoke(ARGV[1], ARGV[2], tonumber(ARGV[3]))";

const REVOKE_SUBJECT: &str = r"
local p, now = ARGV[1], tonumber(ARGV[3])
local count = 0
for _, sid in ipairs(redis.call('SMEMBERS', p .. 'subj:' .. ARGV[2])) do
  count = count + revoke(p, sid, now)
end
return count
";

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "tower-hmac:sessions:";

/// Sessions in Redis.
#[derive(Clone)]
pub struct RedisSessionStore {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    check: redis::Script,
    horizon: redis::Script,
    create: redis::Script,
    rotate: redis::Script,
    revoke_session: redis::Script,
    revoke_subject: redis::Script,
}

impl std::fmt::Debug for RedisSessionStore {
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

fn warn_lost() {
    tracing::warn!(
        target: crate::TRACING_TARGET,
        event = "session_store_horizon",
        "the Redis session store's horizon marker was missing: Redis lost its data (a restart \
         without persistence, a flush, an eviction) or this is its first use; access tokens \
         issued before now are refused (token_before_horizon) and their sessions must log in again"
    );
}

impl RedisSessionStore {
    /// Connects to `url` (`redis://…`), keys under `prefix`, with [`DEFAULT_TIMEOUT`]; fails
    /// when Redis does not answer a `PING` within it.
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
        let with_revoke =
            |body: &str| redis::Script::new(&format!("{REVOKE}\n{RECORD}\n{HORIZON}\n{body}"));
        let store = Self {
            conn,
            prefix: prefix.to_owned(),
            timeout,
            check: redis::Script::new(&format!("{HORIZON}\n{CHECK}")),
            horizon: redis::Script::new(&format!("{HORIZON}\n{HORIZON_ONLY}")),
            create: with_revoke(CREATE),
            rotate: with_revoke(ROTATE),
            revoke_session: with_revoke(REVOKE_SESSION),
            revoke_subject: with_revoke(REVOKE_SUBJECT),
        };
        store.ping().await?;
        store.check_eviction_policy().await?;
        Ok(store)
    }

    /// Refuses a Redis that may evict keys under memory pressure: an evicted denylist entry is a
    /// logged-out access token accepted again, and the horizon marker cannot tell a partial
    /// loss (the replay store refuses such a Redis for the same reason). Where `CONFIG` is not
    /// allowed (managed Redis) a warning says what to check.
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

    /// Runs a prepared script within the store's timeout.
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        bounded(self.timeout, async {
            invocation
                .invoke_async(&mut conn)
                .await
                .map_err(store_error)
        })
        .await
    }

    /// The per-operation timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn create(
        &self,
        session: &NewSession,
        token: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut invocation = self.create.prepare_invoke();
        invocation
            .arg(&self.prefix)
            .arg(hex::encode(token))
            .arg(&session.session_id)
            .arg(&session.subject)
            .arg(session.scopes.join(" "))
            .arg(session.absolute_expiry)
            .arg(session.idle_timeout)
            .arg(now)
            .arg(&access.jti)
            .arg(access.deny_until);
        let answer: i64 = self.run(&invocation).await?;
        if answer == 2 {
            warn_lost();
        }
        Ok(())
    }

    async fn rotate(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        access: &IssuedAccess,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        let mut invocation = self.rotate.prepare_invoke();
        invocation
            .arg(&self.prefix)
            .arg(hex::encode(old))
            .arg(hex::encode(new))
            .arg(now)
            .arg(&access.jti)
            .arg(access.deny_until);
        let answer: Vec<String> = self.run(&invocation).await?;
        Ok(match answer.as_slice() {
            [status, sid, sub, scopes, abs] if status == "rotated" => Rotation::Rotated(Session {
                session_id: sid.clone(),
                subject: sub.clone(),
                scopes: scopes
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                absolute_expiry: abs.parse().unwrap_or(0),
            }),
            [status, sid, sub] if status == "reused" => Rotation::Reused {
                session_id: sid.clone(),
                subject: sub.clone(),
            },
            [status] if status == "revoked" => Rotation::Revoked,
            [status] if status == "expired" => Rotation::Expired,
            _ => Rotation::Unknown,
        })
    }

    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<bool, StoreError> {
        let mut invocation = self.revoke_session.prepare_invoke();
        invocation.arg(&self.prefix).arg(session_id).arg(now);
        let n: i64 = self.run(&invocation).await?;
        Ok(n == 1)
    }

    async fn revoke_subject(&self, subject: &str, now: u64) -> Result<usize, StoreError> {
        let mut invocation = self.revoke_subject.prepare_invoke();
        invocation.arg(&self.prefix).arg(subject).arg(now);
        let n: i64 = self.run(&invocation).await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn session_of(&self, token: &TokenHash) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("HGET")
            .arg(format!("{}tok:{}", self.prefix, hex::encode(token)))
            .arg("sid")
            .clone();
        bounded(self.timeout, async {
            cmd.query_async(&mut conn).await.map_err(store_error)
        })
        .await
    }

    async fn is_denied(&self, jti: &str, now: u64) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("GET")
            .arg(format!("{}deny:{jti}", self.prefix))
            .clone();
        let exp: Option<u64> = bounded(self.timeout, async {
            cmd.query_async(&mut conn).await.map_err(store_error)
        })
        .await?;
        Ok(exp.is_some_and(|exp| exp > now))
    }

    async fn horizon(&self, now: u64) -> Result<u64, StoreError> {
        let mut invocation = self.horizon.prepare_invoke();
        invocation.arg(&self.prefix).arg(now);
        let (horizon, missing): (u64, i64) = self.run(&invocation).await?;
        if missing == 1 {
            warn_lost();
        }
        Ok(horizon)
    }

    /// The horizon and the denylist in one script: one round trip.
    async fn check_access(
        &self,
        jti: &str,
        issued_at: u64,
        now: u64,
    ) -> Result<AccessCheck, StoreError> {
        let mut invocation = self.check.prepare_invoke();
        invocation
            .arg(&self.prefix)
            .arg(jti)
            .arg(issued_at)
            .arg(now);
        let (status, horizon, missing): (String, u64, i64) = self.run(&invocation).await?;
        if missing == 1 {
            warn_lost();
        }
        Ok(match status.as_str() {
            "allowed" => AccessCheck::Allowed,
            "before" => AccessCheck::BeforeHorizon { horizon },
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
