//! mxray-logs: reads the logs mail servers write (Postfix, Exim, Sendmail; plain, `.gz`, stdin),
//! follows every message across its retries, and groups and explains deferrals and bounces.
//!
//! # Layout
//! - `input`: opens files, `.gz` and stdin, bounded line reads, rotated files in time order.
//! - `parse`: one line in, one [`Event`] out; `parse/postfix.rs`, `exim.rs`, `sendmail.rs`.
//! - `event`: the one event model every MTA's lines become.
//! - `time`: syslog / ISO timestamps, the year guess for syslog lines, `--since` bounds.
//! - `analyze`: follows messages across retries and folds them into the aggregates.
//! - `template`: a reply with its variable parts (addresses, IDs, numbers) normalised.
//! - `report`: the summary document (`--json`) and its parts.
//! - `html`: the report as one self-contained HTML page with SVG charts (`--html`).
//! - `pipeline`: reads, parses and analyses in one streaming pass (`analyze`).
//! - `follow`: `--follow`: one log read as it grows (rotation, truncation), live alerts.
//! - `error`: [`LogsError`].
//!
//! ```
//! use mxray_logs::{Analyzer, Options, NoSink, LineParser, Parsed, YearGuess};
//! let line = "Nov 20 10:00:01 mail postfix/smtp[7]: 4AB12C3D4E: to=<a@example.org>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.1]:25: Connection refused)";
//! let mut parser = LineParser::new(None, YearGuess::starting(2026));
//! let mut analyzer = Analyzer::new(Options::default());
//! if let Parsed::Event { time, mta, event } = parser.parse(line.as_bytes()) {
//!     analyzer.apply(time, mta, event, line.as_bytes(), "example", &mut NoSink).unwrap();
//! }
//! let report = analyzer.finish(Vec::new());
//! assert_eq!(report.totals.deferrals, 1);
//! assert_eq!(report.groups[0].template, "connect to mx.example.org[<ip>]:<n>: Connection refused");
//! ```

pub mod analyze;
pub mod error;
pub mod event;
pub mod follow;
pub mod html;
pub mod input;
pub mod parse;
pub mod pipeline;
pub mod report;
pub mod template;
pub mod time;

pub use analyze::{Analyzer, AttemptRecord, NoSink, Options, Sink};
pub use error::LogsError;
pub use event::{Attempt, Event, Mta, Status};
pub use input::InputSpec;
pub use parse::{LineParser, MAX_LINE, Parsed};
pub use pipeline::{ReadOptions, analyze};
pub use report::Report;
pub use template::template;
pub use time::{Timestamp, YearGuess, human_duration, parse_bound};
