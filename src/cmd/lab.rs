//! `mxray lab serve|demo`: runs a lab world (crates/lab) from a scenario on its own tokio
//! runtime, writes the ready file, and prints what clients did when it stops.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mxray_lab::{Lab, LabHandle, LabOptions, ReadyInfo, Scenario, StartError, bundled};

use crate::cli::GlobalArgs;
use crate::error::{Kind, mark};
use crate::render::Render;
use crate::{ResultExt, exit};

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Run a scenario's DNS, SMTP and HTTPS servers on loopback until interrupted (Ctrl-C,
    /// SIGTERM). SIGUSR1 or Enter prints what clients did so far; the counters print on exit.
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Start the bundled seeds world in-process and run mxray's verbs against it: every failure
    /// from the 421 guides, diagnosed, with no network beyond loopback.
    Demo(DemoArgs),
}

const SERVE_HELP: &str = "\
Examples:
  mxray lab serve seeds --ready-file lab.json &
  until [ -s lab.json ]; do sleep 0.1; done
  jq -r .ca_pem lab.json > lab-ca.pem
  mxray diagnose ok.test --resolver \"$(jq -r .resolver lab.json)\" \\
      --smtp-port \"$(jq -r .smtp_port lab.json)\" \\
      --https-port \"$(jq -r .https_port lab.json)\" --ca-file lab-ca.pem

SCENARIO is a TOML file (reference: docs/lab-scenarios.md) or a bundled name: seeds, world.
The SMTP hosts share one port: --smtp-port, or a free one. Exit 2 for a bad scenario (the
message gives file, line and column), 3 when a port cannot be bound.";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Scenario file, or `seeds` / `world` for a bundled one.
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,

    /// Write a JSON document here once everything listens: resolver, smtp_port, https_port,
    /// ca_pem and the hosts with their addresses and behaviours. Removed on exit.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,

    /// Where the DNS server listens (UDP and TCP). Default: 127.0.0.1 on a free port.
    #[arg(long, value_name = "IP:PORT")]
    pub dns_addr: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {}

/// `mxray lab ...`.
pub fn run(args: &LabArgs, global: &GlobalArgs, r: &Render) -> anyhow::Result<u8> {
    match &args.command {
        LabCommand::Serve(s) => serve(
            &s.scenario,
            s.ready_file.as_deref(),
            global.smtp_port,
            s.dns_addr,
            r.json,
        ),
        LabCommand::Demo(_) => super::demo::run(global, r),
    }
}

