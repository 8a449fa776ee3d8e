//! Line parsing: the header (timestamp, host, program) of syslog, RFC 3339 and Exim main-log
//! lines, then dispatch to the MTA's own message parser. Allocation-free; never panics.
//!
//! Lines are bytes, not `str`: mail logs carry Latin-1 banners and arbitrary bytes from remote
//! servers, and only the few fields that reach a report are decoded (lossily).

pub mod exim;
pub mod postfix;
pub mod sendmail;

use crate::event::{Event, Mta};
use crate::time::{Timestamp, YearGuess, parse_exim, parse_rfc3339, parse_syslog};

/// Lines longer than this are not parsed: counted as unparsed (no MTA writes one; a hostile
/// reply could try).
pub const MAX_LINE: usize = 64 * 1024;

/// What one line turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed<S> {
    Event {
        time: Option<Timestamp>,
        mta: Mta,
        event: Event<S>,
    },
    /// A well-formed line from another program (dovecot, opendkim, cron...): not ours to count.
    Other { time: Option<Timestamp> },
    /// A continuation of the previous line (Exim's multi-line entries start their next lines
    /// with whitespace): part of a known shape, nothing to count.
    Continuation,
    /// No known shape.
    Unparsed,
}

/// Parses lines of one input, keeping what lines share (the year of year-less stamps).
#[derive(Debug, Clone)]
pub struct LineParser {
    only: Option<Mta>,
    year: YearGuess,
    /// The last syslog stamp's bytes and value: consecutive lines mostly share their second.
    last_stamp: ([u8; 16], usize, Option<Timestamp>),
}

impl LineParser {
    /// `only`: parse only this MTA's lines (`--format`); others count as other programs'.
    pub fn new(only: Option<Mta>, year: YearGuess) -> LineParser {
        LineParser {
            only,
            year,
            last_stamp: ([0; 16], 0, None),
        }
    }

    /// Parses one line (without its newline).
    pub fn parse<'a>(&mut self, line: &'a [u8]) -> Parsed<&'a [u8]> {
        let line = trim_end(line);
        if line.len() > MAX_LINE || line.is_empty() {
            return Parsed::Unparsed;
        }
        if matches!(line[0], b' ' | b'\t') && line.len() > 1 {
            return Parsed::Continuation;
        }
        if line[0].is_ascii_digit() {
            // Exim's own main log: `2026-11-20 10:00:01 [+0100] [[pid]] message`.
            if let Some((time, used)) = parse_exim(line) {
                if self.only.is_some_and(|m| m != Mta::Exim) {
                    return Parsed::Other { time: Some(time) };
                }
                let rest = skip_pid(line.get(used..).unwrap_or(&[]));
                return match exim::parse(rest) {
                    Some(event) => Parsed::Event {
                        time: Some(time),
                        mta: Mta::Exim,
                        event,
                    },
                    None => Parsed::Unparsed,
                };
            }
            if let Some((time, used)) = parse_rfc3339(line) {
                return self.syslog_body(Some(time), line.get(used..).unwrap_or(&[]));
            }
            return Parsed::Unparsed;
        }
        let (bytes, used, time) = self.last_stamp;
        if used > 0 && line.get(..used) == Some(&bytes[..used]) {
            return self.syslog_body(time, &line[used..]);
        }
        match parse_syslog(line) {
            Some((stamp, used)) => {
                let time = self.year.stamp(stamp);
                if used <= 16 {
                    let mut bytes = [0u8; 16];
                    bytes[..used].copy_from_slice(&line[..used]);
                    self.last_stamp = (bytes, used, time);
                }
                self.syslog_body(time, line.get(used..).unwrap_or(&[]))
            }
            None => Parsed::Unparsed,
        }
    }

    /// ` host program[pid]: message` after a syslog or RFC 3339 stamp.
    fn syslog_body<'a>(&self, time: Option<Timestamp>, rest: &'a [u8]) -> Parsed<&'a [u8]> {
        let Some(rest) = rest.strip_prefix(b" ") else {
            return Parsed::Unparsed;
        };
        let Some((_host, rest)) = split_word(rest) else {
            return Parsed::Unparsed;
        };
        let Some((tag, msg)) = split_word(rest) else {
            return Parsed::Unparsed;
        };
        let Some(tag) = tag.strip_suffix(b":") else {
            return Parsed::Unparsed;
        };
        let program = match memchr::memchr(b'[', tag) {
            Some(i) => &tag[..i],
            None => tag,
        };
        let Some(mta) = mta_of(program) else {
            return Parsed::Other { time };
        };
        if self.only.is_some_and(|m| m != mta) {
            return Parsed::Other { time };
        }
        let event = match mta {
            Mta::Postfix => {
                let service = match memchr::memrchr(b'/', program) {
                    Some(i) => &program[i + 1..],
                    None => program,
                };
                postfix::parse(service, msg)
            }
            Mta::Exim => exim::parse(msg),
            Mta::Sendmail => sendmail::parse(msg),
        };
        match event {
            Some(event) => Parsed::Event { time, mta, event },
            None => Parsed::Unparsed,
        }
    }
}

