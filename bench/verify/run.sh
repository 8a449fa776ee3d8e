#!/usr/bin/env bash
# Benchmark `mxray verify` against Reacher's engine (check-if-email-exists from crates.io) on
# world.toml's bulk domains with 50 ms per reply: wall time, SMTP connections, peak sessions per
# host, and accuracy against the scenario's ground truth, in the same run. As root: the lab and
# both tools run inside a network namespace of our own, whose resolv.conf names the lab's DNS on
# 127.0.0.1:53 (Reacher reads only the system resolver configuration).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
NS=mxray-bench
WORK=$(mktemp -d)
cleanup() { ip netns pids $NS 2>/dev/null | xargs -r kill 2>/dev/null || true; ip netns del $NS 2>/dev/null || true; rm -rf /etc/netns/$NS "$WORK"; }
trap cleanup EXIT

# MXRAY_BIN=path/to/mxray skips building mxray.
MX=${MXRAY_BIN:-}
if [ -z "$MX" ]; then cargo build --release -q; MX=$ROOT/target/release/mxray; fi
(cd bench/verify/reacher && cargo build --release -q)
REACHER=$ROOT/bench/verify/reacher/target/release/reacher-bench
python3 bench/verify/make_world.py crates/lab/scenarios/world.toml "$WORK"

mkdir -p /etc/netns/$NS
echo "nameserver 127.0.0.1" > /etc/netns/$NS/resolv.conf
in_ns() { ip netns exec $NS "$@"; }

# A fresh namespace (so no socket of the previous round lingers on ports 25 and 53) and a
# fresh lab (fresh counters); runs one tool, stops the lab and keeps its counters.
round() {
  local name=$1; shift
  ip netns del $NS 2>/dev/null || true
  ip netns add $NS
  ip netns exec $NS ip link set lo up
  rm -f "$WORK/ready.json"
  # Not through in_ns: $! must be the lab itself, so that SIGTERM reaches it.
  ip netns exec $NS "$MX" lab serve "$WORK/world50.toml" --dns-addr 127.0.0.1:53 --smtp-port 25 \
    --ready-file "$WORK/ready.json" > "$WORK/$name.lab" 2>/dev/null &
  local lab=$!
  for _ in $(seq 200); do [ -s "$WORK/ready.json" ] && break; sleep 0.05; done
  local t0; t0=$(date +%s%3N)
  in_ns "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || true
  echo $(( $(date +%s%3N) - t0 )) > "$WORK/$name.ms"
  kill -TERM $lab; wait $lab 2>/dev/null || true
}

round mxray "$MX" verify --input "$WORK/addresses.txt" --json --resolver 127.0.0.1:53 --smtp-port 25 \
  --greylist-retry 6s --deadline 40s --greeting-wait 5s
round reacher "$REACHER" "$WORK/addresses.txt" 25 32

python3 - "$WORK" <<'PY'
import json, re, sys
w = sys.argv[1]
truth = json.load(open(f"{w}/truth.json"))
def lab_counters(name):
    text = open(f"{w}/{name}.lab").read()
    pairs = re.findall(r"(\d+) connections, peak (\d+)", text)
    conns = sum(int(c) for c, _ in pairs)
    peaks = [int(p) for _, p in pairs]
    return conns, max(peaks or [0])
def accuracy(results, verdict_of):
    right = sum(1 for a, want in truth.items() if verdict_of(results.get(a)) == want)
    return right, len(truth)
mx = {}
for line in open(f"{w}/mxray.out"):
    v = json.loads(line); mx[v["address"]] = v["verdict"]
rc = {}
for line in open(f"{w}/reacher.out"):
    v = json.loads(line)
    rc[v["address"]] = {"safe": "deliverable", "invalid": "undeliverable"}.get(v["is_reachable"], v["is_reachable"])
wrong = lambda res: sorted(a for a, want in truth.items() if res.get(a) != want)
for name, res in [("mxray", mx), ("reacher", rc)]:
    bad = wrong(res)
    print(f"{name} wrong ({len(bad)}): " + ", ".join(f"{a}={res.get(a)} (truth {truth[a]})" for a in bad[:30]))
for name, res, f in [("mxray", mx, lambda v: v), ("reacher", rc, lambda v: v)]:
    ms = int(open(f"{w}/{name}.ms").read())
    conns, peak = lab_counters(name)
    right, total = accuracy(res, f)
    print(f"{name:8} {ms:>8} ms  {conns:>6} SMTP connections  peak {peak} per host/client  {right}/{total} correct")
PY
