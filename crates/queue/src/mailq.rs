//! `mailq` listings: Sendmail's (`-----Q-ID----- --Size-- -----Q-Time-----`, a message-wide
//! `(reason)` line) and Postfix's `postqueue -p` (the same columns with seconds, a `(reason)`
//! line before the recipients it concerns, `*` active and `!` held after the queue ID).
//!
//! Dates there have no year and no zone: the year is the latest that puts the date at or before
//! the listing's time (and agrees with the weekday), the zone the server's (`local_offset`).
//! Neither gives a next retry time. Pure: text, the time and the offset in, no I/O.

use mxray_logs::time::days_from_civil;

use crate::ParseOptions;
use crate::error::QueueError;
use crate::model::{MAX_FIELD, MAX_REASON, MAX_RECIPIENTS, Message, Mta, Recipient, Snapshot, cut};

pub const EXPECTED: &str = "`mailq` output (Sendmail's, or Postfix's `postqueue -p`): `ID SIZE DATE SENDER` lines, each followed by `(reason)` lines and indented recipients";

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// `Jan` .. `Dec` to 1 .. 12.
pub fn month(name: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as u32 + 1)
}

/// Reads a `mailq` listing.
pub fn parse(text: &str, source: &str, opts: &ParseOptions) -> Result<Snapshot, QueueError> {
    // Postfix's header, or its words for an empty queue (Sendmail says `DIR is empty`).
    let postfix = text
        .lines()
        .any(|l| l.starts_with("-Queue ID-") || l.trim() == "Mail queue is empty");
    let mta = if postfix { Mta::Postfix } else { Mta::Sendmail };
    let mut snap = Snapshot::new(Some(mta), source, opts.now);
    let mut current: Option<Message> = None;
    // The `(reason)` in force: Postfix's applies to the recipients under it, Sendmail's to all.
    let mut reason: Option<String> = None;
    let mut known_lines = 0u64;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            if let Some(m) = current.take() {
                snap.push(m);
            }
            continue;
        }
        if is_frame(t) {
            known_lines += 1;
            continue;
        }
        if !line.starts_with([' ', '\t'])
            && let Some(m) = message_line(t, postfix, opts)
        {
            if let Some(prev) = current.replace(m) {
                snap.push(prev);
            }
            reason = None;
            continue;
        }
        let Some(m) = current.as_mut() else {
            snap.unparsed += 1;
            continue;
        };
        if let Some(r) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            let r = r.trim();
            reason = (!r.is_empty()).then(|| cut(r, MAX_REASON));
            if !postfix {
                // Sendmail's reason is the message's: any recipients listed so far share it.
                for rc in &mut m.recipients {
                    rc.reason.clone_from(&reason);
                }
            }
            continue;
        }
        if t.starts_with("QUARANTINE:") || t.starts_with("Quarantine:") {
            continue;
        }
        if !line.starts_with([' ', '\t']) || t.contains(char::is_whitespace) {
            snap.unparsed += 1;
            continue;
        }
        if m.recipients.len() >= MAX_RECIPIENTS {
            m.more_recipients += 1;
            continue;
        }
        let addr = t.trim_start_matches('<').trim_end_matches('>');
        m.recipients.push(Recipient {
            address: cut(addr, MAX_FIELD),
            reason: reason.clone(),
            ..Recipient::default()
        });
    }
    if let Some(m) = current.take() {
        snap.push(m);
    }
    if snap.messages.is_empty() && snap.unparsed > 0 && known_lines == 0 {
        return Err(QueueError::NotAListing {
            what: source.to_string(),
            expected: EXPECTED.to_string(),
        });
    }
    snap.notes.push(format!(
        "{} gives no next retry time, and its dates no zone: read as UTC{:+03}:{:02}",
        if postfix { "postqueue -p" } else { "mailq" },
        opts.local_offset / 3600,
        (opts.local_offset.abs() % 3600) / 60
    ));
    Ok(snap)
}

/// Whether `line` is a header, a total or a message line of a `mailq` listing.
pub fn is_listing_line(line: &str, opts: &ParseOptions) -> bool {
    let t = line.trim();
    is_frame(t) || (!line.starts_with([' ', '\t']) && message_line(t, false, opts).is_some())
}

/// Headers, totals and empty-queue lines of both listings.
fn is_frame(t: &str) -> bool {
    t.starts_with("-Queue ID-")
        || t.starts_with("-----Q-ID-----")
        || t.starts_with("Total requests:")
        || (t.starts_with("-- ") && (t.contains("Request") || t.contains("request")))
        || t == "Mail queue is empty"
        || t.ends_with(" is empty")
        || (t.starts_with('/') && (t.ends_with("request)") || t.ends_with("requests)")))
}

