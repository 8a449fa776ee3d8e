//! Where a domain's mail goes, decided from its recorded MX answer (RFC 5321 5.1, RFC 7505):
//! exchanges by preference, a null MX, the implicit MX, or a failure. One reading for every verb.
//!
//! [`MxPlan::from_answer`] is pure; `mxray-net` asks the questions (`resolve_mx`) and fills
//! [`MxResolution`] with the exchanges' addresses, and `diagnose` and `verify` both read it.

use std::net::IpAddr;

use serde::Serialize;

use crate::dns::{DnsAnswer, DnsOutcome, DnsRecord};
use crate::domain::DomainName;

/// Exchanges followed per domain at most: more than 10 is unusual and MTAs stop following too.
pub const MAX_EXCHANGES: usize = 10;

/// One MX record as published.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
pub struct MxRecord {
    pub preference: u16,
    pub exchange: DomainName,
}

/// What the MX answer says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MxPlan {
    /// MX records, sorted by preference then name, as published (duplicates included).
    Exchanges { records: Vec<MxRecord> },
    /// RFC 7505: a single MX whose exchange is the root. The domain accepts no mail.
    Null,
    /// No MX records (NOERROR, empty): RFC 5321 5.1 sends mail to the domain's own address.
    Implicit,
    /// The domain does not exist.
    NxDomain,
    /// The lookup failed (SERVFAIL, REFUSED, timeout...): transient, proof of nothing.
    Failed { outcome: DnsOutcome },
}

impl MxRecord {
    /// The MX records among `records`, in answer order, duplicates and a root exchange kept:
    /// the one place MX record data is read (SPF's `mx` mechanism counts them as published).
    pub fn from_records(records: &[DnsRecord]) -> Vec<MxRecord> {
        records
            .iter()
            .filter_map(|r| match r {
                DnsRecord::Mx {
                    preference,
                    exchange,
                    ..
                } => Some(MxRecord {
                    preference: *preference,
                    exchange: DomainName::from_dns(exchange),
                }),
                _ => None,
            })
            .collect()
    }
}

impl MxPlan {
    /// Reads a recorded MX answer.
    pub fn from_answer(mx: &DnsAnswer) -> MxPlan {
        match &mx.outcome {
            DnsOutcome::Answer => {
                let mut records = MxRecord::from_records(&mx.records);
                records.sort();
                if records.len() == 1 && records[0].exchange.is_root() {
                    MxPlan::Null
                } else {
                    MxPlan::Exchanges { records }
                }
            }
            DnsOutcome::NoData => MxPlan::Implicit,
            DnsOutcome::NxDomain => MxPlan::NxDomain,
            other => MxPlan::Failed {
                outcome: other.clone(),
            },
        }
    }

    /// The MX records as published, in delivery order (empty unless `Exchanges`).
    pub fn records(&self) -> &[MxRecord] {
        match self {
            MxPlan::Exchanges { records } => records,
            _ => &[],
        }
    }

    /// The exchanges to try, in delivery order, each name once (at its best preference), at
    /// most `max`.
    pub fn exchanges(&self, max: usize) -> Vec<&MxRecord> {
        let mut out: Vec<&MxRecord> = Vec::new();
        for r in self.records() {
            if !out.iter().any(|o| o.exchange == r.exchange) {
                out.push(r);
            }
        }
        out.truncate(max);
        out
    }
}

/// One host mail would be delivered to: an exchange, or the domain itself for an implicit MX.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MxTarget {
    pub name: DomainName,
    /// `None` for the implicit MX.
    pub preference: Option<u16>,
    /// The exchange is written as an IP address: MTAs refuse it (RFC 5321 5.1 wants a name),
    /// so it is neither resolved nor contacted.
    pub ip_literal: bool,
    /// Its CNAME answer when it has one: an exchange must not be an alias (RFC 2181 10.3).
    /// Asked of exchanges only, never of the implicit MX.
    pub cname: Option<DnsAnswer>,
    /// Its A and AAAA answers (`None` for an IP literal).
    pub a: Option<DnsAnswer>,
    pub aaaa: Option<DnsAnswer>,
}

