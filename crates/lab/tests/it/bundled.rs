//! The bundled scenarios parse, start, and keep their promises: seeds reproduces each
//! failure from the guides, world is big and has every behaviour at least once.

use mxray_lab::{Lab, LabOptions, Scenario, bundled};

#[test]
fn seeds_and_world_parse() {
    for (name, text) in bundled::ALL {
        Scenario::from_str_named(text, name).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn world_is_big_enough() {
    let w = Scenario::from_str_named(bundled::WORLD, "world.toml").unwrap();
    assert!(w.domains.len() >= 20, "{} domains", w.domains.len());
    assert!(w.mailbox_count() >= 2000, "{} mailboxes", w.mailbox_count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_start_and_answer() {
    let s = Scenario::from_str_named(bundled::SEEDS, "seeds.toml").unwrap();
    let lab = Lab::start(s, LabOptions::default()).await.unwrap();
    let info = lab.ready_info();
    assert!(info.hosts.iter().any(|h| h.name == "mx.ok.test"));
    assert!(info.https_port.is_some());
    assert!(info.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let json = serde_json::to_value(&info).unwrap();
    assert!(json["resolver"].as_str().unwrap().starts_with("127.0.0.1:"));
    let mut c = crate::util::ready_for_rcpt(lab.host_addr("mx.ok.test").unwrap()).await;
    c.expect("RCPT TO:<alice@ok.test>", 250).await;
    c.expect("QUIT", 221).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_starts() {
    let s = Scenario::from_str_named(bundled::WORLD, "world.toml").unwrap();
    let lab = Lab::start(s, LabOptions::default()).await.unwrap();
    assert!(lab.ready_info().hosts.len() >= 20);
    lab.shutdown().await;
}

#[test]
fn world_has_every_behaviour_at_least_once() {
    use mxray_lab::scenario::{FailureKind, Record};
    let w = Scenario::from_str_named(bundled::WORLD, "world.toml").unwrap();
    let mut tags: Vec<String> = Vec::new();
    for h in &w.hosts {
        tags.extend(h.behaviour.describe());
        for c in &h.clients {
            tags.extend(c.behaviour.describe());
        }
    }
    let has = |prefix: &str| tags.iter().any(|t| t.starts_with(prefix));
    for want in [
        "mailboxes(",
        "catch-all",
        "mailbox-full(",
        "over-quota(",
        "disabled(",
        "greylist(",
        "greylist(1s, 451 4.7.1",
        "rate-limit(",
        "concurrency(",
        "banner(421 4.4.0",
        "banner(554 5.7.1",
        "close-after(3, 421 4.4.2",
        "close-after(1, bare)",
        "rcpt-reply(421 4.4.3",
        "rcpt-limit(",
        "tarpit(",
        "latency(",
        "silent",
        "refuse",
        "starttls(expired)",
        "starttls(expiring)",
        "starttls(self-signed)",
        "starttls(wrong-name)",
        "starttls(broken)",
        "starttls(none)",
        "ehlo-reply(502",
        "quirk(bare-lf)",
        "quirk(long-replies)",
        "quirk(lowercase)",
        "quirk(multiline-banner)",
        "data(reject)",
    ] {
        assert!(has(want), "world.toml lacks {want}");
    }
    assert!(w.hosts.iter().any(|h| h.behaviour.describe().is_empty()
        || h.behaviour.starttls == mxray_lab::scenario::TlsMode::Valid));
    let nodes: Vec<_> = w.domains.iter().flat_map(|d| d.nodes.iter()).collect();
    for kind in [
        FailureKind::ServFail,
        FailureKind::Refused,
        FailureKind::NxDomain,
        FailureKind::Timeout,
        FailureKind::Truncate,
    ] {
        assert!(
            nodes
                .iter()
                .any(|n| n.failure.as_ref().is_some_and(|f| f.kind == kind)),
            "{kind:?}"
        );
    }
    let records: Vec<&Record> = nodes.iter().flat_map(|n| n.records.iter()).collect();
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Mx { exchange, .. } if exchange == "."))
    );
    assert!(records.iter().any(|r| matches!(r, Record::Cname(_))));
    assert!(records.iter().any(|r| matches!(r, Record::Tlsa { .. })));
    assert!(records.iter().any(|r| matches!(r, Record::Aaaa(_))));
    for txt in ["v=spf1", "v=DMARC1", "v=DKIM1", "v=TLSRPTv1", "v=BIMI1"] {
        assert!(
            records
                .iter()
                .any(|r| matches!(r, Record::Txt(t) if t.starts_with(txt))),
            "{txt}"
        );
    }
    assert!(w.domains.iter().any(|d| d.mta_sts.is_some()));
    assert!(
        w.dnsbls
            .iter()
            .any(|b| b.kind == mxray_lab::scenario::DnsblKind::Ip)
    );
    assert!(
        w.dnsbls
            .iter()
            .any(|b| b.kind == mxray_lab::scenario::DnsblKind::Domain)
    );
    assert!(!w.ptrs.is_empty());
    assert!(
        w.hosts
            .iter()
            .any(|h| h.ptr.as_deref() != Some(h.name.as_str()))
    );
}

#[test]
fn seeds_reproduce_the_guides_failures() {
    let s = Scenario::from_str_named(bundled::SEEDS, "seeds.toml").unwrap();
    let tags: Vec<String> = s
        .hosts
        .iter()
        .flat_map(|h| h.behaviour.describe())
        .collect();
    for want in [
        "banner(421 4.4.0",
        "close-after(2, 421 4.4.2",
        "rcpt-reply(421 4.4.3",
        "greylist(",
        "rate-limit(",
        "concurrency(",
        "tarpit(",
        "starttls(expired)",
    ] {
        assert!(
            tags.iter().any(|t| t.starts_with(want)),
            "seeds.toml lacks {want}"
        );
    }
    assert!(!s.dnsbls.is_empty(), "a blocklisted IP");
    for d in ["no-mx.test", "null-mx.test", "broken-mx.test"] {
        assert!(s.domains.iter().any(|x| x.name == d), "{d}");
    }
}
