//! The failure throttle's buckets and the risk monitor's per-key state on Redis, shared by every
//! instance: [`RedisPolicyStore`], tower-hmac's
//! `SharedPolicyStore`.
//!
//! Each check is one Lua script (`EVALSHA`) over keys of one hash slot, so it is atomic and runs
//! on Redis Cluster:
//!
//! | key | holds | expires |
//! |---|---|---|
//! | `<prefix>{a:<address>}:t:a` | the address's throttle bucket (GCRA theoretical arrival time, µs) | when the bucket is full again |
//! | `<prefix>{a:<address>}:t:k:<key id>` | the key id's throttle bucket at that address | the same |
//! | `<prefix>{a:<address>}:b:a`, `…:b:k:<key id>` | the risk monitor's failure-burst counters | the same |
//! | `<prefix>{k:<key id>}:kb` | the risk monitor's failure-burst counter of the key id across every address | when the bucket is full again |
//! | `<prefix>{k:<key id>}:addrs` | the key's last 8 addresses (a list) | `memory` after the key's last request |
//! | `<prefix>{k:<key id>}:rate` | the key's rate interval, calls, average (a hash) | the same |
//!
//! `<address>` is an IPv4 address or an IPv6 network (`2001:db8::/64`); `<key id>` is escaped
//! (every byte outside `A-Z a-z 0-9 . _ -` as `%XX`), so no key id can reach another's key, nor
//! put a brace in a hash tag. The time is the layer's clock, passed in by the layer, never
//! Redis's `TIME`: instances agree as long as their clocks do, and tests set it.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use tower_hmac::server::{
    ADDRESSES_PER_KEY, ActivityAnswer, ActivityCall, BucketAnswer, BucketCall, BucketScope,
    PolicyStoreError, PolicyStoreErrorKind, RATE_WARM_INTERVALS, SharedPolicyStore,
};
use tower_hmac_core::StoreFuture;

use crate::RedisStoreError;

/// The default key prefix of [`RedisPolicyStore`].
pub const DEFAULT_POLICY_PREFIX: &str = "tower-hmac:policy:";
/// The default time one call waits for Redis: 100 ms.
pub const DEFAULT_POLICY_TIMEOUT: Duration = Duration::from_millis(100);

/// GCRA over the buckets in `KEYS` (one slot). `ARGV`: record (`1`) or look (`0`), now, then
/// each key's emission interval and tolerance, all in µs. Returns each bucket's wait in µs after the
/// call (0: not empty), then 1 if recording emptied a bucket. A bucket is governor's: empty while
/// `now < tat - tau`; a failure sets `tat = max(tat, now) + t` and the key expires at `tat`.
const GCRA_LUA: &str = r"
local record = ARGV[1] == '1'
local now = tonumber(ARGV[2])
local out = {}
local exhausted = 0
for i, key in ipairs(KEYS) do
  local t = tonumber(ARGV[1 + 2 * i])
  local tau = tonumber(ARGV[2 + 2 * i])
  local stored = redis.call('GET', key)
  local tat = now
  if stored then tat = tonumber(stored) end
  local wait = 0
  if now < tat - tau then
    wait = tat - tau - now
  elseif record then
    local nxt = math.max(tat, now) + t
    redis.call('SET', key, string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000))
    if now < nxt - tau then
      wait = nxt - tau - now
      exhausted = 1
    end
  end
  out[i] = wait
