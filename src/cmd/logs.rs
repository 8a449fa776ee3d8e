//! `mxray logs`: reads Postfix / Exim / Sendmail logs (files, `.gz`, stdin), and prints the
//! deferrals and bounces grouped and explained, as a summary, one JSON document, or JSON Lines;
//! with `--follow`, one log as it grows, a line per meaningful change (and webhook posts).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use mxray_core::escape_text;
use mxray_logs::follow::{
    self, FollowEvent, FollowKind, FollowOptions, FollowSink, FollowSummary, TailNote,
    WebhookCounts,
};
use mxray_logs::report::{FileSummary, Group, Report};
use mxray_logs::{AttemptRecord, InputSpec, LogsError, Mta, Options, ReadOptions, Sink, Timestamp};
use mxray_net::{Webhook, WebhookConfig, WebhookUrl};

use crate::cli::GlobalArgs;
use crate::render::{BAD, CODE, DIM, GOOD, HEAD, Render, WARN, paint};
use crate::{bad_input, exit};

pub const LOGS_HELP: &str = "\
Examples:
  mxray logs /var/log/mail.log /var/log/mail.log.1 /var/log/mail.log.2.gz
  journalctl -u postfix -o short-iso | mxray logs -
  mxray logs mail.log --json
  mxray logs mail.log --events | jq 'select(.status == \"deferred\")'
  mxray logs mail.log --since 2026-11-20 --domain gmail.com

Formats (detected per line, or forced with --format): Postfix (every delivery agent, qmgr,
cleanup, bounce, smtpd and postscreen rejects, multi-instance names), Exim main log (<= => -> **
==, old and new message IDs), Sendmail (stat=, dsn=, relay=). Stamps: syslog (year inferred from
the file's modification time, or --year), RFC 3339, Exim local time.

Following a live log: mxray logs --follow /var/log/mail.log reads the log as it grows, like
tail -F (rotation by rename or truncation, a file that appears later), and prints a line when a
new group appears, a domain's deferral rate crosses --alert-rate (20%/10m), or a 421 storm
starts or ends; --json prints those events as JSON Lines, --webhook URL posts them, signed with
--webhook-secret. Ctrl-C or SIGTERM ends it (exit 0) with a summary line. See docs/logs.md.

Exit codes: 0 no deferral, bounce or expiry in the logs (--follow: stopped by Ctrl-C or
SIGTERM); 1 some; 2 a file cannot be opened or is not valid gzip, or a bad flag value; 3 reading
or writing failed.";

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Log files, plain or gzip, in any order (rotated files are merged by time). `-` or none:
    /// standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Which mail server wrote the logs. `auto` reads each line by its program name and shape.
    #[arg(long, value_enum, value_name = "MTA", default_value_t = FormatArg::Auto)]
    pub format: FormatArg,

    /// Only lines at or after this time: 2026-11-20, "2026-11-20 10:00", or RFC 3339.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<Timestamp>,

    /// Only lines at or before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<Timestamp>,

    /// Only recipients in this domain or its subdomains (repeatable).
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,

    /// One JSON line per delivery attempt (for other tools) instead of the summary.
    #[arg(long)]
    pub events: bool,

    /// Groups shown in the summary (the JSON document has them all).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,

    /// The year of the first line of each input, for syslog stamps that carry none. Default:
    /// inferred from the file's modification time (stdin: now).
    #[arg(long, value_name = "YEAR", value_parser = clap::value_parser!(i64).range(1970..=9999))]
    pub year: Option<i64>,

    /// 1: parse and track on one core; 2: parse on a second thread while tracking.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub threads: u8,
    /// Also write the report as one self-contained HTML page (totals, groups explained, SVG
    /// charts; no script, no outside asset), to share or open offline.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Follow the one FILE as it grows, like tail -F (rotation by rename or truncation, a file
    /// that appears later), and print a line when something changes: a new group, a domain's
    /// deferral rate crossing --alert-rate, a 421 storm starting or ending. Ctrl-C or SIGTERM
    /// ends it (exit 0) with a summary line.
    #[arg(long, help_heading = "Following a live log")]
    pub follow: bool,

    /// Read the followed file from its start (a replay) rather than from its end.
    #[arg(long, requires = "follow", help_heading = "Following a live log")]
    pub from_start: bool,

    /// Alert when a domain's deferrals reach RATE of its delivery attempts over WINDOW (with at
    /// least 5 attempts); the alert clears below half of RATE or after WINDOW without a
    /// deferral. Default 20%/10m.
    #[arg(long, value_name = "RATE/WINDOW", value_parser = parse_alert_rate, requires = "follow",
          help_heading = "Following a live log")]
    pub alert_rate: Option<AlertRate>,

    /// POST each event, as its JSON line, to this http:// or https:// URL: signed (see
    /// --webhook-secret), tried 3 times with backoff, from a queue that never holds up the
    /// follow (a post that finds it full is dropped and counted).
    #[arg(
        long,
        value_name = "URL",
        requires = "follow",
        help_heading = "Following a live log"
    )]
    pub webhook: Option<String>,

    /// The shared secret that signs webhook posts: X-Mxray-Signature: sha256=HMAC-SHA256 of
    /// "TIMESTAMP.BODY", with X-Mxray-Timestamp (docs/logs.md shows how to verify it).
    #[arg(
        long,
        value_name = "SECRET",
        env = "MXRAY_WEBHOOK_SECRET",
        hide_env_values = true,
        help_heading = "Following a live log"
    )]
    pub webhook_secret: Option<String>,

    /// Trust the CA certificates in this PEM file for an https webhook instead of the Web PKI
    /// roots.
    #[arg(
        long,
        value_name = "PEM",
        env = "MXRAY_CA_FILE",
        help_heading = "Following a live log"
    )]
    pub ca_file: Option<PathBuf>,

    #[command(flatten)]
    pub policy_args: crate::cli::PolicyArgs,
}

