//! Progress on a terminal, as a user sees it under script(1): a single slow `diagnose` says
//! what it waits on, and `verify` shows done/total, rate, ETA and the greylisted addresses with
//! their next retry; with -q, or off a terminal, none of it.

use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::util::{TestLab, mxray_lab};

/// A tarpit that greets after 2.5 s, and a greylisting host (2 s) with two mailboxes.
const WORLD: &str = r#"
[lab]
name = "progress"
description = "Slow enough to be watched"

[[domains]]
name = "slow.test"
mx = ["10 mx.slow.test"]

[[hosts]]
name = "mx.slow.test"
address = "127.0.6.1"
catch_all = true
tarpit = { banner_delay = "2500ms" }

[[domains]]
name = "grey.test"
mx = ["10 mx.grey.test"]

[[hosts]]
name = "mx.grey.test"
address = "127.0.6.2"
mailboxes = ["alice", "bob"]
greylist = { delay = "1s", reply = "450 4.2.0 Greylisted, please try again later" }
"#;

fn lab() -> &'static TestLab {
    static LAB: OnceLock<TestLab> = OnceLock::new();
    LAB.get_or_init(|| TestLab::start(WORLD, "progress.toml"))
}

/// Runs mxray with a terminal on every stream (script(1) from util-linux); what the terminal
/// showed, escapes and carriage returns flattened to lines.
fn on_terminal(args: &[&str]) -> String {
    let mut all: Vec<String> = vec![env!("CARGO_BIN_EXE_mxray").to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend(lab().flags());
    let line = all
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux is needed: apt-get install util-linux");
    let raw = String::from_utf8_lossy(&out.stdout);
    let mut text = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // CSI sequences (cursor moves, line clears) go; \r starts a new line.
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for n in chars.by_ref() {
                        if n.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => text.push('\n'),
            c => text.push(c),
        }
    }
    text
}

#[test]
fn a_slow_diagnose_says_what_it_waits_on() {
    let text = on_terminal(&["diagnose", "slow.test", "--only", "transport"]);
    assert!(
        text.contains("for the greeting of mx.slow.test [127.0.6.1]"),
        "{text}"
    );
    assert!(text.contains("slow.test"), "the report follows: {text}");
    let quiet = on_terminal(&["diagnose", "slow.test", "--only", "transport", "-q"]);
    assert!(!quiet.contains("waiting"), "-q shows no progress: {quiet}");
    // Off a terminal (a pipe), no progress line at all.
    let piped = mxray_lab(lab(), &["diagnose", "slow.test", "--only", "transport"]);
    assert!(!piped.stderr.contains("waiting"), "{}", piped.stderr);
}

#[test]
fn verify_progress_counts_rate_and_greylisted_addresses() {
    let text = on_terminal(&[
        "verify",
        "alice@grey.test",
        "bob@grey.test",
        "--greylist-retry",
        "2s",
    ]);
    assert!(text.contains("/2 addresses"), "done/total: {text}");
    assert!(text.contains("/s eta"), "rate and ETA: {text}");
    assert!(
        text.contains("2 greylisted waiting; next retry in"),
        "what it waits on: {text}"
    );
    // The results and the summary are not mixed into the bar's line.
    assert!(
        text.lines()
            .any(|l| l.starts_with("alice@grey.test") && l.contains("deliverable")),
        "{text}"
    );
    assert!(text.contains("mxray: 2 results in"), "{text}");
}
