//! Postfix messages (the text after `postfix/daemon[pid]: `) into events: every delivery agent's
//! `to=... status=` line, qmgr, cleanup, pickup, bounce, smtpd and postscreen rejects.
//!
//! Fields are read by name wherever they appear (`orig_to=`, `conn_use=`, `tls=` come and go
//! between versions), so a new optional field does not break the parser.

use super::{
    angle, comma_field, find, host_and_ip, parse_f64, parse_u64, queue_id, starts_with_any,
};
use crate::event::{Attempt, Event, Facts, Reject, Status};

/// Messages with no queue ID that carry nothing to count.
const NOISE: &[&[u8]] = &[
    b"connect from ",
    b"disconnect from ",
    b"lost connection ",
    b"timeout after ",
    b"too many errors ",
    b"improper command pipelining ",
    b"warning: ",
    b"fatal: ",
    b"panic: ",
    b"error: ",
    b"statistics: ",
    b"Anonymous TLS ",
    b"Untrusted TLS ",
    b"Trusted TLS ",
    b"Verified TLS ",
    b"daemon started",
    b"reload ",
    b"terminating ",
    b"refreshing ",
    b"starting the Postfix",
    b"stopping the Postfix",
    b"waiting for the Postfix",
    b"Postfix is ",
    b"CONNECT from ",
    b"PASS NEW ",
    b"PASS OLD ",
    b"DNSBL rank ",
    b"HANGUP ",
    b"DISCONNECT ",
    b"PREGREET ",
    b"WHITELISTED ",
    b"WHITELIST VETO ",
    b"BLACKLISTED ",
    b"ALLOWLISTED ",
    b"DENYLISTED ",
    b"BARE NEWLINE ",
    b"NON-SMTP COMMAND ",
    b"COMMAND PIPELINING ",
    b"COMMAND TIME LIMIT ",
    b"COMMAND COUNT LIMIT ",
    b"COMMAND LENGTH LIMIT ",
    b"NOQUEUE: reject_warning: ",
    b"NOQUEUE: filter: ",
    b"NOQUEUE: hold: ",
    b"NOQUEUE: discard: ",
    b"NOQUEUE: redirect: ",
    b"NOQUEUE: warning: ",
    b"NOQUEUE: client=",
    b"connect to ",
    b"SSL_accept ",
    b"SSL_connect ",
    b"TLS library problem",
    b"setting up TLS",
    b"host ",
    b"mapping DSN status",
    b"table ",
    b"dict_",
    b"using backwards-compatible",
    b"Connection ",
    b"send attr ",
    b"certificate verification ",
    b"server certificate ",
    b"Host offered STARTTLS",
    b"SASL ",
    b"message repeated ",
    b"postfix/",
    b"Reject ",
    b"cache ",
];

/// Queue-ID messages that carry nothing to count.
const QID_NOISE: &[&[u8]] = &[
    b"host ",
    b"lost connection ",
    b"conversation with ",
    b"enabling PIX ",
    b"Cannot start TLS",
    b"TLS is required",
    b"resent-message-id=",
    b"warning: ",
    b"info: ",
    b"hold: ",
    b"discard: ",
    b"redirect: ",
    b"replace: ",
    b"filter: ",
    b"prepend: ",
    b"reject_warning: ",
    b"skipped, still being delivered",
    b"sender delay notification",
    b"Server certificate ",
    b"SASL ",
    b"client=",
    b"connect to ",
    b"breaking line ",
    b"tls",
    b"TLS ",
    b"dsn_",
    b"sender delivery status notification:",
];

/// Parses one Postfix message from daemon `service`; `None` when its shape is not known.
pub fn parse<'a>(service: &[u8], msg: &'a [u8]) -> Option<Event<&'a [u8]>> {
    if let Some(rest) = msg.strip_prefix(b"NOQUEUE: ") {
        if let Some(r) = rest
            .strip_prefix(b"reject: ")
            .or_else(|| rest.strip_prefix(b"milter-reject: "))
        {
            return reject(r);
        }
        return starts_with_any(msg, NOISE).then_some(Event::Noise);
    }
    let Some((id, rest)) = queue_id(msg) else {
        return starts_with_any(msg, NOISE).then_some(Event::Noise);
    };
    if rest.starts_with(b"to=<") {
        return attempt(id, rest).map(Event::Attempt);
    }
    if let Some(r) = rest.strip_prefix(b"from=<") {
        let (from, after) = until_angle(r)?;
        if find(after, b"status=expired").is_some() {
            return Some(Event::Expired { id });
        }
        return Some(Event::Info(Facts {
            id,
            from: Some(from),
            size: comma_field(after, b"size=").and_then(parse_u64),
            nrcpt: comma_field(after, b"nrcpt=")
                .and_then(|n| n.split(|&c| c == b' ').next())
                .and_then(parse_u64)
                .and_then(|n| u32::try_from(n).ok()),
            message_id: None,
        }));
    }
    if rest == b"removed" {
        return Some(Event::Removed { id });
    }
    if rest.starts_with(b"client=") && service != b"cleanup" {
        return Some(Event::Received(Facts {
            id,
            from: None,
            size: None,
            nrcpt: None,
            message_id: None,
        }));
    }
    // pickup: `uid=1000 from=<alice>` (local submission) or `sender=<...>`.
    if service == b"pickup" && (rest.starts_with(b"uid=") || rest.starts_with(b"sender=")) {
        let from = find(rest, b"from=<")
            .and_then(|i| until_angle(&rest[i + 6..]))
            .map(|(f, _)| f);
        return Some(Event::Received(Facts {
            id,
            from,
            size: None,
            nrcpt: None,
            message_id: None,
        }));
    }
    if let Some(r) = rest.strip_prefix(b"message-id=") {
        let mid = angle(r).map_or(r, |(m, _)| m);
        return Some(Event::Info(Facts {
            id,
            from: None,
            size: None,
            nrcpt: None,
            message_id: Some(mid),
        }));
    }
    for kind in [
        &b"sender non-delivery notification: "[..],
        b"postmaster non-delivery notification: ",
        b"sender delivery status notification: ",
        b"sender delay notification: ",
    ] {
        if let Some(n) = rest.strip_prefix(kind) {
            return Some(Event::Notification { id, notice: n });
        }
    }
    if let Some(r) = rest
        .strip_prefix(b"reject: ")
        .or_else(|| rest.strip_prefix(b"milter-reject: "))
    {
        return reject(r);
    }
    starts_with_any(rest, QID_NOISE).then_some(Event::Noise)
}

