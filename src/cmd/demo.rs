//! `mxray lab demo`: the offline main job. Starts the bundled seeds world in-process and runs
//! `diagnose` against each of its domains, so a new user sees every 421 failure explained.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use mxray_core::{Severity, escape_text};
use mxray_diagnose::{Job, Limits, Options, Overall, Report};
use mxray_net::{Dns, TlsSettings};
use mxray_run::{Cancel, NoProgress};
use mxray_verify::{BudgetLimits, Config, Engine, Item, Verdict, VerifyResult};

use crate::cli::GlobalArgs;
use crate::render::{BAD, CODE, DIM, GOOD, HEAD, Render, WARN, paint};
use crate::{ResultExt, exit};

/// What the demo diagnoses besides each seed domain: mailbox probes, which reach the failures
/// that only show at MAIL FROM / RCPT TO (greylisting, 421 4.4.3, drops mid-session).
const PROBES: &[&str] = &[
    "alice@ok.test",
    "alice@greylist.test",
    "gone@mailboxes.test",
    "alice@routing-443.test",
    "alice@drop-442.test",
];

/// `lab demo --json`: the lab it started, every diagnosis, the verified addresses, the lab's
/// counters at the end.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct DemoDocument<'a> {
    pub lab: &'a mxray_lab::ReadyInfo,
    pub reports: &'a [Report],
    pub verify: &'a [VerifyResult],
    pub lab_stats: &'a mxray_lab::LabStats,
}

