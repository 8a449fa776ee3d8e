#!/usr/bin/env bash
# Benchmarks for `mxray diagnose` against the lab (never the internet), by hand, as root:
#  1. one domain with two MX hosts and 50 ms injected per reply: wall time against its critical
#     path (the round trips one host needs, times 50 ms);
#  2. 500 domains (50 ms per reply) against checkdmarc from PyPI on the same lab, which needs
#     DNS on 127.0.0.1:53 and SMTP on port 25: hence root.
# Prints the figures and the ratios. Peers come from the registry, never from this repository.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# MXRAY_BIN=path/to/mxray skips the build.
BIN=${MXRAY_BIN:-}
if [ -z "$BIN" ]; then cargo build --release -q; BIN=$ROOT/target/release/mxray; fi
python3 bench/diagnose/gen.py "$WORK"

ready() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "lab did not start" >&2; exit 1; }
ms() { date +%s%3N; }

echo "== 1. critical path: one domain, two MX hosts, 50 ms per reply"
"$BIN" lab serve "$WORK/latency.toml" --ready-file "$WORK/lat.json" >/dev/null 2>&1 &
ready "$WORK/lat.json"
jq -r .ca_pem "$WORK/lat.json" > "$WORK/ca.pem"
RES=$(jq -r .resolver "$WORK/lat.json"); PORT=$(jq -r .smtp_port "$WORK/lat.json")
times=()
for _ in $(seq 11); do
  t0=$(ms)
  # Recipient side only: the path to the domain is what the critical path describes.
  "$BIN" diagnose two-mx.test --only dns,transport,tls --json --resolver "$RES" --smtp-port "$PORT" \
    --ca-file "$WORK/ca.pem" > "$WORK/one.json" || true
  times+=($(( $(ms) - t0 )))
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 6p)
# Round trips of one host: every server reply in its transcript (greeting included).
trips=$(jq '[.observations.hosts[0].addrs[0].transcript[] | select(test(" S: [0-9]{3} "))] | length' "$WORK/one.json")
critical=$(( trips * 50 ))
echo "runs (ms): ${times[*]}"
echo "median ${median} ms; critical path ${trips} replies x 50 ms = ${critical} ms; ratio $(echo "scale=2; $median / $critical" | bc)"
kill %1; wait %1 2>/dev/null || true

echo "== 2. 500 domains: mxray diagnose vs checkdmarc (same lab, DNS 127.0.0.1:53, SMTP port 25)"
if [ "$(id -u)" != 0 ]; then echo "skipped: needs root to bind ports 53 and 25"; exit 0; fi
python3 -m venv "$WORK/venv" >/dev/null && "$WORK/venv/bin/pip" install -q checkdmarc
"$BIN" lab serve "$WORK/bulk.toml" --smtp-port 25 --dns-addr 127.0.0.1:53 --ready-file "$WORK/bulk.json" >/dev/null 2>&1 &
ready "$WORK/bulk.json"
jq -r .ca_pem "$WORK/bulk.json" > "$WORK/bulk-ca.pem"
t0=$(ms)
"$BIN" diagnose --input "$WORK/domains.txt" --json --resolver 127.0.0.1:53 --smtp-port 25 \
  --ca-file "$WORK/bulk-ca.pem" --concurrency 64 --timeout 5s --only dns,transport,tls > "$WORK/mxray1.jsonl" || true
t_mx1=$(( $(ms) - t0 ))
t0=$(ms)
"$BIN" diagnose --input "$WORK/domains.txt" --json --resolver 127.0.0.1:53 --smtp-port 25 \
  --ca-file "$WORK/bulk-ca.pem" --concurrency 64 --timeout 5s > "$WORK/mxray.jsonl" || true
t_mx=$(( $(ms) - t0 ))
t0=$(ms)
"$WORK/venv/bin/checkdmarc" -n 127.0.0.1 --check-mx-tls -t 5 -f json "$WORK/domains.txt" > "$WORK/checkdmarc.json" 2>/dev/null || true
t_cd=$(( $(ms) - t0 ))
mx_done=$(wc -l < "$WORK/mxray.jsonl")
mx_problems=$(jq -s '[.[].findings[] | select(.severity == "fail" or .severity == "warn")] | length' "$WORK/mxray.jsonl")
mx_domains=$(jq -s '[.[] | select(any(.findings[]; .severity == "fail"))] | length' "$WORK/mxray.jsonl")
cd_problems=$(jq '[.. | objects | (.errors? // empty), (.warnings? // empty) | arrays | .[]] | length' "$WORK/checkdmarc.json")
echo "mxray, recipient side (part 1):   ${t_mx1} ms"
echo "mxray, full (part 1 + sender side): ${t_mx} ms for ${mx_done} domains; ${mx_problems} fail/warn findings; ${mx_domains} domains with a failure"
echo "checkdmarc: ${t_cd} ms; ${cd_problems} errors/warnings"
echo "ratio checkdmarc / mxray part 1: $(echo "scale=1; $t_cd / $t_mx1" | bc)x; checkdmarc / mxray full: $(echo "scale=1; $t_cd / $t_mx" | bc)x"
