//! `mxray verify` against lab imitations of the providers in docs/providers.md
//! (tests/data/providers.toml, mapped to provider ids by tests/data/providers.map through
//! MXRAY_PROVIDER_MAP): every verdict right, results carry `provider`, and no address at a
//! Yahoo-like provider (accepts every RCPT) is ever `deliverable`.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::{TestLab, conforms, run};

fn lab() -> &'static TestLab {
    static LAB: OnceLock<TestLab> = OnceLock::new();
    LAB.get_or_init(|| TestLab::start(include_str!("data/providers.toml"), "providers.toml"))
}

/// address, verdict, reason, provider.
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    ("alice@gmail.test", "deliverable", "mailbox_exists", "gmail"),
    (
        "nobody@gmail.test",
        "undeliverable",
        "mailbox_unknown",
        "gmail",
    ),
    (
        "nobody@gmail-nouser.test",
        "undeliverable",
        "mailbox_unknown",
        "gmail",
    ),
    ("alice@gmail-full.test", "unknown", "mailbox_full", "gmail"),
    // Directory-based edge blocking: 550 5.4.1 Access denied means unknown recipient.
    (
        "nobody@contoso.test",
        "undeliverable",
        "mailbox_unknown",
        "microsoft",
    ),
    (
        "alice@fabrikam.test",
        "deliverable",
        "mailbox_exists",
        "microsoft",
    ),
    (
        "alice@yahoo.test",
        "risky",
        "unverifiable_provider",
        "yahoo",
    ),
    (
        "nobody@yahoo.test",
        "risky",
        "unverifiable_provider",
        "yahoo",
    ),
    ("alice@aol.test", "risky", "unverifiable_provider", "yahoo"),
    (
        "nobody@aol.test",
        "undeliverable",
        "mailbox_unknown",
        "yahoo",
    ),
    (
        "nobody@icloud.test",
        "undeliverable",
        "mailbox_unknown",
        "icloud",
    ),
    (
        "alice@proton.test",
        "deliverable",
        "mailbox_exists",
        "proton",
    ),
    (
        "nobody@proton.test",
        "undeliverable",
        "mailbox_unknown",
        "proton",
    ),
    (
        "nobody@zoho.test",
        "undeliverable",
        "mailbox_unknown",
        "zoho",
    ),
    // Yandex says 5.7.1 (policy) for an unknown user: the provider rule reads it right.
    (
        "nobody@yandex.test",
        "undeliverable",
        "mailbox_unknown",
        "yandex",
    ),
    (
        "nobody@mailru.test",
        "undeliverable",
        "mailbox_unknown",
        "mailru",
    ),
    ("nobody@gmx.test", "undeliverable", "mailbox_unknown", "gmx"),
    ("alice@mimecast.test", "risky", "catch_all", "mimecast"),
    (
        "nobody@mimecast-invalid.test",
        "undeliverable",
        "mailbox_unknown",
        "mimecast",
    ),
    (
        "alice@mimecast-policy.test",
        "unknown",
        "blocked_by_recipient",
        "mimecast",
    ),
    (
        "alice@proofpoint.test",
        "deliverable",
        "mailbox_exists",
        "proofpoint",
    ),
    (
        "nobody@proofpoint.test",
        "undeliverable",
        "mailbox_unknown",
        "proofpoint",
    ),
    (
        "alice@proofpoint-block.test",
        "unknown",
        "blocked_by_recipient",
        "proofpoint",
    ),
    (
        "nobody@barracuda.test",
        "undeliverable",
        "mailbox_unknown",
        "barracuda",
    ),
];

/// Throttling imitations, each verified in a run of its own: a throttled provider pauses its
/// whole budget (every host of the provider), which would hold the other rows back.
const THROTTLING: &[(&str, &str, &str, &str)] = &[
    ("alice@gmail-rate.test", "unknown", "rate_limited", "gmail"),
    ("alice@yahoo-tss.test", "unknown", "rate_limited", "yahoo"),
];

fn verify(addresses: &[&str]) -> BTreeMap<String, Value> {
    let map = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/providers.map");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.arg("verify")
        .args(addresses)
        .args([
            "--json",
            "--timeout",
            "2s",
            "--greeting-wait",
            "3s",
            "--greylist-retry",
            "2s",
            "--deadline",
            "8s",
        ])
        .args(lab().flags())
        .env("MXRAY_PROVIDER_MAP", map)
        .env("NO_COLOR", "1");
    let out = run(cmd, None);
    assert!(
        out.code == 0 || out.code == 1,
        "exit {}: {}",
        out.code,
        out.stderr
    );
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .inspect(|v| conforms(&["verify"], v))
        .map(|v| (v["address"].as_str().unwrap_or_default().to_string(), v))
        .collect()
}

#[test]
fn provider_imitations_get_every_verdict_right() {
    let addresses: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    check(EXPECTED, &verify(&addresses));
}

#[test]
fn throttling_imitations_are_unknown_rate_limited() {
    for row in THROTTLING {
        check(std::slice::from_ref(row), &verify(&[row.0]));
    }
}

fn check(expected: &[(&str, &str, &str, &str)], got: &BTreeMap<String, Value>) {
    let mut wrong = Vec::new();
    for (address, verdict, reason, provider) in expected {
        let Some(r) = got.get(*address) else {
            wrong.push(format!("{address}: no result"));
            continue;
        };
        let have = (
            r["verdict"].as_str().unwrap_or_default(),
            r["reason"].as_str().unwrap_or_default(),
            r["provider"].as_str().unwrap_or_default(),
        );
        if have != (*verdict, *reason, *provider) {
            wrong.push(format!(
                "{address}: want {verdict}/{reason}/{provider}, got {have:?} ({})",
                r["reply"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn yahoo_like_addresses_are_never_deliverable() {
    let addresses = [
        "alice@yahoo.test",
        "bob@yahoo.test",
        "postmaster@yahoo.test",
        "alice@aol.test",
        "x.y+z@aol.test",
    ];
    let got = verify(&addresses);
    assert_eq!(got.len(), addresses.len(), "{got:?}");
    for (address, r) in &got {
        assert_eq!(r["provider"], "yahoo", "{address}: {r}");
        assert_ne!(r["verdict"], "deliverable", "{address}: {r}");
    }
}

#[test]
fn without_the_map_lab_hosts_are_no_provider() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(["verify", "alice@yahoo.test", "--json", "--timeout", "2s"])
        .args(lab().flags())
        .env_remove("MXRAY_PROVIDER_MAP")
        .env("NO_COLOR", "1");
    let out = run(cmd, None);
    let r: Value = out
        .stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no result: {}", out.stderr));
    assert!(r.get("provider").is_none(), "{r}");
    assert_eq!(r["verdict"], "risky", "{r}");
    assert_eq!(r["reason"], "catch_all", "{r}");
}
