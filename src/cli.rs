//! The command line: one definition per flag and verb, with the docs `--help` prints.
//! Parsing only; `main.rs` turns these into library calls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  ran and found nothing failing
  1  ran and found failures (a failing finding, an undeliverable address)
  2  bad usage or bad input (a malformed code, no SMTP reply in the input, a bad scenario file)
  3  the environment prevented the run (no resolver reachable, cannot bind a port)
  130  interrupted (Ctrl-C) during a bulk run; every result written so far is kept
  141  standard output was closed by its reader (| head): the run ended quietly";

#[derive(Debug, Parser)]
#[command(
    name = "mxray",
    version,
    about = "Turn SMTP transient failures (421 4.4.x, greylisting, rate limits, blocklists) into answers",
    long_about = "mxray explains SMTP replies and logs, diagnoses the mail path to a domain, and \
verifies addresses without mistaking a transient failure for a permanent one.",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every networked verb honours (see DESIGN.md). Verbs that do no networking accept and
/// ignore the network ones, so scripts can pass one set of flags to every verb.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// DNS server to ask, as IP, IP:PORT or [IPv6]:PORT (port 53 when not given; repeatable;
    /// the variable takes a comma-separated list). Default: the system's resolvers.
    #[arg(long = "resolver", value_name = "IP:PORT", global = true, value_parser = parse_resolver,
          env = "MXRAY_RESOLVER", value_delimiter = ',')]
    pub resolvers: Vec<SocketAddr>,

    /// TCP port for SMTP to MX hosts (default 25). Labs and tests set it; `lab serve` uses it
    /// as the port its SMTP hosts share (default: a free one).
    #[arg(long, value_name = "N", global = true, overrides_with = "smtp_port", env = "MXRAY_SMTP_PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub smtp_port: Option<u16>,

    /// Time limit for each network step (connect, each reply, each DNS query): 10s, 500ms, 2m.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, global = true, overrides_with = "timeout")]
    pub timeout: Duration,

    /// Machine output on stdout: one JSON document, or JSON Lines for streams.
    #[arg(long, global = true)]
    pub json: bool,

    /// When to colour the terminal output. `auto` honours NO_COLOR and CLICOLOR_FORCE.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto, global = true, overrides_with = "color")]
    pub color: ColorWhen,

    /// More detail (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Flags of the verbs that open SMTP sessions to MX hosts (`diagnose`, `verify`), declared once.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// MAIL FROM for the probes (diagnose sends one only with --probe). Default: the null
    /// sender <>.
    #[arg(long, value_name = "ADDRESS", default_value = "")]
    pub from: String,

    /// The name mxray gives in EHLO. Default: this machine's hostname.
    #[arg(long, value_name = "NAME", value_parser = parse_helo)]
    pub helo: Option<String>,

    /// How long to wait for an SMTP greeting before calling the host silent (tarpits greet late).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, overrides_with = "greeting_wait")]
    pub greeting_wait: Duration,

    /// Trust the CA certificates in this PEM file instead of the Web PKI roots (the lab's CA),
    /// for certificate checks and for servers that insist on STARTTLS.
    #[arg(long, value_name = "PEM", env = "MXRAY_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

/// The SOCKS5 egress of the verbs that open SMTP sessions (`diagnose`, `verify`).
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Connect to the MX hosts through a SOCKS5 proxy: socks5://[user:pass@]host:port (user and
    /// password percent-encoded), or socks5h://... to let the proxy resolve the MX names.
    /// Servers then see the proxy's address; DNS still goes to the resolver. A failing proxy
    /// ends the run with exit 3, blaming no domain or address.
    #[arg(long, value_name = "URL", env = "MXRAY_PROXY", hide_env_values = true)]
    pub proxy: Option<String>,
}

impl ProxyArgs {
    /// The proxy, read here rather than by clap: a rejected value would be quoted whole,
    /// credentials included.
    pub fn proxy(&self) -> anyhow::Result<Option<mxray_net::Proxy>> {
        match &self.proxy {
            Some(url) => mxray_net::Proxy::parse(url)
                .map(Some)
                .map_err(|e| crate::bad_input(e.to_string())),
            None => Ok(None),
        }
    }
}

