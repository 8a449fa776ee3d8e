//! DNS over real UDP/TCP sockets with hickory-proto messages: every record kind the lab
//! serves, the RFC 5782 DNSBL conventions, each injected failure, and the query counters.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::util::{answers, dns_query, start, tcp, udp};

const ZONES: &str = r#"
[[domains]]
name = "dns.test"
mx = ["10 mx.dns.test", "20 alias.dns.test"]
a = ["127.0.0.40"]
aaaa = ["::1"]
txt = ["v=spf1 ip4:127.0.0.0/8 -all", "long-and-split"]
mta_sts = { mode = "testing", id = "abc123" }

[[domains.records]]
name = "_dmarc"
txt = ["v=DMARC1; p=none"]

[[domains.records]]
name = "sel._domainkey"
txt = ["v=DKIM1; k=rsa; p=MIIB"]

[[domains.records]]
name = "_smtp._tls"
txt = ["v=TLSRPTv1; rua=mailto:r@dns.test"]

[[domains.records]]
name = "default._bimi"
txt = ["v=BIMI1; l=https://dns.test/l.svg"]

[[domains.records]]
name = "alias"
cname = "mx.dns.test"

[[domains.records]]
name = "_25._tcp.mx"
tlsa = ["3 1 1 0123456789abcdef"]

[[domains.records]]
name = "gone"
a = ["127.0.0.41"]
failure = "nxdomain"

[[domains.records]]
name = "broken"
failure = "servfail"

[[domains.records]]
name = "denied"
failure = "refused"

[[domains.records]]
name = "slow"
a = ["127.0.0.42"]
failure = "timeout"

[[domains.records]]
name = "big"
a = ["127.0.0.43"]
failure = "truncate"

[[domains.records]]
name = "mxonly"
a = ["127.0.0.44"]
failure = "servfail"
failure_types = ["MX"]

[[domains.records]]
name = "turn"
a = ["127.0.0.46", "127.0.0.47"]
aaaa = ["::1"]
rotate = true

[[domains]]
name = "null.test"
mx = ["0 ."]

[[domains]]
name = "literal.test"
mx = ["10 127.0.0.40", "20 noaddr.literal.test"]

[[hosts]]
name = "mx.dns.test"
address = "127.0.0.40"

[[hosts]]
name = "mx.elsewhere.test"
address = "127.0.0.45"
ptr = "not-matching.dns.test"

[[ptr]]
address = "127.0.0.99"
name = "sender.dns.test"

[[dnsbls]]
zone = "bl.test"
listed = [{ entry = "127.0.0.40", code = "127.0.0.4", reason = "listed for a test" }]

