//! `mxray serve`: the HTTP API (mxray-serve) from the command line's flags, and `serve keys`
//! to create, list and revoke its API keys.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use mxray_serve::{KeyStore, Settings};

use crate::cli::{GlobalArgs, ProbeArgs, parse_cidr, parse_duration};
use crate::render::Render;
use crate::{ResultExt, bad_input, exit};

const SERVE_HELP: &str = "\
Examples:
  KEY=$(mxray serve keys create --name ci --data ./mxray-data | tail -n 1)
  mxray serve --listen 127.0.0.1:8025 --data ./mxray-data &
  until curl -sf http://127.0.0.1:8025/healthz >/dev/null; do sleep 0.2; done
  curl -s -H \"Authorization: Bearer $KEY\" --data-binary '421 4.4.2 Connection closed' http://127.0.0.1:8025/v1/explain
  kill %1

Pages (a browser): /tools (explain a bounce, diagnose a domain, verify a CSV list as a job with
live progress and a CSV download, analyze a mail log with a chart of deferrals per hour),
behind a sign-in with an API key at /signin (a session cookie: HttpOnly, SameSite=Strict;
Secure with --secure-cookies). Every form is CSRF-checked; every page has a strict
Content-Security-Policy. See docs/dashboard.md.

Routes: GET /healthz, GET /readyz; with Authorization: Bearer KEY: GET /v1/openapi.json (OpenAPI
3.1), GET /metrics (Prometheus),
POST /v1/explain (text in,
JSON Lines out), GET /v1/domains/DOMAIN/diagnosis?probe=&sender_ip=&dkim_selector=&only=&deadline=,
POST /v1/verify {\"address\": ..., \"deadline\": \"10s\"}, POST /v1/jobs {\"kind\": \"verify\",
\"addresses\": [...]} (or one address per line, or text/csv with ?column=; {\"kind\": \"diagnose\", \"domains\": [...]}), GET and DELETE /v1/jobs/ID, GET
/v1/jobs/ID/results (JSON Lines, or ?format=csv), POST /v1/logs (a log, plain or gzip:
the logs --json report; ?since=&until=&domain=). Jobs resume after a restart.
Monitors (docs/monitors.md): POST /v1/monitors {\"domain\": ..., \"interval\": \"1h\", \"alert_after\": 2,
\"webhooks\": [URL], \"slack\": [URL], \"emails\": [ADDR]}, GET /v1/monitors (JSON Lines), GET,
PATCH and DELETE /v1/monitors/ID, GET /v1/monitors/ID/runs and /events (JSON Lines, newest first),
POST /v1/monitors/ID/run; or --monitors FILE, reloaded on SIGHUP. The documents are those of --json
(docs/schema/). Only public addresses are contacted; --allow-private CIDR opens a range (a lab:
--allow-private 127.0.0.0/8). --no-auth is accepted on a loopback --listen address only. Past
a key's --key-rate or --key-concurrency: 429 with Retry-After.

Exit codes: 0 stopped by Ctrl-C or SIGTERM; 2 bad flags (--no-auth on a public address);
3 the address cannot be bound or the data directory cannot be used.";

#[derive(Debug, Args)]
#[command(after_help = SERVE_HELP, args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub keys: Option<ServeCommand>,

    /// Address and port to listen on (port 0: a free one, printed on start).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8025")]
    pub listen: SocketAddr,

    /// Directory for the API keys (mxray.db); created when missing.
    #[arg(long, value_name = "DIR", default_value = "mxray-data")]
    pub data: PathBuf,

    /// Answer /v1 and the pages without API keys: only on a loopback --listen address.
    #[arg(long)]
    pub no_auth: bool,

    /// Mark the pages' session cookie Secure (sent over HTTPS only). serve listens on plain
    /// HTTP: set this when it runs behind an HTTPS reverse proxy (which must pass the Host
    /// header through).
    #[arg(long)]
    pub secure_cookies: bool,

    /// A private range that may be contacted all the same (repeatable): 127.0.0.0/8 for a lab.
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub allow_private: Vec<ipnet::IpNet>,

    #[command(flatten)]
    pub https: crate::cli::HttpsArgs,

    /// First retry after greylisting; a real-time answer reports it as retry_after_s.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub greylist_retry: Duration,

    /// Simultaneous SMTP sessions per mailbox provider, across every request.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub per_provider: u16,

    /// New SMTP connections per minute per mailbox provider, across every request (the
    /// politeness that keeps probes from being throttled).
    #[arg(long, value_name = "N", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connects_per_minute: u32,

    /// How long a job's domain may stay transient (greylisting, throttling) before its
    /// addresses are `unknown`.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub job_deadline: Duration,

    /// Run verify jobs (POST /v1/jobs) on the `mxray worker`s of this NATS JetStream server
    /// (nats://host:4222) instead of in this process; status and results read the same.
    #[arg(long, value_name = "URL", env = "MXRAY_NATS")]
    pub nats: Option<String>,

    /// Jobs that may wait to run at once (one runs at a time); more: 429 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = mxray_serve::jobs::QUEUE as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub job_queue: u32,

    /// Largest log upload to POST /v1/logs (spooled to --data, never held in memory): 500M, 2G.
    #[arg(long, value_name = "SIZE", default_value = "2G", value_parser = parse_size)]
    pub max_log_upload: u64,

    /// Requests per second per API key (and a burst of as many); more: 429 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub key_rate: u32,

    /// Requests in flight at once per API key; more: 429.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub key_concurrency: u16,

    /// Monitors kept in a TOML file ([[monitor]] domain = ..., interval = ...): read at start
    /// and again on SIGHUP; their history survives edits. See docs/dashboard.md.
    #[arg(long, value_name = "FILE")]
    pub monitors: Option<PathBuf>,

    /// Monitor diagnoses at once (each also waits for a session slot of its MX provider).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub monitor_concurrency: u16,

    /// How long every monitor run is kept; older runs are folded into one row per day.
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = crate::cli::parse_retention)]
    pub history_raw: Duration,

    /// How long monitor history (folded days, events) is kept at all.
    #[arg(long, value_name = "DURATION", default_value = "400d", value_parser = crate::cli::parse_retention)]
    pub history_keep: Duration,

    /// Signs webhook alerts (X-Mxray-Signature: HMAC-SHA256); prefer the environment variable
    /// to the flag, which other users can read in the process list.
    #[arg(
        long,
        value_name = "SECRET",
        env = "MXRAY_ALERT_SECRET",
        hide_env_values = true
    )]
    pub alert_secret: Option<String>,

    /// Alerts within this window of the first are batched; a destination with
    /// --alert-digest-after of them or more gets one digest instead.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub alert_digest_window: Duration,

    /// Email alerts go through this submission server: smtp://USER:PASSWORD@HOST:587
    /// (STARTTLS, required) or smtps://...:465; the password may come from
    /// MXRAY_SMTP_RELAY_PASSWORD instead. Monitors with "emails" need it.
    #[arg(
        long,
        value_name = "URL",
        env = "MXRAY_SMTP_RELAY",
        hide_env_values = true
    )]
    pub smtp_relay: Option<String>,

    /// The From address of alert emails (default: the relay's user when it is an address).
    #[arg(long, value_name = "ADDRESS")]
    pub alert_from: Option<String>,

    /// Alerts in one window from which a destination gets a digest.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(2..=10_000))]
    pub alert_digest_after: u16,

    #[command(flatten)]
    pub probe_args: ProbeArgs,
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// Manage API keys: create (prints the key once), list, revoke.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// A new key: printed once, alone on the last line of standard output; only its hash is kept.
    Create {
        #[arg(long, value_name = "NAME")]
        name: String,
        #[arg(long, value_name = "DIR", default_value = "mxray-data")]
        data: PathBuf,
    },
    /// Every key: id, name, creation time, revoked or not (never the key).
    List {
        #[arg(long, value_name = "DIR", default_value = "mxray-data")]
        data: PathBuf,
    },
    /// Revoke a key by id: requests with it get 403 from now on.
    Revoke {
        id: i64,
        #[arg(long, value_name = "DIR", default_value = "mxray-data")]
        data: PathBuf,
    },
}

