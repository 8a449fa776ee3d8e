//! `mxray queue`: what the local MTA's queue holds now (or a saved listing, `--from`), grouped
//! by reason and destination and explained, as a summary, one JSON document, or an HTML page.

use std::io::{Read, Write};
use std::path::PathBuf;

use mxray_core::escape_text;
use mxray_logs::Timestamp;
use mxray_logs::html::human_secs;
use mxray_queue::collect::{self, CollectOptions};
use mxray_queue::report::{Group, Report};
use mxray_queue::{Mta, ParseOptions, QueueError};

use crate::cli::GlobalArgs;
use crate::render::{BAD, CODE, DIM, GOOD, HEAD, Render, WARN, count, paint};
use crate::{ResultExt, bad_input, exit};

pub const QUEUE_HELP: &str = "\
Examples:
  mxray queue --from queue.json
  mxray queue --from queue.json --json | jq '.groups[] | {status, dsn, domain, count}'
  mxray queue --from exim-queue.txt --as-of 2026-12-01T17:00:00Z --html queue.html

Without --from, mxray runs the local MTA's own listing (read-only: it never changes the queue):
Postfix `postqueue -j`; Exim `exim -bp`, then each message's `exim -Mvh ID` (arrival) and
`exim -Mvl ID` (reasons), and `exim_dumpdb SPOOL retry` (next retry times) where readable;
Sendmail `mailq`. --mta auto takes the first installed, in that order.

Saving a listing on the server, to read elsewhere with --from FILE (the format is detected):
  postqueue -j > queue.json
  mailq > queue.txt
  { exim -bp; for id in $(exim -bpr | awk '$3 ~ /-/ {print $3}'); do
      echo \"==> exim -Mvh $id\"; exim -Mvh \"$id\"; echo \"==> exim -Mvl $id\"; exim -Mvl \"$id\"; done;
    echo \"==> exim_dumpdb retry\"; exim_dumpdb /var/spool/exim4 retry; } > exim-queue.txt
Ages count to --as-of, else to the file's modification time (now for a live listing or stdin).

Exit codes: 0 the queue is empty or nothing in it is deferred; 1 deferred (or frozen) mail waits;
2 --from cannot be read or is not a queue listing, or a bad flag value; 3 the MTA's command is
missing, failed or timed out.";

#[derive(clap::Args, Debug)]
pub struct QueueArgs {
    /// Read a saved listing instead of asking the local MTA: `postqueue -j` output, `exim -bp`
    /// output (with its optional `==>` sections), or `mailq` output. `-`: standard input.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// Which MTA: `auto` runs the first installed (Postfix, Exim, Sendmail) or, with --from,
    /// detects the listing's format.
    #[arg(long, value_enum, value_name = "MTA", default_value_t = MtaArg::Auto)]
    pub mta: MtaArg,

    /// The time the listing was taken, for ages: 2026-12-01T17:00:00Z, "2026-12-01 17:00"
    /// (UTC when no zone is given).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub as_of: Option<Timestamp>,

    /// Groups shown in the summary (the JSON document has them all).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,

    /// Also write the report as one self-contained HTML page (totals, ages, groups explained;
    /// no script, no outside asset).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MtaArg {
    Auto,
    Postfix,
    Exim,
    Sendmail,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    mxray_logs::parse_bound(s)
        .map(|t| Timestamp {
            secs: t.secs,
            utc: true,
        })
        .ok_or_else(|| {
            format!("'{s}' is not a time: use 2026-12-01T17:00:00Z or \"2026-12-01 17:00\"")
        })
}

/// A listing file is read up to this many bytes (as the collector reads a command's output).
const MAX_FILE: u64 = collect::MAX_LISTING as u64;

pub fn run(args: &QueueArgs, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    let mta = match args.mta {
        MtaArg::Auto => None,
        MtaArg::Postfix => Some(Mta::Postfix),
        MtaArg::Exim => Some(Mta::Exim),
        MtaArg::Sendmail => Some(Mta::Sendmail),
    };
    let (text, source, taken_at, notes, mta) = match &args.from {
        Some(path) => {
            let (text, mtime, cut) = read_listing(path)?;
            let source = if path.as_os_str() == "-" {
                "standard input".to_string()
            } else {
                format!("file {}", path.display())
            };
            let mut notes = Vec::new();
            if cut {
                notes.push(format!("the file was read up to {} MiB", MAX_FILE >> 20));
            }
            let taken_at = match (args.as_of, mtime) {
                (Some(t), _) => t.secs,
                (None, Some(m)) => {
                    notes.push(
                        "ages count to the file's modification time (--as-of sets another)"
                            .to_string(),
                    );
                    m
                }
                (None, None) => collect::now(),
            };
            (text, source, taken_at, notes, mta)
        }
        None => {
            let c = collect::collect(mta, &CollectOptions::default()).environment()?;
            let taken_at = args.as_of.map_or(c.taken_at, |t| t.secs);
            (c.text, c.source, taken_at, c.notes, Some(c.mta))
        }
    };
    let opts = ParseOptions {
        now: taken_at,
        local_offset: collect::local_offset(),
    };
    let live = args.from.is_none();
    let mut snapshot = match mxray_queue::parse_listing(&text, mta, &source, &opts) {
        Ok(s) => s,
        // A live command printing something else is the environment's fault, a file the user's.
        Err(e) if live => return Err(e).environment(),
        Err(e) => return Err(bad_input(escape_text(&e.to_string()))),
    };
    snapshot.notes.extend(notes);
    let report = mxray_queue::report::summarize(&snapshot);

    if let Some(path) = &args.html {
        let page = mxray_queue::html::render(&report, &source);
        crate::render::write_html(path, page, global.quiet)?;
    }
    if r.json {
        let mut out = std::io::BufWriter::new(crate::render::plain_stdout());
        r.json_doc(&mut out, &report)?;
        out.flush()?;
    } else {
        let mut out = r.stdout();
        if global.quiet {
            print_quiet(&mut out, &report, args.top)?;
        } else {
            print_human(&mut out, &report, args.top, global.verbose > 0)?;
        }
        out.flush()?;
    }
    Ok(if report.has_deferred() {
        exit::FAILURES
    } else {
        exit::OK
    })
}

/// The listing's text (lossily decoded, cut at [`MAX_FILE`]), the file's modification time,
/// and whether it was cut. Errors name the file and are bad input.
fn read_listing(path: &std::path::Path) -> anyhow::Result<(String, Option<i64>, bool)> {
    let mut buf = Vec::new();
    let mtime = if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_FILE + 1)
            .read_to_end(&mut buf)
            .map_err(|source| QueueError::Read {
                path: "standard input".into(),
                source,
            })
            .bad_input()?;
        None
    } else {
        let f = super::open_file(path, "--from")?;
        let mtime = f
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        f.take(MAX_FILE + 1)
            .read_to_end(&mut buf)
            .map_err(|source| QueueError::Read {
                path: escape_text(&path.display().to_string()),
                source,
            })
            .bad_input()?;
        mtime
    };
    let cut = buf.len() as u64 > MAX_FILE;
    buf.truncate(MAX_FILE as usize);
    Ok((String::from_utf8_lossy(&buf).into_owned(), mtime, cut))
}

