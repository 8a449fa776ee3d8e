//! `mxray verify --proxy` and `mxray diagnose --proxy`: through a real SOCKS5 server (Debian's
//! microsocks) on loopback in front of a lab. The proxy binds its outgoing connections to an
//! address of its own, so the lab's per-client counters show which egress the servers saw.
//! Authentication accepted and refused, and a proxy that is not there: exit 3, nothing
//! reported about any recipient or domain.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::util::{TestLab, json_lines, mxray_lab, require};

/// The address microsocks connects out from (`-b`): the egress the lab sees.
pub(crate) const EGRESS: &str = "127.0.7.66";

fn lab() -> &'static TestLab {
    static LAB: OnceLock<TestLab> = OnceLock::new();
    LAB.get_or_init(|| {
        TestLab::start(
            "[lab]\nname = \"proxy\"\n\n[[domains]]\nname = \"px.test\"\nmx = [\"10 mx.px.test\"]\n\n[[hosts]]\nname = \"mx.px.test\"\naddress = \"127.0.7.1\"\nmailbox_ranges = [{ prefix = \"u\", count = 10 }]\n\n# diagnose's own domain: its counters see no verify traffic.\n[[domains]]\nname = \"dx.test\"\nmx = [\"10 mx.dx.test\"]\n\n[[hosts]]\nname = \"mx.dx.test\"\naddress = \"127.0.7.2\"\nmailbox_ranges = [{ prefix = \"d\", count = 5 }]\n\n# Only failing proxies lead here: nothing may ever reach it.\n[[domains]]\nname = \"dz.test\"\nmx = [\"10 mx.dz.test\"]\n\n[[hosts]]\nname = \"mx.dz.test\"\naddress = \"127.0.7.3\"\nmailbox_ranges = [{ prefix = \"z\", count = 5 }]\n\n# The proxy that dies mid-run: one quick domain, two slow ones (a second per reply).\n[[domains]]\nname = \"quick.test\"\nmx = [\"10 mx.quick.test\"]\n\n[[hosts]]\nname = \"mx.quick.test\"\naddress = \"127.0.7.10\"\nmailbox_ranges = [{ prefix = \"q\", count = 5 }]\n\n[[domains]]\nname = \"slow1.test\"\nmx = [\"10 mx.slow1.test\"]\n\n[[hosts]]\nname = \"mx.slow1.test\"\naddress = \"127.0.7.11\"\nlatency = \"1s\"\nmailbox_ranges = [{ prefix = \"s\", count = 5 }]\n\n[[domains]]\nname = \"slow2.test\"\nmx = [\"10 mx.slow2.test\"]\n\n[[hosts]]\nname = \"mx.slow2.test\"\naddress = \"127.0.7.12\"\nlatency = \"1s\"\nmailbox_ranges = [{ prefix = \"s\", count = 5 }]\n",
            "proxy",
        )
    })
}

/// A free loopback port (nothing listens on it once returned).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// microsocks on a free loopback port, killed on drop.
pub(crate) struct Socks {
    child: Child,
    port: u16,
    /// The hosts file of a resolving proxy, kept while it runs.
    _etc: Option<tempfile::TempDir>,
}

impl Socks {
    pub(crate) fn start(auth: Option<(&str, &str)>) -> Socks {
        Socks::spawn(auth, None)
    }

    /// A proxy that resolves names (socks5h) from `hosts` alone: it runs in a mount namespace
    /// of its own where `hosts` is /etc/hosts and /etc/nsswitch.conf says `hosts: files`, so
    /// its lookups never leave the machine and the real files are not touched.
    fn start_resolving(hosts: &str) -> Socks {
        Socks::spawn(None, Some(hosts))
    }