/// `--alert-rate RATE/WINDOW`: the deferral rate (0-1] and the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertRate {
    pub rate: f64,
    pub window: Duration,
}

/// `20%/10m`, `5%/1h`, `50%/90s`: a percentage above 0 and at most 100, a window from 10s to 24h.
fn parse_alert_rate(s: &str) -> Result<AlertRate, String> {
    let usage = "use RATE/WINDOW, a percentage and a duration: 20%/10m, 5%/1h";
    let (rate, window) = s
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("'{s}': {usage}"))?;
    let pct: f64 = rate
        .trim()
        .strip_suffix('%')
        .ok_or_else(|| format!("'{rate}' is not a percentage: {usage}"))?
        .trim()
        .parse()
        .map_err(|_| format!("'{rate}' is not a percentage: {usage}"))?;
    if !(pct > 0.0 && pct <= 100.0) {
        return Err(format!(
            "'{rate}': the rate must be above 0% and at most 100%"
        ));
    }
    let window = crate::cli::parse_duration(window)?;
    if window < Duration::from_secs(10) {
        return Err(format!(
            "'{}': the window must be at least 10s (it slides in tenths)",
            window.as_secs_f64()
        ));
    }
    Ok(AlertRate {
        rate: pct / 100.0,
        window,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Auto,
    Postfix,
    Exim,
    Sendmail,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    mxray_logs::parse_bound(s).ok_or_else(|| {
        format!("'{s}' is not a time: use 2026-11-20, \"2026-11-20 10:00\" or 2026-11-20T10:00:00Z")
    })
}

/// Unparsed lines shown with -v, at most; past that only counted.
const MAX_SHOWN_UNPARSED: u64 = 1000;

/// Streams `--events` records to stdout and, with -v, unparsed lines to stderr (escaped).
struct CliSink<W: Write> {
    out: W,
    verbose: bool,
    shown: u64,
}

impl<W: Write> Sink for CliSink<W> {
    fn attempt(&mut self, rec: &AttemptRecord) -> io::Result<()> {
        crate::render::json_line(&mut self.out, rec)
    }

    fn unparsed(&mut self, input: &str, line_no: u64, line: &[u8]) -> io::Result<()> {
        if !self.verbose {
            return Ok(());
        }
        self.shown += 1;
        let mut err = io::stderr().lock();
        if self.shown <= MAX_SHOWN_UNPARSED {
            writeln!(
                err,
                "mxray: unparsed {}:{line_no}: {}",
                escape_text(input),
                escape_text(&String::from_utf8_lossy(line))
            )?;
        } else if self.shown == MAX_SHOWN_UNPARSED + 1 {
            writeln!(err, "mxray: more unparsed lines are counted, not shown")?;
        }
        Ok(())
    }
}

pub fn run(args: &LogsArgs, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    if args.follow {
        return run_follow(args, global, r);
    }
    let inputs: Vec<InputSpec> = if args.files.is_empty() {
        vec![InputSpec::Stdin]
    } else {
        args.files
            .iter()
            .map(|p| {
                if p.as_os_str() == "-" {
                    InputSpec::Stdin
                } else {
                    InputSpec::Path(p.clone())
                }
            })
            .collect()
    };
    if inputs.iter().filter(|i| **i == InputSpec::Stdin).count() > 1 {
        return Err(bad_input("standard input (-) can be given only once"));
    }
    if let (Some(s), Some(u)) = (args.since, args.until)
        && s.secs > u.secs
    {
        return Err(bad_input(
            "--since is after --until: no line can be in that range (swap them?)",
        ));
    }
    // Waiting on a terminal for a log nobody is typing looks like a hang: say what it waits for.
    if args.files.is_empty() && !global.quiet {
        use std::io::IsTerminal;
        if io::stdin().is_terminal() {
            eprintln!(
                "mxray: reading a log from standard input (end with Ctrl-D); to read a file: mxray logs /var/log/mail.log"
            );
        }
    }
    let domains = domain_filters(&args.domains)?;
    let read = ReadOptions {
        only: match args.format {
            FormatArg::Auto => None,
            FormatArg::Postfix => Some(Mta::Postfix),
            FormatArg::Exim => Some(Mta::Exim),
            FormatArg::Sendmail => Some(Mta::Sendmail),
        },
        year: args.year,
        threads: usize::from(args.threads),
    };
    let opts = Options {
        since: args.since,
        until: args.until,
        domains,
        events: args.events,
    };
    let mut sink = CliSink {
        out: io::BufWriter::with_capacity(64 * 1024, crate::render::plain_stdout()),
        verbose: global.verbose > 0,
        shown: 0,
    };
    let report = match mxray_logs::analyze(&inputs, &read, opts, &mut sink) {
        Ok(rep) => rep,
        Err(e) if e.is_bad_input() => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            return Err(bad_input(escape_text(&msg)));
        }
        Err(LogsError::Output(io)) => return Err(anyhow::Error::new(io).context("writing events")),
        Err(e) => return Err(e.into()),
    };
    sink.out.flush()?;
    drop(sink);

    if let Some(path) = &args.html {
        let title: Vec<String> = report.files.iter().map(|f| f.name.clone()).collect();
        let page = mxray_logs::html::render(&report, &title.join(", "));
        crate::render::write_html(path, page, global.quiet)?;
    }
    if !args.events {
        if r.json {
            // JSON has no terminal escapes to strip (serde escapes control characters): write
            // it buffered and straight to stdout, it can be megabytes.
            let mut out = io::BufWriter::with_capacity(1 << 16, crate::render::plain_stdout());
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
    }
    if !global.quiet && !r.json && !args.events && report.totals.unparsed > 0 && global.verbose == 0
    {
        eprintln!(
            "mxray: note: {} matched no known shape (run with -v to see them)",
            crate::render::count(report.totals.unparsed, "line", "lines")
        );
    }
    // A broken input (truncated .gz) stopped early; the report holds the rest. Say which.
    let broken: Vec<&FileSummary> = report.files.iter().filter(|f| f.error.is_some()).collect();
    if !global.quiet {
        for f in &broken {
            eprintln!(
                "mxray: note: {}: {}",
                escape_text(&f.name),
                escape_text(f.error.as_deref().unwrap_or_default())
            );
        }
    }
    let t = &report.totals;
    Ok(
        if t.deferrals + t.bounced + t.expired > 0 || !broken.is_empty() {
            exit::FAILURES
        } else {
            exit::OK
        },
    )
}

/// `--domain` values, lowercase, without `@` or a trailing dot.
fn domain_filters(given: &[String]) -> anyhow::Result<Vec<String>> {
    let mut domains = Vec::new();
    for d in given {
        let d = d
            .trim()
            .trim_start_matches('@')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if d.is_empty() || d.contains(char::is_whitespace) || d.contains('@') {
            return Err(bad_input(format!(
                "--domain '{}' is not a domain: give one such as gmail.com",
                escape_text(&d)
            )));
        }
        domains.push(d);
    }
    Ok(domains)
}

/// Posts still queued this long after the stop are dropped (and counted).
const WEBHOOK_GRACE: Duration = Duration::from_secs(5);

/// `--follow`: one file, followed until Ctrl-C or SIGTERM; events printed (and posted) as they
/// come, then the summary.
fn run_follow(args: &LogsArgs, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    let path = match args.files.as_slice() {
        [p] if p.as_os_str() != "-" => p.clone(),
        [] | [_] => {
            return Err(bad_input(
                "--follow reads a file, not standard input (a pipe cannot be reopened when the log rotates): give the log's path, as in mxray logs --follow /var/log/mail.log",
            ));
        }
        _ => {
            return Err(bad_input(
                "--follow takes exactly one FILE: the log being written (rotated files are for mxray logs without --follow)",
            ));
        }
    };
    for (given, flag) in [
        (args.events, "--events"),
        (args.html.is_some(), "--html"),
        (args.until.is_some(), "--until"),
    ] {
        if given {
            return Err(bad_input(format!(
                "{flag} does not go with --follow (it reports on a finished log)"
            )));
        }
    }
    let rate = args.alert_rate.unwrap_or(AlertRate {
        rate: 0.2,
        window: Duration::from_secs(600),
    });
    let opts = FollowOptions {
        from_start: args.from_start,
        only: match args.format {
            FormatArg::Auto => None,
            FormatArg::Postfix => Some(Mta::Postfix),
            FormatArg::Exim => Some(Mta::Exim),
            FormatArg::Sendmail => Some(Mta::Sendmail),
        },
        year: args.year,
        since: args.since,
        detect: follow::Config {
            threshold: rate.rate,
            window_secs: rate.window.as_secs() as i64,
            domains: domain_filters(&args.domains)?,
            ..follow::Config::default()
        },
        ..FollowOptions::default()
    };
    let webhook_url = match &args.webhook {
        Some(u) => Some(WebhookUrl::parse(u).map_err(|e| bad_input(escape_text(&e.to_string())))?),
        None => None,
    };
    let secret = match args.webhook_secret.as_deref() {
        Some("") => {
            return Err(bad_input(
                "--webhook-secret (or MXRAY_WEBHOOK_SECRET) is empty: give the shared secret",
            ));
        }
        s => s.map(|s| s.as_bytes().to_vec()),
    };
    if webhook_url.is_some() && secret.is_none() && !global.quiet {
        eprintln!(
            "mxray: note: webhook posts are not signed: give --webhook-secret or MXRAY_WEBHOOK_SECRET"
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        // Registered now, before the first line is read: a signal from then on ends the follow.
        use tokio::signal::unix::{SignalKind, signal};
        let _guard = rt.enter();
        let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        let stop = stop.clone();
        rt.spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
    let hook = match webhook_url {
        Some(url) => {
            let tls = match (&args.ca_file, url.https) {
                (Some(p), true) => {
                    crate::ResultExt::bad_input(mxray_net::TlsSettings::from_ca_file(p))?
                }
                _ => mxray_net::TlsSettings::web_pki(),
            };
            let dns = if url.needs_dns() {
                let _guard = rt.enter();
                Some(crate::ResultExt::environment(mxray_net::Dns::new(
                    &global.resolvers,
                    global.timeout,
                ))?)
            } else {
                None
            };
            let mut cfg = WebhookConfig::new(url, Arc::new(tls));
            cfg.secret = secret;
            cfg.timeout = global.timeout;
            cfg.policy = args.policy_args.policy();
            cfg.dns = dns;
            let hook = Webhook::start(cfg, rt.handle());
            // Failures come late (after the retries): say so as they are known, not at the end.
            let monitor = hook.monitor();
            rt.spawn(async move {
                let mut told = 0;
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let s = monitor.stats();
                    if s.failed > told {
                        told = s.failed;
                        eprintln!(
                            "mxray: webhook: {} failed: {}",
                            crate::render::count(s.failed, "post", "posts"),
                            escape_text(s.last_error.as_deref().unwrap_or("?"))
                        );
                    }
                }
            });
            Some(hook)
        }
        None => None,
    };

    let out: Box<dyn Write> = if r.json {
        Box::new(crate::render::plain_stdout())
    } else {
        Box::new(r.stdout())
    };
    let mut printer = FollowPrinter {
        out,
        json: r.json,
        quiet: global.quiet,
        from_start: args.from_start,
        opened: 0,
        hook: hook.as_ref(),
    };
    let result = follow::follow(&path, &opts, &stop, &mut printer);
    let mut end = match result {
        Ok(end) => end,
        Err(e) if e.is_bad_input() => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            return Err(bad_input(escape_text(&msg)));
        }
        Err(LogsError::Output(io)) => {
            return Err(anyhow::Error::new(io).context("writing events"));
        }
        Err(e) => return Err(e.into()),
    };
    drop(printer);
    if let Some(hook) = hook {
        let s = rt.block_on(hook.close(WEBHOOK_GRACE));
        if let Some(summary) = end.summary.as_mut() {
            summary.webhook = Some(WebhookCounts {
                sent: s.sent,
                failed: s.failed,
                dropped: s.dropped,
            });
        }
    }
    rt.shutdown_background();
    if !global.quiet {
        if r.json {
            let mut out = crate::render::plain_stdout();
            crate::render::json_line(&mut out, &end)?;
            out.flush()?;
        } else if let Some(s) = &end.summary {
            let mut out = r.stdout();
            writeln!(out, "{}", summary_line(s))?;
            out.flush()?;
        }
    }
    Ok(exit::OK)
}

/// Prints events (one line each, or JSON Lines), posts them to the webhook, and tells the user
/// on stderr what happens to the file.
struct FollowPrinter<'a> {
    out: Box<dyn Write>,
    json: bool,
    quiet: bool,
    from_start: bool,
    /// Files opened so far (the first is where following starts).
    opened: u64,
    hook: Option<&'a Webhook>,
}

