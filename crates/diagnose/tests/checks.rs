//! The checks, judged from hand-made observations: no sockets, every rule pinned down.

use std::net::IpAddr;

use mxray_core::Severity;
use mxray_core::address::parse_target;
use mxray_diagnose::recipient::observe::{AddrObs, HostObs, Observations, Step};
use mxray_diagnose::recipient::{self, mx};
use mxray_diagnose::verdict;
use mxray_diagnose::{HostState, Overall};
use mxray_net::{
    CertInfo, DnsAnswer, DnsOutcome, DnsRecord, RType, Reply, SmtpError, TlsObservation,
};

const NOW: i64 = 1_800_000_000;

fn answer(name: &str, rtype: RType, outcome: DnsOutcome, records: Vec<DnsRecord>) -> DnsAnswer {
    DnsAnswer {
        name: name.into(),
        rtype,
        outcome,
        records,
        elapsed_ms: 1,
    }
}

fn mx(domain: &str, list: &[(u16, &str)]) -> DnsAnswer {
    answer(
        domain,
        RType::Mx,
        DnsOutcome::Answer,
        list.iter()
            .map(|(p, x)| DnsRecord::Mx {
                owner: domain.into(),
                preference: *p,
                exchange: x.to_string(),
            })
            .collect(),
    )
}

fn reply(code: u16, text: &str, ms: u64) -> Reply {
    Reply {
        code,
        lines: vec![text.to_string()],
        elapsed_ms: ms,
    }
}

fn step(cmd: &str, r: Result<Reply, SmtpError>) -> Option<Step> {
    Some(Step {
        command: cmd.into(),
        result: r,
    })
}

fn ptr(addr: IpAddr, name: Option<&str>) -> (Option<DnsAnswer>, Vec<DnsAnswer>) {
    let owner = mxray_net::dns::reverse_name(addr);
    match name {
        None => (
            Some(answer(&owner, RType::Ptr, DnsOutcome::NxDomain, vec![])),
            vec![],
        ),
        Some(n) => (
            Some(answer(
                &owner,
                RType::Ptr,
                DnsOutcome::Answer,
                vec![DnsRecord::Ptr {
                    owner: owner.clone(),
                    target: n.into(),
                }],
            )),
            vec![answer(
                n,
                RType::A,
                DnsOutcome::Answer,
                vec![DnsRecord::A {
                    owner: n.into(),
                    addr,
                }],
            )],
        ),
    }
}

fn cert(names: &[&str], not_after: i64, self_signed: bool) -> CertInfo {
    CertInfo {
        subject: "CN=x".into(),
        issuer: if self_signed {
            "CN=x".into()
        } else {
            "CN=Lab CA".into()
        },
        names: names.iter().map(|s| s.to_string()).collect(),
        not_before: NOW - 86_400,
        not_after,
        self_signed,
        der: Vec::new(),
        spki: Vec::new(),
    }
}

/// A healthy address: greeting, EHLO with STARTTLS, a good certificate, matching rDNS.
fn healthy(addr: &str, name: &str) -> AddrObs {
    let ip: IpAddr = addr.parse().unwrap();
    let mut a = AddrObs::new(ip);
    let (p, f) = ptr(ip, Some(name));
    a.ptr = p;
    a.ptr_forward = f;
    a.connect = Ok(1);
    a.banner = step("(greeting)", Ok(reply(220, &format!("{name} ESMTP"), 5)));
    a.ehlo = step(
        "EHLO me",
        Ok(Reply {
            code: 250,
            lines: vec![name.into(), "PIPELINING".into(), "STARTTLS".into()],
            elapsed_ms: 1,
        }),
    );
    a.starttls = step("STARTTLS", Ok(reply(220, "2.0.0 go", 1)));
    a.tls = Some(TlsObservation {
        handshake_error: None,
        version: Some("TLSv1.3".into()),
        cipher: Some("TLS13_AES_128_GCM_SHA256".into()),
        chain: vec![cert(&[name], NOW + 90 * 86_400, false)],
        verify_error: None,
        verify_kind: None,
        roots: "lab".into(),
        elapsed_ms: 3,
    });
    a.ehlo_tls = step(
        "EHLO me",
        Ok(Reply {
            code: 250,
            lines: vec![name.into(), "PIPELINING".into()],
            elapsed_ms: 1,
        }),
    );
    a
}