/// Which MTA a syslog program tag belongs to. Postfix's `syslog_name` is free (`postfix-out`,
/// `postfix/submission`), so any `name/daemon` tag is taken as Postfix.
fn mta_of(program: &[u8]) -> Option<Mta> {
    if program.starts_with(b"postfix") || memchr::memchr(b'/', program).is_some() {
        Some(Mta::Postfix)
    } else if program.starts_with(b"exim") {
        Some(Mta::Exim)
    } else if program == b"sendmail" || program.starts_with(b"sm-") {
        Some(Mta::Sendmail)
    } else {
        None
    }
}

/// Exim's optional `[pid] ` after the stamp (log_selector `+pid`), and the space before it.
fn skip_pid(rest: &[u8]) -> &[u8] {
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    if rest.first() == Some(&b'[')
        && let Some(end) = memchr::memchr(b']', rest)
        && rest[1..end].iter().all(u8::is_ascii_digit)
    {
        return rest
            .get(end + 1..)
            .map_or(&[], |r| r.strip_prefix(b" ").unwrap_or(r));
    }
    rest
}

pub(crate) fn trim_end(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b'\r' | b'\n' | b' ' | b'\t') {
        end -= 1;
    }
    &b[..end]
}

/// The first space-separated word and the rest after the space.
pub(crate) fn split_word(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = memchr::memchr(b' ', b)?;
    if i == 0 {
        return None;
    }
    Some((&b[..i], &b[i + 1..]))
}

/// Finds `needle` in `hay`. Needles here are short literals: scanning for the first byte with
/// memchr and comparing beats building a `memmem::Finder` on every call.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, hay.get(from..)?) {
        let at = from + i;
        if hay.get(at + 1..at + 1 + rest.len()) == Some(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The value of `key` (given with its `=`) up to the next `, ` or end: `key=value, ...`.
pub(crate) fn comma_field<'a>(hay: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    loop {
        let at = from + find(hay.get(from..)?, key)?;
        // The key must start the text or follow a separator, or `to=` would match `orig_to=`.
        if at == 0 || matches!(hay[at - 1], b' ' | b',') {
            let v = &hay[at + key.len()..];
            let end = find(v, b", ").unwrap_or(v.len());
            return Some(&v[..end]);
        }
        from = at + key.len();
    }
}

/// `<...>` at the start of `b`: the inside and the rest after `>`.
pub(crate) fn angle(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let b = b.strip_prefix(b"<")?;
    let end = memchr::memchr(b'>', b)?;
    Some((&b[..end], &b[end + 1..]))
}

/// `name[addr]` (optionally followed by `:port`): the name and the address.
pub(crate) fn host_and_ip(b: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(b'[', b) {
        Some(i) => {
            let rest = &b[i + 1..];
            let ip = memchr::memchr(b']', rest).map(|e| &rest[..e]);
            (&b[..i], ip)
        }
        None => (b, None),
    }
}

pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.len() > 24 {
        return None;
    }
    let v: f64 = std::str::from_utf8(b).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

/// True when `b` starts with any of `prefixes`.
pub(crate) fn starts_with_any(b: &[u8], prefixes: &[&[u8]]) -> bool {
    prefixes.iter().any(|p| b.starts_with(p))
}

/// A queue ID followed by `: `: the ID and the rest. IDs are short runs of letters and digits
/// (Postfix short and long IDs, Sendmail's `5AKA01x1000123`).
pub(crate) fn queue_id(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr(b':', b)?;
    let id = &b[..end];
    if !(5..=31).contains(&id.len()) || !id.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    // Words such as `warning:` or `statistics:` are not IDs: real IDs carry a digit, or are
    // all upper-case hex (a Postfix short ID that happens to have no digit).
    let has_digit = id.iter().any(u8::is_ascii_digit);
    if !has_digit && !id.iter().all(|c| matches!(c, b'A'..=b'F')) {
        return None;
    }
    let rest = b.get(end + 1..)?;
    Some((id, rest.strip_prefix(b" ").unwrap_or(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Status;

    fn parser() -> LineParser {
        LineParser::new(None, YearGuess::starting(2026))
    }

    #[test]
    fn syslog_header_and_program_dispatch() {
        let mut p = parser();
        let line = b"Nov 20 10:00:01 mail postfix-out/smtp[123]: 4AB12C3D4E: to=<a@example.org>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.1]:25: Connection refused)";
        match p.parse(line) {
            Parsed::Event {
                time: Some(t),
                mta: Mta::Postfix,
                event: Event::Attempt(a),
            } => {
                assert_eq!(t.to_string(), "2026-11-20T10:00:01");
                assert_eq!(a.status, Status::Deferred);
                assert_eq!(a.dsn, Some(&b"4.4.1"[..]));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            p.parse(b"Nov 20 10:00:01 mail dovecot[12]: imap-login: Login"),
            Parsed::Other { .. }
        ));
        assert_eq!(p.parse(b"garbage"), Parsed::Unparsed);
        assert_eq!(p.parse(b""), Parsed::Unparsed);
    }

    #[test]
    fn format_filter_turns_other_mtas_into_other() {
        let mut p = LineParser::new(Some(Mta::Exim), YearGuess::starting(2026));
        assert!(matches!(
            p.parse(b"Nov 20 10:00:01 mail postfix/qmgr[1]: 4AB12C3D4E: removed"),
            Parsed::Other { .. }
        ));
    }

    #[test]
    fn rfc3339_header() {
        let mut p = parser();
        let r = p.parse(b"2026-11-20T10:00:01.5+01:00 mail postfix/qmgr[1]: 4AB12C3D4E: removed");
        match r {
            Parsed::Event {
                time: Some(t),
                event: Event::Removed { id },
                ..
            } => {
                assert_eq!(t.to_string(), "2026-11-20T09:00:01Z");
                assert_eq!(id, b"4AB12C3D4E");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn daemon_words_are_not_queue_ids() {
        let mut p = parser();
        for l in [
            &b"Nov 24 06:49:54 mail postfix/scache[27818]: statistics: start interval Nov 24 06:47:57"[..],
            b"Nov 24 06:49:54 mail postfix/smtpd[1]: warning: hostname x does not resolve",
        ] {
            assert!(matches!(p.parse(l), Parsed::Event { event: Event::Noise, .. }));
        }
        assert_eq!(
            queue_id(b"ABCDEF: removed").map(|x| x.0),
            Some(&b"ABCDEF"[..])
        );
    }

    #[test]
    fn over_long_lines_are_unparsed() {
        let mut p = parser();
        let mut line = b"Nov 20 10:00:01 mail postfix/qmgr[1]: 4AB12C3D4E: removed ".to_vec();
        line.resize(MAX_LINE + 10, b'x');
        assert_eq!(p.parse(&line), Parsed::Unparsed);
    }
}
