//! Exim's queue: `exim -bp` (blocks of `AGE SIZE ID <sender>` and indented recipients, `D` for
//! delivered ones), optionally followed by what explains it, in sections headed `==> COMMAND`:
//!
//! - `==> exim -Mvh ID`: the message's header file, whose fourth line is its arrival (Unix time);
//! - `==> exim -Mvl ID`: its message log, whose `defer` lines give each recipient's last reason;
//! - `==> exim_dumpdb SPOOL retry`: the retry database (per host and per address: the last error
//!   and the next try time).
//!
//! The collector writes exactly this form, and a shell one-liner on the server writes the same
//! (docs/queue.md). Reasons come from the message log, read by the logs verb's Exim parser (one
//! reading of a deferral whether logged or queued); the retry data fills in what it lacks.
//! Pure: text, the time and the local offset in, no I/O.

use std::collections::HashMap;

use mxray_logs::Event;
use mxray_logs::parse::exim as log;

use crate::ParseOptions;
use crate::error::QueueError;
use crate::model::{
    MAX_FIELD, MAX_REASON, MAX_RECIPIENTS, Message, Mta, Recipient, Snapshot, cut, domain_of,
};

pub const EXPECTED: &str = "Exim's `exim -bp` output (`AGE SIZE ID <sender>` lines, each followed by indented recipients), optionally followed by `==> exim -Mvh ID`, `==> exim -Mvl ID` and `==> exim_dumpdb SPOOL retry` sections";

/// Message-log and header sections read at most (each is one message's).
pub const MAX_SECTIONS: usize = 2 * crate::model::MAX_MESSAGES;
/// Lines read per message log: long logs are the many retries of one message; the last
/// deferral of each recipient is what counts, so the tail is kept.
pub const MAX_MSGLOG_LINES: usize = 2_000;

/// What the sections say about one message.
#[derive(Default)]
struct Detail {
    arrival: Option<i64>,
    frozen: bool,
    /// Local time of its `Received from` line, to learn the server's UTC offset.
    received_local: Option<i64>,
    /// Recipient (lowercase) -> its last failure; `None`: Exim only declined to try (`retry
    /// time not reached`).
    reasons: HashMap<String, Option<Failure>>,
}

/// A recipient's last failure in its message log.
#[derive(Clone)]
struct Failure {
    reason: String,
    /// The message-log line after its time stamp.
    line: String,
    host: Option<String>,
}

/// One retry record: its key, error text and next try (local time of the server).
struct Retry {
    key: String,
    text: String,
    next_local: i64,
}

#[derive(PartialEq)]
enum Section {
    Bp,
    Header(String),
    Msglog(String),
    Retry,
    Other,
}

fn section_of(header: &str) -> Section {
    let words: Vec<&str> = header.split_whitespace().collect();
    let id = words
        .last()
        .filter(|w| log::is_message_id(w.as_bytes()))
        .map(|w| w.to_string());
    if words.iter().any(|w| w.contains("dumpdb")) {
        return Section::Retry;
    }
    match (words.contains(&"-Mvh"), words.contains(&"-Mvl"), id) {
        (true, _, Some(id)) => Section::Header(id),
        (_, true, Some(id)) => Section::Msglog(id),
        _ => Section::Other,
    }
}

