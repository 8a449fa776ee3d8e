//! `mxray diagnose` end to end: the real binary against the lab over real sockets, one lab
//! domain per finding id (tests/data/diagnose.toml), the score, bulk mode and exit codes.

use std::net::{SocketAddr, TcpListener};
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::{TestLab, conforms, json, json_lines, mxray, mxray_lab};

fn lab() -> &'static TestLab {
    static LAB: OnceLock<(TestLab, Option<TcpListener>)> = OnceLock::new();
    &LAB.get_or_init(|| {
        let lab = TestLab::start(
            include_str!("data/diagnose.toml"),
            "tests/data/diagnose.toml",
        );
        // A listener that never accepts, with its backlog filled, makes new connections hang
        // like a firewall that drops SYNs.
        let addr = SocketAddr::new([127, 0, 1, 11].into(), lab.lab().smtp_port());
        let blackhole = blackhole(addr);
        (lab, blackhole)
    })
    .0
}

fn blackhole(addr: SocketAddr) -> Option<TcpListener> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    sock.bind(&addr.into()).ok()?;
    sock.listen(0).ok()?;
    // Fill the accept queue so the kernel starts dropping further SYNs.
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
        s.set_nonblocking(true).ok()?;
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    std::mem::forget(fillers);
    Some(sock.into())
}

fn diagnose(target: &str, extra: &[&str]) -> (i32, Value) {
    let https = lab()
        .lab()
        .https_addr()
        .map(|a| a.port().to_string())
        .unwrap_or_else(|| "443".into());
    let mut args = vec![
        "diagnose",
        target,
        "--json",
        "--timeout",
        "2s",
        "--greeting-wait",
        "6s",
        "--dnsbl-file",
        DNSBL_FILE,
        "--https-port",
        &https,
    ];
    args.extend_from_slice(extra);
    let out = mxray_lab(lab(), &args);
    assert!(
        !out.stdout.is_empty(),
        "{target}: exit {}, stderr: {}",
        out.code,
        out.stderr
    );
    (out.code, json(&out))
}

/// The lab's blocklists.
const DNSBL_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dnsbl.txt");

