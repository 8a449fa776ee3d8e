//! One module per verb: each takes its parsed arguments, calls the library, and prints.

pub mod demo;
pub mod diagnose;
pub mod explain;
pub mod lab;
pub mod logs;
pub mod queue;
pub mod records;
pub mod serve;
pub mod verify;
pub mod worker;

/// Opens an input file named by `flag` (`--input`): a file that cannot be opened, or a
/// directory (which opens on Unix and fails at the first read), is bad input naming both.
pub fn open_file(path: &std::path::Path, flag: &str) -> anyhow::Result<std::fs::File> {
    use anyhow::Context;
    let f = std::fs::File::open(path)
        .with_context(|| format!("cannot open {flag} {}", path.display()))
        .map_err(|e| crate::error::mark(crate::error::Kind::BadInput, e))?;
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(crate::bad_input(format!(
            "{flag} {} is a directory: give a file",
            path.display()
        )));
    }
    Ok(f)
}

/// `mxray completions SHELL`: the completion script, generated from the clap definition.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    // Into memory first: clap_complete panics on a write error (a full disk, a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "mxray", &mut script);
    let mut out = crate::render::plain_stdout();
    std::io::Write::write_all(&mut out, &script)?;
    std::io::Write::flush(&mut out)?;
    Ok(crate::exit::OK)
}

/// `mxray man`: the manual page in roff, generated from the clap definition.
pub fn man() -> anyhow::Result<u8> {
    use clap::CommandFactory;
    let mut out = crate::render::plain_stdout();
    clap_mangen::Man::new(crate::cli::Cli::command()).render(&mut out)?;
    std::io::Write::flush(&mut out)?;
    Ok(crate::exit::OK)
}

/// The multi-threaded runtime a networked verb runs on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// This machine's name, the default EHLO name of the probing verbs.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The run's resolver, checked to answer at all: set-up failures and a silent resolver are
/// environment errors (exit 3), never findings about a domain.
pub async fn live_dns(global: &crate::cli::GlobalArgs) -> anyhow::Result<mxray_net::Dns> {
    let dns = new_dns(global)?;
    if !dns.alive().await {
        return Err(dead_resolver(global));
    }
    Ok(dns)
}

/// The run's resolver, not yet checked (for callers that check it beside other work).
pub fn new_dns(global: &crate::cli::GlobalArgs) -> anyhow::Result<mxray_net::Dns> {
    crate::ResultExt::environment(mxray_net::Dns::new(&global.resolvers, global.timeout))
}

/// The error for a resolver that answers nothing, naming which one.
pub fn dead_resolver(global: &crate::cli::GlobalArgs) -> anyhow::Error {
    let which = if global.resolvers.is_empty() {
        "system resolvers".to_string()
    } else {
        global
            .resolvers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let hint = if global.resolvers.is_empty() {
        "check the network or pass --resolver IP:PORT"
    } else {
        "check that a DNS server listens there (a lab prints its resolver in its ready file)"
    };
    crate::error::environment(format!("no DNS resolver answers ({which}): {hint}"))
}

/// A progress bar on standard error, fed by a runner's progress callback; none when stderr is
/// not a terminal or with -q. `total` known: a bar; unknown: a spinner.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    pub fn new(global: &crate::cli::GlobalArgs, total: Option<u64>, what: &str) -> Option<Bar> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() || global.quiet {
            return None;
        }
        let b = match total {
            Some(n) => {
                let b = indicatif::ProgressBar::new(n);
                b.set_style(
                    indicatif::ProgressStyle::with_template(&format!(
                        "{{bar:30}} {{pos}}/{{len}} {what} {{rate}} eta {{eta}} {{msg}}"
                    ))
                    .map(with_rate)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b
            }
            None => {
                let b = indicatif::ProgressBar::new_spinner();
                b.set_style(
                    indicatif::ProgressStyle::with_template(&format!(
                        "{{spinner}} {{pos}} {what} {{rate}} {{elapsed}} {{msg}}"
                    ))
                    .map(with_rate)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                b.enable_steady_tick(std::time::Duration::from_millis(200));
                b
            }
        };
        Some(Bar(b))
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }

    /// Runs `f` (printing to the terminal) with the bar cleared, so lines do not mix.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.suspend(f)
    }

    /// The text after the counts (what the run waits on).
    pub fn say(&self, msg: String) {
        self.0.set_message(msg);
    }
}

/// `{rate}`: results per second, one decimal.
fn with_rate(style: indicatif::ProgressStyle) -> indicatif::ProgressStyle {
    style.with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}/s", state.per_sec());
        },
    )
}

impl mxray_run::Progress for Bar {
    fn advanced(&self, done: u64) {
        self.0.set_position(done);
    }
}

/// A status line on standard error for one slow run (a single `diagnose`): after a second,
/// what the run has waited on longest, refreshed until dropped. Terminal only, not with -q.
pub struct Waiting {
    task: Option<tokio::task::JoinHandle<()>>,
    bar: indicatif::ProgressBar,
}

impl Waiting {
    /// Call inside the runtime.
    pub fn start(global: &crate::cli::GlobalArgs, activity: mxray_run::Activity) -> Waiting {
        use std::io::IsTerminal;
        let bar = indicatif::ProgressBar::hidden();
        if !std::io::stderr().is_terminal() || global.quiet {
            return Waiting { task: None, bar };
        }
        let b = bar.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            loop {
                b.set_message(waiting_line(&activity));
                b.tick();
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        });
        Waiting {
            task: Some(task),
            bar,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}

/// "waiting 3.1s for the greeting of mx.example.com [192.0.2.1] (4 steps in flight)": names
/// from DNS are escaped, as everything from outside.
pub fn waiting_line(activity: &mxray_run::Activity) -> String {
    match activity.longest() {
        None => "working".to_string(),
        Some((what, waited, n)) => format!(
            "waiting {:.1}s for {}{}",
            waited.as_secs_f64(),
            mxray_core::escape_text(&what),
            if n > 1 {
                format!(" ({n} steps in flight)")
            } else {
                String::new()
            }
        ),
    }
}

/// The runner's progress callback: the bar if there is one.
pub fn progress(bar: &Option<std::sync::Arc<Bar>>) -> std::sync::Arc<dyn mxray_run::Progress> {
    match bar {
        Some(b) => b.clone(),
        None => std::sync::Arc::new(mxray_run::NoProgress),
    }
}

/// A cancel token tripped by Ctrl-C: the binary's only link between signals and the runners.
/// Call inside the runtime.
pub fn cancel_on_ctrl_c() -> mxray_run::Cancel {
    let cancel = mxray_run::Cancel::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.cancel();
        }
    });
    cancel
}

/// The blocklists to ask: `--dnsbl-file`'s zones, or the default ones. A file that cannot be
/// read or parsed is bad input naming it.
pub fn dnsbl_zones(
    file: Option<&std::path::Path>,
) -> anyhow::Result<Vec<mxray_diagnose::DnsblZone>> {
    use crate::ResultExt;
    use anyhow::Context;
    let Some(p) = file else {
        return Ok(mxray_diagnose::default_zones());
    };
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("cannot read --dnsbl-file {}", p.display()))
        .bad_input()?;
    mxray_diagnose::parse_dnsbl_file(&text)
        .with_context(|| format!("--dnsbl-file {}", p.display()))
        .bad_input()
}