/// `52F9A99020B*    270 Tue Dec  1 16:51:41  sender@queue.test` (Postfix) or
/// `x9ABCDEF012345     12 Mon Nov 20 10:00 <sender@example.com>` (Sendmail).
fn message_line(t: &str, postfix: bool, opts: &ParseOptions) -> Option<Message> {
    let w: Vec<&str> = t.split_whitespace().collect();
    if w.len() < 6 {
        return None;
    }
    // The mark after the ID: `*` active or locked, `!` held (Postfix); Sendmail's `X` (load too
    // high) and `-` (too young) follow its 14-character IDs, which may end in an X themselves.
    let (id, flag) = match w[0].char_indices().last() {
        Some((i, c @ ('*' | '!'))) if i > 0 => (&w[0][..i], Some(c)),
        Some((i, c @ ('X' | '-'))) if !postfix && i >= 14 => (&w[0][..i], Some(c)),
        _ => (w[0], None),
    };
    if id.len() < 6 || !id.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let size: u64 = w[1].parse().ok()?;
    let weekday = WEEKDAYS.iter().position(|d| d.eq_ignore_ascii_case(w[2]))?;
    let mon = month(w[3])?;
    let day: u32 = w[4].parse().ok()?;
    let mut hms = w[5].split(':');
    let h: u32 = hms.next()?.parse().ok()?;
    let mi: u32 = hms.next()?.parse().ok()?;
    let s: u32 = hms.next().map_or(Some(0), |s| s.parse().ok())?;
    let arrival = date_in_year(mon, day, h, mi, s, weekday, opts);
    let sender = w.get(6..).map(|s| s.join(" ")).unwrap_or_default();
    let sender = sender.trim_start_matches('<').trim_end_matches('>');
    let sender = if sender == "MAILER-DAEMON" {
        ""
    } else {
        sender
    };
    let held = postfix && flag == Some('!');
    Some(Message {
        id: cut(id, MAX_FIELD),
        queue: match (postfix, flag) {
            (true, Some('*')) => "active",
            (true, Some('!')) => "hold",
            (true, _) => "deferred",
            _ => "queue",
        }
        .to_string(),
        arrival,
        arrival_exact: postfix,
        size: Some(size),
        sender: cut(sender, MAX_FIELD),
        held,
        ..Message::default()
    })
}

