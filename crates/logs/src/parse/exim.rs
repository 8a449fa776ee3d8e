//! Exim main-log messages (after the stamp) into events: `<=` arrivals, `=>`/`->` deliveries,
//! `**` bounces, `==` deferrals, `Completed`, and `rejected` lines, with old and new message IDs.
//!
//! `== ... retry time not reached` is Exim declining to try, not a delivery attempt: it becomes
//! [`Event::NotAttempted`] so it inflates no deferral count.

use super::{angle, find, parse_f64, parse_u64, split_word, starts_with_any};
use crate::event::{Attempt, Event, Facts, Reject, Status};

const NOISE: &[&[u8]] = &[
    b"SMTP connection ",
    b"SMTP protocol ",
    b"SMTP command timeout",
    b"SMTP data timeout",
    b"SMTP syntax error",
    b"SMTP call from ",
    b"Start queue run",
    b"End queue run",
    b"exim ",
    b"no host name found",
    b"no IP address found",
    b"unexpected disconnection",
    b"TLS error ",
    b"Connection from ",
    b"daemon ",
    b"pid ",
    b"cwd=",
    b"Warning: ",
    b"DKIM: ",
    b"H=",
    b"Spool file ",
    b"Message ",
    b"LOG: ",
    b"rejected ",
    b"ident ",
    b"Failed to ",
    b"Received from ",
    b"Tidying up",
    b"Error ",
];

/// Messages after a message ID that carry nothing to count.
const ID_NOISE: &[&[u8]] = &[
    b"H=",
    b"SMTP error ",
    b"Message is frozen",
    b"Frozen",
    b"Unfrozen",
    b"Spool file ",
    b"Error ",
    b"cancelled ",
    b"removed ",
    b"*> ",
    b"DKIM: ",
    b"Warning: ",
    b"Sender identification ",
    b"== ",
    b"=> ",
    b"-> ",
    b"** ",
    b"<= ",
    b"SMTP connection ",
    b"no immediate delivery",
    b"Message ",
    b"Completed",
    b"original recipients ignored",
    b"Spam ",
    b"DMARC ",
    b"ARC ",
    b"Frozen ",
    b"timed out ",
];

/// `1rABCD-000123-AB` (Exim up to 4.96) or `1rABCD-0001234567A-ABCD` (4.97 and later).
pub fn is_message_id(b: &[u8]) -> bool {
    let ok = |s: &[u8]| s.iter().all(u8::is_ascii_alphanumeric);
    match b.len() {
        16 => b[6] == b'-' && b[13] == b'-' && ok(&b[..6]) && ok(&b[7..13]) && ok(&b[14..]),
        23 => b[6] == b'-' && b[18] == b'-' && ok(&b[..6]) && ok(&b[7..18]) && ok(&b[19..]),
        _ => false,
    }
}

