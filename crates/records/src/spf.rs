//! SPF (RFC 7208): the domain's `v=spf1` record from the networks, hosts and providers that send
//! its mail, the address-set arithmetic behind it, and a flattened layout chained in 255 bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mxray_core::DomainName;
use serde::Serialize;

use crate::{DnsRecord, Generated, RecordsError, check};

/// One DNS character-string (RFC 1035 3.3): a flattened record kept within one string is read
/// whole by every DNS provider's form, with no splitting by hand.
const MAX_STRING: usize = 255;

/// RFC 7208 4.6.4: the DNS lookups one evaluation may cost.
const MAX_LOOKUPS: usize = 10;

/// RFC 7208 3.4: answers over 512 bytes may not fit a UDP reply; about 450 bytes of record
/// leaves room for the rest of the answer.
const UDP_SAFE: usize = 450;

const SPF1: &str = "v=spf1";

/// `~all` or `-all`: what the record says about every address it does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllPolicy {
    /// `~all`: receivers accept mail from unlisted addresses but mark it.
    SoftFail,
    /// `-all`: receivers may refuse mail from unlisted addresses.
    Fail,
}

impl AllPolicy {
    /// `softfail`, `~all`, `~` or `fail`, `-all`, `-`, in any case. `+all` and `?all` are
    /// refused: the first authorises everyone, the second says nothing.
    pub fn parse(s: &str) -> Result<AllPolicy, RecordsError> {
        let refuse = |why: &'static str| RecordsError::SpfAll {
            input: s.to_string(),
            why,
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "softfail" | "~all" | "~" => Ok(AllPolicy::SoftFail),
            "fail" | "-all" | "-" => Ok(AllPolicy::Fail),
            "pass" | "+all" | "+" | "all" => Err(refuse(
                "+all lets anyone, anywhere, send mail as the domain",
            )),
            "neutral" | "?all" | "?" => Err(refuse(
                "?all protects nothing: receivers treat mail from unlisted addresses as if there were no SPF record",
            )),
            _ => Err(refuse("it is not an all qualifier")),
        }
    }

    /// The term as written: `~all` or `-all`.
    pub fn term(self) -> &'static str {
        match self {
            AllPolicy::SoftFail => "~all",
            AllPolicy::Fail => "-all",
        }
    }
}

/// An inclusive range of addresses. IPv4 ranges are held as u128 too (within `u32::MAX`), so
/// one piece of range arithmetic serves both families.
type Range = (u128, u128);

// Hand-rolled rather than ipnet: ipnet can aggregate but cannot subtract, and the exact pass
// set needs subtraction.
/// A set of IP addresses: per family, sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddrSet {
    v4: Vec<Range>,
    v6: Vec<Range>,
}

impl AddrSet {
    pub fn new() -> AddrSet {
        AddrSet::default()
    }

    /// Every address: `0.0.0.0/0` and `::/0`.
    pub fn everything() -> AddrSet {
        AddrSet {
            v4: vec![(0, u128::from(u32::MAX))],
            v6: vec![(0, u128::MAX)],
        }
    }

    /// Adds `addr/prefix`, host bits masked off; a prefix over 32 (IPv4) or 128 (IPv6) counts
    /// as a single address.
    pub fn insert_net(&mut self, addr: IpAddr, prefix: u8) {
        let (lo, hi) = match addr {
            IpAddr::V4(a) => net_range(u128::from(u32::from(a)), 32, prefix),
            IpAddr::V6(a) => net_range(u128::from(a), 128, prefix),
        };
        let v = if addr.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        };
        *v = merge(v.iter().copied().chain([(lo, hi)]).collect());
    }

    /// Adds every address of `other`.
    pub fn union(&mut self, other: &AddrSet) {
        self.v4 = merge(self.v4.iter().chain(&other.v4).copied().collect());
        self.v6 = merge(self.v6.iter().chain(&other.v6).copied().collect());
    }

    /// Removes every address of `other`.
    pub fn subtract(&mut self, other: &AddrSet) {
        self.v4 = subtract(&self.v4, &other.v4);
        self.v6 = subtract(&self.v6, &other.v6);
    }

    /// Whether some address is in both sets.
    pub fn intersects(&self, other: &AddrSet) -> bool {
        intersects(&self.v4, &other.v4) || intersects(&self.v6, &other.v6)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v, x) = match ip {
            IpAddr::V4(a) => (&self.v4, u128::from(u32::from(a))),
            IpAddr::V6(a) => (&self.v6, u128::from(a)),
        };
        let i = v.partition_point(|r| r.1 < x);
        v.get(i).is_some_and(|r| r.0 <= x)
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn is_everything_v4(&self) -> bool {
        self.v4 == [(0, u128::from(u32::MAX))]
    }

    pub fn is_everything_v6(&self) -> bool {
        self.v6 == [(0, u128::MAX)]
    }

    /// The fewest CIDR blocks covering exactly the set: IPv4 first, each family ascending.
    pub fn cidrs(&self) -> Vec<(IpAddr, u8)> {
        let mut out = Vec::new();
        for (start, prefix) in blocks(&self.v4, 32) {
            // Within u32: IPv4 ranges never go past u32::MAX.
            let a = Ipv4Addr::from(u32::try_from(start).unwrap_or(u32::MAX));
            out.push((IpAddr::V4(a), prefix));
        }
        for (start, prefix) in blocks(&self.v6, 128) {
            out.push((IpAddr::V6(Ipv6Addr::from(start)), prefix));
        }
        out
    }

    /// The same as SPF terms: `ip4:192.0.2.0/24`, `ip4:192.0.2.1` for a /32,
    /// `ip6:2001:db8::/32`, `ip6:2001:db8::1` for a /128 (no `+`: pass is the default).
    pub fn terms(&self) -> Vec<String> {
        self.cidrs()
            .into_iter()
            .map(|(ip, p)| match ip {
                IpAddr::V4(a) if p == 32 => format!("ip4:{a}"),
                IpAddr::V4(a) => format!("ip4:{a}/{p}"),
                IpAddr::V6(a) if p == 128 => format!("ip6:{a}"),
                IpAddr::V6(a) => format!("ip6:{a}/{p}"),
            })
            .collect()
    }

    /// `(IPv4 addresses, IPv6 /64 networks)` covered. A /64 counts when the set holds any of
    /// its addresses (IPv6 is handed out by /64, so addresses would be a meaningless number).
    /// u128 because `::/0` holds 2^64 of them, one more than u64 counts.
    pub fn size(&self) -> (u64, u128) {
        let v4 = self
            .v4
            .iter()
            .map(|&(lo, hi)| u64::try_from(hi - lo + 1).unwrap_or(u64::MAX))
            .sum();
        let mut v6: u128 = 0;
        let mut prev_last: Option<u128> = None;
        for &(lo, hi) in &self.v6 {
            let (mut first, last) = (lo >> 64, hi >> 64);
            // Two ranges may share a /64: count it once.
            if prev_last == Some(first) {
                first += 1;
            }
            if last >= first {
                v6 += last - first + 1;
            }
            prev_last = Some(last);
        }
        (v4, v6)
    }
}

