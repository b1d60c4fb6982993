#!/usr/bin/env bash
# HTTPS check throughput: cpra against one nginx with a test certificate on loopback, compared
# with wrk over TLS against the same nginx in the same run, with fresh connections (a full TLS
# handshake per request) and with keep-alive.
#
# Needs (installs nothing itself): nginx (Debian: nginx-light, built with ssl), wrk, openssl,
# python3, /usr/bin/time, and a release build (`cargo build --release`). On Debian, as root:
#   apt-get install -y nginx-light wrk openssl time
#
# Usage: tools/wrk_compare_tls.sh [SECONDS]      (default 10 s per measurement)
#
# nginx runs one worker on core 0; wrk (1 thread, 64 connections) and cpra (one probe worker)
# run on core 1. cpra is offered fractions of wrk's rate as monitors at a 1 s interval,
# with insecure_skip_verify (the certificate is self-signed; the handshake is still complete),
# and only successful checks count.
set -euo pipefail
secs=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
missing=()
for c in nginx wrk openssl python3; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing+=("$c")
done
[ -x /usr/bin/time ] || missing+=(/usr/bin/time)
if [ ${#missing[@]} -gt 0 ]; then
  echo "wrk_compare_tls: missing: ${missing[*]} (Debian: apt-get install -y nginx-light wrk openssl time)" >&2
  exit 2
fi
for b in cpra genmonitors; do
  [ -x "$root/target/release/$b" ] || { echo "wrk_compare_tls: build first: cargo build --release" >&2; exit 2; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
work=$(mktemp -d /tmp/cpra-wrk-tls-XXXXXX)
port=$((20000 + RANDOM % 9000))
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
cat >"$work/nginx.conf" <<EOC
worker_processes 1;
daemon off;
error_log $work/error.log warn;
pid $work/nginx.pid;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port ssl reuseport backlog=16384;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_session_cache off;
    ssl_session_tickets off;
    location /health { return 200 '{"status":"ok"}'; }
  }
}
EOC
taskset -c 0 "$nginx_bin" -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null || true; wait $nginx_pid 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1

measure() { # $1 = fresh|keepalive
  local mode=$1 hdr=() wrk_rps best=0
  [ "$mode" = fresh ] && hdr=(-H 'Connection: close')
  /usr/bin/time -f "%U %S" -o "$work/wrk.cpu" taskset -c 1 wrk -t1 -c64 -d"${secs}s" "${hdr[@]}" \
    "https://127.0.0.1:$port/health" >"$work/wrk.out"
  wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  wrk_cpu=$(awk -v r="$wrk_rps" -v s="$secs" 'NR == 1 { printf "%.1f", ($1 + $2) * 1e6 / (r * s) }' "$work/wrk.cpu")
  echo "== $mode: wrk requests/s: $wrk_rps (CPU per request: $wrk_cpu us)"
  for f in $2; do
    offer=$(awk -v r="$wrk_rps" -v f="$f" 'BEGIN { n = int(r * f); if (n < 500) n = 500; print n }')
    "$root/target/release/genmonitors" --count "$offer" --format json --interval 1s --timeout 1s \
      --port-base "$port" --log "" --out "$work/monitors.json"
    extra='"insecure_skip_verify":true,'
    [ "$mode" = keepalive ] && extra="$extra\"keepalive\":true,"
    sed -i "s#\"url\":\"http://\([^/]*\)/t/[0-9]*\"#${extra}\"url\":\"https://\1/health\"#" "$work/monitors.json"
    /usr/bin/time -f "%U %S" -o "$work/cpra.cpu" taskset -c 1 "$root/target/release/cpra" run \
      "$work/monitors.json" --for "${secs}s" \
      --workers 1 --no-pin --summary "$work/summary.json" --status-every 1h >/dev/null 2>&1
    ok=$(python3 - "$work/summary.json" "$offer" "$work/cpra.cpu" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
r = s["results_by_reason"]
ok = r["ok"] / s["duration_s"]
others = {k: v for k, v in r.items() if v and k != "ok"}
user, system = map(float, open(sys.argv[3]).read().split()[:2])
checks = max(sum(r.values()), 1)
# CPU per check over the whole process life, start-up and config load included.
print("   cpra offered %s/s: ok %.1f/s, other %s, lateness p99 %.1f ms, CPU per check %.1f us"
      % (sys.argv[2], ok, others, s["lateness_ms"]["p99"], (user + system) * 1e6 / checks),
      file=sys.stderr)
print("%.1f" % ok)
PY
)
    best=$(awk -v a="$best" -v b="$ok" 'BEGIN { print (b > a) ? b : a }')
  done
  awk -v c="$best" -v w="$wrk_rps" -v m="$mode" 'BEGIN { printf "== %s: cpra best ok checks/s %.1f, ratio cpra/wrk %.2f\n", m, c, c / w }'
}
[ "${FRESH:-1}" = 1 ] && measure fresh "0.85 1.0 1.2"
# Keep-alive requests are cheap for both sides: cpra, scheduling each check, tops out below
# wrk's raw request loop, so it is offered a wider range.
measure keepalive "${KA_FACTORS:-0.25 0.35 0.45 0.55 0.65}"
