//! DNS blocklists (RFC 5782): each list's self-test, the queries for MX addresses, the sender
//! IP, SPF-authorised addresses and the domain, and their judgement (listed, unusable, clean).

use std::net::IpAddr;
use std::sync::Arc;

use mxray_core::DomainName;
use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{Dns, DnsAnswer, DnsOutcome, RType};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::shared::OncePerRun;
use super::{SenderObs, outcome_word, txt_records};

use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const LISTED: &str = "dnsbl.listed";
pub const UNUSABLE: &str = "dnsbl.unusable";
pub const CLEAN: &str = "dnsbl.clean";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Reputation,
    recipient: false,
    ids: &[LISTED, UNUSABLE, CLEAN],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DnsblKind {
    /// Entries are addresses (reversed octets / nibbles under the zone).
    Ip,
    /// Entries are domain names (`DOMAIN.ZONE`).
    Domain,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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

/// Why a blocklist file does not parse. `line` 0: about the whole file (it lists nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsblFileError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for DnsblFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for DnsblFileError {}

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
        let zone = DomainName::from_dns(zone).into_string();
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
            message: "it lists no blocklist: give one zone per line (zen.spamhaus.org, or ip ZONE / domain ZONE)".into(),
        });
    }
    Ok(out)
}

/// One blocklist query.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DnsblQuery {
    pub zone: String,
    /// The address or domain looked up.
    pub entry: String,
    /// Why it was checked: `mx host NAME`, `sender ip`, `spf`, `domain`.
    pub role: String,
    pub a: DnsAnswer,
    /// The TXT reason, asked only when listed.
    pub txt: Option<DnsAnswer>,
}

/// RFC 5782 5 self-test of one list.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DnsblSelfTest {
    pub zone: String,
    pub kind: DnsblKind,
    /// 127.0.0.2 (or `test`): must be listed.
    pub listed: DnsAnswer,
    /// 127.0.0.1 (or `invalid`): must not be.
    pub unlisted: DnsAnswer,
}

/// Blocklist answers shared by every target of a run: the lists' self-tests, and the
/// addresses of shared MX hosts and of providers' SPF includes, are the same for many domains.
/// Asked once, each answer is reused (at most [`CACHE_MAX`] names; beyond, asked directly).
pub struct DnsblCache {
    answers: OncePerRun<(String, RType), DnsAnswer>,
}

impl Default for DnsblCache {
    fn default() -> DnsblCache {
        DnsblCache {
            answers: OncePerRun::new(CACHE_MAX),
        }
    }
}

/// Names a run's blocklist cache keeps: far more than any run's distinct names, and a bound.
pub const CACHE_MAX: usize = 200_000;

/// The DNS client with the run's blocklist answers.
#[derive(Clone)]
pub struct Lists {
    pub dns: Dns,
    pub cache: Arc<DnsblCache>,
}

impl Lists {
    /// A client whose answers are kept for this caller alone (one check, one preflight).
    pub fn uncached(dns: &Dns) -> Lists {
        Lists {
            dns: dns.clone(),
            cache: Arc::default(),
        }
    }

    async fn query(&self, name: &str, rtype: RType) -> DnsAnswer {
        let key = (name.to_ascii_lowercase(), rtype);
        self.cache
            .answers
            .get(key, || self.dns.query(name, rtype))
            .await
    }
}

/// Blocklist queries in flight at once.
pub const DNSBL_CONCURRENCY: usize = 64;

/// RFC 5782 5: every list's test entries (127.0.0.2 or `test` listed, 127.0.0.1 or `invalid`
/// not), asked at once, in the lists' order.
pub async fn self_tests(dns: &Lists, zones: &[DnsblZone]) -> Vec<DnsblSelfTest> {
    let mut set = JoinSet::new();
    for (i, z) in zones.iter().enumerate() {
        let (dns, z) = (dns.clone(), z.clone());
        set.spawn(async move {
            let (yes, no) = match z.kind {
                DnsblKind::Ip => ("2.0.0.127", "1.0.0.127"),
                DnsblKind::Domain => ("test", "invalid"),
            };
            let (yes, no) = (format!("{yes}.{}", z.zone), format!("{no}.{}", z.zone));
            let (listed, unlisted) =
                tokio::join!(dns.query(&yes, RType::A), dns.query(&no, RType::A));
            (
                i,
                DnsblSelfTest {
                    zone: z.zone,
                    kind: z.kind,
                    listed,
                    unlisted,
                },
            )
        });
    }
    crate::in_order(set).await
}