/// The Unix time of a year-less local date: the latest year that puts it at or before the
/// listing's time (a day of slack for clocks), preferring one whose weekday agrees.
fn date_in_year(
    mon: u32,
    day: u32,
    h: u32,
    mi: u32,
    s: u32,
    weekday: usize,
    opts: &ParseOptions,
) -> Option<i64> {
    let now_local = opts.now + i64::from(opts.local_offset);
    let (year, ..) = mxray_logs::Timestamp {
        secs: now_local,
        utc: false,
    }
    .civil();
    let mut fallback = None;
    for y in (year - 7..=year).rev() {
        let Some(ts) = mxray_logs::Timestamp::from_civil(y, mon, day, h, mi, s, None) else {
            continue;
        };
        if ts.secs > now_local + 86_400 {
            continue;
        }
        let wd = (days_from_civil(y, mon, day) + 4).rem_euclid(7) as usize;
        let utc = ts.secs - i64::from(opts.local_offset);
        if wd == weekday {
            return Some(utc);
        }
        fallback.get_or_insert(utc);
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENDMAIL: &str = "\
\t\t/var/spool/mqueue (3 requests)
-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------
5AJA0bXK012345     1234 Fri Nov 20 10:00 <sender@example.com>
                 (Deferred: Connection refused by mx.example.org.)
\t\t\t\t\t <bob@example.org>
\t\t\t\t\t <carol@example.org>
5AJA0bXK012346*      99 Thu Nov 19 23:59 <>
                 (Deferred: 451 4.7.1 Greylisted, try again later)
\t\t\t\t\t <dave@example.net>
5AJA0bXK012347      512 Sat Nov 21 09:00 <x@example.com>
\t\t\t\t\t <erin@example.com>
\t\tTotal requests: 3
";

    const POSTFIX: &str = "\
-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
52F9A99020B     270 Tue Dec  1 16:51:41  sender@queue.test
(host 127.0.0.5[127.0.0.5] said: 452 4.2.2 <carol@full.test>: Mailbox full, try again later (in reply to RCPT TO command))
                                         carol@full.test

5631399020D!    270 Tue Dec  1 16:51:41  MAILER-DAEMON
                    (connect to 127.0.0.4[127.0.0.4]:2600: Connection refused)
                                         frank@refused.test
(host 127.0.0.2[127.0.0.2] said: 451 4.7.1 Greylisted, please try again later (in reply to RCPT TO command))
                                         erin@greylist.test

4B62F9901FF*    270 Tue Dec  1 16:51:41  sender@queue.test
                                         bob@greylist.test

-- 1 Kbytes in 3 Requests.
";

    #[test]
    fn sendmail_reasons_apply_to_the_whole_message() {
        // 2026-11-21 12:00 UTC, the server at UTC+01:00.
        let now = mxray_logs::Timestamp::from_civil(2026, 11, 21, 12, 0, 0, Some(0)).unwrap();
        let o = ParseOptions {
            now: now.secs,
            local_offset: 3600,
        };
        let s = parse(SENDMAIL, "mailq", &o).unwrap();
        assert_eq!(s.mta, Some(Mta::Sendmail));
        assert_eq!((s.messages.len(), s.unparsed), (3, 0), "{:#?}", s.messages);
        let m = &s.messages[0];
        assert_eq!(m.recipients.len(), 2);
        assert!(m.recipients.iter().all(
            |r| r.reason.as_deref() == Some("Deferred: Connection refused by mx.example.org.")
        ));
        // 10:00 local, an hour ahead of UTC, on Friday 2026-11-20.
        let want = mxray_logs::Timestamp::from_civil(2026, 11, 20, 9, 0, 0, Some(0)).unwrap();
        assert_eq!(m.arrival, Some(want.secs));
        assert_eq!(s.messages[1].sender, "");
        assert_eq!(s.messages[1].id, "5AJA0bXK012346");
        assert!(s.messages[2].recipients[0].reason.is_none());
        assert!(s.notes[0].contains("UTC+01:00"), "{:?}", s.notes);
    }

    #[test]
    fn postfix_reasons_apply_to_the_recipients_under_them() {
        let now = mxray_logs::Timestamp::from_civil(2026, 12, 1, 17, 0, 0, Some(0)).unwrap();
        let o = ParseOptions {
            now: now.secs,
            local_offset: 0,
        };
        let s = parse(POSTFIX, "postqueue -p", &o).unwrap();
        assert_eq!(s.mta, Some(Mta::Postfix));
        assert_eq!((s.messages.len(), s.unparsed), (3, 0));
        let two = &s.messages[1];
        assert!(two.held);
        assert_eq!(two.sender, "");
        assert!(
            two.recipients[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("Connection refused")
        );
        assert!(
            two.recipients[1]
                .reason
                .as_deref()
                .unwrap()
                .contains("451 4.7.1")
        );
        assert_eq!(s.messages[2].queue, "active");
        assert!(s.messages[2].recipients[0].reason.is_none());
        let want = mxray_logs::Timestamp::from_civil(2026, 12, 1, 16, 51, 41, Some(0)).unwrap();
        assert_eq!(s.messages[0].arrival, Some(want.secs));
    }

    #[test]
    fn years_and_garbage() {
        // A December date read in January is last year's.
        let now = mxray_logs::Timestamp::from_civil(2027, 1, 2, 0, 0, 0, Some(0)).unwrap();
        let o = ParseOptions {
            now: now.secs,
            local_offset: 0,
        };
        let s = parse(POSTFIX, "p", &o).unwrap();
        let want = mxray_logs::Timestamp::from_civil(2026, 12, 1, 16, 51, 41, Some(0)).unwrap();
        assert_eq!(s.messages[0].arrival, Some(want.secs));
        let e = parse("garbage\nmore garbage\n", "q.txt", &o).unwrap_err();
        assert!(e.to_string().contains("mailq"), "{e}");
        // Empty queues are listings.
        assert!(
            parse("Mail queue is empty\n", "p", &o)
                .unwrap()
                .messages
                .is_empty()
        );
        assert!(
            parse(
                "/var/spool/mqueue is empty\n\t\tTotal requests: 0\n",
                "p",
                &o
            )
            .unwrap()
            .messages
            .is_empty()
        );
        for t in [
            "ABCDEF 1 Xyz Dec 1 1:1 a",
            "ABCDEF 99999999999999999999 Tue Dec 1 1:1 a",
            "ABCDEF 1 Tue Feb 31 1:1:1 a\n  b@c",
        ] {
            let _ = parse(t, "t", &o);
        }
    }
}
