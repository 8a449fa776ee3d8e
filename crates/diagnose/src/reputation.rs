//! Reputation, judged: DNS blocklists (RFC 5782: self-test, refusal codes, return codes and
//! TXT reasons) and the sender IP's reverse DNS (PTR, FCrDNS, generic pool names).

use std::net::IpAddr;

use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{DnsAnswer, DnsOutcome, DnsRecord};
use serde::Serialize;

use crate::sender::spf::outcome_word;
use crate::sender::{DnsblQuery, DnsblSelfTest, SenderObs, txt_records};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsblKind {
    /// Entries are addresses (reversed octets / nibbles under the zone).
    Ip,
    /// Entries are domain names (`DOMAIN.ZONE`).
    Domain,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsblZone {
    pub zone: String,
    pub kind: DnsblKind,
}

/// The default lists: widely used, free for low-volume queries from a non-public resolver.
pub const DEFAULT_DNSBLS: &[(&str, DnsblKind)] = &[
    ("zen.spamhaus.org", DnsblKind::Ip),
    ("bl.spamcop.net", DnsblKind::Ip),
    ("b.barracudacentral.org", DnsblKind::Ip),
    ("psbl.surriel.com", DnsblKind::Ip),
    ("bl.mailspike.net", DnsblKind::Ip),
    ("dnsbl.dronebl.org", DnsblKind::Ip),
    ("dbl.spamhaus.org", DnsblKind::Domain),
    ("multi.surbl.org", DnsblKind::Domain),
    ("multi.uribl.com", DnsblKind::Domain),
];

pub fn default_zones() -> Vec<DnsblZone> {
    DEFAULT_DNSBLS
        .iter()
        .map(|(z, k)| DnsblZone {
            zone: z.to_string(),
            kind: *k,
        })
        .collect()
}

/// Why a blocklist file does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DnsblFileError {
    pub line: usize,
    pub message: String,
}

/// Parses a `--dnsbl-file`: one list per line, `ZONE` or `ip ZONE` or `domain ZONE`; `#`
/// starts a comment.
pub fn parse_dnsbl_file(text: &str) -> Result<Vec<DnsblZone>, DnsblFileError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (kind, zone) = match words.as_slice() {
            [z] => (DnsblKind::Ip, *z),
            ["ip", z] => (DnsblKind::Ip, *z),
            ["domain", z] => (DnsblKind::Domain, *z),
            _ => {
                return Err(DnsblFileError {
                    line: n + 1,
                    message: format!(
                        "expected `ZONE`, `ip ZONE` or `domain ZONE`, got {:?}",
                        escape_text(line)
                    ),
                });
            }
        };
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        if !zone.contains('.')
            || !zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        {
            return Err(DnsblFileError {
                line: n + 1,
                message: format!("{:?} is not a DNS zone name", escape_text(&zone)),
            });
        }
        out.push(DnsblZone { zone, kind });
    }
    if out.is_empty() {
        return Err(DnsblFileError {
            line: 0,
            message: "no list in the file".into(),
        });
    }
    Ok(out)
}

/// The name to query for `entry` on `zone`; `None` when the entry is of the wrong kind.
pub fn query_name(entry: &str, zone: &DnsblZone) -> Option<String> {
    match zone.kind {
        DnsblKind::Ip => {
            let ip: IpAddr = entry.parse().ok()?;
            let rev = mxray_net::dns::reverse_name(ip);
            let stem = rev
                .trim_end_matches(".in-addr.arpa")
                .trim_end_matches(".ip6.arpa");
            Some(format!("{stem}.{}", zone.zone))
        }
        DnsblKind::Domain => {
            if entry.parse::<IpAddr>().is_ok() {
                return None;
            }
            Some(format!("{}.{}", entry.trim_end_matches('.'), zone.zone))
        }
    }
}

/// Answers that mean "you may not query this list from here", never "listed".
pub fn refusal(zone: &str, code: IpAddr) -> Option<&'static str> {
    let IpAddr::V4(v4) = code else {
        return Some("an IPv6 address is not a blocklist answer");
    };
    let o = v4.octets();
    if o[0] != 127 {
        return Some(
            "the answer is not in 127.0.0.0/8: the resolver rewrites NXDOMAIN (ad or captive portal)",
        );
    }
    match o {
        [127, 255, 255, 252] => Some("127.255.255.252: typing error in the DNSBL name"),
        [127, 255, 255, 254] => Some(
            "127.255.255.254: queried through a public or open resolver, which the list refuses",
        ),
        [127, 255, 255, 255] => Some("127.255.255.255: excessive number of queries (over quota)"),
        [127, 0, 0, 1] if zone.ends_with("uribl.com") || zone.ends_with("surbl.org") => {
            Some("127.0.0.1: query refused (public resolver or over quota)")
        }
        _ => None,
    }
}

