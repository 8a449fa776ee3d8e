//! `mxray verify`: verifies addresses from the arguments or a file through the verify engine,
//! streaming one result per address (terminal, JSON Lines or CSV), resumable with --state.

use std::fs::File;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use mxray_core::escape_text;
use mxray_run::Ended;
use mxray_verify::input::Reader;
use mxray_verify::{BudgetLimits, Config, Engine, Resume, Verdict, VerifyResult};

use crate::cli::{GlobalArgs, ProbeArgs, parse_duration};

mod cluster;
use crate::error::{Kind, mark};
use crate::render::{BAD, DIM, GOOD, Render, WARN, paint};
use crate::{ResultExt, bad_input, exit};

#[derive(Debug, Args)]
#[command(after_help = VERIFY_HELP)]
pub struct VerifyArgs {
    /// Addresses to verify.
    #[arg(
        value_name = "ADDRESS",
        required_unless_present_any = ["input", "preflight"],
        conflicts_with = "input"
    )]
    pub addresses: Vec<String>,

    /// Check this machine's egress instead of verifying: outbound port 25, the egress's PTR
    /// and forward match, the HELO name, the --from domain's SPF/DMARC, the blocklists.
    /// Exit 1 when a check fails. (Before an --input run it runs first on its own.)
    #[arg(long)]
    pub preflight: bool,

    /// The domain whose first MX the preflight connects to. Default: the domain of the first
    /// address (or the argument itself when it is a domain).
    #[arg(long, value_name = "DOMAIN")]
    pub preflight_target: Option<String>,

    /// Refuse to start an --input run when the preflight fails (exit 1).
    #[arg(long)]
    pub strict: bool,

    /// Blocklists for the preflight: one zone per line (`ZONE`, `ip ZONE`). Default: diagnose's.
    #[arg(long, value_name = "FILE")]
    pub dnsbl_file: Option<PathBuf>,

    /// Read addresses from FILE (`-` for stdin): one per line, or a CSV (by extension, or
    /// when --column is given) with a header row.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// The CSV column holding the addresses.
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,

    /// Write results to FILE: CSV for `.csv`, JSON Lines otherwise. Default: standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Keep progress in this SQLite file; the same command resumes after a crash or Ctrl-C.
    #[arg(long, value_name = "FILE", requires = "input")]
    pub state: Option<PathBuf>,

    /// How long a domain's transient failures (greylisting, throttling, drops) may stay
    /// unresolved before they are reported `unknown` with their reason.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub deadline: Duration,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// How the engine probes: identity, egress, politeness. Shared by `verify` and `worker`.
#[derive(Debug, Args)]
pub struct EngineArgs {
    #[command(flatten)]
    pub probe_args: ProbeArgs,

    #[command(flatten)]
    pub policy_args: crate::cli::PolicyArgs,

    /// First retry after a greylisting reply without a hint; later retries double it.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub greylist_retry: Duration,

    /// Local address to connect from (repeatable); a domain always uses the same one. Not
    /// with --proxy: the proxy is then the egress.
    #[arg(long = "source-ip", value_name = "IP", conflicts_with = "proxy")]
    pub source_ips: Vec<IpAddr>,

    // With --proxy, the per-provider limits are those of the proxy's egress (docs/verify.md).
    #[command(flatten)]
    pub proxy_args: crate::cli::ProxyArgs,

    /// Simultaneous SMTP sessions per provider (MX hosts under one registrable domain).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub per_provider: u16,

    /// Simultaneous SMTP sessions one domain may use (default: its provider's budget,
    /// --per-provider or less). A big domain's addresses are shared among them; a small one
    /// (under 25 addresses a session) never opens more than it needs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub sessions_per_domain: Option<u16>,

    /// New connections per minute per provider.
    #[arg(long, value_name = "N", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connects_per_minute: u32,

    /// RCPT TO probes per transaction (a 452 4.5.3 teaches a lower cap).
    #[arg(long, value_name = "N", default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub rcpt_per_transaction: u16,

    /// Domains verified at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub domains: u16,

    /// Do not probe a random address to detect catch-all domains.
    #[arg(long)]
    pub no_catch_all: bool,
}

