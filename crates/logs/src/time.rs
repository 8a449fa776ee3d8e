//! Timestamps as mail logs write them: syslog's `Nov 20 10:00:01` (no year), RFC 3339 with
//! fractions and offsets, and Exim's `2026-11-20 10:00:01 [+0100]`; parsed by hand, allocation-free.
//!
//! Written here rather than with `jiff` or `time`: three fixed shapes on the hot path need about a
//! hundred lines and no time-zone database, and a dependency would not make them faster.

use std::fmt;

/// A point in time, in seconds since 1970-01-01 00:00:00 of the clock the log used.
///
/// Stamps with an offset (`+01:00`, `Z`) are converted to UTC and marked `utc`; syslog and Exim
/// stamps without one are kept as written (local time of the logging host), because the zone of
/// that host is not knowable from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    pub utc: bool,
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month 1-12, day 1-31).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Timestamp {
    /// Builds a timestamp from calendar fields, or `None` when a field is out of range.
    pub fn from_civil(
        y: i64,
        mo: u32,
        d: u32,
        h: u32,
        mi: u32,
        s: u32,
        offset_secs: Option<i32>,
    ) -> Option<Timestamp> {
        if !(0..=9999).contains(&y)
            || !(1..=12).contains(&mo)
            || d == 0
            || d > days_in_month(y, mo)
            || h > 23
            || mi > 59
            || s > 60
        {
            return None;
        }
        let local = days_from_civil(y, mo, d) * 86_400
            + i64::from(h) * 3600
            + i64::from(mi) * 60
            + i64::from(s);
        Some(Timestamp {
            secs: local - i64::from(offset_secs.unwrap_or(0)),
            utc: offset_secs.is_some(),
        })
    }

    /// The start of the hour this timestamp falls in.
    pub fn hour(self) -> Timestamp {
        Timestamp {
            secs: self.secs.div_euclid(3600) * 3600,
            utc: self.utc,
        }
    }

    /// Calendar fields (year, month, day, hour, minute, second).
    pub fn civil(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
    }
}

/// RFC 3339 (`2026-11-20T10:00:01Z`) for UTC stamps; without the `Z` for local ones.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d, h, mi, s) = self.civil();
        write!(f, "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}")?;
        if self.utc {
            f.write_str("Z")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "RFC 3339 without fractions: ending in Z for UTC stamps, without it for local time.",
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z?$"
        })
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// A syslog stamp without its year: month, day and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyslogStamp {
    pub month: u32,
    pub day: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
}

/// Parses `Nov 20 10:00:01` / `Nov  5 10:00:01` / `Nov 05 10:00:01` at the start of `b`; returns
/// the stamp and the number of bytes it used (not counting the following space).
pub fn parse_syslog(b: &[u8]) -> Option<(SyslogStamp, usize)> {
    let mon = b.get(..3)?;
    let month = MONTHS.iter().position(|m| m[..] == *mon)? as u32 + 1;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    // Day: " 5", "05", or "5" (some relays drop the padding).
    let mut i = 4;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let day = if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        let d = digits(b, i, 2)?;
        i += 2;
        d
    } else {
        let d = digits(b, i, 1)?;
        i += 1;
        d
    };
    if b.get(i) != Some(&b' ') || b.get(i + 3) != Some(&b':') || b.get(i + 6) != Some(&b':') {
        return None;
    }
    let h = digits(b, i + 1, 2)?;
    let mi = digits(b, i + 4, 2)?;
    let s = digits(b, i + 7, 2)?;
    let mut end = i + 9;
    // Some syslog daemons add fractions (`10:00:01.123456`).
    if b.get(end) == Some(&b'.') {
        end += 1;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    if day == 0 || day > 31 || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some((
        SyslogStamp {
            month,
            day,
            h,
            mi,
            s,
        },
        end,
    ))
}

/// `YYYY-MM-DD` then `sep` then `HH:MM:SS` and optional fraction; returns fields and length.
fn parse_date_time(b: &[u8], sep: u8) -> Option<([u32; 6], usize)> {
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&sep) {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let f = [
        digits(b, 0, 4)?,
        digits(b, 5, 2)?,
        digits(b, 8, 2)?,
        digits(b, 11, 2)?,
        digits(b, 14, 2)?,
        digits(b, 17, 2)?,
    ];
    let mut end = 19;
    if b.get(end) == Some(&b'.') || b.get(end) == Some(&b',') {
        end += 1;
        let start = end;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
    }
    Some((f, end))
}

