//! MX records: the domain's mail exchangers found, or why not (NXDOMAIN, SERVFAIL, null MX,
//! implicit MX, aliases, IP literals, hosts without addresses), and the target's own text.

use mxray_core::address::{AddressError, Target, special_range, suggest_domain};
use mxray_core::mx::MxPlan;
use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{DnsAnswer, DnsOutcome};

use super::observe::{HostObs, Observations};
use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const DOMAIN_INVALID: &str = "domain.invalid";
pub const DOMAIN_TYPO: &str = "domain.typo";
pub const DOMAIN_NXDOMAIN: &str = "domain.nxdomain";
pub const DNS_SERVFAIL: &str = "dns.servfail";
pub const DNSSEC_BOGUS: &str = "dnssec.bogus";
pub const DNS_REFUSED: &str = "dns.refused";
pub const DNS_TIMEOUT: &str = "dns.timeout";
pub const DNS_ERROR: &str = "dns.error";
pub const PRESENT: &str = "mx.present";
pub const NULL: &str = "mx.null";
pub const IMPLICIT: &str = "mx.implicit";
pub const CNAME: &str = "mx.cname";
pub const IP_LITERAL: &str = "mx.ip_literal";
pub const NO_ADDRESS: &str = "mx.no_address";
pub const DUPLICATE: &str = "mx.duplicate";
pub const TOO_MANY: &str = "mx.too_many";
pub const PRIVATE_ADDRESS: &str = "net.private_address";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Dns,
    recipient: true,
    ids: &[
        DOMAIN_INVALID,
        DOMAIN_TYPO,
        DOMAIN_NXDOMAIN,
        DNS_SERVFAIL,
        DNSSEC_BOGUS,
        DNS_REFUSED,
        DNS_TIMEOUT,
        DNS_ERROR,
        PRESENT,
        NULL,
        IMPLICIT,
        CNAME,
        IP_LITERAL,
        NO_ADDRESS,
        DUPLICATE,
        TOO_MANY,
        PRIVATE_ADDRESS,
    ],
};

/// More MX records than this is unusual and some MTAs stop following them.
pub const MAX_SENSIBLE_MX: usize = 10;

/// The finding for input that is not a domain or address.
pub fn invalid_target(input: &str, err: &AddressError) -> Finding {
    Finding::new(DOMAIN_INVALID, Severity::Fail, "Not a valid domain or address")
        .detail(escape_text(&err.to_string()))
        .evidence([format!("input: {}", escape_text(input))])
        .fix("Give a domain (example.com) or an address (user@example.com); internationalised names are fine")
}

/// Findings about the target's text alone.
pub fn target_findings(t: &Target) -> Vec<Finding> {
    let mut v = Vec::new();
    if let Some(s) = suggest_domain(&t.domain_ascii) {
        v.push(
            Finding::new(
                DOMAIN_TYPO,
                Severity::Warn,
                format!("{} looks like a typo of {s}", t.domain),
            )
            .detail(format!(
                "{} is one or two keystrokes away from the popular mail domain {s}",
                t.domain
            ))
            .evidence([format!("domain: {}", t.domain)])
            .fix(format!("Check the address; did you mean {s}?")),
        );
    }
    v
}

/// The MX lookup itself failed (or the domain does not exist): the one finding, and nothing
/// else can be checked.
pub fn lookup_failure(obs: &Observations) -> Option<Finding> {
    let d = &obs.target.domain_ascii;
    let f = match &obs.mx.outcome {
        DnsOutcome::NxDomain => Finding::new(
            DOMAIN_NXDOMAIN,
            Severity::Fail,
            format!("{d} does not exist (NXDOMAIN)"),
        )
        .detail("The domain is not in DNS at all, so no mail can be delivered to it.")
        .evidence(obs.mx.evidence())
        .fix(format!(
            "Check the spelling; dig NS {d} +short; if it is yours, renew or delegate it"
        )),
        DnsOutcome::ServFail => match obs
            .mx_cd
            .as_ref()
            .filter(|a| a.outcome == DnsOutcome::Answer)
        {
            Some(cd) => bogus(d, &obs.mx, cd, obs.at_unix),
            None => dns_failure(DNS_SERVFAIL, "SERVFAIL", d, &obs.mx),
        },
        DnsOutcome::Refused => dns_failure(DNS_REFUSED, "REFUSED", d, &obs.mx),
        DnsOutcome::Timeout => dns_failure(DNS_TIMEOUT, "no answer (timeout)", d, &obs.mx),
        DnsOutcome::Error(e) => Finding::new(
            DNS_ERROR,
            Severity::Fail,
            format!("The MX lookup for {d} failed"),
        )
        .detail(escape_text(e))
        .evidence(obs.mx.evidence())
        .fix(format!("dig MX {d} and compare with another resolver")),
        DnsOutcome::Answer | DnsOutcome::NoData => return None,
    };
    Some(f)
}

