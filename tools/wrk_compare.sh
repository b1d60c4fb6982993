#!/usr/bin/env bash
# HTTP check throughput: cpra against one nginx on loopback, compared with wrk against the same
# nginx in the same run, fresh connection per request on both sides.
#
# Needs (installs nothing itself): nginx (Debian: nginx-light), wrk, and a release build of
# cpra and genmonitors (`cargo build --release`). On Debian, as root:
#   apt-get install -y nginx-light wrk
#
# Usage: tools/wrk_compare.sh [SECONDS]      (default 15 s per side)
#
# Setup: nginx runs one worker process (one core); the load generator gets the other core:
# wrk with one thread, cpra with one probe worker. wrk sends `Connection: close` so every
# request is a fresh connection, as cpra's checks are. cpra is offered more checks than it can
# do (monitors at a 1 s interval well above its capacity) and its achieved checks/s is read
# from its --summary. Prints both rates and the ratio cpra/wrk.
set -euo pipefail
secs=${1:-15}
root=$(cd "$(dirname "$0")/.." && pwd)
missing=()
for c in nginx wrk; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing+=("$c")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "wrk_compare: missing: ${missing[*]} (Debian: apt-get install -y nginx-light wrk)" >&2
  exit 2
fi
for b in cpra genmonitors; do
  if [ ! -x "$root/target/release/$b" ]; then
    echo "wrk_compare: build first: cargo build --release (missing target/release/$b)" >&2
    exit 2
  fi
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
work=$(mktemp -d /tmp/cpra-wrk-XXXXXX)
port=$((20000 + RANDOM % 9000))
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $work/error.log warn;
pid $work/nginx.pid;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_timeout 0;
  server {
    listen 127.0.0.1:$port reuseport backlog=16384;
    location /health { return 200 '{"status":"ok"}'; }
  }
}
EOF
taskset -c 0 "$nginx_bin" -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null || true; wait $nginx_pid 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1

echo "== wrk: 1 thread, 64 connections, Connection: close, ${secs}s"
wrk_out=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" -H 'Connection: close' "http://127.0.0.1:$port/health")
echo "$wrk_out" | grep -E "Requests/sec|Socket errors|requests in" || true
wrk_rps=$(echo "$wrk_out" | awk '/Requests\/sec/ {print $2}')

# cpra is a scheduler, not a blaster: it is offered a fixed rate (monitors at a 1 s interval).
# Offer 0.85x to 1.2x wrk's rate; count only checks that succeeded (a check that timed
# out because nginx's accept queue overflowed is not throughput). The best is cpra's rate.
best=0
for f in 0.85 0.95 1.05 1.2; do
  offer=$(awk -v r="$wrk_rps" -v f="$f" 'BEGIN { n = int(r * f); if (n < 1000) n = 1000; print n }')
  "$root/target/release/genmonitors" --count "$offer" --format json --interval 1s --timeout 1s \
    --port-base "$port" --log "" --out "$work/monitors.json"
  # Every monitor points at /t/ID; nginx answers /health only, so rewrite the path.
  sed -i "s#/t/[0-9]*#/health#" "$work/monitors.json"
  taskset -c 1 "$root/target/release/cpra" run "$work/monitors.json" --for "${secs}s" \
    --workers 1 --no-pin --summary "$work/summary.json" --status-every 1h >/dev/null 2>&1
  ok=$(python3 - "$work/summary.json" "$offer" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
r = s["results_by_reason"]
ok = r["ok"] / s["duration_s"]
others = {k: v for k, v in r.items() if v and k != "ok"}
print("== cpra offered %s/s: ok %.1f/s, other results %s, lateness p99 %.1f ms, skipped %d"
      % (sys.argv[2], ok, others, s["lateness_ms"]["p99"], s["skipped"]), file=sys.stderr)
print("%.1f" % ok)
PY
)
  best=$(awk -v a="$best" -v b="$ok" 'BEGIN { print (b > a) ? b : a }')
done
echo "wrk  requests/s:        $wrk_rps"
echo "cpra ok checks/s (best): $best"
awk -v c="$best" -v w="$wrk_rps" 'BEGIN { printf "ratio cpra/wrk: %.2f\n", c / w }'