end
out[#KEYS + 1] = exhausted
return out
";

/// One accepted request of a key. `KEYS`: its addresses (a list), its rate (a hash). `ARGV`:
/// the address (empty when unknown), the rate interval, the spike factor and floor, the memory
/// in ms, the addresses kept, the intervals of history a spike needs. Returns `{new_address,
/// rate_spike}`, each 0 or 1: the in-process monitor's arithmetic, step for step.
const ACTIVITY_LUA: &str = r"
local address = ARGV[1]
local interval = tonumber(ARGV[2])
local factor = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local memory = tonumber(ARGV[5])
local slots = tonumber(ARGV[6])
local warm = tonumber(ARGV[7])
local new_address = 0
if address ~= '' then
  local known = redis.call('LRANGE', KEYS[1], 0, slots - 1)
  local found = false
  for _, a in ipairs(known) do
    if a == address then found = true break end
  end
  if not found then
    if #known > 0 then new_address = 1 end
    redis.call('LPUSH', KEYS[1], address)
    redis.call('LTRIM', KEYS[1], 0, slots - 1)
  end
  redis.call('PEXPIRE', KEYS[1], memory)
end
local st = redis.call('HMGET', KEYS[2], 'interval', 'calls', 'avg', 'seen')
local cur = tonumber(st[1]) or 0
local calls = tonumber(st[2]) or 0
local avg = tonumber(st[3]) or 0
local seen = tonumber(st[4]) or 0
if cur ~= interval then
  if cur ~= 0 then
    local gap = math.min(math.max(interval - cur, 0), 64)
    local c = calls * 1000
    local a = c
    if seen ~= 0 then a = math.floor((avg * 4 + c) / 5) end
    for _ = 2, gap do a = math.floor(a * 4 / 5) end
    avg = a
    seen = math.min(seen + gap, 4294967295)
  end
  cur = interval
  calls = 0
end
calls = calls + 1
local threshold = math.max(math.floor(avg * factor / 1000), floor)
local spike = 0
if seen >= warm and calls == threshold + 1 then spike = 1 end
redis.call('HSET', KEYS[2], 'interval', string.format('%.0f', cur), 'calls', calls,
  'avg', string.format('%.0f', avg), 'seen', seen)
redis.call('PEXPIRE', KEYS[2], memory)
return {new_address, spike}
";

static GCRA: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(GCRA_LUA));
static ACTIVITY: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(ACTIVITY_LUA));

/// The failure throttle's buckets and the risk monitor's per-key state on Redis (see the module
/// docs for the keys). Give it to `FailureThrottle::shared` and `RiskMonitor::shared`.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower_hmac::server::{FailureThrottle, RiskMonitor, SharedPolicyStore};
/// use tower_hmac_redis::RedisPolicyStore;
///
/// let store: Arc<dyn SharedPolicyStore> =
///     Arc::new(RedisPolicyStore::open("redis://127.0.0.1:6379")?.with_prefix("orders:policy:"));
/// let throttle = FailureThrottle::new(20, Duration::from_secs(60)).shared_arc(store.clone());
/// let risk = RiskMonitor::new().shared_arc(store);
/// # let _ = (throttle, risk);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisPolicyStore<C = ConnectionManager> {
    conn: C,
    prefix: Arc<str>,
    timeout: Duration,
}

impl RedisPolicyStore<ConnectionManager> {
    /// A store on the Redis at `url`; the connection is opened on first use and reopened after
    /// a failure. Must be called inside a Tokio runtime.
    pub fn open(url: &str) -> Result<Self, RedisStoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisStoreError::NoRuntime);
        }
        let client = redis::Client::open(url).map_err(RedisStoreError::InvalidUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(DEFAULT_POLICY_TIMEOUT))
            .set_response_timeout(Some(DEFAULT_POLICY_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(RedisStoreError::Connection)?;
        Ok(Self::from_connection(conn))
    }
}

