//! `mxray lab demo`: the offline main job. Starts the bundled seeds world in-process and runs
//! `diagnose` against each of its domains, so a new user sees every 421 failure explained.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use mxray_core::{Severity, escape_text};
use mxray_diagnose::{Limits, Options, Overall, Report};
use mxray_net::{Dns, TlsSettings};

use crate::cli::GlobalArgs;
use crate::render::{BAD, CODE, DIM, GOOD, HEAD, Render, WARN, paint};
use crate::{Exit, exit};

/// What the demo diagnoses besides each seed domain: mailbox probes, which reach the failures
/// that only show at MAIL FROM / RCPT TO (greylisting, 421 4.4.3, drops mid-session).
const PROBES: &[&str] = &[
    "alice@ok.test",
    "alice@greylist.test",
    "gone@mailboxes.test",
    "alice@routing-443.test",
    "alice@drop-442.test",
];

pub fn run(global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    let started = Instant::now();
    let lab = super::lab::start_bundled("seeds.toml", global.smtp_port)?;
    let info = lab.info();
    let resolver: std::net::SocketAddr = info
        .resolver
        .parse()
        .context("the lab's resolver address")?;
    let tls = TlsSettings::from_pem(info.ca_pem.as_bytes(), "the lab CA").map_err(|e| Exit {
        code: exit::ENVIRONMENT,
        message: e.to_string(),
    })?;
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
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let reports: Vec<Report> = rt.block_on(async {
        let dns = Dns::new(&[resolver], Duration::from_secs(2)).map_err(|e| Exit {
            code: exit::ENVIRONMENT,
            message: e.to_string(),
        })?;
        let mut set = tokio::task::JoinSet::new();
        for (i, t) in targets.iter().enumerate() {
            let (dns, opts, t) = (dns.clone(), opts.clone(), t.clone());
            set.spawn(async move { (i, mxray_diagnose::diagnose(&dns, &t, &opts).await) });
        }
        let mut out = Vec::new();
        while let Some(j) = set.join_next().await {
            if let Ok(x) = j {
                out.push(x);
            }
        }
        out.sort_by_key(|(i, _)| *i);
        anyhow::Ok(out.into_iter().map(|(_, r)| r).collect())
    })?;
    let stats = lab.stop();
    let mut out = r.stdout();
    if r.json {
        r.json_doc(
            &mut out,
            &serde_json::json!({ "lab": info, "reports": reports, "lab_stats": stats }),
        )?;
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
                    writeln!(out, "    {} {}", paint(GOOD, "fix:"), escape_text(fix))?;
                }
            }
            None => writeln!(out, "    {}", escape_text(&v.summary))?,
        }
    }
    writeln!(out)?;
    let connections: u64 = stats.smtp.iter().map(|h| h.totals.connections).sum();
    writeln!(
        out,
        "{}",
        paint(
            DIM,
            format!(
                "{} targets in {:.1}s; the lab counted {} SMTP connections and {} DNS queries.",
                reports.len(),
                started.elapsed().as_secs_f64(),
                connections,
                stats.dns.queries
            )
        )
    )?;
    writeln!(
        out,
        "Next: mxray diagnose <domain> -v shows the evidence; mxray lab serve seeds --ready-file lab.json runs this world for your own tools."
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