/// The domain on the domain lists and the sender IP (if any) on the IP lists.
pub async fn direct_queries(
    dns: &Lists,
    zones: &[DnsblZone],
    domain: &str,
    sender_ip: Option<IpAddr>,
) -> Vec<DnsblQuery> {
    let targets = vec![(domain.to_string(), "domain".to_string())];
    let ips: Vec<(String, String)> = sender_ip
        .map(|ip| (ip.to_string(), "sender IP".to_string()))
        .into_iter()
        .collect();
    let (mut v, b) = tokio::join!(
        queries(dns, zones, targets, DnsblKind::Domain),
        queries(dns, zones, ips, DnsblKind::Ip)
    );
    v.extend(b);
    v
}

/// An MX host's first four addresses on the IP lists.
pub async fn mx_queries(dns: &Lists, zones: &[DnsblZone], mx: &str) -> Vec<DnsblQuery> {
    let (a, aaaa) = tokio::join!(dns.query(mx, RType::A), dns.query(mx, RType::Aaaa));
    let targets: Vec<(String, String)> = a
        .addrs()
        .chain(aaaa.addrs())
        .take(4)
        .map(|ip| (ip.to_string(), format!("MX host {mx}")))
        .collect();
    queries(dns, zones, targets, DnsblKind::Ip).await
}

/// Queries every (entry, zone) pair of the given kind at once (bounded), asking the TXT
/// reason of listed entries. Lists that fail their self-test are not asked (see [`working`]).
pub async fn queries(
    dns: &Lists,
    zones: &[DnsblZone],
    entries: Vec<(String, String)>,
    kind: DnsblKind,
) -> Vec<DnsblQuery> {
    if entries.is_empty() {
        return Vec::new();
    }
    let zones = working(dns, zones, kind).await;
    let sem = Arc::new(Semaphore::new(DNSBL_CONCURRENCY));
    let mut set = JoinSet::new();
    let mut i = 0usize;
    for (entry, role) in entries {
        for z in &zones {
            let Some(name) = query_name(&entry, z) else {
                continue;
            };
            let (dns, sem, zone, entry, role) = (
                dns.clone(),
                sem.clone(),
                z.zone.clone(),
                entry.clone(),
                role.clone(),
            );
            i += 1;
            let idx = i;
            set.spawn(async move {
                let _permit = sem.acquire_owned().await.ok();
                let a = dns.query(&name, RType::A).await;
                let txt = if a.addrs().next().is_some() {
                    Some(dns.query(&name, RType::Txt).await)
                } else {
                    None
                };
                (
                    idx,
                    DnsblQuery {
                        zone,
                        entry,
                        role,
                        a,
                        txt,
                    },
                )
            });
        }
    }
    crate::in_order(set).await
}