impl FollowSink for FollowPrinter<'_> {
    fn event(&mut self, e: &FollowEvent) -> io::Result<()> {
        if self.json {
            crate::render::json_line(&mut self.out, e)?;
        } else {
            writeln!(self.out, "{}", event_line(e))?;
        }
        // Each event as it happens, also when stdout is a pipe.
        self.out.flush()?;
        if let Some(h) = self.hook {
            let body = crate::render::json_string(e).map_err(io::Error::from)?;
            h.post(body.into_bytes(), Some(e.kind.as_str()));
        }
        Ok(())
    }

    fn note(&mut self, path: &std::path::Path, note: TailNote) -> io::Result<()> {
        let name = escape_text(&path.display().to_string());
        let text = match note {
            TailNote::Opened { at_end } => {
                self.opened += 1;
                if self.opened > 1 {
                    format!("{name}: reading the new file from its start")
                } else if at_end {
                    format!("following {name} from its end (Ctrl-C to stop)")
                } else if self.from_start {
                    format!("following {name} from its start (Ctrl-C to stop)")
                } else {
                    format!("following {name}, which appeared, from its start (Ctrl-C to stop)")
                }
            }
            TailNote::Missing => {
                format!("{name} does not exist (yet): waiting for it to appear (Ctrl-C to stop)")
            }
            TailNote::Rotated => format!("{name} was rotated: the old file was read to its end"),
            TailNote::Truncated => {
                format!("{name} was truncated: reading it again from its start")
            }
        };
        if !self.quiet {
            eprintln!("mxray: {text}");
        }
        Ok(())
    }
}

