//! Sealed records in Redis or Redis Cluster, shared by every instance. Every Redis call (a
//! command or a script) is bounded by the store's timeout.
//!
//! # Keys
//!
//! | key | what | slot |
//! |---|---|---|
//! | `<prefix>{<user hash>}:r:<upstream>` | hash: `v` version, `m` master key id, `n` nonce (12 bytes), `c` ciphertext (bytes), `e` expires_at | the user's |
//! | `<prefix>{<user hash>}:u` | set: the user's upstreams | the user's |
//! | `<prefix>{index-<x>}:expiring` | sorted set: `<user hash>:<upstream>` → expires_at, for the users whose hash starts with the hex digit `x` | the bucket's |
//! | `<prefix>{index-<x>}:sealed` | sorted set (lexical): `<master key id>\0<user hash>:<upstream>` | the bucket's |
//!
//! A user's keys share the hash tag `{<user hash>}`: the compare-and-set write, the delete and
//! the deletion of every record of a user are each one Lua script in the user's slot, with every
//! key in `KEYS`. The two cross-user indexes are split in 16 buckets (the first hex digit of the
//! user hash), each bucket's two keys in a slot of its own; they cannot be written in the
//! user's script, so a write touches them before **and** after its script, with values that only
//! ever make the index say *more* than the records: before, the record's entry under its new
//! master key is added and its expiry lowered to the new one (`ZADD LT`); after, the same again
//! (repairing an entry a reader dropped meanwhile). A crash between the steps therefore leaves an
//! index that lists a record too early or under a master key it no longer has — never one that
//! misses a record that is due or sealed under an old key. [`expiring`](VaultStore::expiring)
//! and [`sealed_under_other`](VaultStore::sealed_under_other) check each entry against its
//! record before answering it, and correct or drop the stale ones (the vault re-reads the record
//! anyway).
//!
//! # Expiry
//!
//! By default records never expire in Redis: a refresh token may live for months after its
//! access token expired, and a record deleted then would force the user to link the upstream
//! again. [`expire_records_after`](RedisVaultStore::expire_records_after) sets each record to
//! expire (`PEXPIREAT`) a fixed time after its access token does (set it to the refresh
//! token's lifetime, when the upstream documents one).
//!
//! # Redis Cluster
//!
//! Pass a cluster connection (`redis::cluster_async::ClusterConnection`, the `redis` crate's
//! feature `cluster-async`) to [`RedisVaultStore::from_connection`].

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};

use super::{
    DEFAULT_TIMEOUT, Expiring, SealedRecord, StoreRefused, VaultStore, VaultStoreError, bounded,
};
use crate::UserHash;

/// How many buckets each cross-user index is split in (one per first hex digit of a user hash).
const BUCKETS: usize = 16;

/// How many times `expiring` and `sealed_under_other` query again after correcting stale
/// entries before they answer what they verified.
const ROUNDS: usize = 8;

/// KEYS: record, user's upstreams. ARGV: expected version (`""`: no record), version, master
/// key id, nonce, ciphertext, expires_at, upstream, expire at (Unix ms; 0: never). 1 written,
/// 0 not (the version differs).
static PUT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local v = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if v then return 0 end
elseif v ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'm', ARGV[3], 'n', ARGV[4], 'c', ARGV[5], 'e', ARGV[6])
local existed = redis.call('EXISTS', KEYS[2]) == 1
redis.call('SADD', KEYS[2], ARGV[7])
local at = tonumber(ARGV[8])
if at > 0 then
  redis.call('PEXPIREAT', KEYS[1], at)
  local t = redis.call('PEXPIRETIME', KEYS[2])
  if not existed or (t >= 0 and t < at) then redis.call('PEXPIREAT', KEYS[2], at) end
else
  redis.call('PERSIST', KEYS[2])
end
return 1
",
    )
});

/// KEYS: record, user's upstreams. ARGV: upstream. The deleted record's master key id, or nil.
static DELETE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local m = redis.call('HGET', KEYS[1], 'm')
redis.call('SREM', KEYS[2], ARGV[1])
if not m then return false end
redis.call('DEL', KEYS[1])
return m
",
    )
});