/// The lists of `kind` that pass their self-test (RFC 5782 5). A list that fails it (dead,
/// renamed, refusing this resolver) says nothing about any entry, and the judge ignores its
/// answers: asking it about every target's entries would only cost queries (most of a bulk
/// run's, with a refusing list) and burden a list that already said no. The self-tests are
/// the caller's [`Lists`] answers, asked once, so only the first target waits for them.
pub async fn working(dns: &Lists, zones: &[DnsblZone], kind: DnsblKind) -> Vec<DnsblZone> {
    let of_kind: Vec<DnsblZone> = zones.iter().filter(|z| z.kind == kind).cloned().collect();
    let usable_zones: Vec<String> = self_tests(dns, &of_kind)
        .await
        .into_iter()
        .filter(|t| usable(t).is_ok())
        .map(|t| t.zone)
        .collect();
    of_kind
        .into_iter()
        .filter(|z| usable_zones.contains(&z.zone))
        .collect()
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
pub fn findings(s: &SenderObs) -> Vec<Finding> {
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
                        UNUSABLE,
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
                        UNUSABLE,
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
    if !usable_zones.is_empty() && !f.iter().any(|x| x.id == LISTED) {
        f.push(
            Finding::new(
                CLEAN,
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
        LISTED,
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

#[cfg(test)]
mod tests {
    /// A run's cache asks each blocklist name once, however many targets ask; a fresh one
    /// asks again (so the resolver's own cache is not what is measured).
    #[test]
    fn a_runs_blocklist_answers_are_asked_once() {
        use super::*;
        let lab = mxray_lab::LabHandle::from_toml(
            "[lab]\nname = \"cache\"\n\n[[domains]]\nname = \"x.test\"\n",
            "cache",
            mxray_lab::LabOptions::default(),
        )
        .expect("lab");
        let zones: Vec<DnsblZone> = ["bl1.test", "bl2.test"]
            .iter()
            .map(|z| DnsblZone {
                zone: z.to_string(),
                kind: DnsblKind::Ip,
            })
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let asked = || lab.lab().stats().dns.queries;
        rt.block_on(async {
            let dns =
                Dns::new(&[lab.resolver()], std::time::Duration::from_secs(2)).expect("resolver");
            // What one round costs at the server (a lookup may take more than one query).
            let start = asked();
            self_tests(&Lists::uncached(&dns), &zones).await;
            let round = asked() - start;
            assert!(round >= 4, "two lists x two entries: {round} queries");
            let start = asked();
            self_tests(&Lists::uncached(&dns), &zones).await;
            assert_eq!(asked() - start, round, "a fresh cache asks again");
            let shared = Lists {
                dns: dns.clone(),
                cache: Arc::default(),
            };
            let start = asked();
            for _ in 0..3 {
                let t = self_tests(&shared, &zones).await;
                assert_eq!(t.len(), 2);
            }
            assert_eq!(asked() - start, round, "asked once, answered three times");
        });
    }

    use super::*;
    use crate::sender::testing::{a, ids, ip, sender, txt};

    /// A list that fails its self-test (here: not served at all, REFUSED) is never asked
    /// about entries; the findings are those of asking it, since the judge ignores its answers.
    #[test]
    fn lists_failing_their_self_test_are_not_asked() {
        use super::*;
        let lab = mxray_lab::LabHandle::from_toml(
            "[lab]\nname = \"lists\"\n\n[[dnsbls]]\nzone = \"bl.test\"\nlisted = [{ entry = \"127.0.9.9\", code = \"127.0.0.2\" }]\n",
            "lists",
            mxray_lab::LabOptions::default(),
        )
        .expect("lab");
        let zones: Vec<DnsblZone> = ["bl.test", "gone.test"]
            .iter()
            .map(|z| DnsblZone {
                zone: z.to_string(),
                kind: DnsblKind::Ip,
            })
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let asked = || lab.lab().stats().dns.queries;
        rt.block_on(async {
            let dns =
                Dns::new(&[lab.resolver()], std::time::Duration::from_secs(2)).expect("resolver");
            let lists = Lists::uncached(&dns);
            let entries = vec![("127.0.9.9".to_string(), "sender IP".to_string())];
            let q = queries(&lists, &zones, entries, DnsblKind::Ip).await;
            let asked_zones: Vec<&str> = q.iter().map(|x| x.zone.as_str()).collect();
            assert_eq!(asked_zones, ["bl.test"]);
            let mut s = sender("example.com");
            s.dnsbl_tests = self_tests(&lists, &zones).await;
            s.dnsbl = q;
            let f = findings(&s);
            assert_eq!(ids(&f, Severity::Fail), [LISTED]);
            assert_eq!(ids(&f, Severity::Info), [UNUSABLE]);
            assert!(f[0].title.contains("gone.test"), "{}", f[0].title);
            // The self-tests are the run's: another entry costs its one question on bl.test.
            let start = asked();
            let entries = vec![("127.0.9.10".to_string(), "sender IP".to_string())];
            queries(&lists, &zones, entries, DnsblKind::Ip).await;
            assert_eq!(asked() - start, 1);
        });
    }

    fn zone() -> DnsblZone {
        DnsblZone {
            zone: "bl.example.net".into(),
            kind: DnsblKind::Ip,
        }
    }

    /// A list whose self-test came back `listed` / `unlisted`.
    fn tested(listed: &[&str], unlisted: &[&str]) -> DnsblSelfTest {
        DnsblSelfTest {
            zone: "bl.example.net".into(),
            kind: DnsblKind::Ip,
            listed: a("2.0.0.127.bl.example.net", listed),
            unlisted: a("1.0.0.127.bl.example.net", unlisted),
        }
    }

    fn query(answer: &[&str]) -> DnsblQuery {
        DnsblQuery {
            zone: "bl.example.net".into(),
            entry: "192.0.2.9".into(),
            role: "sender IP".into(),
            a: a("9.2.0.192.bl.example.net", answer),
            txt: (!answer.is_empty())
                .then(|| txt("9.2.0.192.bl.example.net", &["spam seen \u{1b}[31m"])),
        }
    }

    fn judge(test: DnsblSelfTest, q: DnsblQuery) -> Vec<Finding> {
        let mut s = sender("example.com");
        s.dnsbl_tests = vec![test];
        s.dnsbl = vec![q];
        findings(&s)
    }

    #[test]
    fn listed_and_clean() {
        let listed = judge(tested(&["127.0.0.2"], &[]), query(&["127.0.0.2"]));
        assert_eq!(ids(&listed, Severity::Fail), [LISTED]);
        // The list's TXT reason is outside text: shown, escaped.
        assert!(listed[0].detail.contains("spam seen \\x1b[31m"));
        assert!(!listed[0].detail.contains('\u{1b}'));
        let clean = judge(tested(&["127.0.0.2"], &[]), query(&[]));
        assert_eq!(ids(&clean, Severity::Pass), [CLEAN]);
    }

    #[test]
    fn refusals_and_failed_self_tests_are_never_listings() {
        let refused = judge(tested(&["127.0.0.2"], &[]), query(&["127.255.255.254"]));
        assert_eq!(ids(&refused, Severity::Info), [UNUSABLE]);
        assert!(ids(&refused, Severity::Fail).is_empty());
        let dead = judge(tested(&[], &[]), query(&["127.0.0.2"]));
        assert_eq!(ids(&dead, Severity::Info), [UNUSABLE]);
        assert!(ids(&dead, Severity::Fail).is_empty() && ids(&dead, Severity::Pass).is_empty());
        let everything = judge(
            tested(&["127.0.0.2"], &["127.0.0.2"]),
            query(&["127.0.0.2"]),
        );
        assert_eq!(ids(&everything, Severity::Info), [UNUSABLE]);
        assert!(refusal("zen.spamhaus.org", ip("127.255.255.252")).is_some());
        assert!(refusal("multi.uribl.com", ip("127.0.0.1")).is_some());
        assert!(refusal("zen.spamhaus.org", ip("127.0.0.2")).is_none());
        assert!(refusal("x.test", ip("10.0.0.1")).is_some());
        assert!(code_meaning("zen.spamhaus.org", ip("127.0.0.11")).contains("PBL"));
    }

    #[test]
    fn dnsbl_files_and_names() {
        let z = parse_dnsbl_file("# lists\nzen.spamhaus.org\ndomain dbl.spamhaus.org # d\n")
            .unwrap_or_default();
        assert_eq!(z.len(), 2);
        assert_eq!(z[1].kind, DnsblKind::Domain);
        assert!(parse_dnsbl_file("bogus words here\n").is_err());
        assert!(parse_dnsbl_file("# nothing\n").is_err());
        let empty = parse_dnsbl_file("").unwrap_err().to_string();
        assert!(empty.starts_with("it lists no blocklist"), "{empty}");
        let bad = parse_dnsbl_file("zen.spamhaus.org\nbogus words here\n").unwrap_err();
        assert!(bad.to_string().starts_with("line 2: "), "{bad}");
        assert_eq!(
            query_name("192.0.2.1", &zone()).as_deref(),
            Some("1.2.0.192.bl.example.net")
        );
    }
}
