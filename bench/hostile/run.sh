#!/usr/bin/env bash
# Memory under hostile input (issue 11): peak RSS of
#  1. `mxray diagnose DOMAIN --only auth` against a lab SPF tree built to amplify lookups
#     (DNS queries counted by the lab, JSON size);
#  2. `mxray logs -` on a log of N never-finished deferred queue IDs (default 3,000,000).
# Against the lab on loopback only. MXRAY_BIN=path compares another build (an older commit).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
BIN=${MXRAY_BIN:-}
if [ -z "$BIN" ]; then cargo build --release -q; BIN=$ROOT/target/release/mxray; fi
N=${N:-3000000}

echo "== 1. amplifying SPF tree"
python3 bench/hostile/gen.py spf "$WORK"
"$BIN" lab serve "$WORK/amplify.toml" --ready-file "$WORK/lab.json" </dev/null >"$WORK/lab.log" 2>&1 &
LAB=$!
for _ in $(seq 200); do [ -s "$WORK/lab.json" ] && break; sleep 0.05; done
RES=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['resolver'])" "$WORK/lab.json")
/usr/bin/time -f "%e s, peak RSS %M KiB" "$BIN" diagnose amp.test --only auth --json \
  --resolver "$RES" >"$WORK/amp.json" 2>"$WORK/time1.txt" || true
kill -INT "$LAB"; wait "$LAB" 2>/dev/null || true
echo "diagnose: $(tail -1 "$WORK/time1.txt"); JSON $(wc -c <"$WORK/amp.json") bytes; lab $(grep -o 'dns: [0-9]* queries' "$WORK/lab.log")"

echo "== 2. $N never-finished deferrals"
python3 bench/hostile/gen.py log "$N" >"$WORK/open.log"
/usr/bin/time -f "%e s, peak RSS %M KiB" "$BIN" logs "$WORK/open.log" --json >"$WORK/logs.json" 2>"$WORK/time2.txt" || true
echo "logs: $(tail -1 "$WORK/time2.txt"); log $(wc -c <"$WORK/open.log") bytes"
python3 -c "import json,sys;p=json.load(open(sys.argv[1]))['pending'];print('pending: open', p['open'], 'evicted', p['evicted'])" "$WORK/logs.json"
