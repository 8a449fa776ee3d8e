#!/usr/bin/env python3
"""Generates a realistic Postfix log (outbound relay plus an inbound smtpd/postscreen front) of
about SIZE bytes, deterministically (fixed seed), for `mxray logs` benchmarks.

Mix per message: connect, client=, message-id, qmgr from=, one to= line per recipient and
attempt, removed, disconnect, TLS lines; about 9% of messages deferred 1-4 times (Gmail 421-4.7.0
rate limits, Outlook 451 4.7.650, greylisting 450 4.2.0, connection timeouts, DNS failures),
1.5% bounced (550 5.1.1), 0.2% expired, 3% of connections rejected (NOQUEUE), postscreen noise,
and some other programs' lines (dovecot, opendkim).

Usage: gen.py OUTPUT [SIZE_MB]   (default 1024)
"""

import heapq
import random
import sys

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
BIG = [("gmail.com", "gmail-smtp-in.l.google.com", 0.30), ("outlook.com", "outlook-com.olc.protection.outlook.com", 0.12),
       ("yahoo.com", "mta7.am0.yahoodns.net", 0.08), ("icloud.com", "mx01.mail.icloud.com", 0.05),
       ("gmx.de", "mx00.emig.gmx.net", 0.03), ("orange.fr", "smtp-in.orange.fr", 0.02)]
SMALL = [(f"company{i}.example", f"mx{i % 3 + 1}.company{i}.example") for i in range(3000)]
NAMES = ["ann", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar",
         "peggy", "trent", "victor", "walter", "info", "sales", "support", "billing", "noreply"]

DEFERRALS = [
    (0.35, "4.7.0", lambda h, ip: f"host {h}[{ip}] said: 421-4.7.0 [203.0.113.{random.randint(1, 250)}      15] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail originating from your IP address. To protect our 421-4.7.0 users from spam, mail sent from your IP address has been temporarily 421-4.7.0 rate limited. For more information, go to 421-4.7.0  https://support.google.com/mail/?p=UnsolicitedRateLimitError to 421 4.7.0 review our Bulk Email Senders Guidelines. {rid()} - gsmtp (in reply to end of DATA command)"),
    (0.20, "4.7.650", lambda h, ip: f"host {h}[{ip}] said: 451 4.7.650 The mail server [203.0.113.9] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775) [Name=Protocol Filter Agent][AGT=PFA][MxId={random.getrandbits(64):016X}] (in reply to MAIL FROM command)"),
    (0.20, "4.2.0", lambda h, ip: f"host {h}[{ip}] said: 450 4.2.0 <{random.choice(NAMES)}@x>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/x.html (in reply to RCPT TO command)"),
    (0.15, "4.4.1", lambda h, ip: f"connect to {h}[{ip}]:25: Connection timed out"),
    (0.10, "4.4.3", lambda h, ip: f"Host or domain name not found. Name service error for name={h} type=MX: Host not found, try again"),
]


def rid():
    return f"{random.getrandbits(48):012x}si{random.randint(100000, 999999)}ejc.{random.randint(100, 999)}"


def stamp(t):
    # t: seconds since Nov 1 00:00:00
    day = 1 + t // 86400
    s = t % 86400
    return f"Nov {day:2d} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def pick_domain():
    r = random.random()
    acc = 0.0
    for d, mx, p in BIG:
        acc += p
        if r < acc:
            return d, mx
    return random.choice(SMALL)