/// Reads an Exim listing with its optional sections.
pub fn parse(text: &str, source: &str, opts: &ParseOptions) -> Result<Snapshot, QueueError> {
    let mut snap = Snapshot::new(Some(Mta::Exim), source, opts.now);
    let mut details: HashMap<String, Detail> = HashMap::new();
    let mut retries: Vec<Retry> = Vec::new();
    let mut section = Section::Bp;
    let mut current: Option<Message> = None;
    let mut header_lines = 0usize;
    let mut msglog_lines: Vec<&str> = Vec::new();
    let mut pending_retry: Option<(String, String)> = None;
    let mut saw_sections = false;

    fn flush_msglog(id: &str, lines: &mut Vec<&str>, details: &mut HashMap<String, Detail>) {
        if details.len() < MAX_SECTIONS || details.contains_key(id) {
            let d = details.entry(id.to_string()).or_default();
            read_msglog(id, lines, d);
        }
        lines.clear();
    }

    for line in text.lines() {
        if let Some(h) = line.strip_prefix("==> ") {
            if let Section::Msglog(id) = &section {
                flush_msglog(id, &mut msglog_lines, &mut details);
            }
            if let Some(m) = current.take() {
                snap.push(m);
            }
            section = section_of(h);
            header_lines = 0;
            saw_sections = true;
            continue;
        }
        match &section {
            Section::Bp => read_bp_line(line, opts.now, &mut current, &mut snap),
            Section::Header(id) => {
                header_lines += 1;
                if details.len() >= MAX_SECTIONS && !details.contains_key(id) {
                    continue;
                }
                let d = details.entry(id.clone()).or_default();
                let t = line.trim();
                // Line 4 is `SECONDS WARNINGS`; `-frozen TIME` marks a frozen message.
                if header_lines <= 6 && d.arrival.is_none() {
                    let mut w = t.split(' ');
                    if let (Some(a), Some(b), None) = (w.next(), w.next(), w.next())
                        && a.len() >= 9
                        && a.bytes().all(|c| c.is_ascii_digit())
                        && b.bytes().all(|c| c.is_ascii_digit())
                    {
                        d.arrival = a.parse().ok();
                    }
                }
                if t.starts_with("-frozen ") {
                    d.frozen = true;
                }
            }
            Section::Msglog(_) => {
                if msglog_lines.len() >= MAX_MSGLOG_LINES {
                    msglog_lines.remove(0);
                }
                msglog_lines.push(line);
            }
            Section::Retry => read_retry_line(line, &mut pending_retry, &mut retries),
            Section::Other => {}
        }
    }
    if let Section::Msglog(id) = &section {
        flush_msglog(id, &mut msglog_lines, &mut details);
    }
    if let Some(m) = current.take() {
        snap.push(m);
    }
    if snap.messages.is_empty() && snap.unparsed > 0 {
        return Err(QueueError::NotAListing {
            what: source.to_string(),
            expected: EXPECTED.to_string(),
        });
    }

    // The server's offset from UTC: a message's arrival in Unix time (-Mvh) beside the local
    // time its message log gives it; else the caller's. (Listing order: the same answer on
    // every run.)
    let in_order = || snap.messages.iter().filter_map(|m| details.get(&m.id));
    let offset = in_order()
        .find_map(|d| Some(d.received_local? - d.arrival?))
        .map(|o| ((o as f64 / 900.0).round() as i64) * 900)
        .filter(|o| o.abs() <= 14 * 3600)
        .unwrap_or(i64::from(opts.local_offset));

    // Reasons by domain, for recipients Exim only declined to try: the host that failed for
    // another recipient of the same domain is why.
    let mut by_domain: HashMap<String, Failure> = HashMap::new();
    for d in in_order() {
        let mut rcpts: Vec<_> = d.reasons.iter().collect();
        rcpts.sort_by(|a, b| a.0.cmp(b.0));
        for (rcpt, failure) in rcpts {
            if let Some(f) = failure {
                by_domain
                    .entry(domain_of(rcpt))
                    .or_insert_with(|| f.clone());
            }
        }
    }

    let mut with_details = 0usize;
    let mut no_reason = 0usize;
    for m in &mut snap.messages {
        let d = details.get(&m.id);
        if let Some(d) = d {
            with_details += 1;
            if let Some(a) = d.arrival {
                m.arrival = Some(a);
                m.arrival_exact = true;
            }
            m.frozen |= d.frozen;
        }
        for r in m.recipients.iter_mut().filter(|r| !r.delivered) {
            let key = r.address.to_ascii_lowercase();
            match d.and_then(|d| d.reasons.get(&key)) {
                Some(Some(f)) => {
                    r.reason = Some(f.reason.clone());
                    r.line = Some(f.line.clone());
                    r.host = f.host.clone();
                }
                Some(None) => {
                    // Borrowed: the other recipient's line names the other recipient, so it
                    // is not this one's sample.
                    if let Some(f) = by_domain.get(&domain_of(&key)) {
                        r.reason = Some(f.reason.clone());
                        r.host = f.host.clone();
                    } else {
                        r.reason = Some("retry time not reached for any host".to_string());
                    }
                }
                None => {}
            }
            // The retry database: the address's own record, its domain's, and its host's.
            let mut next: Option<i64> = None;
            for rec in &retries {
                if retry_applies(&rec.key, &key, r.host.as_deref()) {
                    next = Some(next.map_or(rec.next_local, |n| n.max(rec.next_local)));
                    if r.reason.is_none() && rec.key.starts_with("R:") && !rec.text.is_empty() {
                        r.reason = Some(cut(&rec.text, MAX_REASON));
                    }
                }
            }
            r.next_retry = next.map(|n| n - offset);
            if r.reason.is_none() {
                no_reason += 1;
            }
        }
    }
    snap.retry_times = !retries.is_empty();
    if !saw_sections && !snap.messages.is_empty() {
        snap.notes.push(
            "only exim -bp was read: no reasons (they are in each message's log, exim -Mvl ID) and ages rounded to minutes, hours or days (exact in exim -Mvh ID)"
                .to_string(),
        );
    } else if with_details < snap.messages.len() {
        snap.notes.push(format!(
            "{} of {} messages had no -Mvh/-Mvl section: their ages are rounded and their reasons unknown",
            snap.messages.len() - with_details,
            snap.messages.len()
        ));
    }
    if saw_sections && retries.is_empty() {
        snap.notes.push(
            "no retry data was read (exim_dumpdb SPOOL retry): next retry times unknown"
                .to_string(),
        );
    }
    if no_reason > 0 && saw_sections {
        snap.notes.push(format!(
            "{no_reason} recipient(s) without a recorded attempt: not tried yet, or their message log was not readable"
        ));
    }
    Ok(snap)
}

