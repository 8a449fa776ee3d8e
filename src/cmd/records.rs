//! `mxray records`: the DNS records (and MTA-STS policy file) a mail domain publishes, made by
//! `mxray-records` from flags and printed as zone-file lines, plain values or JSON.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use mxray_core::{DomainName, escape_text};
use mxray_diagnose::sender::spf::propose::{check_flattened as check_drift, propose_spf};
use mxray_records::spf::{self, SpfSpec};
use mxray_records::{Generated, dmarc, mta_sts};

use crate::cli::GlobalArgs;
use crate::render::{DIM, HEAD, Render, paint};
use crate::{ResultExt, bad_input, exit};

#[derive(Debug, Args)]
pub struct RecordsArgs {
    #[command(subcommand)]
    pub command: RecordsCommand,
    /// TTL of the zone-file lines.
    #[arg(long, global = true, default_value_t = 3600, value_name = "SECONDS")]
    pub ttl: u32,
    /// Print only the values, one per line, as DNS providers' web forms want them (the TXT
    /// text without quotes), instead of zone-file lines.
    #[arg(long, global = true)]
    pub value: bool,
}

#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// The SPF record (RFC 7208) from the services that send for the domain; over 10 DNS
    /// lookups, a flattened layout (includes replaced by the addresses they list today).
    #[command(after_help = SPF_HELP)]
    Spf(SpfArgs),
    /// The DMARC record (`_dmarc.DOMAIN`), and the authorisation record each external report
    /// domain must publish (RFC 7489 7.1).
    #[command(after_help = DMARC_HELP)]
    Dmarc(DmarcArgs),
    /// The `_mta-sts` TXT record and the policy file to serve at
    /// https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461).
    #[command(name = "mta-sts", after_help = MTA_STS_HELP)]
    MtaSts(MtaStsArgs),
    /// The TLS-RPT record (`_smtp._tls.DOMAIN`, RFC 8460): where TLS failure reports go.
    #[command(after_help = TLSRPT_HELP)]
    Tlsrpt(TlsrptArgs),
    /// The BIMI record (`SELECTOR._bimi.DOMAIN`): the logo, and the mark certificate.
    #[command(after_help = BIMI_HELP)]
    Bimi(BimiArgs),
    /// The DKIM record (`SELECTOR._domainkey.DOMAIN`) from a key file: RSA (2048 bits or
    /// more) or Ed25519, public or private PEM (only the public half is printed).
    #[command(after_help = DKIM_HELP)]
    Dkim(DkimArgs),
    /// What the domain publishes today (SPF, DMARC, MTA-STS, with its MX hosts) and, per
    /// problem, the record to publish instead.
    #[command(after_help = FIX_HELP)]
    Fix(FixArgs),
}

const SPF_HELP: &str = "\
Examples:
  mxray records spf example.com --mx --include _spf.google.com --all fail
  mxray records spf example.com --ip4 192.0.2.0/24 --include sendgrid.net --value
  mxray records spf example.com --mx --include _spf.google.com --include sendgrid.net \\
      --include spf.protection.outlook.com --include mailgun.org
  mxray records spf example.com --mx --include _spf.google.com --include sendgrid.net \\
      --include spf.protection.outlook.com --include mailgun.org --check-flattened

Over 10 DNS lookups (RFC 7208 4.6.4) the includes are replaced by their current addresses,
largest first, then mx and a, until the record fits; longer than one TXT string, the
addresses go to _spf1.DOMAIN, _spf2.DOMAIN... chained by include. A flattened record goes
stale when a provider changes its ranges: --check-flattened with the same terms compares
what is published with what the providers list now (exit 1 on drift).";

const FIX_HELP: &str = "\
Examples:
  mxray records fix example.com
  mxray records fix example.com --json

Corrects: several SPF records (merged), +all/?all or no all (~all), includes of names
without SPF (removed), over 10 SPF lookups (flattened), no DMARC record (p=none starter
with rua), no rua=, an external rua domain that has not authorised reports, an MTA-STS
policy that misses an MX host (added, fresh id). Exit 1 when something needs fixing.";

const DMARC_HELP: &str = "\
Examples:
  mxray records dmarc example.com --policy none --rua dmarc@example.com
  mxray records dmarc example.com --policy quarantine --pct 25 --rua mailto:reports@example.net
  mxray records dmarc example.com --policy none --rua dmarc@example.com --rollout";

const MTA_STS_HELP: &str = "\
Examples:
  mxray records mta-sts example.com --mode testing --mx mx1.example.com --mx '*.mail.example.com'";

