//! `mxray records spf` and `records fix` end to end: a record over 10 lookups flattened, its
//! records published in a lab world and evaluated by the RFC 7208 evaluator for a set of
//! sender IPs against the original's parts (flattening must not change who passes); drift
//! found when a provider's ranges change; and each `records fix` correction published, then
//! judged by `diagnose`, clears the findings it answers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use mxray_diagnose::sender::spf::record::parse_record;
use mxray_diagnose::sender::spf::{SpfVerdict, check_host};
use serde_json::Value;

use crate::util::{TestLab, conforms, json, json_lines, mxray, mxray_lab};

/// Four providers: p1 nests three includes (a negated address, `a:` and `mx:` terms), p2
/// lists 42 networks, p3 decides per sender with `exists:` (cannot be flattened), p4 ends in
/// `redirect=`. Together with `mx` they cost 14 lookups.
fn providers(n1: &str) -> String {
    let many: Vec<String> = (0..40).map(|k| format!("ip4:8.{}.1.0/24", 2 * k)).collect();
    format!(
        r#"
[[domains]]
name = "p1.test"
mx = ["10 mx.p1.test"]
txt = ["v=spf1 include:_n1.p1.test include:_n2.p1.test include:_n3.p1.test -all"]
[[domains.records]]
name = "_n1"
txt = ["{n1}"]
[[domains.records]]
name = "_n2"
txt = ["v=spf1 -ip4:203.0.113.7 ip4:203.0.113.0/24 ~all"]
[[domains.records]]
name = "_n3"
txt = ["v=spf1 a:relay.p1.test mx:p1.test -all"]
[[domains.records]]
name = "relay"
a = ["127.0.50.1"]

[[domains]]
name = "p2.test"
txt = ["v=spf1 include:_x.p2.test include:_y.p2.test ~all"]
[[domains.records]]
name = "_x"
txt = ["v=spf1 {} -all"]
[[domains.records]]
name = "_y"
txt = ["v=spf1 ip4:198.51.100.64/26 ip4:192.0.2.0/24 ip6:2001:db8:2::/48 -all"]

[[domains]]
name = "p3.test"
txt = ["v=spf1 exists:%{{i}}._spf.p3.test -all"]
[[domains.records]]
name = "203.0.113.99._spf"
a = ["127.0.0.2"]

[[domains]]
name = "p4.test"
txt = ["v=spf1 ip4:100.64.0.0/24 redirect=_r.p4.test"]
[[domains.records]]
name = "_r"
txt = ["v=spf1 ip4:100.64.1.0/24 ?all"]

[[hosts]]
name = "mx.p1.test"
address = "127.0.9.2"
"#,
        many.join(" ")
    )
}

const N1: &str = "v=spf1 ip4:198.51.100.0/25 ip4:198.51.100.128/25 ip6:2001:db8:1::/48 -all";
const INCLUDES: [&str; 4] = ["p1.test", "p2.test", "p3.test", "p4.test"];

/// A TOML basic string.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

/// `send.test` publishing `records` (name -> value), beside the providers.
fn send_world(n1: &str, records: &[(String, String)]) -> String {
    let mut w = String::from(
        "[lab]\nname = \"spf\"\n\n[[domains]]\nname = \"send.test\"\nmx = [\"10 mx.send.test\"]\na = [\"127.0.9.5\"]\n",
    );
    // The original's `mx` part alone, to evaluate it as one of the original's parts.
    for (_, value) in records.iter().filter(|(n, _)| n == "send.test") {
        w.push_str(&format!("txt = [{}]\n", q(value)));
    }
    w.push_str("[[domains.records]]\nname = \"mxonly\"\ntxt = [\"v=spf1 mx:send.test -all\"]\n");
    for (name, value) in records.iter().filter(|(n, _)| n != "send.test") {
        w.push_str(&format!(
            "[[domains.records]]\nname = {}\ntxt = [{}]\n",
            q(name),
            q(value)
        ));
    }
    w.push_str("\n[[hosts]]\nname = \"mx.send.test\"\naddress = \"127.0.9.1\"\n");
    w.push_str(&providers(n1));
    w
}