pub fn run(args: &ServeArgs, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    if let Some(ServeCommand::Keys(k)) = &args.keys {
        return keys(k, r);
    }
    if args.no_auth && !args.listen.ip().is_loopback() {
        return Err(bad_input(format!(
            "--no-auth on {}: without keys the API may only listen on loopback (127.0.0.1 or ::1); create a key with: mxray serve keys create --name NAME --data {}",
            args.listen,
            args.data.display()
        )));
    }
    let keys = if args.no_auth {
        None
    } else {
        Some(Arc::new(KeyStore::open(&args.data).environment()?))
    };
    let tls = Arc::new(args.probe_args.tls()?);
    let rt = super::runtime()?;
    rt.block_on(async {
        let dns = super::new_dns(global)?;
        let cluster = match &args.nats {
            Some(url) => Some(
                mxray_cluster::connect(url, "mxray serve", global.timeout, global.timeout)
                    .await
                    .environment()?,
            ),
            None => None,
        };
        let mailer = relay(args, &dns, &tls, global.timeout)?;
        let settings = Settings {
            dns,
            smtp_port: global.smtp_port.unwrap_or(25),
            timeout: global.timeout,
            greeting_wait: args.probe_args.greeting_wait,
            from: args.probe_args.from.clone(),
            helo: args.probe_args.helo(),
            tls,
            https_port: args.https.https_port,
            dnsbls: mxray_diagnose::default_zones(),
            policy: mxray_net::AddressPolicy::public_only(args.allow_private.clone()),
            keys,
            verify_budget: mxray_verify::BudgetLimits {
                max_sessions: args.per_provider as usize,
                connects_per_minute: args.connects_per_minute,
            },
            greylist_retry: args.greylist_retry,
            per_address: 2,
            key_rate: std::num::NonZeroU32::new(args.key_rate).unwrap_or(std::num::NonZeroU32::MIN),
            key_concurrency: args.key_concurrency as usize,
            data: args.data.clone(),
            job_deadline: args.job_deadline,
            max_log_upload: args.max_log_upload,
            job_queue: args.job_queue as usize,
            cluster,
            monitors: mxray_serve::monitors::MonitorOptions {
                file: args.monitors.clone(),
                retention: mxray_serve::monitors::store::Retention {
                    raw_s: args.history_raw.as_secs() as i64,
                    keep_s: args.history_keep.as_secs().max(args.history_raw.as_secs()) as i64,
                },
                concurrency: args.monitor_concurrency as usize,
                alert_secret: args.alert_secret.as_ref().map(|s| s.as_bytes().to_vec()),
                digest_window: args.alert_digest_window,
                digest_after: args.alert_digest_after as usize,
                mailer,
            },
            secure_cookies: args.secure_cookies,
        };
        // The data directory is claimed (and unfinished jobs resumed) before the address is
        // announced: a second server on the same directory fails without listening.
        let mxray_serve::App {
            router: app,
            monitors,
        } = mxray_serve::app(settings).environment()?;
        if args.monitors.is_some() {
            reload_on_hangup(monitors).environment()?;
        }
        let listener = mxray_serve::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))
            .environment()?;
        let bound = listener.local_addr().context("the listening address")?;
        // Registered before the address is announced: a script that stops the server as
        // soon as it listens gets a clean stop.
        let shutdown = stopped().environment()?;
        eprintln!(
            "mxray serve: listening on http://{bound} ({}); Ctrl-C or SIGTERM stops it",
            if args.no_auth {
                "no API keys: loopback only".to_string()
            } else {
                format!("API keys from {}", args.data.display())
            }
        );
        mxray_serve::serve(listener, app, shutdown)
            .await
            .context("serving")
            .environment()?;
        eprintln!("mxray serve: stopped");
        Ok(exit::OK)
    })
}

