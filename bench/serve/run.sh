#!/usr/bin/env bash
# Load on `mxray serve` with wrk (Debian's package), against a lab world on loopback:
#   1. POST /v1/explain: requests/s and latency percentiles;
#   2. POST /v1/verify in real time, 100 connections over 100 distinct addresses of 20 domains
#      whose MX hosts answer after a 50 ms round trip: latency against the critical path.
# Loopback only; nothing leaves the machine. Usage: bash bench/serve/run.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is missing: apt-get install jq" >&2; exit 1; }
cargo build --release --locked -q
bin=$PWD/target/release/mxray
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# 20 domains, one MX host each with a 50 ms round trip, 5 mailboxes per domain.
{
  echo '[lab]'; echo 'name = "serve-bench"'; echo 'description = "20 domains, 50 ms RTT"'
  for d in $(seq 0 19); do
    echo; echo '[[domains]]'; echo "name = \"d$d.test\""; echo "mx = [\"10 mx.d$d.test\"]"
    echo; echo '[[hosts]]'; echo "name = \"mx.d$d.test\""; echo "address = \"127.0.9.$((d + 1))\""
    echo 'mailboxes = ["user0", "user1", "user2", "user3", "user4"]'; echo 'latency = "50ms"'
  done
} > "$work/world.toml"
"$bin" lab serve "$work/world.toml" --ready-file "$work/lab.json" 2>/dev/null &
until [ -s "$work/lab.json" ]; do sleep 0.1; done
jq -r .ca_pem "$work/lab.json" > "$work/ca.pem"
KEY=$("$bin" serve keys create --name bench --data "$work/data" | tail -n 1)
export KEY
"$bin" serve --listen 127.0.0.1:0 --data "$work/data" --allow-private 127.0.0.0/8 \
  --resolver "$(jq -r .resolver "$work/lab.json")" --smtp-port "$(jq -r .smtp_port "$work/lab.json")" \
  --ca-file "$work/ca.pem" --key-rate 100000 --key-concurrency 1000 --per-provider 8 \
  --connects-per-minute "${CPM:-60}" \
  2> "$work/serve.err" &
until grep -q "listening on" "$work/serve.err" 2>/dev/null; do sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/serve.err" | head -1)
echo "mxray serve at $url; $(nproc) cores"

cat > "$work/explain.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "421 4.4.2 Connection closed by the server"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
LUA
echo; echo "== POST /v1/explain, 2 threads, 32 connections, ${secs}s"
wrk -t2 -c32 -d"${secs}s" --latency -s "$work/explain.lua" "$url/v1/explain" | grep -E "Requests/sec|50%|90%|99%|Non-2xx"

cat > "$work/verify.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"address": "user%d@d%d.test", "deadline": "10s"}', n % 5, n % 20)
  return wrk.format("POST", "/v1/verify", {
    ["Authorization"] = "Bearer " .. os.getenv("KEY"),
    ["Content-Type"] = "application/json",
  }, body)
end
LUA
echo; echo "== POST /v1/verify, 100 connections, 100 addresses of 20 domains, 50 ms RTT, ${secs}s, --connects-per-minute ${CPM:-60}"
echo "   critical path of one verification: 6 replies (greeting, EHLO, MAIL, RCPT, catch-all RCPT, QUIT), each 50 ms late = 300 ms"
wrk -t2 -c100 -d"${secs}s" --timeout 15s --latency -s "$work/verify.lua" "$url/v1/verify" | grep -E "Requests/sec|50%|90%|99%|Non-2xx|Socket errors"
echo; echo "serve's peak memory (VmHWM): $(grep VmHWM /proc/$(pgrep -f "mxray serve --listen 127.0.0.1:0 --data $work/data" | head -1)/status | awk '{print $2, $3}')"

# 3. A 1 GB log upload (LOG_GB=1 to run it): spooled to the data directory, read in one pass.
if [ -n "${LOG_GB:-}" ]; then
  python3 - "$work/big.log" "$LOG_GB" <<'PY'
import sys
src = open("tests/fixtures/logs/postfix-debian12.log", "rb").read()
want = int(float(sys.argv[2]) * (1 << 30))
with open(sys.argv[1], "wb") as f:
    written = 0
    while written < want:
        f.write(src)
        written += len(src)
PY
  echo; echo "== POST /v1/logs, $(du -h "$work/big.log" | cut -f1)"
  pid=$(pgrep -f "mxray serve --listen 127.0.0.1:0 --data $work/data" | head -1)
  # -T streams the file (--data-binary would read it whole into curl first).
  curl -s -X POST -T "$work/big.log" -o "$work/report.json" -w "%{http_code} in %{time_total}s\n" \
    -H "Authorization: Bearer $KEY" -H "Content-Type: text/plain" "$url/v1/logs?year=2026"
  echo "deferrals counted: $(jq .totals.deferrals "$work/report.json")"
  echo "serve's peak memory (VmHWM) after the upload: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"
fi
