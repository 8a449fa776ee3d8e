//! Scenario validation: errors name the file, line and column, and say what is wrong;
//! what is allowed on purpose (MX to nowhere) and generated (mailbox ranges) is accepted.

use mxray_lab::{Scenario, ScenarioError};

fn err(text: &str) -> String {
    match Scenario::from_str_named(text, "bad.toml") {
        Ok(_) => panic!("scenario should be rejected:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_key_is_rejected_with_position() {
    let e = err("[[domains]]\nname = \"a.test\"\nmxx = [\"10 mx.a.test\"]\n");
    assert!(e.starts_with("bad.toml:3:1: "), "{e}");
    assert!(e.contains("mxx"), "{e}");
}

#[test]
fn unknown_behaviour_key_is_rejected() {
    let e = err("[[hosts]]\nname = \"mx.a.test\"\naddress = \"127.0.0.9\"\ngreylisting = true\n");
    assert!(e.starts_with("bad.toml:4:1: "), "{e}");
    assert!(e.contains("greylisting"), "{e}");
}

#[test]
fn non_loopback_address_is_rejected() {
    let e = err("[[hosts]]\nname = \"mx.a.test\"\naddress = \"10.0.0.1\"\n");
    assert!(e.starts_with("bad.toml:3:11: "), "{e}");
    assert!(e.contains("not a loopback address"), "{e}");
    let e = err("[[domains]]\nname = \"a.test\"\na = [\"192.0.2.1\"]\n");
    assert!(e.starts_with("bad.toml:3:6: "), "{e}");
    let e = err("[[domains]]\nname = \"a.test\"\naaaa = [\"2001:db8::1\"]\n");
    assert!(e.contains("not a loopback"), "{e}");
}

#[test]
fn malformed_address_is_rejected() {
    let e = err("[[hosts]]\nname = \"mx.a.test\"\naddress = \"127.0.0.300\"\n");
    assert!(e.starts_with("bad.toml:3:11: "), "{e}");
    assert!(e.contains("not an IP address"), "{e}");
}

#[test]
fn duplicate_host_and_address_are_rejected() {
    let e = err(
        "[[hosts]]\nname = \"mx.a.test\"\naddress = \"127.0.0.9\"\n\n[[hosts]]\nname = \"MX.a.test\"\naddress = \"127.0.0.8\"\n",
    );
    assert!(e.starts_with("bad.toml:6:8: "), "{e}");
    assert!(e.contains("duplicate host name"), "{e}");
    let e = err(
        "[[hosts]]\nname = \"mx.a.test\"\naddress = \"127.0.0.9\"\n\n[[hosts]]\nname = \"mx.b.test\"\naddress = \"127.0.0.9\"\n",
    );
    assert!(e.starts_with("bad.toml:7:11: "), "{e}");
    assert!(e.contains("duplicate host address 127.0.0.9"), "{e}");
}

#[test]
fn names_must_be_reserved_by_rfc2606() {
    let e = err("[[domains]]\nname = \"gmail.com\"\n");
    assert!(e.contains("not under .test"), "{e}");
    let e = err("[[hosts]]\nname = \"mx.example.co\"\naddress = \"127.0.0.9\"\n");
    assert!(e.contains("not under .test"), "{e}");
    // The documentation names are reserved too, so the README's examples run against a lab.
    Scenario::from_str_named(
        "[[domains]]\nname = \"example.com\"\nmx = [\"10 mx.example.com\"]\n\n[[hosts]]\nname = \"mx.example.com\"\naddress = \"127.0.0.9\"\n",
        "ok.toml",
    )
    .expect("example.com is RFC 2606's");
}

#[test]
fn mx_to_unknown_things_is_allowed() {
    let s = Scenario::from_str_named(
        "[[domains]]\nname = \"a.test\"\nmx = [\"10 nowhere.a.test\", \"20 mx.elsewhere.example\", \"30 127.0.0.99\"]\n",
        "ok.toml",
    )
    .expect("a broken MX is something to reproduce, not an error");
    assert_eq!(s.domains[0].nodes[0].records.len(), 3);
}

#[test]
fn bad_values_are_explained() {
    let cases = [
        (
            "[[domains]]\nname = \"a.test\"\nmx = [\"mx.a.test\"]\n",
            "PREFERENCE EXCHANGE",
        ),
        (
            "[[domains]]\nname = \"a.test\"\nfailure = \"explode\"\n",
            "unknown failure",
        ),
        (
            "[[domains]]\nname = \"a.test\"\n[[domains.records]]\nname = \"mx\"\na = [\"127.0.0.9\"]\nrotate = true\n",
            "`rotate` needs two addresses",
        ),
        (
            "[[domains]]\nname = \"a.test\"\nfailure = \"servfail\"\nfailure_types = [\"XYZ\"]\n",
            "unknown record type",
        ),
        (
            "[[hosts]]\nname = \"mx.a.test\"\naddress = \"127.0.0.9\"\nbanner = \"hello\"\n",
            "three-digit code",
        ),
        (
            "[[hosts]]\nname = \"mx.a.test\"\naddress = \"127.0.0.9\"\ngreylist = { delay = \"soon\" }\n",
            "not a duration",
        ),
        (
            "[[hosts]]\nname = \"mx.a.test\"\naddress = \"127.0.0.9\"\nstarttls = \"maybe\"\n",
            "unknown starttls mode",
        ),
        (
            "[[hosts]]\nname = \"mx.a.test\"\naddress = \"127.0.0.9\"\nquirks = [\"chatty\"]\n",
            "unknown quirk",
        ),
        (
            "[[hosts]]\nname = \"mx.a.test\"\naddress = \"127.0.0.9\"\n[[hosts.clients]]\naddresses = [\"8.8.8.8\"]\n",
            "not a loopback",
        ),
        (
            "[[dnsbls]]\nzone = \"bl.test\"\nlisted = [{ entry = \"127.0.0.1\" }]\n",
            "RFC 5782",
        ),
        (
            "[[dnsbls]]\nzone = \"dbl.test\"\nkind = \"domain\"\nlisted = [{ entry = \"invalid\" }]\n",
            "INVALID",
        ),
        (
            "[[domains]]\nname = \"a.test\"\n[[domains]]\nname = \"a.test\"\n",
            "declared twice",
        ),
        (
            "[[domains]]\nname = \"a.test\"\n[[domains.records]]\nname = \"x.b.test.\"\n",
            "not inside domain",
        ),
        (
            "[[hosts]]\nname = \"mx.a.test\"\naddress = \"127.0.0.9\"\nmailbox_ranges = [{ prefix = \"u\", count = 2000000 }]\n",
            "mailboxes on one host",
        ),
        ("this is not toml", "bad.toml:1:"),
    ];
    for (text, want) in cases {
        let e = err(text);
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(e.starts_with("bad.toml:"), "{e}");
    }
}

#[test]
fn missing_file_names_the_path() {
    let e = Scenario::from_path(std::path::Path::new("/nonexistent/lab.toml")).unwrap_err();
    assert!(matches!(e, ScenarioError::Read { .. }));
    assert!(e.to_string().starts_with("/nonexistent/lab.toml: "), "{e}");
}

#[test]
fn from_path_reports_the_file_name() {
    let dir = std::env::temp_dir().join(format!("mxray-lab-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.toml");
    std::fs::write(
        &path,
        "[[hosts]]\nname = \"mx.a.test\"\naddress = \"1.2.3.4\"\n",
    )
    .unwrap();
    let e = Scenario::from_path(&path).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:3:11: ", path.display())), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn generator_and_overrides_expand() {
    let s = Scenario::from_str_named(
        r#"
[[hosts]]
name = "mx.a.test"
address = "127.0.0.9"
mailboxes = ["alice"]
mailbox_ranges = [{ prefix = "user", count = 100 }, { prefix = "x", count = 5, start = 0, domain = "b.test" }]
[[hosts.clients]]
addresses = ["127.0.0.77"]
greylist = { delay = "1s" }
"#,
        "gen.toml",
    )
    .unwrap();
    let h = &s.hosts[0];
    assert_eq!(h.behaviour.mailboxes.len(), 106);
    assert!(h.behaviour.mailboxes.contains("user100@a.test"));
    assert!(!h.behaviour.mailboxes.contains("user101@a.test"));
    assert!(h.behaviour.mailboxes.contains("x0@b.test"));
    assert!(!h.behaviour.mailboxes.contains("x0@a.test"));
    let other = h.behaviour_for("127.0.0.1".parse().unwrap());
    assert!(other.greylist.is_none());
    let special = h.behaviour_for("127.0.0.77".parse().unwrap());
    assert!(special.greylist.is_some());
    assert_eq!(
        special.mailboxes.len(),
        106,
        "overrides keep the host's other keys"
    );
}

#[test]
fn control_characters_in_errors_are_escaped() {
    let e = err("[[domains]]\nname = \"a.test\"\n\"evil\\u001b[31m\" = 1\n");
    assert!(!e.contains('\u{1b}'), "{e:?}");
    assert!(e.contains("\\u{1b}"), "{e}");
}

#[test]
fn dnssec_modes_are_checked() {
    let e = err("[[domains]]\nname = \"a.test\"\ndnssec = \"yes\"\n");
    assert!(e.starts_with("bad.toml:3:10: "), "{e}");
    assert!(e.contains("dnssec must be true, false"), "{e}");
    let e = err("[[domains]]\nname = \"a.test\"\ndnssec = 1\n");
    assert!(e.contains("dnssec must be"), "{e}");
    for (value, mode) in [
        ("true", Some(mxray_lab::scenario::Dnssec::Signed)),
        ("false", None),
        ("\"expired\"", Some(mxray_lab::scenario::Dnssec::Expired)),
        ("\"wrong-key\"", Some(mxray_lab::scenario::Dnssec::WrongKey)),
    ] {
        let text = format!("[[domains]]\nname = \"a.test\"\ndnssec = {value}\n");
        let s = Scenario::from_str_named(&text, "ok.toml").expect("valid");
        assert_eq!(s.domains[0].dnssec, mode, "{value}");
    }
}

#[test]
fn tlsa_key_placeholders_are_checked() {
    let base = "[[domains]]\nname = \"a.test\"\n[[domains.records]]\nname = \"_25._tcp.mx\"\n";
    let e = err(&format!("{base}tlsa = [\"3 0 1 @ca\"]\n"));
    assert!(e.contains("must be 1 1"), "{e}");
    let e = err(&format!("{base}tlsa = [\"3 1 1 @leaf()\"]\n"));
    assert!(e.contains("give @ca or @leaf(HOST)"), "{e}");
    let e = err(&format!("{base}tlsa = [\"3 1 1 @key\"]\n"));
    assert!(e.contains("give @ca or @leaf(HOST)"), "{e}");
    let s = Scenario::from_str_named(
        &format!("{base}tlsa = [\"3 1 1 @leaf(MX.a.test)\", \"2 1 1 @CA\"]\n"),
        "ok.toml",
    )
    .expect("valid");
    let recs: Vec<String> = s.domains[0]
        .nodes
        .iter()
        .flat_map(|n| n.records.iter())
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(
        recs.iter().any(|r| r.contains("Leaf(\"mx.a.test\")")),
        "{recs:?}"
    );
    assert!(recs.iter().any(|r| r.contains("Ca")), "{recs:?}");
}

#[test]
fn submission_keys_are_checked() {
    let host = "[[hosts]]\nname = \"relay.a.test\"\naddress = \"127.0.0.9\"\n";
    let e = err(&format!(
        "{host}submission = {{ user = \"\", password = \"p\" }}\n"
    ));
    assert!(e.starts_with("bad.toml:4:23: "), "{e}");
    let e = err(&format!(
        "{host}submission = {{ user = \"u\", password = \"p\", fail_first = {{ command = \"RCPT\", count = 1 }} }}\n"
    ));
    assert!(e.contains("expected MAIL or DATA"), "{e}");
    let e = err(&format!(
        "{host}submission = {{ user = \"u\", password = \"p\", fail_first = {{ command = \"DATA\", count = 0 }} }}\n"
    ));
    assert!(e.contains("at least 1"), "{e}");
    let e = err(&format!(
        "{host}submission = {{ user = \"u\", password = \"p\", fail_first = {{ command = \"DATA\", count = 1, reply = \"250 ok\" }} }}\n"
    ));
    assert!(e.contains("4xx or 5xx"), "{e}");
    let s = Scenario::from_str_named(
        &format!(
            "{host}submission = {{ user = \"u\", password = \"p\", fail_first = {{ command = \"mail\", count = 2 }} }}\n"
        ),
        "ok.toml",
    )
    .expect("valid");
    let sub = s.hosts[0].behaviour.submission.clone().expect("submission");
    let f = sub.fail_first.as_ref().expect("fail_first");
    assert_eq!((f.count, f.reply.code), (2, 451));
}
