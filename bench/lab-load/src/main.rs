//! lab-load: starts the lab with the bundled world.toml and measures, over loopback, how many
//! RCPT-probe SMTP sessions and DNS queries per second it sustains with N concurrent clients.
//!
//! Usage: `cargo run --release -- [--seconds S] [--smtp-clients N] [--dns-clients N]`
//! The load generator runs in the same process on its own runtime, so on a 2-core machine the
//! figures are a lower bound: clients and lab share the CPU.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use mxray_lab::{Lab, LabOptions, Scenario, bundled};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Bound on one network step; a step that takes longer counts as an error.
const STEP: Duration = Duration::from_secs(5);

struct Args {
    seconds: u64,
    smtp_clients: usize,
    dns_clients: usize,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        smtp_clients: 32,
        dns_clients: 32,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match (argv[i].as_str(), val) {
            ("--seconds", Some(v)) => a.seconds = v.clamp(1, 120),
            ("--smtp-clients", Some(v)) => a.smtp_clients = v.clamp(1, 1024) as usize,
            ("--dns-clients", Some(v)) => a.dns_clients = v.clamp(1, 1024) as usize,
            // cargo bench passes --bench; ignore anything else.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    errors: AtomicU64,
}

fn main() {
    let a = args();
    // The lab gets its own runtime, as in `mxray lab serve`.
    let lab_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("lab runtime");
    let scenario = Scenario::from_str_named(bundled::WORLD, "world.toml").expect("world parses");
    let lab = lab_rt
        .block_on(Lab::start(scenario, LabOptions::default()))
        .expect("lab starts");
    let info = lab.ready_info();
    // Plain hosts only: no delay or failure may slow the measurement.
    let targets: Vec<(SocketAddr, String)> = info
        .hosts
        .iter()
        .filter(|h| h.name.starts_with("mx.bulk"))
        .map(|h| {
            let domain = h.name.trim_start_matches("mx.").to_owned();
            (SocketAddr::new(h.address, info.smtp_port), domain)
        })
        .collect();
    assert!(!targets.is_empty(), "world.toml has bulk hosts");
    println!(
        "lab-load: world.toml, {} domains, {} hosts ({} used for SMTP load), {} s per phase, {} cores",
        lab.scenario().domains.len(),
        info.hosts.len(),
        targets.len(),
        a.seconds,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");

    let (smtp_rate, smtp_err, smtp_lat) =
        client_rt.block_on(smtp_phase(&targets, a.smtp_clients, a.seconds));
    println!(
        "smtp: {smtp_rate:>9.0} RCPT-probe sessions/s  ({} clients; connect, banner, EHLO, MAIL, RCPT, QUIT; {smtp_err} errors; mean session {smtp_lat:.2} ms)",
        a.smtp_clients
    );

    let names = dns_names(&lab);
    let (dns_rate, dns_err, dns_lat) =
        client_rt.block_on(dns_phase(lab.resolver(), &names, a.dns_clients, a.seconds));
    println!(
        "dns:  {dns_rate:>9.0} queries/s             ({} clients over UDP; {} names; {dns_err} timeouts; mean {dns_lat:.3} ms)",
        a.dns_clients,
        names.len()
    );

    let stats = lab.stats();
    let sessions: u64 = stats.smtp.iter().map(|h| h.totals.connections).sum();
    println!(
        "lab counters: {sessions} SMTP connections, {} DNS queries",
        stats.dns.queries
    );
    lab_rt.block_on(lab.shutdown());
}

/// (sessions per second, errors, mean session time in ms).
async fn smtp_phase(
    targets: &[(SocketAddr, String)],
    clients: usize,
    seconds: u64,
) -> (f64, u64, f64) {
    let counts = Arc::new(Counts::default());
    let busy_ns = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let targets = Arc::new(targets.to_vec());
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..clients {
        let (counts, busy_ns, stop, targets) = (
            counts.clone(),
            busy_ns.clone(),
            stop.clone(),
            targets.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = c;
            while !stop.load(Ordering::Relaxed) {
                let (addr, domain) = &targets[n % targets.len()];
                let user = n % 200 + 1;
                n += clients;
                let t = Instant::now();
                match tokio::time::timeout(STEP * 2, probe(*addr, &format!("user{user}@{domain}")))
                    .await
                {
                    Ok(Ok(())) => {
                        counts.ok.fetch_add(1, Ordering::Relaxed);
                        busy_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    }
                    _ => {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in tasks {
        let _ = t.await;
    }
    let ok = counts.ok.load(Ordering::Relaxed);
    let mean = busy_ns.load(Ordering::Relaxed) as f64 / ok.max(1) as f64 / 1e6;
    (
        ok as f64 / elapsed,
        counts.errors.load(Ordering::Relaxed),
        mean,
    )
}

/// One RCPT-probe session, lockstep like a verifier: every reply read before the next command.
async fn probe(addr: SocketAddr, rcpt: &str) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut buf = vec![0u8; 8192];
    expect(&mut s, &mut buf, b"220").await?;
    for (cmd, code) in [
        ("EHLO bench.test\r\n".to_owned(), b"250"),
        ("MAIL FROM:<probe@bench.test>\r\n".to_owned(), b"250"),
        (format!("RCPT TO:<{rcpt}>\r\n"), b"250"),
        ("QUIT\r\n".to_owned(), b"221"),
    ] {
        s.write_all(cmd.as_bytes()).await?;
        expect(&mut s, &mut buf, code).await?;
    }
    Ok(())
}

/// Reads one complete (possibly multi-line) reply and checks its code.
async fn expect(s: &mut TcpStream, buf: &mut [u8], code: &[u8; 3]) -> std::io::Result<()> {
    let mut have = 0;
    loop {
        let n = tokio::time::timeout(STEP, s.read(&mut buf[have..]))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
        let text = &buf[..have];
        // Complete when the last line ends and has a space after its code.
        if text.ends_with(b"\n") {
            let body = &text[..text.len() - 1];
            let last = body
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(body, |i| &body[i + 1..]);
            if last.get(3) == Some(&b' ') || last.len() == 3 || last.len() == 4 {
                return if last.starts_with(code) {
                    Ok(())
                } else {
                    Err(std::io::Error::other(
                        String::from_utf8_lossy(last).into_owned(),
                    ))
                };
            }
        }
        if have == buf.len() {
            return Err(std::io::Error::other("reply too long"));
        }
    }
}

/// Query names spread over the world's zones: MX, A and TXT lookups a verifier would make.
fn dns_names(lab: &Lab) -> Vec<(Name, RecordType)> {
    let mut out = Vec::new();
    for d in &lab.scenario().domains {
        // Skip names with injected failures: a timeout would measure the client's patience.
        let failing = d
            .nodes
            .iter()
            .any(|n| n.name == d.name && n.failure.is_some());
        if failing {
            continue;
        }
        if let Ok(name) = Name::from_ascii(format!("{}.", d.name)) {
            out.push((name.clone(), RecordType::MX));
            out.push((name, RecordType::TXT));
        }
    }
    for h in &lab.scenario().hosts {
        if let Ok(name) = Name::from_ascii(format!("{}.", h.name)) {
            out.push((name, RecordType::A));
        }
    }
    out
}

/// (queries per second, timeouts, mean latency in ms).
async fn dns_phase(
    server: SocketAddr,
    names: &[(Name, RecordType)],
    clients: usize,
    seconds: u64,
) -> (f64, u64, f64) {
    let counts = Arc::new(Counts::default());
    let busy_ns = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let names = Arc::new(names.to_vec());
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..clients {
        let (counts, busy_ns, stop, names) =
            (counts.clone(), busy_ns.clone(), stop.clone(), names.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(sock) = UdpSocket::bind("127.0.0.1:0").await else {
                return;
            };
            if sock.connect(server).await.is_err() {
                return;
            }
            let mut buf = vec![0u8; 4096];
            let mut i = c;
            let mut id: u16 = (c as u16).wrapping_mul(1000);
            while !stop.load(Ordering::Relaxed) {
                let (name, rtype) = &names[i % names.len()];
                i += clients;
                id = id.wrapping_add(1);
                let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
                msg.add_query(Query::query(name.clone(), *rtype));
                let Ok(bytes) = msg.to_vec() else { continue };
                let t = Instant::now();
                if sock.send(&bytes).await.is_err() {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                // A late answer to an earlier query is skipped by matching the ID.
                let answered = tokio::time::timeout(Duration::from_secs(1), async {
                    loop {
                        let n = sock.recv(&mut buf).await.ok()?;
                        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                            return Some(());
                        }
                    }
                })
                .await;
                match answered {
                    Ok(Some(())) => {
                        counts.ok.fetch_add(1, Ordering::Relaxed);
                        busy_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    }
                    _ => {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in tasks {
        let _ = t.await;
    }
    let ok = counts.ok.load(Ordering::Relaxed);
    let mean = busy_ns.load(Ordering::Relaxed) as f64 / ok.max(1) as f64 / 1e6;
    (
        ok as f64 / elapsed,
        counts.errors.load(Ordering::Relaxed),
        mean,
    )
}
