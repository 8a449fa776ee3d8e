//! Builds the lab's DNS data from a scenario: one hickory in-memory zone per lab zone,
//! plus the records the lab adds itself (SOA, NS, host addresses, PTR, DNSBL, MTA-STS).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, TLSA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record as HRecord, RecordType};
use hickory_server::dnssec::NxProofKind;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};

use crate::LabError;
use crate::scenario::{DnsblKind, Failure, Record, Scenario, TlsaKey};

/// TTL of every lab record: short, since a lab run is short.
const TTL: u32 = 300;
/// Name of the lab's own name server (in the `lab.test` zone).
pub const NS_NAME: &str = "ns.lab.test";

/// What the DNS server needs: the zones and the failure table.
pub struct Zones {
    pub catalog: Catalog,
    pub failures: HashMap<LowerName, Failure>,
    /// Names whose A/AAAA answers change from one query to the next (`rotate`).
    pub rotations: HashMap<(LowerName, RecordType), Rotation>,
    /// Zone apexes, for the ready file and tests.
    pub origins: Vec<String>,
    /// The trust anchors of the signed zones (`dnssec = ...`), in zone order.
    pub anchors: Vec<super::dnssec::ZoneAnchor>,
}

/// A node's addresses of one type, served one per answer, in turn.
pub struct Rotation {
    records: Vec<HRecord>,
    next: AtomicUsize,
}

impl Rotation {
    /// The record for this answer; the next query gets the one after it.
    pub fn take(&self) -> Option<&HRecord> {
        if self.records.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.records.len();
        self.records.get(i)
    }
}

/// Records grouped by zone apex while they are collected.
#[derive(Default)]
struct Builder {
    zones: BTreeMap<String, Vec<HRecord>>,
}

impl Builder {
    fn zone(&mut self, apex: &str) {
        self.zones.entry(apex.to_owned()).or_default();
    }

    /// Adds to the deepest zone containing `owner`; `None` if no zone does.
    fn add(&mut self, owner: &str, rdata: RData) -> Result<bool, LabError> {
        let Some(apex) = self.zone_of(owner) else {
            return Ok(false);
        };
        let rec = HRecord::from_rdata(fqdn(owner)?, TTL, rdata);
        self.zones.entry(apex).or_default().push(rec);
        Ok(true)
    }

    fn has(&self, owner: &str) -> bool {
        let Ok(name) = fqdn(owner) else { return false };
        self.zones
            .values()
            .any(|recs| recs.iter().any(|r| r.name == name))
    }

    fn zone_of(&self, owner: &str) -> Option<String> {
        self.zones
            .keys()
            .filter(|apex| owner == apex.as_str() || owner.ends_with(&format!(".{apex}")))
            .max_by_key(|apex| apex.len())
            .cloned()
    }
}

/// A fully qualified hickory name from a lab name ("" or "." is the root).
pub fn fqdn(name: &str) -> Result<Name, LabError> {
    if name.is_empty() || name == "." {
        return Ok(Name::root());
    }
    Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
        .map_err(|e| LabError::Dns(format!("bad name {name:?}: {e}")))
}

/// Splits TXT text into the 255-byte strings DNS carries.
fn txt(text: &str) -> RData {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > 255 {
        let mut cut = 255;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        parts.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    parts.push(rest.to_owned());
    RData::TXT(TXT::new(parts))
}

fn addr_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(a) => RData::A(A(a)),
        IpAddr::V6(a) => RData::AAAA(AAAA(a)),
    }
}

/// Reverse zone apex for an address: `127.in-addr.arpa` or the full nibble name for ::1.
fn reverse_zone(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => "127.in-addr.arpa".to_owned(),
        IpAddr::V6(_) => reverse_name(ip),
    }
}

/// `4.3.2.1.in-addr.arpa` style owner name (no trailing dot).
pub fn reverse_name(ip: IpAddr) -> String {
    Name::from(ip).to_ascii().trim_end_matches('.').to_owned()
}

/// Owner name of an IP entry in a DNSBL zone: reversed octets, or nibbles for IPv6.
fn dnsbl_ip_owner(ip: IpAddr, zone: &str) -> String {
    let rev = reverse_name(ip);
    let stem = rev
        .trim_end_matches(".in-addr.arpa")
        .trim_end_matches(".ip6.arpa");
    format!("{stem}.{zone}")
}

