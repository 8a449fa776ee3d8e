//! Data-driven test: every real-world reply in `data/replies.txt` is extracted and classified as
//! the table says, and every enumerated code of the IANA registry is explained.

use mxray_core::{Class, explain, registry};

fn class_name(c: Option<Class>) -> &'static str {
    c.map_or("-", Class::as_str)
}

#[test]
fn real_world_replies_are_explained_as_the_table_says() {
    let table = include_str!("data/replies.txt");
    let mut cases = 0;
    let mut failures = Vec::new();
    for (n, line) in table.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(5, " | ").collect();
        let [situation, class, code, enhanced, input] = fields[..] else {
            panic!("data/replies.txt:{}: expected 5 fields", n + 1);
        };
        cases += 1;
        let input = input.replace("\\n", "\n");
        let e = match explain(&input) {
            Ok(e) => e,
            Err(err) => {
                failures.push(format!("line {}: {err}", n + 1));
                continue;
            }
        };
        let got_code = e.reply_code.map_or("-".to_string(), |c| c.to_string());
        let got_enh = e.enhanced_code.map_or("-".to_string(), |c| c.to_string());
        let got = (
            e.situation.as_str(),
            class_name(e.class),
            got_code.as_str(),
            got_enh.as_str(),
        );
        if got != (situation, class, code, enhanced) {
            failures.push(format!(
                "line {}: expected {situation} {class} {code} {enhanced}, got {} {} {} {} (decided by {})",
                n + 1,
                got.0,
                got.1,
                got.2,
                got.3,
                e.decided_by
            ));
        }
        assert!(
            !e.text.contains("421-4."),
            "continuation marker left in {:?}",
            e.text
        );
    }
    assert!(
        cases >= 60,
        "the table must hold at least 60 replies, has {cases}"
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_registry_code_is_explained() {
    for entry in registry::ENTRIES {
        for class in [2u8, 4, 5] {
            let code = format!("{class}.{}.{}", entry.subject, entry.detail);
            let e = explain(&code).unwrap_or_else(|err| panic!("{code}: {err}"));
            assert!(e.known, "{code} should be known");
            assert_eq!(e.detail, Some(entry.title), "{code}");
            assert!(e.subject.is_some(), "{code}");
            assert!(!e.meaning.is_empty(), "{code}");
            if class != 2 {
                assert!(
                    !e.causes.is_empty() && !e.next_steps.is_empty(),
                    "{code} has no advice"
                );
                assert_eq!(e.retry, Some(class == 4), "{code}");
            }
        }
        let x = format!("X.{}.{}", entry.subject, entry.detail);
        let e = explain(&x).unwrap_or_else(|err| panic!("{x}: {err}"));
        assert_eq!(e.detail, Some(entry.title), "{x}");
        assert_eq!(e.class, None, "{x}");
    }
}

#[test]
fn unknown_but_well_formed_codes_are_explained_from_class_and_subject() {
    for code in ["4.4.99", "5.7.999", "5.9.1", "429", "4.1.77"] {
        let e = explain(code).unwrap_or_else(|err| panic!("{code}: {err}"));
        assert!(!e.known, "{code}");
        assert!(!e.meaning.is_empty());
    }
}
