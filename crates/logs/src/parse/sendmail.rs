//! Sendmail messages (after `sm-mta[pid]: `) into events: `from=` arrivals, `to=... stat=`
//! attempts (`Sent`, `Deferred: ...`, anything else a bounce), DSN notices and `reject=`.
//!
//! One Sendmail line may name several recipients (`to=<a@x>,<b@x>`); the tracker splits them.

use super::{comma_field, find, host_and_ip, parse_u64, queue_id, starts_with_any};
use crate::event::{Attempt, Event, Facts, Reject, Status};

const NOISE: &[&[u8]] = &[
    b"STARTTLS",
    b"AUTH=",
    b"starting daemon",
    b"alias database",
    b"/etc/mail/",
    b"restarting ",
    b"rejecting connections",
    b"accepting connections",
    b"timeout waiting",
    b"lost input channel",
    b"collect: ",
    b"did not issue ",
    b"clone ",
    b"done",
    b"Milter",
    b"milter",
    b"ruleset=check_relay",
    b"tls_",
    b"SYSERR",
    b"Authentication-Warning",
    b"sender notify: ",
    b"return to sender: ",
    b"postmaster notify: ",
    b"possible SMTP attack",
    b"discarded",
    b"error connecting",
    b"makeconnection",
    b"premature ",
];

/// Parses one Sendmail message; `None` when its shape is not known.
pub fn parse(msg: &[u8]) -> Option<Event<&[u8]>> {
    let Some((id, rest)) = queue_id(msg) else {
        return rejected(msg).or_else(|| starts_with_any(msg, NOISE).then_some(Event::Noise));
    };
    if let Some(r) = rest.strip_prefix(b"from=") {
        return Some(Event::Received(Facts {
            id,
            from: Some(strip_angle(value(r))),
            size: comma_field(rest, b"size=").and_then(parse_u64),
            nrcpt: comma_field(rest, b"nrcpts=")
                .and_then(parse_u64)
                .and_then(|n| u32::try_from(n).ok()),
            message_id: comma_field(rest, b"msgid=").map(strip_angle),
        }));
    }
    if let Some(r) = rest.strip_prefix(b"to=") {
        return attempt(id, r, rest);
    }
    // `5AK...: 5AL...: DSN: User unknown`: the notice's own ID, then what it says.
    if let Some((notice, tail)) = queue_id(rest)
        && (tail.starts_with(b"DSN: ")
            || tail.starts_with(b"return to sender: ")
            || tail.starts_with(b"sender notify: ")
            || tail.starts_with(b"postmaster notify: "))
    {
        return Some(Event::Notification { id, notice });
    }
    rejected(rest).or_else(|| starts_with_any(rest, NOISE).then_some(Event::Noise))
}

fn value(b: &[u8]) -> &[u8] {
    &b[..find(b, b", ").unwrap_or(b.len())]
}

fn strip_angle(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"<")
        .and_then(|x| x.strip_suffix(b">"))
        .unwrap_or(b)
}

fn attempt<'a>(id: &'a [u8], r: &'a [u8], all: &'a [u8]) -> Option<Event<&'a [u8]>> {
    // The recipient list ends at the first `, ` (commas between `<a>,<b>` have no space).
    let rcpt = strip_angle(value(r));
    let stat = find(all, b"stat=").map(|i| &all[i + 5..])?;
    let (status, reply) = if let Some(s) = stat.strip_prefix(b"Sent") {
        let s = s.strip_prefix(b" ").unwrap_or(s);
        let s = s
            .strip_prefix(b"(")
            .map_or(s, |x| x.strip_suffix(b")").unwrap_or(x));
        (Status::Sent, s)
    } else if let Some(s) = stat.strip_prefix(b"Deferred") {
        (Status::Deferred, s.strip_prefix(b": ").unwrap_or(s))
    } else if stat.starts_with(b"queued") || stat.starts_with(b"Queued") {
        // Queued for a later run: no attempt was made.
        return Some(Event::Noise);
    } else {
        (Status::Bounced, stat)
    };
    let (relay, relay_ip) = match comma_field(all, b"relay=") {
        Some(v) => {
            let (host, ip) = host_and_ip(v);
            let host = super::trim_end(host);
            (Some(host.strip_suffix(b".").unwrap_or(host)), ip)
        }
        None => (None, None),
    };
    Some(Event::Attempt(Attempt {
        id,
        rcpt,
        orig_to: None,
        agent: comma_field(all, b"mailer="),
        relay,
        relay_ip,
        dsn: comma_field(all, b"dsn="),
        status,
        delay: comma_field(all, b"delay=").and_then(duration),
        delays: None,
        conn_use: None,
        tls: None,
        reply: Some(reply),
        expired: false,
    }))
}