impl EngineArgs {
    /// Checks what can be checked before any probe (source addresses, the TLS settings, the
    /// proxy URL) and builds the engine's configuration. `deadline`: verify's --deadline, or a
    /// worker's --hold.
    pub fn config(
        &self,
        global: &GlobalArgs,
        deadline: Duration,
    ) -> anyhow::Result<(Config, Option<mxray_net::Proxy>)> {
        let tls = self.probe_args.tls()?;
        // A source address this machine does not have would make every probe fail: say so.
        for ip in &self.source_ips {
            mxray_net::Session::can_send_from(*ip)
                .with_context(|| {
                    format!(
                        "--source-ip {ip} cannot be used on this machine (is it one of its addresses?)"
                    )
                })
                .environment()?;
        }
        let proxy = self.proxy_args.proxy()?;
        let cfg = Config {
            smtp_port: global.smtp_port.unwrap_or(25),
            timeout: global.timeout,
            greeting_wait: self.probe_args.greeting_wait,
            from: self.probe_args.from.clone(),
            helo: self.probe_args.helo(),
            greylist_retry: self.greylist_retry,
            deadline,
            rcpt_per_transaction: self.rcpt_per_transaction as usize,
            source_ips: self.source_ips.clone(),
            budget: BudgetLimits {
                max_sessions: self.per_provider as usize,
                connects_per_minute: self.connects_per_minute,
            },
            sessions_per_domain: self.sessions_per_domain.map_or(0, usize::from),
            domain_concurrency: self.domains as usize,
            detect_catch_all: !self.no_catch_all,
            tls: Arc::new(tls),
            transcript: global.verbose > 0,
            policy: self.policy_args.policy(),
        };
        Ok((cfg, proxy))
    }
}

/// Submitting the run to a cluster of `mxray worker`s instead of probing here.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Submit the list to the workers on this NATS JetStream server (nats://host:4222) and
    /// write their results here as a local run would. Needs --input.
    #[arg(
        long,
        value_name = "URL",
        env = "MXRAY_NATS",
        requires = "input",
        conflicts_with_all = ["state", "preflight", "strict"]
    )]
    pub nats: Option<String>,

    /// The job's name on the cluster (letters, digits, - and _). Default: the input file's
    /// name and a digest of its contents. Rerun with the same name to re-attach to a job
    /// after the submitting process died: nothing is submitted twice.
    #[arg(long, value_name = "NAME", requires = "nats")]
    pub job: Option<String>,
}

const VERIFY_HELP: &str = "\
Examples:
  mxray verify alice@example.com bob@example.org
  mxray verify --input list.csv --column email --output results.csv
  mxray verify --input list.txt --output out.jsonl --state job.db   # killed? run it again

Verdicts: deliverable, undeliverable (only on a permanent answer about the mailbox or the
domain), risky (catch-all, full mailbox, disposable), unknown (everything transient that did not
clear before --deadline, policy blocks, unreachable hosts), each with a reason code listed in
docs/verify.md. DATA is never sent.

Exit codes: 0 no undeliverable address; 1 some undeliverable; 2 bad input; 3 environment.";

/// Where results go.
enum Sink {
    Terminal,
    JsonLines(Box<dyn Write>),
    /// The writer, and how many input columns come first (0 for a text input).
    Csv(Box<csv::Writer<Box<dyn Write>>>, usize),
}