/// One line of `exim -bp`: a message's first line, one of its recipients, or a blank.
fn read_bp_line(line: &str, now: i64, current: &mut Option<Message>, snap: &mut Snapshot) {
    if line.trim().is_empty() {
        if let Some(m) = current.take() {
            snap.push(m);
        }
        return;
    }
    if let Some(m) = bp_message(line, now) {
        if let Some(prev) = current.replace(m) {
            snap.push(prev);
        }
        return;
    }
    let Some(m) = current.as_mut() else {
        snap.unparsed += 1;
        return;
    };
    if !line.starts_with([' ', '\t']) {
        snap.unparsed += 1;
        return;
    }
    let t = line.trim();
    let (delivered, addr) = match t.strip_prefix("+D ").or_else(|| t.strip_prefix("D ")) {
        Some(a) => (true, a.trim()),
        None => (false, t),
    };
    if m.recipients.len() >= MAX_RECIPIENTS {
        m.more_recipients += 1;
        return;
    }
    m.recipients.push(Recipient {
        address: cut(addr, MAX_FIELD),
        delivered,
        ..Recipient::default()
    });
}

/// Whether `line` opens a message in `exim -bp` output.
pub fn is_message_line(line: &str) -> bool {
    bp_message(line, 0).is_some()
}

/// The message IDs of `exim -bp` output, in its order (what the collector asks details of).
pub fn listed_ids(text: &str) -> Vec<String> {
    text.lines()
        .take_while(|l| !l.starts_with("==> "))
        .filter_map(|l| bp_message(l, 0))
        .map(|m| m.id)
        .collect()
}

/// `25m  2.9K 1xYR5L-0002eg-1a <sender@queue.test> *** frozen ***`.
fn bp_message(line: &str, now: i64) -> Option<Message> {
    let mut words = line.split_whitespace();
    let age = words.next()?;
    let size = words.next()?;
    let id = words.next()?;
    if !log::is_message_id(id.as_bytes()) {
        return None;
    }
    let (n, unit) = age.split_at(age.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    let secs = n.checked_mul(match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    })?;
    let rest = line.split_once(id)?.1.trim();
    let open = rest.find('<')?;
    let close = rest.rfind('>')?;
    if close < open {
        return None;
    }
    Some(Message {
        id: id.to_string(),
        queue: "queue".to_string(),
        arrival: Some(now - secs),
        arrival_exact: false,
        size: exim_size(size),
        sender: cut(&rest[open + 1..close], MAX_FIELD),
        frozen: rest[close..].contains("*** frozen ***"),
        ..Message::default()
    })
}

/// `308`, `2.9K`, `12M`, `1.2G` into bytes.
fn exim_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1024.0),
        b'M' => (&s[..s.len() - 1], 1024.0 * 1024.0),
        b'G' => (&s[..s.len() - 1], 1024.0 * 1024.0 * 1024.0),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some((v * mult) as u64)
}

