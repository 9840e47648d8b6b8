#!/usr/bin/env bash
# Measures the Redis memory the shared state costs per entry, as the library writes it: the demo
# server (release build) on one Redis, driven over HTTP, `used_memory` read before and after each
# phase (docs/DEPLOYMENT.md, "Where each piece of state lives"):
#   - sessions: N logins (a session, its refresh token and index, its first access token, its
#     subject's set member);
#   - failures: N failed authentications, each from an address of its own and naming a key id of
#     its own (the failure throttle's two buckets and the risk monitor's failure counters).
# The replay store's figure is scripts/redis-memory.sh's.
#
#   scripts/state-memory.sh [N=2000] [HOST:PORT=127.0.0.1:6379]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
hostport=${2:-127.0.0.1:6379}
host=${hostport%:*}
port=${hostport#*:}
cli=(redis-cli -h "$host" -p "$port")
prefix="tower-hmac-statemem:$$:$(date +%s):"
url="redis://$hostport"

cargo build --release -q -p demo-server
work=$(mktemp -d)
cleanup() {
  kill "$demo" 2>/dev/null || true
  "${cli[@]}" --scan --pattern "${prefix}*" | xargs -r -n 1000 "${cli[@]}" DEL >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

TOWER_HMAC_DEMO_ADDR=127.0.0.1:0 \
  TOWER_HMAC_DEMO_REPLAY_STORE="$url" TOWER_HMAC_DEMO_REDIS_PREFIX="${prefix}nonce:" \
  TOWER_HMAC_DEMO_SESSION_STORE="$url" TOWER_HMAC_DEMO_SESSION_NAMESPACE="${prefix}sess:" \
  TOWER_HMAC_DEMO_POLICY_STORE="$url" TOWER_HMAC_DEMO_POLICY_PREFIX="${prefix}policy:" \
  TOWER_HMAC_DEMO_THROTTLE=1000000000/60 RUST_LOG=error \
  target/release/demo-server >"$work/out" 2>&1 &
demo=$!
for _ in $(seq 1 300); do
  addr=$(sed -n 's/^tower-hmac demo server listening on http:\/\///p' "$work/out")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "the demo did not start:"; cat "$work/out"; exit 1; }

used() { "${cli[@]}" INFO memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }
keys() { "${cli[@]}" --scan --pattern "${prefix}$1*" | wc -l; }

phase() { # name → runs the driver's phase, prints bytes per entry
  local before after
  before=$(used)
  python3 - "$1" "$n" "$addr" <<'PY'
import http.client, json, socket, sys
phase, n, addr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
host, port = addr.rsplit(":", 1)
port = int(port)

def request(method, path, headers, body=b"", source=None):
    conn = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0) if source else None)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data

if phase == "sessions":
    body = json.dumps({"username": "demo", "password": "demo-password"}).encode()
    for i in range(n):
        status, data = request("POST", "/auth/login", {"Content-Type": "application/json"}, body)
        assert status == 200, (status, data)
elif phase == "failures":
    import time
    t = int(time.time())
    for i in range(n):
        source = f"127.{1 + i // 65024}.{i // 254 % 256}.{1 + i % 254}"
        token = f"statemem-{i}:{t}:{'0' * 64}"
        status, data = request("GET", "/token/whoami", {"X-Auth-Token": token}, source=source)
        assert status == 401, (status, data)
PY
  after=$(used)
  echo "$1: $n entries, used_memory $before -> $after: $(( (after - before) / n )) bytes each"
}

echo "Redis $("${cli[@]}" INFO server | awk -F: '/^redis_version:/ {print $2}' | tr -d '\r'), N=$n, prefix ${prefix}"
phase sessions
echo "  session keys: $(keys sess:)"
phase failures
echo "  policy keys: $(keys policy:)"