/// Parses one Exim message; `None` when its shape is not known.
pub fn parse(msg: &[u8]) -> Option<Event<&[u8]>> {
    let Some((id, rest)) = split_word(msg)
        .filter(|(w, _)| is_message_id(w))
        .or_else(|| is_message_id(msg).then_some((msg, &b""[..])))
    else {
        if let Some(r) = rejected(msg) {
            return Some(r);
        }
        return starts_with_any(msg, NOISE).then_some(Event::Noise);
    };
    if rest.starts_with(b"Completed") {
        return Some(Event::Removed { id });
    }
    // `x@y: error ignored`: a failed bounce of a bounce, dropped by design (not an attempt).
    if rest.ends_with(b": error ignored") {
        return Some(Event::Noise);
    }
    let (flag, body) = match rest.get(..3) {
        Some(f @ (b"<= " | b"=> " | b"-> " | b"** " | b"== " | b"*> ")) => (f, &rest[3..]),
        _ => {
            if let Some(r) = rejected(rest) {
                return Some(r);
            }
            return starts_with_any(rest, ID_NOISE).then_some(Event::Noise);
        }
    };
    if flag == b"*> " {
        // A delivery suppressed by -N: nothing was delivered.
        return Some(Event::Noise);
    }
    let body = body.strip_prefix(b" ").unwrap_or(body);
    let (addr, after) = split_word(body).unwrap_or((body, &[]));
    if flag == b"<= " {
        return Some(Event::Received(Facts {
            id,
            from: Some(addr),
            size: field(after, b"S=").and_then(parse_u64),
            nrcpt: None,
            message_id: field(after, b"id="),
        }));
    }
    let status = match flag {
        b"=> " | b"-> " => Status::Sent,
        b"** " => Status::Bounced,
        _ => Status::Deferred,
    };
    // An address with a colon straight after it (`** x@y: Unrouteable address`).
    let (rcpt, mut after) = match addr.strip_suffix(b":") {
        Some(a) => (a, &body[a.len()..]),
        None => (addr, after),
    };
    let mut orig_to = None;
    if let Some((o, rest)) = angle(after) {
        orig_to = Some(o);
        after = rest.strip_prefix(b" ").unwrap_or(rest);
    }
    // The reason follows the first `: ` after the fields (`H=mx [192.0.2.1]: SMTP error ...`).
    let (fields, reason) = match find(after, b": ") {
        Some(i) if status != Status::Sent => (&after[..i], Some(&after[i + 2..])),
        _ => (after, None),
    };
    if status == Status::Deferred && reason.is_some_and(not_attempted) {
        return Some(Event::NotAttempted { id, rcpt });
    }
    // With log_selector +deliver_time, `DT=` may trail the reason: it is not the server's words.
    let reason = reason.map(strip_trailing_time);
    let host = field(fields, b"H=");
    let relay_ip = host.and_then(|_| {
        let i = find(fields, b"H=")?;
        let tail = &fields[i..];
        let open = memchr::memchr(b'[', tail)?;
        let close = memchr::memchr(b']', &tail[open..])?;
        Some(&tail[open + 1..open + close])
    });
    let reply = match status {
        // `C="250 2.0.0 OK id=..."`: the remote's confirmation, when log_selector has it.
        Status::Sent => find(fields, b"C=\"").map(|i| {
            let v = &fields[i + 3..];
            &v[..memchr::memchr(b'"', v).unwrap_or(v.len())]
        }),
        _ => reason,
    };
    let delay = field(after, b"QT=")
        .or_else(|| field(after, b"DT="))
        .and_then(exim_duration);
    Some(Event::Attempt(Attempt {
        id,
        rcpt,
        orig_to,
        agent: field(fields, b"T="),
        relay: host,
        relay_ip,
        dsn: None,
        status,
        delay,
        delays: None,
        conn_use: None,
        tls: field(fields, b"X="),
        reply,
        expired: status == Status::Bounced
            && reason.is_some_and(|r| find(r, b"retry timeout exceeded").is_some()),
    }))
}

/// Exim declining to try: `retry time not reached [for any host]`, `Retry time not yet reached`.
fn not_attempted(reason: &[u8]) -> bool {
    find(reason, b"etry time not reached").is_some()
        || find(reason, b"etry time not yet reached").is_some()
}

/// Drops trailing ` DT=1s` / ` QT=2m` fields from a reason.
fn strip_trailing_time(mut r: &[u8]) -> &[u8] {
    while let Some(i) = memchr::memrchr(b' ', r) {
        let tail = &r[i + 1..];
        if (tail.starts_with(b"DT=") || tail.starts_with(b"QT="))
            && exim_duration(&tail[3..]).is_some()
        {
            r = &r[..i];
        } else {
            break;
        }
    }
    r
}

/// The value of `KEY=` (a space-separated field), taken to the next space.
fn field<'a>(b: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    loop {
        let at = from + find(b.get(from..)?, key)?;
        if at == 0 || b[at - 1] == b' ' {
            let v = &b[at + key.len()..];
            let end = memchr::memchr(b' ', v).unwrap_or(v.len());
            let v = &v[..end];
            let v = v
                .strip_prefix(b"<")
                .and_then(|x| x.strip_suffix(b">"))
                .unwrap_or(v);
            return Some(v);
        }
        from = at + key.len();
    }
}

/// `1s`, `2m3s`, `1h2m`, `1d2h`, `0.123s` into seconds.
fn exim_duration(b: &[u8]) -> Option<f64> {
    let mut total = 0.0;
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let unit = match c {
            b'w' => 604_800.0,
            b'd' => 86_400.0,
            b'h' => 3600.0,
            b'm' => 60.0,
            b's' => 1.0,
            _ => continue,
        };
        total += parse_f64(&b[start..i])? * unit;
        start = i + 1;
    }
    (start == b.len() && start > 0).then_some(total)
}