impl Sink {
    /// `input_headers`: a CSV input's header row, whose columns lead each output row.
    fn open(
        path: Option<&Path>,
        json: bool,
        input_headers: Option<&[String]>,
    ) -> anyhow::Result<Sink> {
        let Some(p) = path else {
            return Ok(if json {
                Sink::JsonLines(Box::new(crate::render::plain_stdout()))
            } else {
                Sink::Terminal
            });
        };
        let f: Box<dyn Write> = Box::new(io::BufWriter::new(
            File::create(p)
                .with_context(|| format!("cannot create --output {}", p.display()))
                .bad_input()?,
        ));
        if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            let mut w = csv::Writer::from_writer(f);
            let lead: Vec<String> = input_headers
                .unwrap_or_default()
                .iter()
                .map(|h| mxray_core::csv_cell(h))
                .collect();
            let header: Vec<&str> = lead
                .iter()
                .map(String::as_str)
                .chain(VerifyResult::CSV_HEADER.iter().copied())
                .collect();
            w.write_record(&header)?;
            Ok(Sink::Csv(Box::new(w), lead.len()))
        } else {
            Ok(Sink::JsonLines(f))
        }
    }

    fn write(&mut self, r: &VerifyResult, r_out: &Render) -> anyhow::Result<()> {
        match self {
            Sink::Terminal => {
                let style = match r.verdict {
                    Verdict::Deliverable => GOOD,
                    Verdict::Undeliverable => BAD,
                    Verdict::Risky | Verdict::Unknown => WARN,
                };
                let reply = r
                    .reply
                    .as_ref()
                    .map(|x| {
                        let code = if x.code == 0 {
                            String::new()
                        } else {
                            format!("{} ", x.code)
                        };
                        format!("{code}{}", x.text)
                    })
                    .unwrap_or_default();
                let mut out = r_out.stdout();
                writeln!(
                    out,
                    "{:<36} {} {:<20} {}",
                    escape_text(&r.address),
                    paint(style, format!("{:<13}", r.verdict.as_str())),
                    r.reason.as_str(),
                    paint(DIM, escape_text(&reply))
                )?;
                if let Some(s) = &r.suggestion {
                    writeln!(out, "{:<36} did you mean {}?", "", escape_text(s))?;
                }
                for t in &r.transcript {
                    writeln!(out, "    {}", paint(DIM, escape_text(t)))?;
                }
            }
            Sink::JsonLines(w) => {
                crate::render::json_line(w, r)?;
            }
            Sink::Csv(w, lead) => {
                // The input's own columns first (padded: a flexible CSV has short rows).
                let mut row: Vec<String> = (0..*lead)
                    .map(|i| {
                        r.input_row
                            .get(i)
                            .map_or(String::new(), |c| mxray_core::csv_cell(c))
                    })
                    .collect();
                row.extend(r.csv_row());
                w.write_record(&row)?
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            Sink::Terminal => {}
            Sink::JsonLines(w) => w.flush()?,
            Sink::Csv(w, _) => w.flush()?,
        }
        Ok(())
    }
}

/// How many addresses the input holds, for the progress bar's total and ETA: the arguments, or
/// a file read once more (standard input is read once only: no total).
/// `counted`: the rows the CSV check already counted (a CSV file is not read a third time).
fn count_input(args: &VerifyArgs, counted: Option<u64>) -> Option<u64> {
    use std::io::IsTerminal;
    if !io::stderr().is_terminal() {
        return None; // no bar to feed
    }
    if counted.is_some() {
        return counted;
    }
    let Some(path) = &args.input else {
        return Some(
            args.addresses
                .iter()
                .filter(|a| !a.trim().is_empty())
                .count() as u64,
        );
    };
    if path.as_os_str() == "-" {
        return None;
    }
    // A text file (a CSV file was counted by its check): read once more for the total.
    let file = File::open(path).ok()?;
    Reader::lines(Box::new(file)).check().ok()
}