/// Reads a scenario file, or a bundled one when the path names no file but a bundled scenario.
fn load(path: &Path) -> anyhow::Result<Scenario> {
    if !path.exists()
        && let Some(name) = path.to_str()
        && let Some(text) = bundled::get(name)
    {
        return Scenario::from_str_named(text, name).bad_input();
    }
    if !path.exists() {
        return Err(crate::bad_input(format!(
            "{}: no such scenario file, nor a bundled scenario (bundled: {})",
            mxray_core::escape_text(&path.display().to_string()),
            bundled::ALL
                .iter()
                .map(|(n, _)| n.trim_end_matches(".toml"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Scenario::from_path(path).bad_input()
}

/// `mxray lab serve SCENARIO [--ready-file F] [--smtp-port N]`: runs until SIGINT/SIGTERM.
/// SIGUSR1, or a line on standard input, prints the counters so far.
pub fn serve(
    scenario: &Path,
    ready_file: Option<&Path>,
    smtp_port: Option<u16>,
    dns_addr: Option<SocketAddr>,
    json: bool,
) -> anyhow::Result<u8> {
    let scenario = load(scenario)?;
    let options = LabOptions {
        smtp_port,
        dns_addr,
        ..LabOptions::default()
    };
    let lab = LabHandle::start(scenario, options).map_err(start_error)?;
    let info = lab.info();
    // The handlers are in place before anyone can learn the lab is ready: a script that
    // signals it as soon as the ready file appears must get the counters, not a dead lab.
    let stops = lab.block_on(async { Stops::install() });
    if let Some(path) = ready_file {
        write_ready_file(path, &info)?;
    }
    print_summary(&info);
    // --json: the ready document on standard output (one line), the counters as JSON at exit.
    if json {
        println!("{}", crate::render::json_string(&info)?);
    }
    lab.block_on(wait_until_stopped(lab.lab(), json, stops));
    // Standard input is read on a blocking thread that may never return: `stop` does not
    // wait for it.
    let stats = lab.stop();
    // A stale ready file would tell the next script that a dead lab is listening.
    if let Some(path) = ready_file {
        let _ = std::fs::remove_file(path);
    }
    if json {
        println!("{}", crate::render::json_string(&stats)?);
    } else {
        println!("{stats}");
    }
    Ok(exit::OK)
}

/// Starts a bundled scenario by name (`seeds`, `world`) for `lab demo`.
pub fn start_bundled(name: &str, smtp_port: Option<u16>) -> anyhow::Result<LabHandle> {
    let options = LabOptions {
        smtp_port,
        ..LabOptions::default()
    };
    LabHandle::bundled(name, options).map_err(start_error)
}

/// A lab that cannot start: the environment's fault (a port taken) or the scenario's.
fn start_error(e: StartError) -> anyhow::Error {
    let kind = if e.is_environment() {
        Kind::Environment
    } else {
        Kind::BadInput
    };
    mark(kind, e)
}

/// Writes the ready file atomically (temp file in the same directory, then rename), so a
/// script polling for it never reads half a document.
fn write_ready_file(path: &Path, info: &ReadyInfo) -> anyhow::Result<()> {
    let json = crate::render::json_pretty(info)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ready".to_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(json.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("cannot write ready file {}", path.display()))
    })
}

fn print_summary(info: &ReadyInfo) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "lab {:?} ready: resolver {}, smtp port {}{}",
        info.scenario,
        info.resolver,
        info.smtp_port,
        info.https_port
            .map(|p| format!(", https port {p}"))
            .unwrap_or_default()
    );
    for h in &info.hosts {
        let state = if h.listening { "" } else { " (no listener)" };
        let _ = writeln!(
            err,
            "  {:<32} {:<15}{state} {}",
            h.name,
            h.address,
            h.behaviours.join(", ")
        );
    }
    // A validating resolver needs these as trust anchors: there is no parent chain in a lab.
    for a in &info.dnssec {
        let _ = writeln!(err, "  DNSSEC {} ({}): {}", a.zone, a.mode, a.ds);
    }
    let _ = writeln!(
        err,
        "Point mxray at it (the CA is ca_pem in the ready file, for MXRAY_CA_FILE):\n  \
         export MXRAY_RESOLVER={} MXRAY_SMTP_PORT={}{}",
        info.resolver,
        info.smtp_port,
        info.https_port
            .map(|p| format!(" MXRAY_HTTPS_PORT={p}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        err,
        "Ctrl-C or SIGTERM stops it; SIGUSR1 (or Enter, in the foreground) prints the counters."
    );
}

fn print_stats(lab: &Lab, json: bool) {
    let stats = lab.stats();
    if json {
        println!("{}", crate::render::json_string(&stats).unwrap_or_default());
    } else {
        println!("{stats}");
    }
}

/// Whether standard input is a terminal and this process is its foreground process group.
fn foreground_terminal() -> bool {
    use std::io::IsTerminal;
    let stdin = rustix::stdio::stdin();
    std::io::stdin().is_terminal()
        && rustix::termios::tcgetpgrp(stdin).is_ok_and(|fg| fg == rustix::process::getpgrp())
}

/// Waits for SIGINT or SIGTERM, printing stats on SIGUSR1 or on each line of standard input.
/// The signals `lab serve` answers, registered up front (call inside the lab's runtime).
struct Stops {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
    usr1: Option<tokio::signal::unix::Signal>,
}

impl Stops {
    fn install() -> Stops {
        use tokio::signal::unix::{SignalKind, signal};
        Stops {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
            usr1: signal(SignalKind::user_defined1()).ok(),
        }
    }
}

async fn wait_until_stopped(lab: &Lab, json: bool, stops: Stops) {
    use tokio::io::AsyncBufReadExt;

    let Stops {
        mut int,
        mut term,
        mut usr1,
    } = stops;
    // Enter prints the counters only for a lab in the foreground of a terminal: reading the
    // terminal from a background job (`lab serve ... &`) would get it stopped by the shell.
    let mut stdin =
        foreground_terminal().then(|| tokio::io::BufReader::new(tokio::io::stdin()).lines());
    loop {
        tokio::select! {
            Some(_) = async { int.as_mut()?.recv().await } => break,
            Some(_) = async { term.as_mut()?.recv().await } => break,
            Some(_) = async { usr1.as_mut()?.recv().await } => print_stats(lab, json),
            line = async { stdin.as_mut()?.next_line().await.ok() }, if stdin.is_some() => match line {
                Some(Some(_)) => print_stats(lab, json),
                // End of input (or no terminal): stop watching it, keep serving.
                _ => stdin = None,
            },
        }
    }
}