/// `H=(helo) [192.0.2.1] F=<a@b> rejected RCPT <c@d>: reason` and its `temporarily rejected`
/// variant.
fn rejected(msg: &[u8]) -> Option<Event<&[u8]>> {
    let i = find(msg, b"rejected ")?;
    let head = &msg[..i];
    let after = &msg[i + 9..];
    let colon = find(after, b": ")?;
    let what = &after[..colon];
    let stage = split_word(what).map_or(what, |(w, _)| w);
    let to = if stage == b"RCPT" {
        find(what, b"<")
            .and_then(|j| angle(&what[j..]))
            .map(|(v, _)| v)
    } else {
        None
    };
    let client = find(head, b"H=").map(|j| {
        let h = &head[j + 2..];
        let end = find(h, b" F=")
            .or_else(|| find(h, b" rejected"))
            .unwrap_or(h.len());
        super::trim_end(&h[..end])
    });
    Some(Event::Rejected(Reject {
        stage: Some(stage),
        client,
        reply: &after[colon + 2..],
        from: field(head, b"F="),
        to,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(msg: &str) -> Attempt<&[u8]> {
        match parse(msg.as_bytes()) {
            Some(Event::Attempt(a)) => a,
            other => panic!("{msg}: {other:?}"),
        }
    }

    #[test]
    fn ids_old_and_new() {
        assert!(is_message_id(b"1rABCD-000123-AB"));
        assert!(is_message_id(b"1rABCD-0001234567A-ABCD"));
        assert!(!is_message_id(b"1rABCD-000123-A"));
        assert!(!is_message_id(b"1rABCD_000123-AB"));
    }

    #[test]
    fn arrival_delivery_completion() {
        match parse(b"1rABCD-000123-AB <= alice@example.com H=localhost [127.0.0.1] P=esmtp S=1234 id=abc@example.com") {
            Some(Event::Received(f)) => {
                assert_eq!(f.from, Some(&b"alice@example.com"[..]));
                assert_eq!(f.size, Some(1234));
                assert_eq!(f.message_id, Some(&b"abc@example.com"[..]));
            }
            other => panic!("{other:?}"),
        }
        let a = at(
            "1rABCD-000123-AB => bob@example.org <bob@alias.example> R=dnslookup T=remote_smtp H=mx.example.org [192.0.2.9] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C=\"250 2.0.0 OK: queued\" QT=2s DT=1s",
        );
        assert_eq!(a.status, Status::Sent);
        assert_eq!(a.orig_to, Some(&b"bob@alias.example"[..]));
        assert_eq!(a.relay, Some(&b"mx.example.org"[..]));
        assert_eq!(a.relay_ip, Some(&b"192.0.2.9"[..]));
        assert_eq!(a.reply, Some(&b"250 2.0.0 OK: queued"[..]));
        assert_eq!(a.delay, Some(2.0));
        assert!(matches!(
            parse(b"1rABCD-000123-AB Completed"),
            Some(Event::Removed { .. })
        ));
    }

    #[test]
    fn deferrals_bounces_and_retry_time() {
        let a = at(
            "1rABCD-0001234567A-ABCD == bob@example.org R=dnslookup T=remote_smtp defer (-44) H=mx.example.org [192.0.2.9]: SMTP error from remote mail server after RCPT TO:<bob@example.org>: 451 4.7.1 Greylisted",
        );
        assert_eq!(a.status, Status::Deferred);
        assert_eq!(a.reply, Some(&b"SMTP error from remote mail server after RCPT TO:<bob@example.org>: 451 4.7.1 Greylisted"[..]));
        let a = at("1rABCD-000123-AB ** nobody@nowhere.invalid: Unrouteable address");
        assert_eq!(a.status, Status::Bounced);
        assert_eq!(a.rcpt, b"nobody@nowhere.invalid");
        assert_eq!(a.reply, Some(&b"Unrouteable address"[..]));
        let a = at(
            "1rABCD-000123-AB ** bob@example.org R=dnslookup T=remote_smtp: retry timeout exceeded",
        );
        assert!(a.expired);
        assert!(matches!(
            parse(
                b"1rABCD-000123-AB == bob@example.org routing defer (-51): retry time not reached"
            ),
            Some(Event::NotAttempted { .. })
        ));
    }

    #[test]
    fn rejections_and_noise() {
        match parse(
            b"H=(helo.test) [192.0.2.1] F=<a@b.test> rejected RCPT <c@d.test>: relay not permitted",
        ) {
            Some(Event::Rejected(r)) => {
                assert_eq!(r.to, Some(&b"c@d.test"[..]));
                assert_eq!(r.from, Some(&b"a@b.test"[..]));
                assert_eq!(r.reply, b"relay not permitted");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(b"Start queue run: pid=123"), Some(Event::Noise));
        assert_eq!(parse(b"what is this"), None);
        assert_eq!(exim_duration(b"1h2m3s"), Some(3723.0));
        assert_eq!(exim_duration(b"bogus"), None);
    }
}