fn age(s: Option<i64>) -> String {
    s.map_or_else(|| "-".to_string(), human_secs)
}

fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(
        || "-".to_string(),
        |t| t.to_string().replace('T', " ").replace('Z', " UTC"),
    )
}

fn size(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

fn print_human(
    out: &mut impl Write,
    rep: &Report,
    top: usize,
    verbose: bool,
) -> anyhow::Result<()> {
    let t = &rep.totals;
    writeln!(
        out,
        "{}  {}, {}, taken {}",
        paint(HEAD, "mxray queue"),
        rep.mta.map_or("unknown MTA", |m| m.as_str()),
        escape_text(&rep.source),
        when(Some(rep.taken_at))
    )?;
    if t.messages == 0 {
        writeln!(out)?;
        writeln!(out, "{}", paint(GOOD, "The queue is empty."))?;
        return print_notes(out, rep);
    }
    let mut parts = vec![format!(
        "{} deferred",
        paint(if t.deferred > 0 { WARN } else { GOOD }, t.deferred)
    )];
    if t.pending > 0 {
        parts.push(format!("{} not tried yet", t.pending));
    }
    if t.held > 0 {
        parts.push(format!("{} held", paint(WARN, t.held)));
    }
    if t.frozen > 0 {
        parts.push(format!("{} frozen", paint(BAD, t.frozen)));
    }
    writeln!(
        out,
        "  {}, {} ({}), {}; oldest {}",
        count(t.messages, "message", "messages"),
        count(t.recipients, "recipient", "recipients"),
        parts.join(", "),
        size(t.bytes),
        age(t.oldest_age_s)
    )?;
    match rep.next_retry {
        Some(n) => writeln!(out, "  earliest next retry {}", when(Some(n)))?,
        None if !rep.retry_times => writeln!(
            out,
            "  {}",
            paint(DIM, "next retry times: not in this listing")
        )?,
        None => {}
    }

    writeln!(out)?;
    writeln!(out, "{}", paint(HEAD, "Messages by age"))?;
    let max = rep.ages.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    for (label, n) in &rep.ages {
        let width = (n * 30).div_ceil(max) as usize;
        writeln!(
            out,
            "  {label:<6} {:<30} {n:>7}",
            paint(WARN, "#".repeat(width))
        )?;
    }

    writeln!(out)?;
    writeln!(out, "{}", paint(HEAD, "Oldest messages"))?;
    for m in rep.oldest.iter().take(if verbose { 10 } else { 3 }) {
        writeln!(
            out,
            "  {}  {:<8} {:>7}{}  from {}  {}  {}",
            paint(CODE, escape_text(&m.queue_id)),
            escape_text(&m.queue),
            age(m.age_s),
            if m.arrival_exact { "" } else { "~" },
            escape_text(if m.sender.is_empty() { "<>" } else { &m.sender }),
            count(m.recipients, "recipient", "recipients"),
            paint(DIM, escape_text(m.reason.as_deref().unwrap_or(m.status)))
        )?;
    }

    writeln!(out)?;
    writeln!(
        out,
        "{}",
        paint(
            HEAD,
            format!(
                "Recipients by status x code x domain x reason ({} of {} groups)",
                rep.groups.len().min(top),
                rep.groups.len()
            )
        )
    )?;
    for (i, g) in rep.groups.iter().take(top).enumerate() {
        print_group(out, i + 1, g, verbose)?;
    }
    print_notes(out, rep)?;
    if !rep.next_commands.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", paint(HEAD, "Next"))?;
        for c in &rep.next_commands {
            writeln!(out, "  {c}")?;
        }
    }
    Ok(())
}

