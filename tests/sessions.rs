//! `mxray verify` with several sessions per domain: a big domain's addresses shared among up
//! to its provider's budget of sessions, proved by the lab's own counters (peak concurrency),
//! with verdicts, catch-all detection and greylisting retries unchanged. Each test has its own
//! lab (tests/data/sessions-world.toml), so the counters are that test's alone.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::{TestLab, json_lines, mxray_lab};

const WORLD: &str = include_str!("data/sessions-world.toml");

/// Verifies `addresses` with `flags` (a fresh lab each time); results by address.
fn verify(lab: &TestLab, addresses: &[String], flags: &[&str]) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("list.txt");
    std::fs::write(&input, addresses.join("\n")).expect("write list");
    let input = input.display().to_string();
    let mut args = vec!["verify", "--json", "--input", &input];
    // Connections are not rate-limited here: the sessions themselves are under test.
    args.extend_from_slice(&["--connects-per-minute", "60000"]);
    args.extend_from_slice(flags);
    let out = mxray_lab(lab, &args);
    assert!(out.code <= 1, "exit {}: {}", out.code, out.stderr);
    let got: BTreeMap<String, Value> = json_lines(&out)
        .into_iter()
        .map(|v| (v["address"].as_str().unwrap_or_default().to_string(), v))
        .collect();
    assert_eq!(got.len(), addresses.len(), "one result per address");
    got
}

/// The host's counters: (peak simultaneous sessions, connections, connections refused by its
/// concurrency cap).
fn counters(lab: &TestLab, host: &str) -> (u64, u64, u64) {
    let stats = lab.lab().stats();
    let h = stats
        .smtp
        .iter()
        .find(|h| h.name == host)
        .unwrap_or_else(|| panic!("{host} in the lab's stats"));
    (
        h.totals.peak_concurrency,
        h.totals.connections,
        h.totals.limited,
    )
}

fn users(domain: &str, range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|u| format!("user{u}@{domain}")).collect()
}

#[test]
fn a_big_domain_uses_its_provider_budget_and_never_more() {
    let lab = TestLab::start(WORLD, "sessions-world.toml");
    let mut list = users("big.test", 1..=400);
    list.extend(users("big.test", 401..=420));
    let got = verify(&lab, &list, &["--per-provider", "3"]);
    for (addr, v) in &got {
        let n: u32 = addr
            .trim_start_matches("user")
            .split('@')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let want = if n <= 400 {
            "deliverable"
        } else {
            "undeliverable"
        };
        assert_eq!(v["verdict"], want, "{addr}: {v}");
        assert_eq!(v["catch_all"], false, "{addr}");
    }
    let (peak, connections, _) = counters(&lab, "mx.big.test");
    assert!(
        (2..=3).contains(&peak),
        "peak {peak} simultaneous sessions: expected the budget's 3 at most, and more than one"
    );
    assert!(
        connections <= 6,
        "{connections} connections for 420 addresses: sessions not reused"
    );
}

#[test]
fn sessions_per_domain_caps_a_domain_below_its_budget() {
    let lab = TestLab::start(WORLD, "sessions-world.toml");
    let list = users("big.test", 1..=300);
    let got = verify(
        &lab,
        &list,
        &["--per-provider", "4", "--sessions-per-domain", "1"],
    );
    assert!(got.values().all(|v| v["verdict"] == "deliverable"));
    let (peak, connections, _) = counters(&lab, "mx.big.test");
    assert_eq!(peak, 1, "one session at a time");
    // The bulk run's preflight connects once to the first MX before the run.
    assert_eq!(
        connections, 2,
        "one session carried all 300, after the preflight's"
    );
}

/// No address is accepted as deliverable before the catch-all probe has answered, however
/// many sessions run afterwards.
#[test]
fn catch_all_detection_holds_with_several_sessions() {
    let lab = TestLab::start(WORLD, "sessions-world.toml");
    let list: Vec<String> = (1..=250)
        .map(|u| format!("person{u}@bigcatch.test"))
        .collect();
    let got = verify(&lab, &list, &["--per-provider", "4"]);
    for (addr, v) in &got {
        assert_eq!(v["verdict"], "risky", "{addr}: {v}");
        assert_eq!(v["catch_all"], true, "{addr}");
    }
    let (peak, _, _) = counters(&lab, "mx.bigcatch.test");
    assert!((2..=4).contains(&peak), "peak {peak}");
}

/// Greylisted addresses come back due together and are retried (from the same source
/// address: the lab keys greylisting on the triplet) by as many sessions as the budget allows.
#[test]
fn greylisted_addresses_are_retried_across_sessions() {
    let lab = TestLab::start(WORLD, "sessions-world.toml");
    let list = users("biggrey.test", 1..=100);
    let got = verify(
        &lab,
        &list,
        &[
            "--per-provider",
            "3",
            "--greylist-retry",
            "1s",
            "--deadline",
            "20s",
        ],
    );
    for (addr, v) in &got {
        assert_eq!(v["verdict"], "deliverable", "{addr}: {v}");
        assert!(
            v["attempts"].as_u64() >= Some(2),
            "{addr} was greylisted first"
        );
    }
    let (peak, _, _) = counters(&lab, "mx.biggrey.test");
    assert!(peak <= 3, "peak {peak}");
}

/// A server that takes two sessions per client while the budget allows four: the third is
/// refused with 421, the budget halves, and every address is still verified.
#[test]
fn a_server_with_a_lower_cap_teaches_the_budget() {
    let lab = TestLab::start(WORLD, "sessions-world.toml");
    let list = users("bigcap.test", 1..=200);
    let got = verify(&lab, &list, &["--per-provider", "4", "--deadline", "30s"]);
    for (addr, v) in &got {
        assert_eq!(v["verdict"], "deliverable", "{addr}: {v}");
    }
    let (peak, connections, limited) = counters(&lab, "mx.bigcap.test");
    assert!(
        peak <= 3,
        "peak {peak}: sessions added one at a time, one refused at most"
    );
    assert!(
        limited <= 3,
        "{limited} of {connections} connections refused: the budget did not slow down"
    );
}