/// Everything the DNS server serves for `scenario`. `dns_ip` is the server's own address
/// (for `ns.lab.test`); `https_ip` is where `mta-sts.DOMAIN` points.
/// The SHA-256 of the lab's keys, made at start, for `@ca` / `@leaf(HOST)` TLSA placeholders.
#[derive(Debug, Default, Clone)]
pub struct TlsaKeys {
    pub ca: Vec<u8>,
    /// Per host name (lower case): its certificate's key.
    pub leaves: HashMap<String, Vec<u8>>,
}

pub fn build(
    scenario: &Scenario,
    dns_ip: IpAddr,
    https_ip: IpAddr,
    keys: &TlsaKeys,
) -> Result<Zones, LabError> {
    let mut b = Builder::default();
    let mut failures = HashMap::new();
    let mut rotations: HashMap<(LowerName, RecordType), Rotation> = HashMap::new();

    b.zone("lab.test");
    for d in &scenario.domains {
        b.zone(&d.name);
    }
    for bl in &scenario.dnsbls {
        b.zone(&bl.zone);
    }
    // Hosts outside every declared domain still need their address published.
    for h in &scenario.hosts {
        if b.zone_of(&h.name).is_none() {
            b.zone(&h.name);
        }
    }
    for h in &scenario.hosts {
        if h.ptr.is_some() {
            b.zone(&reverse_zone(h.address));
        }
    }
    for p in &scenario.ptrs {
        b.zone(&reverse_zone(p.address));
    }

    for d in &scenario.domains {
        for node in &d.nodes {
            for r in &node.records {
                let rdata = match r {
                    Record::Mx {
                        preference,
                        exchange,
                    } => RData::MX(MX::new(*preference, fqdn(exchange)?)),
                    Record::A(a) => RData::A(A(*a)),
                    Record::Aaaa(a) => RData::AAAA(AAAA(*a)),
                    Record::Cname(t) => RData::CNAME(CNAME(fqdn(t)?)),
                    Record::Txt(t) => txt(t),
                    Record::Tlsa {
                        usage,
                        selector,
                        matching,
                        data,
                    } => RData::TLSA(TLSA::new(
                        (*usage).into(),
                        (*selector).into(),
                        (*matching).into(),
                        data.clone(),
                    )),
                    Record::TlsaKey { usage, key } => {
                        let data = match key {
                            TlsaKey::Ca => keys.ca.clone(),
                            TlsaKey::Leaf(host) => keys.leaves.get(host).cloned().ok_or_else(|| {
                                LabError::Tls(format!(
                                    "TLSA @leaf({host}) at {}: no lab host {host} presents a certificate (give a [[hosts]] entry with starttls)",
                                    node.name
                                ))
                            })?,
                        };
                        RData::TLSA(TLSA::new((*usage).into(), 1.into(), 1.into(), data))
                    }
                };
                if node.rotate && matches!(r, Record::A(_) | Record::Aaaa(_)) {
                    // Cached nowhere (TTL 0), so every lookup reaches the lab and sees the change.
                    let rec = HRecord::from_rdata(fqdn(&node.name)?, 0, rdata.clone());
                    rotations
                        .entry((LowerName::new(&rec.name), rec.record_type()))
                        .or_insert_with(|| Rotation {
                            records: Vec::new(),
                            next: AtomicUsize::new(0),
                        })
                        .records
                        .push(rec);
                }
                b.add(&node.name, rdata)?;
            }
            if let Some(f) = &node.failure {
                failures.insert(LowerName::new(&fqdn(&node.name)?), f.clone());
            }
        }
        if let Some(sts) = &d.mta_sts {
            let policy_host = format!("mta-sts.{}", d.name);
            if !b.has(&policy_host) {
                b.add(&policy_host, addr_rdata(https_ip))?;
            }
            let txt_owner = format!("_mta-sts.{}", d.name);
            if sts.txt_record && !b.has(&txt_owner) {
                b.add(&txt_owner, txt(&format!("v=STSv1; id={}", sts.id)))?;
            }
        }
    }

    for h in &scenario.hosts {
        // A host's own records unless the scenario wrote a CNAME there (which forbids others).
        let cname_there = scenario.domains.iter().any(|d| {
            d.nodes.iter().any(|n| {
                n.name == h.name && n.records.iter().any(|r| matches!(r, Record::Cname(_)))
            })
        });
        if !cname_there {
            b.add(&h.name, addr_rdata(h.address))?;
        }
        if let Some(ptr) = &h.ptr {
            b.add(&reverse_name(h.address), RData::PTR(PTR(fqdn(ptr)?)))?;
        }
    }
    for p in &scenario.ptrs {
        b.add(&reverse_name(p.address), RData::PTR(PTR(fqdn(&p.name)?)))?;
    }

    for bl in &scenario.dnsbls {
        let mut entries: Vec<(String, std::net::Ipv4Addr, String)> = Vec::new();
        if bl.test_entries {
            let test = match bl.kind {
                DnsblKind::Ip => "127.0.0.2".to_owned(),
                DnsblKind::Domain => "test".to_owned(),
            };
            entries.push((
                test,
                std::net::Ipv4Addr::new(127, 0, 0, 2),
                "RFC 5782 test entry".to_owned(),
            ));
        }
        for l in &bl.listed {
            entries.push((l.entry.clone(), l.code, l.reason.clone()));
        }
        for (entry, code, reason) in entries {
            let owner = match bl.kind {
                DnsblKind::Ip => {
                    let ip: IpAddr = entry
                        .parse()
                        .map_err(|_| LabError::Dns(format!("bad DNSBL entry {entry:?}")))?;
                    dnsbl_ip_owner(ip, &bl.zone)
                }
                DnsblKind::Domain => format!("{entry}.{}", bl.zone),
            };
            b.add(&owner, RData::A(A(code)))?;
            b.add(&owner, txt(&reason))?;
        }
    }

    b.add(NS_NAME, addr_rdata(dns_ip))?;

    let signing: HashMap<&str, crate::scenario::Dnssec> = scenario
        .domains
        .iter()
        .filter_map(|d| d.dnssec.map(|m| (d.name.as_str(), m)))
        .collect();
    let mut anchors = Vec::new();
    let mut catalog = Catalog::new();
    let mut origins = Vec::new();
    let ns = fqdn(NS_NAME)?;
    let rname = fqdn("hostmaster.lab.test")?;
    for (apex, records) in b.zones {
        let origin = fqdn(&apex)?;
        let mode = signing.get(apex.as_str()).copied();
        let mut zone: InMemoryZoneHandler = InMemoryZoneHandler::empty(
            origin.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
            // NSEC, not NSEC3: the lab hides no names, and NSEC chains are readable in tests.
            mode.map(|_| NxProofKind::Nsec),
        );
        let soa = SOA::new(ns.clone(), rname.clone(), 1, 3600, 600, 86400, TTL);
        zone.upsert_mut(HRecord::from_rdata(origin.clone(), TTL, RData::SOA(soa)), 1);
        zone.upsert_mut(
            HRecord::from_rdata(origin.clone(), TTL, RData::NS(NS(ns.clone()))),
            1,
        );
        for r in records {
            zone.upsert_mut(r, 1);
        }
        if let Some(mode) = mode {
            anchors.push(super::dnssec::sign(&mut zone, &origin, mode)?);
        }
        let handler: Arc<dyn ZoneHandler> = Arc::new(zone);
        catalog.upsert(LowerName::new(&origin), vec![handler]);
        origins.push(apex);
    }
    Ok(Zones {
        catalog,
        failures,
        rotations,
        origins,
        anchors,
    })
}

