//! `mxray lab serve` and `mxray lab demo` end to end, driven the way a shell script drives them:
//! start in the background, wait for the ready file, use it, stop with a signal.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{conforms, json, mxray};

fn spawn_serve(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(["lab", "serve"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mxray lab serve")
}

fn wait_for(path: &Path, child: &mut Child) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            conforms(&["lab-ready"], &v);
            return v;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("lab serve exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no ready file after 20 s");
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
}

#[test]
fn serve_writes_a_ready_file_that_other_verbs_use_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("lab.json");
    let mut child = spawn_serve(&["seeds", "--ready-file", &ready.display().to_string()]);
    let info = wait_for(&ready, &mut child);
    let resolver = info["resolver"].as_str().expect("resolver").to_string();
    let port = info["smtp_port"].as_u64().expect("smtp_port").to_string();
    let https = info["https_port"].as_u64().expect("https_port").to_string();
    assert!(info["hosts"].as_array().is_some_and(|h| h.len() > 10));
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, info["ca_pem"].as_str().expect("ca_pem")).expect("write ca");

    let out = mxray(
        &[
            "diagnose",
            "ok.test",
            "--json",
            "--resolver",
            &resolver,
            "--smtp-port",
            &port,
            "--ca-file",
            &ca.display().to_string(),
            "--https-port",
            &https,
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = json(&out);
    assert_eq!(v["verdict"]["overall"], "deliverable_path");

    signal(&child, "-TERM");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("mx.ok.test"),
        "the counters print on exit: {stdout}"
    );
    assert!(!ready.exists(), "the ready file is removed on exit");
}

#[test]
fn a_bad_scenario_exits_2_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[hosts]]\nname = \"mx.bad.test\"\naddress = \"192.0.2.1\"\n",
    )
    .expect("write");
    let out = mxray(&["lab", "serve", &path.display().to_string()], None);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bad.toml:3"), "{}", out.stderr);
    assert!(out.stderr.contains("loopback"), "{}", out.stderr);
    let out = mxray(&["lab", "serve", "/nonexistent/scenario.toml"], None);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn a_taken_port_exits_3() {
    let taken = std::net::TcpListener::bind("127.0.0.10:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = mxray(&["lab", "serve", "seeds", "--smtp-port", &port], None);
    assert_eq!(out.code, 3, "{}", out.stderr);
}

#[test]
fn demo_diagnoses_every_seed_failure() {
    let out = mxray(&["lab", "demo", "--json"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = json(&out);
    let reports = v["reports"].as_array().cloned().unwrap_or_default();
    let find = |target: &str| {
        reports
            .iter()
            .find(|r| r["target"] == target)
            .unwrap_or_else(|| panic!("{target} not in the demo"))
            .clone()
    };
    let has = |r: &Value, id: &str| {
        r["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["id"] == id))
    };
    assert!(has(&find("banner-421.test"), "smtp.banner_4xx"));
    assert!(has(&find("null-mx.test"), "mx.null"));
    assert!(has(&find("expired-cert.test"), "tls.cert_expired"));
    assert!(has(&find("alice@greylist.test"), "smtp.rcpt_deferred"));
    assert!(has(&find("alice@routing-443.test"), "smtp.dropped"));
    assert!(has(&find("silent.test"), "smtp.silent"));
    assert_eq!(find("ok.test")["verdict"]["overall"], "deliverable_path");
    // verify runs on the same world: greylisting is retried, a 421 greeting is never "invalid".
    let verified = v["verify"].as_array().cloned().unwrap_or_default();
    let verdict = |a: &str| {
        verified
            .iter()
            .find(|x| x["address"] == a)
            .map(|x| x["verdict"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert_eq!(verdict("alice@greylist.test"), "deliverable");
    assert_eq!(verdict("nobody@ok.test"), "undeliverable");
    assert_eq!(verdict("x@banner-421.test"), "unknown");
    // And the human form names each domain with its verdict.
    let out = mxray(&["lab", "demo"], None);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("tarpit.test") && out.stdout.contains("smtp.slow_greeting"));
}

/// `mxray lab serve seeds --ready-file lab.json &`, as the README and `--help` show it, keeps
/// running in the background of an interactive shell: it reads Enter only in the foreground
/// (it used to read the terminal and be stopped by the shell, "Stopped (tty input)").
#[test]
fn lab_serve_runs_in_the_background_of_a_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("lab.json");
    let bin = env!("CARGO_BIN_EXE_mxray");
    // script(1) (util-linux) gives bash a terminal, so job control is as a user has it.
    let inner = format!(
        "{bin} lab serve seeds --ready-file {} & for i in $(seq 100); do test -s {} && break; sleep 0.1; done; jobs -l; kill %1; wait",
        ready.display(),
        ready.display()
    );
    let out = Command::new("script")
        .args(["-qec", &format!("bash --norc -ic '{inner}'"), "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux is needed: apt-get install util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Running"), "{text}");
    assert!(!text.contains("Stopped"), "{text}");
    assert!(text.contains("lab \"seeds\" ready"), "{text}");
}

/// `lab serve --json`: the ready document is the first line of standard output, and the
/// counters come as JSON when it stops (not ignored, not human text).
#[test]
fn serve_json_prints_ready_and_counters_as_json() {
    use std::io::{BufRead, BufReader, Read};
    let mut child = spawn_serve(&["seeds", "--json"]);
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("first line");
    let ready: Value = serde_json::from_str(&first).expect("ready JSON");
    conforms(&["lab-ready"], &ready);
    assert!(ready["resolver"].is_string(), "{ready}");
    signal(&child, "-TERM");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("rest");
    let _ = child.wait();
    let stats: Value = serde_json::from_str(rest.trim()).expect("counters JSON");
    conforms(&["lab-stats"], &stats);
    assert!(stats["dns"].is_object(), "{stats}");
}

/// A host's behaviour changed while the lab runs (the dashboard's "a healthy host starts
/// answering 421"), then restored: each session sees the behaviour of its start.
#[test]
fn a_host_can_start_answering_421_and_recover_while_the_lab_runs() {
    use crate::util::{TestLab, json_lines, mxray_lab};
    let lab = TestLab::start(
        "[lab]\nname = \"change\"\n\n[[domains]]\nname = \"flip.test\"\nmx = [\"10 mx.flip.test\"]\n\n[[hosts]]\nname = \"mx.flip.test\"\naddress = \"127.0.31.1\"\nmailboxes = [\"alice\"]\n",
        "change",
    );
    let verdict = || {
        let out = mxray_lab(
            &lab,
            &["verify", "alice@flip.test", "--json", "--deadline", "1s"],
        );
        let v = json_lines(&out);
        assert_eq!(v.len(), 1, "{}", out.stderr);
        (
            v[0]["verdict"].as_str().unwrap_or_default().to_string(),
            v[0]["reply"]["code"].as_u64().unwrap_or_default(),
        )
    };
    assert_eq!(verdict(), ("deliverable".to_string(), 250));
    lab.lab()
        .change_host("mx.flip.test", |b| {
            b.banner = Some(
                mxray_lab::scenario::Reply::parse(
                    "421 4.3.2 System not accepting network messages",
                )
                .expect("reply"),
            );
        })
        .expect("change");
    assert_eq!(
        verdict(),
        ("unknown".to_string(), 421),
        "transient, never invalid"
    );
    lab.lab().restore_host("mx.flip.test").expect("restore");
    assert_eq!(verdict(), ("deliverable".to_string(), 250));
    assert!(
        lab.lab().change_host("mx.nowhere.test", |_| {}).is_err(),
        "an unknown host is an error"
    );
}
