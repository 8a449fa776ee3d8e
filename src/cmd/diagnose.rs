//! `mxray diagnose`: the checklist against one domain or address (or many from a file), as
//! recipient and as sender; prints the verdict and the score first, then failures with fixes.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use mxray_core::{Severity, escape_text};
use mxray_diagnose::request;
use mxray_diagnose::run::{self, Job};
use mxray_diagnose::{Area, Limits, Options, Overall, ProxyEgress, Report, SenderOptions};
use mxray_run::Ended;

use crate::cli::{GlobalArgs, ProbeArgs};
use crate::error::{Kind, mark};
use crate::render::{BAD, CODE, DIM, GOOD, HEAD, Render, WARN, paint};
use crate::{bad_input, exit};

#[derive(Debug, Args)]
#[command(after_help = DIAGNOSE_HELP)]
pub struct DiagnoseArgs {
    /// The domain (example.com) or address (user@example.com) to diagnose.
    #[arg(
        value_name = "DOMAIN|ADDRESS",
        required_unless_present = "input",
        conflicts_with = "input"
    )]
    pub target: Option<String>,

    /// Diagnose every domain or address in FILE (one per line, `#` comments), concurrently.
    /// Results stream as they finish: JSON Lines with --json.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Also MAIL FROM / RCPT TO the address (then RSET and QUIT; DATA is never sent).
    #[arg(long)]
    pub probe: bool,

    #[command(flatten)]
    pub probe_args: ProbeArgs,

    #[command(flatten)]
    pub policy_args: crate::cli::PolicyArgs,

    #[command(flatten)]
    pub proxy_args: crate::cli::ProxyArgs,

    /// Targets diagnosed at once with --input.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,

    /// Simultaneous connections to any one MX address, across all targets.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub per_address: u16,

    /// Addresses probed per MX host (IPv4 and IPv6 together).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub max_addresses: u16,

    /// The IP your mail leaves from: evaluate the domain's SPF for it, check its reverse DNS
    /// (PTR, forward-confirmed, generic pool names) and look it up on the blocklists.
    #[arg(long, value_name = "IP")]
    pub sender_ip: Option<std::net::IpAddr>,

    /// A DKIM selector to check (repeatable; from the s= tag of a DKIM-Signature). Common
    /// selectors are swept anyway.
    #[arg(long = "dkim-selector", value_name = "SELECTOR")]
    pub dkim_selectors: Vec<String>,

    /// Only these areas, comma-separated: dns, transport, tls, auth, reputation (default all).
    #[arg(long, value_name = "AREAS", value_delimiter = ',', value_parser = parse_area)]
    pub only: Vec<Area>,

    /// Blocklists to query instead of the default set: one per line, `ZONE`, `ip ZONE` or
    /// `domain ZONE`; `#` comments.
    #[arg(long, value_name = "FILE")]
    pub dnsbl_file: Option<PathBuf>,

    #[command(flatten)]
    pub https: crate::cli::HttpsArgs,
}

fn parse_area(s: &str) -> Result<Area, String> {
    Area::parse(s.trim()).ok_or_else(|| {
        format!("unknown area '{s}': expected dns, transport, tls, auth or reputation")
    })
}

const DIAGNOSE_HELP: &str = "\
Examples:
  mxray diagnose example.com
  mxray diagnose example.com --sender-ip 203.0.113.7 --dkim-selector s1
  mxray diagnose example.com --only auth,reputation --json
  mxray diagnose someone@example.com --probe
  mxray diagnose --input domains.txt --json > out.jsonl
  mxray diagnose example.test --resolver 127.0.0.1:5353 --smtp-port 2525 --ca-file lab-ca.pem

Steps: target syntax (IDNA, typos), MX records (null MX, implicit MX, CNAME, IP literal, no
address, duplicates), then every MX address at once: TCP connect, greeting (421/554 decoded),
EHLO (HELO fallback), STARTTLS and the certificate, reverse DNS, and with --probe MAIL FROM /
RCPT TO. The verdict: deliverable path, degraded, broken or inconclusive, and whose side.
Sender side, at the same time: SPF (lookups, void lookups, all, ptr, includes; with
--sender-ip an RFC 7208 evaluation), DKIM keys, DMARC, MTA-STS (policy over HTTPS), TLS-RPT,
DANE, BIMI, blocklists (self-tested; refusals are never called listed) and the sender IP's rDNS.
A 0-100 score with sub-scores per area (docs/score.md). Finding ids: docs/findings.md.

--proxy socks5://[user:pass@]host:port carries every SMTP session (DNS and the MTA-STS fetch go
direct): a proxy that fails is not the domain's fault, so the run ends with exit 3 and no report
of the targets it kept from their servers (reports already written stay).

Exit codes: 0 nothing failing; 1 a failing finding; 2 bad input; 3 no resolver answers, or the
--proxy failed (no report blames a domain for it).";