fn ids(v: &Value, severity: &str) -> Vec<String> {
    v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["severity"] == severity)
                .filter_map(|f| f["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn has(v: &Value, severity: &str, id: &str) -> bool {
    ids(v, severity).iter().any(|x| x == id)
}

#[track_caller]
fn expect(target: &str, extra: &[&str], severity: &str, id: &str) -> Value {
    let (_, v) = diagnose(target, extra);
    assert!(
        has(&v, severity, id),
        "{target}: expected {severity} {id}; fails {:?}, warns {:?}",
        ids(&v, "fail"),
        ids(&v, "warn")
    );
    v
}

#[test]
fn healthy_domain_is_a_deliverable_path_with_no_failures() {
    let (code, v) = diagnose("healthy.test", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert!(ids(&v, "fail").is_empty(), "{:?}", ids(&v, "fail"));
    assert!(ids(&v, "warn").is_empty(), "{:?}", ids(&v, "warn"));
    assert_eq!(v["verdict"]["overall"], "deliverable_path");
    for id in ["mx.present", "smtp.ok", "tls.ok", "rdns.ok"] {
        assert!(has(&v, "pass", id), "{id}");
    }
    // Both MX hosts were probed, in preference order.
    let hosts = v["verdict"]["hosts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(hosts.len(), 2);
    assert!(
        hosts[0]["host"]
            .as_str()
            .unwrap_or("")
            .starts_with("mx1.healthy.test")
    );
}

#[test]
fn probe_accepts_a_known_mailbox() {
    let v = expect(
        "alice@healthy.test",
        &["--probe"],
        "pass",
        "smtp.rcpt_accepted",
    );
    assert_eq!(v["verdict"]["overall"], "deliverable_path");
}

#[test]
fn dns_failures() {
    expect("servfail.test", &[], "fail", "dns.servfail");
    let v = expect("timeout.test", &["--timeout", "1s"], "fail", "dns.timeout");
    assert_eq!(v["verdict"]["side"], "path");
    expect("missing.healthy.test", &[], "fail", "domain.nxdomain");
}

#[test]
fn target_problems() {
    // One invalid target is an input error (exit 2, no report, no score); in a list it is a
    // row with domain.invalid (see the bulk test).
    for bad in ["not a domain", ""] {
        let out = mxray_lab(lab(), &["diagnose", bad, "--json"]);
        assert_eq!(out.code, 2, "{bad:?}");
        assert!(out.stdout.is_empty(), "{bad:?}: {}", out.stdout);
        assert!(out.stderr.contains("example.com"), "{}", out.stderr);
    }
    let (_, v) = diagnose("someone@gmial.com", &[]);
    assert!(has(&v, "warn", "domain.typo"), "{v:#}");
    assert!(v.to_string().contains("gmail.com"));
}

#[test]
fn mx_shapes() {
    let v = expect("null.test", &[], "fail", "mx.null");
    assert_eq!(v["verdict"]["overall"], "broken");
    expect("implicit.test", &[], "warn", "mx.implicit");
    expect("nothing.test", &[], "fail", "mx.no_address");
    expect("cname.test", &[], "warn", "mx.cname");
    expect("literal.test", &[], "fail", "mx.ip_literal");
    expect("noaddr.test", &[], "fail", "mx.no_address");
    expect("dup.test", &[], "warn", "mx.duplicate");
}

#[test]
fn connection_failures() {
    let v = expect("refused.test", &[], "fail", "smtp.refused");
    assert!(has(&v, "fail", "smtp.all_mx_down"));
    assert_eq!(v["verdict"]["overall"], "broken");
    expect(
        "blackhole.test",
        &["--timeout", "1s"],
        "fail",
        "smtp.connect_timeout",
    );
    let v = expect("partial.test", &[], "warn", "smtp.some_mx_down");
    assert_eq!(v["verdict"]["overall"], "degraded");
}

#[test]
fn silent_hosts_are_inconclusive_never_down() {
    let v = expect(
        "silent.test",
        &["--greeting-wait", "1s"],
        "warn",
        "smtp.silent",
    );
    assert_eq!(v["verdict"]["overall"], "inconclusive");
    assert!(!has(&v, "fail", "smtp.all_mx_down"));
}

#[test]
fn slow_greeting_is_reported_with_the_time_waited() {
    let v = expect("slow.test", &[], "warn", "smtp.slow_greeting");
    assert_eq!(
        v["verdict"]["overall"], "deliverable_path",
        "a tarpit still takes mail"
    );
}

#[test]
fn banners_are_decoded() {
    let v = expect("banner421.test", &[], "fail", "smtp.banner_4xx");
    assert!(v.to_string().contains("4.4.0"));
    expect("banner554.test", &[], "fail", "smtp.banner_5xx");
}

#[test]
fn drops_name_the_step() {
    let v = expect("drop.test", &[], "fail", "smtp.dropped");
    let f = v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "smtp.dropped").cloned())
        .unwrap_or_default();
    assert!(
        f["title"]
            .as_str()
            .unwrap_or("")
            .contains("dropped the session at"),
        "{f:#}"
    );
}

#[test]
fn rcpt_outcomes() {
    let (code, v) = diagnose("nobody@mailboxes.test", &["--probe"]);
    assert_eq!(code, 1);
    assert!(has(&v, "fail", "smtp.rcpt_rejected"), "{v:#}");
    let v = expect(
        "alice@greylist.test",
        &["--probe"],
        "warn",
        "smtp.rcpt_deferred",
    );
    assert_eq!(v["verdict"]["overall"], "degraded");
}

#[test]
fn tls_findings() {
    expect("notls.test", &[], "warn", "tls.missing");
    expect("brokentls.test", &[], "warn", "tls.handshake_failed");
    expect("expired.test", &[], "fail", "tls.cert_expired");
    expect("selfsigned.test", &[], "warn", "tls.cert_untrusted");
    expect("wrongname.test", &[], "warn", "tls.cert_name_mismatch");
    let v = expect("expiring.test", &[], "warn", "tls.cert_expiring");
    assert!(
        v.to_string().contains("expires in 4 day") || v.to_string().contains("expires in 5 day")
    );
}

#[test]
fn ehlo_refused_falls_back_to_helo() {
    let v = expect("noesmtp.test", &[], "warn", "smtp.ehlo_rejected");
    assert!(has(&v, "pass", "smtp.ok"), "HELO still works");
}

#[test]
fn reverse_dns_findings() {
    expect("noptr.test", &[], "warn", "rdns.missing");
    expect("badptr.test", &[], "warn", "rdns.mismatch");
}

#[test]
fn human_report_puts_the_verdict_first() {
    let out = mxray_lab(lab(), &["diagnose", "refused.test", "--timeout", "2s"]);
    assert_eq!(out.code, 1);
    let first = out.stdout.lines().next().unwrap_or("");
    assert!(first.contains("BROKEN"), "{}", out.stdout);
    assert!(out.stdout.contains("fix:"));
    assert!(out.stdout.contains("smtp.refused"));
}

#[test]
fn bulk_input_streams_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("domains.txt");
    std::fs::write(
        &list,
        "# lab domains\nhealthy.test\nrefused.test\n\nnull.test\nnot a domain\n",
    )
    .expect("write");
    let list = list.display().to_string();
    let out = mxray_lab(
        lab(),
        &[
            "diagnose",
            "--input",
            &list,
            "--json",
            "--timeout",
            "2s",
            "--concurrency",
            "3",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<Value> = json_lines(&out);
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    let targets: Vec<&str> = lines.iter().filter_map(|l| l["target"].as_str()).collect();
    for t in ["healthy.test", "refused.test", "null.test", "not a domain"] {
        assert!(targets.contains(&t), "{t} in {targets:?}");
    }
}

#[test]
fn dead_resolver_is_an_environment_error() {
    // A UDP port nobody answers on: bind it, never read.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = sock.local_addr().expect("addr").to_string();
    let out = mxray(
        &[
            "diagnose",
            "healthy.test",
            "--resolver",
            &addr,
            "--timeout",
            "1s",
        ],
        None,
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("resolver"), "{}", out.stderr);
}

/// 500 domains whose MX records share five hosts: the run must finish every domain and never
/// open more than `--per-address` connections to one host at once, whatever `--concurrency` is.
#[test]
fn bulk_500_domains_is_polite_to_shared_mx_hosts() {
    let mut toml = String::from("[lab]\nname = \"bulk\"\n");
    for h in 0..5 {
        toml.push_str(&format!(
            "\n[[hosts]]\nname = \"mx{h}.bulk-hosts.test\"\naddress = \"127.0.2.{}\"\ncatch_all = true\nlatency = \"20ms\"\n",
            h + 1
        ));
    }
    let mut list = String::new();
    for d in 0..500 {
        toml.push_str(&format!(
            "\n[[domains]]\nname = \"d{d}.bulk.test\"\nmx = [\"10 mx{}.bulk-hosts.test\"]\n",
            d % 5
        ));
        list.push_str(&format!("postmaster@d{d}.bulk.test\n"));
    }
    let lab = TestLab::start(&toml, "bulk");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("list.txt");
    std::fs::write(&path, list).expect("write list");
    let path = path.display().to_string();
    let out = mxray_lab(
        &lab,
        &[
            "diagnose",
            "--input",
            &path,
            "--json",
            "--concurrency",
            "64",
            "--per-address",
            "2",
            "--timeout",
            "5s",
            "--only",
            "dns,transport,tls",
            "--probe",
        ],
    );
    let lines: Vec<Value> = json_lines(&out);
    assert_eq!(lines.len(), 500, "stderr: {}", out.stderr);
    let good = lines
        .iter()
        .filter(|l| l["verdict"]["overall"] == "deliverable_path")
        .count();
    assert!(good >= 490, "only {good} of 500 deliverable");
    let stats = lab.lab().stats();
    for h in &stats.smtp {
        let peak = h
            .clients
            .values()
            .map(|c| c.peak_concurrency)
            .max()
            .unwrap_or(0);
        assert!(
            peak <= 2,
            "{} saw {peak} simultaneous connections from one client",
            h.name
        );
        assert!(
            h.totals.connections >= 100,
            "{} got {} connections",
            h.name,
            h.totals.connections
        );
    }

    // Without --probe the conversation with an MX address is the same for every domain that
    // uses it: one connection per MX address for the whole run.
    let lab = TestLab::start(&toml, "bulk-domains");
    let domains: String = (0..500).map(|d| format!("d{d}.bulk.test\n")).collect();
    std::fs::write(&path, domains).expect("write list");
    let out = mxray_lab(
        &lab,
        &[
            "diagnose",
            "--input",
            &path,
            "--json",
            "--concurrency",
            "64",
            "--only",
            "dns,transport,tls",
        ],
    );
    assert_eq!(out.stdout.lines().count(), 500, "stderr: {}", out.stderr);
    for h in &lab.lab().stats().smtp {
        assert_eq!(h.totals.connections, 1, "{} probed more than once", h.name);
    }
}

/// Ctrl-C in a bulk run stops it, keeps what was already written, and says how far it got.
#[test]
fn interrupting_a_bulk_run_keeps_finished_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("list.txt");
    // Silent hosts make each target take the whole greeting wait, so the run is still going.
    let mut list = String::from("healthy.test\n");
    for _ in 0..20 {
        list.push_str("silent.test\n");
    }
    std::fs::write(&path, list).expect("write list");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args([
        "diagnose",
        "--input",
        &path.display().to_string(),
        "--json",
        "--concurrency",
        "2",
        "--greeting-wait",
        "30s",
        "--only",
        "dns,transport",
    ])
    .args(lab().flags())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let done: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for d in &done {
        conforms(&["diagnose"], d);
    }
    assert!(
        done.iter().any(|l| l["target"] == "healthy.test"),
        "{stdout}"
    );
    assert!(done.len() < 21);
}

// --- part 2: the sender side and the score ---------------------------------------------------

fn finding(v: &Value, id: &str) -> Value {
    v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == id).cloned())
        .unwrap_or_default()
}