/// A message log's lines: the last `defer` of each recipient (read by the logs verb's Exim
/// parser after putting back the `==` the message log leaves out), and its arrival line.
fn read_msglog(id: &str, lines: &[&str], d: &mut Detail) {
    let mut last_host: Option<String> = None;
    for line in lines {
        let Some((ts, used)) = mxray_logs::time::parse_exim(line.as_bytes()) else {
            continue;
        };
        let rest = line[used..].trim_start();
        if rest.starts_with("Received from ") {
            d.received_local.get_or_insert(ts.secs);
            continue;
        }
        // `H=127.0.0.4 [127.0.0.4] Connection refused`: a host that failed, before the
        // recipients' line that may not name it.
        if let Some(h) = rest.strip_prefix("H=") {
            last_host = Some(host_key(h));
            continue;
        }
        // The message log leaves out the main log's `==` (deferred) and `**` (failed: what a
        // frozen bounce's recipient shows) markers; `x: T transport succeeded` is a delivery.
        let body = if rest.starts_with("== ") || rest.starts_with("** ") || rest.starts_with("=> ")
        {
            rest.to_string()
        } else if rest.contains(" defer (") {
            format!("== {rest}")
        } else if rest.contains(" R=") && rest.contains(": ") {
            format!("** {rest}")
        } else {
            continue;
        };
        let logline = format!("{id} {body}");
        match log::parse(logline.as_bytes()) {
            Some(Event::Attempt(a))
                if matches!(
                    a.status,
                    mxray_logs::Status::Deferred | mxray_logs::Status::Bounced
                ) =>
            {
                let rcpt =
                    String::from_utf8_lossy(a.orig_to.unwrap_or(a.rcpt)).to_ascii_lowercase();
                let reason = a
                    .reply
                    .map(|r| cut(&String::from_utf8_lossy(r), MAX_REASON))
                    .unwrap_or_default();
                let host = a
                    .relay_ip
                    .or(a.relay)
                    .map(|h| String::from_utf8_lossy(h).into_owned())
                    .or_else(|| last_host.clone());
                let failure = Failure {
                    reason,
                    line: cut(rest, MAX_REASON),
                    host,
                };
                d.reasons.insert(rcpt, Some(failure));
            }
            Some(Event::NotAttempted { rcpt, .. }) => {
                let rcpt = String::from_utf8_lossy(rcpt).to_ascii_lowercase();
                // Keep an earlier real reason: declining to try says nothing new.
                d.reasons.entry(rcpt).or_insert(None);
            }
            _ => {}
        }
        last_host = None;
    }
}

/// `127.0.0.4 [127.0.0.4] Connection refused` -> `127.0.0.4` (the IP when given, else the name).
fn host_key(h: &str) -> String {
    if let (Some(o), Some(c)) = (h.find('['), h.find(']'))
        && o < c
    {
        return h[o + 1..c].to_string();
    }
    h.split_whitespace().next().unwrap_or_default().to_string()
}

/// Two lines per record: `  KEY ERRNO MORE TEXT`, then `FIRST  LAST  NEXT [*]` (local times).
fn read_retry_line(line: &str, pending: &mut Option<(String, String)>, out: &mut Vec<Retry>) {
    let t = line.trim();
    if t.starts_with("R:") || t.starts_with("T:") {
        let mut w = t.splitn(4, ' ');
        let key = w.next().unwrap_or_default();
        let _errno = w.next();
        let _more = w.next();
        let text = w.next().unwrap_or_default();
        *pending = Some((cut(key, MAX_FIELD), cut(text, MAX_REASON)));
        return;
    }
    let Some((key, text)) = pending.take() else {
        return;
    };
    let stamps: Vec<&str> = t.split_whitespace().collect();
    if stamps.len() >= 6
        && out.len() < crate::model::MAX_MESSAGES
        && let Some(next_local) = dumpdb_time(stamps[4], stamps[5])
    {
        out.push(Retry {
            key,
            text,
            next_local,
        });
    }
}

/// `01-Dec-2026` `17:02:07` as local seconds since the epoch.
fn dumpdb_time(date: &str, time: &str) -> Option<i64> {
    let mut d = date.split('-');
    let (day, mon, year) = (d.next()?, d.next()?, d.next()?);
    let month = crate::mailq::month(mon)?;
    let mut t = time.split(':');
    let (h, m, s) = (t.next()?, t.next()?, t.next()?);
    let ts = mxray_logs::Timestamp::from_civil(
        year.parse().ok()?,
        month,
        day.parse().ok()?,
        h.parse().ok()?,
        m.parse().ok()?,
        s.parse().ok()?,
        None,
    )?;
    Some(ts.secs)
}

