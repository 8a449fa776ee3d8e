//! The driver: opens the inputs, orders them by their first timestamp (rotated files in any
//! order), and runs parse and tracking on one thread or as a two-thread pipeline.
//!
//! With two threads, one reads, decompresses and parses chunks into span-based events while the
//! other tracks messages; a bounded channel keeps only a few chunks in flight.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::SystemTime;

use crate::analyze::{Analyzer, Options, Sink};
use crate::error::LogsError;
use crate::event::{Event, Mta, Span};
use crate::input::{InputSpec, Source};
use crate::parse::{LineParser, Parsed};
use crate::report::{FileSummary, Report};
use crate::time::{Timestamp, YearGuess};

/// How to read the inputs.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Parse only this MTA's lines (`--format`); `None` detects per line.
    pub only: Option<Mta>,
    /// The year of the first year-less syslog line of each input (`--year`); default: inferred
    /// from the file's modification time (stdin: now).
    pub year: Option<i64>,
    /// 1: everything on the calling thread; 2 or more: a parsing thread too.
    pub threads: usize,
}

/// One parsed line, as it crosses between threads.
enum Item {
    Event {
        time: Option<Timestamp>,
        mta: Mta,
        event: Event<Span>,
        line: Span,
    },
    Unparsed {
        line_no: u64,
        line: Span,
    },
}

/// A chunk and what its lines became.
struct Batch {
    chunk: Vec<u8>,
    items: Vec<Item>,
    lines: u64,
    other: u64,
    unparsed: u64,
    out_of_range: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    per_mta: [u64; 3],
}

/// The reading side of one input: chunking and line parsing.
struct Reader {
    source: Source,
    parser: LineParser,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    line_no: u64,
    /// A chunk read ahead (to find the input's first timestamp).
    ahead: Option<Vec<u8>>,
}

fn mta_index(m: Mta) -> usize {
    match m {
        Mta::Postfix => 0,
        Mta::Exim => 1,
        Mta::Sendmail => 2,
    }
}

impl Reader {
    fn next_batch(&mut self, mut chunk: Vec<u8>) -> Result<Option<Batch>, LogsError> {
        let have = match self.ahead.take() {
            Some(a) => {
                chunk = a;
                true
            }
            None => self
                .source
                .chunks
                .next_chunk(&mut chunk)
                .map_err(|source| LogsError::Read {
                    input: self.source.name.clone(),
                    source,
                })?,
        };
        if !have {
            return Ok(None);
        }
        let mut b = Batch {
            chunk: Vec::new(),
            items: Vec::with_capacity(chunk.len() / 128),
            lines: 0,
            other: 0,
            unparsed: 0,
            out_of_range: 0,
            first: None,
            last: None,
            per_mta: [0; 3],
        };
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', &chunk).chain(std::iter::once(chunk.len()));
        for end in ends {
            let line = &chunk[start..end];
            start = end + 1;
            if line.is_empty() {
                continue;
            }
            self.line_no += 1;
            b.lines += 1;
            match self.parser.parse(line) {
                Parsed::Event { time, mta, event } => {
                    if let Some(t) = time {
                        if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t > u) {
                            b.out_of_range += 1;
                            continue;
                        }
                        b.first = Some(b.first.map_or(t, |f| f.min(t)));
                        b.last = Some(b.last.map_or(t, |l| l.max(t)));
                    }
                    b.per_mta[mta_index(mta)] += 1;
                    if event == Event::Noise {
                        continue;
                    }
                    let event = event.map(&mut |s| Span::of(&chunk, s));
                    b.items.push(Item::Event {
                        time,
                        mta,
                        event,
                        line: Span::of(&chunk, line),
                    });
                }
                Parsed::Other { .. } => b.other += 1,
                Parsed::Continuation => {}
                Parsed::Unparsed => {
                    b.unparsed += 1;
                    b.items.push(Item::Unparsed {
                        line_no: self.line_no,
                        line: Span::of(&chunk, line),
                    });
                }
            }
        }
        b.chunk = chunk;
        Ok(Some(b))
    }

    /// Reads the first chunk ahead and returns the first timestamp in it.
    fn peek_first_time(&mut self) -> Result<Option<Timestamp>, LogsError> {
        let mut chunk = Vec::new();
        let have = self
            .source
            .chunks
            .next_chunk(&mut chunk)
            .map_err(|source| LogsError::Read {
                input: self.source.name.clone(),
                source,
            })?;
        if !have {
            return Ok(None);
        }
        // A copy of the parser: the year guess must start again for the real pass.
        let mut p = self.parser.clone();
        let first = chunk
            .split(|&c| c == b'\n')
            .take(1000)
            .find_map(|l| match p.parse(l) {
                Parsed::Event { time, .. } | Parsed::Other { time } => time,
                Parsed::Unparsed | Parsed::Continuation => None,
            });
        self.ahead = Some(chunk);
        Ok(first)
    }
}