/// What a listing code means, for the lists whose codes are documented.
pub fn code_meaning(zone: &str, code: IpAddr) -> String {
    let IpAddr::V4(v4) = code else {
        return format!("listed ({code})");
    };
    let last = v4.octets()[3];
    let third = v4.octets()[2];
    let z = zone.to_ascii_lowercase();
    let known = if z.starts_with("zen.spamhaus.") {
        match last {
            2 => Some("SBL: Spamhaus spam source"),
            3 => Some("SBL CSS: snowshoe spam"),
            4..=7 => Some("XBL: exploited or infected host (botnet, proxy)"),
            9 => Some("DROP: hijacked network"),
            10 | 11 => Some("PBL: end-user address range that should not send mail directly"),
            _ => None,
        }
    } else if z.starts_with("dbl.spamhaus.") && third == 1 {
        match last {
            2 => Some("spam domain"),
            4 => Some("phishing domain"),
            5 => Some("malware domain"),
            6 => Some("botnet C&C domain"),
            102..=106 => Some("abused legitimate domain"),
            _ => None,
        }
    } else if z.starts_with("b.barracudacentral.") || z.starts_with("bl.spamcop.") {
        (last == 2).then_some("listed for sending spam")
    } else {
        None
    };
    match known {
        Some(k) => format!("{code}: {k}"),
        None => format!("{code}: listed (see the list's documentation for this code)"),
    }
}

fn first_addr(a: &DnsAnswer) -> Option<IpAddr> {
    a.addrs().next()
}

/// Whether a list can be trusted from here, by its self-test (RFC 5782 5).
pub fn usable(t: &DnsblSelfTest) -> Result<(), String> {
    let (yes, no) = match t.kind {
        DnsblKind::Ip => ("127.0.0.2", "127.0.0.1"),
        DnsblKind::Domain => ("TEST", "INVALID"),
    };
    if let Some(code) = first_addr(&t.listed).or_else(|| first_addr(&t.unlisted))
        && let Some(why) = refusal(&t.zone, code)
    {
        return Err(why.to_string());
    }
    match &t.listed.outcome {
        DnsOutcome::Answer => {}
        DnsOutcome::NxDomain | DnsOutcome::NoData => {
            return Err(format!(
                "the test entry {yes} is not listed: the list is dead, renamed, or not answering this resolver"
            ));
        }
        other => {
            return Err(format!(
                "the test query for {yes} got {}",
                outcome_word(other)
            ));
        }
    }
    match &t.unlisted.outcome {
        DnsOutcome::NxDomain | DnsOutcome::NoData => Ok(()),
        DnsOutcome::Answer => Err(format!(
            "{no} is listed: the list answers everything (shut down lists do this on purpose)"
        )),
        other => Err(format!(
            "the test query for {no} got {}",
            outcome_word(other)
        )),
    }
}

/// Blocklist findings: `dnsbl.listed` per listing, `dnsbl.unusable` per list that cannot be
/// queried from here, and one `dnsbl.clean` pass.
pub fn dnsbl_findings(s: &SenderObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let mut usable_zones = Vec::new();
    for t in &s.dnsbl_tests {
        match usable(t) {
            Ok(()) => usable_zones.push(t.zone.clone()),
            Err(why) => {
                let mut ev = t.listed.evidence();
                ev.extend(t.unlisted.evidence());
                f.push(
                    Finding::new(
                        "dnsbl.unusable",
                        Severity::Info,
                        format!("{} cannot be queried from here", t.zone),
                    )
                    .detail(format!(
                        "{why}. Its answers say nothing about listing: neither listed nor clean."
                    ))
                    .evidence(ev)
                    .fix("Query it from your own recursive resolver (not 8.8.8.8 / 1.1.1.1), register for the list's data feed, or drop it from --dnsbl-file"),
                );
            }
        }
    }
    let mut checked = 0usize;
    let mut entries: Vec<String> = Vec::new();
    for q in &s.dnsbl {
        if !usable_zones.contains(&q.zone) {
            continue;
        }
        if !entries.contains(&q.entry) {
            entries.push(q.entry.clone());
        }
        checked += 1;
        if let Some(code) = first_addr(&q.a) {
            if let Some(why) = refusal(&q.zone, code) {
                f.push(
                    Finding::new(
                        "dnsbl.unusable",
                        Severity::Info,
                        format!("{} refused the query for {}", q.zone, q.entry),
                    )
                    .detail(format!("{why}: this answer is not a listing."))
                    .evidence(q.a.evidence()),
                );
                continue;
            }
            f.push(listed(q, code));
        }
    }
    if !usable_zones.is_empty() && !f.iter().any(|x| x.id == "dnsbl.listed") {
        f.push(
            Finding::new(
                "dnsbl.clean",
                Severity::Pass,
                format!(
                    "Not listed: {} entr(ies) on {} usable list(s)",
                    entries.len(),
                    usable_zones.len()
                ),
            )
            .detail(format!(
                "{checked} queries; lists: {}; entries: {}",
                usable_zones.join(", "),
                entries.join(", ")
            )),
        );
    }
    f
}