/// Whether a retry record's key concerns a recipient: `R:ADDRESS[:<SENDER>]`, `R:DOMAIN`, or
/// `T:HOST:IP:PORT` for the host that failed it.
fn retry_applies(key: &str, rcpt: &str, host: Option<&str>) -> bool {
    if let Some(r) = key.strip_prefix("R:") {
        let addr = r.split(":<").next().unwrap_or(r).to_ascii_lowercase();
        return addr == rcpt || (!addr.contains('@') && addr == domain_of(rcpt));
    }
    if let (Some(t), Some(h)) = (key.strip_prefix("T:"), host) {
        let t = t.split('+').next().unwrap_or(t);
        return t == h
            || t.starts_with(&format!("{h}:"))
            || t.contains(&format!(":{h}:"))
            || t.ends_with(&format!(":{h}"));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the collector and the documented one-liner write, from Exim 4.96 (Debian 12).
    const DUMP: &str = "\
 0m   308 1xYR5L-0002eg-1a <sender@queue.test>
          bob@greylist.test

 0m   285 1xYR5L-0002ey-2H <sender@queue.test>
          erin@greylist.test
        D grace@accept.test
          frank@refused.test

 3h   308 1xYR5L-0002eq-1v <sender@queue.test>
          dave@refused.test

 2d   1.2K 1xYR5L-0002fz-3X <> *** frozen ***
          sender@client.test

==> exim -Mvh 1xYR5L-0002eg-1a
1xYR5L-0002eg-1a-H
root 0 0
<sender@queue.test>
1796143927 0
-received_time_usec .491348
XX
1
bob@greylist.test

==> exim -Mvl 1xYR5L-0002eg-1a
2026-12-01 17:52:07 Received from sender@queue.test U=root P=local S=308
2026-12-01 17:52:07 H=127.0.0.2 [127.0.0.2] SMTP error from remote mail server after RCPT TO:<bob@greylist.test>: 451 4.7.1 Greylisted, please try again later
2026-12-01 17:52:07 bob@greylist.test R=lab T=remote_smtp defer (-44) H=127.0.0.2 [127.0.0.2]: SMTP error from remote mail server after RCPT TO:<bob@greylist.test>: 451 4.7.1 Greylisted, please try again later
==> exim -Mvl 1xYR5L-0002ey-2H
2026-12-01 17:52:07 Received from sender@queue.test U=root P=local S=285
2026-12-01 17:52:07 erin@greylist.test R=lab T=remote_smtp defer (-44) H=127.0.0.2 [127.0.0.2]: SMTP error from remote mail server after RCPT TO:<erin@greylist.test>: 451 4.7.1 Greylisted, please try again later
2026-12-01 17:52:07 frank@refused.test R=lab T=remote_smtp defer (-54): retry time not reached for any host for 'refused.test'
==> exim -Mvl 1xYR5L-0002eq-1v
2026-12-01 14:52:07 Received from sender@queue.test U=root P=local S=308
2026-12-01 14:52:07 H=127.0.0.4 [127.0.0.4] Connection refused
2026-12-01 14:52:07 dave@refused.test R=lab T=remote_smtp defer (111): Connection refused
==> exim_dumpdb /var/spool/exim4 retry
  R:bob@greylist.test:<sender@queue.test> -44 13121 H=127.0.0.2 [127.0.0.2]: SMTP error from remote mail server after RCPT TO:<bob@greylist.test>: 451 4.7.1 Greylisted, please try again later
01-Dec-2026 17:52:07  01-Dec-2026 17:52:07  01-Dec-2026 18:02:07 
  T:127.0.0.4:127.0.0.4:2600 111 65 Connection refused
01-Dec-2026 14:52:07  01-Dec-2026 17:52:07  01-Dec-2026 18:12:07 
  R:sender@client.test -44 0 SMTP error after RCPT TO: 451 4.3.0 temporary failure
01-Dec-2026 14:52:07  01-Dec-2026 17:52:07  01-Dec-2026 18:22:07 *
";

    fn opts() -> ParseOptions {
        ParseOptions {
            now: 1_796_143_987,
            local_offset: 0,
        }
    }

    #[test]
    fn reads_the_listing_with_its_sections() {
        let s = parse(DUMP, "exim -bp", &opts()).unwrap();
        assert_eq!(s.messages.len(), 4, "{:#?}", s.messages);
        assert_eq!(s.unparsed, 0);
        let bob = &s.messages[0];
        assert_eq!(bob.arrival, Some(1_796_143_927));
        assert!(bob.arrival_exact);
        let r = &bob.recipients[0];
        assert_eq!(
            r.reason.as_deref(),
            Some(
                "SMTP error from remote mail server after RCPT TO:<bob@greylist.test>: 451 4.7.1 Greylisted, please try again later"
            )
        );
        assert_eq!(r.host.as_deref(), Some("127.0.0.2"));
        // The server runs an hour east of UTC (the -Mvh arrival against its log's local
        // time): 18:02:07 local is 17:02:07 UTC.
        assert_eq!(r.next_retry, Some(1_796_144_527));
        assert!(s.retry_times);

        let two = &s.messages[1];
        assert!(!two.arrival_exact, "no -Mvh: the rounded age");
        assert_eq!(two.arrival, Some(opts().now));
        assert!(two.recipients[1].delivered);
        // Exim only declined to try frank: the host that refused dave is why.
        let frank = &two.recipients[2];
        assert_eq!(frank.reason.as_deref(), Some("Connection refused"));
        assert_eq!(frank.host.as_deref(), Some("127.0.0.4"));
        assert_eq!(frank.next_retry, Some(1_796_145_127));

        let dave = &s.messages[2];
        assert_eq!(dave.arrival, Some(opts().now - 3 * 3600));
        assert_eq!(dave.recipients[0].host.as_deref(), Some("127.0.0.4"));

        let frozen = &s.messages[3];
        assert!(frozen.frozen);
        assert_eq!(frozen.sender, "");
        assert_eq!(frozen.size, Some(1228));
        // No message log: the address's retry record gives the reason and the time.
        let r = &frozen.recipients[0];
        assert_eq!(
            r.reason.as_deref(),
            Some("SMTP error after RCPT TO: 451 4.3.0 temporary failure")
        );
        assert_eq!(r.next_retry, Some(1_796_145_727));
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("1 of 4 messages had no -Mvh/-Mvl")),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn bp_alone_is_read_with_a_note() {
        let bp = DUMP.split("==> ").next().unwrap();
        let s = parse(bp, "exim -bp", &opts()).unwrap();
        assert_eq!(s.messages.len(), 4);
        assert!(
            s.messages
                .iter()
                .flat_map(|m| &m.recipients)
                .all(|r| r.reason.is_none())
        );
        assert!(!s.retry_times);
        assert!(s.notes[0].contains("only exim -bp was read"));
    }

    #[test]
    fn garbage_is_an_error_and_odd_lines_are_counted() {
        let e = parse("<html>\n</html>\n", "q.txt", &opts()).unwrap_err();
        assert!(e.to_string().contains("exim -bp"), "{e}");
        let s = parse(&format!("spool read error\n{DUMP}"), "q", &opts()).unwrap();
        assert_eq!((s.messages.len(), s.unparsed), (4, 1));
        // Hostile sections: no panic, nothing invented.
        for t in [
            "==> exim -Mvl\n2026-12-01 17:52:07 x defer (",
            "==> exim -Mvh 1xYR5L-0002eg-1a\n99999999999999999999 0\n",
            "==> exim_dumpdb retry\n  R:\n\n  T:x\n01-Foo-2026 1:2:3 a b c d\n",
            " 9999999999999999999d 1 1xYR5L-0002eg-1a <a>\n",
            " 5x 1 1xYR5L-0002eg-1a <a>\n  b@c\n",
        ] {
            let _ = parse(t, "t", &opts());
        }
    }

    #[test]
    fn retry_keys() {
        assert!(retry_applies("R:a@b.test:<s@x>", "a@b.test", None));
        assert!(retry_applies("R:b.test", "a@b.test", None));
        assert!(!retry_applies("R:c@b.test", "a@b.test", None));
        assert!(retry_applies(
            "T:mx.b.test:192.0.2.1:25",
            "a@b.test",
            Some("192.0.2.1")
        ));
        assert!(retry_applies(
            "T:mx.b.test:192.0.2.1:25+1xYR5L-0002eg-1a",
            "a",
            Some("192.0.2.1")
        ));
        assert!(!retry_applies(
            "T:mx.b.test:192.0.2.11:25",
            "a@b.test",
            Some("192.0.2.1")
        ));
        assert!(retry_applies("T:mx.b.test", "a@b.test", Some("mx.b.test")));
    }
}
