//! Hand-made observations for the sender judges' unit tests: DNS answers, a sender, and the
//! recipient-side observations some judges compare with. Test-only.

use std::net::IpAddr;

use mxray_core::address::parse_target;
use mxray_core::{Finding, Severity};
use mxray_net::{DnsAnswer, DnsOutcome, DnsRecord, RType};

use super::SenderObs;
use crate::recipient::observe::{AddrObs, HostObs, Observations};
use crate::score::Areas;

pub fn answer(name: &str, rtype: RType, outcome: DnsOutcome, records: Vec<DnsRecord>) -> DnsAnswer {
    DnsAnswer {
        name: name.into(),
        rtype,
        outcome,
        records,
        elapsed_ms: 1,
    }
}

/// TXT records at `name`; none is NXDOMAIN.
pub fn txt(name: &str, texts: &[&str]) -> DnsAnswer {
    let records: Vec<DnsRecord> = texts
        .iter()
        .map(|t| DnsRecord::Txt {
            owner: name.into(),
            text: t.to_string(),
        })
        .collect();
    let outcome = if records.is_empty() {
        DnsOutcome::NxDomain
    } else {
        DnsOutcome::Answer
    };
    answer(name, RType::Txt, outcome, records)
}

/// A records at `name`; none is NXDOMAIN.
pub fn a(name: &str, addrs: &[&str]) -> DnsAnswer {
    let records: Vec<DnsRecord> = addrs
        .iter()
        .filter_map(|x| x.parse::<IpAddr>().ok())
        .map(|addr| DnsRecord::A {
            owner: name.into(),
            addr,
        })
        .collect();
    let outcome = if records.is_empty() {
        DnsOutcome::NxDomain
    } else {
        DnsOutcome::Answer
    };
    answer(name, RType::A, outcome, records)
}

pub fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// A sender with nothing observed, every area checked.
pub fn sender(domain: &str) -> SenderObs {
    SenderObs::new(domain, Areas::all())
}

/// The ids of the findings at `severity`.
pub fn ids(f: &[Finding], severity: Severity) -> Vec<&'static str> {
    f.iter()
        .filter(|x| x.severity == severity)
        .map(|x| x.id)
        .collect()
}

/// Recipient-side observations of `domain` with these MX hosts, each with one address
/// that presented `chain` over STARTTLS (none when empty).
pub fn recipient(domain: &str, mx: &[&str], chain: Vec<mxray_net::CertInfo>) -> Observations {
    let target = match parse_target(domain) {
        Ok(t) => t,
        Err(e) => panic!("{domain}: {e}"),
    };
    let records = mx
        .iter()
        .enumerate()
        .map(|(i, x)| DnsRecord::Mx {
            owner: domain.into(),
            preference: 10 * (i as u16 + 1),
            exchange: x.to_string(),
        })
        .collect();
    let hosts = mx
        .iter()
        .map(|x| {
            let mut addr = AddrObs::new(ip("192.0.2.25"));
            if !chain.is_empty() {
                let mut t = mxray_net::TlsObservation::failed("");
                t.handshake_error = None;
                t.chain = chain.clone();
                addr.tls = Some(t);
            }
            HostObs {
                name: x.to_string(),
                preference: Some(10),
                ip_literal: false,
                cname: None,
                a: None,
                aaaa: None,
                addrs: vec![addr],
                skipped_addrs: Vec::new(),
            }
        })
        .collect();
    Observations {
        target,
        mx: answer(domain, RType::Mx, DnsOutcome::Answer, records),
        mx_cd: None,
        implicit: None,
        hosts,
        probe: false,
        smtp_port: 25,
        greeting_wait_ms: 1000,
        smtp_checked: true,
        sender: None,
        at_unix: 1_800_000_000,
    }
}