/// Where MTA-STS policies are fetched (`diagnose`, `serve`).
#[derive(Debug, Args)]
pub struct HttpsArgs {
    /// Port for the HTTPS fetch of MTA-STS policies (default 443; labs set theirs).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 443,
        env = "MXRAY_HTTPS_PORT"
    )]
    pub https_port: u16,
}

/// Which addresses `diagnose` and `verify` may connect to (`serve` is always public-only).
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Contact public addresses only: an MX (or MTA-STS host) in a private, loopback,
    /// link-local or other special range is reported, not connected to. What `serve` always
    /// does; for scripts that take domains from others.
    #[arg(long)]
    pub public_only: bool,

    /// With --public-only: a range that may be contacted all the same (repeatable), as CIDR or
    /// one address: --allow-private 127.0.0.0/8 for a lab.
    #[arg(long, value_name = "CIDR", requires = "public_only", value_parser = parse_cidr)]
    pub allow_private: Vec<ipnet::IpNet>,
}

impl PolicyArgs {
    /// Which addresses the probes may connect to.
    pub fn policy(&self) -> mxray_net::AddressPolicy {
        if self.public_only {
            mxray_net::AddressPolicy::public_only(self.allow_private.clone())
        } else {
            mxray_net::AddressPolicy::any()
        }
    }
}

impl ProbeArgs {
    /// The EHLO name: --helo, else this machine's hostname.
    pub fn helo(&self) -> String {
        self.helo.clone().unwrap_or_else(crate::cmd::hostname)
    }

    /// The TLS trust the probes use: --ca-file, else the Web PKI roots.
    pub fn tls(&self) -> anyhow::Result<mxray_net::TlsSettings> {
        match &self.ca_file {
            Some(p) => crate::ResultExt::bad_input(mxray_net::TlsSettings::from_ca_file(p)),
            None => Ok(mxray_net::TlsSettings::web_pki()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode an SMTP reply, enhanced status code, DSN or log line: what it means, transient or
    /// permanent, whose side, likely causes and next steps.
    #[command(after_help = EXPLAIN_HELP)]
    Explain(ExplainArgs),

    /// Run the 421 debugging checklist against a domain or address: DNS, MX, every MX host's
    /// connection, greeting, EHLO, STARTTLS and certificate, reverse DNS, and optionally RCPT TO.
    Diagnose(crate::cmd::diagnose::DiagnoseArgs),

    /// A hermetic world of DNS and misbehaving SMTP servers on loopback: `serve` a scenario for
    /// your own tools, or run the `demo`.
    Lab(crate::cmd::lab::LabArgs),

    /// Verify addresses by SMTP probe without being throttled and without ever calling a
    /// transient failure "invalid": per-provider politeness, greylisting-aware retries,
    /// session reuse, catch-all detection, resumable bulk runs.
    Verify(crate::cmd::verify::VerifyArgs),

    /// A member of a verification cluster: pulls `verify --nats` jobs' tasks from a NATS
    /// JetStream server, probes from this machine's egress, publishes the results.
    Worker(crate::cmd::worker::WorkerArgs),

    /// Find, follow and explain deferrals and bounces in Postfix, Exim and Sendmail logs
    /// (files, .gz, stdin): totals, groups by code x domain x relay, retries, pending messages.
    #[command(after_help = crate::cmd::logs::LOGS_HELP)]
    Logs(crate::cmd::logs::LogsArgs),

    /// What the local MTA's queue holds now (Postfix, Exim, Sendmail; or a saved listing with
    /// --from), grouped by status x code x domain x reason and explained: ages, oldest messages,
    /// next retries where the MTA tells them. Read-only.
    #[command(after_help = crate::cmd::queue::QUEUE_HELP)]
    Queue(crate::cmd::queue::QueueArgs),

    /// The HTTP API: explain, diagnose and real-time verification behind API keys, contacting
    /// public addresses only; `serve keys` manages the keys.
    Serve(crate::cmd::serve::ServeArgs),

    /// The DNS records to publish for mail: DMARC, MTA-STS (with its policy file), TLS-RPT,
    /// BIMI and DKIM, generated from flags and checked by mxray's own parsers.
    Records(crate::cmd::records::RecordsArgs),

    /// Print a shell completion script: `mxray completions bash > /etc/bash_completion.d/mxray`
    /// (zsh: into a directory of $fpath as _mxray; fish: ~/.config/fish/completions/mxray.fish).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff): `mxray man > mxray.1 && man ./mxray.1`.
    Man,
}

const EXPLAIN_HELP: &str = "\
Examples:
  mxray explain \"421 4.4.0 The server's transport agent was unable to\"
  mxray explain 4.4.2 --json
  mxray explain X.7.1
  grep 'status=deferred' /var/log/mail.log | tail -n 5 | mxray explain
  mxray explain < bounce-dsn.txt

Input forms: a reply (\"421 4.4.2 Connection closed by the server\", with or without 421-
continuation lines), an enhanced code (4.4.3, X.7.1), a basic code (421), or a Postfix / Exim /
Sendmail log line or a DSN (Diagnostic-Code:) with the reply inside. Several log lines are
explained one by one. --json writes JSON Lines: one explanation per reply found, one line each.

Exit codes: 0 explained; 2 no reply found or a malformed code (the message says what was
expected).";

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The reply, code or log text. Several words are joined with spaces. Omit it, or give `-`,
    /// to read standard input.
    #[arg(value_name = "TEXT")]
    pub text: Vec<String>,
}

/// A duration flag: `10s`, `500ms`, `2m`, `1h` or a bare number of seconds (the forms of
/// `mxray_core::duration`), more than 0 and at most 24h.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = mxray_core::duration::parse(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > Duration::from_secs(86_400) {
        return Err(format!(
            "duration '{}' must be more than 0 and at most 24h",
            s.trim()
        ));
    }
    Ok(d)
}