#[test]
fn well_configured_domain_scores_100() {
    let (code, v) = diagnose(
        "healthy.test",
        &["--sender-ip", "127.0.1.50", "--dkim-selector", "s1"],
    );
    assert_eq!(code, 0, "fails {:?}", ids(&v, "fail"));
    assert!(ids(&v, "warn").is_empty(), "{:?}", ids(&v, "warn"));
    assert_eq!(v["score"]["overall"], 100, "{:#}", v["score"]);
    for a in v["score"]["areas"].as_array().cloned().unwrap_or_default() {
        assert_eq!(a["score"], 100, "{a:#}");
    }
    for id in [
        "spf.ok",
        "spf.sender_ip_pass",
        "dkim.ok",
        "dmarc.ok",
        "mta_sts.ok",
        "tlsrpt.ok",
        "bimi.ok",
        "dnsbl.clean",
        "rdns.sender_ok",
    ] {
        assert!(has(&v, "pass", id), "{id}");
    }
    // A list that refuses queries is reported as unusable, never as listed or clean.
    let u = finding(&v, "dnsbl.unusable");
    assert_eq!(u["severity"], "info");
    assert!(
        u["title"]
            .as_str()
            .unwrap_or("")
            .contains("refusing.dnsbl.test")
    );
    assert!(
        u["detail"]
            .as_str()
            .unwrap_or("")
            .contains("127.255.255.254")
    );
    assert!(
        !finding(&v, "dnsbl.clean")["detail"]
            .as_str()
            .unwrap_or("")
            .contains("refusing")
    );
}

