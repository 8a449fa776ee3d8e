//! DNSSEC end to end: a REAL validating resolver (Debian's unbound) in front of the lab, so
//! signed lab zones validate (AD), expired ones are bogus (SERVFAIL), unsigned ones stay plain.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{TestLab, require};

/// Where Debian's `unbound` package puts the daemon.
const SBIN_UNBOUND: &str = "/usr/sbin/unbound";
/// How long unbound may take to answer its first query (a loaded CI machine).
const STARTUP: Duration = Duration::from_secs(20);

/// A validating unbound on a free loopback port, forwarding (stub zones) every lab zone to the
/// lab's DNS server, trusting the anchors of the lab's signed zones and treating the unsigned
/// ones (and `test.`) as insecure. Runs in the foreground, in a temporary directory of its own;
/// killed when dropped.
///
/// ```ignore
/// let lab = TestLab::start(SCENARIO, "dnssec.toml");
/// let unbound = Unbound::start(&lab);
/// // point a client at unbound.addr: answers for signed zones carry AD
/// ```
pub struct Unbound {
    /// Where unbound listens, UDP and TCP (127.0.0.1, a free port).
    pub addr: SocketAddr,
    child: Child,
    /// The configuration and unbound's log (stderr), kept for failure messages.
    dir: tempfile::TempDir,
}

impl Unbound {
    /// Writes the configuration from the lab's ready info, starts `unbound -d`, and returns once
    /// it answers. Panics (naming the `unbound` package when it is missing) if it cannot start.
    pub fn start(lab: &TestLab) -> Unbound {
        // Debian installs it in /usr/sbin, which a non-root PATH often lacks.
        let program = if Path::new(SBIN_UNBOUND).exists() {
            SBIN_UNBOUND
        } else {
            require("unbound", "unbound", "the DNSSEC tests");
            "unbound"
        };
        let info = lab.lab().ready_info();
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let conf = config(&info, lab.resolver(), port, dir.path());
        let conf_path = dir.path().join("unbound.conf");
        std::fs::write(&conf_path, conf).expect("write unbound.conf");
        let log = std::fs::File::create(dir.path().join("unbound.log")).expect("log file");
        let child = Command::new(program)
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn unbound");
        let mut unbound = Unbound {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            dir,
        };
        unbound.wait_ready();
        unbound
    }

    /// unbound's log so far (its stderr, with `val-log-level: 2` reasons for bogus answers).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }

    /// Polls with a tiny query until unbound answers anything (it binds, then reads keys).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP;
        // A minimal query for `. NS` with recursion desired (id 0x4242).
        let query: [u8; 17] = [
            0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1,
        ];
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind probe");
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("unbound exited ({status}) at start:\n{}", self.log());
            }
            let _ = sock.send_to(&query, self.addr);
            let mut buf = [0u8; 512];
            if sock.recv_from(&mut buf).is_ok() {
                return;
            }
        }
        panic!(
            "unbound did not answer on {} within {STARTUP:?}:\n{}",
            self.addr,
            self.log()
        );
    }

    /// `dig +dnssec @unbound NAME TYPE` plus `extra` flags (`+cd`), as text.
    pub fn dig(&self, name: &str, rtype: &str, extra: &[&str]) -> Dig {
        require("dig", "dnsutils", "the DNSSEC tests");
        let out = Command::new("dig")
            .arg(format!("@{}", self.addr.ip()))
            .arg("-p")
            .arg(self.addr.port().to_string())
            .args(["+dnssec", "+tries=1", "+time=10"])
            .args(extra)
            .arg(name)
            .arg(rtype)
            .output()
            .expect("run dig");
        Dig {
            text: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What dig printed, with the two things these tests read from it.
pub struct Dig {
    pub text: String,
}

impl Dig {
    /// The `status:` of the header (`NOERROR`, `SERVFAIL`...).
    pub fn status(&self) -> &str {
        self.text
            .split("status: ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or("")
    }

    /// Whether the header's flags include `flag` (`ad`, `cd`...).
    pub fn flag(&self, flag: &str) -> bool {
        self.text
            .split(";; flags: ")
            .nth(1)
            .and_then(|s| s.split(';').next())
            .is_some_and(|flags| flags.split(' ').any(|f| f == flag))
    }

    /// The answer section's records of type `rtype`, as their data.
    pub fn answers(&self, rtype: &str) -> Vec<String> {
        let Some(section) = self.text.split(";; ANSWER SECTION:\n").nth(1) else {
            return Vec::new();
        };
        section
            .lines()
            .take_while(|l| !l.is_empty())
            .filter_map(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                (fields.get(3) == Some(&rtype)).then(|| fields[4..].join(" "))
            })
            .collect()
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP at the time of asking.
fn free_port() -> u16 {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().expect("local addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free on both UDP and TCP");
}

/// unbound.conf: validator then iterator, a stub zone per lab zone, the signed zones'
/// anchors, and every unsigned lab zone insecure (there is no root chain to prove it).
fn config(info: &mxray_lab::ReadyInfo, lab: SocketAddr, port: u16, dir: &Path) -> String {
    let mut c = String::new();
    c.push_str("server:\n");
    c.push_str(&format!("  interface: 127.0.0.1@{port}\n"));
    c.push_str(&format!("  port: {port}\n"));
    c.push_str("  do-ip6: no\n  do-udp: yes\n  do-tcp: yes\n");
    c.push_str("  do-daemonize: no\n  use-syslog: no\n  logfile: \"\"\n  pidfile: \"\"\n");
    c.push_str(&format!("  directory: \"{}\"\n", dir.display()));
    c.push_str("  chroot: \"\"\n  username: \"\"\n");
    c.push_str("  access-control: 127.0.0.0/8 allow\n");
    c.push_str("  do-not-query-localhost: no\n");
    c.push_str("  module-config: \"validator iterator\"\n");
    c.push_str("  val-log-level: 2\n  verbosity: 1\n");
    // No root hints are needed: every lab zone is a stub zone, nothing else is asked.
    c.push_str("  qname-minimisation: no\n  harden-referral-path: no\n");
    // unbound answers `test.` and `127.in-addr.arpa.` itself by default (RFC 6761 names):
    // the lab's zones live there, so those built-in answers are switched off.
    c.push_str("  local-zone: \"test.\" nodefault\n");
    c.push_str("  local-zone: \"127.in-addr.arpa.\" nodefault\n");
    c.push_str("  domain-insecure: \"test.\"\n");
    let signed: Vec<&str> = info.dnssec.iter().map(|a| a.zone.as_str()).collect();
    for zone in &info.zones {
        if !signed.contains(&zone.as_str()) {
            c.push_str(&format!("  domain-insecure: \"{zone}.\"\n"));
        }
    }
    for anchor in &info.dnssec {
        c.push_str(&format!("  trust-anchor: \"{}\"\n", anchor.ds));
    }
    c.push_str("remote-control:\n  control-enable: no\n");
    for zone in &info.zones {
        c.push_str(&format!(
            "stub-zone:\n  name: \"{zone}.\"\n  stub-addr: {}@{}\n",
            lab.ip(),
            lab.port()
        ));
    }
    c
}

const WORLD: &str = r#"
[[domains]]
name = "signed.test"
dnssec = true
mx = ["10 mx.signed.test"]

[[domains]]
name = "expired.test"
dnssec = "expired"
a = ["127.0.0.70"]

[[domains]]
name = "wrong-key.test"
dnssec = "wrong-key"
a = ["127.0.0.71"]

[[domains]]
name = "plain.test"
a = ["127.0.0.72"]

[[hosts]]
name = "mx.signed.test"
address = "127.0.0.73"
catch_all = true
"#;

#[test]
fn signed_zone_validates_with_ad() {
    let lab = TestLab::start(WORLD, "dnssec.toml");
    let unbound = Unbound::start(&lab);
    let mx = unbound.dig("signed.test", "MX", &[]);
    assert_eq!(mx.status(), "NOERROR", "{}\n{}", mx.text, unbound.log());
    assert!(mx.flag("ad"), "no AD:\n{}\n{}", mx.text, unbound.log());
    assert_eq!(mx.answers("MX"), ["10 mx.signed.test."]);
    let a = unbound.dig("mx.signed.test", "A", &[]);
    assert!(a.flag("ad"), "{}", a.text);
    // A signed denial validates too.
    let gone = unbound.dig("nothere.signed.test", "A", &[]);
    assert_eq!(gone.status(), "NXDOMAIN", "{}", gone.text);
    assert!(gone.flag("ad"), "{}\n{}", gone.text, unbound.log());
}

#[test]
fn unsigned_zone_answers_without_ad() {
    let lab = TestLab::start(WORLD, "dnssec.toml");
    let unbound = Unbound::start(&lab);
    let a = unbound.dig("plain.test", "A", &[]);
    assert_eq!(a.status(), "NOERROR", "{}\n{}", a.text, unbound.log());
    assert_eq!(a.answers("A"), ["127.0.0.72"]);
    assert!(!a.flag("ad"), "{}", a.text);
}

#[test]
fn expired_and_wrong_key_zones_are_bogus_unless_cd() {
    let lab = TestLab::start(WORLD, "dnssec.toml");
    let unbound = Unbound::start(&lab);
    for (name, addr) in [
        ("expired.test", "127.0.0.70"),
        ("wrong-key.test", "127.0.0.71"),
    ] {
        let a = unbound.dig(name, "A", &[]);
        assert_eq!(
            a.status(),
            "SERVFAIL",
            "{name}:\n{}\n{}",
            a.text,
            unbound.log()
        );
        assert!(a.answers("A").is_empty(), "{}", a.text);
        // Checking disabled: the resolver hands over the data it could not validate.
        let cd = unbound.dig(name, "A", &["+cd"]);
        assert_eq!(cd.status(), "NOERROR", "{name} +cd:\n{}", cd.text);
        assert_eq!(cd.answers("A"), [addr], "{}", cd.text);
        assert!(!cd.flag("ad"), "{}", cd.text);
    }
    assert!(
        unbound.log().contains("expired"),
        "unbound names the reason:\n{}",
        unbound.log()
    );
}

/// The DANE cases of issue 20, each in a signed zone unless said: DANE-EE match, DANE-TA match,
/// DANE-TA whose certificate does not name the MX, a wrong digest; TLSA in an unsigned zone; a
/// zone whose signatures expired. TLSA data for the lab's fresh keys comes from placeholders.
const DANE_WORLD: &str = r#"
[[domains]]
name = "ee.test"
dnssec = true
mx = ["10 mx.ee.test"]
[[domains.records]]
name = "_25._tcp.mx"
tlsa = ["3 1 1 @leaf(mx.ee.test)"]

[[domains]]
name = "ta.test"
dnssec = true
mx = ["10 mx.ta.test"]
[[domains.records]]
name = "_25._tcp.mx"
tlsa = ["2 1 1 @ca"]

[[domains]]
name = "taname.test"
dnssec = true
mx = ["10 mx.taname.test"]
[[domains.records]]
name = "_25._tcp.mx"
tlsa = ["2 1 1 @ca"]

[[domains]]
name = "wrong.test"
dnssec = true
mx = ["10 mx.wrong.test"]
[[domains.records]]
name = "_25._tcp.mx"
tlsa = ["3 1 1 0000000000000000000000000000000000000000000000000000000000000000"]

[[domains]]
name = "plain.test"
mx = ["10 mx.plain.test"]
[[domains.records]]
name = "_25._tcp.mx"
tlsa = ["3 1 1 @leaf(mx.plain.test)"]

[[domains]]
name = "bogus.test"
dnssec = "expired"
mx = ["10 mx.bogus.test"]

[[hosts]]
name = "mx.ee.test"
address = "127.0.0.81"
catch_all = true

[[hosts]]
name = "mx.ta.test"
address = "127.0.0.82"
catch_all = true

[[hosts]]
name = "mx.taname.test"
address = "127.0.0.83"
catch_all = true
starttls = "wrong-name"

[[hosts]]
name = "mx.wrong.test"
address = "127.0.0.84"
catch_all = true

[[hosts]]
name = "mx.plain.test"
address = "127.0.0.85"
catch_all = true

[[hosts]]
name = "mx.bogus.test"
address = "127.0.0.86"
catch_all = true
"#;

/// `mxray diagnose DOMAIN --json` through the validating resolver, with the lab's SMTP port
/// and CA: the report.
fn diagnose_through(
    lab: &TestLab,
    unbound: &Unbound,
    domain: &str,
    only: &str,
) -> serde_json::Value {
    let (resolver, port, ca) = (
        unbound.addr.to_string(),
        lab.smtp_port().to_string(),
        lab.ca_file.display().to_string(),
    );
    let out = crate::util::mxray(
        &[
            "diagnose",
            domain,
            "--json",
            "--only",
            only,
            "--resolver",
            &resolver,
            "--smtp-port",
            &port,
            "--ca-file",
            &ca,
        ],
        None,
    );
    let v = crate::util::json(&out);
    crate::util::conforms(&["diagnose"], &v);
    v
}

fn with(v: &serde_json::Value, severity: &str) -> Vec<String> {
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == severity)
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect()
}

fn finding<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == id))
        .unwrap_or_else(|| panic!("no {id}: {v:#}"))
}

