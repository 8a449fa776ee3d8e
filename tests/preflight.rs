//! `mxray verify --preflight` against a lab world: the egress is chosen with --source-ip among
//! loopback addresses whose reverse DNS the scenario sets, so each problem comes from a set-up
//! (no PTR, a PTR without forward match, listed on a lab blocklist, port 25 closed) and a clean
//! egress passes.

use std::sync::OnceLock;

use serde_json::Value;

use crate::util::{Output, TestLab, json, mxray_lab};

const WORLD: &str = r#"
[lab]
name = "preflight"
description = "Egress addresses with good and bad reverse DNS, a blocklist, a closed MX"

[[domains]]
name = "open.test"
mx = ["10 mx.open.test"]

[[hosts]]
name = "mx.open.test"
address = "127.0.19.10"
catch_all = true

[[domains]]
name = "closed.test"
mx = ["10 mx.closed.test"]

[[hosts]]
name = "mx.closed.test"
address = "127.0.19.11"
refuse = true

[[domains]]
name = "sender.test"
txt = ["v=spf1 ip4:127.0.19.0/24 -all"]

[[domains.records]]
name = "_dmarc"
txt = ["v=DMARC1; p=none"]

[[domains.records]]
name = "out"
a = ["127.0.19.50"]

[[domains.records]]
name = "liar"
a = ["127.0.19.99"]

[[domains.records]]
name = "spammer"
a = ["127.0.19.53"]

[[ptr]]
address = "127.0.19.50"
name = "out.sender.test"

[[ptr]]
address = "127.0.19.52"
name = "liar.sender.test"

[[ptr]]
address = "127.0.19.53"
name = "spammer.sender.test"

[[dnsbls]]
zone = "bl.dnsbl.test"
listed = [{ entry = "127.0.19.53", reason = "spam trap hits" }]
"#;

fn lab() -> &'static TestLab {
    static LAB: OnceLock<TestLab> = OnceLock::new();
    LAB.get_or_init(|| TestLab::start(WORLD, "preflight.toml"))
}

fn dnsbl_file() -> &'static str {
    static FILE: OnceLock<tempfile::TempPath> = OnceLock::new();
    FILE.get_or_init(|| {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(&mut f, b"ip bl.dnsbl.test\n").expect("write");
        f.into_temp_path()
    })
    .to_str()
    .expect("utf-8 path")
}

/// `verify --preflight --json` from `source` against `target`, helo `helo`.
fn preflight(source: &str, target: &str, helo: &str, extra: &[&str]) -> (Output, Vec<String>) {
    let mut args = vec![
        "verify",
        "--preflight",
        "--json",
        "--preflight-target",
        target,
        "--source-ip",
        source,
        "--helo",
        helo,
        "--from",
        "probe@sender.test",
        "--dnsbl-file",
        dnsbl_file(),
        "--timeout",
        "3s",
    ];
    args.extend_from_slice(extra);
    let out = mxray_lab(lab(), &args);
    let doc = json(&out);
    let ids = doc["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(doc["egress"], Value::from(source), "{}", out.stdout);
    (out, ids)
}

#[test]
fn a_clean_egress_passes() {
    let (out, ids) = preflight("127.0.19.50", "open.test", "out.sender.test", &[]);
    assert_eq!(ids, ["preflight.ok"], "{}", out.stdout);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn no_ptr_fails() {
    let (out, ids) = preflight("127.0.19.51", "open.test", "out.sender.test", &[]);
    assert!(ids.contains(&"preflight.no_ptr".to_string()), "{ids:?}");
    assert!(
        ids.contains(&"preflight.helo_mismatch".to_string()),
        "{ids:?}"
    );
    assert_eq!(out.code, 1);
}

#[test]
fn ptr_without_forward_match_fails() {
    let (out, ids) = preflight("127.0.19.52", "open.test", "liar.sender.test", &[]);
    assert!(
        ids.contains(&"preflight.ptr_mismatch".to_string()),
        "{ids:?}"
    );
    assert!(!ids.contains(&"preflight.no_ptr".to_string()), "{ids:?}");
    assert_eq!(out.code, 1);
}

#[test]
fn a_listed_egress_fails() {
    let (out, ids) = preflight("127.0.19.53", "open.test", "spammer.sender.test", &[]);
    assert_eq!(ids, ["preflight.listed"], "{}", out.stdout);
    assert!(out.stdout.contains("spam trap hits"), "{}", out.stdout);
    assert_eq!(out.code, 1);
}

#[test]
fn a_closed_port_25_fails_with_its_fix() {
    let (out, ids) = preflight("127.0.19.50", "closed.test", "out.sender.test", &[]);
    assert_eq!(ids, ["preflight.port25_closed"], "{}", out.stdout);
    assert!(out.stdout.contains("--proxy"), "{}", out.stdout);
    assert_eq!(out.code, 1);
}

#[test]
fn a_failing_preflight_stops_a_strict_bulk_run_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "someone@closed.test\n").expect("write list");
    let list = list.to_str().expect("utf-8 path");
    let base = [
        "verify",
        "--input",
        list,
        "--source-ip",
        "127.0.19.50",
        "--helo",
        "out.sender.test",
        "--dnsbl-file",
        dnsbl_file(),
        "--timeout",
        "2s",
        "--deadline",
        "3s",
        "--json",
    ];
    let out = mxray_lab(lab(), &base);
    assert!(
        out.stderr.contains("preflight.port25_closed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("someone@closed.test"),
        "the run went on: {}",
        out.stdout
    );
    let mut strict = base.to_vec();
    strict.push("--strict");
    let out = mxray_lab(lab(), &strict);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("did not start"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}
