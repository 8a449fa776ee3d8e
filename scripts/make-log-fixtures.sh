#!/usr/bin/env bash
# Makes the real-MTA fixtures for `mxray logs`: installs Postfix, then Exim, from Debian, runs each
# on loopback inside a private network namespace, sends mail that is delivered, deferred
# (connection refused, a greylisting server, a 421-answering server, an unresolvable domain),
# bounced and expired, and copies the exact log lines to tests/fixtures/logs/.
#
# Usage (as root, on Debian): bash scripts/make-log-fixtures.sh [--keep-packages]
#   MTAS="postfix exim" (the default) chooses which fixtures to make.
# Takes about eight minutes (it waits for retries and queue expiry). Traffic never leaves
# 127.0.0.0/8: everything runs in `unshare --net`, whose only interface is loopback, so even a DNS
# lookup for the unresolvable domain cannot leave the machine (it fails: that is the deferral).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/tests/fixtures/logs
WORK=$(mktemp -d /tmp/mxray-fixtures.XXXXXX)
KEEP=${1:-}
MTAS=${MTAS:-postfix exim}
want() { case " $MTAS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
POSTFIX_VERSION=$(sed -n 's/^postfix //p' "$OUT/VERSIONS" 2>/dev/null || true)
EXIM_VERSION=$(sed -n 's/^exim //p' "$OUT/VERSIONS" 2>/dev/null || true)
mkdir -p "$OUT"

[ "$(id -u)" = 0 ] || { echo "run as root (apt-get, daemons on port 25)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# The lab side: a small asyncio SMTP responder, one behaviour per loopback address, port 2525.
#   127.0.0.2 greylist: 450 4.2.0 for the first two tries of each recipient, then accepts
#   127.0.0.3 ratelimit: 421-4.7.0 multi-line reply to every RCPT (deferred until expiry)
#   127.0.0.4 nothing listens: connection refused
#   127.0.0.5 accept: 250, but 550 5.1.1 for local parts starting with "nouser"
cat > "$WORK/responder.py" <<'PY'
import asyncio, sys
seen = {}
async def session(reader, writer, kind):
    def send(s):
        writer.write(s.encode() + b"\r\n")
    send("220 lab.fixture.test ESMTP lab responder")
    rcpt = None
    while True:
        try:
            line = await asyncio.wait_for(reader.readline(), 30)
        except asyncio.TimeoutError:
            break
        if not line:
            break
        cmd = line.decode("latin-1").strip()
        up = cmd.upper()
        if up.startswith(("EHLO", "HELO")):
            send("250-lab.fixture.test\r\n250-PIPELINING\r\n250 8BITMIME")
        elif up.startswith("MAIL"):
            send("250 2.1.0 Ok")
        elif up.startswith("RCPT"):
            rcpt = cmd.split(":", 1)[1].strip().strip("<>").split(">")[0]
            if kind == "greylist":
                seen[rcpt] = seen.get(rcpt, 0) + 1
                if seen[rcpt] <= 2:
                    send(f"450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/fixture.test.html")
                else:
                    send("250 2.1.5 Ok")
            elif kind == "ratelimit":
                send("421-4.7.0 [127.0.0.1      15] Our system has detected an unusual rate of\r\n"
                     "421-4.7.0 unsolicited mail originating from your IP address. To protect our\r\n"
                     "421 4.7.0 users from spam, mail sent from your IP address has been temporarily rate limited.")
                await writer.drain()
                break
            elif rcpt.startswith("nouser"):
                send(f"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table")
            else:
                send("250 2.1.5 Ok")
        elif up == "DATA":
            send("354 End data with <CR><LF>.<CR><LF>")
            await writer.drain()
            while True:
                l = await reader.readline()
                if not l or l in (b".\r\n", b".\n"):
                    break
            send("250 2.0.0 Ok: queued as 4Xlab1234Z")
        elif up in ("RSET", "NOOP"):
            send("250 2.0.0 Ok")
        elif up == "QUIT":
            send("221 2.0.0 Bye")
            await writer.drain()
            break
        else:
            send("502 5.5.2 Error: command not recognized")
        await writer.drain()
    writer.close()

async def main():
    servers = []
    for ip, kind in (("127.0.0.2", "greylist"), ("127.0.0.3", "ratelimit"), ("127.0.0.5", "accept")):
        servers.append(await asyncio.start_server(lambda r, w, k=kind: session(r, w, k), ip, 2525))
    await asyncio.sleep(float(sys.argv[1]))
asyncio.run(main())
PY

# Mail to send: delivered, deferred (greylisted then delivered; rate limited until expiry;
# connection refused; unresolvable), bounced (remote 550, unknown local user), relay reject.
cat > "$WORK/send.py" <<'PY'
import smtplib, sys, time
msg = "From: {f}\r\nTo: {t}\r\nSubject: fixture {n}\r\nMessage-ID: <fixture-{n}@client.fixture.test>\r\n\r\nhello\r\n"
rcpts = ["alice@accept.test", "bob@greylist.test", "carol@ratelimit.test", "dave@refused.test",
         "erin@nosuch.invalid", "nouser1@accept.test", "nosuchuser@localhost", "root@localhost",
         "frank@accept.test"]
with smtplib.SMTP("127.0.0.1", 25, local_hostname="client.fixture.test") as s:
    for n, r in enumerate(rcpts):
        try:
            s.sendmail("sender@client.fixture.test", [r], msg.format(f="sender@client.fixture.test", t=r, n=n))
        except smtplib.SMTPRecipientsRefused:
            pass  # Postfix refuses the unresolvable domain at RCPT: a reject line, kept.
    # Two recipients in one message: one delivered, one greylisted.
    s.sendmail("sender@client.fixture.test", ["grace@accept.test", "heidi@greylist.test"],
               msg.format(f="sender@client.fixture.test", t="grace, heidi", n=99))
    # A relay attempt the server must refuse before queueing.
    try:
        s.sendmail("spammer@elsewhere.example", ["victim@elsewhere.example"], msg.format(f="x", t="y", n=100))
    except smtplib.SMTPRecipientsRefused:
        pass
PY

inside() {
  # Runs "$@" in a new network + mount namespace: loopback only.
  unshare --net --mount -- bash -c 'ip link set lo up; exec "$@"' inside "$@"
}

apt-get update -qq
if want postfix; then
echo "==> postfix"
echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
echo "postfix postfix/mailname string mail.fixture.test" | debconf-set-selections
apt-get install -y -qq postfix >/dev/null
postfix stop >/dev/null 2>&1 || true
POSTFIX_VERSION=$(postconf -h mail_version)
cp /etc/postfix/main.cf "$WORK/main.cf.orig"
postconf -e \
  "myhostname = mail.fixture.test" "mydomain = fixture.test" "myorigin = fixture.test" \
  "mydestination = localhost, mail.fixture.test" "inet_interfaces = 127.0.0.1" "inet_protocols = ipv4" \
  "mynetworks = 127.0.0.0/8" "relay_domains = accept.test, greylist.test, ratelimit.test, refused.test, nosuch.invalid" \
  "transport_maps = hash:/etc/postfix/fixture_transport" "maillog_file = /var/log/postfix-fixture.log" \
  "queue_run_delay = 10s" "minimal_backoff_time = 10s" "maximal_backoff_time = 20s" \
  "maximal_queue_lifetime = 100s" "bounce_queue_lifetime = 100s" "delay_warning_time = 0" \
  "smtp_connect_timeout = 5s" "alias_maps = hash:/etc/aliases" "compatibility_level = 3.6" \
  "default_transport = smtp" "relay_transport = relay"
# ("Local only" sets both transports to `error`; the lab needs real deliveries.)
# Relay only to the lab domains, even from loopback, so the relay attempt is rejected.
postconf -e "smtpd_relay_restrictions = permit_auth_destination, reject_unauth_destination"
postconf -F '*/*/chroot = n'
# maillog_file needs postlogd (master.cf has it since 3.4; add it if this one does not).
postconf -M postlog/unix-dgram 2>/dev/null | grep -q postlogd || \
  postconf -Me 'postlog/unix-dgram = postlog unix-dgram n - n - 1 postlogd'
cat > /etc/postfix/fixture_transport <<'EOF'
greylist.test   smtp:[127.0.0.2]:2525
ratelimit.test  smtp:[127.0.0.3]:2525
refused.test    smtp:[127.0.0.4]:2525
accept.test     smtp:[127.0.0.5]:2525
EOF
postmap /etc/postfix/fixture_transport
newaliases
rm -f /var/log/postfix-fixture.log
postsuper -d ALL >/dev/null 2>&1 || true
cat > "$WORK/postfix-run.sh" <<EOF
python3 "$WORK/responder.py" 240 & R=\$!
# Whatever happens, stop what this script started.
trap 'postfix stop >/dev/null 2>&1; kill \$R 2>/dev/null' EXIT
sleep 1
postfix start
sleep 2
python3 "$WORK/send.py"
# Local submission through sendmail(1): pickup lines.
printf 'Subject: local\n\nhi\n' | sendmail -f sender@mail.fixture.test root@localhost
# The unresolvable domain once more, submitted locally: pickup, then the relay transport.
printf 'Subject: nowhere\n\nhi\n' | sendmail -f sender@mail.fixture.test erin@nosuch.invalid
sleep 200
postqueue -f; sleep 15
EOF
inside bash "$WORK/postfix-run.sh"
install -m 0644 /var/log/postfix-fixture.log "$OUT/postfix-debian12.log"
echo "postfix $POSTFIX_VERSION: $(wc -l < "$OUT/postfix-debian12.log") lines"
cp "$WORK/main.cf.orig" /etc/postfix/main.cf
fi

if want exim; then
echo "==> exim"
apt-get install -y -qq exim4-daemon-light >/dev/null   # replaces postfix (both are the MTA)
/etc/init.d/exim4 stop >/dev/null 2>&1 || true
# Stop only the daemon the package may have started, by its pid file.
[ -f /run/exim4/exim.pid ] && kill "$(cat /run/exim4/exim.pid)" 2>/dev/null || true
EXIM_VERSION=$(exim4 -bV | sed -n 's/^Exim version \([^ ]*\).*/\1/p')
mkdir -p /var/log/exim4
rm -f /var/log/exim4/mainlog /var/log/exim4/rejectlog /var/log/exim4/paniclog
# A whole main config: Debian uses /etc/exim4/exim4.conf in preference to the generated one.
cat > /etc/exim4/exim4.conf <<'EOF'
primary_hostname = mail.fixture.test
domainlist local_domains = localhost : mail.fixture.test
domainlist relay_to_domains = accept.test : greylist.test : ratelimit.test : refused.test : nosuch.invalid
hostlist relay_from_hosts = 127.0.0.0/8
local_interfaces = 127.0.0.1
daemon_smtp_ports = 25
exim_user = Debian-exim
exim_group = Debian-exim
never_users = 
trusted_users = root
log_file_path = /var/log/exim4/%slog
log_selector = +smtp_confirmation +queue_time +deliver_time
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  accept  domains = +local_domains
  accept  domains = +relay_to_domains
  deny    message = relay not permitted
begin routers
lab:
  driver = manualroute
  domains = accept.test : greylist.test : ratelimit.test : refused.test
  route_list = accept.test 127.0.0.5 ; greylist.test 127.0.0.2 ; ratelimit.test 127.0.0.3 ; refused.test 127.0.0.4
  transport = remote_smtp
dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  no_more
localuser:
  driver = accept
  check_local_user
  transport = local_delivery
begin transports
remote_smtp:
  driver = smtp
  port = 2525
  hosts_avoid_tls = *
# Exim never delivers as root (fixed_never_users), and 4.96 refuses file names built from the
# (tainted) local part: local mail goes to one spool file, as Debian-exim.
local_delivery:
  driver = appendfile
  file = /var/spool/exim4/fixture-mailbox
  user = Debian-exim
  group = Debian-exim
  home_directory = /var/spool/exim4
  current_directory = /var/spool/exim4
  delivery_date_add
  envelope_to_add
  return_path_add
  mode = 0600
begin retry
*   *   F,100s,15s
begin rewrite
EOF
cat > "$WORK/exim-run.sh" <<EOF
python3 "$WORK/responder.py" 240 & R=\$!
sleep 1
exim4 -bdf -q10s & D=\$!
# Whatever happens, stop what this script started.
trap 'kill \$D \$R 2>/dev/null; wait' EXIT
sleep 2
python3 "$WORK/send.py"
sleep 210
exim4 -qff; sleep 10
EOF
inside bash "$WORK/exim-run.sh"
install -m 0644 /var/log/exim4/mainlog "$OUT/exim-debian12.log"
echo "exim $EXIM_VERSION: $(wc -l < "$OUT/exim-debian12.log") lines"
rm -f /etc/exim4/exim4.conf
fi

if [ "$KEEP" != "--keep-packages" ]; then
  apt-get purge -y -qq exim4-daemon-light exim4-base exim4-config postfix >/dev/null 2>&1 || true
fi
printf 'postfix %s\nexim %s\n' "$POSTFIX_VERSION" "$EXIM_VERSION" > "$OUT/VERSIONS"
rm -rf "$WORK"
echo "==> fixtures in $OUT"