    fn spawn(auth: Option<(&str, &str)>, hosts: Option<&str>) -> Socks {
        require("microsocks", "microsocks", "the proxy tests");
        let port = free_port();
        let mut args: Vec<String> = ["-i", "127.0.0.1", "-p", &port.to_string(), "-b", EGRESS]
            .map(String::from)
            .into();
        if let Some((u, p)) = auth {
            args.extend(["-u", u, "-P", p].map(String::from));
        }
        let (mut cmd, etc) = match hosts {
            None => {
                let mut cmd = Command::new("microsocks");
                cmd.args(&args);
                (cmd, None)
            }
            Some(hosts) => {
                require("unshare", "util-linux", "the socks5h test");
                let dir = tempfile::tempdir().expect("tempdir");
                let (h, n) = (dir.path().join("hosts"), dir.path().join("nsswitch.conf"));
                std::fs::write(&h, hosts).expect("write hosts");
                std::fs::write(&n, "hosts: files\n").expect("write nsswitch.conf");
                let mut cmd = Command::new("unshare");
                // unshare execs sh, which execs microsocks: killing the child kills the proxy.
                cmd.args(["--mount", "sh", "-c"]).arg(format!(
                    "mount --bind '{}' /etc/hosts && mount --bind '{}' /etc/nsswitch.conf && exec microsocks {}",
                    h.display(),
                    n.display(),
                    args.join(" ")
                ));
                (cmd, Some(dir))
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start microsocks");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "microsocks did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Socks {
            child,
            port,
            _etc: etc,
        }
    }

    pub(crate) fn url(&self, cred: &str) -> String {
        format!("socks5://{cred}127.0.0.1:{}", self.port)
    }
}

impl Drop for Socks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connections the lab's host `host` accepted from `client` (`None`: from anyone).
fn connections(host: &str, client: Option<&str>) -> u64 {
    let ip: Option<IpAddr> = client.map(|c| c.parse().expect("ip"));
    lab()
        .lab()
        .stats()
        .smtp
        .iter()
        .filter(|h| h.name == host)
        .flat_map(|h| h.clients.iter())
        .filter(|(c, _)| ip.is_none_or(|ip| **c == ip))
        .map(|(_, c)| c.connections)
        .sum()
}

/// Connections verify's MX host accepted from `client`.
fn connections_from(client: &str) -> u64 {
    connections("mx.px.test", Some(client))
}

const FAST: &[&str] = &["--json", "--timeout", "2s", "--greeting-wait", "3s"];

fn verify(addresses: &[&str], proxy: &str) -> crate::util::Output {
    let mut args = vec!["verify"];
    args.extend_from_slice(addresses);
    args.extend_from_slice(FAST);
    args.extend(["--proxy", proxy]);
    mxray_lab(lab(), &args)
}

#[test]
fn verifies_through_the_proxy_and_the_server_sees_its_egress() {
    let socks = Socks::start(None);
    let before = connections_from(EGRESS);
    let out = verify(
        &["u1@px.test", "u2@px.test", "nobody@px.test"],
        &socks.url(""),
    );
    assert_eq!(
        out.code, 1,
        "one undeliverable: exit 1; stderr {}",
        out.stderr
    );
    let got = json_lines(&out);
    assert_eq!(got.len(), 3, "{}", out.stdout);
    for v in &got {
        let want = if v["address"] == "nobody@px.test" {
            "undeliverable"
        } else {
            "deliverable"
        };
        assert_eq!(v["verdict"], want, "{v}");
        // Each result says where its session came from: the proxy, never its credentials.
        assert_eq!(v["reply"]["egress"], socks.url(""), "{v}");
    }
    assert!(
        connections_from(EGRESS) > before,
        "the lab saw no connection from the proxy's egress {EGRESS}"
    );
    assert!(
        out.stderr.contains(&format!("through {}", socks.url(""))),
        "the summary names the egress: {}",
        out.stderr
    );
}

#[test]
fn authenticates_with_percent_encoded_credentials() {
    let socks = Socks::start(Some(("mx-user", "p@ss:w")));
    let before = connections_from(EGRESS);
    let out = verify(&["u3@px.test"], &socks.url("mx-user:p%40ss%3Aw@"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got = json_lines(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["verdict"], "deliverable", "{}", got[0]);
    assert!(connections_from(EGRESS) > before);
}

#[test]
fn refused_credentials_are_an_environment_error_blaming_no_address() {
    let socks = Socks::start(Some(("mx-user", "right")));
    let out = verify(
        &["u4@px.test", "nobody@px.test"],
        &socks.url("mx-user:wrong-secret@"),
    );
    assert_eq!(out.code, 3, "stdout {} stderr {}", out.stdout, out.stderr);
    assert!(
        out.stdout.trim().is_empty(),
        "no result recorded: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains(&socks.url("")) && out.stderr.contains("authentication"),
        "names the proxy and why: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-secret"), "{}", out.stderr);
}

#[test]
fn a_closed_proxy_port_is_an_environment_error_and_nothing_is_stored() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("list.txt");
    std::fs::write(&input, "u5@px.test\nnobody@px.test\n").expect("write");
    let state = dir.path().join("job.db");
    let (input, state) = (input.display().to_string(), state.display().to_string());
    let url = format!("socks5://127.0.0.1:{port}");
    let mut args = vec![
        "verify", "--input", &input, "--state", &state, "--proxy", &url,
    ];
    args.extend_from_slice(FAST);
    let out = mxray_lab(lab(), &args);
    assert_eq!(out.code, 3, "stdout {} stderr {}", out.stdout, out.stderr);
    assert!(out.stdout.trim().is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains(&url), "{}", out.stderr);
    // The same job through a working proxy decides both: nothing was stored as decided.
    let socks = Socks::start(None);
    let url = socks.url("");
    let mut args = vec![
        "verify", "--input", &input, "--state", &state, "--proxy", &url,
    ];
    args.extend_from_slice(FAST);
    let out = mxray_lab(lab(), &args);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let got = json_lines(&out);
    assert_eq!(got.len(), 2, "{}", out.stdout);
}

#[test]
fn a_bad_proxy_url_is_bad_input_without_echoing_credentials() {
    for url in [
        "http://u:hunter2@127.0.0.1:1080",
        "socks5://u:hunter2@127.0.0.1",
        "socks5://127.0.0.1:0",
    ] {
        let out = verify(&["u6@px.test"], url);
        assert_eq!(out.code, 2, "{url}: {}", out.stderr);
        assert!(out.stderr.contains("--proxy"), "{}", out.stderr);
        assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    }
}

fn diagnose(args: &[&str]) -> crate::util::Output {
    let mut all = vec!["diagnose"];
    all.extend_from_slice(args);
    // The recipient side only: the sender side asks DNS and HTTPS, never through the proxy.
    all.extend(["--only", "dns,transport,tls"]);
    all.extend_from_slice(FAST);
    mxray_lab(lab(), &all)
}

/// The recipient findings as (id, severity, title): what a report says about the domain.
fn findings(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("id"), s("severity"), s("title"))
        })
        .collect()
}