/// The range of `addr/prefix` in a family of `width` bits.
fn net_range(addr: u128, width: u32, prefix: u8) -> Range {
    let host = width - u32::from(prefix).min(width);
    let mask = low_bits(host);
    (addr & !mask, addr | mask)
}

/// A value with the lowest `n` bits set (all of them for 128).
fn low_bits(n: u32) -> u128 {
    if n >= 128 { u128::MAX } else { (1 << n) - 1 }
}

/// Sorted, with overlapping and adjacent ranges joined.
fn merge(mut v: Vec<Range>) -> Vec<Range> {
    v.sort_unstable();
    let mut out: Vec<Range> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            // Adjacent counts as touching: lo == last.hi + 1 (no successor after u128::MAX).
            Some(last) if last.1.checked_add(1).is_none_or(|next| lo <= next) => {
                last.1 = last.1.max(hi);
            }
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// `a` minus `b`, both normalised; the result is too (pieces of one range are separated by
/// what was cut, pieces of two ranges by the gap that was already between them).
fn subtract(a: &[Range], b: &[Range]) -> Vec<Range> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(lo, hi) in a {
        while b.get(j).is_some_and(|r| r.1 < lo) {
            j += 1;
        }
        // The first address of (lo, hi) that is neither kept yet nor cut.
        let mut next = lo;
        let mut covered = false;
        for &(blo, bhi) in b[j..].iter().take_while(|r| r.0 <= hi) {
            if blo > next {
                out.push((next, blo - 1));
            }
            if bhi >= hi {
                covered = true;
                break;
            }
            next = next.max(bhi + 1);
        }
        if !covered {
            out.push((next, hi));
        }
    }
    out
}

fn intersects(a: &[Range], b: &[Range]) -> bool {
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        if x.1 < y.0 {
            i += 1;
        } else if y.1 < x.0 {
            j += 1;
        } else {
            return true;
        }
    }
    false
}

/// Each range cut into the largest aligned blocks, left to right: the fewest for a range, and
/// since the ranges are non-adjacent no block could span two, so the fewest for the set.
fn blocks(v: &[Range], width: u32) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    for &(lo, hi) in v {
        let mut start = lo;
        loop {
            let align = if start == 0 {
                width
            } else {
                start.trailing_zeros().min(width)
            };
            // The largest k with 2^k addresses from start to hi.
            let span = hi - start;
            let fit = if span == u128::MAX {
                128
            } else {
                127 - (span + 1).leading_zeros()
            };
            let k = align.min(fit);
            out.push((start, u8::try_from(width - k).unwrap_or(0)));
            let end = start | low_bits(k);
            if end >= hi {
                break;
            }
            start = end + 1;
        }
    }
    out
}

/// What `mxray records spf DOMAIN` was asked for.
#[derive(Debug, Clone)]
pub struct SpfSpec {
    pub domain: DomainName,
    /// `ip4:` networks; host bits are masked off.
    pub ip4: Vec<(Ipv4Addr, u8)>,
    /// `ip6:` networks; host bits are masked off.
    pub ip6: Vec<(Ipv6Addr, u8)>,
    /// `a`: the domain's own A/AAAA addresses send mail.
    pub a: bool,
    /// `mx`: the domain's MX hosts send mail.
    pub mx: bool,
    /// `include:` providers, such as `_spf.google.com`.
    pub includes: Vec<DomainName>,
    pub all: AllPolicy,
}

/// Parses an `--ip4` argument: `192.0.2.0/24` or `192.0.2.1` (a /32). Host bits set
/// (`192.0.2.1/24`) are masked off, and the bool says so, for the caller to tell.
pub fn parse_ip4(s: &str) -> Result<((Ipv4Addr, u8), bool), RecordsError> {
    let give = "a network such as 192.0.2.0/24 or an address such as 192.0.2.1";
    let err = |why: String| RecordsError::IpNetwork {
        family: "IPv4",
        input: s.to_string(),
        why,
        give,
    };
    let (addr, prefix) = split_net(s, 32).map_err(err)?;
    let Ok(a) = addr.parse::<Ipv4Addr>() else {
        return Err(err(if addr.parse::<Ipv6Addr>().is_ok() {
            "it is an IPv6 address (give it with --ip6)".to_string()
        } else {
            format!("{addr:?} is not a dotted IPv4 address")
        }));
    };
    let (lo, _) = net_range(u128::from(u32::from(a)), 32, prefix);
    let masked = Ipv4Addr::from(u32::try_from(lo).unwrap_or(0));
    Ok(((masked, prefix), masked != a))
}

/// Parses an `--ip6` argument: `2001:db8::/32` or `2001:db8::1` (a /128). Host bits set
/// (`2001:db8::1/32`) are masked off, and the bool says so, for the caller to tell.
pub fn parse_ip6(s: &str) -> Result<((Ipv6Addr, u8), bool), RecordsError> {
    let give = "a network such as 2001:db8::/32 or an address such as 2001:db8::1";
    let err = |why: String| RecordsError::IpNetwork {
        family: "IPv6",
        input: s.to_string(),
        why,
        give,
    };
    let (addr, prefix) = split_net(s, 128).map_err(err)?;
    let Ok(a) = addr.parse::<Ipv6Addr>() else {
        return Err(err(if addr.parse::<Ipv4Addr>().is_ok() {
            "it is an IPv4 address (give it with --ip4)".to_string()
        } else {
            format!("{addr:?} is not an IPv6 address")
        }));
    };
    let (lo, _) = net_range(u128::from(a), 128, prefix);
    let masked = Ipv6Addr::from(lo);
    Ok(((masked, prefix), masked != a))
}