/// `00:00:01` or `2+01:02:03` (days+hh:mm:ss) into seconds.
fn duration(b: &[u8]) -> Option<f64> {
    let (days, hms) = match memchr::memchr(b'+', b) {
        Some(i) => (parse_u64(&b[..i])?, &b[i + 1..]),
        None => (0, b),
    };
    let mut parts = hms.split(|&c| c == b':');
    let h = parse_u64(parts.next()?)?;
    let m = parse_u64(parts.next()?)?;
    let s = parse_u64(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some((days.checked_mul(86_400)? + h * 3600 + m * 60 + s) as f64)
}

/// `ruleset=check_rcpt, arg1=<x@y>, relay=host [ip], reject=550 5.7.1 <x@y>... Relaying denied`.
fn rejected(msg: &[u8]) -> Option<Event<&[u8]>> {
    let i = find(msg, b"reject=")?;
    let reply = &msg[i + 7..];
    let stage = comma_field(msg, b"ruleset=");
    let arg1 = comma_field(msg, b"arg1=").map(strip_angle);
    Some(Event::Rejected(Reject {
        stage,
        client: comma_field(msg, b"relay="),
        reply,
        from: arg1.filter(|_| stage == Some(b"check_mail")),
        to: arg1.filter(|_| stage == Some(b"check_rcpt")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendmail_shapes() {
        match parse(b"5AKA01x1000123: from=<alice@example.com>, size=1234, class=0, nrcpts=2, msgid=<m1@example.com>, proto=ESMTP, daemon=MTA, relay=localhost [127.0.0.1]") {
            Some(Event::Received(f)) => {
                assert_eq!(f.from, Some(&b"alice@example.com"[..]));
                assert_eq!(f.nrcpt, Some(2));
                assert_eq!(f.message_id, Some(&b"m1@example.com"[..]));
            }
            other => panic!("{other:?}"),
        }
        match parse(b"5AKA01x1000123: to=<bob@example.org>, ctladdr=<alice@example.com> (1000/1000), delay=00:00:05, xdelay=00:00:05, mailer=esmtp, pri=120, relay=mx.example.org. [192.0.2.9], dsn=4.0.0, stat=Deferred: 421 4.7.0 Try again later") {
            Some(Event::Attempt(a)) => {
                assert_eq!(a.status, Status::Deferred);
                assert_eq!(a.relay, Some(&b"mx.example.org"[..]));
                assert_eq!(a.relay_ip, Some(&b"192.0.2.9"[..]));
                assert_eq!(a.dsn, Some(&b"4.0.0"[..]));
                assert_eq!(a.reply, Some(&b"421 4.7.0 Try again later"[..]));
                assert_eq!(a.delay, Some(5.0));
            }
            other => panic!("{other:?}"),
        }
        match parse(b"5AKA01x1000123: to=<x@example.net>, delay=1+00:00:00, mailer=esmtp, pri=1, relay=example.net, dsn=5.1.1, stat=User unknown") {
            Some(Event::Attempt(a)) => {
                assert_eq!(a.status, Status::Bounced);
                assert_eq!(a.delay, Some(86_400.0));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(b"5AKA01x1000123: 5AKA01x1000124: DSN: User unknown"),
            Some(Event::Notification { .. })
        ));
        assert!(matches!(
            parse(b"ruleset=check_rcpt, arg1=<x@y.test>, relay=[192.0.2.1], reject=550 5.7.1 <x@y.test>... Relaying denied"),
            Some(Event::Rejected(_))
        ));
    }
}