/// A window as written in `--alert-rate`: `10m`, `1h`, `90s`.
fn window(secs: i64) -> String {
    match secs {
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn pct(rate: f64) -> String {
    let p = rate * 100.0;
    if (p - p.round()).abs() < 0.05 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// The reading of an event's sample: `-> situation (side)` and the next command.
fn reading(e: &FollowEvent) -> String {
    let mut s = String::new();
    if let Some(x) = &e.explanation {
        s.push_str(&format!(
            "  {} {} (side: {})",
            paint(DIM, "->"),
            x.situation,
            x.side.label()
        ));
    }
    if let Some(c) = &e.next_command {
        s.push_str(&format!("  {} {c}", paint(DIM, "next:")));
    }
    s
}

/// One event on one line; everything from the log escaped.
fn event_line(e: &FollowEvent) -> String {
    let t = when(e.time);
    let template = e
        .group
        .as_ref()
        .map(|g| escape_text(&g.template))
        .unwrap_or_default();
    let domain = escape_text(e.domain.as_deref().unwrap_or("-"));
    match e.kind {
        FollowKind::NewGroup => {
            let (status, dsn, relay) =
                e.group.as_ref().map_or(("-", "-".into(), "-".into()), |g| {
                    (
                        g.status.as_str(),
                        escape_text(g.dsn.as_deref().unwrap_or("-")),
                        escape_text(&g.relay),
                    )
                });
            format!(
                "{t}  {}  {status} {} {} via {relay}: {template}{}",
                paint(WARN, "new group   "),
                paint(CODE, dsn),
                paint(HEAD, domain),
                reading(e)
            )
        }
        FollowKind::RateAlert | FollowKind::RateCleared => {
            let Some(n) = &e.rate else {
                return format!("{t}  {} {domain}", e.kind.as_str());
            };
            let counts = format!(
                "{} of {} deferred in {} ({}",
                num(n.deferrals),
                nums(n.attempts, "attempt", "attempts"),
                window(n.window_secs),
                pct(n.rate)
            );
            if e.kind == FollowKind::RateAlert {
                format!(
                    "{t}  {}  {}: {counts} >= {}): {template}{}",
                    paint(BAD, "RATE ALERT  "),
                    paint(HEAD, domain),
                    pct(n.threshold),
                    reading(e)
                )
            } else {
                format!(
                    "{t}  {}  {}: {counts} < {}), alert since {}",
                    paint(GOOD, "cleared     "),
                    paint(HEAD, domain),
                    pct(n.clear_below),
                    when(n.fired_at)
                )
            }
        }
        FollowKind::StormStarted | FollowKind::StormEnded => {
            let Some(n) = &e.storm else {
                return format!("{t}  {}", e.kind.as_str());
            };
            let names: Vec<String> = n.domains.iter().map(|d| escape_text(d)).collect();
            if e.kind == FollowKind::StormStarted {
                format!(
                    "{t}  {}  {} with 421 in {} for {}{} ({}): {template}{}",
                    paint(BAD, "421 STORM   "),
                    nums(n.replies, "deferral", "deferrals"),
                    window(n.window_secs),
                    names.len(),
                    if names.len() >= 8 {
                        "+ domains"
                    } else {
                        " domains"
                    },
                    names.join(", "),
                    reading(e)
                )
            } else {
                format!(
                    "{t}  {}  {} with 421 in {} (peak {}), storm since {}",
                    paint(GOOD, "storm ended "),
                    nums(n.replies, "deferral", "deferrals"),
                    window(n.window_secs),
                    num(n.peak_replies),
                    when(n.started_at)
                )
            }
        }
        FollowKind::Summary => e.summary.as_ref().map(summary_line).unwrap_or_default(),
    }
}

/// The last line of a follow.
fn summary_line(s: &FollowSummary) -> String {
    let mut line = format!(
        "{}  {}, {}: {}, {} ({} delivered, {}, {} bounced); {}, {}; {}, {} ({} cleared), {}",
        paint(HEAD, "mxray logs --follow"),
        escape_text(&s.file),
        mxray_logs::human_duration(s.elapsed_secs as i64),
        nums(s.read.lines, "line", "lines"),
        nums(s.attempts, "attempt", "attempts"),
        num(s.delivered),
        nums(s.deferrals, "deferral", "deferrals"),
        num(s.bounced),
        nums(s.read.rotations, "rotation", "rotations"),
        nums(s.read.truncations, "truncation", "truncations"),
        nums(
            s.new_groups + s.new_groups_suppressed,
            "new group",
            "new groups"
        ),
        nums(s.rate_alerts, "rate alert", "rate alerts"),
        num(s.rate_cleared),
        nums(s.storms, "421 storm", "421 storms"),
    );
    if !s.still_firing.is_empty() {
        let names: Vec<String> = s.still_firing.iter().map(|d| escape_text(d)).collect();
        line.push_str(&format!("; still firing: {}", names.join(", ")));
    }
    if s.storm_active {
        line.push_str("; a 421 storm is still on");
    }
    if let Some(w) = &s.webhook {
        line.push_str(&format!(
            "; webhook: {} sent, {} failed, {} dropped",
            num(w.sent),
            num(w.failed),
            num(w.dropped)
        ));
    }
    line
}

fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.to_string().replace('T', " "))
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
        "{}  {} {} in {}, {} .. {}",
        paint(HEAD, "mxray logs"),
        num(t.lines),
        if t.lines == 1 { "line" } else { "lines" },
        crate::render::count(rep.files.len() as u64, "input", "inputs"),
        when(rep.first_seen),
        when(rep.last_seen)
    )?;
    for f in &rep.files {
        writeln!(
            out,
            "  {}",
            paint(
                DIM,
                format!(
                    "{}{}: {} {}, {}{}",
                    escape_text(&f.name),
                    if f.gzip { " (gzip)" } else { "" },
                    num(f.lines),
                    if f.lines == 1 { "line" } else { "lines" },
                    match f.format {
                        Some(m) => m.as_str().to_string(),
                        // MTA lines all left out by the range: say so, not "no MTA lines".
                        None if f.out_of_range > 0 => format!(
                            "none in range ({} outside --since/--until)",
                            num(f.out_of_range)
                        ),
                        None => "no MTA lines".to_string(),
                    },
                    f.error.as_deref().map_or(String::new(), |e| format!(
                        "; READ STOPPED: {}",
                        escape_text(e)
                    ))
                )
            )
        )?;
    }
    writeln!(out)?;
    writeln!(out, "{}", paint(HEAD, "Totals"))?;
    let bad = |n: u64, s| if n > 0 { paint(s, num(n)) } else { num(n) };
    writeln!(
        out,
        "  received {}   delivered {}   deferred {} ({})   bounced {}   expired {}   rejected {}",
        num(t.received),
        paint(GOOD, num(t.delivered)),
        bad(t.deferred_messages, WARN)
            + if t.deferred_messages == 1 {
                " message"
            } else {
                " messages"
            },
        nums(t.deferrals, "deferral", "deferrals"),
        bad(t.bounced, BAD),
        bad(t.expired, BAD),
        num(t.rejected)
    )?;
    writeln!(
        out,
        "  still deferred at the end {}{}   unparsed lines {}   other programs' lines {}{}",
        bad(t.pending, WARN),
        if t.not_attempted > 0 {
            format!(
                "   not attempted (retry time not reached) {}",
                num(t.not_attempted)
            )
        } else {
            String::new()
        },
        num(t.unparsed),
        num(t.other),
        if t.out_of_range > 0 {
            format!("   outside --since/--until {}", num(t.out_of_range))
        } else {
            String::new()
        }
    )?;

    if rep.groups.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", paint(GOOD, "No deferrals or bounces."))?;
    } else {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            paint(
                HEAD,
                format!(
                    "Deferrals and bounces by code x domain x relay ({} of {} groups)",
                    rep.groups.len().min(top),
                    rep.groups.len()
                )
            )
        )?;
        for (i, g) in rep.groups.iter().take(top).enumerate() {
            print_group(out, i + 1, g, verbose)?;
        }
    }

    if !rep.domains.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            paint(HEAD, "Destination domains by deferral rate")
        )?;
        for d in rep.domains.iter().take(10) {
            writeln!(
                out,
                "  {:<32} {:>5.1}%  {} in {}, {} deferred, {} delivered, {} bounced",
                escape_text(&d.domain),
                d.deferral_rate * 100.0,
                nums(d.deferrals, "deferral", "deferrals"),
                nums(d.attempts, "attempt", "attempts"),
                nums(d.deferred_messages, "message", "messages"),
                num(d.delivered),
                num(d.bounced)
            )?;
        }
    }

    print_timeline(out, rep)?;

    let rt = &rep.retries;
    if t.deferred_messages > 0 {
        writeln!(out)?;
        writeln!(out, "{}", paint(HEAD, "Retries"))?;
        writeln!(
            out,
            "  of the messages deferred at least once: {} delivered later, {} bounced, {} expired, {} still deferred",
            num(rt.delivered_after_deferral),
            num(rt.bounced_after_deferral),
            num(rt.expired),
            num(t.pending)
        )?;
        let hist: Vec<String> = rt
            .deferrals_before_outcome
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k}: {}", num(*n)))
            .collect();
        if !hist.is_empty() {
            writeln!(
                out,
                "  deferrals per finished message  {}  (max {})",
                hist.join("  "),
                rt.max_deferrals
            )?;
        }
        let d = &rt.time_to_delivery;
        if let (Some(mean), Some(max)) = (d.mean_secs, d.max_secs) {
            writeln!(
                out,
                "  time to delivery after a deferral  mean {}  max {}",
                mxray_logs::human_duration(mean as i64),
                mxray_logs::human_duration(max)
            )?;
        }
        let d = &rt.time_to_expiry;
        if let Some(max) = d.max_secs {
            writeln!(
                out,
                "  time to expiry  max {}",
                mxray_logs::human_duration(max)
            )?;
        }
    }
    let p = &rep.pending;
    if p.messages > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            paint(
                HEAD,
                format!(
                    "Still deferred at the end of the log: {} (oldest seen {})",
                    nums(p.messages, "message", "messages"),
                    when(p.oldest_first_seen)
                )
            )
        )?;
        for m in p.sample.iter().take(5) {
            writeln!(
                out,
                "  {}  {} deferrals since {}  {}",
                paint(CODE, escape_text(&m.queue_id)),
                m.deferrals,
                when(m.first_seen),
                paint(DIM, escape_text(m.last_reason.as_deref().unwrap_or("")))
            )?;
        }
    }
    if !rep.rejections.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", paint(HEAD, "Rejected before queueing"))?;
        for rj in rep.rejections.iter().take(5) {
            writeln!(
                out,
                "  {:>6}  {}  {}",
                num(rj.count),
                escape_text(&rj.stage),
                escape_text(&rj.template)
            )?;
        }
    }
    if !rep.next_commands.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", paint(HEAD, "Next"))?;
        for c in &rep.next_commands {
            writeln!(out, "  {c}")?;
        }
    }
    Ok(())
}