fn now() -> Timestamp {
    system_time(SystemTime::now())
}

fn system_time(t: SystemTime) -> Timestamp {
    let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    Timestamp { secs, utc: true }
}

/// Reads every input and returns the report. Lines never fail the run; only inputs that cannot
/// be opened or read, and a sink that cannot write, do.
pub fn analyze(
    inputs: &[InputSpec],
    read: &ReadOptions,
    opts: Options,
    sink: &mut dyn Sink,
) -> Result<Report, LogsError> {
    let mut readers = Vec::with_capacity(inputs.len());
    let mut broken = Vec::new();
    let mut unreadable: Option<String> = None;
    for spec in inputs {
        let source = Source::open(spec)?;
        let year = match read.year {
            Some(y) => YearGuess::starting(y),
            None => YearGuess::ending_at(source.modified.map_or_else(now, system_time)),
        };
        let mut r = Reader {
            source,
            parser: LineParser::new(read.only, year),
            since: opts.since,
            until: opts.until,
            line_no: 0,
            ahead: None,
        };
        // An input unreadable from its first line is reported with the others, not fatal.
        let first = match r.peek_first_time() {
            Ok(t) => t,
            Err(e) => {
                let mut acc = new_acc(&r);
                keep_going(e, &mut acc)?;
                unreadable.get_or_insert_with(|| acc.error.clone().unwrap_or_default());
                broken.push(acc.summary());
                continue;
            }
        };
        readers.push((first, r));
    }
    // Nothing readable at all: that is bad input, not a report.
    if readers.is_empty()
        && let Some(e) = unreadable
    {
        return Err(LogsError::Unreadable(e));
    }
    // Rotated files in any order: oldest first; inputs without a timestamp keep their place last.
    readers.sort_by_key(|(first, _)| (first.is_none(), first.map(|t| t.secs)));

    let mut analyzer = Analyzer::new(opts);
    let mut files = Vec::with_capacity(readers.len());
    for (_, reader) in readers {
        let summary = if read.threads >= 2 {
            run_threaded(reader, &mut analyzer, sink)?
        } else {
            run_inline(reader, &mut analyzer, sink)?
        };
        files.push(summary);
    }
    files.extend(broken);
    Ok(analyzer.finish(files))
}

/// Per-input tallies, folded into the file summary.
struct FileAcc {
    name: String,
    gzip: bool,
    lines: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    per_mta: [u64; 3],
    out_of_range: u64,
    error: Option<String>,
}

impl FileAcc {
    fn summary(self) -> FileSummary {
        let best = (0..3)
            .max_by_key(|&i| self.per_mta[i])
            .filter(|&i| self.per_mta[i] > 0);
        FileSummary {
            name: self.name,
            format: best.map(|i| [Mta::Postfix, Mta::Exim, Mta::Sendmail][i]),
            gzip: self.gzip,
            lines: self.lines,
            first_seen: self.first,
            last_seen: self.last,
            out_of_range: self.out_of_range,
            error: self.error,
        }
    }
}