impl<C> RedisPolicyStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store on an existing connection (a `ConnectionManager` of your own, a Redis Cluster
    /// connection).
    pub fn from_connection(conn: C) -> Self {
        Self {
            conn,
            prefix: DEFAULT_POLICY_PREFIX.into(),
            timeout: DEFAULT_POLICY_TIMEOUT,
        }
    }

    /// The key prefix (default `tower-hmac:policy:`); braces in it are escaped, so that the hash
    /// tag is always the address's or the key id's.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.replace('{', "%7B").replace('}', "%7D").into();
        self
    }

    /// How long one call waits for Redis (default 100 ms).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The keys of a bucket call, in the script's order: the address's bucket (when it takes
    /// part), then the key id's at that address. All share the hash tag `{a:<address>}`; a
    /// [`BucketScope::KeyBurst`] call's one bucket is the key id's, `{k:<key id>}:kb`.
    pub fn bucket_keys(&self, call: &BucketCall) -> Vec<String> {
        // A key id's burst counter across addresses lives in the key id's slot.
        if call.scope() == BucketScope::KeyBurst {
            return call
                .key_id()
                .map(|key_id| format!("{}{{k:{}}}:kb", self.prefix, escape(key_id)))
                .into_iter()
                .collect();
        }
        let base = format!(
            "{}{{a:{}}}:{}:",
            self.prefix,
            call.address(),
            call.scope().as_str()
        );
        let mut keys = Vec::with_capacity(2);
        if call.address_bucket() {
            keys.push(format!("{base}a"));
        }
        if let Some(key_id) = call.key_id() {
            keys.push(format!("{base}k:{}", escape(key_id)));
        }
        keys
    }

    /// A key's addresses and rate keys, tagged `{k:<key id>}`.
    pub fn activity_keys(&self, key_id: &str) -> [String; 2] {
        let base = format!("{}{{k:{}}}:", self.prefix, escape(key_id));
        [format!("{base}addrs"), format!("{base}rate")]
    }

    async fn run_buckets(
        &self,
        call: BucketCall,
        keys: Vec<String>,
    ) -> redis::RedisResult<BucketAnswer> {
        let mut conn = self.conn.clone();
        // The address's bucket takes part as `bucket_keys` put it in (never for a key id's burst
        // counter): the arguments and the answer follow the keys.
        let address_bucket = call.address_bucket() && call.scope() != BucketScope::KeyBurst;
        let mut invocation = GCRA.key(&keys);
        invocation
            .arg(if call.record() { "1" } else { "0" })
            .arg(call.now_micros());
        if address_bucket {
            let rate = call.rate();
            invocation
                .arg(rate.emission_micros())
                .arg(rate.tolerance_micros());
        }
        if call.key_id().is_some() {
            let rate = call.key_id_rate();
            invocation
                .arg(rate.emission_micros())
                .arg(rate.tolerance_micros());
        }
        let answer: Vec<u64> = invocation.invoke_async(&mut conn).await?;
        let wait = |i: usize| {
            answer
                .get(i)
                .copied()
                .filter(|w| *w > 0)
                .map(Duration::from_micros)
        };
        let mut i = 0;
        let address_wait = if address_bucket {
            i += 1;
            wait(0)
        } else {
            None
        };
        let key_id_wait = call.key_id().and_then(|_| wait(i));
        let exhausted = answer.last().is_some_and(|e| *e == 1);
        Ok(BucketAnswer::new(address_wait, key_id_wait, exhausted))
    }

    async fn run_activity(&self, call: ActivityCall) -> redis::RedisResult<ActivityAnswer> {
        let mut conn = self.conn.clone();
        let keys = self.activity_keys(call.key_id());
        let memory = u64::try_from(call.memory().as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, i64::MAX as u64);
        let answer: (u8, u8) = ACTIVITY
            .key(&keys)
            .arg(call.address().unwrap_or(""))
            .arg(call.now_secs() / tower_hmac::server::RATE_INTERVAL_SECS)
            .arg(call.rate_factor())
            .arg(call.rate_floor())
            .arg(memory)
            .arg(ADDRESSES_PER_KEY)
            .arg(RATE_WARM_INTERVALS)
            .invoke_async(&mut conn)
            .await?;
        Ok(ActivityAnswer::new(answer.0 == 1, answer.1 == 1))
    }
}