/// KEYS: user's upstreams, then one record per upstream in ARGV. ARGV: the upstreams. The
/// number of upstreams left in the set (added meanwhile), then upstream, master key id of each
/// record deleted.
static DELETE_USER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local out = {0}
for i, up in ipairs(ARGV) do
  local m = redis.call('HGET', KEYS[i + 1], 'm')
  if m then
    redis.call('DEL', KEYS[i + 1])
    table.insert(out, up)
    table.insert(out, m)
  end
  redis.call('SREM', KEYS[1], up)
end
out[1] = redis.call('SCARD', KEYS[1])
return out
",
    )
});

/// KEYS: a bucket's expiring, sealed. ARGV: member, expires_at, sealed member. Adds what a write
/// is about to make true (before its script) or made true (after).
static INDEX_ADD: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
return 1
",
    )
});

/// KEYS: a bucket's expiring, sealed. ARGV: member, sealed member (`""`: none). After a delete.
static INDEX_REMOVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
",
    )
});

/// KEYS: a bucket's expiring. ARGV: member, the score read, the record's expires_at (`""`: the
/// record is gone). Corrects an entry if nobody changed it since it was read.
static EXPIRING_FIX: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
",
    )
});

/// Sealed records in Redis, or in Redis Cluster: a connection manager ([`connect`](Self::connect))
/// by default, any `redis` connection with [`from_connection`](Self::from_connection).
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use tower_hmac_vault::store::RedisVaultStore;
///
/// let store = RedisVaultStore::connect("redis://127.0.0.1:6379", "app:vault:").await?;
///
/// // Redis Cluster, with the `redis` crate's feature `cluster-async`:
/// // let conn = redis::cluster::ClusterClient::new(nodes)?.get_async_connection().await?;
/// // let store = RedisVaultStore::from_connection(conn, "app:vault:")?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisVaultStore<C = ConnectionManager> {
    conn: C,
    prefix: Arc<str>,
    timeout: Duration,
    expire_after: Option<Duration>,
    /// Set once Redis's eviction policy was found safe (or could not be read: warned).
    checked: Arc<tokio::sync::OnceCell<()>>,
}

impl<C> std::fmt::Debug for RedisVaultStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisVaultStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("expire_after", &self.expire_after)
            .finish_non_exhaustive()
    }
}

fn store_error(e: redis::RedisError) -> VaultStoreError {
    VaultStoreError::new(e)
}

/// The bucket of a user's entries in the cross-user indexes: its hash's first hex digit.
fn bucket(user: &UserHash) -> usize {
    user.as_str()
        .bytes()
        .next()
        .and_then(|b| (b as char).to_digit(16))
        .map_or(0, |d| d as usize)
}

fn member(user: &UserHash, upstream: &str) -> String {
    format!("{}:{upstream}", user.as_str())
}

fn sealed_member(master: &str, member: &str) -> String {
    format!("{master}\0{member}")
}

/// The user and upstream of an index entry.
fn parse_member(member: &str) -> Result<(UserHash, String), VaultStoreError> {
    member
        .split_at_checked(64)
        .and_then(|(user, rest)| Some((UserHash::from_hex(user)?, rest.strip_prefix(':')?)))
        .map(|(user, upstream)| (user, upstream.to_owned()))
        .ok_or_else(|| VaultStoreError::new("a malformed entry in the vault's Redis index"))
}

fn number(field: Option<Vec<u8>>, what: &str) -> Result<u64, VaultStoreError> {
    field
        .and_then(|f| std::str::from_utf8(&f).ok()?.parse().ok())
        .ok_or_else(|| VaultStoreError::new(format!("a vault record's {what} is not a number")))
}

impl RedisVaultStore<ConnectionManager> {
    /// A key prefix for a service that has one vault (give each service, and each test run, its
    /// own).
    pub const DEFAULT_PREFIX: &str = "tower-hmac:vault:";

    /// Connects to `url` (`redis://…`), keys under `prefix`, with [`DEFAULT_TIMEOUT`]; fails
    /// when Redis does not answer a `PING` within it, and refuses
    /// ([`StoreRefused::EvictingPolicy`]) a Redis whose `maxmemory-policy` is not `noeviction`:
    /// an evicted record or index entry breaks the vault's guarantees (a record a master key
    /// rotation never re-encrypts, a refresh that never comes). Where `CONFIG` is not allowed
    /// (managed Redis) a warning says what to check.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, VaultStoreError> {
        Self::connect_with_timeout(url, prefix, DEFAULT_TIMEOUT).await
    }

    /// [`connect`](Self::connect) with another per-call timeout (at least 1 ms).
    pub async fn connect_with_timeout(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, VaultStoreError> {
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
        store.ping().await?;
        store.ready().await?;
        Ok(store)
    }
}

