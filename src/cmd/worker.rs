//! `mxray worker`: one member of a verification cluster. It pulls tasks from the NATS
//! JetStream server, probes from its own egress, and publishes the results (mxray-cluster).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use mxray_cluster::worker::{WorkerConfig, WorkerEvent};
use mxray_verify::Engine;

use crate::cli::{GlobalArgs, parse_duration};
use crate::cmd::verify::EngineArgs;
use crate::render::Render;
use crate::{ResultExt, bad_input, exit};

#[derive(Debug, Args)]
#[command(after_help = WORKER_HELP)]
pub struct WorkerArgs {
    /// The NATS JetStream server (nats://host:4222; nats-server 2.10 or later, with -js).
    #[arg(long, value_name = "URL", env = "MXRAY_NATS")]
    pub nats: String,

    /// This worker's name (letters, digits, - and _). Addresses greylisted here come back to
    /// this name (greylisting keys on the client address): restart a worker under its name.
    /// Default: the host name and the first --source-ip.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Tasks (a domain's addresses each) worked on at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub tasks: u16,

    /// How long a task may wait here on greylisting or a rate limit before its waiting
    /// addresses go back to the queue, pinned to this worker, due at their retry time (other
    /// tasks run meanwhile). The list's --deadline still bounds each address.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub hold: Duration,

    /// Simultaneous SMTP sessions per provider across the whole cluster (every worker
    /// together; the provider table may allow fewer). --per-provider is this worker's own
    /// share, per egress. A 421 or 4.7.x halves it for everyone.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub cluster_per_provider: u16,

    /// New connections per minute per provider across the whole cluster.
    #[arg(long, value_name = "N", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub cluster_connects_per_minute: u32,

    /// How long the server waits for a silent worker (killed, cut off) before giving its
    /// task to another. The first worker to join sets it for the cluster.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub ack_wait: Duration,

    #[command(flatten)]
    pub engine: EngineArgs,
}

const WORKER_HELP: &str = "\
A cluster (the README runs one on one machine against the lab):
  nats-server -js -sd /var/lib/nats                         # once, where the workers reach it
  mxray worker --nats nats://10.0.0.5:4222 --source-ip 192.0.2.10 --helo probe1.example.com
  mxray verify --nats nats://10.0.0.5:4222 --input list.csv --output results.csv

A task is acknowledged only after all its results are stored on the server: a worker killed
mid-task loses nothing (another takes the task after --ack-wait). Stops on Ctrl-C or SIGTERM after
finishing the tasks in hand.

Exit codes: 0 stopped; 2 bad input; 3 environment (the server, the egress).";

pub fn run(args: &WorkerArgs, global: &GlobalArgs, _r: &Render) -> anyhow::Result<u8> {
    let (cfg, proxy) = args.engine.config(global, args.hold)?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => default_name(args),
    };
    mxray_cluster::wire::check_name("--name", &name).map_err(|e| bad_input(e.to_string()))?;
    let rt = super::runtime()?;
    let quiet = global.quiet;
    let result = rt.block_on(async {
        if !quiet {
            eprintln!("mxray worker: {name} connecting to {}", args.nats);
        }
        // A worker may start before its server: it keeps trying (Ctrl-C stops it).
        let client_name = format!("mxray worker {name}");
        let js = tokio::select! {
            js = mxray_cluster::connect(
                &args.nats,
                &client_name,
                global.timeout,
                Duration::from_secs(24 * 3600),
            ) => js.environment()?,
            _ = stop_signal() => return Ok(exit::OK),
        };
        let dns = super::live_dns(global).await?;
        let shared = mxray_cluster::budget::KvBudget::open(
            &js,
            &name,
            mxray_verify::BudgetLimits {
                max_sessions: args.cluster_per_provider as usize,
                connects_per_minute: args.cluster_connects_per_minute,
            },
        )
        .await
        .environment()?;
        let engine = Engine::new(dns, cfg).with_shared_budget(Arc::new(shared));
        let engine = Arc::new(match proxy {
            Some(p) => engine.with_proxy(p),
            None => engine,
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let printer = tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                if !quiet {
                    eprintln!("mxray worker: {}", describe(&e));
                }
            }
        });
        let egress = {
            let engine = engine.clone();
            Arc::new(move || {
                engine
                    .proxy_failure()
                    .map(|e| e.to_string())
                    .or_else(|| engine.shared_failure())
            })
        };
        if !quiet {
            eprintln!("mxray worker: {name} working for {}", args.nats);
        }
        let config = WorkerConfig {
            name: name.clone(),
            tasks: args.tasks as usize,
            ack_wait: args.ack_wait.max(Duration::from_secs(1)),
        };
        let ran = mxray_cluster::worker::run(js, engine, config, tx, egress, stop_signal()).await;
        let _ = printer.await;
        ran.environment()?;
        if !quiet {
            eprintln!("mxray worker: {name} stopped");
        }
        Ok(exit::OK)
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// `host-192_0_2_10`: unique per machine and egress when workers share a machine.
fn default_name(args: &WorkerArgs) -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let mut name: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if name.is_empty() {
        name = "worker".into();
    }
    if let Some(ip) = args.engine.source_ips.first() {
        let ip: String = ip
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        name = format!("{name}-{ip}");
    }
    name
}

fn describe(e: &WorkerEvent) -> String {
    match e {
        WorkerEvent::Done {
            job,
            seq,
            attempt,
            results,
            retried,
        } => {
            let again = if *retried > 0 {
                format!(", {retried} waiting for a retry here")
            } else {
                String::new()
            };
            let try_ = if *attempt > 0 {
                format!(" (retry {attempt})")
            } else {
                String::new()
            };
            format!("job {job} task {seq}{try_}: {results} results{again}")
        }
        WorkerEvent::Early { job, seq, wait } => format!(
            "job {job} task {seq}: not due for {}s, put back",
            wait.as_secs()
        ),
        WorkerEvent::Malformed(why) => format!("dropped a message that is not a task: {why}"),
        WorkerEvent::Outage(why) => format!("the server is away ({why}); waiting for it"),
        WorkerEvent::Recovered => "the server is back".into(),
        WorkerEvent::Returned {
            job,
            seq,
            addresses,
        } => format!(
            "job {job} task {seq}: {addresses} addresses returned to the queue (this egress failed)"
        ),
        WorkerEvent::Failed { job, seq, detail } => {
            format!("job {job} task {seq}: not stored ({detail}); it will be done again")
        }
    }
}