const TLSRPT_HELP: &str = "\
Examples:
  mxray records tlsrpt example.com --rua mailto:tlsrpt@example.com";

const BIMI_HELP: &str = "\
Examples:
  mxray records bimi example.com --logo https://example.com/logo.svg";

const DKIM_HELP: &str = "\
Examples:
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dkim.key \\
      && mxray records dkim example.com --selector s2026 --key dkim.key";

#[derive(Debug, Args)]
pub struct DmarcArgs {
    pub domain: String,
    /// none (monitor), quarantine or reject.
    #[arg(long, value_name = "POLICY")]
    pub policy: String,
    /// Where aggregate reports go: an address or a mailto: URI (repeatable).
    #[arg(long, value_name = "URI")]
    pub rua: Vec<String>,
    /// Where failure reports go (repeatable; few receivers send them).
    #[arg(long, value_name = "URI")]
    pub ruf: Vec<String>,
    /// The percentage of failing mail the policy applies to (0-100).
    #[arg(long, value_name = "N")]
    pub pct: Option<u8>,
    /// The policy for subdomains, when it differs.
    #[arg(long, value_name = "POLICY")]
    pub sp: Option<String>,
    /// DKIM alignment: r (relaxed, the default) or s (strict).
    #[arg(long, value_name = "r|s")]
    pub adkim: Option<String>,
    /// SPF alignment: r (relaxed, the default) or s (strict).
    #[arg(long, value_name = "r|s")]
    pub aspf: Option<String>,
    /// Print the staged plan from p=none to p=reject instead of one record.
    #[arg(long)]
    pub rollout: bool,
}

