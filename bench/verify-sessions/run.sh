#!/usr/bin/env bash
# `mxray verify` on one big domain: one session at a time (--sessions-per-domain 1, the
# engine's behaviour before several sessions per domain) against the provider budget's 4, and
# the same budget against a server that takes only 2 sessions per client. Wall time, and the
# peak simultaneous sessions and refusals the lab's own counters saw. Loopback only.
# Usage: bash bench/verify-sessions/run.sh [addresses (20000)] [latency per reply (50ms)]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-20000}
lat=${2:-50ms}
command -v jq >/dev/null || { echo "jq is missing: apt-get install jq" >&2; exit 1; }
if [ -z "${MXRAY_BIN:-}" ]; then cargo build --release --locked -q; fi
bin=${MXRAY_BIN:-$PWD/target/release/mxray}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# 95% of the addresses exist; every reply (banner included) comes after the latency.
real=$(( n * 95 / 100 ))
cat > "$work/world.toml" <<TOML
[lab]
name = "verify-sessions"
description = "one domain with $n addresses, $lat per reply"

[[domains]]
name = "huge.test"
mx = ["10 mx.huge.test"]

[[hosts]]
name = "mx.huge.test"
address = "127.0.30.1"
mailbox_ranges = [{ prefix = "user", count = $real }]
latency = "$lat"

[[domains]]
name = "capped.test"
mx = ["10 mx.capped.test"]

[[hosts]]
name = "mx.capped.test"
address = "127.0.30.2"
mailbox_ranges = [{ prefix = "user", count = $real }]
concurrency = { per_client = 2 }
latency = "$lat"
TOML
for d in huge capped; do
  seq 1 "$n" | sed "s/.*/user&@$d.test/" > "$work/$d.txt"
done

# One round: a fresh lab (fresh counters), one verify run, the lab's counters on exit.
round() {
  local name=$1 domain=$2; shift 2
  rm -f "$work/lab.json"
  "$bin" lab serve "$work/world.toml" --ready-file "$work/lab.json" > "$work/$name.lab" 2>&1 &
  local lab=$!
  until [ -s "$work/lab.json" ]; do sleep 0.05; done
  local t0; t0=$(date +%s%3N)
  "$bin" verify --input "$work/$domain.txt" --json --preflight-target "$domain.test" \
    --resolver "$(jq -r .resolver "$work/lab.json")" --smtp-port "$(jq -r .smtp_port "$work/lab.json")" \
    --per-provider 4 "$@" > "$work/$name.out" 2> "$work/$name.err" || true
  local ms=$(( $(date +%s%3N) - t0 ))
  kill -TERM $lab; wait $lab 2>/dev/null || true
  local line; line=$(grep "mx.$domain.test 127" "$work/$name.lab" | tail -1)
  local deliverable undeliverable other
  deliverable=$(jq -r 'select(.verdict=="deliverable") | .address' "$work/$name.out" | wc -l)
  undeliverable=$(jq -r 'select(.verdict=="undeliverable") | .address' "$work/$name.out" | wc -l)
  other=$(( n - deliverable - undeliverable ))
  printf '%-34s %8d ms  %s\n' "$name" "$ms" \
    "$(echo "$line" | grep -o '[0-9]* connections, peak [0-9]*, limited [0-9]*')"
  printf '%-34s %8s     %d deliverable (want %d), %d undeliverable (want %d), %d other\n' \
    "" "" "$deliverable" "$real" "$undeliverable" "$(( n - real ))" "$other"
  echo "$ms" > "$work/$name.ms"
}

echo "$n addresses on one domain, $lat per reply, budget 4 (--per-provider 4); $(nproc) cores"
round "one session (--sessions-per-domain 1)" huge --sessions-per-domain 1
round "budget 4 (default)" huge
round "budget 4, server caps 2 per client" capped
one=$(cat "$work/one session (--sessions-per-domain 1).ms")
four=$(cat "$work/budget 4 (default).ms")
capped=$(cat "$work/budget 4, server caps 2 per client.ms")
python3 -c "print(f'speed-up with budget 4: {$one/$four:.2f}x; against the capped server: {$one/$capped:.2f}x')"
