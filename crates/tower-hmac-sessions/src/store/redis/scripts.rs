//! The Lua scripts of the Redis store. Each touches the keys of ONE hash slot, every one of them
//! passed in `KEYS` (Redis Cluster routes a script by its keys and refuses keys of two slots):
//! a session's scripts its `{<session>}`-tagged keys, the subject's its one set.

/// Records an access token of a live session (inside the script that starts or rotates it):
/// the session's record and its access list live at least until the token's `deny_until`, so
/// that a revocation, and the check of the token, find both as long as the token lives.
const RECORD: &str = r"
local function record(sk, ak, jti, deny_until, now)
  redis.call('ZREMRANGEBYSCORE', ak, '-inf', now)
  redis.call('ZADD', ak, deny_until, jti)
  local keep = math.max(deny_until - now, 1)
  if redis.call('TTL', ak) < keep then redis.call('EXPIRE', ak, keep) end
  if redis.call('TTL', sk) < keep then redis.call('EXPIRE', sk, keep) end
end
";

/// Revokes a session: 1 revoked now, 0 already revoked, -1 no record of it. Its access list
/// (pruned of expired tokens) becomes its denylist: a token is denied while its session is
/// revoked and its `deny_until` is ahead.
const REVOKE: &str = r"
local function revoke(sk, ak, now)
  local r = redis.call('HGET', sk, 'revoked')
  if not r then return -1 end
  if r ~= '0' then return 0 end
  redis.call('HSET', sk, 'revoked', '1')
  redis.call('ZREMRANGEBYSCORE', ak, '-inf', now)
  return 1
end
";

/// KEYS: session, tokens, access. ARGV: token (hex), subject, scopes, absolute expiry, idle
/// timeout, now, jti, deny until. 1, or 0 when the session id is taken (a record is never
/// overwritten).
const CREATE: &str = r"
local sk, tk, ak = KEYS[1], KEYS[2], KEYS[3]
local tok, sub, scopes = ARGV[1], ARGV[2], ARGV[3]
local abs, idle, now = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local jti, deny_until = ARGV[7], tonumber(ARGV[8])
if redis.call('EXISTS', sk) == 1 then return 0 end
local ttl = math.max(abs - now, 1)
redis.call('HSET', sk, 'sub', sub, 'scopes', scopes, 'abs', abs, 'idle', idle, 'last', now,
  'revoked', '0')
redis.call('EXPIRE', sk, ttl)
redis.call('HSET', tk, tok, '0')
if redis.call('TTL', tk) < ttl then redis.call('EXPIRE', tk, ttl) end
record(sk, ak, jti, deny_until, now)
return 1
";

/// KEYS: session, tokens, access. ARGV: old token, new token (hex), now, jti, deny until.
/// The token's `used` flag is a field of the session's token hash: the decision is atomic.
const ROTATE: &str = r"
local sk, tk, ak = KEYS[1], KEYS[2], KEYS[3]
local old, new, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local jti, deny_until = ARGV[4], tonumber(ARGV[5])
local s = redis.call('HMGET', sk, 'sub', 'scopes', 'abs', 'idle', 'last', 'revoked')
if not s[1] then return {'unknown'} end
local used = redis.call('HGET', tk, old)
if not used then return {'unknown'} end
if s[6] ~= '0' then return {'revoked'} end
if used ~= '0' then
  revoke(sk, ak, now)
  return {'reused', s[1]}
end
local abs = tonumber(s[3])
if now >= abs or now >= tonumber(s[5]) + tonumber(s[4]) then return {'expired'} end
if redis.call('HSETNX', tk, new, '0') == 0 then return {'collision'} end
redis.call('HSET', tk, old, '1')
redis.call('HSET', sk, 'last', now)
-- In the same script: a revocation runs wholly before (revoked above) or after (denies it).
record(sk, ak, jti, deny_until, now)
return {'rotated', s[1], s[2], s[3]}
";

/// KEYS: session, access. ARGV: now.
const REVOKE_SESSION: &str = "return revoke(KEYS[1], KEYS[2], tonumber(ARGV[1]))";

/// KEYS: session, access. ARGV: jti, now. `lost` when the store has no record of the session
/// (its node lost its data, or it ended after every token of it expired), `denied`, `allowed`.
const CHECK: &str = r"
local r = redis.call('HGET', KEYS[1], 'revoked')
if not r then return 'lost' end
if r ~= '0' then
  local u = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if u and tonumber(u) > tonumber(ARGV[2]) then return 'denied' end
end
return 'allowed'
";

/// KEYS: the subject's set. ARGV: session id, TTL (seconds).
const SUBJECT_ADD: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
";

/// KEYS: the subject's order (sorted set), its counter (both tagged with the subject, one
/// slot). ARGV: session id, TTL (seconds). The session's place in its subject's order of
/// logins, then the whole order, newest first.
const ORDER: &str = r"
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
local ttl = tonumber(ARGV[2])
for _, k in ipairs(KEYS) do
  if redis.call('TTL', k) < ttl then redis.call('EXPIRE', k, ttl) end
end
return redis.call('ZREVRANGE', KEYS[1], 0, -1)
";

/// KEYS: session, access. ARGV: now, `check` or `end`. -1 no record, 0 not live (revoked or
/// past a lifetime), 1 live (`check`) or ended now (`end`).
const LIMIT: &str = r"
local now = tonumber(ARGV[1])
local s = redis.call('HMGET', KEYS[1], 'abs', 'idle', 'last', 'revoked')
if not s[4] then return -1 end
if s[4] ~= '0' or now >= tonumber(s[1]) or now >= tonumber(s[3]) + tonumber(s[2]) then
  return 0
end
if ARGV[2] == 'end' then return revoke(KEYS[1], KEYS[2], now) end
return 1
";

/// KEYS: a token's index. Whether there is one (1, 0), the session id and the index's
/// remaining PTTL.
const READ_INDEX: &str = r"
local sid = redis.call('GET', KEYS[1])
if not sid then return {0, '', -2} end
return {1, sid, redis.call('PTTL', KEYS[1])}
";

/// The scripts, hashed once.
#[derive(Clone)]
pub(super) struct Scripts {
    pub(super) create: redis::Script,
    pub(super) rotate: redis::Script,
    pub(super) revoke_session: redis::Script,
    pub(super) check: redis::Script,
    pub(super) subject_add: redis::Script,
    pub(super) read_index: redis::Script,
    pub(super) order: redis::Script,
    pub(super) limit: redis::Script,
}

impl Scripts {
    /// Every script, to load them ahead of their first use.
    pub(super) fn all(&self) -> [&redis::Script; 8] {
        // Every field named: a script added later does not compile until it is listed here.
        let Self {
            create,
            rotate,
            revoke_session,
            check,
            subject_add,
            read_index,
            order,
            limit,
        } = self;
        [
            create,
            rotate,
            revoke_session,
            check,
            subject_add,
            read_index,
            order,
            limit,
        ]
    }

    pub(super) fn new() -> Self {
        let with_helpers = |body: &str| redis::Script::new(&format!("{REVOKE}\n{RECORD}\n{body}"));
        Self {
            create: with_helpers(CREATE),
            rotate: with_helpers(ROTATE),
            revoke_session: with_helpers(REVOKE_SESSION),
            check: redis::Script::new(CHECK),
            subject_add: redis::Script::new(SUBJECT_ADD),
            read_index: redis::Script::new(READ_INDEX),
            order: redis::Script::new(ORDER),
            limit: with_helpers(LIMIT),
        }
    }
}