fn listed(q: &DnsblQuery, code: IpAddr) -> Finding {
    let reason: Vec<String> = q
        .txt
        .as_ref()
        .map(txt_records)
        .unwrap_or_default()
        .iter()
        .map(|t| escape_text(t))
        .collect();
    let mut ev = q.a.evidence();
    if let Some(t) = &q.txt {
        ev.extend(t.evidence());
    }
    Finding::new(
        "dnsbl.listed",
        Severity::Fail,
        format!("{} ({}) is listed on {}", q.entry, q.role, q.zone),
    )
    .detail(format!(
        "{}{}. Receivers using this list defer or refuse mail from it (421/554 5.7.1).",
        code_meaning(&q.zone, code),
        if reason.is_empty() {
            String::new()
        } else {
            format!("; reason: {}", reason.join(" "))
        }
    ))
    .evidence(ev)
    .fix(format!(
        "Find and stop the cause (compromised account, open relay, bad list hygiene), then request delisting at {}'s lookup page",
        q.zone
    ))
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
pub fn sender_rdns_findings(s: &SenderObs) -> Vec<Finding> {
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
            Finding::new("rdns.sender_missing", Severity::Fail, format!("The sending IP {} has no reverse DNS", o.ip))
                .detail("Gmail, Microsoft and most large receivers defer or refuse mail from addresses without a PTR record (421 4.7.0 / 550 5.7.25).")
                .evidence(ev)
                .fix(format!("Ask whoever owns {} (hosting provider, ISP) to set a PTR to your mail server's name, and give that name an A record back to {}", o.ip, o.ip)),
        );
        return f;
    }
    let confirmed = o.forward.iter().any(|a| a.addrs().any(|x| x == o.ip));
    if !confirmed {
        f.push(
            Finding::new("rdns.sender_mismatch", Severity::Fail, format!("{}'s PTR {} does not resolve back to it", o.ip, escape_text(&names[0])))
                .detail("Forward-confirmed reverse DNS fails: the PTR name has no A/AAAA record with this address. Receivers treat that like no PTR at all.")
                .evidence(ev)
                .fix(format!("Publish an A (or AAAA) record for {} pointing to {}", escape_text(&names[0]), o.ip)),
        );
        return f;
    }
    if let Some(g) = names.iter().find(|n| looks_generic(n, o.ip)) {
        f.push(
            Finding::new("rdns.sender_generic", Severity::Warn, format!("{}'s PTR {} looks like a dynamic pool name", o.ip, escape_text(g)))
                .detail("Names that embed the address or words like dyn, pool, dsl, dhcp mark end-user ranges; receivers and lists such as Spamhaus PBL distrust them.")
                .evidence(ev)
                .fix("Set a PTR that names the mail server (mail.example.com), with a matching A record"),
        );
        return f;
    }
    f.push(
        Finding::new(
            "rdns.sender_ok",
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
    use super::*;

    #[test]
    fn refusals_are_never_listings() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(refusal("zen.spamhaus.org", ip("127.255.255.254")).is_some());
        assert!(refusal("zen.spamhaus.org", ip("127.255.255.252")).is_some());
        assert!(refusal("zen.spamhaus.org", ip("127.255.255.255")).is_some());
        assert!(refusal("multi.uribl.com", ip("127.0.0.1")).is_some());
        assert!(refusal("zen.spamhaus.org", ip("127.0.0.2")).is_none());
        assert!(refusal("x.test", ip("10.0.0.1")).is_some());
        assert!(code_meaning("zen.spamhaus.org", ip("127.0.0.11")).contains("PBL"));
    }

    #[test]
    fn generic_names() {
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(looks_generic("203-0-113-7.dyn.example.net", ip));
        assert!(looks_generic("7.113.0.203.example.net", ip));
        assert!(looks_generic("host.pool.example.net", ip));
        assert!(!looks_generic("mail.example.com", ip));
    }

    #[test]
    fn dnsbl_files() {
        let z =
            parse_dnsbl_file("# lists\nzen.spamhaus.org\ndomain dbl.spamhaus.org # d\n").unwrap();
        assert_eq!(z.len(), 2);
        assert_eq!(z[1].kind, DnsblKind::Domain);
        assert!(parse_dnsbl_file("bogus words here\n").is_err());
        assert!(parse_dnsbl_file("# nothing\n").is_err());
        let q = query_name("192.0.2.1", &z[0]).unwrap();
        assert_eq!(q, "1.2.0.192.zen.spamhaus.org");
    }
}