/// `1 event`, `1,204 events`: a count with thousands separators and its noun in the right number.
fn nums(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", num(n), if n == 1 { one } else { many })
}

/// -q: the totals on one line, then one line per group.
fn print_quiet(out: &mut impl Write, rep: &Report, top: usize) -> anyhow::Result<()> {
    let t = &rep.totals;
    writeln!(
        out,
        "received {}, delivered {}, deferred {} ({} deferrals, {} not attempted), bounced {}, expired {}, rejected {}, still deferred {}",
        num(t.received),
        num(t.delivered),
        num(t.deferred_messages),
        num(t.deferrals),
        num(t.not_attempted),
        num(t.bounced),
        num(t.expired),
        num(t.rejected),
        num(t.pending)
    )?;
    for (i, g) in rep.groups.iter().take(top).enumerate() {
        group_headline(out, i + 1, g)?;
    }
    Ok(())
}

/// A group's first line: status, code, domain, relay, counts, first and last time.
fn group_headline(out: &mut impl Write, n: usize, g: &Group) -> anyhow::Result<()> {
    let style = if g.status == "bounced" { BAD } else { WARN };
    writeln!(
        out,
        "{:>3}. {} {}  {}  via {}   {}, {}, {} .. {}",
        n,
        paint(style, g.status),
        paint(CODE, escape_text(g.dsn.as_deref().unwrap_or("-"))),
        paint(
            HEAD,
            escape_text(if g.domain.is_empty() { "-" } else { &g.domain })
        ),
        escape_text(&g.relay),
        nums(g.count, "event", "events"),
        nums(g.messages, "message", "messages"),
        when(g.first_seen),
        when(g.last_seen)
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
            paint(DIM, "sample:"),
            escape_text(&g.sample)
        )?;
    }
    Ok(())
}