/// `Z`, `+01:00`, `-0500` at the start of `b`: offset in seconds and bytes used.
fn parse_offset(b: &[u8]) -> Option<(i32, usize)> {
    match b.first()? {
        b'Z' | b'z' => Some((0, 1)),
        c @ (b'+' | b'-') => {
            let h = digits(b, 1, 2)?;
            let (m, used) = if b.get(3) == Some(&b':') {
                (digits(b, 4, 2)?, 6)
            } else {
                (digits(b, 3, 2)?, 5)
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            Some((if *c == b'-' { -secs } else { secs }, used))
        }
        _ => None,
    }
}

/// Parses an RFC 3339 stamp (`2026-11-20T10:00:01.123456+01:00`, journalctl's `+0100` too) at
/// the start of `b`; returns it and the bytes used.
pub fn parse_rfc3339(b: &[u8]) -> Option<(Timestamp, usize)> {
    let (f, mut end) = parse_date_time(b, b'T')?;
    let offset = match b.get(end..).and_then(parse_offset) {
        Some((o, used)) => {
            end += used;
            Some(o)
        }
        None => None,
    };
    let ts = Timestamp::from_civil(i64::from(f[0]), f[1], f[2], f[3], f[4], f[5], offset)?;
    Some((ts, end))
}

/// Parses Exim's `2026-11-20 10:00:01` with an optional `.123` and an optional ` +0100` at the
/// start of `b`; returns it and the bytes used.
pub fn parse_exim(b: &[u8]) -> Option<(Timestamp, usize)> {
    let (f, mut end) = parse_date_time(b, b' ')?;
    let mut offset = None;
    if b.get(end) == Some(&b' ')
        && matches!(b.get(end + 1), Some(b'+' | b'-'))
        && let Some((o, used)) = b.get(end + 1..).and_then(parse_offset)
        && used == 5
    {
        offset = Some(o);
        end += 1 + used;
    }
    let ts = Timestamp::from_civil(i64::from(f[0]), f[1], f[2], f[3], f[4], f[5], offset)?;
    Some((ts, end))
}

/// Parses a user-given bound for `--since` / `--until`: `2026-11-20`, `2026-11-20 10:00`,
/// `2026-11-20T10:00:00`, or a full RFC 3339 stamp.
pub fn parse_bound(s: &str) -> Option<Timestamp> {
    let b = s.trim().as_bytes();
    if let Some((ts, used)) = parse_rfc3339(b).or_else(|| parse_exim(b))
        && used == b.len()
    {
        return Some(ts);
    }
    let y = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (mo, d) = (digits(b, 5, 2)?, digits(b, 8, 2)?);
    match b.len() {
        10 => Timestamp::from_civil(i64::from(y), mo, d, 0, 0, 0, None),
        16 if matches!(b[10], b' ' | b'T') && b[13] == b':' => Timestamp::from_civil(
            i64::from(y),
            mo,
            d,
            digits(b, 11, 2)?,
            digits(b, 14, 2)?,
            0,
            None,
        ),
        _ => None,
    }
}

/// Infers the year of year-less syslog stamps, line after line.
///
/// Starts from a reference (the year given with `--year`, or the file's modification time, when
/// its last line was written) and moves forward a year when the month jumps back by more than
/// six months (December, then January), backward when it jumps ahead as far (an old line).
#[derive(Debug, Clone, Copy)]
pub struct YearGuess {
    year: i64,
    last_month: Option<u32>,
    /// Month of the reference time; the first line is placed no later than it.
    reference_month: Option<u32>,
}

impl YearGuess {
    /// `year` is the year of the first line (`--year`).
    pub fn starting(year: i64) -> YearGuess {
        YearGuess {
            year,
            last_month: None,
            reference_month: None,
        }
    }

    /// The log was last written at `reference` (the file's modification time, or now).
    pub fn ending_at(reference: Timestamp) -> YearGuess {
        let (y, m, ..) = reference.civil();
        YearGuess {
            year: y,
            last_month: None,
            reference_month: Some(m),
        }
    }

    /// The year of a line stamped in `month`.
    pub fn year_for(&mut self, month: u32) -> i64 {
        match self.last_month {
            None => {
                // The first line cannot be later than when the file was last written.
                if self.reference_month.is_some_and(|r| month > r) {
                    self.year -= 1;
                }
            }
            Some(last) if last > month && last - month > 6 => self.year += 1,
            Some(last) if month > last && month - last > 6 => self.year -= 1,
            Some(_) => {}
        }
        self.last_month = Some(month);
        self.year
    }

    pub fn stamp(&mut self, s: SyslogStamp) -> Option<Timestamp> {
        let year = self.year_for(s.month);
        // Feb 29 in a year that has none: the year guess was wrong, not the log; keep the line.
        let day = s.day.min(days_in_month(year, s.month));
        Timestamp::from_civil(year, s.month, day, s.h, s.mi, s.s, None)
    }
}

/// A duration as people read it: exact under an hour (`15m01s`), then to the nearest minute
/// (`2h05m`), then to the nearest hour (`3d04h`); never rounded down.
pub fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 - 30 => {
            let m = (s + 30) / 60;
            format!("{}h{:02}m", m / 60, m % 60)
        }
        s => {
            let h = (s + 1800) / 3600;
            format!("{}d{:02}h", h / 24, h % 24)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_never_rounded_down() {
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(901), "15m01s");
        assert_eq!(human_duration(3599), "59m59s");
        assert_eq!(human_duration(3600 + 5 * 60 + 31), "1h06m");
        assert_eq!(human_duration(2 * 3600 + 59 * 60 + 40), "3h00m");
        assert_eq!(human_duration(86_399), "1d00h");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600 + 1799), "3d04h");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600 + 1800), "3d05h");
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 19_000, 20_412, 2_900_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2026, 11, 20), 20_777);
    }

    #[test]
    fn syslog_padding() {
        let (s, n) = parse_syslog(b"Nov  5 10:00:01 mail").unwrap();
        assert_eq!((s.month, s.day, s.h, s.mi, s.s, n), (11, 5, 10, 0, 1, 15));
        let (s, n) = parse_syslog(b"Nov 05 10:00:01 mail").unwrap();
        assert_eq!((s.day, n), (5, 15));
        let (s, n) = parse_syslog(b"Nov 5 10:00:01 mail").unwrap();
        assert_eq!((s.day, n), (5, 14));
        assert!(parse_syslog(b"Nov 32 10:00:01 mail").is_none());
        assert!(parse_syslog(b"Foo 12 10:00:01 mail").is_none());
        assert!(parse_syslog(b"Nov 12 25:00:01 mail").is_none());
    }

    #[test]
    fn rfc3339_with_fractions_and_offsets() {
        let (t, n) = parse_rfc3339(b"2026-11-20T10:00:01.123456+01:00 host").unwrap();
        assert_eq!(n, 32);
        assert_eq!(t.to_string(), "2026-11-20T09:00:01Z");
        let (t, _) = parse_rfc3339(b"2026-11-20T10:00:01+0100 host").unwrap();
        assert_eq!(t.to_string(), "2026-11-20T09:00:01Z");
        let (t, _) = parse_rfc3339(b"2026-11-20T10:00:01Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-20T10:00:01Z");
        let (t, _) = parse_rfc3339(b"2026-11-20T10:00:01 host").unwrap();
        assert_eq!(t.to_string(), "2026-11-20T10:00:01");
        assert!(parse_rfc3339(b"2026-02-30T10:00:01Z").is_none());
    }

    #[test]
    fn exim_local_time_with_optional_zone() {
        let (t, n) = parse_exim(b"2026-11-20 10:00:01 1rABCD-000123-AB").unwrap();
        assert_eq!((t.to_string().as_str(), n), ("2026-11-20T10:00:01", 19));
        let (t, n) = parse_exim(b"2026-11-20 10:00:01 -0500 1rABCD").unwrap();
        assert_eq!((t.to_string().as_str(), n), ("2026-11-20T15:00:01Z", 25));
        let (_, n) = parse_exim(b"2026-11-20 10:00:01.345 x").unwrap();
        assert_eq!(n, 23);
    }

    #[test]
    fn year_moves_forward_across_new_year() {
        let mut g = YearGuess::starting(2025);
        assert_eq!(g.year_for(12), 2025);
        assert_eq!(g.year_for(12), 2025);
        assert_eq!(g.year_for(1), 2026);
        assert_eq!(g.year_for(1), 2026);
        // A file last written in January 2026 whose first line is from December.
        let jan = Timestamp::from_civil(2026, 1, 2, 0, 0, 0, None).unwrap();
        let mut g = YearGuess::ending_at(jan);
        assert_eq!(g.year_for(12), 2025);
        assert_eq!(g.year_for(1), 2026);
    }

    #[test]
    fn bounds() {
        assert_eq!(
            parse_bound("2026-11-20").map(|t| t.to_string()),
            Some("2026-11-20T00:00:00".into())
        );
        assert_eq!(
            parse_bound("2026-11-20 10:30").map(|t| t.to_string()),
            Some("2026-11-20T10:30:00".into())
        );
        assert!(parse_bound("2026-11-20T10:30:00+02:00").is_some());
        assert!(parse_bound("yesterday").is_none());
    }
}