/// `ADDR/LEN` or `ADDR` (the whole width), the length checked against `max`.
fn split_net(s: &str, max: u8) -> Result<(&str, u8), String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("it is empty".to_string());
    }
    let Some((addr, len)) = s.split_once('/') else {
        return Ok((s, max));
    };
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the prefix length /{len} is not a number"));
    }
    match len.parse::<u8>() {
        Ok(n) if n <= max => Ok((addr, n)),
        _ => Err(format!("the prefix length /{len} is over {max}")),
    }
}

/// The lookups a record's own terms cost (RFC 7208 4.6.4): `a`, `mx`, each include (each
/// include's own record costs more, below it).
pub fn own_lookups(spec: &SpfSpec) -> usize {
    let mut includes: Vec<&DomainName> = Vec::new();
    for i in &spec.includes {
        if !includes.contains(&i) {
            includes.push(i);
        }
    }
    usize::from(spec.a) + usize::from(spec.mx) + includes.len()
}

/// One record for the spec, not flattened: `v=spf1 ip4:... ip6:... a mx include:... ~all`.
/// Addresses come first (they cost no DNS lookup, so mail they match is decided before any),
/// merged into the fewest networks; then `a`, `mx`, includes without duplicates. An include of
/// the domain itself is refused (a loop). A record of nothing but `all` says the domain sends
/// no mail.
pub fn spf(spec: &SpfSpec) -> Result<Generated, RecordsError> {
    let domain = &spec.domain;
    let name = check::name(&[domain])?;
    let mut includes: Vec<&DomainName> = Vec::new();
    for inc in &spec.includes {
        if inc.is_root() {
            return Err(RecordsError::SpfInclude {
                include: String::new(),
                why: "the name is empty".to_string(),
            });
        }
        if inc == domain {
            return Err(RecordsError::SelfInclude {
                domain: domain.to_string(),
            });
        }
        if !includes.contains(&inc) {
            includes.push(inc);
        }
    }
    let mut set = AddrSet::new();
    for &(a, p) in &spec.ip4 {
        set.insert_net(IpAddr::V4(a), p);
    }
    for &(a, p) in &spec.ip6 {
        set.insert_net(IpAddr::V6(a), p);
    }
    let ip_terms = set.terms();

    let mut terms = vec![SPF1.to_string()];
    terms.extend(ip_terms.iter().cloned());
    if spec.a {
        terms.push("a".to_string());
    }
    if spec.mx {
        terms.push("mx".to_string());
    }
    terms.extend(includes.iter().map(|i| format!("include:{i}")));
    terms.push(spec.all.term().to_string());
    let value = terms.join(" ");

    let mut notes = Vec::new();
    let given = spec.ip4.len() + spec.ip6.len();
    if given > ip_terms.len() {
        notes.push(format!(
            "The {given} networks given are written as {} ip4/ip6 terms: duplicates and networks inside others are left out, adjacent ones joined.",
            ip_terms.len()
        ));
    }
    let own = own_lookups(spec);
    if own == 0 {
        notes.push(
            "This record costs no DNS lookups: ip4 and ip6 terms match without one (RFC 7208 4.6.4 allows 10 per evaluation).".to_string(),
        );
    } else {
        let mut parts = Vec::new();
        if spec.a {
            parts.push("a 1".to_string());
        }
        if spec.mx {
            parts.push("mx 1".to_string());
        }
        if !includes.is_empty() {
            parts.push(format!("{} include(s) 1 each", includes.len()));
        }
        notes.push(format!(
            "This record's own terms cost {own} of the {MAX_LOOKUPS} DNS lookups RFC 7208 4.6.4 allows per evaluation ({}); each include also costs the lookups of the record it names.",
            parts.join(", ")
        ));
        if own > MAX_LOOKUPS {
            notes.push(format!(
                "{own} lookups are over the limit of {MAX_LOOKUPS} before any include is followed: receivers return permerror, and SPF fails for all of {domain}'s mail."
            ));
        }
    }
    if ip_terms.is_empty() && !spec.a && !spec.mx && includes.is_empty() {
        notes.push(format!(
            "This record lists no senders: it says {domain} sends no mail."
        ));
        if spec.all == AllPolicy::SoftFail {
            notes.push(
                "For a domain that sends no mail, -all is the right choice: with ~all receivers only mark mail forged in its name, rather than refuse it.".to_string(),
            );
        }
    }
    notes.push(format!(
        "{domain} may have only one v=spf1 record (RFC 7208 3.2: two are a permerror): replace any existing one, do not add a second."
    ));
    let record = DnsRecord::txt(&name, value);
    let len = record.value.len();
    if len > MAX_STRING {
        notes.push(format!(
            "The record is {len} bytes: it is published as {} character-strings of at most 255 bytes, which receivers join (RFC 7208 3.3).",
            record.strings().len()
        ));
    }
    if len > UDP_SAFE {
        notes.push(format!(
            "At {len} bytes the answer may not fit a 512-byte UDP reply (RFC 7208 3.4 advises staying under it): move networks behind an include."
        ));
    }
    Ok(Generated {
        records: vec![record],
        files: Vec::new(),
        notes,
    })
}

