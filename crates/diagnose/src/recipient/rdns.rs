//! Reverse DNS of each MX address: the PTR lookup and its forward confirmation, observed
//! beside the SMTP session, and judged (missing, not confirmed, differing from the greeting).

use std::net::IpAddr;

use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{Dns, DnsAnswer, DnsRecord, RType};

use super::observe::{AddrObs, HostObs};
use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const OK: &str = "rdns.ok";
pub const MISSING: &str = "rdns.missing";
pub const MISMATCH: &str = "rdns.mismatch";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Transport,
    recipient: true,
    ids: &[OK, MISSING, MISMATCH],
};

/// The PTR of `addr` and the A/AAAA lookups of its first two names (FCrDNS).
pub async fn observe(dns: &Dns, addr: IpAddr) -> (DnsAnswer, Vec<DnsAnswer>) {
    let ptr = dns.reverse(addr).await;
    let rtype = if addr.is_ipv4() {
        RType::A
    } else {
        RType::Aaaa
    };
    let mut forward = Vec::new();
    for r in ptr.records.iter().take(2) {
        if let DnsRecord::Ptr { target, .. } = r {
            forward.push(dns.query(target, rtype).await);
        }
    }
    (ptr, forward)
}

/// One MX address's PTR: present, forward-confirmed, and the name the server announces.
pub fn findings(h: &HostObs, a: &AddrObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(ptr) = &a.ptr else { return f };
    let names = a.ptr_names();
    let where_ = format!("{} [{}]", h.name, a.addr);
    if names.is_empty() {
        f.push(
            Finding::new(MISSING, Severity::Warn, format!("{} has no reverse DNS (PTR)", a.addr))
                .detail(format!("The address of {} has no PTR record. Receivers often distrust mail from hosts without one, and it makes logs harder to read.", h.name))
                .evidence(ptr.evidence())
                .fix(format!("Ask whoever owns {} (hosting provider, ISP) to set its PTR to {}", a.addr, h.name))
                .host(h.label()),
        );
        return f;
    }
    let mut ev = ptr.evidence();
    for fw in &a.ptr_forward {
        ev.extend(fw.evidence());
    }
    let confirmed = a
        .ptr_forward
        .iter()
        .any(|fw| fw.addrs().any(|x| x == a.addr));
    if !confirmed {
        f.push(
            Finding::new(MISMATCH, Severity::Warn, format!("{}'s PTR does not resolve back to it", a.addr))
                .detail(format!("PTR says {}, but that name does not have {} as an address (forward-confirmed reverse DNS fails).", escape_text(&names.join(", ")), a.addr))
                .evidence(ev)
                .fix(format!("Make the A/AAAA record of {} include {}", names[0], a.addr))
                .host(h.label()),
        );
        return f;
    }
    match a.announced_name() {
        Some(n) if !names.contains(&n) => f.push(
            Finding::new(MISMATCH, Severity::Info, format!("{where_} calls itself {} but its PTR is {}", escape_text(&n), names[0]))
                .detail("The greeting/EHLO name differs from the reverse DNS name. Harmless for receiving, but it confuses log reading and some reputation checks when the host also sends.")
                .evidence(ev)
                .fix(format!("Set the MTA's hostname (Postfix myhostname) to {}", names[0]))
                .host(h.label()),
        ),
        _ => f.push(
            Finding::new(OK, Severity::Pass, format!("{} has reverse DNS {}", a.addr, names[0]))
                .detail("PTR and forward DNS agree.")
                .evidence(ev)
                .host(h.label()),
        ),
    }
    f
}