/// "3 greylisted, 1 rate-limited; next retry in 4m10s", or nothing when nothing waits.
fn waiting_text(w: &mxray_verify::Waiting) -> String {
    if w.is_empty() {
        return String::new();
    }
    let mut parts = Vec::new();
    for (n, what) in [
        (w.greylisted, "greylisted"),
        (w.rate_limited, "rate-limited"),
        (w.deferred, "deferred"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let next = w.next_retry.map_or(String::new(), |at| {
        let s = at.saturating_duration_since(Instant::now()).as_secs();
        if s >= 60 {
            format!("; next retry in {}m{:02}s", s / 60, s % 60)
        } else {
            format!("; next retry in {s}s")
        }
    });
    format!("({} waiting{next})", parts.join(", "))
}

/// The domain the preflight connects to: --preflight-target, else the first address's domain
/// (from the arguments, or the first line of an --input file; not of standard input).
/// `None`: no address to take it from.
fn preflight_target(args: &VerifyArgs) -> anyhow::Result<Option<String>> {
    let domain_of = |a: &str| {
        let a = a.trim();
        a.rsplit_once('@').map_or(a, |(_, d)| d).to_string()
    };
    if let Some(t) = &args.preflight_target {
        return Ok(Some(domain_of(t)));
    }
    if let Some(a) = args.addresses.iter().find(|a| !a.trim().is_empty()) {
        return Ok(Some(domain_of(a)));
    }
    if let Some(p) = &args.input
        && p.as_os_str() != "-"
    {
        let (mut reader, _) = open_input(args)?;
        if let Some(first) = reader.batch(1).bad_input()?.first() {
            return Ok(Some(domain_of(&first.input)));
        }
    }
    Ok(None)
}

/// Runs the preflight (its own runtime: before the run's).
fn run_preflight(
    args: &VerifyArgs,
    global: &GlobalArgs,
    proxy: Option<mxray_net::Proxy>,
    target: String,
) -> anyhow::Result<mxray_diagnose::preflight::Preflight> {
    let target = mxray_core::DomainName::parse(&target)
        .map_err(|e| bad_input(format!("preflight target {}: {e}", escape_text(&target))))?;
    let dnsbls = super::dnsbl_zones(args.dnsbl_file.as_deref())?;
    let opts = mxray_diagnose::preflight::PreflightOptions {
        target,
        smtp_port: global.smtp_port.unwrap_or(25),
        source: args.engine.source_ips.first().copied(),
        proxy,
        helo: args.engine.probe_args.helo(),
        from: args.engine.probe_args.from.clone(),
        dnsbls,
        timeout: global.timeout,
        policy: args.engine.policy_args.policy(),
    };
    let rt = super::runtime()?;
    let out = rt.block_on(async {
        let dns = super::live_dns(global).await?;
        anyhow::Ok(mxray_diagnose::preflight::run(&dns, &opts).await)
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    out
}

fn print_preflight(
    out: &mut impl Write,
    pf: &mxray_diagnose::preflight::Preflight,
    verbose: u8,
) -> anyhow::Result<()> {
    use crate::render::CODE;
    use mxray_core::Severity;
    use mxray_net::EgressSource;
    let egress = match (pf.egress, pf.egress_source) {
        (Some(ip), Some(EgressSource::ProxyReply)) => {
            format!("{ip} (the proxy's outgoing address, from its CONNECT reply)")
        }
        (Some(ip), Some(EgressSource::ProxyAddress)) => format!(
            "{ip} (the proxy's own address: its CONNECT reply named no outgoing address, so the servers may see another)"
        ),
        (Some(ip), _) => ip.to_string(),
        (None, _) => "unknown".to_string(),
    };
    writeln!(
        out,
        "preflight against {}: egress {egress}",
        escape_text(&pf.target)
    )?;
    for f in &pf.findings {
        let style = match f.severity {
            Severity::Fail => BAD,
            Severity::Warn => WARN,
            Severity::Pass => GOOD,
            Severity::Info => DIM,
        };
        writeln!(
            out,
            "  {} {}  {}",
            paint(style, format!("{:<4}", f.severity.as_str())),
            paint(CODE, f.id),
            escape_text(&f.title)
        )?;
        if !f.detail.is_empty() {
            writeln!(out, "        {}", escape_text(&f.detail))?;
        }
        if let Some(fix) = &f.fix {
            crate::render::write_fix(out, "        ", fix)?;
        }
        if verbose > 0 {
            for e in &f.evidence {
                writeln!(
                    out,
                    "        {}",
                    paint(DIM, format!("| {}", escape_text(e)))
                )?;
            }
        }
    }
    Ok(())
}

/// The input, and the number of rows when checking it counted them (a CSV file).
fn open_input(args: &VerifyArgs) -> anyhow::Result<(Reader, Option<u64>)> {
    let Some(path) = &args.input else {
        let text: Vec<u8> = args.addresses.join("\n").into_bytes();
        return Ok((Reader::lines(Box::new(io::Cursor::new(text))), None));
    };
    let raw: Box<dyn io::Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(super::open_file(path, "--input")?)
    };
    let csv = args.column.is_some()
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if csv {
        let column = args.column.as_deref().unwrap_or("email");
        // A file is checked whole first: a malformed CSV is exit 2 before any probe (standard
        // input can be read once only: there it stops the run where it is met).
        let rows = if path.as_os_str() != "-" {
            let n = mxray_verify::input::check_csv(path, column)
                .with_context(|| format!("--input {}", path.display()))
                .bad_input()?;
            Some(n)
        } else {
            None
        };
        Ok((Reader::csv(raw, column).bad_input()?, rows))
    } else {
        Ok((Reader::lines(raw), None))
    }
}

/// The results written so far, by verdict and reason: the summary line and the exit code.
#[derive(Default)]
pub(crate) struct Tally {
    pub written: u64,
    by: std::collections::BTreeMap<(&'static str, &'static str), u64>,
    undeliverable: bool,
}

impl Tally {
    pub fn add(&mut self, r: &VerifyResult) {
        self.written += 1;
        *self
            .by
            .entry((r.verdict.as_str(), r.reason.as_str()))
            .or_default() += 1;
        self.undeliverable |= r.verdict == Verdict::Undeliverable;
    }

    /// "N results in T: n deliverable (reason n, ...), ..." for the line on stderr.
    pub fn line(&self, took: Duration) -> String {
        let mut parts = Vec::new();
        for verdict in ["deliverable", "undeliverable", "risky", "unknown"] {
            let rows: Vec<(&str, u64)> = self
                .by
                .iter()
                .filter(|((v, _), _)| *v == verdict)
                .map(|((_, r), n)| (*r, *n))
                .collect();
            let n: u64 = rows.iter().map(|(_, n)| n).sum();
            if n == 0 {
                continue;
            }
            let reasons: Vec<String> = rows.iter().map(|(r, n)| format!("{r} {n}")).collect();
            parts.push(format!("{n} {verdict} ({})", reasons.join(", ")));
        }
        format!(
            "{} in {:.1}s: {}",
            crate::render::count(self.written, "result", "results"),
            took.as_secs_f64(),
            parts.join(", ")
        )
    }

    pub fn exit_code(&self) -> u8 {
        if self.undeliverable {
            exit::FAILURES
        } else {
            exit::OK
        }
    }
}

pub fn run(args: &VerifyArgs, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    // Flags that would be ignored are usage errors, not silently dropped.
    if args.column.is_some() && args.input.is_none() {
        return Err(bad_input(
            "--column picks a CSV column of --input FILE: give --input, or drop --column",
        ));
    }
    if r.json
        && args
            .output
            .as_deref()
            .and_then(|p| p.extension())
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return Err(bad_input(
            "--json with --output FILE.csv: the file is CSV; drop --json, or write JSON Lines to --output FILE.jsonl",
        ));
    }
    let (cfg, proxy) = args.engine.config(global, args.deadline)?;
    // The summary names the egress (without credentials).
    let through = proxy
        .as_ref()
        .map(|p| format!(" through {p}"))
        .unwrap_or_default();
    if args.preflight {
        if args.input.is_some() {
            return Err(bad_input(
                "--preflight checks the egress alone: drop --input (a bulk run does its preflight first anyway)",
            ));
        }
        let target = preflight_target(args)?.ok_or_else(|| {
            bad_input("the preflight needs a domain to connect to: give an address, or --preflight-target DOMAIN")
        })?;
        let pf = run_preflight(args, global, proxy.clone(), target)?;
        if r.json {
            r.json_doc(&mut crate::render::plain_stdout(), &pf)?;
        } else {
            print_preflight(&mut r.stdout(), &pf, global.verbose)?;
        }
        return Ok(if mxray_diagnose::preflight::failed(&pf.findings) {
            exit::FAILURES
        } else {
            exit::OK
        });
    }
    if args.strict && args.input.is_none() {
        return Err(bad_input(
            "--strict refuses to start an --input run on a failing preflight: give --input, or drop --strict",
        ));
    }
    let (reader, counted) = open_input(args)?;
    let total = count_input(args, counted);
    let resume = match (&args.state, &args.input) {
        (Some(s), Some(i)) => Some(Resume::open(s, &i.display().to_string()).map_err(|e| {
            let kind = if e.is_environment() {
                Kind::Environment
            } else {
                Kind::BadInput
            };
            mark(kind, e)
        })?),
        (Some(s), None) => {
            eprintln!(
                "mxray: --state {} is not used: only an --input list is a resumable job",
                s.display()
            );
            None
        }
        _ => None,
    };
    let mut sink = Sink::open(args.output.as_deref(), r.json, reader.headers())?;
    // Errors writing results name where they were going (a full disk): the --output file
    // here, standard output in its writer.
    let named = |e: anyhow::Error| match &args.output {
        Some(p) => e.context(format!("writing the results to {}", p.display())),
        None => e,
    };
    // The cluster's workers probe from their own egress: no preflight here.
    if let Some(url) = &args.cluster.nats {
        return cluster::run(args, global, r, url, reader, sink);
    }
    // After the local checks (input, state, output): the egress, before any probe.
    if args.input.is_some() {
        // Not blocking: the problems go to stderr, and only --strict stops the run. Standard
        // input (read once, by the run) or an empty list names no target: without
        // --preflight-target, no preflight (refused with --strict).
        let target = preflight_target(args)?;
        if target.is_none() && args.strict {
            return Err(bad_input(
                "--strict needs a preflight target: give --preflight-target DOMAIN (standard input is read once, by the run)",
            ));
        }
        let pf = match target {
            None => None,
            Some(t) => Some(run_preflight(args, global, proxy.clone(), t)?),
        };
        let findings = pf.map(|p| p.findings).unwrap_or_default();
        let problems: Vec<&mxray_core::Finding> = findings
            .iter()
            .filter(|f| {
                matches!(
                    f.severity,
                    mxray_core::Severity::Fail | mxray_core::Severity::Warn
                )
            })
            .collect();
        for f in &problems {
            let fix = f
                .fix
                .as_deref()
                .map(|x| format!(" (fix: {x})"))
                .unwrap_or_default();
            eprintln!(
                "mxray: preflight: {} {}: {}{}",
                f.severity.as_str(),
                f.id,
                escape_text(&f.title),
                escape_text(&fix)
            );
        }
        if args.strict && mxray_diagnose::preflight::failed(&findings) {
            eprintln!("mxray: --strict: the preflight failed, the run did not start");
            return Ok(exit::FAILURES);
        }
    }
    // Results from the store come back in input order with the new ones (see run::start).
    let rt = super::runtime()?;
    let started = Instant::now();
    let result = rt.block_on(async {
        let dns = super::live_dns(global).await?;
        let engine = Engine::new(dns, cfg);
        let engine = Arc::new(match proxy {
            Some(p) => engine.with_proxy(p),
            None => engine,
        });
        let bar = super::Bar::new(global, total, "addresses").map(Arc::new);
        // The line says what holds the run up: greylisting, rate limits, and when it resumes.
        let ticker = bar.clone().map(|b| {
            let engine = engine.clone();
            tokio::spawn(async move {
                loop {
                    b.say(waiting_text(&engine.waiting()));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        });
        let cancel = super::cancel_on_ctrl_c();
        let batches = reader.into_batches(mxray_verify::run::BATCH);
        let mut run = mxray_verify::run::start(
            engine.clone(),
            batches,
            resume,
            cancel,
            super::progress(&bar),
        );
        let mut tally = Tally::default();
        while let Some(got) = run.next().await {
            let d = got.environment()?;
            tally.add(&d.result);
            let written = match &bar {
                Some(b) => b.suspend(|| sink.write(&d.result, r)),
                None => sink.write(&d.result, r),
            };
            written.map_err(named)?;
        }
        sink.flush().map_err(named)?;
        if let Some(t) = ticker {
            t.abort();
        }
        if let Some(b) = &bar {
            b.finish();
        }
        let count = run.done();
        match run.finish().await {
            Ended::Cancelled => {
                eprintln!(
                    "mxray: interrupted: {count} results written{}",
                    if args.state.is_some() { "; run the same command to resume" } else { "" }
                );
                return Ok(exit::INTERRUPTED);
            }
            Ended::Failed(e) => return Err(mark(Kind::BadInput, e)),
            Ended::Crashed(e) => return Err(anyhow::anyhow!("verification task failed: {e}")),
            Ended::Completed => {}
        }
        // A broken egress decides nothing about the recipients: the addresses it kept from
        // their servers were left out (and out of --state, so the same command retries them).
        let written = tally.written;
        if let Some(e) = engine.proxy_failure() {
            return Err(crate::error::environment(format!(
                "{e}; {} written, the addresses it could not reach were left undecided{}",
                crate::render::count(written, "result", "results"),
                if args.state.is_some() { " (run the same command to resume)" } else { "" }
            )));
        }
        if written == 0 {
            let what = match &args.input {
                Some(p) if p.as_os_str() == "-" => "standard input".to_string(),
                Some(p) => p.display().to_string(),
                None => "the command line".to_string(),
            };
            return Err(bad_input(format!(
                "{what} holds no addresses: give user@domain arguments, or --input a file with one per line (or a CSV with an email column)"
            )));
        }
        if !global.quiet {
            let s = engine.stats();
            eprintln!(
                "mxray: {}; {}{through}, {}, {} resolved",
                tally.line(started.elapsed()),
                crate::render::count(s.sessions, "SMTP session", "SMTP sessions"),
                crate::render::count(s.rcpts, "RCPT probe", "RCPT probes"),
                crate::render::count(s.dns_domains, "domain", "domains")
            );
        }
        Ok(tally.exit_code())
    });
    // Greylisting sleeps and the like must not keep an interrupted run alive.
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}