#[test]
fn diagnose_probes_through_the_proxy_with_the_same_findings() {
    let socks = Socks::start(None);
    let direct = diagnose(&["d1@dx.test", "--probe"]);
    assert_eq!(direct.code, 0, "{}", direct.stderr);
    let direct = crate::util::json(&direct);
    let (all, egress) = (
        connections("mx.dx.test", None),
        connections("mx.dx.test", Some(EGRESS)),
    );
    let out = diagnose(&["d1@dx.test", "--probe", "--proxy", &socks.url("")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let proxied = crate::util::json(&out);
    let got = findings(&proxied);
    assert!(
        got.iter().any(|(id, _, _)| id == "smtp.rcpt_accepted"),
        "the probe ran through the proxy: {got:?}"
    );
    assert_eq!(got, findings(&direct), "the same findings either way");
    assert_eq!(proxied["verdict"]["overall"], direct["verdict"]["overall"]);
    // Every connection the host saw during the proxied run came from the proxy's egress.
    let new = connections("mx.dx.test", None) - all;
    assert!(new > 0, "the host saw no connection");
    assert_eq!(
        connections("mx.dx.test", Some(EGRESS)) - egress,
        new,
        "a connection reached the host other than from the proxy's egress {EGRESS}"
    );
}

#[test]
fn diagnose_with_refused_credentials_is_an_environment_error_and_no_finding() {
    let socks = Socks::start(Some(("mx-user", "right")));
    let out = diagnose(&[
        "z2@dz.test",
        "--probe",
        "--proxy",
        &socks.url("mx-user:wrong-secret@"),
    ]);
    assert_eq!(out.code, 3, "stdout {} stderr {}", out.stdout, out.stderr);
    assert!(out.stdout.trim().is_empty(), "no report: {}", out.stdout);
    assert!(
        out.stderr.contains(&socks.url("")) && out.stderr.contains("authentication"),
        "names the proxy and why: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-secret"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("refused the connection"),
        "{}",
        out.stderr
    );
    assert_eq!(
        connections("mx.dz.test", None),
        0,
        "nothing reached the host"
    );
}

#[test]
fn diagnose_through_a_closed_proxy_port_blames_no_domain() {
    let url = format!("socks5://127.0.0.1:{}", free_port());
    // One target, in the terminal format: no finding printed, no report at all.
    let out = mxray_lab(
        lab(),
        &[
            "diagnose",
            "dz.test",
            "--only",
            "dns,transport",
            "--proxy",
            &url,
        ],
    );
    assert_eq!(out.code, 3, "stdout {} stderr {}", out.stdout, out.stderr);
    assert!(out.stdout.trim().is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains(&url), "{}", out.stderr);
    // A list: exit 3; the target decided without SMTP (its domain does not exist) keeps its
    // report, the two that needed the proxy have none.
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("domains.txt");
    std::fs::write(&list, "missing.dz.test\ndz.test\nz3@dz.test\n").expect("write");
    let list = list.display().to_string();
    let out = diagnose(&["--input", &list, "--proxy", &url]);
    assert_eq!(out.code, 3, "stdout {} stderr {}", out.stdout, out.stderr);
    let got = json_lines(&out);
    assert_eq!(got.len(), 1, "{}", out.stdout);
    assert_eq!(got[0]["target"], "missing.dz.test", "{}", got[0]);
    assert!(
        findings(&got[0])
            .iter()
            .all(|(id, _, _)| !id.starts_with("smtp.")),
        "{}",
        got[0]
    );
    assert!(out.stderr.contains("1 of 3 targets"), "{}", out.stderr);
    assert!(out.stderr.contains(&url), "{}", out.stderr);
    assert_eq!(
        connections("mx.dz.test", None),
        0,
        "nothing reached the host"
    );
}

#[test]
fn socks5h_lets_the_proxy_resolve_the_mx_names() {
    // The proxy knows mx.px.test from its hosts file only (mxray's resolver is the lab's).
    let socks = Socks::start_resolving("127.0.0.1 localhost\n127.0.7.1 mx.px.test\n");
    let url = format!("socks5h://127.0.0.1:{}", socks.port);
    let before = connections_from(EGRESS);
    let out = verify(&["u7@px.test", "nobody@px.test"], &url);
    assert_eq!(out.code, 1, "stdout {} stderr {}", out.stdout, out.stderr);
    let got = json_lines(&out);
    assert_eq!(got.len(), 2, "{}", out.stdout);
    for v in &got {
        let want = if v["address"] == "nobody@px.test" {
            "undeliverable"
        } else {
            "deliverable"
        };
        assert_eq!(v["verdict"], want, "{v}");
        assert_eq!(v["reply"]["egress"], url.as_str(), "{v}");
    }
    assert!(
        connections_from(EGRESS) > before,
        "the lab saw no connection from {EGRESS}"
    );
}

#[test]
fn socks5h_sends_the_name_not_the_address() {
    // A proxy that cannot resolve mx.px.test: had mxray sent the address it resolved itself,
    // the run would succeed. The proxy's failure (SOCKS "general failure") blames no address.
    let socks = Socks::start_resolving("127.0.0.1 localhost\n");
    let url = format!("socks5h://127.0.0.1:{}", socks.port);
    let out = verify(&["u8@px.test", "nobody@px.test"], &url);
    assert_eq!(out.code, 3, "stdout {} stderr {}", out.stdout, out.stderr);
    assert!(out.stdout.trim().is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains(&url) && out.stderr.contains("can it resolve mx.px.test?"),
        "names the proxy and the likely cause: {}",
        out.stderr
    );
    // The same proxy with socks5:// gets the address and works.
    let out = verify(
        &["u8@px.test"],
        &format!("socks5://127.0.0.1:{}", socks.port),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// How many `verb` commands `host`'s lab server received from the proxy's egress.
fn commands(host: &str, verb: &str) -> u64 {
    let ip: IpAddr = EGRESS.parse().expect("ip");
    lab()
        .lab()
        .stats()
        .smtp
        .iter()
        .filter(|h| h.name == host)
        .filter_map(|h| h.clients.get(&ip))
        .filter_map(|c| c.commands.get(verb))
        .sum()
}

#[test]
fn a_proxy_dying_mid_run_keeps_what_was_decided_and_blames_no_address() {
    let mut socks = Socks::start(None);
    let url = socks.url("");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |n: &str| dir.path().join(n).display().to_string();
    let (input, state, output) = (path("list.txt"), path("job.db"), path("out.jsonl"));
    // Each domain: four mailboxes and one address that does not exist.
    let mut list = Vec::new();
    for (d, p) in [
        ("quick.test", 'q'),
        ("slow1.test", 's'),
        ("slow2.test", 's'),
    ] {
        list.extend((1..=4).map(|i| format!("{p}{i}@{d}")));
        list.push(format!("nobody@{d}"));
    }
    std::fs::write(&input, list.join("\n")).expect("write");
    let mut args: Vec<String> = [
        "verify",
        "--input",
        &input,
        "--state",
        &state,
        "--output",
        &output,
        "--proxy",
        &url,
        "--json",
        "--timeout",
        "3s",
        "--greeting-wait",
        "5s",
        // A drop is retried soon, so the run reaches the dead proxy instead of waiting.
        "--greylist-retry",
        "1s",
        "--deadline",
        "20s",
    ]
    .map(String::from)
    .into();
    args.extend(lab().flags());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(&args).env("NO_COLOR", "1");
    let started = Instant::now();
    let running = std::thread::spawn(move || crate::util::run(cmd, None));
    // The quick domain is decided (its session quit: the second QUIT, after the preflight's)
    // and a slow one waits for the reply to its RCPT (a second away): the proxy dies then.
    while commands("mx.quick.test", "QUIT") < 2 || commands("mx.slow1.test", "RCPT") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run never reached the slow domain's RCPT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        commands("mx.slow1.test", "QUIT"),
        0,
        "the slow session ended before the proxy died"
    );
    let _ = socks.child.kill();
    let _ = socks.child.wait();
    let out = running.join().expect("mxray thread");
    assert_eq!(out.code, 3, "stdout {} stderr {}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&url) && out.stderr.contains("5 results written"),
        "names the proxy and what was kept: {}",
        out.stderr
    );
    let written: Vec<serde_json::Value> = std::fs::read_to_string(&output)
        .expect("read --output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let verdict = |a: &str| {
        written
            .iter()
            .find(|v| v["address"] == a)
            .map(|v| v["verdict"].as_str().unwrap_or_default().to_string())
    };
    // Decided before the death: kept, right.
    for a in ["q1@quick.test", "q4@quick.test"] {
        assert_eq!(
            verdict(a).as_deref(),
            Some("deliverable"),
            "{a}: {written:?}; stderr {}",
            out.stderr
        );
    }
    assert_eq!(
        verdict("nobody@quick.test").as_deref(),
        Some("undeliverable")
    );
    // Cut off by the death: no result, or unknown; never undeliverable.
    for a in list.iter().filter(|a| !a.ends_with("@quick.test")) {
        let v = verdict(a);
        assert!(
            v.is_none() || v.as_deref() == Some("unknown"),
            "{a} decided {v:?} though its proxy died: {written:?}"
        );
    }
    // The same command with a working proxy resumes: what was decided comes from the store,
    // the rest is verified now, and every verdict is the right one.
    let socks = Socks::start(None);
    let mut args: Vec<&str> = args[..args.len() - 6].iter().map(String::as_str).collect();
    let url2 = socks.url("");
    let i = args.iter().position(|a| *a == url).expect("--proxy URL");
    args[i] = &url2;
    let quick_rcpts = commands("mx.quick.test", "RCPT");
    let out = mxray_lab(lab(), &args);
    assert_eq!(out.code, 1, "stdout {} stderr {}", out.stdout, out.stderr);
    assert_eq!(
        commands("mx.quick.test", "RCPT"),
        quick_rcpts,
        "the quick domain was probed again: its results were not in --state"
    );
    let again: Vec<serde_json::Value> = std::fs::read_to_string(&output)
        .expect("read --output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(again.len(), list.len(), "{again:?}");
    for v in &again {
        let a = v["address"].as_str().unwrap_or_default();
        let want = if a.starts_with("nobody@") {
            "undeliverable"
        } else {
            "deliverable"
        };
        if verdict(a).as_deref() == Some("unknown") {
            continue; // an unknown from the first run is stored, and answered as stored
        }
        assert_eq!(v["verdict"], want, "{v}");
    }
}

/// The address the test's own SOCKS5 server connects out from.
const REPORTED_EGRESS: [u8; 4] = [127, 0, 7, 67];

/// A minimal SOCKS5 server (no authentication, CONNECT to an IPv4 address) that connects out
/// from [`REPORTED_EGRESS`] and names that socket's address in its reply, as RFC 1928 section
/// 6 asks (microsocks sends 0.0.0.0). Serves until the test binary exits; returns its port.
fn reporting_proxy() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = socks_session(client);
            });
        }
    });
    port
}

