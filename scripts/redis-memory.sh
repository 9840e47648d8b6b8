#!/usr/bin/env bash
# Measures the Redis memory one live nonce costs, as tower-hmac-redis stores it:
#   SET <prefix><key-id>:<nonce> 1 NX PX <ttl>
# Usage: scripts/redis-memory.sh [N] [REDIS_URL host:port]   (defaults: 200000, 127.0.0.1:6379)
# It writes N keys under a unique prefix, reads INFO memory before and after, then deletes them.
set -euo pipefail
n=${1:-200000}
hostport=${2:-127.0.0.1:6379}
host=${hostport%:*}
port=${hostport#*:}
cli=(redis-cli -h "$host" -p "$port")
prefix="tower-hmac-memtest:$$:$(date +%s):"
key_id="backoffice-2026-11"

used() { "${cli[@]}" INFO memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }

before=$(used)
python3 - "$n" "$prefix" "$key_id" <<'PY' | "${cli[@]}" --pipe >/dev/null
import base64, os, sys
n, prefix, key_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = sys.stdout.buffer
for _ in range(n):
    nonce = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    parts = [b"SET", f"{prefix}{key_id}:{nonce}".encode(), b"1", b"NX", b"PX", b"600000"]
    out.write(b"*%d\r\n" % len(parts))
    for p in parts:
        out.write(b"$%d\r\n%s\r\n" % (len(p), p))
PY
after=$(used)
count=$("${cli[@]}" --scan --pattern "${prefix}*" | wc -l)
echo "keys written: $count (key example: ${prefix}${key_id}:<22-char nonce>, $(( ${#prefix} + ${#key_id} + 23 )) bytes)"
echo "used_memory before: $before, after: $after"
echo "bytes per live nonce: $(( (after - before) / count ))"
"${cli[@]}" --scan --pattern "${prefix}*" | xargs -r -n 1000 "${cli[@]}" DEL >/dev/null
echo "cleaned up: $("${cli[@]}" --scan --pattern "${prefix}*" | wc -l) keys left"