fn host(name: &str, pref: u16, addrs: Vec<AddrObs>) -> HostObs {
    HostObs {
        name: name.into(),
        preference: Some(pref),
        ip_literal: false,
        cname: None,
        a: Some(answer(name, RType::A, DnsOutcome::Answer, vec![])),
        aaaa: Some(answer(name, RType::Aaaa, DnsOutcome::NoData, vec![])),
        addrs,
        skipped_addrs: vec![],
    }
}

fn obs(target: &str, mx: DnsAnswer, hosts: Vec<HostObs>) -> Observations {
    Observations {
        target: parse_target(target).unwrap(),
        mx,
        mx_cd: None,
        implicit: None,
        hosts,
        probe: false,
        smtp_port: 25,
        greeting_wait_ms: 30_000,
        smtp_checked: true,
        sender: None,
        at_unix: NOW,
    }
}

fn ids(f: &[mxray_core::Finding], sev: Severity) -> Vec<&'static str> {
    f.iter()
        .filter(|x| x.severity == sev)
        .map(|x| x.id)
        .collect()
}

#[test]
fn healthy_domain_has_no_failure_or_warning() {
    let o = obs(
        "ok.test",
        mx("ok.test", &[(10, "mx.ok.test")]),
        vec![host(
            "mx.ok.test",
            10,
            vec![healthy("127.0.0.10", "mx.ok.test")],
        )],
    );
    let f = recipient::check(&o);
    assert!(ids(&f, Severity::Fail).is_empty(), "{f:#?}");
    assert!(ids(&f, Severity::Warn).is_empty(), "{f:#?}");
    for id in ["mx.present", "smtp.ok", "tls.ok", "rdns.ok"] {
        assert!(ids(&f, Severity::Pass).contains(&id), "{id}");
    }
    assert_eq!(
        verdict::verdict(Some(&o), &f).overall,
        Overall::DeliverablePath
    );
}

#[test]
fn dns_outcomes_of_the_mx_query() {
    for (outcome, id) in [
        (DnsOutcome::NxDomain, "domain.nxdomain"),
        (DnsOutcome::ServFail, "dns.servfail"),
        (DnsOutcome::Timeout, "dns.timeout"),
    ] {
        let o = obs(
            "x.test",
            answer("x.test", RType::Mx, outcome, vec![]),
            vec![],
        );
        let f = recipient::check(&o);
        assert_eq!(ids(&f, Severity::Fail), vec![id]);
        assert_eq!(verdict::verdict(Some(&o), &f).overall, Overall::Broken);
    }
}

/// SERVFAIL, then data with the CD bit: the zone's DNSSEC is broken, and that is the
/// recipient's fault (RFC 4035 3.2.2); SERVFAIL again with CD stays a resolution failure.
#[test]
fn servfail_with_data_under_cd_is_bogus_dnssec() {
    let mut o = obs(
        "bogus.test",
        answer("bogus.test", RType::Mx, DnsOutcome::ServFail, vec![]),
        vec![],
    );
    let mut cd = mx("bogus.test", &[(10, "mx.bogus.test")]);
    let expired = o.at_unix - 2 * 86_400;
    cd.records.push(DnsRecord::Other {
        owner: "bogus.test".into(),
        rtype: "RRSIG".into(),
        data: format!(
            "MX ECDSAP256SHA256 2 300 {expired} {} 27826 bogus.test. c2ln",
            expired - 86_400
        ),
    });
    o.mx_cd = Some(cd);
    let f = recipient::check(&o);
    assert_eq!(ids(&f, Severity::Fail), vec!["dnssec.bogus"]);
    assert!(
        f[0].evidence.iter().any(|e| e.contains("mx.bogus.test")),
        "{f:?}"
    );
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.contains("RRSIG over MX by key 27826") && e.contains("EXPIRED 2 day(s)")),
        "{f:?}"
    );
    let v = verdict::verdict(Some(&o), &f);
    assert_eq!(v.overall, Overall::Broken);
    assert_eq!(v.side, mxray_core::Side::Recipient);
    o.mx_cd = Some(answer(
        "bogus.test",
        RType::Mx,
        DnsOutcome::ServFail,
        vec![],
    ));
    let f = recipient::check(&o);
    assert_eq!(ids(&f, Severity::Fail), vec!["dns.servfail"]);
    assert_eq!(verdict::verdict(Some(&o), &f).side, mxray_core::Side::Path);
}

