//! Hostile input and hostile peers (issue 11): each attack reproduced against a lab built for
//! it, and the bound that stops it asserted as a count (commands, queries, bytes), never a time.

use std::sync::OnceLock;

use serde_json::Value;

use crate::util::{TestLab, json, json_lines, mxray_lab};

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

[[domains]]
name = "early.test"
mx = ["10 mx.early.test"]

[[hosts]]
name = "mx.early.test"
address = "127.0.3.2"
mailboxes = ["alice", "bob"]
quirks = ["early-talker"]

[[domains]]
name = "shifty.test"
mx = ["10 mx.shifty.test"]

[[hosts]]
name = "mx.shifty.test"
address = "127.0.3.3"
mailboxes = ["alice", "bob", "carol"]
quirks = ["extra-replies"]

[[domains]]
name = "full.test"
mx = ["10 mx.full.test"]

[[hosts]]
name = "mx.full.test"
address = "127.0.3.4"
mailboxes = ["alice"]
rcpt_reply = "452 4.5.3 Too many recipients"

[[domains]]
name = "slow.test"
mx = ["10 mx.slow.test"]

[[hosts]]
name = "mx.slow.test"
address = "127.0.3.5"
mailboxes = ["alice"]
# No PIPELINING: RCPTs go one at a time, so the lab counts how many were asked.
ehlo_reply = "250 mx.slow.test"
tarpit = { reply_delay = "1500ms" }

[[domains]]
name = "formula.test"
mx = ["10 mx.formula.test"]

[[hosts]]
name = "mx.formula.test"
address = "127.0.3.6"
rcpt_reply = "550 5.1.1 =HYPERLINK(\"http://evil.test/\",\"details\") \u202Egnp.exe"

[[domains]]
name = "tlsfail.test"
mx = ["10 mx.tlsfail.test"]

[[hosts]]
name = "mx.tlsfail.test"
address = "127.0.3.7"
mailboxes = ["alice"]
starttls = "broken"

[[domains]]
name = "dup.test"
mx = ["10 mx.dup.test"]

[[hosts]]
name = "mx.dup.test"
address = "127.0.3.8"
mailboxes = ["alice", "bob"]

[[domains]]
name = "hush.test"
mx = ["10 mx.hush.test"]

[[hosts]]
name = "mx.hush.test"
address = "127.0.3.9"
mailboxes = ["alice"]
tarpit = { reply_delay = "2s" }

[[domains]]
name = "reset.test"
mx = ["10 mx.reset.test"]

[[hosts]]
name = "mx.reset.test"
address = "127.0.3.10"

[[hosts.clients]]
addresses = ["127.0.0.1"]
refuse = true

[[domains]]
name = "loop.test"
mx = ["10 mx.loop.test"]

[[domains.records]]
name = "mx"
cname = "a.loop.test"

[[domains.records]]
name = "a"
cname = "mx.loop.test"
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
    // A quoted CSV cell holding a CR: the address inside is `"y\<CR>VRFY root"@inject.test`.
    std::fs::write(
        &csv,
        "email\nalice@inject.test\n\"\"\"y\\\rVRFY root\"\"@inject.test\"\n",
    )
    .expect("write csv");
    let verify_csv = || {
        mxray_lab(
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
        )
    };
    let out = verify_csv();
    let rows: Vec<Value> = json_lines(&out);
    assert_eq!(rows.len(), 2, "one result per row: {}", out.stdout);
    let alice = rows.iter().find(|r| r["address"] == "alice@inject.test");
    assert_eq!(
        alice.map(|r| &r["verdict"]),
        Some(&Value::from("deliverable"))
    );
    for r in rows.iter().filter(|r| r["address"] != "alice@inject.test") {
        assert_eq!(r["reason"], "syntax", "{r}");
    }
    // A cell holding CR LF (`"x\<CR><LF>DATA"@inject.test`) is refused with the file: an
    // address list has no multi-line cells.
    std::fs::write(
        &csv,
        "email\nalice@inject.test\n\"\"\"x\\\r\nDATA\"\"@inject.test\"\n",
    )
    .expect("write csv");
    let out = verify_csv();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
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

