//! `mxray records`: the DNS records (and MTA-STS policy file) a mail domain publishes, made by
//! `mxray-records` from flags and printed as zone-file lines, plain values or JSON.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use mxray_core::{DomainName, escape_text};
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
}

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

/// Key files larger than this are not keys.
const MAX_KEY_FILE: u64 = 64 * 1024;

pub fn run(args: &RecordsArgs, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    let domain = |d: &str| DomainName::parse(d).bad_input();
    let plans: Vec<(String, Generated)> = match &args.command {
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
            r.json_line(&mut out, &Step { step, generated: g })?;
        }
    } else {
        for (i, (step, g)) in plans.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            if !step.is_empty() {
                writeln!(out, "{}", paint(HEAD, format!("; {step}")))?;
            }
            print_generated(&mut out, g, args, global.quiet)?;
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
}

fn print_generated(
    out: &mut impl Write,
    g: &Generated,
    args: &RecordsArgs,
    quiet: bool,
) -> anyhow::Result<()> {
    for rec in &g.records {
        if args.value {
            writeln!(out, "{}", rec.value)?;
        } else {
            writeln!(out, "{}", rec.zone_line(args.ttl))?;
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
            if args.value {
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