/// Applies a batch; gives its chunk back for reuse.
fn apply_batch(
    b: Batch,
    acc: &mut FileAcc,
    a: &mut Analyzer,
    sink: &mut dyn Sink,
) -> Result<Vec<u8>, LogsError> {
    let t = a.totals_mut();
    t.lines += b.lines;
    t.other += b.other;
    t.unparsed += b.unparsed;
    t.out_of_range += b.out_of_range;
    acc.lines += b.lines;
    acc.out_of_range += b.out_of_range;
    for i in 0..3 {
        acc.per_mta[i] += b.per_mta[i];
    }
    for (mine, theirs) in [(&mut acc.first, b.first), (&mut a.first_seen, b.first)] {
        if let Some(t) = theirs {
            *mine = Some(mine.map_or(t, |m| m.min(t)));
        }
    }
    for (mine, theirs) in [(&mut acc.last, b.last), (&mut a.last_seen, b.last)] {
        if let Some(t) = theirs {
            *mine = Some(mine.map_or(t, |m| m.max(t)));
        }
    }
    let chunk = &b.chunk[..];
    for item in b.items {
        match item {
            Item::Event {
                time,
                mta,
                event,
                line,
            } => {
                let event = event.map(&mut |s: Span| s.get(chunk));
                a.apply(time, mta, event, line.get(chunk), &acc.name, sink)
                    .map_err(LogsError::Output)?;
            }
            Item::Unparsed { line_no, line } => {
                sink.unparsed(&acc.name, line_no, line.get(chunk))
                    .map_err(LogsError::Output)?;
            }
        }
    }
    Ok(b.chunk)
}

fn new_acc(r: &Reader) -> FileAcc {
    FileAcc {
        name: r.source.name.clone(),
        gzip: r.source.gzip,
        lines: 0,
        first: None,
        last: None,
        per_mta: [0; 3],
        out_of_range: 0,
        error: None,
    }
}

/// A read error that is the input's fault (a truncated or corrupt .gz) stops that input only:
/// it is kept in its summary and the run goes on. Anything else stops the run.
fn keep_going(e: LogsError, acc: &mut FileAcc) -> Result<(), LogsError> {
    if !e.is_bad_input() {
        return Err(e);
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    acc.error = Some(format!("{msg}; stopped after {} lines", acc.lines));
    Ok(())
}

fn finish_acc(mut acc: FileAcc, r: &Reader, a: &mut Analyzer) -> FileSummary {
    let over = r.source.chunks.overlong;
    let t = a.totals_mut();
    t.lines += over;
    t.unparsed += over;
    t.overlong += over;
    acc.lines += over;
    acc.summary()
}

fn run_inline(
    mut r: Reader,
    a: &mut Analyzer,
    sink: &mut dyn Sink,
) -> Result<FileSummary, LogsError> {
    let mut acc = new_acc(&r);
    let mut spare = Vec::new();
    loop {
        match r.next_batch(spare) {
            Ok(Some(b)) => spare = apply_batch(b, &mut acc, a, sink)?,
            Ok(None) => break,
            Err(e) => {
                keep_going(e, &mut acc)?;
                break;
            }
        }
    }
    Ok(finish_acc(acc, &r, a))
}

fn run_threaded(
    r: Reader,
    a: &mut Analyzer,
    sink: &mut dyn Sink,
) -> Result<FileSummary, LogsError> {
    let mut acc = new_acc(&r);
    let (tx, rx): (SyncSender<Result<Batch, LogsError>>, Receiver<_>) = sync_channel(4);
    // Chunks come back to the reader for reuse, so steady state allocates nothing per chunk.
    let (back_tx, back_rx) = sync_channel::<Vec<u8>>(8);
    std::thread::scope(|scope| {
        let handle = scope.spawn(move || {
            let mut r = r;
            loop {
                let spare = back_rx.try_recv().unwrap_or_default();
                match r.next_batch(spare) {
                    Ok(Some(b)) => {
                        if tx.send(Ok(b)).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            }
            r
        });
        let mut result = Ok(());
        for b in rx.iter() {
            let applied = match b {
                Ok(b) => apply_batch(b, &mut acc, a, sink),
                // The reader stopped: the input's fault is noted, anything else ends the run.
                Err(e) => {
                    result = keep_going(e, &mut acc);
                    break;
                }
            };
            match applied {
                Ok(chunk) => {
                    let _ = back_tx.try_send(chunk);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // Dropping the receiver stops the reader at its next send.
        drop(rx);
        let r = handle.join().map_err(|_| LogsError::Thread)?;
        result?;
        Ok(finish_acc(acc, &r, a))
    })
}