fn print_notes(out: &mut impl Write, rep: &Report) -> anyhow::Result<()> {
    if rep.notes.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", paint(HEAD, "Notes"))?;
    for n in &rep.notes {
        writeln!(out, "  - {}", escape_text(n))?;
    }
    Ok(())
}

/// -q: the totals on one line, then one line per group.
fn print_quiet(out: &mut impl Write, rep: &Report, top: usize) -> anyhow::Result<()> {
    let t = &rep.totals;
    writeln!(
        out,
        "messages {}, recipients {}, deferred {}, not tried yet {}, held {}, frozen {}, oldest {}",
        t.messages,
        t.recipients,
        t.deferred,
        t.pending,
        t.held,
        t.frozen,
        age(t.oldest_age_s)
    )?;
    for (i, g) in rep.groups.iter().take(top).enumerate() {
        group_headline(out, i + 1, g)?;
    }
    Ok(())
}

fn group_headline(out: &mut impl Write, n: usize, g: &Group) -> anyhow::Result<()> {
    let style = match g.status {
        "frozen" => BAD,
        "deferred" | "held" => WARN,
        _ => DIM,
    };
    writeln!(
        out,
        "{:>3}. {} {}  {}   {}, {}, oldest {}{}",
        n,
        paint(style, g.status),
        paint(CODE, escape_text(g.dsn.as_deref().unwrap_or("-"))),
        paint(
            HEAD,
            escape_text(if g.domain.is_empty() { "-" } else { &g.domain })
        ),
        count(g.count, "recipient", "recipients"),
        count(g.messages, "message", "messages"),
        age(g.oldest_age_s),
        g.next_retry
            .map_or(String::new(), |n| format!(", next retry {}", when(Some(n))))
    )?;
    Ok(())
}

fn print_group(out: &mut impl Write, n: usize, g: &Group, verbose: bool) -> anyhow::Result<()> {
    group_headline(out, n, g)?;
    writeln!(out, "     {}", escape_text(&g.template))?;
    crate::render::write_explained(
        out,
        g.explanation.as_ref(),
        g.next_command.as_deref(),
        verbose,
    )?;
    if verbose {
        writeln!(
            out,
            "     {} {}",
            paint(DIM, "queue ids:"),
            escape_text(&g.queue_ids.join(", "))
        )?;
        if !g.sample.is_empty() {
            writeln!(
                out,
                "     {} {}",
                paint(DIM, "sample:"),
                escape_text(&g.sample)
            )?;
        }
    }
    Ok(())
}