impl<C> RedisVaultStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store on an existing connection — a Redis Cluster connection
    /// (`redis::cluster_async::ClusterConnection`), a connection manager with settings of your
    /// own — keys under `prefix`, with [`DEFAULT_TIMEOUT`]. Fails when `prefix` holds `{` or
    /// `}`: the store's hash tags are its own. Redis's `maxmemory-policy` is checked as
    /// [`connect`](RedisVaultStore::connect) checks it, on the store's first operation: a Redis
    /// that may evict keys is refused ([`StoreRefused::EvictingPolicy`]) on every operation until
    /// its policy is `noeviction`.
    pub fn from_connection(conn: C, prefix: &str) -> Result<Self, VaultStoreError> {
        if prefix.contains(['{', '}']) {
            return Err(VaultStoreError::new(
                "a Redis vault store's prefix may not hold `{` or `}` (the store tags its keys \
                 with hash tags of its own)",
            ));
        }
        Ok(Self {
            conn,
            prefix: prefix.into(),
            timeout: DEFAULT_TIMEOUT,
            expire_after: None,
            checked: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// Another per-call timeout (at least 1 ms): how long each Redis call may take before the
    /// operation fails (`vault_unavailable`).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Redis deletes each record `after` this long past its access token's expiry (default:
    /// never). **Set it no shorter than the upstream's refresh-token lifetime**: a record
    /// deleted while its refresh token lives makes the user link the upstream again.
    pub fn expire_records_after(mut self, after: Duration) -> Self {
        self.expire_after = Some(after);
        self
    }

    /// The key of the record of `user` for `upstream`.
    pub fn record_key(&self, user: &UserHash, upstream: &str) -> String {
        format!("{}{{{}}}:r:{upstream}", self.prefix, user.as_str())
    }

    /// The key of the set of `user`'s upstreams (in the same slot as their records).
    pub fn user_key(&self, user: &UserHash) -> String {
        format!("{}{{{}}}:u", self.prefix, user.as_str())
    }

    /// The two index keys of bucket `b` (expiring, sealed).
    fn index_keys(&self, b: usize) -> [String; 2] {
        ["expiring", "sealed"].map(|kind| format!("{}{{index-{b:x}}}:{kind}", self.prefix))
    }

    /// The eviction policy's check, once it passed: every operation but `ping` waits for it.
    async fn ready(&self) -> Result<(), VaultStoreError> {
        self.checked
            .get_or_try_init(|| self.check_eviction_policy())
            .await
            .map(|_| ())
    }

    /// Refuses a Redis that may evict keys (`maxmemory-policy` other than `noeviction`); warns
    /// when the policy cannot be read.
    async fn check_eviction_policy(&self) -> Result<(), VaultStoreError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg("maxmemory-policy");
        let mut conn = self.conn.clone();
        // Outer error: no answer (the store cannot be used); inner: an answer that is an error,
        // such as CONFIG not being allowed.
        let answer = bounded(self.timeout, async {
            match cmd.query_async::<Vec<String>>(&mut conn).await {
                Err(e) if e.kind() == redis::ErrorKind::Io || e.is_timeout() => Err(store_error(e)),
                answer => Ok(answer),
            }
        })
        .await?;
        let why = match answer {
            Ok(pair) => match pair.get(1) {
                Some(policy) if policy == "noeviction" => return Ok(()),
                Some(policy) => {
                    return Err(VaultStoreError::new(StoreRefused::EvictingPolicy {
                        policy: policy.clone(),
                    }));
                }
                None => "CONFIG GET returned no policy".to_owned(),
            },
            Err(e) => e.to_string(),
        };
        tracing::warn!(
            target: "tower_hmac::vault",
            why,
            "cannot read Redis's maxmemory-policy (CONFIG not allowed?): make sure it is \
             noeviction, or an evicted record or index entry may escape re-encryption"
        );
        Ok(())
    }

    /// One Redis call, bounded by the timeout.
    async fn call<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, VaultStoreError> {
        let mut conn = self.conn.clone();
        bounded(self.timeout, async {
            cmd.query_async(&mut conn).await.map_err(store_error)
        })
        .await
    }

    /// One script, bounded by the timeout.
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, VaultStoreError> {
        let mut conn = self.conn.clone();
        bounded(self.timeout, async {
            invocation
                .invoke_async(&mut conn)
                .await
                .map_err(store_error)
        })
        .await
    }

    async fn index_add(&self, record: &SealedRecord) -> Result<(), VaultStoreError> {
        let [expiring, sealed] = self.index_keys(bucket(&record.user));
        let member = member(&record.user, &record.upstream);
        let mut invocation = INDEX_ADD.key(expiring);
        invocation
            .key(sealed)
            .arg(&member)
            .arg(record.expires_at)
            .arg(sealed_member(&record.master_key, &member));
        self.run::<i64>(&invocation).await.map(|_| ())
    }

    async fn index_remove(
        &self,
        user: &UserHash,
        upstream: &str,
        master: Option<&str>,
    ) -> Result<(), VaultStoreError> {
        let [expiring, sealed] = self.index_keys(bucket(user));
        let member = member(user, upstream);
        let sealed_member = master.map_or_else(String::new, |m| sealed_member(m, &member));
        let mut invocation = INDEX_REMOVE.key(expiring);
        invocation.key(sealed).arg(&member).arg(sealed_member);
        self.run::<i64>(&invocation).await.map(|_| ())
    }

    /// The record's expires_at and master key id, if it exists.
    async fn peek(
        &self,
        user: &UserHash,
        upstream: &str,
    ) -> Result<Option<(u64, String)>, VaultStoreError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.record_key(user, upstream)).arg("e").arg("m");
        let (e, m): (Option<Vec<u8>>, Option<String>) = self.call(&cmd).await?;
        match (e, m) {
            (Some(e), Some(m)) => Ok(Some((number(Some(e), "expiry")?, m))),
            _ => Ok(None),
        }
    }

    /// One round of `expiring`: the verified due entries, and whether any entry was corrected.
    async fn expiring_round(
        &self,
        before: u64,
        after: Option<&Expiring>,
        limit: usize,
    ) -> Result<(Vec<Expiring>, bool), VaultStoreError> {
        let after = after.map(|a| (a.expires_at, member(&a.user, &a.upstream)));
        let mut candidates: Vec<(u64, String, usize)> = Vec::new();
        for b in 0..BUCKETS {
            let [expiring, _] = self.index_keys(b);
            let mut from = "-inf".to_owned();
            if let Some((at, after_member)) = &after {
                // The entries of the same second as `after` come after it by their member (a
                // sorted set orders equal scores so): those first, then the later seconds.
                if *at < before {
                    let ties = self
                        .same_second_after(&expiring, *at, after_member, limit)
                        .await?;
                    candidates.extend(ties.into_iter().map(|m| (*at, m, b)));
                }
                from = format!("({at}");
            }
            let mut cmd = redis::cmd("ZRANGE");
            cmd.arg(&expiring)
                .arg(from)
                .arg(format!("({before}"))
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .arg("WITHSCORES");
            // Scores are doubles to Redis: exact for every Unix time in seconds.
            let entries: Vec<(String, f64)> = self.call(&cmd).await?;
            candidates.extend(entries.into_iter().map(|(m, s)| (s as u64, m, b)));
        }
        candidates.sort();
        let mut due = Vec::new();
        let mut corrected = false;
        for (score, entry, b) in candidates {
            if due.len() == limit {
                break;
            }
            let (user, upstream) = parse_member(&entry)?;
            let actual = self.peek(&user, &upstream).await?.map(|(e, _)| e);
            if actual == Some(score) {
                due.push(Expiring {
                    expires_at: score,
                    user,
                    upstream,
                });
                continue;
            }
            let [expiring, _] = self.index_keys(b);
            let mut fix = EXPIRING_FIX.key(expiring);
            fix.arg(&entry)
                .arg(score)
                .arg(actual.map_or_else(String::new, |e| e.to_string()));
            self.run::<i64>(&fix).await?;
            corrected = true;
        }
        Ok((due, corrected))
    }

    /// At most `limit` members of the index `key` whose score is `at` and which come after
    /// `after` (a sorted set orders equal scores by member): one read when the second holds no
    /// more than `limit` or its first page lies wholly after the cursor, else from the first
    /// such member's rank, found by bisection — a bounded number of calls and members however
    /// many records share the second.
    async fn same_second_after(
        &self,
        key: &str,
        at: u64,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>, VaultStoreError> {
        let page = |start: usize| {
            let mut page = redis::cmd("ZRANGE");
            page.arg(key)
                .arg(at)
                .arg(at)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(start)
                .arg(limit);
            page
        };
        // What changed meanwhile never puts a member before the cursor on the page.
        let after_cursor = |members: Vec<String>| -> Vec<String> {
            members
                .into_iter()
                .filter(|member| member.as_str() > after)
                .collect()
        };
        // The second's first page: the answer when the second holds fewer, or when all of it
        // comes after the cursor.
        let first: Vec<String> = self.call(&page(0)).await?;
        if first.len() < limit || first.first().is_some_and(|m| m.as_str() > after) {
            return Ok(after_cursor(first));
        }
        let mut count = redis::cmd("ZCOUNT");
        count.arg(key).arg(at).arg(at);
        let n: usize = self.call(&count).await?;
        if n <= limit {
            return Ok(after_cursor(first));
        }
        // More than a page, reaching back to the cursor: the rank where it is passed.
        let mut below = redis::cmd("ZCOUNT");
        below.arg(key).arg("-inf").arg(format!("({at}"));
        let offset: usize = self.call(&below).await?;
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let mut probe = redis::cmd("ZRANGE");
            probe.arg(key).arg(offset + mid).arg(offset + mid);
            let found: Vec<String> = self.call(&probe).await?;
            match found.first() {
                Some(member) if member.as_str() <= after => lo = mid + 1,
                // After it, or the set shrank meanwhile.
                _ => hi = mid,
            }
        }
        Ok(after_cursor(self.call(&page(lo)).await?))
    }

    /// One round of `sealed_under_other`: the verified entries, and whether any was dropped.
    async fn sealed_round(
        &self,
        current: &str,
        limit: usize,
    ) -> Result<(Vec<(UserHash, String)>, bool), VaultStoreError> {
        let below = format!("({current}\0");
        let above = format!("[{current}\u{1}");
        let mut found = Vec::new();
        let mut dropped = false;
        for b in 0..BUCKETS {
            let [_, sealed] = self.index_keys(b);
            for (min, max) in [("-", below.as_str()), (above.as_str(), "+")] {
                if found.len() == limit {
                    return Ok((found, dropped));
                }
                let mut cmd = redis::cmd("ZRANGE");
                cmd.arg(&sealed)
                    .arg(min)
                    .arg(max)
                    .arg("BYLEX")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit - found.len());
                let entries: Vec<String> = self.call(&cmd).await?;
                for entry in entries {
                    let (master, rest) = entry.split_once('\0').ok_or_else(|| {
                        VaultStoreError::new("a malformed entry in the vault's Redis index")
                    })?;
                    let (user, upstream) = parse_member(rest)?;
                    match self.peek(&user, &upstream).await? {
                        Some((_, m)) if m == master => found.push((user, upstream)),
                        _ => {
                            let mut cmd = redis::cmd("ZREM");
                            cmd.arg(&sealed).arg(&entry);
                            self.call::<i64>(&cmd).await?;
                            dropped = true;
                        }
                    }
                }
            }
        }
        Ok((found, dropped))
    }
}