#[test]
fn score_is_in_the_terminal_report() {
    let out = mxray_lab(
        lab(),
        &[
            "diagnose",
            "nosender.test",
            "--timeout",
            "2s",
            "--dnsbl-file",
            DNSBL_FILE,
        ],
    );
    assert_eq!(out.code, 1);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("score"))
        .unwrap_or_default();
    assert!(
        line.contains("/100") && line.contains("auth"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("spf.missing") && out.stdout.contains("dmarc.missing"));
}

#[test]
fn spf_record_findings() {
    let v = expect("nosender.test", &[], "fail", "spf.missing");
    assert!(v["score"]["overall"].as_u64().unwrap_or(100) < 100);
    expect("spf-multi.test", &[], "fail", "spf.multiple");
    let v = expect("spf-syntax.test", &[], "fail", "spf.syntax");
    assert!(v.to_string().contains("127.0.1.300"));
    let v = expect("spf-lookups.test", &[], "fail", "spf.too_many_lookups");
    let f = finding(&v, "spf.too_many_lookups");
    assert!(
        f["title"].as_str().unwrap_or("").contains("12 DNS lookups"),
        "{f:#}"
    );
    assert!(
        f["evidence"]
            .to_string()
            .contains("include:l2.spf-lookups.test"),
        "the chain is shown: {f:#}"
    );
    let v = expect("spf-void.test", &[], "fail", "spf.void_lookups");
    assert!(
        finding(&v, "spf.void_lookups")["title"]
            .as_str()
            .unwrap_or("")
            .contains('3')
    );
    expect("spf-all.test", &[], "fail", "spf.permissive_all");
    expect("spf-ptr.test", &[], "warn", "spf.ptr");
}