fn socks_session(mut c: TcpStream) -> std::io::Result<()> {
    use std::io::{Read, Write};
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = [0u8; 2];
    c.read_exact(&mut head)?;
    let mut methods = vec![0u8; head[1] as usize];
    c.read_exact(&mut methods)?;
    c.write_all(&[5, 0])?;
    let mut req = [0u8; 4];
    c.read_exact(&mut req)?;
    if req[1] != 1 || req[3] != 1 {
        // Only CONNECT to an IPv4 address: "command not supported".
        return c.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
    let mut to = [0u8; 6];
    c.read_exact(&mut to)?;
    let target = SocketAddr::from((
        [to[0], to[1], to[2], to[3]],
        u16::from_be_bytes([to[4], to[5]]),
    ));
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.bind(&SocketAddr::from((REPORTED_EGRESS, 0)).into())?;
    if sock
        .connect_timeout(&target.into(), Duration::from_secs(5))
        .is_err()
    {
        return c.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
    let mut out: TcpStream = sock.into();
    let SocketAddr::V4(bound) = out.local_addr()? else {
        return Ok(());
    };
    let mut reply = vec![5, 0, 0, 1];
    reply.extend(bound.ip().octets());
    reply.extend(bound.port().to_be_bytes());
    c.write_all(&reply)?;
    c.set_read_timeout(None)?;
    let (mut up_from, mut up_to) = (c.try_clone()?, out.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_from, &mut up_to);
        let _ = up_to.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut out, &mut c);
    c.shutdown(std::net::Shutdown::Write)
}

fn preflight(proxy: &str, json: bool) -> crate::util::Output {
    let mut args = vec![
        "verify",
        "--preflight",
        "--preflight-target",
        "px.test",
        "--proxy",
        proxy,
        "--timeout",
        "3s",
    ];
    if json {
        args.push("--json");
    }
    mxray_lab(lab(), &args)
}

#[test]
fn preflight_reports_the_outgoing_address_the_proxy_names() {
    let url = format!("socks5://127.0.0.1:{}", reporting_proxy());
    let egress = std::net::Ipv4Addr::from(REPORTED_EGRESS).to_string();
    let before = connections_from(&egress);
    let out = preflight(&url, true);
    // Its egress has no reverse DNS in the lab: a failing finding, exit 1.
    assert!(matches!(out.code, 0 | 1), "{}", out.stderr);
    let doc = crate::util::json(&out);
    assert_eq!(doc["egress"], egress.as_str(), "{doc}");
    assert_eq!(doc["egress_source"], "proxy_reply", "{doc}");
    assert_eq!(doc["through_proxy"], true, "{doc}");
    // The address the preflight reports is the one the server saw.
    assert_eq!(connections_from(&egress), before + 1);
    let out = preflight(&url, false);
    assert!(
        out.stdout
            .contains(&format!("egress {egress} (the proxy's outgoing address")),
        "{}",
        out.stdout
    );
}

#[test]
fn preflight_falls_back_to_the_proxy_address_when_its_reply_names_none() {
    // microsocks answers CONNECT with 0.0.0.0:0: the outgoing address is not known.
    let socks = Socks::start(None);
    let out = preflight(&socks.url(""), true);
    assert!(matches!(out.code, 0 | 1), "{}", out.stderr);
    let doc = crate::util::json(&out);
    assert_eq!(doc["egress"], "127.0.0.1", "{doc}");
    assert_eq!(doc["egress_source"], "proxy_address", "{doc}");
    let out = preflight(&socks.url(""), false);
    assert!(
        out.stdout.contains(
            "egress 127.0.0.1 (the proxy's own address: its CONNECT reply named no outgoing address"
        ),
        "{}",
        out.stdout
    );
}
