//! `mxray records` end to end: each generator's records published in a lab world, then judged
//! by `mxray diagnose` as a receiver would read them (DMARC, DKIM, TLS-RPT, BIMI, MTA-STS with
//! its policy served over HTTPS); and bad input refused with the reason.

use serde_json::Value;

use crate::util::{TestLab, conforms, json_lines, mxray, mxray_lab};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/records/tests/data");

/// `mxray records ARGS --json`: the one document, checked against its schema.
fn generate(args: &[&str]) -> Value {
    let mut all = vec!["records"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = mxray(&all, None);
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    let docs = json_lines(&out);
    assert_eq!(docs.len(), 1, "{}", out.stdout);
    docs[0].clone()
}

/// The value of the record named `name` in a generated document.
fn value_of(doc: &Value, name: &str) -> String {
    doc["records"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == name))
        .and_then(|r| r["value"].as_str())
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
        .to_string()
}

/// A TOML basic string (JSON's escapes are TOML's).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

#[test]
fn generated_records_pass_diagnose_in_a_lab_world() {
    let dmarc = generate(&[
        "dmarc",
        "rec.test",
        "--policy",
        "reject",
        "--rua",
        "dmarc@rec.test",
    ]);
    let tlsrpt = generate(&["tlsrpt", "rec.test", "--rua", "mailto:tls@rec.test"]);
    let bimi = generate(&["bimi", "rec.test", "--logo", "https://rec.test/logo.svg"]);
    let key = format!("{KEYS}/rsa2048.pkcs8.pem");
    let dkim = generate(&["dkim", "rec.test", "--selector", "s1", "--key", &key]);
    let sts = generate(&[
        "mta-sts",
        "rec.test",
        "--mode",
        "enforce",
        "--mx",
        "mx.rec.test",
        "--id",
        "20261201",
    ]);
    let policy = sts["files"][0]["body"].as_str().expect("policy body");
    assert_eq!(
        sts["files"][0]["url"],
        "https://mta-sts.rec.test/.well-known/mta-sts.txt"
    );
    let dkim_value = value_of(&dkim, "s1._domainkey.rec.test");
    assert!(dkim_value.len() > 255, "RSA 2048 needs two strings");
    assert!(!dkim_value.contains("PRIVATE"), "{dkim_value}");

    let mut world = format!(
        "[lab]\nname = \"records\"\n\n[[domains]]\nname = \"rec.test\"\nmx = [\"10 mx.rec.test\"]\ntxt = [\"v=spf1 mx -all\"]\nmta_sts = {{ policy = {}, txt_record = false }}\n",
        toml_str(policy)
    );
    for (doc, name) in [
        (&dmarc, "_dmarc.rec.test"),
        (&tlsrpt, "_smtp._tls.rec.test"),
        (&bimi, "default._bimi.rec.test"),
        (&dkim, "s1._domainkey.rec.test"),
        (&sts, "_mta-sts.rec.test"),
    ] {
        world.push_str(&format!(
            "\n[[domains.records]]\nname = {}\ntxt = [{}]\n",
            toml_str(name),
            toml_str(&value_of(doc, name))
        ));
    }
    world.push_str("\n[[hosts]]\nname = \"mx.rec.test\"\naddress = \"127.0.9.1\"\n");
    let lab = TestLab::start(&world, "records.toml");
    let https = lab
        .https_port()
        .expect("the lab serves HTTPS for MTA-STS")
        .to_string();
    let out = mxray_lab(
        &lab,
        &[
            "diagnose",
            "rec.test",
            "--json",
            "--only",
            "auth,tls",
            "--dkim-selector",
            "s1",
            "--https-port",
            &https,
        ],
    );
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", out.stdout, out.stderr));
    conforms(&["diagnose"], &v);
    let findings = v["findings"].as_array().cloned().unwrap_or_default();
    let with = |prefix: &str, severity: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["id"].as_str().is_some_and(|i| i.starts_with(prefix)))
            .filter(|f| f["severity"] == severity)
            .filter_map(|f| f["id"].as_str().map(str::to_string))
            .collect()
    };
    for (prefix, ok) in [
        ("dmarc.", "dmarc.ok"),
        ("dkim.", "dkim.ok"),
        ("tlsrpt.", "tlsrpt.ok"),
        ("bimi.", "bimi.ok"),
        ("mta_sts.", "mta_sts.ok"),
    ] {
        assert!(
            with(prefix, "pass").iter().any(|i| i == ok),
            "{ok} missing: {:#}",
            v["findings"]
        );
        for bad in ["warn", "fail"] {
            assert!(
                with(prefix, bad).is_empty(),
                "{prefix} {bad}: {:?}",
                with(prefix, bad)
            );
        }
    }
}

/// Zone-file lines by default (long values split into quoted strings), plain values with
/// `--value`, a staged DMARC plan with `--rollout`; bad input exits 2 and names the fix.
#[test]
fn output_forms_and_refusals() {
    let key = format!("{KEYS}/rsa2048.pub.pem");
    let out = mxray(
        &[
            "records",
            "dkim",
            "example.com",
            "--selector",
            "s1",
            "--key",
            &key,
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = out.stdout.lines().next().unwrap_or_default();
    assert!(
        line.starts_with("s1._domainkey.example.com. 3600 IN TXT \"v=DKIM1; k=rsa; p="),
        "{line}"
    );
    assert!(line.contains("\" \""), "split into strings: {line}");
    let out = mxray(
        &[
            "records",
            "tlsrpt",
            "example.com",
            "--rua",
            "mailto:t@example.com",
            "--value",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "v=TLSRPTv1; rua=mailto:t@example.com");
    let out = mxray(
        &[
            "records",
            "dmarc",
            "example.com",
            "--policy",
            "none",
            "--rua",
            "d@example.com",
            "--rollout",
            "--json",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let steps = json_lines(&out);
    assert!(steps.len() >= 3, "{}", out.stdout);
    assert!(
        value_of(steps.last().expect("a step"), "_dmarc.example.com").contains("p=reject"),
        "{}",
        out.stdout
    );
    for (args, says) in [
        (
            vec![
                "records",
                "dmarc",
                "example.com",
                "--policy",
                "reject",
                "--pct",
                "101",
            ],
            "pct",
        ),
        (
            vec![
                "records",
                "dkim",
                "example.com",
                "--selector",
                "s1",
                "--key",
                "/nonexistent.pem",
            ],
            "--key",
        ),
        (
            vec![
                "records",
                "mta-sts",
                "example.com",
                "--mode",
                "enforce",
                "--mx",
                "*.*.example.com",
            ],
            "*.*.example.com",
        ),
        (
            vec!["records", "dmarc", "not a domain", "--policy", "none"],
            "not a domain",
        ),
    ] {
        let out = mxray(&args, None);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    let weak = format!("{KEYS}/rsa1024.pub.pem");
    let out = mxray(
        &[
            "records",
            "dkim",
            "example.com",
            "--selector",
            "s1",
            "--key",
            &weak,
        ],
        None,
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("2048"), "{}", out.stderr);
}