/// An address up to its closing `>`: the address and what follows.
fn until_angle(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr(b'>', b)?;
    Some((&b[..end], &b[end + 1..]))
}

/// `to=<...>, [orig_to=<...>,] relay=..., ... status=word (reason)` in any field order.
fn attempt<'a>(id: &'a [u8], rest: &'a [u8]) -> Option<Attempt<&'a [u8]>> {
    let r = rest.strip_prefix(b"to=<")?;
    // Addresses end at `>,`: a quoted local part may hold `>` or `,` but not both together.
    let end = find(r, b">,").or_else(|| memchr::memrchr(b'>', r))?;
    let rcpt = &r[..end];
    let mut fields = r.get(end + 2..)?;
    let mut a = Attempt {
        id,
        rcpt,
        orig_to: None,
        agent: None,
        relay: None,
        relay_ip: None,
        dsn: None,
        status: Status::Sent,
        delay: None,
        delays: None,
        conn_use: None,
        tls: None,
        reply: None,
        expired: false,
    };
    loop {
        fields = fields.strip_prefix(b" ").unwrap_or(fields);
        let eq = memchr::memchr(b'=', fields)?;
        let key = &fields[..eq];
        let v = &fields[eq + 1..];
        if key == b"status" {
            let (word, tail) = match memchr::memchr(b' ', v) {
                Some(i) => (&v[..i], &v[i + 1..]),
                None => (v, &b""[..]),
            };
            a.status = match word {
                b"sent" => Status::Sent,
                b"deferred" => Status::Deferred,
                b"bounced" => Status::Bounced,
                // Address verification probes (`deliverable`, `undeliverable`) deliver nothing.
                _ => return None,
            };
            let reason = tail
                .strip_prefix(b"(")
                .map(|t| t.strip_suffix(b")").unwrap_or(t));
            if a.status == Status::Sent && reason.is_some_and(|t| t.starts_with(b"forwarded as ")) {
                a.status = Status::Forwarded;
            }
            a.reply = reason;
            return Some(a);
        }
        // `orig_to=<a, b>` may hold `, `: read angle values to their `>`.
        let (value, next) = if v.first() == Some(&b'<') {
            let close = memchr::memchr(b'>', v)?;
            let after = &v[close + 1..];
            (&v[1..close], after.strip_prefix(b",").unwrap_or(after))
        } else {
            let end = find(v, b", ").unwrap_or(v.len());
            (&v[..end], v.get(end + 1..).unwrap_or(&[]))
        };
        match key {
            b"orig_to" => a.orig_to = Some(value),
            b"relay" => {
                let (host, ip) = host_and_ip(value);
                a.relay = Some(host);
                a.relay_ip = ip;
            }
            b"delay" => a.delay = parse_f64(value),
            b"delays" => a.delays = Some(value),
            b"dsn" => a.dsn = Some(value),
            b"conn_use" => a.conn_use = parse_u64(value).and_then(|n| u32::try_from(n).ok()),
            b"tls" => a.tls = Some(value),
            _ => {}
        }
        if next.is_empty() {
            return None;
        }
        fields = next;
    }
}

