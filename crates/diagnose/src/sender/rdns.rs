//! The sending IP's reverse DNS (`--sender-ip`): its PTR names and their forward lookups,
//! judged (missing, not forward-confirmed, a generic pool name).

use std::net::IpAddr;

use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{Dns, DnsAnswer, DnsRecord, RType};
use serde::Serialize;
use tokio::task::JoinSet;

use super::SenderObs;

use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const MISSING: &str = "rdns.sender_missing";
pub const MISMATCH: &str = "rdns.sender_mismatch";
pub const GENERIC: &str = "rdns.sender_generic";
pub const OK: &str = "rdns.sender_ok";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Reputation,
    recipient: false,
    ids: &[MISSING, MISMATCH, GENERIC, OK],
};

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SenderIpObs {
    pub ip: IpAddr,
    pub ptr: DnsAnswer,
    pub forward: Vec<DnsAnswer>,
}

/// The PTR of `ip` and the A/AAAA lookups of its first four names, at once.
pub async fn observe(dns: &Dns, ip: IpAddr) -> SenderIpObs {
    let ptr = dns.reverse(ip).await;
    let rtype = if ip.is_ipv4() { RType::A } else { RType::Aaaa };
    let mut set = JoinSet::new();
    for (i, r) in ptr.records.iter().take(4).enumerate() {
        if let DnsRecord::Ptr { target, .. } = r {
            let (dns, target) = (dns.clone(), target.clone());
            set.spawn(async move { (i, dns.query(&target, rtype).await) });
        }
    }
    SenderIpObs {
        ip,
        ptr,
        forward: crate::in_order(set).await,
    }
}

/// Whether a PTR name looks like a generic, dynamically assigned pool name.
pub fn looks_generic(name: &str, ip: IpAddr) -> bool {
    let n = name.to_ascii_lowercase();
    if let IpAddr::V4(v4) = ip {
        let o = v4.octets();
        let forms = [
            format!("{}-{}-{}-{}", o[0], o[1], o[2], o[3]),
            format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]),
            format!("{}-{}-{}-{}", o[3], o[2], o[1], o[0]),
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0]),
            format!("{:02x}{:02x}{:02x}{:02x}", o[0], o[1], o[2], o[3]),
        ];
        if forms.iter().any(|f| n.contains(f.as_str())) {
            return true;
        }
    }
    const WORDS: &[&str] = &[
        "dynamic",
        "dyn",
        "dhcp",
        "pool",
        "ppp",
        "dsl",
        "adsl",
        "cable",
        "dialup",
        "dial-up",
        "broadband",
        "customer",
        "cust",
        "client",
        "residential",
        "unassigned",
    ];
    n.split(['.', '-']).any(|label| {
        WORDS.contains(&label) || label.starts_with("dyn") || label.starts_with("dhcp")
    })
}

/// The sender IP's reverse DNS: present, forward-confirmed, not a generic pool name.
/// Every sender rDNS finding.
pub fn findings(s: &SenderObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(o) = &s.sender_ip else { return f };
    let names: Vec<String> = o
        .ptr
        .records
        .iter()
        .filter_map(|r| match r {
            DnsRecord::Ptr { target, .. } => Some(target.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    let mut ev = o.ptr.evidence();
    for fw in &o.forward {
        ev.extend(fw.evidence());
    }
    if names.is_empty() {
        f.push(
            Finding::new(MISSING, Severity::Fail, format!("The sending IP {} has no reverse DNS", o.ip))
                .detail("Gmail, Microsoft and most large receivers defer or refuse mail from addresses without a PTR record (421 4.7.0 / 550 5.7.25).")
                .evidence(ev)
                .fix(format!("Ask whoever owns {} (hosting provider, ISP) to set a PTR to your mail server's name, and give that name an A record back to {}", o.ip, o.ip)),
        );
        return f;
    }
    let confirmed = o.forward.iter().any(|a| a.addrs().any(|x| x == o.ip));
    if !confirmed {
        f.push(
            Finding::new(MISMATCH, Severity::Fail, format!("{}'s PTR {} does not resolve back to it", o.ip, escape_text(&names[0])))
                .detail("Forward-confirmed reverse DNS fails: the PTR name has no A/AAAA record with this address. Receivers treat that like no PTR at all.")
                .evidence(ev)
                .fix(format!("Publish an A (or AAAA) record for {} pointing to {}", escape_text(&names[0]), o.ip)),
        );
        return f;
    }
    if let Some(g) = names.iter().find(|n| looks_generic(n, o.ip)) {
        f.push(
            Finding::new(GENERIC, Severity::Warn, format!("{}'s PTR {} looks like a dynamic pool name", o.ip, escape_text(g)))
                .detail("Names that embed the address or words like dyn, pool, dsl, dhcp mark end-user ranges; receivers and lists such as Spamhaus PBL distrust them.")
                .evidence(ev)
                .fix("Set a PTR that names the mail server (mail.example.com), with a matching A record"),
        );
        return f;
    }
    f.push(
        Finding::new(
            OK,
            Severity::Pass,
            format!(
                "{} has forward-confirmed reverse DNS {}",
                o.ip,
                escape_text(&names[0])
            ),
        )
        .detail("PTR and A/AAAA agree, and the name is not a generic pool name.")
        .evidence(ev),
    );
    f
}

#[cfg(test)]
mod tests {
    use mxray_net::DnsOutcome;

    use super::*;
    use crate::sender::testing::{a, answer, ids, ip, sender};

    fn judge(ptr: Option<&str>, forward: &[&str]) -> Vec<Finding> {
        let addr = ip("203.0.113.7");
        let records = ptr
            .map(|p| DnsRecord::Ptr {
                owner: "7.113.0.203.in-addr.arpa".into(),
                target: p.into(),
            })
            .into_iter()
            .collect::<Vec<_>>();
        let outcome = if records.is_empty() {
            DnsOutcome::NxDomain
        } else {
            DnsOutcome::Answer
        };
        let mut s = sender("example.com");
        s.sender_ip = Some(SenderIpObs {
            ip: addr,
            ptr: answer("7.113.0.203.in-addr.arpa", RType::Ptr, outcome, records),
            forward: ptr.map(|p| a(p, forward)).into_iter().collect(),
        });
        findings(&s)
    }

    #[test]
    fn no_ptr_mismatch_generic_ok() {
        assert_eq!(ids(&judge(None, &[]), Severity::Fail), [MISSING]);
        let other = judge(Some("mail.example.com"), &["198.51.100.1"]);
        assert_eq!(ids(&other, Severity::Fail), [MISMATCH]);
        let pool = judge(Some("203-0-113-7.dyn.isp.example"), &["203.0.113.7"]);
        assert_eq!(ids(&pool, Severity::Warn), [GENERIC]);
        let good = judge(Some("mail.example.com"), &["203.0.113.7"]);
        assert_eq!(ids(&good, Severity::Pass), [OK]);
    }

    #[test]
    fn generic_names() {
        let ip = ip("203.0.113.7");
        assert!(looks_generic("203-0-113-7.dyn.example.net", ip));
        assert!(looks_generic("7.113.0.203.example.net", ip));
        assert!(looks_generic("host.pool.example.net", ip));
        assert!(!looks_generic("mail.example.com", ip));
    }
}