/// A raw-data owner name: as [`fqdn`], else label by label as raw octets, since suites test
/// names hickory's text parser refuses but DNS carries (`foo:bar/baz.example.com`, spaces).
fn raw_fqdn(name: &str) -> Result<Name, LabError> {
    fqdn(name).or_else(|e| {
        let mut n = Name::from_labels(name.trim_end_matches('.').split('.').map(str::as_bytes))
            .map_err(|_| e)?;
        n.set_fqdn(true);
        Ok(n)
    })
}

/// One record of [`build_raw`] zone data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawData {
    A(std::net::Ipv4Addr),
    Aaaa(std::net::Ipv6Addr),
    Mx(u16, String),
    /// The character strings of one TXT record, as bytes (they need not be UTF-8).
    Txt(Vec<Vec<u8>>),
    Ptr(String),
    Cname(String),
}

/// Arbitrary zone data in one root zone, for conformance suites whose data (`example.com`
/// names, documentation addresses) the scenario rules refuse. Rust only: the server still
/// listens on loopback and only ever answers; it sends nothing anywhere. Names in
/// `timeouts` are never answered. Records whose names DNS cannot carry are skipped and
/// returned, so the caller can say so.
pub fn build_raw(
    records: &[(String, RawData)],
    timeouts: &[String],
) -> Result<(Zones, Vec<String>), LabError> {
    let typed: Vec<RawTimeout> = timeouts
        .iter()
        .map(|n| RawTimeout {
            name: n.clone(),
            types: Vec::new(),
        })
        .collect();
    build_raw_with(records, &typed, false)
}