pub fn run(global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    let started = Instant::now();
    let lab = super::lab::start_bundled("seeds.toml", global.smtp_port)?;
    let info = lab.info();
    let resolver = lab.resolver();
    let tls = TlsSettings::from_pem(info.ca_pem.as_bytes(), "the lab CA").environment()?;
    let mut targets: Vec<String> = lab_domains(&info);
    targets.extend(PROBES.iter().map(|s| s.to_string()));
    let opts = Options {
        smtp_port: info.smtp_port,
        timeout: Duration::from_secs(2),
        greeting_wait: Duration::from_secs(5),
        probe: true,
        from: String::new(),
        helo: "demo.mxray.test".into(),
        tls: Arc::new(tls),
        max_addrs_per_host: 4,
        max_hosts: 10,
        limits: Arc::new(Limits::new(2)),
        activity: mxray_run::Activity::new(),
        // The demo world is on loopback: contacting it is the point.
        policy: mxray_net::AddressPolicy::any(),
        proxy: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let tls_for_verify = opts.tls.clone();
    let (reports, verified): (Vec<Report>, Vec<VerifyResult>) = rt.block_on(async {
        let dns = Dns::new(&[resolver], Duration::from_secs(2)).environment()?;
        // Verification runs beside the diagnoses, both on the library runners.
        let verifying = tokio::spawn(mxray_verify::run::verify_all(
            Arc::new(Engine::new(
                dns.clone(),
                verify_config(info.smtp_port, tls_for_verify),
            )),
            verify_items(),
        ));
        let job = Job {
            dns,
            opts,
            sender: None,
        };
        // Every target at once: the demo world is small and its tarpits are slow.
        let concurrency = targets.len();
        let mut run = mxray_diagnose::run::run(
            job,
            targets,
            concurrency,
            Cancel::new(),
            Arc::new(NoProgress),
        );
        let mut out = Vec::new();
        while let Some(d) = run.next().await {
            out.push(d);
        }
        out.sort_by_key(|d| d.index);
        let verified = verifying.await.unwrap_or_default();
        anyhow::Ok((out.into_iter().map(|d| d.report).collect(), verified))
    })?;
    let stats = lab.stop();
    let mut out = r.stdout();
    if r.json {
        let doc = DemoDocument {
            lab: &info,
            reports: &reports,
            verify: &verified,
            lab_stats: &stats,
        };
        r.json_doc(&mut out, &doc)?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "{}",
        paint(HEAD, "mxray lab demo: the bundled seeds world, diagnosed")
    )?;
    writeln!(
        out,
        "{}",
        paint(
            DIM,
            format!(
                "{} hosts on 127.0.0.0/8 port {}, DNS at {}; nothing leaves this machine.",
                info.hosts.len(),
                info.smtp_port,
                info.resolver
            )
        )
    )?;
    writeln!(out)?;
    for rep in &reports {
        let v = &rep.verdict;
        let style = match v.overall {
            Overall::DeliverablePath => GOOD,
            Overall::Degraded | Overall::Inconclusive => WARN,
            Overall::Broken => BAD,
        };
        // The first finding of the worst severity: checks run in checklist order, so the first
        // is the step that broke (the banner), not its consequence (all MX down).
        let worst = [Severity::Fail, Severity::Warn]
            .iter()
            .find_map(|s| rep.findings.iter().find(|f| f.severity == *s));
        writeln!(
            out,
            "{:<26} {}",
            escape_text(&rep.target),
            paint(style, format!("{:<16}", v.overall.as_str()))
        )?;
        match worst {
            Some(f) => {
                writeln!(out, "    {}  {}", paint(CODE, f.id), escape_text(&f.title))?;
                if let Some(fix) = &f.fix {
                    crate::render::write_fix(&mut out, "    ", fix)?;
                }
            }
            None => writeln!(out, "    {}", escape_text(&v.summary))?,
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        paint(
            HEAD,
            "mxray verify on the same world: transient is never \"invalid\""
        )
    )?;
    for v in &verified {
        let style = match v.verdict {
            Verdict::Deliverable => GOOD,
            Verdict::Undeliverable => BAD,
            Verdict::Risky | Verdict::Unknown => WARN,
        };
        writeln!(
            out,
            "{:<26} {} {}",
            escape_text(&v.address),
            paint(style, format!("{:<14}", v.verdict.as_str())),
            v.reason.as_str()
        )?;
    }
    writeln!(out)?;
    let connections: u64 = stats.smtp.iter().map(|h| h.totals.connections).sum();
    writeln!(
        out,
        "{}",
        paint(
            DIM,
            format!(
                "{} targets diagnosed and {} addresses verified in {:.1}s; the lab counted {} SMTP connections and {} DNS queries.",
                reports.len(),
                verified.len(),
                started.elapsed().as_secs_f64(),
                connections,
                stats.dns.queries
            )
        )
    )?;
    writeln!(
        out,
        "Next: mxray diagnose <domain> -v shows the evidence; mxray explain \"<reply>\" decodes any reply; mxray lab serve seeds --ready-file lab.json runs this world for your own tools."
    )?;
    Ok(exit::OK)
}

/// The seed domains that have something to show (helper zones such as DNSBLs are skipped).
fn lab_domains(info: &mxray_lab::ReadyInfo) -> Vec<String> {
    info.zones
        .iter()
        .filter(|z| {
            !z.contains("dnsbl")
                && !z.ends_with("in-addr.arpa")
                && !z.ends_with("ip6.arpa")
                && z.as_str() != "lab.test"
        })
        .filter(|z| !info.hosts.iter().any(|h| &h.name == *z))
        .cloned()
        .collect()
}

/// Addresses `verify` is shown on: a mailbox, an unknown user, greylisting (retried until it
/// clears), a full and a disabled mailbox, a 421 greeting, a null MX.
const VERIFY: &[&str] = &[
    "alice@ok.test",
    "nobody@ok.test",
    "alice@greylist.test",
    "full@mailboxes.test",
    "gone@mailboxes.test",
    "x@banner-421.test",
    "x@null-mx.test",
];

/// How the demo verifies: fast, since the seeds world answers on loopback.
fn verify_config(smtp_port: u16, tls: Arc<TlsSettings>) -> Config {
    Config {
        smtp_port,
        timeout: Duration::from_secs(2),
        greeting_wait: Duration::from_secs(5),
        from: String::new(),
        helo: "demo.mxray.test".into(),
        // The seeds world greylists for 2 s; real servers want minutes.
        greylist_retry: Duration::from_secs(1),
        deadline: Duration::from_secs(6),
        rcpt_per_transaction: 25,
        source_ips: Vec::new(),
        budget: BudgetLimits {
            max_sessions: 2,
            connects_per_minute: 600,
        },
        sessions_per_domain: 0,
        domain_concurrency: 16,
        detect_catch_all: true,
        tls,
        transcript: false,
        policy: mxray_net::AddressPolicy::any(),
    }
}

fn verify_items() -> Vec<Item> {
    VERIFY
        .iter()
        .enumerate()
        .map(|(i, a)| Item {
            row: Vec::new(),
            index: i as u64,
            input: a.to_string(),
        })
        .collect()
}