/// A retention period: `30d`, `400d`, `12h`; at least an hour and at most ten years.
pub fn parse_retention(s: &str) -> Result<Duration, String> {
    let d = mxray_core::duration::parse(s).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(3600) || d > Duration::from_secs(3650 * 86_400) {
        return Err(format!(
            "retention '{}' must be at least 1h and at most 3650d",
            s.trim()
        ));
    }
    Ok(d)
}

/// `--allow-private`: `10.0.0.0/8`, `fd00::/8`, or one address (`127.0.0.1` as /32).
pub fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!("'{s}' is not an address range: give CIDR such as 127.0.0.0/8 or 10.1.2.3")
        })
}

/// `--helo`: a host name (or an address literal `[192.0.2.1]`), as EHLO carries it.
pub fn parse_helo(s: &str) -> Result<String, String> {
    let s = s.trim();
    let literal = s.starts_with('[') && s.ends_with(']');
    let name_ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if literal || name_ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a host name: EHLO needs a name such as mail.example.com (or [192.0.2.1])"
        ))
    }
}

/// `--resolver`: `IP:PORT`, `[IPv6]:PORT`, or an address alone for port 53.
pub fn parse_resolver(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| {
            format!("{s:?} is not a resolver address: expected IP, IP:PORT or [IPv6]:PORT")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_values_are_refused_at_parse_time() {
        assert!(parse_helo("mail.example.com").is_ok());
        assert!(parse_helo("[192.0.2.1]").is_ok());
        for bad in ["", "  ", "a b", "mx..example", "x\r\nRSET"] {
            assert!(parse_helo(bad).is_err(), "{bad:?}");
        }
        use clap::Parser;
        let port0 = Cli::try_parse_from(["mxray", "diagnose", "x.test", "--smtp-port", "0"]);
        assert!(port0.is_err());
    }

    #[test]
    fn resolvers() {
        let sa = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(parse_resolver("127.0.0.1"), Ok(sa("127.0.0.1:53")));
        assert_eq!(parse_resolver("127.0.0.1:5353"), Ok(sa("127.0.0.1:5353")));
        assert_eq!(parse_resolver("::1"), Ok(sa("[::1]:53")));
        assert_eq!(parse_resolver("[::1]"), Ok(sa("[::1]:53")));
        assert_eq!(parse_resolver("[::1]:5353"), Ok(sa("[::1]:5353")));
        assert!(parse_resolver("dns.example").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