/// A server that talks out of turn (a reply after its greeting that answers nothing) or sends
/// more replies than commands (each RCPT reply preceded by a stray 550) would have its replies
/// pinned on the wrong addresses. Neither is believed: every address is `unknown`,
/// `protocol_error`, whether the RCPTs went one by one or pipelined.
#[test]
fn replies_out_of_step_with_commands_decide_nothing() {
    for domain in ["early.test", "shifty.test"] {
        for extra in [&[][..], &["--no-catch-all"][..]] {
            let addrs: Vec<String> = ["alice", "bob", "nobody"]
                .iter()
                .map(|l| format!("{l}@{domain}"))
                .collect();
            let mut args: Vec<&str> = vec!["verify"];
            args.extend(addrs.iter().map(String::as_str));
            args.extend_from_slice(&["--json", "--timeout", "2s", "--deadline", "6s"]);
            args.extend_from_slice(extra);
            let out = mxray_lab(lab(), &args);
            let rows: Vec<Value> = json_lines(&out);
            assert_eq!(
                rows.len(),
                3,
                "{domain} {extra:?}: {}{}",
                out.stdout,
                out.stderr
            );
            for r in &rows {
                assert_eq!(
                    (r["verdict"].as_str(), r["reason"].as_str()),
                    (Some("unknown"), Some("protocol_error")),
                    "{domain} {extra:?}: {r}"
                );
            }
        }
        // diagnose names it instead of judging the stray reply.
        let who = format!("alice@{domain}");
        let out = mxray_lab(lab(), &["diagnose", &who, "--probe", "--json"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        let report: Value = json(&out);
        let ids: Vec<&str> = report["findings"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["id"].as_str()).collect())
            .unwrap_or_default();
        assert!(ids.contains(&"smtp.out_of_step"), "{domain}: {ids:?}");
        assert!(!ids.contains(&"smtp.rcpt_rejected"), "{domain}: {ids:?}");
    }
}

/// An SPF tree built to amplify: 40 `mx:` terms per record, each name with 10 exchanges, in
/// 13 records (the root and 12 includes): about 11,000 lookups if followed.
fn amplifying_world() -> String {
    let mut toml = String::from(
        "[lab]\nname = \"amplify\"\ndescription = \"An SPF tree built to amplify lookups\"\n\n",
    );
    let terms = |at: &str| -> String {
        (0..40)
            .map(|i| format!("mx:m{i}.{at}amp.test"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let includes: Vec<String> = (0..12).map(|k| format!("include:r{k}.amp.test")).collect();
    toml.push_str(&format!(
        "[[domains]]\nname = \"amp.test\"\ntxt = [\"v=spf1 {} {} -all\"]\n",
        terms(""),
        includes.join(" ")
    ));
    for k in 0..12 {
        toml.push_str(&format!(
            "\n[[domains.records]]\nname = \"r{k}\"\ntxt = [\"v=spf1 {} -all\"]\n",
            terms(&format!("r{k}."))
        ));
    }
    for at in std::iter::once(String::new()).chain((0..12).map(|k| format!("r{k}."))) {
        for i in 0..40 {
            let mx: Vec<String> = (0..10)
                .map(|j| format!("\"10 h{j}.m{i}.{at}amp.test\""))
                .collect();
            let name = format!("m{i}.{at}");
            toml.push_str(&format!(
                "\n[[domains.records]]\nname = \"{}\"\nmx = [{}]\n",
                name.trim_end_matches('.'),
                mx.join(", ")
            ));
        }
    }
    toml
}

/// The walk of a hostile SPF tree is bounded in DNS queries and in output, and says where it
/// stopped; the RFC 7208 limit it breaks is still reported.
#[test]
fn an_amplifying_spf_tree_is_walked_within_bounds() {
    let toml = amplifying_world();
    let lab = TestLab::start(&toml, "amplify.toml");
    let out = mxray_lab(&lab, &["diagnose", "amp.test", "--only", "auth", "--json"]);
    let queries = lab.lab().stats().dns.queries;
    let report: Value = json(&out);
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(ids.contains(&"spf.too_many_lookups"), "{ids:?}");
    assert!(ids.contains(&"spf.walk_limited"), "{ids:?}");
    // The walk's 500 queries, plus DMARC, DKIM selectors, BIMI, MTA-STS, TLS-RPT and MX.
    assert!(queries <= 700, "{queries} DNS queries");
    assert!(
        out.stdout.len() <= 2 << 20,
        "{} bytes of JSON",
        out.stdout.len()
    );
}

fn verify_many(domain: &str, n: usize, extra: &[&str]) -> Vec<Value> {
    let addrs: Vec<String> = (0..n).map(|i| format!("user{i}@{domain}")).collect();
    let mut args: Vec<&str> = vec!["verify"];
    args.extend(addrs.iter().map(String::as_str));
    args.extend_from_slice(&["--json", "--no-catch-all"]);
    args.extend_from_slice(extra);
    json_lines(&mxray_lab(lab(), &args))
}

fn rcpts_seen(host: &str) -> u64 {
    host_commands(host).get("RCPT").copied().unwrap_or(0)
}

/// A server answering every RCPT with `452 4.5.3` (too many recipients) is asked a bounded
/// number of times per address, then the address is `unknown`, `deferred`.
#[test]
fn endless_too_many_recipients_is_asked_a_bounded_number_of_times() {
    let rows = verify_many("full.test", 10, &["--timeout", "2s", "--deadline", "10s"]);
    assert_eq!(rows.len(), 10);
    for r in &rows {
        assert_eq!(
            (r["verdict"].as_str(), r["reason"].as_str()),
            (Some("unknown"), Some("deferred")),
            "{r}"
        );
    }
    // Each address at most three times (two requeues), not until the deadline.
    let rcpts = rcpts_seen("mx.full.test");
    assert!(rcpts <= 30, "{rcpts} RCPT commands for 10 addresses");
}

/// --deadline holds inside a session: against a server answering every command after 1.5 s,
/// RCPTs stop once the deadline passes instead of working through the whole list.
#[test]
fn the_deadline_holds_inside_a_session() {
    let rows = verify_many("slow.test", 40, &["--timeout", "3s", "--deadline", "5s"]);
    assert_eq!(rows.len(), 40);
    assert!(rows.iter().all(|r| r["verdict"] == "unknown"), "{rows:?}");
    let rcpts = rcpts_seen("mx.slow.test");
    assert!(
        rcpts <= 3,
        "{rcpts} RCPT commands asked after a 5 s deadline"
    );
}

/// CSV output is read by spreadsheets: a server's text cannot become a formula there, nor
/// hide itself behind bidi controls.
#[test]
fn csv_output_neutralises_formulas_and_controls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_csv = dir.path().join("out.csv");
    let out = mxray_lab(
        lab(),
        &[
            "verify",
            "bob@formula.test",
            "--no-catch-all",
            "--output",
            &out_csv.display().to_string(),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let mut rd = csv::Reader::from_path(&out_csv).expect("csv");
    let headers = rd.headers().expect("header").clone();
    let text_col = headers
        .iter()
        .position(|h| h == "text")
        .expect("text column");
    let row = rd.records().next().expect("a row").expect("record");
    let cell = &row[text_col];
    assert!(cell.starts_with("'="), "{cell}");
    assert!(!cell.contains('\u{202e}'), "{cell}");
    assert!(cell.contains("\\u{202e}"), "{cell}");
}

/// `diagnose --probe` where the STARTTLS handshake fails: the probe never ran, and the report
/// says so instead of a clean "deliverable path".
#[test]
fn a_probe_that_could_not_run_is_not_a_clean_verdict() {
    let out = mxray_lab(
        lab(),
        &["diagnose", "alice@tlsfail.test", "--probe", "--json"],
    );
    let report: Value = json(&out);
    assert_eq!(report["verdict"]["overall"], "inconclusive", "{report:#}");
    let f = report["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "smtp.probe_not_run"))
        .expect("smtp.probe_not_run");
    assert!(
        f["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("STARTTLS"),
        "{f}"
    );
}

/// Duplicates are probed once per run, not once per 5,000-line batch: the same addresses at
/// the start and past the first batch cost one RCPT each, and every line gets its result.
#[test]
fn duplicates_are_probed_once_per_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("list.txt");
    let mut text = String::from("alice@dup.test\nbob@dup.test\n");
    // Filler that needs no probe (bad syntax), so the repeats land in the next batch.
    for i in 0..5_000 {
        text.push_str(&format!("not-an-address-{i}\n"));
    }
    text.push_str("alice@DUP.test\nbob@dup.test.\nalice@dup.test\n");
    std::fs::write(&list, text).expect("write list");
    let out = mxray_lab(
        lab(),
        &[
            "verify",
            "--input",
            &list.display().to_string(),
            "--no-catch-all",
            "--json",
        ],
    );
    let rows: Vec<Value> = json_lines(&out);
    assert_eq!(rows.len(), 5_005, "{}", out.stderr);
    let ok = rows
        .iter()
        .filter(|r| r["verdict"] == "deliverable")
        .count();
    assert_eq!(ok, 5, "every line of alice and bob answered");
    assert_eq!(
        rcpts_seen("mx.dup.test"),
        2,
        "one RCPT per distinct address"
    );
}

/// A state file answers only for the rows it decided: a list edited in place (same name,
/// different rows) gets its changed rows verified, its new rows too, and nothing stale.
#[test]
fn resume_matches_rows_by_content_not_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("list.txt");
    let state = dir.path().join("state.db");
    let run = |text: &str| {
        std::fs::write(&list, text).expect("write list");
        let out = mxray_lab(
            lab(),
            &[
                "verify",
                "--input",
                &list.display().to_string(),
                "--state",
                &state.display().to_string(),
                "--no-catch-all",
                "--json",
            ],
        );
        let rows: Vec<Value> = json_lines(&out);
        rows.into_iter()
            .map(|r| {
                (
                    r["address"].as_str().unwrap_or_default().to_string(),
                    r["verdict"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let first = run("alice@inject.test\nnobody@inject.test\n");
    assert_eq!(first.len(), 2);
    // Row 1 edited, row 2 kept, row 3 new.
    let second = run("nobody@inject.test\nnobody@inject.test\npostmaster@inject.test\n");
    let want: Vec<(String, String)> = [
        ("nobody@inject.test", "undeliverable"),
        ("nobody@inject.test", "undeliverable"),
        ("postmaster@inject.test", "deliverable"),
    ]
    .iter()
    .map(|(a, v)| (a.to_string(), v.to_string()))
    .collect();
    assert_eq!(second, want);
    // Shorter again: rows the input no longer has are not printed.
    let third = run("nobody@inject.test\n");
    assert_eq!(third.len(), 1, "{third:?}");
}

/// One run per state file: a second run while the first holds it is refused (exit 3), and
/// --state without --input says it is not used.
#[test]
fn a_state_file_in_use_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("list.txt");
    let state = dir.path().join("state.db");
    std::fs::write(&list, "alice@inject.test\n").expect("write list");
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&state)
        .expect("state file");
    held.try_lock().expect("lock");
    let args = [
        "verify",
        "--input",
        &list.display().to_string(),
        "--state",
        &state.display().to_string(),
    ];
    let out = mxray_lab(lab(), &args);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("in use"), "{}", out.stderr);
    drop(held);
    let out = mxray_lab(
        lab(),
        &[
            "verify",
            "alice@inject.test",
            "--state",
            &state.display().to_string(),
        ],
    );
    assert!(out.stderr.contains("not used"), "{}", out.stderr);
}

/// What a host did is named as it happened: a greeting line no server writes is "over 4 KiB"
/// (not "closed"), silence after the greeting is inconclusive like silence before it, and a
/// connection reset as it is accepted is "reset" (not "unreachable").
#[test]
fn hostile_hosts_are_described_as_they_behaved() {
    let titles = |target: &str, extra: &[&str]| -> (String, Vec<String>) {
        let mut args = vec!["diagnose", target, "--only", "transport", "--json"];
        args.extend_from_slice(extra);
        let out = mxray_lab(lab(), &args);
        let v: Value = json(&out);
        let titles = v["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        format!(
                            "{} {}",
                            f["id"].as_str().unwrap_or(""),
                            f["title"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        (
            v["verdict"]["overall"].as_str().unwrap_or("").to_string(),
            titles,
        )
    };
    let (overall, t) = titles("hush.test", &["--timeout", "1s", "--greeting-wait", "5s"]);
    assert_eq!(overall, "inconclusive", "{t:?}");
    assert!(
        t.iter()
            .any(|x| x.starts_with("smtp.silent") && x.contains("went silent at ehlo")),
        "{t:?}"
    );
    let (_, t) = titles("reset.test", &[]);
    assert!(
        t.iter().any(|x| x.contains("reset the connection")),
        "{t:?}"
    );
    assert!(!t.iter().any(|x| x.contains("is unreachable")), "{t:?}");

    let long = format!(
        "[lab]\nname = \"long\"\ndescription = \"x\"\n\n[[domains]]\nname = \"long.test\"\nmx = [\"10 mx.long.test\"]\n\n[[hosts]]\nname = \"mx.long.test\"\naddress = \"127.0.3.11\"\nbanner = \"220 {}\"\n",
        "x".repeat(10_000)
    );
    let lab = TestLab::start(&long, "long.toml");
    let out = mxray_lab(
        &lab,
        &["diagnose", "long.test", "--only", "transport", "--json"],
    );
    let v: Value = json(&out);
    let dropped = v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "smtp.dropped"))
        .expect("reported");
    assert!(
        dropped["title"]
            .as_str()
            .unwrap_or("")
            .contains("over 4 KiB"),
        "{dropped}"
    );
}

/// An MX target whose aliases loop is a broken zone (a DNS failure), not a host without an
/// address: verify says unknown/dns_failure, never undeliverable, and diagnose names the loop.
#[test]
fn a_cname_loop_is_a_dns_failure() {
    let out = mxray_lab(lab(), &["verify", "alice@loop.test", "--json"]);
    let r: Value = json(&out);
    assert_eq!(
        (r["verdict"].as_str(), r["reason"].as_str()),
        (Some("unknown"), Some("dns_failure")),
        "{r}"
    );
    let out = mxray_lab(lab(), &["diagnose", "loop.test", "--only", "dns,transport"]);
    assert!(
        out.stdout
            .contains("CNAME loop: mx.loop.test -> a.loop.test -> mx.loop.test"),
        "{}",
        out.stdout
    );
}

/// An MX target on loopback (the lab's own addresses) is named in a note, which changes
/// neither the verdict nor the score; other special ranges are warnings (unit-tested in
/// crates/diagnose/tests/checks.rs: the lab refuses to publish them).
#[test]
fn loopback_mx_addresses_are_a_note() {
    let out = mxray_lab(
        lab(),
        &["diagnose", "inject.test", "--only", "dns", "--json"],
    );
    let v: Value = json(&out);
    let notes: Vec<&Value> = v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["id"] == "net.private_address")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["severity"], "info");
    assert!(
        notes[0]["title"]
            .as_str()
            .unwrap_or("")
            .contains("127.0.3.1: loopback"),
        "{}",
        notes[0]
    );
}