/// SERVFAIL, but the CD question returned the data: the validating resolver rejected the zone's
/// signatures (expired or not yet valid RRSIGs, a DNSKEY that no DS matches). Every validating
/// sender defers mail to the domain: the recipient's zone must be fixed.
fn bogus(d: &str, plain: &DnsAnswer, cd: &DnsAnswer, now: i64) -> Finding {
    let mut ev = plain.evidence();
    ev.push("asked again with the CD bit (checking disabled):".to_string());
    ev.extend(cd.evidence());
    ev.extend(cd.records.iter().filter_map(|r| rrsig_reading(r, now)));
    Finding::new(DNSSEC_BOGUS, Severity::Fail, format!("{d}'s DNSSEC is broken (bogus): validating resolvers refuse its answers"))
        .detail("The MX lookup got SERVFAIL from a validating resolver, but with checking disabled the records come back: they exist and their signatures do not validate (expired or not-yet-valid RRSIGs, or DNSKEYs that no DS record at the parent matches). Every sender that validates DNSSEC (Google, Microsoft, most ISPs) defers mail to the domain (4.4.3) until it is fixed.")
        .evidence(ev)
        .fix(format!("Re-sign the zone (check the signer runs and RRSIG expiry: dig +dnssec MX {d}), or make the parent's DS match the zone's DNSKEY (dig DS {d} @parent; dig DNSKEY {d}); test with delv MX {d} or https://dnsviz.net/d/{d}/"))
}

/// What an RRSIG in the CD answer says about the failure: expired (or not yet valid) at the
/// time of the check, or current, in which case the keys (DNSKEY/DS) are the likelier fault.
/// Presentation form: `TYPE ALG LABELS TTL EXPIRATION INCEPTION KEYTAG SIGNER SIG`.
fn rrsig_reading(r: &mxray_core::dns::DnsRecord, now: i64) -> Option<String> {
    let mxray_core::dns::DnsRecord::Other { rtype, data, .. } = r else {
        return None;
    };
    if rtype != "RRSIG" {
        return None;
    }
    let f: Vec<&str> = data.split_whitespace().collect();
    let (covered, expiration, inception, tag, signer) = (
        f.first()?,
        f.get(4)?.parse::<i64>().ok()?,
        f.get(5)?.parse::<i64>().ok()?,
        f.get(6)?,
        f.get(7)?,
    );
    let days = |s: i64| (s.abs() + 43_199) / 86_400;
    let state = if expiration < now {
        format!(
            "EXPIRED {} day(s) before this check",
            days(now - expiration)
        )
    } else if inception > now {
        format!(
            "NOT YET VALID: valid from {} day(s) after this check",
            days(inception - now)
        )
    } else {
        "current: the signature's dates are fine, so the keys (DNSKEY, or the DS at the parent) are the likelier fault".to_string()
    };
    Some(format!(
        "RRSIG over {} by key {} ({}): {state} (inception {inception}, expiration {expiration}, Unix seconds)",
        escape_text(covered),
        escape_text(tag),
        escape_text(signer)
    ))
}

fn dns_failure(id: &'static str, what: &str, d: &str, a: &DnsAnswer) -> Finding {
    Finding::new(id, Severity::Fail, format!("The MX lookup for {d} got {what}"))
        .detail(
            "The resolver could not get an answer: the domain's name servers are failing, lame or \
             DNSSEC-broken, or the resolver itself has a problem. Mail to the domain is deferred (4.4.3).",
        )
        .evidence(a.evidence())
        .fix(format!(
            "dig +trace MX {d}; compare dig MX {d} @<another resolver>; check the domain's NS records and DNSSEC"
        ))
}

/// The MX set as a whole.
pub fn findings(obs: &Observations) -> Vec<Finding> {
    let mut f = Vec::new();
    let d = &obs.target.domain_ascii;
    let plan = MxPlan::from_answer(&obs.mx);
    let recs = plan.records();
    if plan == MxPlan::Null {
        f.push(
            Finding::new(NULL, Severity::Fail, format!("{d} publishes a null MX: it accepts no mail"))
                .detail("RFC 7505: a single MX '0 .' declares that the domain receives no email. Senders bounce at once (5.1.10).")
                .evidence(obs.mx.evidence())
                .fix("If the domain should receive mail, replace the null MX with real MX records"),
        );
        return f;
    }
    if let Some([a, aaaa]) = &obs.implicit {
        let mut ev = obs.mx.evidence();
        ev.extend(a.evidence());
        ev.extend(aaaa.evidence());
        if obs.hosts.is_empty() {
            f.push(
                Finding::new(NO_ADDRESS, Severity::Fail, format!("{d} has no MX and no A/AAAA record"))
                    .detail("Without MX records, mail goes to the domain's own address (RFC 5321 5.1), and it has none: nothing can deliver here.")
                    .evidence(ev)
                    .fix(format!("Publish MX records for {d} (or a null MX if it takes no mail)")),
            );
        } else {
            f.push(
                Finding::new(IMPLICIT, Severity::Warn, format!("{d} has no MX records; mail falls back to its A/AAAA"))
                    .detail("RFC 5321 5.1 implicit MX: senders deliver to the domain's own address. It works, but it is fragile and often unintended.")
                    .evidence(ev)
                    .fix(format!("Publish explicit MX records for {d} (or a null MX '0 .' if it takes no mail)")),
            );
        }
        return f;
    }
    let lines: Vec<String> = recs
        .iter()
        .map(|r| format!("{} {}", r.preference, r.exchange))
        .collect();
    f.push(
        Finding::new(
            PRESENT,
            Severity::Pass,
            format!("{} MX record(s) for {d}", recs.len()),
        )
        .detail(format!("In delivery order: {}", lines.join(", ")))
        .evidence(obs.mx.evidence()),
    );
    let mut dups = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        let x = r.exchange.as_str();
        if recs[..i].iter().any(|y| y.exchange == r.exchange) && !dups.contains(&x) {
            dups.push(x);
        }
    }
    if !dups.is_empty() {
        f.push(
            Finding::new(DUPLICATE, Severity::Warn, format!("Duplicate MX targets: {}", dups.join(", ")))
                .detail("The same host is listed more than once; it adds no redundancy and may confuse preference order.")
                .evidence(obs.mx.evidence())
                .fix("Keep each MX target once, with the preference you intend"),
        );
    }
    if recs.len() > MAX_SENSIBLE_MX {
        f.push(
            Finding::new(TOO_MANY, Severity::Warn, format!("{} MX records", recs.len()))
                .detail(format!("More than {MAX_SENSIBLE_MX} MX records: some senders stop after the first few, and DNS answers may be truncated."))
                .evidence(obs.mx.evidence())
                .fix("Trim the MX set to the hosts that really accept mail"),
        );
    }
    f
}

