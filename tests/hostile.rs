//! Hostile input and hostile peers (issue 11): each attack reproduced against a lab built for
//! it, and the bound that stops it asserted as a count (commands, queries, bytes), never a time.

use std::sync::OnceLock;

use serde_json::Value;

use crate::util::{TestLab, mxray_lab};

/// A small world for attacks: one plain host that logs every command it receives.
const HOSTILE: &str = r#"
[lab]
name = "hostile"
description = "Targets for hostile-input tests"

[[domains]]
name = "inject.test"
mx = ["10 mx.inject.test"]

[[hosts]]
name = "mx.inject.test"
address = "127.0.3.1"
mailboxes = ["alice", "postmaster"]
"#;

fn lab() -> &'static TestLab {
    static LAB: OnceLock<TestLab> = OnceLock::new();
    LAB.get_or_init(|| TestLab::start(HOSTILE, "hostile.toml"))
}

fn host_commands(name: &str) -> std::collections::BTreeMap<String, u64> {
    let stats = lab().lab().stats();
    stats
        .smtp
        .iter()
        .find(|h| h.name == name)
        .map(|h| h.totals.commands.clone())
        .unwrap_or_default()
}

/// CR, LF or NUL smuggled into a quoted local part (RFC 5321 allows only printable ASCII
/// after a backslash) never reaches RCPT TO: from a CSV cell, a text line or `--probe`.
#[test]
fn addresses_cannot_smuggle_smtp_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("list.csv");
    // A quoted CSV cell may hold CR LF: the address inside is `"x\<CR><LF>DATA"@inject.test`.
    std::fs::write(
        &csv,
        "email\nalice@inject.test\n\"\"\"x\\\r\nDATA\"\"@inject.test\"\n\"\"\"y\\\rVRFY root\"\"@inject.test\"\n",
    )
    .expect("write csv");
    let out = mxray_lab(
        lab(),
        &[
            "verify",
            "--input",
            &csv.display().to_string(),
            "--column",
            "email",
            "--json",
            "--timeout",
            "2s",
        ],
    );
    let rows: Vec<Value> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(rows.len(), 3, "one result per row: {}", out.stdout);
    let alice = rows.iter().find(|r| r["address"] == "alice@inject.test");
    assert_eq!(
        alice.map(|r| &r["verdict"]),
        Some(&Value::from("deliverable"))
    );
    for r in rows.iter().filter(|r| r["address"] != "alice@inject.test") {
        assert_eq!(r["reason"], "syntax", "{r}");
    }
    // A text line (NUL after the backslash) and diagnose's --probe refuse it too, as bad input.
    let txt = dir.path().join("list.txt");
    std::fs::write(&txt, "\"z\\\u{0}RSET\"@inject.test\n").expect("write list");
    let out = mxray_lab(
        lab(),
        &["verify", "--input", &txt.display().to_string(), "--json"],
    );
    assert!(out.stdout.contains("\"syntax\""), "{}", out.stdout);
    let out = mxray_lab(
        lab(),
        &["diagnose", "\"w\\\r\nRSET\"@inject.test", "--probe"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(said.contains("backslash"), "{said}");
    // The host saw no command but the ones mxray meant to send.
    let commands = host_commands("mx.inject.test");
    for verb in ["DATA", "VRFY", "RSET", "UNKNOWN"] {
        assert_eq!(
            commands.get(verb),
            None,
            "{verb} reached the server: {commands:?}"
        );
    }
}
