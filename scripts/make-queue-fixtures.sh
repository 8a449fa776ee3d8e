#!/usr/bin/env bash
# Makes the real-MTA fixtures for `mxray queue`: installs Postfix from Debian (and unpacks Exim
# beside it: the two packages conflict), runs each inside `unshare --net --mount` against a lab
# world (tests/fixtures/queue/world.toml, served by `mxray lab serve`) whose servers defer
# (greylisting, a rate limit, a full mailbox, a 421 banner, a refused port) or reject, and saves
# the queue listings exactly as the MTAs print them to tests/fixtures/queue/.
#
# Usage (as root, on Debian): bash scripts/make-queue-fixtures.sh
#   MTAS="postfix exim" (the default) chooses which fixtures to make.
# Takes about half a minute: retries are set hours away, so the queue holds still once each
# message has been tried once. Traffic never leaves 127.0.0.0/8: the MTAs and the lab run in a
# network namespace whose only interface is loopback (so the DNS lookup for nosuch.invalid fails
# there: that is its deferral).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/tests/fixtures/queue
MTAS=${MTAS:-postfix exim}
want() { case " $MTAS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
[ "$(id -u)" = 0 ] || { echo "run as root (apt-get, network namespaces, the MTAs)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive TZ=UTC
WORK=$(mktemp -d /tmp/mxray-queue-fixtures.XXXXXX)
# The MTAs' own users walk into their queues: the directory must be traversable.
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
POSTFIX_VERSION=$(sed -n 's/^postfix //p' "$OUT/VERSIONS" 2>/dev/null || true)
EXIM_VERSION=$(sed -n 's/^exim //p' "$OUT/VERSIONS" 2>/dev/null || true)
TAKEN_POSTFIX=$(sed -n 's/^postfix-taken //p' "$OUT/VERSIONS" 2>/dev/null || true)
TAKEN_EXIM=$(sed -n 's/^exim-taken //p' "$OUT/VERSIONS" 2>/dev/null || true)

cargo build --quiet --bin mxray
MXRAY=$ROOT/target/debug/mxray
cp "$OUT/world.toml" "$WORK/world.toml"

# Runs "$@" in new network and mount namespaces: loopback only, private mounts.
inside() {
  unshare --net --mount -- bash -c 'ip link set lo up; exec "$@"' inside "$@"
}

# The message every submission sends; $1 names it.
message() { printf 'From: sender@queue.test\nSubject: queue fixture %s\n\nhello\n' "$1"; }

apt-get update -qq
if want postfix; then
  echo "==> postfix"
  if ! command -v postqueue >/dev/null; then
    # "No configuration": no system instance is set up or started; ours has its own files.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get install -y -qq postfix >/dev/null
  fi
  POSTFIX_VERSION=$(postconf -d -h mail_version)
  P=$WORK/postfix
  mkdir -p "$P/conf" "$P/spool" "$P/data"
  sed "s|@DIR@|$P|g" "$OUT/postfix-main.cf" > "$P/conf/main.cf"
  cp "$OUT/postfix-transport" "$P/transport"
  cp /usr/share/postfix/master.cf.dist "$P/conf/master.cf"
  postconf -c "$P/conf" -M# smtp/inet          # no SMTP listener: mail is submitted locally
  postconf -c "$P/conf" -F '*/*/chroot = n'
  chown postfix "$P/data"
  postfix -c "$P/conf" check
  cat > "$WORK/postfix-run.sh" <<EOF
set -e
cd "$WORK"
"$MXRAY" lab serve world.toml --smtp-port 2525 --ready-file lab.json > lab.out 2>&1 & L=\$!
postfix -c "$P/conf" start-fg > postfix.out 2>&1 &
# Whatever happens, stop what this script started.
trap 'postfix -c "$P/conf" stop >/dev/null 2>&1 || true; kill \$L 2>/dev/null || true; wait' EXIT
for _ in \$(seq 100); do [ -s lab.json ] && [ -S "$P/spool/public/pickup" ] && break; sleep 0.1; done
[ -s lab.json ] || { cat lab.out postfix.out >&2; exit 1; }
send() { message "\$1" | sendmail -C "$P/conf" -f sender@queue.test "\${@:2}"; }
$(declare -f message)
send 1 bob@greylist.test
send 2 carol@ratelimit.test
send 3 dave@refused.test
send 4 carol@accept.test
send 5 erin@busy.test
send 6 alice@accept.test heidi@greylist.test frank@refused.test
send 7 ivan@greylist.test
send 8 grace@greylist.test
send 9 nobody@nosuch.invalid
# Every recipient tried once (delivered, or deferred with its reason): the queue holds still.
for _ in \$(seq 300); do
  q=\$(postqueue -c "$P/conf" -j)
  m=\$(printf '%s\n' "\$q" | grep -c '"queue_id"' || true)
  n=\$(printf '%s\n' "\$q" | grep -o '"address"' | wc -l)
  r=\$(printf '%s\n' "\$q" | grep -o '"delay_reason"' | wc -l)
  [ "\$m" = 9 ] && [ "\$n" = "\$r" ] && break
  sleep 0.1
done
# One message held by the administrator.
id=\$(postqueue -c "$P/conf" -j | grep 'grace@greylist.test' | sed 's/.*"queue_id": "\([^"]*\)".*/\1/')
postsuper -c "$P/conf" -h "\$id"
postqueue -c "$P/conf" -j > "$OUT/postfix-debian12.json"
postqueue -c "$P/conf" -p > "$OUT/postfix-debian12-mailq.txt"
EOF
  inside bash "$WORK/postfix-run.sh"
  TAKEN_POSTFIX=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  echo "postfix $POSTFIX_VERSION: $(wc -l < "$OUT/postfix-debian12.json") messages"
fi

if want exim; then
  echo "==> exim"
  # Unpacked, not installed: exim4 and postfix are both the system MTA for dpkg. Its libraries
  # are installed; its user exists only inside the namespace (a bind-mounted passwd).
  mkdir -p "$WORK/debs" "$WORK/exim"
  (cd "$WORK/debs" && apt-get download exim4-daemon-light exim4-base 2>/dev/null)
  for d in "$WORK"/debs/*.deb; do dpkg -x "$d" "$WORK/exim"; done
  EXIM_VERSION=$(dpkg-deb -f "$WORK"/debs/exim4-daemon-light_*.deb Version)
  apt-get install -y -qq $(apt-cache depends exim4-daemon-light | awk '/Depends: lib/ {print $2}') >/dev/null
  E=$WORK/exim-run
  mkdir -p "$E/spool" "$E/log" "$E/bin"
  sed -e "s|@DIR@|$E|g" -e "s|@EXIM@|$WORK/exim/usr/sbin/exim4|g" "$OUT/exim.conf" > "$E/exim.conf"
  cp /etc/passwd "$E/passwd"; cp /etc/group "$E/group"
  echo "Debian-exim:x:$(id -u mail):$(id -g mail):Exim test:/nonexistent:/usr/sbin/nologin" >> "$E/passwd"
  echo "Debian-exim:x:$(id -g mail):" >> "$E/group"
  chown -R mail:mail "$E/spool" "$E/log"
  # `exim` and `exim_dumpdb` as the documented one-liner calls them, for this instance.
  printf '#!/bin/sh\nexec %s -C %s "$@"\n' "$WORK/exim/usr/sbin/exim4" "$E/exim.conf" > "$E/bin/exim"
  printf '#!/bin/sh\nexec %s "$@"\n' "$WORK/exim/usr/sbin/exim_dumpdb" > "$E/bin/exim_dumpdb"
  chmod +x "$E/bin/exim" "$E/bin/exim_dumpdb"
  cat > "$WORK/exim-run.sh" <<EOF
set -e
cd "$WORK"
mount --bind "$E/passwd" /etc/passwd
mount --bind "$E/group" /etc/group
export PATH="$E/bin:\$PATH"
"$MXRAY" lab serve world.toml --smtp-port 2525 --ready-file lab.json > lab.out 2>&1 & L=\$!
trap 'kill \$L 2>/dev/null || true; wait' EXIT
for _ in \$(seq 100); do [ -s lab.json ] && break; sleep 0.1; done
[ -s lab.json ] || { cat lab.out >&2; exit 1; }
send() { message "\$1" | exim -odi -f "\$2" "\${@:3}"; }
$(declare -f message)
send 1 sender@queue.test bob@greylist.test
send 2 sender@queue.test carol@ratelimit.test
send 3 sender@queue.test dave@refused.test
send 4 sender@queue.test carol@accept.test
send 5 sender@queue.test erin@busy.test
send 6 sender@queue.test alice@accept.test heidi@greylist.test frank@refused.test
send 7 sender@queue.test ivan@greylist.test
send 8 sender@queue.test nobody@nosuch.invalid
# Rejected, and its bounce rejected too: Exim freezes the bounce.
send 9 owner@reject.test nobody@reject.test
# The listing as docs/queue.md tells users to save it.
{ exim -bp; for id in \$(exim -bpr | awk '\$3 ~ /-/ {print \$3}'); do
    echo "==> exim -Mvh \$id"; exim -Mvh "\$id"; echo "==> exim -Mvl \$id"; exim -Mvl "\$id"; done
  echo "==> exim_dumpdb retry"; exim_dumpdb "$E/spool" retry; } > "$OUT/exim-debian12.txt"
EOF
  inside bash "$WORK/exim-run.sh"
  TAKEN_EXIM=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  echo "exim $EXIM_VERSION: $(grep -c '^ *[0-9]*[mhd] ' "$OUT/exim-debian12.txt") messages"
fi

printf 'postfix %s\nexim %s\npostfix-taken %s\nexim-taken %s\n' \
  "$POSTFIX_VERSION" "$EXIM_VERSION" "$TAKEN_POSTFIX" "$TAKEN_EXIM" > "$OUT/VERSIONS"
echo "==> fixtures in $OUT"