pub fn run(args: &DiagnoseArgs, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    let tls = args.probe_args.tls()?;
    let proxy = args.proxy_args.proxy()?;
    let targets = match &args.input {
        Some(path) => read_targets(path)?,
        None => {
            // One target that is not a domain or address is an input error, not a report
            // with a score (a list keeps such rows as reports: the others still run).
            let t = args.target.clone().unwrap_or_default();
            request::check_target(&t, args.probe).map_err(|e| bad_input(e.0))?;
            vec![t]
        }
    };
    let areas = request::areas(&args.only);
    let dnsbls = super::dnsbl_zones(args.dnsbl_file.as_deref())?;
    for s in &args.dkim_selectors {
        request::check_selector(s).map_err(|e| bad_input(format!("--dkim-selector: {e}")))?;
    }
    let tls = Arc::new(tls);
    let helo = args.probe_args.helo();
    let sender = SenderOptions {
        sender_ip: args.sender_ip,
        dkim_selectors: args.dkim_selectors.clone(),
        dnsbls,
        https_port: args.https.https_port,
        tls: tls.clone(),
        helo: helo.clone(),
        timeout: global.timeout,
        areas,
        // Every target of the run shares the blocklists' answers (self-tests, shared MX hosts
        // and providers' addresses) and the shared MX hosts' TLSA answers.
        dnsbl_cache: Arc::default(),
        dane_cache: Arc::default(),
    };
    let opts = Options {
        smtp_port: global.smtp_port.unwrap_or(25),
        timeout: global.timeout,
        greeting_wait: args.probe_args.greeting_wait,
        probe: args.probe,
        from: args.probe_args.from.clone(),
        helo,
        tls,
        max_addrs_per_host: args.max_addresses as usize,
        max_hosts: 10,
        limits: Arc::new(Limits::new(args.per_address as usize)),
        activity: mxray_run::Activity::new(),
        policy: args.policy_args.policy(),
        proxy: proxy.map(|p| Arc::new(ProxyEgress::new(p))),
    };
    let rt = super::runtime()?;
    rt.block_on(async {
        let dns = super::new_dns(global)?;
        if args.input.is_some() {
            if !dns.alive().await {
                return Err(super::dead_resolver(global));
            }
            let job = Job {
                dns,
                opts,
                sender: Some(sender),
            };
            bulk(job, targets, args.concurrency as usize, global, r).await
        } else {
            // The resolver check runs beside the diagnosis, not before it: one round trip
            // less on the critical path. A dead resolver still wins: exit 3, no report.
            let waiting = super::Waiting::start(global, opts.activity.clone());
            let (alive, report) = tokio::join!(
                dns.alive(),
                mxray_diagnose::diagnose_full(&dns, &targets[0], &opts, Some(&sender))
            );
            drop(waiting);
            if !alive {
                return Err(super::dead_resolver(global));
            }
            // The egress broke: whatever the servers did is unknown, so no report at all.
            let report = report.map_err(|e| {
                crate::error::environment(format!(
                    "{e}; no report: nothing is known about {} from a failed proxy",
                    escape_text(targets[0].trim())
                ))
            })?;
            let mut out = r.stdout();
            if r.json {
                r.json_doc(&mut out, &report)?;
            } else {
                if global.quiet {
                    // -q: the verdict in one line, as a list prints each target.
                    print_one_line(&mut out, &report)?;
                } else {
                    print_report(&mut out, &report, global.verbose)?;
                }
            }
            out.flush()?;
            let invalid = report.findings.iter().any(|f| f.id == "domain.invalid");
            Ok(if invalid {
                exit::BAD_INPUT
            } else if report.has_failures() {
                exit::FAILURES
            } else {
                exit::OK
            })
        }
    })
}

fn read_targets(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(io::BufReader::new(super::open_file(path, "--input")?))
    };
    let name = if path.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    run::read_targets(reader, &name).map_err(|e| {
        let kind = match e {
            run::TargetsError::Read { .. } => Kind::Environment,
            _ => Kind::BadInput,
        };
        mark(kind, e)
    })
}

/// `--input`: the runner diagnoses, this prints each report as it finishes.
async fn bulk(
    job: Job,
    targets: Vec<String>,
    concurrency: usize,
    global: &GlobalArgs,
    r: &Render,
) -> anyhow::Result<u8> {
    let total = targets.len();
    let bar = super::Bar::new(global, Some(total as u64), "domains").map(Arc::new);
    let cancel = super::cancel_on_ctrl_c();
    let opts = job.opts.clone();
    let mut run = run::run(job, targets, concurrency, cancel, super::progress(&bar));
    let mut failures = false;
    while let Some(d) = run.next().await {
        failures |= d.report.has_failures();
        let print = || -> anyhow::Result<()> {
            let mut out = r.stdout();
            if r.json {
                r.json_line(&mut out, &d.report)?;
            } else {
                print_one_line(&mut out, &d.report)?;
            }
            out.flush()?;
            Ok(())
        };
        match &bar {
            Some(b) => b.suspend(print)?,
            None => print()?,
        }
    }
    if let Some(b) = &bar {
        b.finish();
    }
    let done = run.done();
    if let Ended::Cancelled = run.finish().await {
        eprintln!("mxray: interrupted: {done} of {total} targets done and written");
        return Ok(exit::INTERRUPTED);
    }
    // Every report written stands (each was finished before or without the failure); the
    // targets the proxy kept from their servers have none.
    if let Some(e) = opts.proxy_failure() {
        return Err(crate::error::environment(format!(
            "{e}; {done} of {total} targets diagnosed and written, the others left undiagnosed"
        )));
    }
    Ok(if failures { exit::FAILURES } else { exit::OK })
}