[[dnsbls]]
zone = "dbl.test"
kind = "domain"
listed = [{ entry = "spammy.test" }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_every_kind() {
    let lab = start(ZONES).await;
    let mx = udp(&lab, "dns.test.", RecordType::MX).await;
    assert_eq!(mx.metadata.response_code, ResponseCode::NoError);
    assert!(mx.metadata.authoritative);
    let mut got = answers(&mx);
    got.sort();
    assert_eq!(got, ["10 mx.dns.test.", "20 alias.dns.test."]);

    assert_eq!(
        answers(&udp(&lab, "dns.test.", RecordType::A).await),
        ["127.0.0.40"]
    );
    assert_eq!(
        answers(&udp(&lab, "dns.test.", RecordType::AAAA).await),
        ["::1"]
    );
    let txt = answers(&udp(&lab, "dns.test.", RecordType::TXT).await);
    assert!(txt.iter().any(|t| t.contains("v=spf1")), "{txt:?}");
    for (name, want) in [
        ("_dmarc.dns.test.", "v=DMARC1"),
        ("sel._domainkey.dns.test.", "v=DKIM1"),
        ("_smtp._tls.dns.test.", "v=TLSRPTv1"),
        ("default._bimi.dns.test.", "v=BIMI1"),
        ("_mta-sts.dns.test.", "v=STSv1; id=abc123"),
    ] {
        let t = answers(&udp(&lab, name, RecordType::TXT).await);
        assert!(t.iter().any(|t| t.contains(want)), "{name}: {t:?}");
    }
    // The policy host points at the HTTPS server.
    let sts = answers(&udp(&lab, "mta-sts.dns.test.", RecordType::A).await);
    assert_eq!(sts, [lab.https_addr().unwrap().ip().to_string()]);

    // MX to a CNAME: the CNAME is served (and chased within the lab's zones).
    let cname = udp(&lab, "alias.dns.test.", RecordType::A).await;
    let c = answers(&cname);
    assert!(c.iter().any(|a| a == "mx.dns.test."), "{c:?}");

    let tlsa = answers(&udp(&lab, "_25._tcp.mx.dns.test.", RecordType::TLSA).await);
    assert_eq!(tlsa.len(), 1);
    assert!(
        tlsa[0].to_ascii_lowercase().contains("0123456789abcdef"),
        "{tlsa:?}"
    );

    // Null MX, MX to an IP literal, MX to a name without address.
    assert_eq!(
        answers(&udp(&lab, "null.test.", RecordType::MX).await),
        ["0 ."]
    );
    let lit = answers(&udp(&lab, "literal.test.", RecordType::MX).await);
    assert!(lit.contains(&"10 127.0.0.40.".to_owned()), "{lit:?}");
    let noaddr = udp(&lab, "noaddr.literal.test.", RecordType::A).await;
    assert_eq!(noaddr.metadata.response_code, ResponseCode::NXDomain);

    // NS and SOA for every zone, and the name server's own address.
    let ns = answers(&udp(&lab, "dns.test.", RecordType::NS).await);
    assert_eq!(ns, ["ns.lab.test."]);
    let soa = answers(&udp(&lab, "dns.test.", RecordType::SOA).await);
    assert!(
        soa[0].starts_with("ns.lab.test. hostmaster.lab.test."),
        "{soa:?}"
    );
    assert_eq!(
        answers(&udp(&lab, "ns.lab.test.", RecordType::A).await),
        ["127.0.0.1"]
    );

    // Names outside the lab are refused, never forwarded.
    let outside = udp(&lab, "example.com.", RecordType::A).await;
    assert_eq!(outside.metadata.response_code, ResponseCode::Refused);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ptr_records_for_lab_addresses() {
    let lab = start(ZONES).await;
    let p = answers(&udp(&lab, "40.0.0.127.in-addr.arpa.", RecordType::PTR).await);
    assert_eq!(p, ["mx.dns.test."]);
    let p = answers(&udp(&lab, "45.0.0.127.in-addr.arpa.", RecordType::PTR).await);
    assert_eq!(p, ["not-matching.dns.test."]);
    let p = answers(&udp(&lab, "99.0.0.127.in-addr.arpa.", RecordType::PTR).await);
    assert_eq!(p, ["sender.dns.test."]);
    // And host names resolve to their addresses.
    let a = answers(&udp(&lab, "mx.elsewhere.test.", RecordType::A).await);
    assert_eq!(a, ["127.0.0.45"]);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsbl_ip_and_domain_lists() {
    let lab = start(ZONES).await;
    // Listed address, with its code and reason.
    let a = answers(&udp(&lab, "40.0.0.127.bl.test.", RecordType::A).await);
    assert_eq!(a, ["127.0.0.4"]);
    let t = answers(&udp(&lab, "40.0.0.127.bl.test.", RecordType::TXT).await);
    assert_eq!(t, ["listed for a test"]);
    // RFC 5782: 127.0.0.2 is listed, 127.0.0.1 is not.
    let a = answers(&udp(&lab, "2.0.0.127.bl.test.", RecordType::A).await);
    assert_eq!(a, ["127.0.0.2"]);
    let not = udp(&lab, "1.0.0.127.bl.test.", RecordType::A).await;
    assert_eq!(not.metadata.response_code, ResponseCode::NXDomain);
    // Domain list: the entry, TEST listed, INVALID not.
    let a = answers(&udp(&lab, "spammy.test.dbl.test.", RecordType::A).await);
    assert_eq!(a, ["127.0.0.2"]);
    let t = answers(&udp(&lab, "spammy.test.dbl.test.", RecordType::TXT).await);
    assert!(t[0].contains("spammy.test is listed in dbl.test"), "{t:?}");
    let a = answers(&udp(&lab, "test.dbl.test.", RecordType::A).await);
    assert_eq!(a, ["127.0.0.2"]);
    let not = udp(&lab, "invalid.dbl.test.", RecordType::A).await;
    assert_eq!(not.metadata.response_code, ResponseCode::NXDomain);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_failures() {
    let lab = start(ZONES).await;
    let r = udp(&lab, "gone.dns.test.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.answers.is_empty());
    let r = udp(&lab, "broken.dns.test.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    let r = tcp(&lab, "broken.dns.test.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    let r = udp(&lab, "denied.dns.test.", RecordType::MX).await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);

    // Limited to MX: other types answer normally.
    let r = udp(&lab, "mxonly.dns.test.", RecordType::MX).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        answers(&udp(&lab, "mxonly.dns.test.", RecordType::A).await),
        ["127.0.0.44"]
    );

    // Timeout: no answer at all, on UDP or TCP.
    let wait = Duration::from_millis(700);
    assert!(
        dns_query(lab.resolver(), "slow.dns.test.", RecordType::A, false, wait)
            .await
            .is_none()
    );
    assert!(
        dns_query(lab.resolver(), "slow.dns.test.", RecordType::A, true, wait)
            .await
            .is_none()
    );

    // Truncation: TC and no answer over UDP, the real answer over TCP.
    let r = udp(&lab, "big.dns.test.", RecordType::A).await;
    assert!(r.metadata.truncation);
    assert!(r.answers.is_empty());
    let r = tcp(&lab, "big.dns.test.", RecordType::A).await;
    assert!(!r.metadata.truncation);
    assert_eq!(answers(&r), ["127.0.0.43"]);

    let s = lab.stats().dns;
    assert_eq!(s.injected.get("nxdomain"), Some(&1));
    assert_eq!(s.injected.get("servfail"), Some(&3));
    assert_eq!(s.injected.get("refused"), Some(&1));
    assert_eq!(s.injected.get("timeout"), Some(&2));
    assert_eq!(s.injected.get("truncate"), Some(&1), "TCP is not truncated");
    lab.shutdown().await;
}

/// `rotate`: each A answer carries the next address alone, with TTL 0, over UDP and TCP alike;
/// a family with one address answers it every time; other types are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_answers() {
    let lab = start(ZONES).await;
    let mut seen = Vec::new();
    for i in 0..4 {
        let r = if i % 2 == 0 {
            udp(&lab, "turn.dns.test.", RecordType::A).await
        } else {
            tcp(&lab, "turn.dns.test.", RecordType::A).await
        };
        assert!(r.answers.iter().all(|a| a.ttl == 0), "{r:?}");
        seen.push(answers(&r).join(","));
    }
    assert_eq!(
        seen,
        ["127.0.0.46", "127.0.0.47", "127.0.0.46", "127.0.0.47"]
    );
    for _ in 0..2 {
        assert_eq!(
            answers(&udp(&lab, "turn.dns.test.", RecordType::AAAA).await),
            ["::1"]
        );
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_counters() {
    let lab = start(ZONES).await;
    udp(&lab, "dns.test.", RecordType::MX).await;
    udp(&lab, "dns.test.", RecordType::MX).await;
    udp(&lab, "dns.test.", RecordType::TXT).await;
    tcp(&lab, "dns.test.", RecordType::A).await;
    let s = lab.stats().dns;
    assert_eq!(s.queries, 4);
    assert_eq!(s.udp, 3);
    assert_eq!(s.tcp, 1);
    assert_eq!(s.by_type.get("MX"), Some(&2));
    assert_eq!(s.by_type.get("TXT"), Some(&1));
    assert_eq!(s.by_type.get("A"), Some(&1));
    assert_eq!(s.clients.get(&"127.0.0.1".parse().unwrap()), Some(&4));
    lab.shutdown().await;
}

/// Raw zone data (conformance suites): any name, any address, binary TXT strings, timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_zone_data_for_conformance_suites() {
    use mxray_lab::dns::zones::RawData;
    let records = vec![
        (
            "example.com".to_string(),
            RawData::Txt(vec![b"v=spf1 ip4:".to_vec(), b"192.0.2.5 -all".to_vec()]),
        ),
        (
            "mail.example.com".to_string(),
            RawData::A([192, 0, 2, 5].into()),
        ),
        (
            "example.com".to_string(),
            RawData::Mx(10, "mail.example.com".into()),
        ),
        (
            "bad name:/x.example.com".to_string(),
            RawData::A([192, 0, 2, 6].into()),
        ),
    ];
    let (server, skipped) = mxray_lab::dns::serve_raw(&records, &["slow.example.com".to_string()])
        .await
        .expect("serve");
    let ask = |name: &'static str, rtype| {
        dns_query(server.addr, name, rtype, false, Duration::from_secs(2))
    };
    let txt = ask("example.com.", RecordType::TXT).await.expect("TXT");
    assert_eq!(answers(&txt), vec!["v=spf1 ip4:192.0.2.5 -all"]);
    let a = ask("mail.example.com.", RecordType::A).await.expect("A");
    assert_eq!(answers(&a), vec!["192.0.2.5"]);
    let nx = ask("nothing.example.org.", RecordType::A)
        .await
        .expect("NX");
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(ask("slow.example.com.", RecordType::A).await.is_none());
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    server.shutdown().await;
}