#[test]
fn null_mx_duplicates_and_typos() {
    let o = obs("null.test", mx("null.test", &[(0, ".")]), vec![]);
    assert_eq!(ids(&recipient::check(&o), Severity::Fail), vec!["mx.null"]);
    let o = obs(
        "gmial.com",
        mx("gmial.com", &[(10, "mx.gmial.com"), (20, "mx.gmial.com")]),
        vec![host(
            "mx.gmial.com",
            10,
            vec![healthy("127.0.0.10", "mx.gmial.com")],
        )],
    );
    let w = ids(&recipient::check(&o), Severity::Warn);
    assert!(
        w.contains(&"domain.typo") && w.contains(&"mx.duplicate"),
        "{w:?}"
    );
}

#[test]
fn host_level_failures() {
    let ip: IpAddr = "127.0.0.20".parse().unwrap();
    let mut refused = AddrObs::new(ip);
    refused.connect = Err(SmtpError::Refused);
    refused.ptr = ptr(ip, None).0;
    let mut timeout = AddrObs::new("127.0.0.21".parse().unwrap());
    timeout.connect = Err(SmtpError::Timeout(10_000));
    let mut banner = healthy("127.0.0.22", "b.test");
    banner.banner = step(
        "(greeting)",
        Ok(reply(
            421,
            "4.4.0 The server's transport agent was unable to",
            2,
        )),
    );
    banner.ehlo = None;
    banner.starttls = None;
    banner.tls = None;
    banner.ehlo_tls = None;
    let mut silent = AddrObs::new("127.0.0.23".parse().unwrap());
    silent.connect = Ok(1);
    silent.banner = step("(greeting)", Err(SmtpError::Timeout(30_000)));
    let mut slow = healthy("127.0.0.24", "s.test");
    slow.banner = step("(greeting)", Ok(reply(220, "s.test ESMTP", 4_000)));
    let o = obs(
        "t.test",
        mx(
            "t.test",
            &[
                (1, "r.test"),
                (2, "t1.test"),
                (3, "b.test"),
                (4, "q.test"),
                (5, "s.test"),
            ],
        ),
        vec![
            host("r.test", 1, vec![refused]),
            host("t1.test", 2, vec![timeout]),
            host("b.test", 3, vec![banner]),
            host("q.test", 4, vec![silent]),
            host("s.test", 5, vec![slow]),
        ],
    );
    let f = recipient::check(&o);
    let fails = ids(&f, Severity::Fail);
    for id in ["smtp.refused", "smtp.connect_timeout", "smtp.banner_4xx"] {
        assert!(fails.contains(&id), "{id} in {fails:?}");
    }
    let warns = ids(&f, Severity::Warn);
    for id in [
        "smtp.silent",
        "smtp.slow_greeting",
        "smtp.some_mx_down",
        "rdns.missing",
    ] {
        assert!(warns.contains(&id), "{id} in {warns:?}");
    }
    let v = verdict::verdict(Some(&o), &f);
    assert_eq!(v.overall, Overall::Degraded);
    assert_eq!(
        v.hosts[3].state,
        HostState::Inconclusive,
        "silent is never down"
    );
    let b = f.iter().find(|x| x.id == "smtp.banner_4xx").unwrap();
    assert!(b.detail.contains("4.4.0"));
}

#[test]
fn all_down_is_broken_and_silent_only_is_inconclusive() {
    let mut refused = AddrObs::new("127.0.0.20".parse().unwrap());
    refused.connect = Err(SmtpError::Refused);
    let o = obs(
        "d.test",
        mx("d.test", &[(1, "r.test")]),
        vec![host("r.test", 1, vec![refused])],
    );
    let f = recipient::check(&o);
    assert!(ids(&f, Severity::Fail).contains(&"smtp.all_mx_down"));
    assert_eq!(verdict::verdict(Some(&o), &f).overall, Overall::Broken);

    let mut silent = AddrObs::new("127.0.0.23".parse().unwrap());
    silent.connect = Ok(1);
    silent.banner = step("(greeting)", Err(SmtpError::Timeout(30_000)));
    let o = obs(
        "q.test",
        mx("q.test", &[(1, "q.test")]),
        vec![host("q.test", 1, vec![silent])],
    );
    let f = recipient::check(&o);
    assert_eq!(
        verdict::verdict(Some(&o), &f).overall,
        Overall::Inconclusive
    );
}

