#!/usr/bin/env bash
# Monitors at scale, against the lab (never the internet): N lab domains (default 10,000) on 20
# shared providers, each monitored hourly from a --monitors file by one `mxray serve`.
# Every monitor's first run is due at once, so one round is the work of one hour: the script
# measures the round's CPU time and the server's memory, the peak sessions per lab host (the
# providers' politeness), and how the next round's runs spread over the hour.
# Usage: bash bench/monitors/run.sh [N]   (MXRAY_BIN=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${1:-10000}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
BIN=${MXRAY_BIN:-}
if [ -z "$BIN" ]; then cargo build --release -q; BIN=$ROOT/target/release/mxray; fi
python3 bench/monitors/gen.py "$WORK" "$N"
ready() { for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "$2 did not start" >&2; exit 1; }

"$BIN" lab serve "$WORK/world.toml" --ready-file "$WORK/lab.json" --json > "$WORK/lab.out" 2>/dev/null &
LAB=$!
ready "$WORK/lab.json" "the lab"
jq -r .ca_pem "$WORK/lab.json" > "$WORK/ca.pem"
RES=$(jq -r .resolver "$WORK/lab.json"); PORT=$(jq -r .smtp_port "$WORK/lab.json")

KEY=$("$BIN" serve keys create --name bench --data "$WORK/data" | tail -n 1)
PER_PROVIDER=2
"$BIN" serve --listen 127.0.0.1:0 --data "$WORK/data" --monitors "$WORK/monitors.toml" \
  --resolver "$RES" --smtp-port "$PORT" --ca-file "$WORK/ca.pem" --allow-private 127.0.0.0/8 \
  --per-provider $PER_PROVIDER --connects-per-minute 6000 --monitor-concurrency 32 \
  2> "$WORK/serve.err" &
SERVE=$!
for _ in $(seq 600); do grep -q 'listening on' "$WORK/serve.err" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's/.*listening on http:\/\/\([^ ]*\).*/\1/p' "$WORK/serve.err")
t0=$(date +%s%3N)
TICK=$(getconf CLK_TCK)
cpu() { awk -v t="$TICK" '{ printf "%.1f", ($14 + $15) / t }' "/proc/$SERVE/stat"; }
while :; do
  curl -sf -H "Authorization: Bearer $KEY" "http://$ADDR/v1/monitors" > "$WORK/list.jsonl"
  done_runs=$(jq -s '[.[] | select(.last_run != null)] | length' "$WORK/list.jsonl")
  [ "$done_runs" -ge "$N" ] && break
  sleep 5
done
t1=$(date +%s%3N)
round_ms=$(( t1 - t0 ))
round_cpu=$(cpu)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$SERVE/status")
# The minute after: the next round has begun, spread over the hour (about N/60 runs a minute).
before_next=$(curl -sf -H "Authorization: Bearer $KEY" "http://$ADDR/v1/monitors" | jq -s '[.[] | .last_run.at] | max')
sleep 60
next_cpu=$(echo "$(cpu) - $round_cpu" | bc)
next_runs=$(curl -sf -H "Authorization: Bearer $KEY" "http://$ADDR/v1/monitors" | jq -s --argjson t "$before_next" '[.[] | select(.last_run.at > $t)] | length')
db=$(du -sk "$WORK/data" | cut -f1)
kill -USR1 $LAB; sleep 1
peak=$(grep '"smtp"' "$WORK/lab.out" | tail -n 1 | jq '[.smtp[] | .peak_concurrency] | max')
sessions=$(grep '"smtp"' "$WORK/lab.out" | tail -n 1 | jq '[.smtp[] | .connections] | add')
# The next round: monitors per minute of the hour.
spread=$(jq -s '[.[] | .next_run / 60 | floor] | group_by(.) | map(length) | [length, min, max] | @tsv' -r "$WORK/list.jsonl")
failing=$(jq -s '[.[] | select(.last_run.failing)] | length' "$WORK/list.jsonl")
echo "monitors: $N hourly, on 20 providers (20 ms per reply), --per-provider $PER_PROVIDER, --monitor-concurrency 32"
echo "one round (= one hour's work): ${round_ms} ms wall, ${round_cpu} s CPU (server), i.e. $(echo "scale=1; $round_cpu * 100 / 3600" | bc)% of one core per hour"
echo "the minute after, spread over the hour: ${next_runs} runs of the next round, ${next_cpu} s CPU"
echo "memory: peak RSS $(( hwm / 1024 )) MB, RSS after the round $(( rss / 1024 )) MB; data directory $(( db / 1024 )) MB"
echo "SMTP sessions: ${sessions} in all; peak simultaneous sessions at one lab host: ${peak} (budget ${PER_PROVIDER})"
echo "next round: minutes used, fewest and most runs per minute: ${spread}"
echo "monitors failing after the round: ${failing}"