/// `RCPT from host[ip]: 554 5.7.1 <x>: Relay access denied; from=<a> to=<b> proto=ESMTP helo=<h>`
/// (smtpd), the postscreen variant with `[ip]:port`, and cleanup's `header ... from ...; from=<>`.
fn reject(r: &[u8]) -> Option<Event<&[u8]>> {
    let (stage, rest) = super::split_word(r)?;
    let (client, reply) = match rest.strip_prefix(b"from ") {
        Some(c) => {
            let i = find(c, b": ")?;
            (Some(&c[..i]), &c[i + 2..])
        }
        None => (None, rest),
    };
    // The reply ends where Postfix's own envelope summary begins.
    let tail_at = find(reply, b"; from=<").unwrap_or(reply.len());
    let (text, tail) = reply.split_at(tail_at);
    let env = |key: &[u8]| -> Option<&[u8]> {
        let i = find(tail, key)?;
        until_angle(&tail[i + key.len()..]).map(|(v, _)| v)
    };
    Some(Event::Rejected(Reject {
        stage: Some(stage),
        client,
        reply: text,
        from: env(b"from=<"),
        to: env(b"to=<"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(msg: &str) -> Attempt<&[u8]> {
        match parse(b"smtp", msg.as_bytes()) {
            Some(Event::Attempt(a)) => a,
            other => panic!("{msg}: {other:?}"),
        }
    }

    #[test]
    fn delivery_line_with_every_optional_field() {
        let a = at(
            "4AB12C3D4E: to=<bob@example.org>, orig_to=<bob@alias.example>, relay=mx.example.org[192.0.2.9]:25, conn_use=2, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, tls=TLSv1.3, status=sent (250 2.0.0 Ok: queued as ABC)",
        );
        assert_eq!(a.rcpt, b"bob@example.org");
        assert_eq!(a.orig_to, Some(&b"bob@alias.example"[..]));
        assert_eq!(a.relay, Some(&b"mx.example.org"[..]));
        assert_eq!(a.relay_ip, Some(&b"192.0.2.9"[..]));
        assert_eq!(a.conn_use, Some(2));
        assert_eq!(a.delay, Some(1.2));
        assert_eq!(a.tls, Some(&b"TLSv1.3"[..]));
        assert_eq!(a.status, Status::Sent);
        assert_eq!(a.reply, Some(&b"250 2.0.0 Ok: queued as ABC"[..]));
    }

    #[test]
    fn deferred_with_nested_parentheses() {
        let a = at(
            "4AB12C3D4E: to=<a@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.27]:25, delay=0.5, delays=0/0/0.2/0.3, dsn=4.7.0, status=deferred (host gmail-smtp-in.l.google.com[142.250.1.27] said: 421-4.7.0 [192.0.2.1 15] Our system has detected (in reply to end of DATA command))",
        );
        assert_eq!(a.status, Status::Deferred);
        assert!(
            a.reply
                .unwrap()
                .ends_with(b"(in reply to end of DATA command)")
        );
    }

    #[test]
    fn forwarded_and_probes() {
        assert_eq!(
            at("4AB12C3D4E: to=<a@x.test>, relay=local, delay=0, dsn=2.0.0, status=sent (forwarded as 5BC)").status,
            Status::Forwarded
        );
        assert_eq!(
            parse(
                b"smtp",
                b"4AB12C3D4E: to=<a@x.test>, relay=none, delay=0, dsn=2.1.5, status=deliverable (ok)"
            ),
            None
        );
    }

    #[test]
    fn queue_manager_lines() {
        assert!(matches!(
            parse(
                b"qmgr",
                b"4AB12C3D4E: from=<a@b.test>, size=1234, nrcpt=2 (queue active)"
            ),
            Some(Event::Info(Facts {
                size: Some(1234),
                nrcpt: Some(2),
                ..
            }))
        ));
        assert!(matches!(
            parse(
                b"qmgr",
                b"4AB12C3D4E: from=<a@b.test>, status=expired, returned to sender"
            ),
            Some(Event::Expired { .. })
        ));
        assert!(matches!(
            parse(b"qmgr", b"4AB12C3D4E: removed"),
            Some(Event::Removed { .. })
        ));
        assert!(matches!(
            parse(b"smtpd", b"4AB12C3D4E: client=unknown[192.0.2.7]"),
            Some(Event::Received(_))
        ));
        assert!(matches!(
            parse(
                b"bounce",
                b"4AB12C3D4E: sender non-delivery notification: 5BC12C3D4E"
            ),
            Some(Event::Notification { .. })
        ));
    }

    #[test]
    fn rejects() {
        match parse(b"smtpd", b"NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <x@y.test>: Relay access denied; from=<a@b.test> to=<x@y.test> proto=ESMTP helo=<h>") {
            Some(Event::Rejected(r)) => {
                assert_eq!(r.stage, Some(&b"RCPT"[..]));
                assert_eq!(r.client, Some(&b"unknown[192.0.2.1]"[..]));
                assert_eq!(r.reply, b"554 5.7.1 <x@y.test>: Relay access denied");
                assert_eq!(r.to, Some(&b"x@y.test"[..]));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(b"postscreen", b"NOQUEUE: reject: RCPT from [192.0.2.1]:4711: 550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.example; from=<a@b.test>, to=<c@d.test>, proto=ESMTP, helo=<x>"),
            Some(Event::Rejected(_))
        ));
        assert!(matches!(
            parse(
                b"postscreen",
                b"CONNECT from [192.0.2.1]:4711 to [192.0.2.2]:25"
            ),
            Some(Event::Noise)
        ));
        assert_eq!(parse(b"smtpd", b"something entirely new"), None);
    }
}