fn spf_args(lab: &TestLab, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["records", "spf", "send.test", "--mx"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for i in INCLUDES {
        a.push("--include".into());
        a.push(i.into());
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a.push("--resolver".into());
    a.push(lab.resolver().to_string());
    a
}

fn run(args: &[String]) -> crate::util::Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    mxray(&refs, None)
}

/// Every address just inside and just outside each network of the flattened records, and
/// the addresses the kept terms decide.
fn samples(records: &[(String, String)]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = [
        "203.0.113.7",
        "203.0.113.99",
        "203.0.113.100",
        "127.0.50.1",
        "127.0.9.1",
        "127.0.9.2",
        "127.0.9.5",
        "100.64.0.5",
        "100.64.1.5",
        "100.64.2.5",
        "9.9.9.9",
        "2001:db8:1::1",
        "2001:db8:2::1",
        "2001:db8:3::1",
    ]
    .iter()
    .map(|s| s.parse().expect("ip"))
    .collect();
    // p2's networks (kept or flattened) and every ip4 term published.
    let p2: Vec<String> = (0..40).map(|k| format!("ip4:8.{}.1.0/24", 2 * k)).collect();
    let published = records
        .iter()
        .map(|(_, v)| v.as_str())
        .chain(p2.iter().map(String::as_str));
    for v in published {
        for t in v.split(' ') {
            let Some(net) = t.strip_prefix("ip4:") else {
                continue;
            };
            let (a, len) = net.split_once('/').unwrap_or((net, "32"));
            let a: std::net::Ipv4Addr = a.parse().expect("ip4 term");
            let len: u32 = len.parse().expect("prefix");
            let first = u32::from(a);
            let last = first | (u32::MAX.checked_shr(len).unwrap_or(0));
            for x in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                out.push(IpAddr::from(std::net::Ipv4Addr::from(x)));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn flattened_spf_passes_exactly_whom_the_original_passed() {
    let lab = TestLab::start(&send_world(N1, &[]), "spf-providers.toml");
    let mut args = spf_args(&lab, &["--json"]);
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let docs = json_lines(&out);
    assert_eq!(docs.len(), 1, "{}", out.stdout);
    let doc = &docs[0];
    conforms(&["records"], doc);
    assert_eq!(doc["spf"]["lookups_as_asked"], 14, "{doc:#}");
    let lookups = doc["spf"]["lookups"].as_u64().expect("lookups");
    assert!(lookups <= 10, "{doc:#}");
    // p1 (6 lookups) goes first; p3 decides per sender and stays.
    let flattened: Vec<&str> = doc["spf"]["flattened"]
        .as_array()
        .expect("flattened")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(flattened.contains(&"include:p1.test"), "{doc:#}");
    let kept = doc["spf"]["kept"].to_string();
    assert!(kept.contains("include:p3.test"), "{doc:#}");
    let records: Vec<(String, String)> = doc["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_string(),
                r["value"].as_str().expect("value").to_string(),
            )
        })
        .collect();
    assert_eq!(records[0].0, "send.test");
    for (name, value) in &records {
        assert!(value.len() <= 255, "{name}: {} bytes", value.len());
        parse_record(value).unwrap_or_else(|e| panic!("{name}: {value}: {}", e.why));
    }
    let notes = doc["notes"].to_string();
    assert!(notes.contains("--check-flattened"), "{notes}");

    // Published, the flattened records answer as the original's parts did, address by address.
    let published = TestLab::start(&send_world(N1, &records), "spf-flat.toml");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dns = mxray_net::Dns::new(&[published.resolver()], Duration::from_secs(2)).expect("dns");
    let ips = samples(&records);
    assert!(ips.len() > 150, "{} samples", ips.len());
    let mut passes = 0;
    rt.block_on(async {
        for ip in &ips {
            let got = check_host(&dns, *ip, "someone@send.test", "helo.test").await;
            let mut parts = Vec::new();
            for d in [
                "mxonly.send.test",
                "p1.test",
                "p2.test",
                "p3.test",
                "p4.test",
            ] {
                parts.push(check_host(&dns, *ip, &format!("someone@{d}"), "helo.test").await);
            }
            let want = if parts.iter().any(|p| p.result == SpfVerdict::Pass) {
                SpfVerdict::Pass
            } else {
                SpfVerdict::SoftFail
            };
            assert_eq!(
                got.result,
                want,
                "{ip}: flattened {:?} ({:?}), parts {:?}",
                got.result,
                got.decided_by,
                parts.iter().map(|p| p.result).collect::<Vec<_>>()
            );
            assert!(got.lookups <= 10, "{ip}: {} lookups", got.lookups);
            passes += usize::from(want == SpfVerdict::Pass);
        }
    });
    assert!(
        passes > 50 && passes < ips.len() - 20,
        "{passes} of {}",
        ips.len()
    );
    println!(
        "flattened SPF: {} sender addresses evaluated, {passes} pass",
        ips.len()
    );

    // In sync while nothing changes; a provider's new range (and a dropped one) is drift.
    args = spf_args(&published, &["--check-flattened", "--json"]);
    let out = run(&args);
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    let drift = json(&out);
    conforms(&["records-drift"], &drift);
    assert_eq!(drift["in_sync"], true, "{drift:#}");
    let moved = "v=spf1 ip4:198.51.100.0/25 ip4:198.18.0.0/24 ip6:2001:db8:1::/48 -all";
    let changed = TestLab::start(&send_world(moved, &records), "spf-drift.toml");
    let args = spf_args(&changed, &["--check-flattened", "--json"]);
    let out = run(&args);
    assert_eq!(out.code, 1, "{} {}", out.stdout, out.stderr);
    let drift = json(&out);
    assert_eq!(drift["in_sync"], false);
    assert_eq!(
        drift["missing"],
        serde_json::json!(["ip4:198.18.0.0/24"]),
        "{drift:#}"
    );
    assert_eq!(
        drift["extra"],
        serde_json::json!(["ip4:198.51.100.128/25"]),
        "{drift:#}"
    );
    // The human form names both and how to regenerate.
    let args = spf_args(&changed, &["--check-flattened"]);
    let out = run(&args);
    for want in [
        "missing: 1 network(s)",
        "\n  ip4:198.18.0.0/24\n",
        "extra: 1 network(s)",
        "\n  ip4:198.51.100.128/25\n",
        "regenerate",
    ] {
        assert!(out.stdout.contains(want), "{want}: {}", out.stdout);
    }
}

#[test]
fn spf_refusals_name_the_problem() {
    let lab = TestLab::start(&send_world(N1, &[]), "spf-refusals.toml");
    let r = lab.resolver().to_string();
    for (args, want) in [
        (
            vec![
                "records",
                "spf",
                "send.test",
                "--include",
                "nothing.p1.test",
            ],
            "publishes no SPF record",
        ),
        (
            vec!["records", "spf", "send.test", "--include", "send.test"],
            "send.test",
        ),
        (
            vec!["records", "spf", "send.test", "--ip4", "300.1.2.3"],
            "300.1.2.3",
        ),
        (
            vec![
                "records",
                "spf",
                "send.test",
                "--ip4",
                "192.0.2.1",
                "--all",
                "pass",
            ],
            "give softfail",
        ),
        (vec!["records", "spf", "not a domain"], "not a domain"),
    ] {
        let mut a = args.clone();
        a.extend(["--resolver", &r]);
        let out = mxray(&a, None);
        assert_eq!(out.code, 2, "{a:?}: {} {}", out.stdout, out.stderr);
        assert!(out.stderr.contains(want), "{a:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

/// What each fix domain publishes: absolute names to TXT values.
type Zone = BTreeMap<String, Vec<String>>;

fn fix_zone() -> Zone {
    let mut z = Zone::new();
    let mut put = |n: &str, v: &[&str]| {
        z.insert(n.to_string(), v.iter().map(|s| s.to_string()).collect());
    };
    // Two SPF records that, merged, need 11 lookups; no DMARC; an MTA-STS policy without mx2.
    put(
        "fix1.test",
        &[
            "v=spf1 include:p1.test include:p4.test ~all",
            "v=spf1 include:p2.test ip4:192.0.2.1 -all",
        ],
    );
    put("_mta-sts.fix1.test", &["v=STSv1; id=20260101"]);
    // An include of a name without SPF, ?all, and 11 lookups once it is gone; reports to a
    // domain that has not agreed to take them.
    put(
        "fix2.test",
        &[
            "v=spf1 include:p1.test include:p2.test include:gone.reports.test include:p4.test mx ?all",
        ],
    );
    put(
        "_dmarc.fix2.test",
        &["v=DMARC1; p=none; rua=mailto:d@reports.test"],
    );
    // +all, and DMARC without rua.
    put("fix3.test", &["v=spf1 mx +all"]);
    put("_dmarc.fix3.test", &["v=DMARC1; p=quarantine"]);
    z
}

fn fix_world(z: &Zone, policy: &str) -> String {
    let mut w = String::from("[lab]\nname = \"fix\"\n");
    for d in ["fix1.test", "fix2.test", "fix3.test", "reports.test"] {
        w.push_str(&format!("\n[[domains]]\nname = {}\n", q(d)));
        if d != "reports.test" {
            w.push_str(&format!("mx = [\"10 mx.{d}\", \"20 mx2.{d}\"]\n"));
        }
        if d == "fix1.test" {
            w.push_str(&format!(
                "mta_sts = {{ policy = {}, txt_record = false }}\n",
                q(policy)
            ));
        }
        let list =
            |values: &Vec<String>| values.iter().map(|v| q(v)).collect::<Vec<_>>().join(", ");
        if let Some(values) = z.get(d) {
            w.push_str(&format!("txt = [{}]\n", list(values)));
        }
        for (name, values) in z.iter().filter(|(n, _)| n.ends_with(&format!(".{d}"))) {
            w.push_str(&format!(
                "[[domains.records]]\nname = {}\ntxt = [{}]\n",
                q(name),
                list(values)
            ));
        }
    }
    for (i, d) in ["fix1.test", "fix2.test", "fix3.test"].iter().enumerate() {
        w.push_str(&format!(
            "\n[[hosts]]\nname = \"mx.{d}\"\naddress = \"127.0.8.{}\"\n[[hosts]]\nname = \"mx2.{d}\"\naddress = \"127.0.8.{}\"\n",
            2 * i + 1,
            2 * i + 2
        ));
    }
    w.push_str(&providers(N1));
    w
}

/// The finding ids of `diagnose --only auth,tls` that are warn or fail.
fn problems(lab: &TestLab, domain: &str) -> Vec<String> {
    let https = lab.https_port().expect("https").to_string();
    let out = mxray_lab(
        lab,
        &[
            "diagnose",
            domain,
            "--only",
            "auth,tls",
            "--json",
            "--https-port",
            &https,
        ],
    );
    let v = json(&out);
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "warn" || f["severity"] == "fail")
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn records_fix_corrections_clear_the_findings_they_answer() {
    let policy = "version: STSv1\nmode: enforce\nmx: mx.fix1.test\nmax_age: 604800\n";
    let zone = fix_zone();
    let lab = TestLab::start(&fix_world(&zone, policy), "fix.toml");
    let https = lab.https_port().expect("https").to_string();
    let mut fixed = zone.clone();
    let mut new_policy = policy.to_string();
    let mut answered: Vec<(String, Vec<String>)> = Vec::new();
    for d in ["fix1.test", "fix2.test", "fix3.test"] {
        let before = problems(&lab, d);
        let out = mxray_lab(
            &lab,
            &["records", "fix", d, "--json", "--https-port", &https],
        );
        assert_eq!(out.code, 1, "{d}: {} {}", out.stdout, out.stderr);
        let report = json(&out);
        conforms(&["records-fix"], &report);
        let mut ids = Vec::new();
        for f in report["fixes"].as_array().expect("fixes") {
            for id in f["findings"].as_array().expect("ids") {
                let id = id.as_str().expect("id").to_string();
                assert!(
                    before.contains(&id),
                    "{d}: {id} answered but not reported by diagnose: {before:?}"
                );
                ids.push(id);
            }
            let recs = f["corrected"]["records"].as_array().expect("records");
            // A correction replaces what is published at its names.
            for r in recs {
                fixed.remove(r["name"].as_str().expect("name"));
            }
            for r in recs {
                let (name, value) = (
                    r["name"].as_str().expect("name"),
                    r["value"].as_str().expect("value"),
                );
                if value.starts_with("v=spf1") {
                    parse_record(value).unwrap_or_else(|e| panic!("{name}: {value}: {}", e.why));
                }
                fixed
                    .entry(name.to_string())
                    .or_default()
                    .push(value.to_string());
            }
            if let Some(file) = f["corrected"]["files"].as_array().and_then(|a| a.first()) {
                new_policy = file["body"].as_str().expect("body").to_string();
            }
        }
        answered.push((d.to_string(), ids));
    }
    let want: [(&str, &[&str]); 3] = [
        (
            "fix1.test",
            &["spf.multiple", "dmarc.missing", "mta_sts.mx_mismatch"],
        ),
        (
            "fix2.test",
            &[
                "spf.permissive_all",
                "spf.include_missing",
                "spf.too_many_lookups",
                "dmarc.rua_unauthorized",
            ],
        ),
        ("fix3.test", &["spf.permissive_all", "dmarc.no_rua"]),
    ];
    for ((d, ids), (wd, wids)) in answered.iter().zip(want) {
        assert_eq!(d, wd);
        let mut got = ids.clone();
        got.sort();
        got.dedup();
        let mut w: Vec<String> = wids.iter().map(|s| s.to_string()).collect();
        w.sort();
        assert_eq!(got, w, "{d}");
    }
    // Published, the corrections clear what they answered.
    let after = TestLab::start(&fix_world(&fixed, &new_policy), "fixed.toml");
    for (d, ids) in &answered {
        let left = problems(&after, d);
        for id in ids {
            assert!(
                !left.contains(id),
                "{d}: {id} still reported after the fix: {left:?}"
            );
        }
        let out = mxray_lab(
            &after,
            &[
                "records",
                "fix",
                d,
                "--https-port",
                &after.https_port().expect("https").to_string(),
            ],
        );
        assert_eq!(out.code, 0, "{d}: nothing left to fix, but: {}", out.stdout);
    }
    // diagnose shows the same corrected record in the finding's fix.
    let out = mxray_lab(&lab, &["diagnose", "fix3.test", "--only", "auth", "--json"]);
    let v = json(&out);
    let fix = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "spf.permissive_all")
        .and_then(|f| f["fix"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        fix.contains("fix3.test. 3600 IN TXT \"v=spf1 mx ~all\""),
        "{fix}"
    );
}