#[derive(Debug, Args)]
pub struct MtaStsArgs {
    pub domain: String,
    /// testing (report only), enforce, or none (withdraw a policy).
    #[arg(long, value_name = "MODE")]
    pub mode: String,
    /// An MX host the policy allows, or a `*.` pattern (repeatable; list every MX host).
    #[arg(long, value_name = "PATTERN", required = true)]
    pub mx: Vec<String>,
    /// How long senders cache the policy.
    #[arg(long, value_name = "SECONDS", default_value_t = 604_800)]
    pub max_age: u64,
    /// The policy id (1-32 letters or digits); default: the current UTC time. Change it on
    /// every policy change.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct TlsrptArgs {
    pub domain: String,
    /// Where reports go: mailto: or https: URI (repeatable).
    #[arg(long, value_name = "URI", required = true)]
    pub rua: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BimiArgs {
    pub domain: String,
    /// The logo: an https URL to an SVG Tiny PS file.
    #[arg(long, value_name = "URL")]
    pub logo: String,
    /// The Verified Mark Certificate: an https URL to its PEM.
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,
    #[arg(long, default_value = "default", value_name = "SELECTOR")]
    pub selector: String,
}

#[derive(Debug, Args)]
pub struct DkimArgs {
    pub domain: String,
    #[arg(long, value_name = "SELECTOR")]
    pub selector: String,
    /// A PEM key file: public (PUBLIC KEY, RSA PUBLIC KEY) or private (PRIVATE KEY, RSA
    /// PRIVATE KEY).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
}

#[derive(Debug, Args)]
pub struct SpfArgs {
    pub domain: String,
    /// A service that sends for the domain, by its SPF include name (repeatable).
    #[arg(long, value_name = "DOMAIN")]
    pub include: Vec<String>,
    /// An IPv4 address or network that sends for the domain (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub ip4: Vec<String>,
    /// An IPv6 address or network that sends for the domain (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub ip6: Vec<String>,
    /// The domain's MX hosts send for it.
    #[arg(long)]
    pub mx: bool,
    /// The domain's own address (A/AAAA) sends for it.
    #[arg(long)]
    pub a: bool,
    /// What every other address gets: softfail (~all) or fail (-all).
    #[arg(long, value_name = "softfail|fail", default_value = "softfail")]
    pub all: String,
    /// Compare the published record with what these terms authorise today (a flattened
    /// record's drift); exit 1 when they differ.
    #[arg(long)]
    pub check_flattened: bool,
}

#[derive(Debug, Args)]
pub struct FixArgs {
    pub domain: String,
    #[command(flatten)]
    pub probe_args: crate::cli::ProbeArgs,
    #[command(flatten)]
    pub https: crate::cli::HttpsArgs,
    #[command(flatten)]
    pub policy_args: crate::cli::PolicyArgs,
}

/// Key files larger than this are not keys.
const MAX_KEY_FILE: u64 = 64 * 1024;

pub fn run(args: &RecordsArgs, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    let domain = |d: &str| DomainName::parse(d).bad_input();
    let mut facts = None;
    let plans: Vec<(String, Generated)> = match &args.command {
        RecordsCommand::Spf(a) => {
            let spec = spf_spec(a)?;
            if a.check_flattened {
                return check_flattened(&spec, global, r);
            }
            let p = super::runtime()?.block_on(async {
                let dns = super::new_dns(global)?;
                let (alive, p) = tokio::join!(dns.alive(), propose_spf(&dns, &spec));
                if !alive {
                    return Err(super::dead_resolver(global));
                }
                p.bad_input()
            })?;
            let mut g = p.generated.clone();
            if p.flattened.is_some() {
                g.notes.push(format!(
                    "Check for drift (weekly, or when a provider announces new ranges): {}",
                    drift_command(a)
                ));
            }
            facts = Some(SpfFacts {
                record: p.record.clone(),
                lookups_as_asked: p.lookups,
                lookups: p.flattened.as_ref().map_or(p.lookups, |f| f.lookups),
                flattened: p
                    .flattened
                    .as_ref()
                    .map(|f| f.flattened.clone())
                    .unwrap_or_default(),
                kept: p
                    .flattened
                    .as_ref()
                    .map(|f| f.kept.clone())
                    .unwrap_or_default(),
            });
            vec![(String::new(), g)]
        }
        RecordsCommand::Fix(a) => return fix(a, args.ttl, args.value, global, r),
        RecordsCommand::Dmarc(a) => {
            let d = domain(&a.domain)?;
            if a.rollout {
                dmarc::rollout(&d, &a.rua).bad_input()?
            } else {
                let o = dmarc::DmarcOptions {
                    policy: dmarc::Policy::parse(&a.policy).bad_input()?,
                    subdomain_policy: a
                        .sp
                        .as_deref()
                        .map(dmarc::Policy::parse)
                        .transpose()
                        .bad_input()?,
                    pct: a.pct,
                    rua: a.rua.clone(),
                    ruf: a.ruf.clone(),
                    adkim: a
                        .adkim
                        .as_deref()
                        .map(dmarc::Alignment::parse)
                        .transpose()
                        .bad_input()?,
                    aspf: a
                        .aspf
                        .as_deref()
                        .map(dmarc::Alignment::parse)
                        .transpose()
                        .bad_input()?,
                };
                vec![(String::new(), dmarc::dmarc(&d, &o).bad_input()?)]
            }
        }
        RecordsCommand::MtaSts(a) => {
            let d = domain(&a.domain)?;
            let mode = mta_sts::Mode::parse(&a.mode).bad_input()?;
            let id = match &a.id {
                Some(id) => id.clone(),
                None => mta_sts::fresh_id(now_unix()),
            };
            let g = mta_sts::mta_sts(&d, mode, &a.mx, a.max_age, &id).bad_input()?;
            vec![(String::new(), g)]
        }
        RecordsCommand::Tlsrpt(a) => {
            let g = mxray_records::tlsrpt::tlsrpt(&domain(&a.domain)?, &a.rua).bad_input()?;
            vec![(String::new(), g)]
        }
        RecordsCommand::Bimi(a) => {
            let g = mxray_records::bimi::bimi(
                &domain(&a.domain)?,
                &a.selector,
                &a.logo,
                a.authority.as_deref(),
            )
            .bad_input()?;
            vec![(String::new(), g)]
        }
        RecordsCommand::Dkim(a) => {
            let pem = read_key(&a.key)?;
            let g =
                mxray_records::dkim::dkim(&domain(&a.domain)?, &a.selector, &pem).bad_input()?;
            vec![(String::new(), g)]
        }
    };
    let mut out = r.stdout();
    if r.json {
        for (step, g) in &plans {
            let step = Step {
                step,
                generated: g,
                spf: facts.as_ref(),
            };
            r.json_line(&mut out, &step)?;
        }
    } else {
        for (i, (step, g)) in plans.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            if !step.is_empty() {
                writeln!(out, "{}", paint(HEAD, format!("; {step}")))?;
            }
            print_generated(&mut out, g, args.ttl, args.value, global.quiet)?;
        }
    }
    out.flush()?;
    Ok(exit::OK)
}

/// One `--json` line: a step of a plan (empty for a single record set) and what to publish.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Step<'a> {
    /// The rollout step (`--rollout`), empty otherwise.
    pub step: &'a str,
    #[serde(flatten)]
    pub generated: &'a Generated,
    /// `records spf`: what the record costs, and what flattening did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spf: Option<&'a SpfFacts>,
}

