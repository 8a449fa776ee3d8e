//! mxray-queue: what a mail server's queue holds now (Postfix, Exim, Sendmail), grouped by
//! reason and destination and explained, from the MTA's own listing or a saved copy of it.
//!
//! # Layout
//! - `model`: the [`Snapshot`] every listing becomes (messages, recipients, reasons, retries).
//! - `postfix`: `postqueue -j`; `exim`: `exim -bp` with its `-Mvh`/`-Mvl`/retry sections;
//!   `mailq`: Sendmail's `mailq` and Postfix's `postqueue -p`. Pure functions of the text and
//!   the time: unit-tested from fixture text, bounded, never a panic on garbage.
//! - `report`: the grouped, explained [`Report`] (`mxray queue --json`).
//! - `html`: the report as one self-contained page (`--html`).
//! - `collect`: runs the MTA's commands (bounded output, a time limit); read-only: no command it
//!   runs changes the queue.
//! - `error`: [`QueueError`].
//!
//! ```
//! use mxray_queue::{ParseOptions, parse_listing, report::summarize};
//! let dump = r#"{"queue_name": "deferred", "queue_id": "4B62F9901FF", "arrival_time": 1796140000, "message_size": 270, "sender": "a@b.test", "recipients": [{"address": "bob@example.org", "delay_reason": "host mx.example.org[192.0.2.1] said: 451 4.7.1 Greylisted, please try again later (in reply to RCPT TO command)"}]}"#;
//! let opts = ParseOptions { now: 1796143600, local_offset: 0 };
//! let snapshot = parse_listing(dump, None, "queue.json", &opts).unwrap();
//! let report = summarize(&snapshot);
//! assert_eq!(report.totals.oldest_age_s, Some(3600));
//! assert_eq!(report.groups[0].dsn.as_deref(), Some("4.7.1"));
//! assert_eq!(report.groups[0].next_command.as_deref(), Some("mxray diagnose example.org"));
//! ```

pub mod collect;
pub mod error;
pub mod exim;
pub mod html;
pub mod mailq;
pub mod model;
pub mod postfix;
pub mod report;

pub use error::QueueError;
pub use model::{Message, Mta, Recipient, Snapshot};
pub use report::Report;

/// What a parser needs besides the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// The time the listing describes (Unix seconds): ages count to it.
    pub now: i64,
    /// The server's offset from UTC in seconds, for listings in local time without a zone
    /// (`mailq`, Exim's message logs and retry data when no arrival time pins it).
    pub local_offset: i32,
}

/// The listing formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `postqueue -j`.
    PostqueueJson,
    /// `exim -bp`, with optional `==>` sections.
    EximBp,
    /// `mailq` (Sendmail) or `postqueue -p` (Postfix).
    Mailq,
}

/// Lines looked at to recognise a format.
const DETECT_LINES: usize = 200;

/// Which format `text` is in, by its first lines; `None` when none fits.
pub fn detect(text: &str) -> Option<Format> {
    let mut lines = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty());
    let first = lines.next()?;
    if first.trim_start().starts_with('{') {
        return Some(Format::PostqueueJson);
    }
    let now = 0;
    let opts = ParseOptions {
        now,
        local_offset: 0,
    };
    for line in std::iter::once(first).chain(lines).take(DETECT_LINES) {
        if exim::is_message_line(line) || line.starts_with("==> exim") {
            return Some(Format::EximBp);
        }
        if mailq::is_listing_line(line, &opts) {
            return Some(Format::Mailq);
        }
    }
    None
}