#[test]
fn dane_verdicts_as_a_dane_enforcing_sender_sees_them() {
    let lab = TestLab::start(DANE_WORLD, "dane.toml");
    let unbound = Unbound::start(&lab);
    // DANE-EE and DANE-TA, validated and matching.
    for d in ["ee.test", "ta.test"] {
        let v = diagnose_through(&lab, &unbound, d, "tls");
        assert!(
            with(&v, "pass").contains(&"dane.ok".to_string()),
            "{d}: {v:#}\n{}",
            unbound.log()
        );
        assert!(
            !with(&v, "fail").iter().any(|i| i.starts_with("dane.")),
            "{d}: {v:#}"
        );
        assert!(
            !with(&v, "warn").contains(&"dane.unsigned".to_string()),
            "{d}: AD expected"
        );
    }
    // DANE-TA: the anchor matches, the certificate names another host.
    let v = diagnose_through(&lab, &unbound, "taname.test", "tls");
    let m = finding(&v, "dane.mismatch");
    assert!(
        m["title"].as_str().unwrap_or("").contains("does not name"),
        "{m:#}"
    );
    assert_eq!(v["verdict"]["side"], "recipient", "{:#}", v["verdict"]);
    // A wrong digest in a validated zone: every DANE sender defers; the verdict says so.
    let v = diagnose_through(&lab, &unbound, "wrong.test", "tls");
    let m = finding(&v, "dane.mismatch");
    assert_eq!(m["severity"], "fail");
    assert!(
        m["fix"]
            .as_str()
            .unwrap_or("")
            .contains("3 1 1 current + 3 1 1 next"),
        "{m:#}"
    );
    assert_eq!(v["verdict"]["overall"], "degraded", "{:#}", v["verdict"]);
    assert_eq!(v["verdict"]["side"], "recipient", "{:#}", v["verdict"]);
    // TLSA in an unsigned zone: said, and neither matched nor failed.
    let v = diagnose_through(&lab, &unbound, "plain.test", "tls");
    assert!(
        with(&v, "warn").contains(&"dane.unsigned".to_string()),
        "{v:#}"
    );
    assert!(!with(&v, "pass").contains(&"dane.ok".to_string()), "{v:#}");
    assert!(
        !with(&v, "fail").contains(&"dane.mismatch".to_string()),
        "{v:#}"
    );
    // Expired signatures: SERVFAIL from the validating resolver, data under CD: bogus,
    // the recipient's fault.
    let v = diagnose_through(&lab, &unbound, "bogus.test", "dns,transport");
    assert!(
        with(&v, "fail").contains(&"dnssec.bogus".to_string()),
        "{v:#}\n{}",
        unbound.log()
    );
    assert!(
        !with(&v, "fail").contains(&"dns.servfail".to_string()),
        "{v:#}"
    );
    assert_eq!(v["verdict"]["overall"], "broken");
    assert_eq!(v["verdict"]["side"], "recipient");
    // The evidence says why: the signature over the MX records expired.
    let evidence = finding(&v, "dnssec.bogus")["evidence"].to_string();
    assert!(
        evidence.contains("RRSIG over MX by key") && evidence.contains("EXPIRED 1 day(s)"),
        "{evidence}"
    );
}