/// What `records spf` decided.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct SpfFacts {
    /// The record as asked, before flattening.
    pub record: String,
    /// DNS lookups the record as asked spends (RFC 7208 allows 10).
    pub lookups_as_asked: usize,
    /// DNS lookups the records to publish spend.
    pub lookups: usize,
    /// Terms replaced by their addresses (empty when the record fits as asked).
    pub flattened: Vec<String>,
    /// Terms a flattened record keeps as they are.
    pub kept: Vec<String>,
}

fn spf_spec(a: &SpfArgs) -> anyhow::Result<SpfSpec> {
    let mut notes = Vec::new();
    let mut ip4 = Vec::new();
    for s in &a.ip4 {
        let (net, masked) = spf::parse_ip4(s).bad_input()?;
        if masked {
            notes.push(format!("--ip4 {s}: host bits cleared, {}/{}", net.0, net.1));
        }
        ip4.push(net);
    }
    let mut ip6 = Vec::new();
    for s in &a.ip6 {
        let (net, masked) = spf::parse_ip6(s).bad_input()?;
        if masked {
            notes.push(format!("--ip6 {s}: host bits cleared, {}/{}", net.0, net.1));
        }
        ip6.push(net);
    }
    for n in notes {
        eprintln!("mxray: {}", escape_text(&n));
    }
    let includes = a
        .include
        .iter()
        .map(|i| {
            DomainName::parse(i)
                .map_err(|e| bad_input(format!("--include {}: {e}", escape_text(i))))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(SpfSpec {
        domain: DomainName::parse(&a.domain).bad_input()?,
        ip4,
        ip6,
        a: a.a,
        mx: a.mx,
        includes,
        all: spf::AllPolicy::parse(&a.all).bad_input()?,
    })
}

/// The command line that checks a flattened record later: the same terms, --check-flattened.
fn drift_command(a: &SpfArgs) -> String {
    let mut c = format!("mxray records spf {}", a.domain);
    for i in &a.include {
        c.push_str(&format!(" --include {i}"));
    }
    for i in &a.ip4 {
        c.push_str(&format!(" --ip4 {i}"));
    }
    for i in &a.ip6 {
        c.push_str(&format!(" --ip6 {i}"));
    }
    if a.mx {
        c.push_str(" --mx");
    }
    if a.a {
        c.push_str(" --a");
    }
    c.push_str(" --check-flattened");
    c
}

fn check_flattened(spec: &SpfSpec, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    let drift = super::runtime()?.block_on(async {
        let dns = super::new_dns(global)?;
        let (alive, d) = tokio::join!(dns.alive(), check_drift(&dns, spec));
        if !alive {
            return Err(super::dead_resolver(global));
        }
        d.bad_input()
    })?;
    let mut out = r.stdout();
    if r.json {
        r.json_doc(&mut out, &drift)?;
    } else {
        for p in &drift.published {
            writeln!(out, "published: {}", escape_text(p))?;
        }
        writeln!(out, "lookups: {} (RFC 7208 allows 10)", drift.lookups)?;
        if drift.in_sync {
            writeln!(
                out,
                "{}",
                paint(
                    HEAD,
                    "in sync: the published record passes exactly what these terms authorise today"
                )
            )?;
        }
        if !drift.missing.is_empty() {
            writeln!(
                out,
                "missing: {} network(s) the terms list today that the published record does not pass (their mail fails SPF):",
                drift.missing.len()
            )?;
            for m in &drift.missing {
                writeln!(out, "  {m}")?;
            }
        }
        if !drift.extra.is_empty() {
            writeln!(
                out,
                "extra: {} network(s) published that the terms no longer list (whoever holds them may send as the domain):",
                drift.extra.len()
            )?;
            for x in &drift.extra {
                writeln!(out, "  {x}")?;
            }
        }
        if let Some(pk) = &drift.published_kept {
            writeln!(
                out,
                "kept includes differ: the terms keep [{}], the published record [{}]",
                escape_text(&drift.kept.join(" ")),
                escape_text(&pk.join(" "))
            )?;
        }
        if drift.lookups > 10 {
            writeln!(out, "over 10 lookups: receivers answer permerror")?;
        }
        if !drift.in_sync {
            writeln!(
                out,
                "{}",
                paint(
                    DIM,
                    "; regenerate: the same command without --check-flattened, then replace the published records"
                )
            )?;
        }
    }
    out.flush()?;
    Ok(if drift.in_sync {
        exit::OK
    } else {
        exit::FAILURES
    })
}

fn fix(a: &FixArgs, ttl: u32, value: bool, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    let target = mxray_core::address::parse_target(&a.domain)
        .map_err(|e| bad_input(format!("{}: {e}", escape_text(&a.domain))))?;
    if target.local.is_some() {
        return Err(bad_input(format!(
            "{}: give a domain, not an address",
            escape_text(&a.domain)
        )));
    }
    let tls = std::sync::Arc::new(a.probe_args.tls()?);
    let helo = a.probe_args.helo();
    let areas = mxray_diagnose::Areas {
        dns: true,
        transport: false,
        tls: true,
        auth: true,
        reputation: false,
    };
    let sender = mxray_diagnose::SenderOptions {
        sender_ip: None,
        dkim_selectors: Vec::new(),
        dnsbls: Vec::new(),
        https_port: a.https.https_port,
        tls: tls.clone(),
        helo: helo.clone(),
        timeout: global.timeout,
        areas,
        dnsbl_cache: std::sync::Arc::default(),
        dane_cache: std::sync::Arc::default(),
    };
    let opts = mxray_diagnose::Options {
        smtp_port: global.smtp_port.unwrap_or(25),
        timeout: global.timeout,
        greeting_wait: a.probe_args.greeting_wait,
        probe: false,
        from: a.probe_args.from.clone(),
        helo,
        tls,
        max_addrs_per_host: 1,
        max_hosts: 10,
        limits: std::sync::Arc::new(mxray_diagnose::Limits::new(1)),
        activity: mxray_run::Activity::new(),
        policy: a.policy_args.policy(),
        // `records fix` opens no SMTP session.
        proxy: None,
    };
    let report = super::runtime()?.block_on(async {
        let dns = super::new_dns(global)?;
        let (alive, report) = tokio::join!(
            dns.alive(),
            mxray_diagnose::sender::fix::fix_domain(&dns, target, &opts, &sender)
        );
        if !alive {
            return Err(super::dead_resolver(global));
        }
        Ok(report)
    })?;
    let mut out = r.stdout();
    if r.json {
        r.json_doc(&mut out, &report)?;
    } else {
        if report.fixes.is_empty() {
            writeln!(
                out,
                "{}",
                paint(
                    HEAD,
                    format!("{}: nothing a record change would fix", report.domain)
                )
            )?;
        }
        for (i, f) in report.fixes.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            for p in &f.problems {
                writeln!(
                    out,
                    "{}",
                    paint(
                        HEAD,
                        format!("; {} ({})", escape_text(p), f.findings.join(", "))
                    )
                )?;
            }
            if f.current.records.is_empty() && f.current.files.is_empty() {
                writeln!(out, "; now: nothing published")?;
            }
            for rec in &f.current.records {
                writeln!(out, "; now: {}", rec.zone_line(ttl))?;
            }
            for file in &f.current.files {
                writeln!(out, "; now served at {}:", escape_text(&file.url))?;
                for l in file.body.lines().take(20) {
                    writeln!(out, ";   {}", escape_text(l))?;
                }
            }
            writeln!(out, "; publish instead:")?;
            print_generated(&mut out, &f.corrected, ttl, value, global.quiet)?;
        }
        if !global.quiet && !report.unfixed.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "{}",
                paint(DIM, "; not fixed by a record (see mxray diagnose):")
            )?;
            for u in &report.unfixed {
                writeln!(
                    out,
                    "{}",
                    paint(DIM, format!(";   {} {}", u.id, escape_text(&u.title)))
                )?;
            }
        }
    }
    out.flush()?;
    Ok(if report.fixes.is_empty() {
        exit::OK
    } else {
        exit::FAILURES
    })
}

fn print_generated(
    out: &mut impl Write,
    g: &Generated,
    ttl: u32,
    value: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    for rec in &g.records {
        if value {
            writeln!(out, "{}", rec.value)?;
        } else {
            writeln!(out, "{}", rec.zone_line(ttl))?;
        }
    }
    for f in &g.files {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            paint(HEAD, format!("; serve at {} ({}):", f.url, f.content_type))
        )?;
        write!(out, "{}", f.body)?;
        if !f.body.ends_with('\n') {
            writeln!(out)?;
        }
    }
    if !quiet {
        // Zone-file comments beside zone lines; with --value, stdout holds only values (for
        // pasting or piping), so the notes go to stderr.
        for n in &g.notes {
            let note = paint(DIM, format!("; {}", escape_text(n)));
            if value {
                eprintln!("{note}");
            } else {
                writeln!(out, "{note}")?;
            }
        }
    }
    Ok(())
}

fn read_key(path: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Read;
    let shown = escape_text(&path.display().to_string());
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE).read_to_string(&mut text))
        .map_err(|e| bad_input(format!("--key {shown}: {e}")))?;
    Ok(text)
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