#[test]
fn tls_certificate_problems() {
    let mut a = healthy("127.0.0.30", "mx.tls.test");
    if let Some(t) = &mut a.tls {
        t.chain = vec![cert(&["other.test"], NOW - 86_400, true)];
        t.verify_kind = Some("unknown_issuer".into());
    }
    let o = obs(
        "tls.test",
        mx("tls.test", &[(1, "mx.tls.test")]),
        vec![host("mx.tls.test", 1, vec![a])],
    );
    let f = recipient::check(&o);
    assert!(ids(&f, Severity::Fail).contains(&"tls.cert_expired"));
    let w = ids(&f, Severity::Warn);
    assert!(
        w.contains(&"tls.cert_name_mismatch") && w.contains(&"tls.cert_untrusted"),
        "{w:?}"
    );

    let mut a = healthy("127.0.0.31", "mx.soon.test");
    if let Some(t) = &mut a.tls {
        t.chain = vec![cert(&["*.soon.test"], NOW + 3 * 86_400, false)];
    }
    let o = obs(
        "soon.test",
        mx("soon.test", &[(1, "mx.soon.test")]),
        vec![host("mx.soon.test", 1, vec![a])],
    );
    assert_eq!(
        ids(&recipient::check(&o), Severity::Warn),
        vec!["tls.cert_expiring"]
    );

    let mut a = healthy("127.0.0.32", "mx.plain.test");
    a.ehlo = step(
        "EHLO me",
        Ok(Reply {
            code: 250,
            lines: vec!["mx.plain.test".into()],
            elapsed_ms: 1,
        }),
    );
    a.starttls = None;
    a.tls = None;
    a.ehlo_tls = None;
    let o = obs(
        "plain.test",
        mx("plain.test", &[(1, "mx.plain.test")]),
        vec![host("mx.plain.test", 1, vec![a])],
    );
    assert_eq!(
        ids(&recipient::check(&o), Severity::Warn),
        vec!["tls.missing"]
    );
}

#[test]
fn probe_results_and_mid_session_drops() {
    let mut a = healthy("127.0.0.40", "mx.p.test");
    a.mail = step("MAIL FROM:<>", Ok(reply(250, "2.1.0 Ok", 1)));
    a.rcpt = step(
        "RCPT TO:<nobody@p.test>",
        Ok(reply(550, "5.1.1 User unknown", 1)),
    );
    let mut o = obs(
        "nobody@p.test",
        mx("p.test", &[(1, "mx.p.test")]),
        vec![host("mx.p.test", 1, vec![a])],
    );
    o.probe = true;
    let f = recipient::check(&o);
    assert!(ids(&f, Severity::Fail).contains(&"smtp.rcpt_rejected"));
    assert_eq!(verdict::verdict(Some(&o), &f).overall, Overall::Broken);

    let mut a = healthy("127.0.0.41", "mx.g.test");
    a.mail = step("MAIL FROM:<>", Ok(reply(250, "2.1.0 Ok", 1)));
    a.rcpt = step(
        "RCPT TO:<x@g.test>",
        Ok(reply(450, "4.2.0 Greylisted, try again later", 1)),
    );
    let o = obs(
        "x@g.test",
        mx("g.test", &[(1, "mx.g.test")]),
        vec![host("mx.g.test", 1, vec![a])],
    );
    let f = recipient::check(&o);
    assert!(ids(&f, Severity::Warn).contains(&"smtp.rcpt_deferred"));
    assert_eq!(verdict::verdict(Some(&o), &f).overall, Overall::Degraded);

    let mut a = healthy("127.0.0.42", "mx.d.test");
    a.mail = step("MAIL FROM:<>", Err(SmtpError::Closed));
    let o = obs(
        "x@d.test",
        mx("d.test", &[(1, "mx.d.test")]),
        vec![host("mx.d.test", 1, vec![a])],
    );
    let f = recipient::check(&o);
    let d = f
        .iter()
        .find(|x| x.id == "smtp.dropped")
        .expect("drop reported");
    assert!(d.title.contains("mail from"), "{}", d.title);

    // Replies out of step (an early talker answered EHLO with a stray 550): no "drop", no
    // reply believed, the unasked text quoted.
    let mut a = healthy("127.0.0.43", "mx.e.test");
    a.ehlo = step(
        "EHLO probe.example",
        Err(SmtpError::Unsolicited(
            "550 5.1.1 <someone@e.test>: User unknown".into(),
        )),
    );
    let o = obs(
        "e.test",
        mx("e.test", &[(1, "mx.e.test")]),
        vec![host("mx.e.test", 1, vec![a])],
    );
    let f = recipient::check(&o);
    let fails = ids(&f, Severity::Fail);
    assert!(fails.contains(&"smtp.out_of_step"), "{fails:?}");
    assert!(!fails.contains(&"smtp.dropped"), "{fails:?}");
    let x = f
        .iter()
        .find(|x| x.id == "smtp.out_of_step")
        .expect("reported");
    assert!(x.detail.contains("someone@e.test"), "{}", x.detail);
    assert_ne!(
        verdict::verdict(Some(&o), &f).overall,
        Overall::DeliverablePath
    );
}