#[async_trait]
impl<C> VaultStore for RedisVaultStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn get(
        &self,
        user: &UserHash,
        upstream: &str,
    ) -> Result<Option<SealedRecord>, VaultStoreError> {
        self.ready().await?;
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.record_key(user, upstream))
            .arg(&["v", "m", "n", "c", "e"][..]);
        let fields: Vec<Option<Vec<u8>>> = self.call(&cmd).await?;
        let [v, m, n, c, e]: [Option<Vec<u8>>; 5] = fields
            .try_into()
            .map_err(|_| VaultStoreError::new("unexpected answer to HMGET"))?;
        let Some(v) = v else {
            return Ok(None);
        };
        let unreadable = |what: &str| VaultStoreError::new(format!("a vault record's {what}"));
        Ok(Some(SealedRecord {
            user: user.clone(),
            upstream: upstream.to_owned(),
            master_key: m
                .and_then(|m| String::from_utf8(m).ok())
                .ok_or_else(|| unreadable("master key id is missing"))?,
            nonce: n
                .and_then(|n| n.try_into().ok())
                .ok_or_else(|| unreadable("nonce is not 12 bytes"))?,
            ciphertext: c.ok_or_else(|| unreadable("ciphertext is missing"))?,
            expires_at: number(e, "expiry")?,
            version: number(Some(v), "version")?,
        }))
    }

    async fn put(
        &self,
        record: &SealedRecord,
        expected: Option<u64>,
    ) -> Result<bool, VaultStoreError> {
        self.ready().await?;
        if record.master_key.contains('\0') {
            return Err(VaultStoreError::new("a master key id may not hold NUL"));
        }
        // The indexes first, saying at least what the record will say.
        self.index_add(record).await?;
        let expire_at = self.expire_after.map_or(0, |after| {
            record
                .expires_at
                .saturating_add(after.as_secs())
                .saturating_mul(1000)
                .max(1)
        });
        let mut invocation = PUT.key(self.record_key(&record.user, &record.upstream));
        invocation
            .key(self.user_key(&record.user))
            .arg(expected.map_or_else(String::new, |v| v.to_string()))
            .arg(record.version)
            .arg(&record.master_key)
            .arg(&record.nonce[..])
            .arg(&record.ciphertext[..])
            .arg(record.expires_at)
            .arg(&record.upstream)
            .arg(expire_at);
        let written = self.run::<i64>(&invocation).await? == 1;
        if written {
            // Again: a reader may have dropped the entry between the two steps.
            self.index_add(record).await?;
        }
        Ok(written)
    }

    async fn delete(&self, user: &UserHash, upstream: &str) -> Result<bool, VaultStoreError> {
        self.ready().await?;
        let mut invocation = DELETE.key(self.record_key(user, upstream));
        invocation.key(self.user_key(user)).arg(upstream);
        let master: Option<String> = self.run(&invocation).await?;
        match master {
            Some(master) => {
                self.index_remove(user, upstream, Some(&master)).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The user's upstreams are read, then deleted in one script in the user's slot; again
    /// while upstreams were added meanwhile.
    async fn delete_user(&self, user: &UserHash) -> Result<usize, VaultStoreError> {
        self.ready().await?;
        let mut count = 0;
        loop {
            let mut members = redis::cmd("SMEMBERS");
            members.arg(self.user_key(user));
            let upstreams: Vec<String> = self.call(&members).await?;
            if upstreams.is_empty() {
                return Ok(count);
            }
            let mut invocation = DELETE_USER.key(self.user_key(user));
            for upstream in &upstreams {
                invocation
                    .key(self.record_key(user, upstream))
                    .arg(upstream);
            }
            let answer: Vec<String> = self.run(&invocation).await?;
            let (left, deleted) = answer
                .split_first()
                .ok_or_else(|| VaultStoreError::new("unexpected answer from delete_user"))?;
            for pair in deleted.chunks(2) {
                if let [upstream, master] = pair {
                    self.index_remove(user, upstream, Some(master)).await?;
                    count += 1;
                }
            }
            if left == "0" {
                return Ok(count);
            }
        }
    }

    async fn expiring(
        &self,
        before: u64,
        after: Option<&Expiring>,
        limit: usize,
    ) -> Result<Vec<Expiring>, VaultStoreError> {
        self.ready().await?;
        let mut due = Vec::new();
        if limit == 0 {
            return Ok(due);
        }
        for _ in 0..ROUNDS {
            let corrected;
            (due, corrected) = self.expiring_round(before, after, limit).await?;
            if !corrected || due.len() == limit {
                break;
            }
        }
        Ok(due)
    }

    async fn sealed_under_other(
        &self,
        current: &str,
        limit: usize,
    ) -> Result<Vec<(UserHash, String)>, VaultStoreError> {
        self.ready().await?;
        let mut found = Vec::new();
        if limit == 0 {
            return Ok(found);
        }
        for _ in 0..ROUNDS {
            let dropped;
            (found, dropped) = self.sealed_round(current, limit).await?;
            if !dropped || found.len() == limit {
                break;
            }
        }
        Ok(found)
    }

    async fn ping(&self) -> Result<(), VaultStoreError> {
        self.call::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_entry_names_its_user_and_upstream() {
        let user = UserHash::from_hex(&"ab".repeat(32)).unwrap();
        let (parsed, upstream) = parse_member(&member(&user, "git:hub")).unwrap();
        assert_eq!((parsed, upstream.as_str()), (user.clone(), "git:hub"));
        assert!(parse_member("short:up").is_err());
        assert_eq!(bucket(&user), 0xa);
    }
}