/// One exchanger's name and addresses (its SMTP sessions are judged by `smtp`).
pub fn host_findings(obs: &Observations, h: &HostObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let label = h.label();
    if h.ip_literal {
        f.push(
            Finding::new(IP_LITERAL, Severity::Fail, format!("MX target {} is an IP address", h.name))
                .detail("An MX must name a host (RFC 5321 5.1, RFC 7505); senders such as Postfix treat an IP-literal exchange as a name and fail to resolve it.")
                .evidence(obs.mx.evidence())
                .fix(format!("Publish a name with an A record for {} and point the MX at that name", h.name))
                .host(label.clone()),
        );
        return f;
    }
    if let Some(c) = &h.cname {
        f.push(
            Finding::new(CNAME, Severity::Warn, format!("MX target {} is an alias (CNAME)", h.name))
                .detail("RFC 2181 10.3 and RFC 5321 5.1: an MX must point at a name with address records, not an alias. Many MTAs follow it anyway; some do not.")
                .evidence(c.evidence())
                .fix(format!("Point the MX at the canonical name instead of {}", h.name))
                .host(label.clone()),
        );
    }
    // Addresses outside the global internet: unreachable for senders elsewhere, and what an
    // attacker publishes to turn probers on their own network. Loopback is how the lab
    // (and local rehearsals) run, so it is a note; every other range a warning.
    let addrs = [&h.a, &h.aaaa]
        .into_iter()
        .flatten()
        .flat_map(|a| a.addrs())
        .filter_map(|ip| special_range(ip).map(|r| (ip, r)));
    for (ip, range) in addrs {
        let loopback = ip.is_loopback();
        f.push(
            Finding::new(
                PRIVATE_ADDRESS,
                if loopback { Severity::Info } else { Severity::Warn },
                format!("MX target {} resolves to {ip}: {range}", h.name),
            )
            .detail(if loopback {
                "Only this machine can reach it: expected in the lab and in local rehearsals; in public DNS, senders would connect to themselves and defer or loop.".to_string()
            } else {
                format!("A {range} address is not reachable from the internet: senders elsewhere cannot connect and defer (4.4.1). Published in public DNS it is a mistake, or a trap that turns probers on their own network.")
            })
            .evidence([&h.a, &h.aaaa].into_iter().flatten().flat_map(|a| a.evidence()).collect::<Vec<_>>())
            .fix(format!("Publish the MX host's public address for {}", h.name))
            .host(label.clone()),
        );
    }
    if h.addrs.is_empty() && h.skipped_addrs.is_empty() {
        let mut ev = Vec::new();
        let mut nx = false;
        let mut failed = None;
        for a in [&h.a, &h.aaaa].into_iter().flatten() {
            ev.extend(a.evidence());
            nx |= a.outcome == DnsOutcome::NxDomain;
            if let DnsOutcome::Error(e) = &a.outcome {
                failed.get_or_insert(e.clone());
            }
        }
        let title = if let Some(e) = failed {
            format!("MX target {} does not resolve: {}", h.name, escape_text(&e))
        } else if nx {
            format!("MX target {} does not exist (NXDOMAIN)", h.name)
        } else {
            format!("MX target {} has no A or AAAA record", h.name)
        };
        f.push(
            Finding::new(NO_ADDRESS, Severity::Fail, title)
                .detail("Senders cannot connect to an MX host without an address; mail through it is deferred (4.4.3 / 4.4.4).")
                .evidence(ev)
                .fix(format!("Publish an A (and AAAA) record for {}, or remove it from the MX set", h.name))
                .host(label.clone()),
        );
    }
    f
}
