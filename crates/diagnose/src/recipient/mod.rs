//! The recipient side: can mail reach the domain? Each topic observes through mxray-net and
//! judges with pure functions; this module runs the judges in report order.

pub mod collect;
pub mod mx;
pub mod observe;
pub mod rdns;
pub mod smtp;
pub mod tls;

use mxray_core::Finding;

use observe::{AddrObs, HostObs, Observations};

/// Every recipient-side finding for one target, in report order: the target's text, the MX
/// lookup, the MX set, each host and each of its addresses, then reachability as a whole.
pub fn check(obs: &Observations) -> Vec<Finding> {
    let mut f = mx::target_findings(&obs.target);
    if let Some(failed) = mx::lookup_failure(obs) {
        f.push(failed);
        return f;
    }
    f.extend(mx::findings(obs));
    for h in &obs.hosts {
        f.extend(mx::host_findings(obs, h));
        for a in &h.addrs {
            f.extend(addr_findings(obs, h, a));
        }
    }
    f.extend(smtp::reachability(obs));
    f
}

/// One address: its SMTP session, TLS when the session got that far, the probe, and its
/// reverse DNS (checked even when nothing answered on the port).
fn addr_findings(obs: &Observations, h: &HostObs, a: &AddrObs) -> Vec<Finding> {
    let mut f = smtp::session_findings(obs, h, a);
    if a.connect.is_ok() {
        if a.usable() {
            f.extend(tls::findings(obs, h, a));
        }
        f.extend(smtp::probe_findings(obs, h, a));
    }
    f.extend(rdns::findings(h, a));
    f
}