/// Reads a listing: in the format of `mta` when given (Postfix: `postqueue -j`, or `postqueue
/// -p` when that is what the text is), else in the format [`detect`] finds. `source` names it
/// in messages (`queue.json`, `postqueue -j`). Text that is none of them is
/// [`QueueError::NotAListing`], naming what was expected; an empty text is an empty queue.
pub fn parse_listing(
    text: &str,
    mta: Option<Mta>,
    source: &str,
    opts: &ParseOptions,
) -> Result<Snapshot, QueueError> {
    if text.trim().is_empty() {
        let mut s = Snapshot::new(mta, source, opts.now);
        s.notes
            .push("the listing is empty: an empty queue".to_string());
        return Ok(s);
    }
    let format = match mta {
        None => detect(text).ok_or_else(|| QueueError::NotAListing {
            what: source.to_string(),
            expected: format!(
                "one of: {}; {}; {}",
                postfix::EXPECTED,
                exim::EXPECTED,
                mailq::EXPECTED
            ),
        })?,
        Some(Mta::Postfix) => match detect(text) {
            Some(Format::Mailq) => Format::Mailq,
            _ => Format::PostqueueJson,
        },
        Some(Mta::Exim) => Format::EximBp,
        Some(Mta::Sendmail) => Format::Mailq,
    };
    let mut snap = match format {
        Format::PostqueueJson => postfix::parse(text, source, opts)?,
        Format::EximBp => exim::parse(text, source, opts)?,
        Format::Mailq => mailq::parse(text, source, opts)?,
    };
    if let (Some(want), Some(got)) = (mta, snap.mta)
        && want != got
    {
        return Err(QueueError::NotAListing {
            what: source.to_string(),
            expected: format!(
                "a {} listing (this one is {}'s)",
                want.as_str(),
                got.as_str()
            ),
        });
    }
    if snap.unparsed > 0 {
        snap.notes.push(format!(
            "{} line(s) of the listing matched no known shape",
            snap.unparsed
        ));
    }
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ParseOptions {
        ParseOptions {
            now: 1_796_144_000,
            local_offset: 0,
        }
    }

    #[test]
    fn formats_are_recognised() {
        assert_eq!(
            detect("\n{\"queue_name\": \"deferred\"}\n"),
            Some(Format::PostqueueJson)
        );
        assert_eq!(
            detect(" 0m   308 1xYR5L-0002eg-1a <sender@queue.test>\n          bob@x.test\n"),
            Some(Format::EximBp)
        );
        assert_eq!(detect("Mail queue is empty\n"), Some(Format::Mailq));
        assert_eq!(
            detect("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"),
            Some(Format::Mailq)
        );
        assert_eq!(detect("hello\n"), None);
        assert_eq!(detect(""), None);
    }

    #[test]
    fn garbage_names_every_format_and_empty_is_an_empty_queue() {
        let e = parse_listing("\u{0}\u{1}binary junk\n", None, "junk.bin", &opts()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("junk.bin is not a queue listing"), "{msg}");
        for f in ["postqueue -j", "exim -bp", "mailq"] {
            assert!(msg.contains(f), "{msg}");
        }
        let s = parse_listing(" \n", None, "empty.json", &opts()).unwrap();
        assert!(s.messages.is_empty() && s.mta.is_none());
    }

    #[test]
    fn a_forced_mta_must_match() {
        let e = parse_listing(
            "Mail queue is empty\n-Queue ID-\n",
            Some(Mta::Exim),
            "q",
            &opts(),
        );
        assert!(e.is_err());
        let s = parse_listing(
            "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n",
            Some(Mta::Postfix),
            "q",
            &opts(),
        )
        .unwrap();
        assert_eq!(s.mta, Some(Mta::Postfix));
        let e = parse_listing(
            "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n",
            Some(Mta::Sendmail),
            "q",
            &opts(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("a sendmail listing (this one is postfix's)"),
            "{e}"
        );
    }

    /// Arbitrary bytes never panic any reader (the fuzz-style guard of the pure parsers).
    #[test]
    fn no_input_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let pieces = [
            "{",
            "}",
            "\"queue_name\"",
            ":",
            "[",
            "]",
            " 0m",
            " 12d",
            "1.2K",
            "1xYR5L-0002eg-1a",
            "<",
            ">",
            "\n",
            "          ",
            "D ",
            "==> exim -Mvl 1xYR5L-0002eg-1a",
            "==> exim -Mvh 1xYR5L-0002eg-1a",
            "==> exim_dumpdb retry",
            "2026-12-01 17:52:07 ",
            " defer (",
            ")",
            ": ",
            "R:",
            "T:",
            "01-Dec-2026 17:02:07",
            "(",
            "Tue Dec  1 16:51:41",
            "Mon Feb 30 10:00",
            "52F9A99020B*",
            "-Queue ID-",
            "é",
            "\u{202e}",
            "999999999999999999999",
            "-frozen 1",
            "1796143927 0",
        ];
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..24 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            for mta in [
                None,
                Some(Mta::Postfix),
                Some(Mta::Exim),
                Some(Mta::Sendmail),
            ] {
                if let Ok(s) = parse_listing(&text, mta, "fuzz", &opts()) {
                    let _ = report::summarize(&s);
                }
            }
        }
    }
}
