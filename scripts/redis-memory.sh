#!/usr/bin/env bash
# Measures the Redis memory one live nonce costs, as tower-hmac-redis stores it:
#   SET <prefix>{h<bucket>}<key-id>:<nonce> 1 NX PX <ttl>
# (<bucket>: FNV-1a 32 of "<key-id>:<nonce>" mod 1024, the hash tag shared with the bucket's
# horizon marker; the 1024 markers, ≈ 72 B each, are not counted).
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
def bucket(text):
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h % 1024
for _ in range(n):
    nonce = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    tag = "{h%d}" % bucket(f"{key_id}:{nonce}")
    parts = [b"SET", f"{prefix}{tag}{key_id}:{nonce}".encode(), b"1", b"NX", b"PX", b"600000"]
    out.write(b"*%d\r\n" % len(parts))
    for p in parts:
        out.write(b"$%d\r\n%s\r\n" % (len(p), p))
PY
after=$(used)
count=$("${cli[@]}" --scan --pattern "${prefix}*" | wc -l)
echo "keys written: $count (key example: ${prefix}{h<bucket>}${key_id}:<22-char nonce>, about $(( ${#prefix} + ${#key_id} + 29 )) bytes)"
echo "used_memory before: $before, after: $after"
echo "bytes per live nonce: $(( (after - before) / count ))"
"${cli[@]}" --scan --pattern "${prefix}*" | xargs -r -n 1000 "${cli[@]}" DEL >/dev/null
echo "cleaned up: $("${cli[@]}" --scan --pattern "${prefix}*" | wc -l) keys left"