/// `500M`, `2G`, `64K` or a number of bytes.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{s}' is not a size: give 500M, 2G or a number of bytes"))
}

/// The alert mailer from `--smtp-relay` (the relay's address under the server's policy).
fn relay(
    args: &ServeArgs,
    dns: &mxray_net::Dns,
    tls: &Arc<mxray_net::TlsSettings>,
    timeout: Duration,
) -> anyhow::Result<Option<Arc<dyn mxray_serve::monitors::alerts::Mailer>>> {
    let Some(url) = &args.smtp_relay else {
        return Ok(None);
    };
    let mut url = mxray_net::relay::RelayUrl::parse(url).bad_input()?;
    if url.password.is_none()
        && let Ok(p) = std::env::var("MXRAY_SMTP_RELAY_PASSWORD")
    {
        url.password = Some(p);
    }
    let from = match (&args.alert_from, url.username.contains('@')) {
        (Some(f), _) => f.clone(),
        (None, true) => url.username.clone(),
        (None, false) => {
            return Err(bad_input(
                "--alert-from: give the From address of alert emails (the relay's user is not an address)",
            ));
        }
    };
    let mut cfg = mxray_net::relay::RelayConfig::new(url, &from, tls.clone());
    cfg.policy = mxray_net::AddressPolicy::public_only(args.allow_private.clone());
    cfg.dns = Some(dns.clone());
    cfg.timeout = timeout;
    cfg.hello = args.probe_args.helo();
    Ok(Some(Arc::new(mxray_serve::monitors::alerts::RelayMailer(
        cfg,
    ))))
}