impl MxTarget {
    /// The addresses from A then AAAA, each once.
    pub fn addrs(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for a in self
            .a
            .iter()
            .chain(self.aaaa.iter())
            .flat_map(DnsAnswer::addrs)
        {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    /// Whether an address lookup failed (SERVFAIL, REFUSED, a timeout, a CNAME loop...), so
    /// "no address" is not an answer.
    pub fn lookup_failed(&self) -> bool {
        self.a
            .iter()
            .chain(self.aaaa.iter())
            .any(|x| x.outcome.is_failure())
    }

    /// Whether `name` is written as an IP address (`192.0.2.1`, `[2001:db8::1]`).
    pub fn is_ip_literal(name: &str) -> bool {
        name.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
    }
}

/// A domain's MX answer, what it means, and the hosts to deliver to with their addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MxResolution {
    pub domain: DomainName,
    pub mx: DnsAnswer,
    pub plan: MxPlan,
    /// The targets in delivery order: the exchanges (at most the limit asked for), or the
    /// domain itself for an implicit MX when it has an address. Empty for a null MX, a
    /// missing domain or a failed lookup.
    pub targets: Vec<MxTarget>,
    /// For an implicit MX: the domain's own A and AAAA answers.
    pub implicit: Option<[DnsAnswer; 2]>,
}

impl MxResolution {
    /// Whether an address lookup (of a target or of the implicit MX) failed transiently, so
    /// "no host with an address" is not yet an answer.
    pub fn addr_lookup_failed(&self) -> bool {
        self.targets.iter().any(MxTarget::lookup_failed)
            || self
                .implicit
                .iter()
                .flatten()
                .any(|x| x.outcome.is_failure())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::RType;

    fn answer(outcome: DnsOutcome, mx: &[(u16, &str)]) -> DnsAnswer {
        DnsAnswer {
            name: "example.test".into(),
            rtype: RType::Mx,
            outcome,
            records: mx
                .iter()
                .map(|(p, x)| DnsRecord::Mx {
                    owner: "example.test".into(),
                    preference: *p,
                    exchange: x.to_string(),
                })
                .collect(),
            elapsed_ms: 1,
        }
    }

    #[test]
    fn exchanges_sorted_and_each_name_once() {
        let a = answer(
            DnsOutcome::Answer,
            &[
                (20, "MX2.example.test."),
                (10, "mx1.example.test"),
                (30, "mx1.example.test."),
            ],
        );
        let plan = MxPlan::from_answer(&a);
        let names: Vec<(u16, &str)> = plan
            .records()
            .iter()
            .map(|r| (r.preference, r.exchange.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (10, "mx1.example.test"),
                (20, "mx2.example.test"),
                (30, "mx1.example.test")
            ]
        );
        let ex: Vec<&str> = plan
            .exchanges(10)
            .iter()
            .map(|r| r.exchange.as_str())
            .collect();
        assert_eq!(ex, ["mx1.example.test", "mx2.example.test"]);
        assert_eq!(plan.exchanges(1).len(), 1);
    }

    #[test]
    fn null_implicit_nxdomain_and_failures() {
        assert_eq!(
            MxPlan::from_answer(&answer(DnsOutcome::Answer, &[(0, ".")])),
            MxPlan::Null
        );
        assert_eq!(
            MxPlan::from_answer(&answer(DnsOutcome::Answer, &[(0, "")])),
            MxPlan::Null
        );
        // A root exchange beside real ones is not a null MX (RFC 7505 3: it is an error).
        assert!(matches!(
            MxPlan::from_answer(&answer(
                DnsOutcome::Answer,
                &[(0, "."), (10, "mx.example.test")]
            )),
            MxPlan::Exchanges { .. }
        ));
        assert_eq!(
            MxPlan::from_answer(&answer(DnsOutcome::NoData, &[])),
            MxPlan::Implicit
        );
        assert_eq!(
            MxPlan::from_answer(&answer(DnsOutcome::NxDomain, &[])),
            MxPlan::NxDomain
        );
        assert_eq!(
            MxPlan::from_answer(&answer(DnsOutcome::ServFail, &[])),
            MxPlan::Failed {
                outcome: DnsOutcome::ServFail
            }
        );
    }

    #[test]
    fn targets_list_addresses_once_and_spot_literals() {
        let addr = |rtype, ip: &str| DnsAnswer {
            name: "mx.example.test".into(),
            rtype,
            outcome: DnsOutcome::Answer,
            records: vec![DnsRecord::A {
                owner: "mx.example.test".into(),
                addr: ip.parse().unwrap(),
            }],
            elapsed_ms: 0,
        };
        let t = MxTarget {
            name: DomainName::from_dns("mx.example.test"),
            preference: Some(10),
            ip_literal: false,
            cname: None,
            a: Some(addr(RType::A, "192.0.2.1")),
            aaaa: Some(addr(RType::Aaaa, "192.0.2.1")),
        };
        assert_eq!(t.addrs(), ["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert!(!t.lookup_failed());
        assert!(MxTarget::is_ip_literal("[192.0.2.1]"));
        assert!(MxTarget::is_ip_literal("2001:db8::1"));
        assert!(!MxTarget::is_ip_literal("mx.example.test"));
    }
}