#[test]
fn sender_ip_evaluation_blocklists_and_rdns() {
    // 127.0.1.66: not in healthy.test's SPF, on bl.dnsbl.test, no PTR.
    let v = expect(
        "healthy.test",
        &["--sender-ip", "127.0.1.66", "--only", "auth,reputation"],
        "fail",
        "spf.sender_ip_fail",
    );
    assert!(
        finding(&v, "spf.sender_ip_fail")["title"]
            .as_str()
            .unwrap_or("")
            .contains("fail")
    );
    let listed = finding(&v, "dnsbl.listed");
    assert_eq!(listed["severity"], "fail", "{v:#}");
    let text = listed.to_string();
    assert!(
        text.contains("bl.dnsbl.test") && text.contains("spam trap hits"),
        "{text}"
    );
    assert!(has(&v, "fail", "rdns.sender_missing"));
    assert_eq!(
        v["score"]["areas"][1]["score"],
        Value::Null,
        "transport not checked"
    );
    assert_eq!(v["verdict"]["overall"], "inconclusive");
    expect(
        "healthy.test",
        &["--sender-ip", "127.0.1.67", "--only", "reputation"],
        "fail",
        "rdns.sender_mismatch",
    );
    expect(
        "healthy.test",
        &["--sender-ip", "127.0.1.68", "--only", "reputation"],
        "warn",
        "rdns.sender_generic",
    );
}

#[test]
fn dkim_findings() {
    expect(
        "healthy.test",
        &["--dkim-selector", "nokey", "--only", "auth"],
        "fail",
        "dkim.not_found",
    );
    let v = expect(
        "dkimbad.test",
        &["--dkim-selector", "old", "--only", "auth"],
        "fail",
        "dkim.weak_key",
    );
    assert!(
        finding(&v, "dkim.weak_key")["title"]
            .as_str()
            .unwrap_or("")
            .contains("512")
    );
    assert!(has(&v, "fail", "dkim.revoked"), "{:?}", ids(&v, "fail"));
    // No name under _domainkey: NXDOMAIN there, so the common selectors are not asked.
    let v = expect(
        "nosender.test",
        &["--only", "auth"],
        "warn",
        "dkim.not_found",
    );
    let detail = finding(&v, "dkim.not_found")["detail"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        detail.starts_with("_domainkey.nosender.test does not exist (NXDOMAIN)"),
        "{detail}"
    );
    assert_eq!(v["observations"]["sender"]["dkim"], Value::Array(vec![]));
    // A key below it (an empty non-terminal at _domainkey): the sweep runs and finds s1.
    let v = expect("healthy.test", &["--only", "auth"], "pass", "dkim.ok");
    assert!(
        finding(&v, "dkim.ok")["detail"]
            .as_str()
            .unwrap_or("")
            .contains("found by the common-selector sweep")
    );
}

#[test]
fn dmarc_findings() {
    expect(
        "nosender.test",
        &["--only", "auth"],
        "fail",
        "dmarc.missing",
    );
    expect(
        "dmarc-multi.test",
        &["--only", "auth"],
        "fail",
        "dmarc.multiple",
    );
    expect(
        "dmarc-syntax.test",
        &["--only", "auth"],
        "fail",
        "dmarc.syntax",
    );
    let v = expect(
        "dmarc-none.test",
        &["--only", "auth"],
        "warn",
        "dmarc.policy_none",
    );
    assert!(has(&v, "warn", "dmarc.no_rua"));
    let v = expect(
        "dmarc-ext.test",
        &["--only", "auth"],
        "warn",
        "dmarc.rua_unauthorized",
    );
    assert!(
        v.to_string()
            .contains("dmarc-ext.test._report._dmarc.reports-elsewhere.test")
    );
}