/// A key id as it goes into a key name: every byte outside `A-Z a-z 0-9 . _ -` as `%XX`
/// (injective, and never a brace or a colon).
pub fn escape(key_id: &str) -> String {
    let mut out = String::with_capacity(key_id.len());
    for b in key_id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

fn store_error(e: redis::RedisError) -> PolicyStoreError {
    let kind = if e.is_timeout() {
        PolicyStoreErrorKind::Timeout
    } else {
        PolicyStoreErrorKind::Unavailable
    };
    PolicyStoreError::new(kind).with_source(e)
}

impl<C> SharedPolicyStore for RedisPolicyStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    fn buckets(&self, call: BucketCall) -> StoreFuture<Result<BucketAnswer, PolicyStoreError>> {
        let keys = self.bucket_keys(&call);
        if keys.is_empty() {
            return StoreFuture::ready(Ok(BucketAnswer::default()));
        }
        let store = self.clone();
        StoreFuture::new(async move {
            match tokio::time::timeout(store.timeout, store.run_buckets(call, keys)).await {
                Ok(answer) => answer.map_err(store_error),
                Err(_) => Err(PolicyStoreError::new(PolicyStoreErrorKind::Timeout)),
            }
        })
    }

    fn key_activity(
        &self,
        call: ActivityCall,
    ) -> StoreFuture<Result<ActivityAnswer, PolicyStoreError>> {
        let store = self.clone();
        StoreFuture::new(async move {
            match tokio::time::timeout(store.timeout, store.run_activity(call)).await {
                Ok(answer) => answer.map_err(store_error),
                Err(_) => Err(PolicyStoreError::new(PolicyStoreErrorKind::Timeout)),
            }
        })
    }
}

impl<C> fmt::Debug for RedisPolicyStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisPolicyStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The part of a key Redis Cluster hashes: the first `{…}` with something inside, or the
    /// whole key.
    fn hash_tag(key: &str) -> &str {
        if let Some(open) = key.find('{')
            && let Some(len) = key[open + 1..].find('}')
            && len > 0
        {
            return &key[open + 1..open + 1 + len];
        }
        key
    }

    fn call(key_id: Option<&str>, address_bucket: bool) -> BucketCall {
        use tower_hmac::server::{BucketScope, GcraRate};
        let rate = GcraRate::new(Duration::from_secs(20), 3);
        let address = "192.0.2.1".parse().unwrap();
        BucketCall::new(BucketScope::Throttle, address, key_id, rate, 0, false)
            .with_address_bucket(address_bucket)
    }

    #[tokio::test]
    async fn the_keys_of_one_call_share_one_hash_slot() {
        let store = RedisPolicyStore::open("redis://127.0.0.1:6379")
            .unwrap()
            .with_prefix("svc{x}:");
        for key_id in ["alice", "a}b{c", "{}", "k:1", ""] {
            let keys = store.bucket_keys(&call(Some(key_id), true));
            assert_eq!(keys.len(), 2);
            assert!(
                keys.iter().all(|k| hash_tag(k) == "a:192.0.2.1"),
                "{keys:?}"
            );
            let [addrs, rate] = store.activity_keys(key_id);
            assert_eq!(hash_tag(&addrs), hash_tag(&rate));
            assert_eq!(hash_tag(&addrs), format!("k:{}", escape(key_id)));
        }
        assert_eq!(store.bucket_keys(&call(None, true)).len(), 1);
        assert_eq!(store.bucket_keys(&call(Some("alice"), false)).len(), 1);
    }

    #[test]
    fn key_ids_are_escaped_injectively_and_without_braces() {
        assert_eq!(escape("demo-2026"), "demo-2026");
        assert_eq!(escape("a}{b"), "a%7D%7Bb");
        assert_eq!(escape("a:b"), "a%3Ab");
        assert_ne!(escape("a%3Ab"), escape("a:b"));
        assert_eq!(escape("é"), "%C3%A9");
    }
}
