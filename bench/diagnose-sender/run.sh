#!/usr/bin/env bash
# Sender-side `mxray diagnose` with 50 ms per DNS query, against the lab (never the internet):
#  1. wall time of `--only auth,reputation` for one domain, against the longest dependency chain
#     of lookups its records imply (gen.py computes it) x 50 ms; the goal is at most 1.5x;
#  2. checkdmarc (PyPI) on the same zones through the same proxy in the same run: findings, time.
# The latency comes from proxy.py in front of the lab DNS on 127.0.0.153:53 (checkdmarc's -n
# takes an IP only, port 53): run as root. Usage: bench/diagnose-sender/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/bench/diagnose-sender
RUNS=${1:-7}
DELAY=50
PROXY_IP=127.0.0.153
WORK=$(mktemp -d)
cleanup() { for p in ${PIDS:-}; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then echo "needs root: the proxy binds ${PROXY_IP}:53 for checkdmarc" >&2; exit 2; fi
# MXRAY_BIN=path/to/mxray skips the build.
BIN=${MXRAY_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release -q --bin mxray
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/mxray
fi
CHECKDMARC=${CHECKDMARC:-}
if [ -z "$CHECKDMARC" ]; then
  python3 -m venv "$WORK/venv" >/dev/null && "$WORK/venv/bin/pip" install -q checkdmarc
  CHECKDMARC=$WORK/venv/bin/checkdmarc
fi
python3 "$HERE/gen.py" "$WORK" > /dev/null

ready() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "did not start: $1" >&2; exit 1; }
ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

"$BIN" lab serve "$WORK/sender.toml" --ready-file "$WORK/lab.json" >/dev/null 2>&1 &
PIDS="$!"
ready "$WORK/lab.json"
LAB=$(jq -r .resolver "$WORK/lab.json")
python3 "$HERE/proxy.py" "$PROXY_IP:53" "$LAB" "$DELAY" "$WORK/queries" > "$WORK/proxy.out" &
PROXY=$!
PIDS="$PIDS $PROXY"
ready "$WORK/proxy.out"

mxray() { "$BIN" diagnose "$1" --only auth,reputation --json --resolver "$PROXY_IP:53" \
  --dnsbl-file "$WORK/dnsbl.txt" --timeout 5s > "$2" || true; }

echo "== lab DNS $LAB behind $PROXY_IP:53 (+${DELAY} ms per query); $("$BIN" --version)"
for D in sender.test broken.test; do
  chain=$(jq ".\"$D\".longest" "$WORK/chain.json")
  mx_t=(); in_t=(); cd_t=()
  for i in $(seq "$RUNS"); do
    t0=$(ms); mxray "$D" "$WORK/mx-$D.json"; mx_t+=($(( $(ms) - t0 )))
    in_t+=($(jq '.observations.sender.elapsed_ms // .sender.elapsed_ms // 0' "$WORK/mx-$D.json"))
    t0=$(ms)
    "$CHECKDMARC" -n "$PROXY_IP" -t 5 -f json "$D" > "$WORK/cd-$D.json" 2>"$WORK/cd-$D.err" || true
    cd_t+=($(( $(ms) - t0 )))
  done
  m_mx=$(printf '%s\n' "${mx_t[@]}" | median)
  m_in=$(printf '%s\n' "${in_t[@]}" | median)
  m_cd=$(printf '%s\n' "${cd_t[@]}" | median)
  crit=$(( chain * DELAY ))
  echo
  echo "== $D: longest chain $chain lookups x ${DELAY} ms = ${crit} ms ($(jq -c ".\"$D\".parts" "$WORK/chain.json"))"
  echo "mxray      runs (ms): ${mx_t[*]}; median ${m_mx} ms (sender collection inside: ${m_in} ms); ratio $(echo "scale=2; $m_mx / $crit" | bc) (limit 1.50)"
  echo "checkdmarc runs (ms): ${cd_t[*]}; median ${m_cd} ms; ratio $(echo "scale=2; $m_cd / $crit" | bc)"
  echo "mxray findings (warn/fail):"
  jq -r '.findings[] | select(.severity == "fail" or .severity == "warn") | "  \(.severity) \(.id): \(.title)"' "$WORK/mx-$D.json"
  echo "checkdmarc findings:"
  jq -r '(if type == "array" then .[0] else . end) as $r
    | ["spf", "dmarc", "mx", "bimi", "mta_sts", "smtp_tls_reporting", "dnssec"][] as $k
    | ($r[$k] // empty) as $v
    | if ($v | type) == "object" then
        "  \($k): valid=\($v.valid // "-")"
        + (if $v.dns_lookups then " lookups=\($v.dns_lookups)" else "" end)
        + (if $v.dns_void_lookups then " void=\($v.dns_void_lookups)" else "" end)
        + (if $v.error then " error=\($v.error)" else "" end)
        + (if ($v.warnings // []) | length > 0 then " warnings=\($v.warnings)" else "" end)
      else "  \($k): \($v)" end' "$WORK/cd-$D.json" || cat "$WORK/cd-$D.json"
done
kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
echo
echo "queries through the proxy (all runs, both tools): $(cat "$WORK/queries" 2>/dev/null || echo '?')"