/// Reads the monitors file again on each SIGHUP and says what changed (or why nothing did).
fn reload_on_hangup(m: Arc<mxray_serve::monitors::Monitors>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match m.reload().await {
                Ok(r) => eprintln!(
                    "mxray serve: monitors reloaded: {} added, {} changed, {} removed, {} unchanged",
                    r.added, r.changed, r.removed, r.unchanged
                ),
                Err(e) => eprintln!(
                    "mxray serve: the monitors file was not reloaded, the monitors stay as they were: {e}"
                ),
            }
        }
    });
    Ok(())
}

/// A future that completes on Ctrl-C or SIGTERM, the handlers installed now (call inside the
/// runtime).
fn stopped() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

fn keys(k: &KeysCommand, r: &Render) -> anyhow::Result<u8> {
    use std::io::Write;
    let mut out = r.stdout();
    match k {
        KeysCommand::Create { name, data } => {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                return Err(bad_input(
                    "--name: give the key a printable name (who or what uses it)",
                ));
            }
            let store = KeyStore::open(data).environment()?;
            let (info, key) = store.create(name.trim()).environment()?;
            writeln!(
                out,
                "key {} ({}) created in {}; it is shown this once:",
                info.id,
                info.name,
                data.display()
            )?;
            writeln!(out, "{key}")?;
        }
        KeysCommand::List { data } => {
            let store = KeyStore::open(data).environment()?;
            let list = store.list().environment()?;
            if r.json {
                for k in &list {
                    r.json_line(&mut out, k)?;
                }
            } else if list.is_empty() {
                writeln!(out, "no keys in {}", data.display())?;
            } else {
                for k in &list {
                    writeln!(
                        out,
                        "{:>4}  {:<24} created {}{}",
                        k.id,
                        mxray_core::escape_text(&k.name),
                        k.created,
                        if k.revoked { "  REVOKED" } else { "" }
                    )?;
                }
            }
        }
        KeysCommand::Revoke { id, data } => {
            let store = KeyStore::open(data).environment()?;
            store.revoke(*id).bad_input()?;
            writeln!(out, "key {id} revoked")?;
        }
    }
    out.flush()?;
    Ok(exit::OK)
}