/// A name that is never answered, for some query types only (empty: every type). Suites say
/// "this name times out, except for the records it has" (the OpenSPF suite's `TIMEOUT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTimeout {
    pub name: String,
    /// Query types (`"TXT"`, `"A"`...) that go unanswered; empty: all of them.
    pub types: Vec<String>,
}

/// [`build_raw`] with per-type timeouts, and names hickory's text parser refuses (`:`, `/`,
/// spaces in a label) served as raw labels instead of skipped: what an SPF suite needs.
pub fn build_raw_typed(
    records: &[(String, RawData)],
    timeouts: &[RawTimeout],
) -> Result<(Zones, Vec<String>), LabError> {
    build_raw_with(records, timeouts, true)
}

fn build_raw_with(
    records: &[(String, RawData)],
    timeouts: &[RawTimeout],
    raw_labels: bool,
) -> Result<(Zones, Vec<String>), LabError> {
    let name = |n: &str| if raw_labels { raw_fqdn(n) } else { fqdn(n) };
    let mut zone: InMemoryZoneHandler =
        InMemoryZoneHandler::empty(Name::root(), ZoneType::Primary, AxfrPolicy::Deny, None);
    let ns = fqdn(NS_NAME)?;
    let soa = SOA::new(
        ns.clone(),
        fqdn("hostmaster.lab.test")?,
        1,
        3600,
        600,
        86400,
        TTL,
    );
    zone.upsert_mut(HRecord::from_rdata(Name::root(), TTL, RData::SOA(soa)), 1);
    zone.upsert_mut(HRecord::from_rdata(Name::root(), TTL, RData::NS(NS(ns))), 1);
    let mut skipped = Vec::new();
    for (owner, data) in records {
        let rdata = match data {
            RawData::A(a) => Ok(RData::A(A(*a))),
            RawData::Aaaa(a) => Ok(RData::AAAA(AAAA(*a))),
            RawData::Mx(p, x) => name(x).map(|x| RData::MX(MX::new(*p, x))),
            // A TXT with no strings at all cannot be written in a zone file and hickory's
            // client refuses to decode one, so it is served as one empty string: the nearest
            // thing DNS carries, and what the suite's "null text" case is about.
            RawData::Txt(parts) if parts.is_empty() => Ok(RData::TXT(TXT::from_bytes(vec![&[]]))),
            RawData::Txt(parts) => Ok(RData::TXT(TXT::from_bytes(
                parts.iter().map(Vec::as_slice).collect(),
            ))),
            RawData::Ptr(t) => fqdn(t).map(|t| RData::PTR(PTR(t))),
            RawData::Cname(t) => fqdn(t).map(|t| RData::CNAME(CNAME(t))),
        };
        match (name(owner), rdata) {
            (Ok(name), Ok(rdata)) => {
                zone.upsert_mut(HRecord::from_rdata(name, TTL, rdata), 1);
            }
            _ => skipped.push(format!("{owner} {data:?}")),
        }
    }
    let mut failures = HashMap::new();
    for t in timeouts {
        if let Ok(name) = fqdn(&t.name) {
            failures.insert(
                LowerName::new(&name),
                Failure {
                    kind: crate::scenario::FailureKind::Timeout,
                    types: t.types.clone(),
                },
            );
        }
    }
    let mut catalog = Catalog::new();
    let handler: Arc<dyn ZoneHandler> = Arc::new(zone);
    catalog.upsert(LowerName::new(&Name::root()), vec![handler]);
    Ok((
        Zones {
            catalog,
            failures,
            rotations: HashMap::new(),
            origins: vec![".".to_owned()],
            anchors: Vec::new(),
        },
        skipped,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        let ip: IpAddr = "127.0.0.10".parse().unwrap();
        assert_eq!(reverse_name(ip), "10.0.0.127.in-addr.arpa");
        assert_eq!(dnsbl_ip_owner(ip, "bl.test"), "10.0.0.127.bl.test");
        let v6: IpAddr = "::1".parse().unwrap();
        assert!(reverse_name(v6).starts_with("1.0.0.0."));
        assert!(reverse_name(v6).ends_with(".ip6.arpa"));
    }

    #[test]
    fn long_txt_is_split() {
        let RData::TXT(t) = txt(&"x".repeat(600)) else {
            panic!("not txt")
        };
        assert_eq!(t.txt_data.len(), 3);
    }
}
