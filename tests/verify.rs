//! `mxray verify` end to end against the bundled world.toml: every verdict and reason checked
//! against the scenario's ground truth, politeness checked with the lab's counters, and a
//! killed bulk run resumed with --state to the same answers as an uninterrupted one.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::util::{TestLab, conforms, json_lines, mxray_lab};

fn world() -> &'static TestLab {
    static LAB: OnceLock<TestLab> = OnceLock::new();
    LAB.get_or_init(|| TestLab::start(mxray_lab::bundled::WORLD, "world.toml"))
}

/// Flags that keep the transient cases short enough for a test.
const FAST: &[&str] = &[
    "--json",
    "--timeout",
    "2s",
    "--greeting-wait",
    "3s",
    "--greylist-retry",
    "2s",
    "--deadline",
    "12s",
];

fn results(out: &str) -> BTreeMap<String, Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .inspect(|v| conforms(&["verify"], v))
        .map(|v| (v["address"].as_str().unwrap_or_default().to_string(), v))
        .collect()
}

#[test]
fn verdicts_match_the_world_ground_truth() {
    let table = include_str!("data/verify-world.txt");
    let rows: Vec<(&str, &str, &str)> = table
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split(" | ").collect();
            (f[0], f[1], f[2])
        })
        .collect();
    let mut args: Vec<&str> = vec!["verify"];
    args.extend(rows.iter().map(|r| r.0));
    args.extend_from_slice(FAST);
    let out = mxray_lab(world(), &args);
    assert_eq!(
        out.code, 1,
        "undeliverable addresses exist: exit 1; stderr {}",
        out.stderr
    );
    let got = results(&out.stdout);
    let mut wrong = Vec::new();
    for (addr, verdict, reason) in &rows {
        match got.get(*addr) {
            None => wrong.push(format!("{addr}: no result")),
            Some(v) if v["verdict"] != *verdict || v["reason"] != *reason => wrong.push(format!(
                "{addr}: expected {verdict}/{reason}, got {}/{} ({})",
                v["verdict"], v["reason"], v["reply"]
            )),
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
    // Every result says why in words, whether a reply decided it or not.
    for (addr, v) in &got {
        let text = v["reply"]["text"].as_str().unwrap_or_default();
        assert!(!text.trim().is_empty(), "{addr}: no reason text: {v}");
    }
    // A transient failure is never "undeliverable".
    assert_eq!(got["dave@dressed.test"]["reply"]["code"], 452);
    assert_eq!(got["anyone@tls.test"]["catch_all"], true);
    assert!(
        got["grey3@polite.test"]["attempts"].as_u64().unwrap_or(0) >= 2,
        "greylisted first"
    );
}

/// 12 bulk hosts x 25 addresses: every answer matches the mailbox lists, sessions are reused
/// (far fewer connections than addresses) and no host ever saw more than --per-provider
/// sessions from us at once.
#[test]
fn bulk_run_is_correct_and_polite() {
    let lab = TestLab::start(mxray_lab::bundled::WORLD, "world.toml");
    let mut list = String::new();
    let mut truth = BTreeMap::new();
    for d in 1..=12 {
        for u in [
            1, 2, 3, 50, 99, 100, 150, 199, 200, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
        ] {
            let a = format!("user{u}@bulk{d:02}.test");
            list.push_str(&format!("{a}\n"));
            truth.insert(a, "deliverable");
        }
        for u in [0, 201, 500, 9999, 123456] {
            let a = format!("user{u}@bulk{d:02}.test");
            list.push_str(&format!("{a}\n"));
            truth.insert(a, "undeliverable");
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("list.txt");
    std::fs::write(&input, list).expect("write");
    let output = dir.path().join("out.csv");
    let out = mxray_lab(
        &lab,
        &[
            "verify",
            "--input",
            &input.display().to_string(),
            "--output",
            &output.display().to_string(),
            "--per-provider",
            "2",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let mut rd = csv::Reader::from_path(&output).expect("csv output");
    let mut seen = 0;
    for rec in rd.records() {
        let rec = rec.expect("record");
        let (addr, verdict) = (rec.get(0).unwrap_or(""), rec.get(2).unwrap_or(""));
        assert_eq!(truth.get(addr).copied(), Some(verdict), "{addr}");
        seen += 1;
    }
    assert_eq!(seen, truth.len());
    let stats = lab.lab().stats();
    let mut connections = 0;
    for h in stats.smtp.iter().filter(|h| h.name.starts_with("mx.bulk")) {
        connections += h.totals.connections;
        let peak = h
            .clients
            .values()
            .map(|c| c.peak_concurrency)
            .max()
            .unwrap_or(0);
        assert!(peak <= 2, "{} saw {peak} concurrent sessions", h.name);
    }
    assert!(
        connections <= 36,
        "{connections} connections for 300 addresses: sessions not reused"
    );
}

/// kill -9 in the middle, run the same command again: the output equals an uninterrupted run.
#[test]
fn a_killed_run_resumes_from_its_state_file() {
    let mut toml = String::from("[lab]\nname = \"resume\"\n");
    let mut list = String::new();
    for d in 0..4 {
        toml.push_str(&format!(
            "\n[[domains]]\nname = \"r{d}.test\"\nmx = [\"10 mx.r{d}.test\"]\n\n[[hosts]]\nname = \"mx.r{d}.test\"\naddress = \"127.0.5.{}\"\nmailbox_ranges = [{{ prefix = \"u\", count = 60 }}]\nlatency = \"25ms\"\n",
            d + 1
        ));
        for u in 0..80 {
            list.push_str(&format!("u{u}@r{d}.test\n"));
        }
    }
    let lab = TestLab::start(&toml, "resume");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("list.txt");
    std::fs::write(&input, &list).expect("write");
    let run = |output: &str, state: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
        cmd.args([
            "verify",
            "--input",
            &input.display().to_string(),
            "--output",
            output,
            "--state",
            state,
            "--per-provider",
            "1",
            "--rcpt-per-transaction",
            "5",
        ])
        .args(lab.flags())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        cmd
    };
    let full_out = dir.path().join("full.jsonl").display().to_string();
    let full_state = dir.path().join("full.db").display().to_string();
    let status = run(&full_out, &full_state).status().expect("run");
    assert_eq!(status.code(), Some(1));

    let out = dir.path().join("resumed.jsonl").display().to_string();
    let state = dir.path().join("resumed.db").display().to_string();
    let mut child = run(&out, &state).spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(1200));
    child.kill().expect("kill -9");
    let _ = child.wait();
    let partial = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .count();
    assert!(
        partial < 320,
        "the run was not interrupted ({partial} done)"
    );
    let status = run(&out, &state).status().expect("resume");
    assert_eq!(status.code(), Some(1));

    let key = |path: &str| -> BTreeMap<String, String> {
        std::fs::read_to_string(path)
            .expect("output")
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| {
                (
                    v["address"].as_str().unwrap_or("").to_string(),
                    format!("{}/{}", v["verdict"], v["reason"]),
                )
            })
            .collect()
    };
    let (a, b) = (key(&full_out), key(&out));
    assert_eq!(a.len(), 320);
    assert_eq!(a, b, "resumed output differs from the uninterrupted run");
    let lines = std::fs::read_to_string(&out)
        .expect("output")
        .lines()
        .count();
    assert_eq!(lines, 320, "no duplicates in the resumed output");
}

#[test]
fn csv_input_with_a_column_and_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("people.csv");
    std::fs::write(
        &input,
        "name,email\nAlice,alice@dressed.test\nNobody,nobody@dressed.test\n",
    )
    .expect("write");
    let out = mxray_lab(
        world(),
        &[
            "verify",
            "--input",
            &input.display().to_string(),
            "--column",
            "email",
            "--json",
            "--timeout",
            "2s",
        ],
    );
    let got = results(&out.stdout);
    assert_eq!(got["alice@dressed.test"]["verdict"], "deliverable");
    assert_eq!(got["nobody@dressed.test"]["verdict"], "undeliverable");
    let out = mxray_lab(
        world(),
        &[
            "verify",
            "--input",
            &input.display().to_string(),
            "--column",
            "mail",
        ],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no column"), "{}", out.stderr);
}

/// A malformed CSV (a stray quote swallowing the rows after it, or one never closed) is an
/// input error naming the line, exit 2, before any probe: no row is silently lost.
#[test]
fn a_malformed_csv_is_refused_before_any_probe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from("name,email\n");
    for i in 1..=20 {
        if i == 5 {
            text.push_str(&format!("\"Eve,user{i}@bulk01.test\n"));
        } else {
            text.push_str(&format!("P{i},user{i}@bulk01.test\n"));
        }
    }
    let input = dir.path().join("list.csv");
    std::fs::write(&input, text).expect("write");
    let out = mxray_lab(
        world(),
        &["verify", "--input", &input.display().to_string(), "--json"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains("line 6"), "{}", out.stderr);
    std::fs::write(&input, "email\na,\"unterminated").expect("write");
    let out = mxray_lab(
        world(),
        &["verify", "--input", &input.display().to_string(), "--json"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
}

/// A --source-ip this machine does not have is an environment error (exit 3) naming it,
/// before any probe, not a list of "unknown connection_failed" with blank reasons.
#[test]
fn a_source_ip_that_is_not_local_is_refused() {
    let out = mxray_lab(
        world(),
        &["verify", "alice@dressed.test", "--source-ip", "192.0.2.1"],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("--source-ip 192.0.2.1"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

/// Input with no address at all (an empty argument, an empty file, a header-only CSV, an
/// empty standard input) is exit 2 saying so, never a silent exit 0.
#[test]
fn empty_input_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").expect("write");
    let header = dir.path().join("header.csv");
    std::fs::write(&header, "name,email\n").expect("write");
    for args in [
        vec!["verify", ""],
        vec!["verify", "--input", empty.to_str().unwrap()],
        vec!["verify", "--input", header.to_str().unwrap()],
        vec!["verify", "--input", "-"],
    ] {
        let out = mxray_lab(world(), &args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("holds no addresses"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

/// Flags that would be ignored are usage errors (exit 2) saying what to do instead.
#[test]
fn ignored_flag_combinations_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("out.csv");
    for (args, says) in [
        (
            vec!["verify", "alice@dressed.test", "--column", "email"],
            "--column",
        ),
        (
            vec![
                "verify",
                "alice@dressed.test",
                "--output",
                csv.to_str().unwrap(),
                "--json",
            ],
            "--json with --output",
        ),
        (vec!["diagnose", "dressed.test", "--probe"], "--probe"),
    ] {
        let out = mxray_lab(world(), &args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
}

/// A run ends with a summary on stderr (counts by verdict and reason, sessions, probes), also
/// when results go to --output; -q leaves it out.
#[test]
fn a_run_ends_with_a_summary_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file = dir.path().join("out.jsonl");
    let out = mxray_lab(
        world(),
        &[
            "verify",
            "alice@dressed.test",
            "nobody@dressed.test",
            "--output",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    for want in [
        "2 results in",
        "1 deliverable (mailbox_exists 1)",
        "1 undeliverable (mailbox_unknown 1)",
        "RCPT probe",
    ] {
        assert!(
            out.stderr.contains(want),
            "missing {want:?}: {}",
            out.stderr
        );
    }
    let quiet = mxray_lab(world(), &["verify", "alice@dressed.test", "-q"]);
    assert!(!quiet.stderr.contains("results in"), "{}", quiet.stderr);
}

/// CSV in, CSV out: the output keeps the input's columns first (name, notes...), so it joins
/// back to the user's list; JSON carries the row as input_row.
#[test]
fn csv_output_keeps_the_input_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("people.csv");
    std::fs::write(
        &input,
        "name,email,notes\nAlice,alice@dressed.test,vip\nNobody,nobody@dressed.test,=1+1\n",
    )
    .expect("write");
    let output = dir.path().join("out.csv");
    let out = mxray_lab(
        world(),
        &[
            "verify",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let mut rd = csv::Reader::from_path(&output).expect("csv");
    let headers: Vec<String> = rd
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(&headers[..4], ["name", "email", "notes", "address"]);
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.expect("row")).collect();
    assert_eq!(&rows[0][0], "Alice");
    assert_eq!(&rows[0][2], "vip");
    assert_eq!(&rows[0][5], "deliverable");
    // The MX host's provider (none in the lab) and the address the session left from.
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    assert_eq!(&rows[0][col("provider")], "");
    assert!(
        rows[0][col("egress")]
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        "{:?}",
        &rows[0]
    );
    assert_eq!(
        &rows[1][2], "'=1+1",
        "a formula from the input is neutralised too"
    );
    let json = mxray_lab(
        world(),
        &["verify", "--input", input.to_str().unwrap(), "--json"],
    );
    let first: Value = json_lines(&json).into_iter().next().expect("json");
    assert_eq!(first["input_row"][0], "Alice");
}

/// A write that fails names where the results were going (here a full device).
#[test]
fn a_full_disk_names_the_output() {
    let out = mxray_lab(
        world(),
        &["verify", "alice@dressed.test", "--output", "/dev/full"],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("/dev/full"), "{}", out.stderr);
    assert!(out.stderr.contains("No space left"), "{}", out.stderr);
}

/// --public-only: an address whose MX is private is unknown (private_address), never probed;
/// --allow-private opens the lab's range.
#[test]
fn public_only_leaves_private_mx_hosts_alone() {
    let addr = "user1@bulk01.test";
    let mut args = vec!["verify", addr, "--public-only"];
    args.extend_from_slice(FAST);
    let out = mxray_lab(world(), &args);
    assert_eq!(out.code, 0, "unknown is not undeliverable: {}", out.stderr);
    let got = results(&out.stdout);
    let r = &got[addr];
    assert_eq!(
        (r["verdict"].as_str(), r["reason"].as_str()),
        (Some("unknown"), Some("private_address")),
        "{r}"
    );
    assert_eq!(r["attempts"], 0, "{r}");
    args.extend_from_slice(&["--allow-private", "127.0.0.0/8"]);
    let got = results(&mxray_lab(world(), &args).stdout);
    assert_eq!(got[addr]["verdict"], "deliverable", "{}", got[addr]);
}