def main():
    out_path = sys.argv[1]
    target = int(float(sys.argv[2]) * 1024 * 1024) if len(sys.argv) > 2 else 1024 * 1024 * 1024
    random.seed(42)
    out = open(out_path, "w", buffering=1 << 20)
    written = 0
    t = 0
    qn = 0x1A2B3C0000
    pid = 1000
    retries = []  # heap of (time, seq, message state)
    buf = []

    def emit(line):
        buf.append(line)

    while written < target:
        t += random.choice((0, 0, 1, 1, 2))
        # Due retries first.
        while retries and retries[0][0] <= t:
            _, _, m = heapq.heappop(retries)
            attempt(m, t, emit, retries)
        pid = 1000 + (pid + 7) % 60000
        r = random.random()
        ip = f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"
        if r < 0.03:
            emit(f"{stamp(t)} mail postfix/smtpd[{pid}]: connect from unknown[{ip}]")
            emit(f"{stamp(t)} mail postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from unknown[{ip}]: 554 5.7.1 <x{random.randint(1, 9999)}@relay.example>: Relay access denied; from=<spam@bad{random.randint(1, 500)}.example> to=<x@relay.example> proto=ESMTP helo=<bad>")
            emit(f"{stamp(t)} mail postfix/smtpd[{pid}]: disconnect from unknown[{ip}] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4")
        elif r < 0.06:
            emit(f"{stamp(t)} mail postfix/postscreen[{pid}]: CONNECT from [{ip}]:{random.randint(1024, 65535)} to [192.0.2.25]:25")
            emit(f"{stamp(t)} mail postfix/postscreen[{pid}]: PASS OLD [{ip}]:{random.randint(1024, 65535)}")
        elif r < 0.08:
            emit(f"{stamp(t)} mail dovecot: imap-login: Login: user=<{random.choice(NAMES)}@example.net>, method=PLAIN, rip={ip}, lip=192.0.2.25, mpid={pid}, TLS")
        else:
            qn += random.randint(1, 40)
            qid = f"{qn:010X}"
            n = 1 if random.random() < 0.8 else random.randint(2, 3)
            rcpts = []
            for _ in range(n):
                d, mx = pick_domain()
                rcpts.append([f"{random.choice(NAMES)}{random.randint(1, 999)}@{d}", mx, 0])
            emit(f"{stamp(t)} mail postfix/smtpd[{pid}]: connect from app{pid % 20}.example.net[{ip}]")
            emit(f"{stamp(t)} mail postfix/smtpd[{pid}]: Anonymous TLS connection established from app{pid % 20}.example.net[{ip}]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)")
            emit(f"{stamp(t)} mail postfix/smtpd[{pid}]: {qid}: client=app{pid % 20}.example.net[{ip}]")
            emit(f"{stamp(t)} mail postfix/cleanup[{pid + 1}]: {qid}: message-id=<{random.getrandbits(64):x}@example.net>")
            if random.random() < 0.3:
                emit(f"{stamp(t)} mail opendkim[700]: {qid}: DKIM-Signature field added (s=mail, d=example.net)")
            size = random.randint(2000, 200000)
            emit(f"{stamp(t)} mail postfix/qmgr[900]: {qid}: from=<news@example.net>, size={size}, nrcpt={n} (queue active)")
            emit(f"{stamp(t)} mail postfix/smtpd[{pid}]: disconnect from app{pid % 20}.example.net[{ip}] ehlo=1 mail=1 rcpt={n} data=1 quit=1 commands={4 + n}")
            m = {"qid": qid, "rcpts": rcpts, "born": t, "size": size, "expire": random.random() < 0.002}
            attempt(m, t + random.randint(0, 2), emit, retries)
        if len(buf) > 5000:
            chunk = "\n".join(buf) + "\n"
            out.write(chunk)
            written += len(chunk)
            buf.clear()
    if buf:
        out.write("\n".join(buf) + "\n")
    out.close()


def attempt(m, t, emit, retries):
    """One delivery attempt for every recipient still pending."""
    qid = m["qid"]
    pending = []
    spid = 2000 + random.randint(0, 500)
    for rc in m["rcpts"]:
        addr, mx, tries = rc
        age = t - m["born"]
        ip = f"{random.randint(1, 223)}.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        delays = f"{age * 0.9:.2g}/0.01/0.2/0.3"
        r = random.random()
        deferred_p = 0.09 if tries == 0 else 0.45
        if m["expire"] and age > 4 * 86400:
            emit(f"{stamp(t)} mail postfix/smtp[{spid}]: {qid}: to=<{addr}>, relay=none, delay={age}, delays={delays}, dsn=4.4.1, status=deferred (connect to {mx}[{ip}]:25: Connection timed out)")
            emit(f"{stamp(t)} mail postfix/qmgr[900]: {qid}: from=<news@example.net>, status=expired, returned to sender")
            emit(f"{stamp(t)} mail postfix/bounce[3000]: {qid}: sender non-delivery notification: {qid[:-1]}F")
            emit(f"{stamp(t)} mail postfix/qmgr[900]: {qid}: removed")
            return
        if m["expire"] or r < deferred_p:
            x = random.random()
            acc = 0.0
            for p, dsn, text in DEFERRALS:
                acc += p
                if x < acc:
                    break
            relay = "none" if dsn in ("4.4.1", "4.4.3") else f"{mx}[{ip}]:25"
            emit(f"{stamp(t)} mail postfix/smtp[{spid}]: {qid}: to=<{addr}>, relay={relay}, delay={age + 0.5}, delays={delays}, dsn={dsn}, status=deferred ({text(mx, ip)})")
            rc[2] += 1
            pending.append(rc)
        elif r < deferred_p + 0.015:
            emit(f"{stamp(t)} mail postfix/smtp[{spid}]: {qid}: to=<{addr}>, relay={mx}[{ip}]:25, delay={age + 0.4}, delays={delays}, dsn=5.1.1, status=bounced (host {mx}[{ip}] said: 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser {rid()} - gsmtp (in reply to RCPT TO command))")
        else:
            emit(f"{stamp(t)} mail postfix/smtp[{spid}]: Trusted TLS connection established to {mx}[{ip}]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)")
            emit(f"{stamp(t)} mail postfix/smtp[{spid}]: {qid}: to=<{addr}>, relay={mx}[{ip}]:25, delay={age + 0.6}, delays={delays}, dsn=2.0.0, status=sent (250 2.0.0 OK  {1763600000 + t} {rid()} - gsmtp)")
    if pending:
        m["rcpts"] = pending
        wait = random.choice((300, 600, 900, 1800, 3600)) if not m["expire"] else 86400
        global _seq
        _seq += 1
        heapq.heappush(retries, (t + wait, _seq, m))
        return
    emit(f"{stamp(t)} mail postfix/qmgr[900]: {qid}: removed")


_seq = 0

if __name__ == "__main__":
    main()
