//! Resolving where a domain's mail goes: the MX question, then every target's CNAME, A and
//! AAAA at once, recorded into `mxray_core::mx::MxResolution` for `diagnose` and `verify` to judge.

use futures_util::future::join_all;
use mxray_core::DomainName;
use mxray_core::mx::{MxPlan, MxResolution, MxTarget};

use crate::dns::{Dns, DnsAnswer, DnsOutcome, RType};

/// Asks for `domain`'s MX records and the addresses of at most `max_targets` exchanges (or,
/// without MX records, of the domain itself: the implicit MX). Never fails: every outcome is
/// recorded.
pub async fn resolve_mx(dns: &Dns, domain: &DomainName, max_targets: usize) -> MxResolution {
    let mx = dns.query(domain.as_str(), RType::Mx).await;
    let plan = MxPlan::from_answer(&mx);
    let mut implicit = None;
    let targets = match &plan {
        MxPlan::Exchanges { .. } => {
            let lookups = plan.exchanges(max_targets).into_iter().map(|r| async move {
                if MxTarget::is_ip_literal(r.exchange.as_str()) {
                    return MxTarget {
                        name: r.exchange.clone(),
                        preference: Some(r.preference),
                        ip_literal: true,
                        cname: None,
                        a: None,
                        aaaa: None,
                    };
                }
                let (cname, mut a, mut aaaa) = tokio::join!(
                    dns.query(r.exchange.as_str(), RType::Cname),
                    dns.query(r.exchange.as_str(), RType::A),
                    dns.query(r.exchange.as_str(), RType::Aaaa)
                );
                // An alias with no address at its end may be a loop, which resolvers answer
                // "no data": that is a broken zone, not a host without an address.
                let empty = |x: &DnsAnswer| !matches!(x.outcome, DnsOutcome::Answer);
                if matches!(cname.outcome, DnsOutcome::Answer)
                    && empty(&a)
                    && empty(&aaaa)
                    && let Some(why) = dns.alias_failure(r.exchange.as_str()).await
                {
                    a.outcome = DnsOutcome::Error(why.clone());
                    aaaa.outcome = DnsOutcome::Error(why);
                }
                MxTarget {
                    name: r.exchange.clone(),
                    preference: Some(r.preference),
                    ip_literal: false,
                    cname: matches!(cname.outcome, DnsOutcome::Answer).then_some(cname),
                    a: Some(a),
                    aaaa: Some(aaaa),
                }
            });
            join_all(lookups).await
        }
        MxPlan::Implicit => {
            let (a, aaaa) = tokio::join!(
                dns.query(domain.as_str(), RType::A),
                dns.query(domain.as_str(), RType::Aaaa)
            );
            let target = MxTarget {
                name: domain.clone(),
                preference: None,
                ip_literal: false,
                cname: None,
                a: Some(a.clone()),
                aaaa: Some(aaaa.clone()),
            };
            implicit = Some([a, aaaa]);
            if target.addrs().is_empty() {
                Vec::new()
            } else {
                vec![target]
            }
        }
        MxPlan::Null | MxPlan::NxDomain | MxPlan::Failed { .. } => Vec::new(),
    };
    MxResolution {
        domain: domain.clone(),
        mx,
        plan,
        targets,
        implicit,
    }
}