#[test]
fn mta_sts_tlsrpt_and_dane() {
    let v = expect(
        "sts-unreach.test",
        &["--only", "tls"],
        "fail",
        "mta_sts.policy_unreachable",
    );
    assert!(v.to_string().contains("mta-sts.sts-unreach.test"));
    let v = expect(
        "sts-mismatch.test",
        &["--only", "tls"],
        "fail",
        "mta_sts.mx_mismatch",
    );
    assert!(
        finding(&v, "mta_sts.mx_mismatch")["title"]
            .as_str()
            .unwrap_or("")
            .contains("mx2.healthy.test")
    );
    assert!(has(&v, "warn", "tlsrpt.missing"));
    // TLSA records in an unsigned zone are ignored by DANE senders (RFC 7672 2.2): said
    // plainly, and neither a match nor a mismatch is judged (the signed cases: tests/dnssec.rs).
    let v = expect("dane.test", &["--only", "tls"], "warn", "dane.unsigned");
    assert!(!has(&v, "fail", "dane.mismatch"), "{v:#}");
    assert!(!has(&v, "pass", "dane.ok"), "{v:#}");
}

/// Standard output closed by its reader (`| head -1`): the run ends quietly with exit 141,
/// the same for human and JSON output, never "Broken pipe" and exit 3 or a false 0.
#[test]
fn a_closed_stdout_ends_quietly_with_141() {
    for json in [false, true] {
        let mut args: Vec<String> = vec!["diagnose".into(), "banner-421.test".into()];
        if json {
            args.push("--json".into());
        }
        args.extend(lab().flags());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mxray"))
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // The reader goes away before a byte is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(141), "json {json}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// -q shortens the report to its verdict line.
#[test]
fn quiet_prints_the_verdict_in_one_line() {
    let long = mxray_lab(lab(), &["diagnose", "healthy.test"]);
    let short = mxray_lab(lab(), &["diagnose", "healthy.test", "-q"]);
    assert_eq!(short.stdout.lines().count(), 1, "{}", short.stdout);
    assert!(long.stdout.lines().count() > 3);
    assert!(
        short.stdout.contains("deliverable path"),
        "{}",
        short.stdout
    );
    assert_eq!(short.code, long.code);
}

/// --public-only: the lab's loopback MX is named, not connected to, and the verdict is
/// inconclusive (untested), never broken; --allow-private opens the range again.
#[test]
fn public_only_does_not_connect_to_private_addresses() {
    let (code, v) = diagnose(
        "healthy.test",
        &["--public-only", "--only", "dns,transport,tls"],
    );
    let refused: Vec<&Value> = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            f["id"] == "net.private_address"
                && f["title"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Not connected to"))
        })
        .collect();
    assert!(!refused.is_empty(), "{v:#}");
    assert!(
        refused[0]["fix"]
            .as_str()
            .is_some_and(|f| f.contains("--allow-private")),
        "{v:#}"
    );
    assert_eq!(v["verdict"]["overall"], "inconclusive", "{v:#}");
    assert_eq!(code, 0, "nothing failed: nothing was tested");
    // Not one byte went to the host: the observation holds the refusal, no transcript.
    let addr = &v["observations"]["hosts"][0]["addrs"][0];
    assert_eq!(addr["connect"]["Err"]["kind"], "not_allowed", "{addr:#}");
    assert!(
        addr["transcript"].as_array().is_none_or(|t| t.is_empty()),
        "{addr:#}"
    );

    let (_, v) = diagnose(
        "healthy.test",
        &[
            "--public-only",
            "--allow-private",
            "127.0.0.0/8",
            "--only",
            "dns,transport,tls",
        ],
    );
    assert_eq!(v["verdict"]["overall"], "deliverable_path", "{v:#}");

    let out = mxray_lab(
        lab(),
        &["diagnose", "healthy.test", "--allow-private", "10.0.0.0/8"],
    );
    assert_eq!(
        out.code, 2,
        "--allow-private needs --public-only: {}",
        out.stderr
    );
    let out = mxray_lab(
        lab(),
        &[
            "diagnose",
            "healthy.test",
            "--public-only",
            "--allow-private",
            "not-a-range",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("is not an address range"),
        "{}",
        out.stderr
    );
}