/// A flattened SPF layout: the domain's record holds `set` as ip4/ip6 terms, then `kept`
/// (pass-qualified terms left live, already written, in the caller's order), then
/// `include:_spf1.DOMAIN` if the addresses do not all fit, then `all`. Every record is at most 255 bytes (one character-string): terms that
/// do not fit go to `_spf1.DOMAIN`, `_spf2.DOMAIN`..., each but the last ending with an include
/// of the next. Sub-records have no `all`: an address they do not list makes the include not
/// match (RFC 7208 5.2), and evaluation goes on in the domain's record, whose `all` decides.
///
/// If the domain's record is over 255 bytes with `kept` alone, it holds no ip terms and is
/// published as several strings. Records come out as the domain's, then `_spf1`, `_spf2`...
pub fn flattened_layout(
    domain: &DomainName,
    kept: &[String],
    set: &AddrSet,
    all: AllPolicy,
) -> Result<Generated, RecordsError> {
    let name = check::name(&[domain])?;
    let sub_name = |i: usize| check::name(&[&format!("_spf{i}"), domain]);
    // The addresses first: a receiver matches a listed sender without a lookup. Every kept
    // term is pass-qualified (flattening refuses other records), so order changes no result.
    let tail = |more: Option<String>| {
        kept.iter()
            .cloned()
            .chain(more)
            .chain(std::iter::once(all.term().to_string()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let terms = set.terms();
    let whole = compose(SPF1, &terms, &tail(None));

    let mut records = Vec::new();
    if terms.is_empty() || whole.len() <= MAX_STRING {
        records.push(DnsRecord::txt(&name, whole));
    } else {
        let suffix = tail(Some(format!("include:{}", sub_name(1)?)));
        let n = fitting(SPF1, &terms, &suffix);
        records.push(DnsRecord::txt(&name, compose(SPF1, &terms[..n], &suffix)));
        let mut rest = &terms[n..];
        let mut i = 1;
        while !rest.is_empty() {
            let this = sub_name(i)?;
            let (take, next) = if fitting(SPF1, rest, "") == rest.len() {
                (rest.len(), String::new())
            } else {
                let next = format!("include:{}", sub_name(i + 1)?);
                // At least one term a record, so the chain ends even for a domain too long
                // to fit a term beside the include (such records go over 255 bytes).
                match fitting(SPF1, rest, &next).max(1) {
                    n if n >= rest.len() => (rest.len(), String::new()),
                    n => (n, next),
                }
            };
            records.push(DnsRecord::txt(&this, compose(SPF1, &rest[..take], &next)));
            rest = &rest[take..];
            i += 1;
        }
    }

    let subs = records.len() - 1;
    let mut notes = Vec::new();
    if subs == 0 {
        notes.push(format!(
            "The {} ip4/ip6 terms fit in {domain}'s own record: the layout costs no DNS lookups beyond those of the kept terms.",
            terms.len()
        ));
    } else {
        notes.push(format!(
            "The {} ip4/ip6 terms fill {domain}'s record and {subs} sub-record(s), _spf1.{domain} to _spf{subs}.{domain}, chained by includes: the layout costs {subs} of the {MAX_LOOKUPS} DNS lookups a receiver allows, beyond those of the kept terms.",
            terms.len()
        ));
        notes.push(format!(
            "The sub-records have no all term on purpose: an address they do not list falls back to {domain}'s record, which ends {} (RFC 7208 5.2).",
            all.term()
        ));
        notes.push(format!(
            "Publish the sub-records before or with {domain}'s record: an include of a name with no SPF record is a permerror."
        ));
    }
    if let Some(main) = records.first()
        && main.value.len() > MAX_STRING
    {
        notes.push(format!(
            "{domain}'s record is {} bytes with the kept terms alone: it holds no addresses and is published as several character-strings, which receivers join (RFC 7208 3.3).",
            main.value.len()
        ));
    }
    notes.push(
        "A flattened record is a copy of the providers' address lists: it goes stale when a provider changes its ranges; check for drift regularly.".to_string(),
    );
    notes.push(format!(
        "{domain} may have only one v=spf1 record (RFC 7208 3.2: two are a permerror): replace any existing one, do not add a second."
    ));
    Ok(Generated {
        records,
        files: Vec::new(),
        notes,
    })
}

/// `head terms... suffix`, space-separated, leaving out an empty suffix.
fn compose(head: &str, terms: &[String], suffix: &str) -> String {
    let mut s = head.to_string();
    for t in terms.iter().map(String::as_str).chain([suffix]) {
        if !t.is_empty() {
            s.push(' ');
            s.push_str(t);
        }
    }
    s
}

/// How many of `terms`, from the first, fit between `head` and `suffix` in one
/// character-string (none if `head` and `suffix` alone do not).
fn fitting(head: &str, terms: &[String], suffix: &str) -> usize {
    let mut len = head.len()
        + if suffix.is_empty() {
            0
        } else {
            1 + suffix.len()
        };
    terms
        .iter()
        .take_while(|t| {
            len += 1 + t.len();
            len <= MAX_STRING
        })
        .count()
}

#[cfg(test)]
mod tests {
    use mxray_diagnose::sender::spf::record::{Qualifier, Record, Term, parse_record};

    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    fn set(nets: &[(IpAddr, u8)]) -> AddrSet {
        let mut s = AddrSet::new();
        for &(a, p) in nets {
            s.insert_net(a, p);
        }
        s
    }

    fn domain() -> DomainName {
        DomainName::parse("example.com").unwrap()
    }

    /// Sorted, disjoint, non-adjacent, within the family.
    fn assert_normal(s: &AddrSet) {
        for (v, max) in [(&s.v4, u128::from(u32::MAX)), (&s.v6, u128::MAX)] {
            for r in v.iter() {
                assert!(r.0 <= r.1 && r.1 <= max, "{s:?}");
            }
            for w in v.windows(2) {
                assert!(w[0].1 < w[1].0 && w[1].0 - w[0].1 > 1, "{s:?}");
            }
        }
    }

    /// A small deterministic PRNG (xorshift64*): no new dependency for random tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn u128(&mut self) -> u128 {
            (u128::from(self.next()) << 64) | u128::from(self.next())
        }
    }

    /// A random network: mostly in small regions (so that nets overlap and touch), sometimes
    /// anywhere, sometimes at the very ends of the address space.
    fn random_net(rng: &mut Rng) -> (IpAddr, u8) {
        match rng.below(8) {
            0..=2 => {
                let a = 0x0a00_0000 | (rng.next() as u32 & 0xffff);
                (IpAddr::V4(Ipv4Addr::from(a)), 16 + rng.below(17) as u8)
            }
            3 => {
                let a = rng.next() as u32;
                (IpAddr::V4(Ipv4Addr::from(a)), rng.below(33) as u8)
            }
            4 => {
                let a = if rng.below(2) == 0 { 0 } else { u32::MAX };
                let a = a ^ (rng.next() as u32 & 0xff);
                (IpAddr::V4(Ipv4Addr::from(a)), 22 + rng.below(11) as u8)
            }
            5 => {
                let a = (0x2001_0db8u128 << 96) | (rng.u128() & 0xf_ffff);
                (IpAddr::V6(Ipv6Addr::from(a)), 108 + rng.below(21) as u8)
            }
            6 => (IpAddr::V6(Ipv6Addr::from(rng.u128())), rng.below(129) as u8),
            _ => {
                let a = if rng.below(2) == 0 { 0 } else { u128::MAX };
                let a = a ^ (rng.u128() & 0xfff);
                (IpAddr::V6(Ipv6Addr::from(a)), 116 + rng.below(13) as u8)
            }
        }
    }

    /// Membership by the definition: the address under the net's mask.
    fn in_net(ip: IpAddr, (a, p): (IpAddr, u8)) -> bool {
        match (ip, a) {
            (IpAddr::V4(x), IpAddr::V4(n)) => {
                let r = net_range(u128::from(u32::from(n)), 32, p);
                (r.0..=r.1).contains(&u128::from(u32::from(x)))
            }
            (IpAddr::V6(x), IpAddr::V6(n)) => {
                let r = net_range(u128::from(n), 128, p);
                (r.0..=r.1).contains(&u128::from(x))
            }
            _ => false,
        }
    }

    /// Addresses to probe: each net's first and last address and their neighbours, and random
    /// addresses in the regions the nets come from.
    fn probes(nets: &[(IpAddr, u8)], rng: &mut Rng) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for &(a, p) in nets {
            match a {
                IpAddr::V4(n) => {
                    let (lo, hi) = net_range(u128::from(u32::from(n)), 32, p);
                    for x in [lo.wrapping_sub(1), lo, hi, hi + 1] {
                        if let Ok(x) = u32::try_from(x) {
                            out.push(IpAddr::V4(Ipv4Addr::from(x)));
                        }
                    }
                }
                IpAddr::V6(n) => {
                    let (lo, hi) = net_range(u128::from(n), 128, p);
                    for x in [lo.wrapping_sub(1), lo, hi, hi.wrapping_add(1)] {
                        out.push(IpAddr::V6(Ipv6Addr::from(x)));
                    }
                }
            }
        }
        for _ in 0..200 {
            out.push(IpAddr::V4(Ipv4Addr::from(
                0x0a00_0000 | (rng.next() as u32 & 0xffff),
            )));
            out.push(IpAddr::V6(Ipv6Addr::from(
                (0x2001_0db8u128 << 96) | (rng.u128() & 0xf_ffff),
            )));
        }
        out
    }

    #[test]
    fn union_joins_overlapping_and_adjacent_ranges() {
        let mut s = set(&[(v4("10.0.1.0"), 24), (v4("10.0.0.0"), 24)]);
        assert_eq!(s.cidrs(), [(v4("10.0.0.0"), 23)]);
        s.union(&set(&[(v4("10.0.0.128"), 25), (v4("10.0.2.0"), 24)]));
        assert_eq!(s.v4, [(0x0a00_0000, 0x0a00_02ff)]);
        // 10.0.0.0-10.0.2.255 is one range but two blocks.
        assert_eq!(
            s.terms(),
            ["ip4:10.0.0.0/23", "ip4:10.0.2.0/24"],
            "{:?}",
            s.cidrs()
        );
        // Not adjacent: one address apart stays apart.
        let s = set(&[(v4("192.0.2.1"), 32), (v4("192.0.2.3"), 32)]);
        assert_eq!(s.v4.len(), 2);
        assert_eq!(s.terms(), ["ip4:192.0.2.1", "ip4:192.0.2.3"]);
        // Host bits are masked; a prefix over the width is one address.
        let s = set(&[(v4("192.0.2.77"), 24), (v4("198.51.100.7"), 40)]);
        assert_eq!(s.terms(), ["ip4:192.0.2.0/24", "ip4:198.51.100.7"]);
        let s = set(&[(v6("2001:db8::1"), 32), (v6("2001:db8::1"), 200)]);
        assert_eq!(s.terms(), ["ip6:2001:db8::/32"]);
    }

    #[test]
    fn subtract_splits_ranges() {
        let mut s = set(&[(v4("10.0.0.0"), 8)]);
        s.subtract(&set(&[(v4("10.1.0.0"), 16), (v4("10.255.255.255"), 32)]));
        assert_normal(&s);
        assert!(s.contains(v4("10.0.255.255")));
        assert!(!s.contains(v4("10.1.0.0")));
        assert!(!s.contains(v4("10.1.255.255")));
        assert!(s.contains(v4("10.2.0.0")));
        assert!(s.contains(v4("10.255.255.254")));
        assert!(!s.contains(v4("10.255.255.255")));
        assert_eq!(s.v4.len(), 2);
        // Subtracting everything empties; subtracting nothing changes nothing.
        let before = s.clone();
        s.subtract(&AddrSet::new());
        assert_eq!(s, before);
        s.subtract(&AddrSet::everything());
        assert!(s.is_empty());
        // A set is not touched by what lies between its ranges.
        let mut s = set(&[(v4("10.0.0.0"), 24), (v4("10.0.2.0"), 24)]);
        s.subtract(&set(&[(v4("10.0.1.0"), 24)]));
        assert_eq!(s.terms(), ["ip4:10.0.0.0/24", "ip4:10.0.2.0/24"]);
        assert!(!s.intersects(&set(&[(v4("10.0.1.0"), 24)])));
        assert!(s.intersects(&set(&[(v4("10.0.1.0"), 23)])));
    }

    #[test]
    fn edges_of_the_address_space() {
        let all = AddrSet::everything();
        assert!(all.is_everything_v4() && all.is_everything_v6());
        assert_eq!(all.terms(), ["ip4:0.0.0.0/0", "ip6:::/0"]);
        assert_eq!(all.size(), (1 << 32, 1 << 64));
        assert_eq!(set(&[(v4("0.0.0.0"), 0), (v6("::"), 0)]), all);
        assert!(all.contains(v4("255.255.255.255")) && all.contains(v6("::")));

        // The last addresses join their neighbours.
        let s = set(&[(v4("255.255.255.255"), 32), (v4("255.255.255.254"), 32)]);
        assert_eq!(s.terms(), ["ip4:255.255.255.254/31"]);
        let top = IpAddr::V6(Ipv6Addr::from(u128::MAX));
        let s = set(&[
            (top, 128),
            (v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), 128),
        ]);
        assert_eq!(
            s.terms(),
            ["ip6:ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"]
        );
        assert_eq!(s.size(), (0, 1));

        // Everything minus one address: one block per bit.
        let mut s = AddrSet::everything();
        s.subtract(&set(&[(v4("0.0.0.0"), 32), (top, 128)]));
        assert!(!s.is_everything_v4() && !s.is_everything_v6());
        let c = s.cidrs();
        assert_eq!(c.iter().filter(|b| b.0.is_ipv4()).count(), 32);
        assert_eq!(c.iter().filter(|b| b.0.is_ipv6()).count(), 128);
        assert_eq!(c[0], (v4("0.0.0.1"), 32));
        assert_eq!(c[31], (v4("128.0.0.0"), 1));
        assert_eq!(c[32], (v6("::"), 1));
        assert_eq!(s.size(), ((1 << 32) - 1, 1 << 64));
        let mut s = AddrSet::everything();
        s.subtract(&set(&[(v4("192.0.2.1"), 32)]));
        assert_eq!(s.cidrs().iter().filter(|b| b.0.is_ipv4()).count(), 32);
        assert!(!s.contains(v4("192.0.2.1")));
        assert!(s.contains(v4("192.0.2.0")) && s.contains(v4("192.0.2.2")));
    }

    #[test]
    fn size_counts_ipv4_addresses_and_ipv6_64s() {
        let s = set(&[
            (v4("192.0.2.0"), 24),
            (v4("198.51.100.0"), 20),
            (v6("2001:db8::"), 48),
            (v6("2001:db9::1"), 128),
            (v6("2001:db9::3"), 128),
        ]);
        // Two single addresses in one /64 count it once.
        assert_eq!(s.size(), (256 + 4096, (1 << 16) + 1));
        assert_eq!(AddrSet::new().size(), (0, 0));
    }

    #[test]
    fn random_sets_match_brute_force_membership() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..300 {
            let na = 1 + rng.below(12) as usize;
            let nb = 1 + rng.below(12) as usize;
            let a_nets: Vec<_> = (0..na).map(|_| random_net(&mut rng)).collect();
            let b_nets: Vec<_> = (0..nb).map(|_| random_net(&mut rng)).collect();
            let a = set(&a_nets);
            let b = set(&b_nets);
            let mut union = a.clone();
            union.union(&b);
            let mut minus = a.clone();
            minus.subtract(&b);
            for s in [&a, &b, &union, &minus] {
                assert_normal(s);
            }
            let all: Vec<_> = a_nets.iter().chain(&b_nets).copied().collect();
            let mut common = false;
            for ip in probes(&all, &mut rng) {
                let in_a = a_nets.iter().any(|&n| in_net(ip, n));
                let in_b = b_nets.iter().any(|&n| in_net(ip, n));
                common |= in_a && in_b;
                assert_eq!(a.contains(ip), in_a, "round {round}: {ip} in {a_nets:?}");
                assert_eq!(union.contains(ip), in_a || in_b, "round {round}: {ip}");
                assert_eq!(minus.contains(ip), in_a && !in_b, "round {round}: {ip}");
            }
            // The algebra: a-b shares nothing with b and gives back a|b with it.
            assert!(!minus.intersects(&b));
            let mut back = minus.clone();
            back.union(&b);
            assert_eq!(back, union);
            let mut ba = b.clone();
            ba.union(&a);
            assert_eq!(ba, union);
            let mut inter = a.clone();
            inter.subtract(&minus);
            assert_eq!(a.intersects(&b), !inter.is_empty(), "round {round}");
            if common {
                assert!(a.intersects(&b));
            }
            for s in [&a, &union, &minus] {
                let c = s.cidrs();
                // Exact: the blocks make the same set again.
                assert_eq!(&set(&c), s, "round {round}");
                // Aligned, IPv4 first, ascending, and no two blocks that are halves of one.
                for w in c.windows(2) {
                    let ((x, p), (y, q)) = (w[0], w[1]);
                    assert!(!(x.is_ipv6() && y.is_ipv4()));
                    if x.is_ipv4() == y.is_ipv4() {
                        assert!(x < y);
                        let w = if x.is_ipv4() { 32 } else { 128 };
                        let (xn, yn) = (to_u128(x), to_u128(y));
                        let mergeable = p == q
                            && p > 0
                            && xn.checked_add(1 << (w - u32::from(p))) == Some(yn)
                            && xn & low_bits(w - u32::from(p) + 1) == 0;
                        assert!(!mergeable, "round {round}: {x}/{p} {y}/{q}");
                    }
                }
                for &(x, p) in &c {
                    let w = if x.is_ipv4() { 32 } else { 128 };
                    assert_eq!(to_u128(x) & low_bits(w - u32::from(p)), 0);
                }
                let (n4, _) = s.size();
                let blocks4: u64 = c
                    .iter()
                    .filter(|b| b.0.is_ipv4())
                    .map(|b| 1u64 << (32 - b.1))
                    .sum();
                assert_eq!(n4, blocks4);
            }
        }
    }

    fn to_u128(ip: IpAddr) -> u128 {
        match ip {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    #[test]
    fn all_policy_parses_and_refuses_pass_and_neutral() {
        for s in ["softfail", "~all", "~", " SoftFail "] {
            assert_eq!(AllPolicy::parse(s), Ok(AllPolicy::SoftFail), "{s}");
        }
        for s in ["fail", "-all", "-", "FAIL"] {
            assert_eq!(AllPolicy::parse(s), Ok(AllPolicy::Fail), "{s}");
        }
        assert_eq!(AllPolicy::SoftFail.term(), "~all");
        assert_eq!(AllPolicy::Fail.term(), "-all");
        let e = AllPolicy::parse("+all").unwrap_err().to_string();
        assert!(e.contains("anyone") && e.contains("give softfail"), "{e}");
        let e = AllPolicy::parse("?all").unwrap_err().to_string();
        assert!(e.contains("protects nothing"), "{e}");
        for s in ["pass", "neutral", "reject", ""] {
            assert!(
                matches!(AllPolicy::parse(s), Err(RecordsError::SpfAll { .. })),
                "{s}"
            );
        }
    }

    #[test]
    fn ip_arguments_parse_and_mask() {
        let ip4 = |s: &str| parse_ip4(s).map(|((a, p), m)| (a.to_string(), p, m));
        assert_eq!(ip4("192.0.2.0/24"), Ok(("192.0.2.0".into(), 24, false)));
        assert_eq!(ip4(" 192.0.2.1 "), Ok(("192.0.2.1".into(), 32, false)));
        assert_eq!(ip4("192.0.2.1/24"), Ok(("192.0.2.0".into(), 24, true)));
        assert_eq!(ip4("0.0.0.0/0"), Ok(("0.0.0.0".into(), 0, false)));
        assert_eq!(ip4("10.1.2.3/0"), Ok(("0.0.0.0".into(), 0, true)));
        let ip6 = |s: &str| parse_ip6(s).map(|((a, p), m)| (a.to_string(), p, m));
        assert_eq!(ip6("2001:db8::/32"), Ok(("2001:db8::".into(), 32, false)));
        assert_eq!(ip6("2001:DB8::1"), Ok(("2001:db8::1".into(), 128, false)));
        assert_eq!(ip6("2001:db8::1/64"), Ok(("2001:db8::".into(), 64, true)));
        for bad in [
            "",
            "192.0.2.0/33",
            "192.0.2",
            "192.0.2.0/",
            "192.0.2.0/x",
            "192.0.2.0/-1",
        ] {
            assert!(
                matches!(parse_ip4(bad), Err(RecordsError::IpNetwork { .. })),
                "{bad}"
            );
        }
        for bad in ["2001:db8::/129", "2001:db8:::1", "::/", "fe80::1%eth0"] {
            assert!(
                matches!(parse_ip6(bad), Err(RecordsError::IpNetwork { .. })),
                "{bad}"
            );
        }
        let e = parse_ip4("2001:db8::1").unwrap_err().to_string();
        assert!(
            e.contains("--ip6") && e.contains("give a network such as 192.0.2.0/24"),
            "{e}"
        );
        let e = parse_ip6("192.0.2.1").unwrap_err().to_string();
        assert!(e.contains("--ip4") && e.contains("2001:db8::/32"), "{e}");
    }

    fn spec() -> SpfSpec {
        SpfSpec {
            domain: domain(),
            ip4: Vec::new(),
            ip6: Vec::new(),
            a: false,
            mx: false,
            includes: Vec::new(),
            all: AllPolicy::SoftFail,
        }
    }

    fn parsed(r: &DnsRecord) -> Record {
        parse_record(&r.value).unwrap_or_else(|f| panic!("{:?} does not parse: {f:?}", r.value))
    }

    #[test]
    fn spf_puts_addresses_first_and_merges_them() {
        let d = |s: &str| DomainName::parse(s).unwrap();
        let s = SpfSpec {
            ip4: vec![
                ("192.0.2.0".parse().unwrap(), 25),
                ("198.51.100.0".parse().unwrap(), 24),
                ("192.0.2.128".parse().unwrap(), 25),
                ("192.0.2.7".parse().unwrap(), 32),
                ("198.51.100.0".parse().unwrap(), 24),
            ],
            ip6: vec![
                ("2001:db8:1::1".parse().unwrap(), 128),
                ("2001:db8::".parse().unwrap(), 32),
            ],
            a: true,
            mx: true,
            includes: vec![
                d("_spf.google.com"),
                d("spf.protection.outlook.com"),
                d("_SPF.Google.com"),
            ],
            ..spec()
        };
        assert_eq!(own_lookups(&s), 4);
        let g = spf(&s).unwrap();
        assert_eq!(g.records.len(), 1);
        let r = &g.records[0];
        assert_eq!(r.name, "example.com");
        assert_eq!(
            r.value,
            "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ip6:2001:db8::/32 a mx include:_spf.google.com include:spf.protection.outlook.com ~all"
        );
        let rec = parsed(r);
        assert_eq!(rec.terms.iter().filter(|t| t.counts_lookup()).count(), 4);
        assert_eq!(
            rec.terms.last(),
            Some(&Term::All {
                q: Qualifier::SoftFail
            })
        );
        let notes = g.notes.join("\n");
        assert!(
            notes.contains("7 networks given are written as 3"),
            "{notes}"
        );
        assert!(notes.contains("cost 4 of the 10"), "{notes}");
        assert!(notes.contains("only one v=spf1 record"), "{notes}");
        assert!(!notes.contains("sends no mail"), "{notes}");
    }

    #[test]
    fn spf_refuses_a_self_include() {
        let s = SpfSpec {
            includes: vec![DomainName::parse("Example.COM").unwrap()],
            ..spec()
        };
        let e = spf(&s).unwrap_err();
        assert!(matches!(e, RecordsError::SelfInclude { .. }));
        assert!(e.to_string().contains("loop"), "{e}");
        // A provider's name under the domain is not the domain.
        let s = SpfSpec {
            includes: vec![DomainName::parse("_spf.example.com").unwrap()],
            all: AllPolicy::Fail,
            ..spec()
        };
        let g = spf(&s).unwrap();
        assert_eq!(g.records[0].value, "v=spf1 include:_spf.example.com -all");
        parsed(&g.records[0]);
    }

    #[test]
    fn spf_of_nothing_says_the_domain_sends_no_mail() {
        let g = spf(&spec()).unwrap();
        assert_eq!(g.records[0].value, "v=spf1 ~all");
        parsed(&g.records[0]);
        let notes = g.notes.join("\n");
        assert!(notes.contains("sends no mail"), "{notes}");
        assert!(notes.contains("-all is the right choice"), "{notes}");
        assert!(notes.contains("costs no DNS lookups"), "{notes}");
        let g = spf(&SpfSpec {
            all: AllPolicy::Fail,
            ..spec()
        })
        .unwrap();
        assert_eq!(g.records[0].value, "v=spf1 -all");
        assert!(!g.notes.join("\n").contains("right choice"));
    }

    #[test]
    fn spf_over_the_lookup_limit_or_255_bytes_says_so() {
        let includes = (0..11)
            .map(|i| {
                DomainName::parse(&format!("_spf{i}.provider-with-a-long-name.example")).unwrap()
            })
            .collect();
        let g = spf(&SpfSpec { includes, ..spec() }).unwrap();
        let r = &g.records[0];
        parsed(r);
        assert!(r.value.len() > UDP_SAFE);
        let notes = g.notes.join("\n");
        assert!(notes.contains("over the limit of 10"), "{notes}");
        assert!(notes.contains("character-strings"), "{notes}");
        assert!(notes.contains("512-byte"), "{notes}");
    }

    /// The chain of a layout, checked, and the addresses its records list.
    fn check_layout(g: &Generated, d: &str, kept: &[&str], all: AllPolicy) -> AddrSet {
        let mut listed = AddrSet::new();
        let n = g.records.len();
        for (i, r) in g.records.iter().enumerate() {
            assert!(
                r.value.len() <= MAX_STRING,
                "{} is {} bytes",
                r.name,
                r.value.len()
            );
            let rec = parsed(r);
            let last = rec.written.last().map(String::as_str);
            let next = format!("include:_spf{}.{d}", i + 1);
            if i == 0 {
                assert_eq!(r.name, d);
                // Addresses first, then the kept terms just before the chain and the all.
                let tail = rec.written.len() - 1 - usize::from(n > 1);
                assert_eq!(&rec.written[tail - kept.len()..tail], kept);
                assert_eq!(last, Some(all.term()));
                assert_eq!(
                    rec.terms
                        .iter()
                        .filter(|t| matches!(t, Term::All { .. }))
                        .count(),
                    1
                );
                if n > 1 {
                    assert_eq!(rec.written[rec.written.len() - 2], next);
                }
            } else {
                assert_eq!(r.name, format!("_spf{i}.{d}"));
                assert!(!rec.has_all(), "{}", r.value);
                if i + 1 < n {
                    assert_eq!(last, Some(next.as_str()));
                } else {
                    assert!(!r.value.contains("include:"), "{}", r.value);
                }
            }
            for t in &rec.terms {
                if let Term::Ip { q, addr, prefix } = t {
                    assert_eq!(*q, Qualifier::Pass);
                    // No address is listed twice.
                    let mut one = AddrSet::new();
                    one.insert_net(*addr, *prefix);
                    assert!(!listed.intersects(&one), "{addr}/{prefix}");
                    listed.union(&one);
                }
            }
        }
        listed
    }

    #[test]
    fn a_large_set_is_chained_in_255_byte_records() {
        let mut rng = Rng(42);
        let mut s = AddrSet::new();
        for _ in 0..60 {
            let a = (rng.next() as u32) & 0xdfff_ff00;
            s.insert_net(IpAddr::V4(Ipv4Addr::from(a)), 24);
        }
        for n in [
            "2001:db8:1234::/48",
            "2a00:1450:4000::/37",
            "2607:f8b0:4000::1",
        ] {
            let ((a, p), _) = parse_ip6(n).unwrap();
            s.insert_net(IpAddr::V6(a), p);
        }
        let kept = ["mx", "include:_spf.unflattenable.example"];
        let kept_s: Vec<String> = kept.iter().map(|k| k.to_string()).collect();
        let g = flattened_layout(&domain(), &kept_s, &s, AllPolicy::Fail).unwrap();
        assert!(g.records.len() >= 4, "{:#?}", g.records);
        let listed = check_layout(&g, "example.com", &kept, AllPolicy::Fail);
        assert_eq!(listed, s);
        // Greedy filling leaves no record that could have taken the next term.
        for w in g.records.windows(2) {
            let next_term = w[1].value.split(' ').nth(1).unwrap();
            assert!(w[0].value.len() + 1 + next_term.len() > MAX_STRING);
        }
        let subs = g.records.len() - 1;
        let notes = g.notes.join("\n");
        assert!(
            notes.contains(&format!("costs {subs} of the 10")),
            "{notes}"
        );
        assert!(notes.contains("check for drift regularly"), "{notes}");
        assert!(notes.contains("no all term"), "{notes}");
    }

    #[test]
    fn a_small_set_stays_in_the_domains_record() {
        let s = set(&[
            (v4("192.0.2.0"), 24),
            (v6("2001:db8::"), 32),
            (v4("198.51.100.9"), 32),
        ]);
        let kept = vec!["mx".to_string()];
        let g = flattened_layout(&domain(), &kept, &s, AllPolicy::SoftFail).unwrap();
        assert_eq!(g.records.len(), 1);
        assert_eq!(
            g.records[0].value,
            "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.9 ip6:2001:db8::/32 mx ~all"
        );
        assert_eq!(
            check_layout(&g, "example.com", &["mx"], AllPolicy::SoftFail),
            s
        );
        assert!(g.notes.join("\n").contains("costs no DNS lookups"));
        let g = flattened_layout(&domain(), &kept, &AddrSet::new(), AllPolicy::Fail).unwrap();
        assert_eq!(g.records[0].value, "v=spf1 mx -all");
    }

    #[test]
    fn long_kept_terms_push_every_address_to_sub_records() {
        let kept: Vec<String> = (0..12)
            .map(|i| format!("include:_spf{i}.a-provider-with-a-long-name.example"))
            .collect();
        let s = set(&[(v4("192.0.2.0"), 24), (v4("198.51.100.0"), 24)]);
        let g = flattened_layout(&domain(), &kept, &s, AllPolicy::Fail).unwrap();
        assert_eq!(g.records.len(), 2);
        let main = &g.records[0];
        assert!(main.value.len() > MAX_STRING);
        assert!(!main.value.contains("ip4:"), "{}", main.value);
        assert!(main.value.ends_with(" include:_spf1.example.com -all"));
        parsed(main);
        assert_eq!(
            g.records[1].value,
            "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24"
        );
        assert!(g.notes.join("\n").contains("with the kept terms alone"));
    }

    #[test]
    fn sub_record_names_must_fit_dns() {
        let long = format!(
            "{}.{}.{}.{}.example",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(50)
        );
        let d = DomainName::parse(&long).unwrap();
        assert!(d.len() <= 253 && d.len() + 6 > 253);
        let mut s = AddrSet::new();
        for i in 0..40u32 {
            s.insert_net(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i << 9))), 24);
        }
        assert!(matches!(
            flattened_layout(&d, &[], &s, AllPolicy::Fail),
            Err(RecordsError::NameTooLong { .. })
        ));
        // Without sub-records the name is the domain's own, which fits.
        let small = set(&[(v4("192.0.2.0"), 24)]);
        assert!(flattened_layout(&d, &[], &small, AllPolicy::Fail).is_ok());
    }
}