fn overall_style(o: Overall) -> anstyle::Style {
    match o {
        Overall::DeliverablePath => GOOD,
        Overall::Degraded | Overall::Inconclusive => WARN,
        Overall::Broken => BAD,
    }
}

fn print_one_line(out: &mut impl Write, rep: &Report) -> io::Result<()> {
    let v = &rep.verdict;
    let fails = rep
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Fail)
        .count();
    let warns = rep
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warn)
        .count();
    writeln!(
        out,
        "{}  {}  score {}  {} fail, {} warn  {}",
        paint(HEAD, escape_text(&rep.target)),
        paint(overall_style(v.overall), v.overall.as_str()),
        rep.score.overall,
        fails,
        warns,
        escape_text(&v.summary)
    )
}

fn print_report(out: &mut impl Write, rep: &Report, verbose: u8) -> io::Result<()> {
    let v = &rep.verdict;
    let side = match v.side {
        mxray_core::Side::None => String::new(),
        s => format!("  (likely side: {})", s.label()),
    };
    writeln!(
        out,
        "{}: {}{}",
        paint(HEAD, escape_text(&rep.target)),
        paint(overall_style(v.overall), v.overall.as_str().to_uppercase()),
        side
    )?;
    writeln!(out, "  {}", escape_text(&v.summary))?;
    let parts: Vec<String> = rep
        .score
        .areas
        .iter()
        .map(|a| match a.score {
            Some(s) => format!("{} {s}", a.area.as_str()),
            None => format!("{} -", a.area.as_str()),
        })
        .collect();
    let style = match rep.score.overall {
        90.. => GOOD,
        60..90 => WARN,
        _ => BAD,
    };
    writeln!(
        out,
        "  {} {}  ({})",
        paint(HEAD, "score"),
        paint(style, format!("{}/100", rep.score.overall)),
        parts.join(" · ")
    )?;
    for h in &v.hosts {
        let state = match h.state {
            mxray_diagnose::HostState::Up => paint(GOOD, "up"),
            mxray_diagnose::HostState::Down => paint(BAD, "down"),
            mxray_diagnose::HostState::Inconclusive => paint(WARN, "inconclusive"),
        };
        let first = h
            .first_failure
            .map(|f| format!("  first failure: {f}"))
            .unwrap_or_default();
        writeln!(out, "  {:<40} {state}{first}", escape_text(&h.host))?;
    }
    for (sev, title, style) in [
        (Severity::Fail, "Failures", BAD),
        (Severity::Warn, "Warnings", WARN),
        (Severity::Info, "Notes", DIM),
    ] {
        let list: Vec<_> = rep.findings.iter().filter(|f| f.severity == sev).collect();
        if list.is_empty() {
            continue;
        }
        writeln!(out)?;
        writeln!(out, "{}", paint(style, title))?;
        for f in list {
            writeln!(out, "  {}  {}", paint(CODE, f.id), escape_text(&f.title))?;
            if !f.detail.is_empty() {
                writeln!(out, "      {}", escape_text(&f.detail))?;
            }
            if let Some(fix) = &f.fix {
                crate::render::write_fix(out, "      ", fix)?;
            }
            if verbose > 0 {
                for e in &f.evidence {
                    writeln!(out, "      {}", paint(DIM, format!("| {}", escape_text(e))))?;
                }
            }
        }
    }
    let passes: Vec<_> = rep
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Pass)
        .collect();
    writeln!(out)?;
    if verbose > 0 {
        writeln!(out, "{}", paint(GOOD, "Passed"))?;
        for f in &passes {
            writeln!(out, "  {}  {}", paint(CODE, f.id), escape_text(&f.title))?;
            writeln!(out, "      {}", escape_text(&f.detail))?;
            if verbose > 1 {
                for e in &f.evidence {
                    writeln!(out, "      {}", paint(DIM, format!("| {}", escape_text(e))))?;
                }
            }
        }
    } else {
        writeln!(
            out,
            "{}",
            paint(
                DIM,
                format!(
                    "{} passed; -v lists them and shows the evidence",
                    crate::render::count(passes.len() as u64, "check", "checks")
                )
            )
        )?;
    }
    Ok(())
}