fn print_timeline(out: &mut impl Write, rep: &Report) -> anyhow::Result<()> {
    if rep.timeline.is_empty() {
        return Ok(());
    }
    // Hourly when the log spans a day and a half or less; daily otherwise.
    let rows: Vec<(String, u64, u64)> = if rep.timeline.len() <= 36 {
        rep.timeline
            .iter()
            .map(|h| {
                let s = h.hour.to_string();
                (
                    s.get(..13).unwrap_or(&s).replace('T', " ") + ":00",
                    h.deferrals,
                    h.bounces,
                )
            })
            .collect()
    } else {
        let mut days: Vec<(String, u64, u64)> = Vec::new();
        for h in &rep.timeline {
            let s = h.hour.to_string();
            let day = s.get(..10).unwrap_or(&s).to_string();
            match days.last_mut() {
                Some(last) if last.0 == day => {
                    last.1 += h.deferrals;
                    last.2 += h.bounces;
                }
                _ => days.push((day, h.deferrals, h.bounces)),
            }
        }
        let skip = days.len().saturating_sub(31);
        days.into_iter().skip(skip).collect()
    };
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        paint(
            HEAD,
            if rep.timeline.len() <= 36 {
                "Deferrals per hour"
            } else {
                "Deferrals per day (last 31 days with any)"
            }
        )
    )?;
    for (label, d, b) in rows {
        let width = (d * 40).div_ceil(max) as usize;
        writeln!(
            out,
            "  {label:<16} {:<40} {:>7}{}",
            paint(WARN, "#".repeat(width)),
            num(d),
            if b > 0 {
                format!("  ({} bounced)", num(b))
            } else {
                String::new()
            }
        )?;
    }
    Ok(())
}
