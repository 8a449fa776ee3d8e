#!/usr/bin/env bash
# `mxray explain --json` on an mbox of N real bounce messages (default 100,000), cycled from
# Sisimai's BSD-licensed samples in crates/bounce/tests/data, against Sisimai 4.25 (Debian's
# libsisimai-perl) on the same file, both measured with GNU time -v: wall seconds, CPU seconds,
# messages/s, peak RSS. Local files only; nothing is fetched at run time.
# Usage: bash bench/bounce/run.sh [N]
#   KEEP=1 keeps the work directory (the mbox and the run's files);
#   MXRAY_BIN=path measures that binary instead of building target/release/mxray.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${1:-100000}
case $N in '' | *[!0-9]* | 0) echo "usage: bench/bounce/run.sh [N>0]" >&2; exit 2 ;; esac
SAMPLES=$ROOT/crates/bounce/tests/data/sisimai/samples/maildir/bsd

need() { # need COMMAND-TEST PACKAGE
  if ! eval "$1" >/dev/null 2>&1; then
    echo "run.sh: missing $2: apt-get install -y $2" >&2
    exit 1
  fi
}
need '[ -x /usr/bin/time ] && /usr/bin/time -v true' time
need 'command -v python3' python3
need 'perl -MSisimai -e 1' libsisimai-perl
# Without JSON::XS, JSON.pm falls back to pure Perl: Sisimai's JSON would be the slow part.
need 'perl -MJSON::XS -e 1' libjson-xs-perl
compgen -G "$SAMPLES/*.eml" >/dev/null || { echo "run.sh: no samples in $SAMPLES" >&2; exit 1; }

BIN=${MXRAY_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --locked -q
  BIN=$ROOT/target/release/mxray
  BUILT="mxray $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates src Cargo.toml Cargo.lock || echo ' + uncommitted changes')"
else
  BUILT="MXRAY_BIN=$BIN"
fi
[ -x "$BIN" ] || { echo "run.sh: $BIN is not an executable" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mxray-bounce-bench.XXXXXX")
cleanup() { if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
MBOX=$WORK/bounces.mbox

python3 bench/bounce/gen.py "$SAMPLES" "$N" "$MBOX"
got=$(grep -c '^From ' "$MBOX" || true)
[ "$got" = "$N" ] || { echo "run.sh: the mbox has $got From lines, expected $N" >&2; exit 1; }
BYTES=$(stat -c %s "$MBOX")
cat "$MBOX" >/dev/null # into the page cache: neither tool pays for the disk

echo "$BUILT, $("$BIN" --version 2>/dev/null | head -1)"
echo "Sisimai $(perl -MSisimai -e 'print Sisimai->version'), perl $(perl -e 'print substr($^V, 1)'), JSON::XS $(perl -MJSON::XS -e 'print $JSON::XS::VERSION')"
echo "$(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'input: %d messages (%d samples cycled), %.1f MB\n\n' "$N" \
  "$(compgen -G "$SAMPLES/*.eml" | wc -l)" "$(echo "$BYTES" | awk '{print $1 / 1e6}')"

# measure NAME COUNT-MODE COMMAND...: runs COMMAND > $WORK/NAME.out under /usr/bin/time -v and
# appends "NAME results wall cpu rss_kib" to $WORK/rows. COUNT-MODE: lines (JSON Lines) or array.
: >"$WORK/rows"
measure() {
  local name=$1 count=$2
  shift 2
  if ! /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
    echo "run.sh: $name failed:" >&2
    tail -n 20 "$WORK/$name.err" "$WORK/$name.time" >&2
    exit 1
  fi
  local results
  if [ "$count" = lines ]; then
    results=$(wc -l <"$WORK/$name.out")
  else
    results=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/$name.out")
  fi
  awk -v name="$name" -v results="$results" -F': ' '
    /User time/ { cpu += $2 }
    /System time/ { cpu += $2 }
    /Elapsed \(wall clock\)/ {
      n = split($2, p, ":"); wall = 0
      for (i = 1; i <= n; i++) wall = wall * 60 + p[i]
    }
    /Maximum resident set size/ { rss = $2 }
    END { print name, results, wall, cpu, rss }
  ' "$WORK/$name.time" >>"$WORK/rows"
  rm -f "$WORK/$name.out" # the outputs are large; the counts are kept
}

measure mxray lines "$BIN" explain --json "$MBOX"
measure sisimai-stream lines perl bench/bounce/sisimai.pl stream "$MBOX"
measure sisimai-dump array perl bench/bounce/sisimai.pl dump "$MBOX"

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk -v n="$N" -v bytes="$BYTES" '
  BEGIN {
    label["mxray"] = "mxray explain --json FILE"
    label["sisimai-stream"] = "Sisimai, streamed (Mail->read, Message->new, Data->make)"
    label["sisimai-dump"] = "Sisimai->dump(FILE)"
    printf "| tool | messages | result lines | wall s | CPU s | messages/s | peak RSS MB | input MB |\n"
    printf "|---|---:|---:|---:|---:|---:|---:|---:|\n"
  }
  {
    rate[$1] = n / $3; rss[$1] = $5 / 1024
    printf "| %s | %d | %d | %.2f | %.2f | %.0f | %.1f | %.1f |\n", label[$1], n, $2, $3, $4, rate[$1], rss[$1], bytes / 1e6
  }
  END {
    print ""
    for (p = 0; p < 2; p++) {
      peer = p ? "sisimai-dump" : "sisimai-stream"
      printf "mxray / %s: %.2fx the messages/s, %.2fx the peak RSS\n", label[peer], rate["mxray"] / rate[peer], rss["mxray"] / rss[peer]
    }
  }
' "$WORK/rows"