#[test]
fn mx_targets_in_special_ranges_are_named() {
    let mut h = host("mx.p.test", 10, vec![]);
    h.a = Some(answer(
        "mx.p.test",
        RType::A,
        DnsOutcome::Answer,
        ["10.0.0.5", "169.254.169.254", "192.0.2.10"]
            .iter()
            .map(|ip| DnsRecord::A {
                owner: "mx.p.test".into(),
                addr: ip.parse().unwrap(),
            })
            .collect(),
    ));
    let o = obs("p.test", mx("p.test", &[(10, "mx.p.test")]), vec![h]);
    let f = recipient::check(&o);
    let private: Vec<&str> = f
        .iter()
        .filter(|x| x.id == "net.private_address")
        .map(|x| x.title.as_str())
        .collect();
    assert_eq!(private.len(), 3, "{private:?}");
    assert!(private[0].contains("private (RFC 1918, 10.0.0.0/8)"));
    assert!(private[1].contains("link-local (169.254.0.0/16)"));
    assert!(private[2].contains("documentation (RFC 5737)"));
    assert!(
        f.iter()
            .filter(|x| x.id == "net.private_address")
            .all(|x| x.severity == Severity::Warn)
    );
}

#[test]
fn mx_shapes() {
    let mut h = host("127.0.0.10", 10, vec![]);
    h.ip_literal = true;
    let o = obs("ip.test", mx("ip.test", &[(10, "127.0.0.10")]), vec![h]);
    assert!(ids(&recipient::check(&o), Severity::Fail).contains(&"mx.ip_literal"));

    let mut h = host(
        "alias.c.test",
        10,
        vec![healthy("127.0.0.10", "alias.c.test")],
    );
    h.cname = Some(answer(
        "alias.c.test",
        RType::Cname,
        DnsOutcome::Answer,
        vec![DnsRecord::Cname {
            owner: "alias.c.test".into(),
            target: "mx.ok.test".into(),
        }],
    ));
    let o = obs("c.test", mx("c.test", &[(10, "alias.c.test")]), vec![h]);
    assert!(ids(&recipient::check(&o), Severity::Warn).contains(&"mx.cname"));

    let h = host("nowhere.test", 10, vec![]);
    let o = obs("n.test", mx("n.test", &[(10, "nowhere.test")]), vec![h]);
    let f = recipient::check(&o);
    assert!(ids(&f, Severity::Fail).contains(&"mx.no_address"));

    let mut o = obs(
        "i.test",
        answer("i.test", RType::Mx, DnsOutcome::NoData, vec![]),
        vec![host("i.test", 0, vec![healthy("127.0.0.10", "i.test")])],
    );
    o.hosts[0].preference = None;
    o.implicit = Some([
        answer(
            "i.test",
            RType::A,
            DnsOutcome::Answer,
            vec![DnsRecord::A {
                owner: "i.test".into(),
                addr: "127.0.0.10".parse().unwrap(),
            }],
        ),
        answer("i.test", RType::Aaaa, DnsOutcome::NoData, vec![]),
    ]);
    assert!(ids(&recipient::check(&o), Severity::Warn).contains(&"mx.implicit"));
}

#[test]
fn reverse_dns_mismatch() {
    let mut a = healthy("127.0.0.50", "mx.r.test");
    a.ptr_forward = vec![answer("mx.r.test", RType::A, DnsOutcome::NxDomain, vec![])];
    let o = obs(
        "r.test",
        mx("r.test", &[(1, "mx.r.test")]),
        vec![host("mx.r.test", 1, vec![a])],
    );
    assert!(ids(&recipient::check(&o), Severity::Warn).contains(&"rdns.mismatch"));
}

#[test]
fn invalid_target_is_a_finding() {
    let err = parse_target("not a domain").unwrap_err();
    let f = mx::invalid_target("not a domain", &err);
    assert_eq!(f.id, "domain.invalid");
    assert_eq!(f.severity, Severity::Fail);
}
