//! RFC 7208 `check_host()`: would mail from this IP with this MAIL FROM pass? The evaluator,
//! generic over a small [`Resolver`] so it runs on mxray-net's DNS and on an in-memory fake.

// Hand-rolled rather than mail-auth 0.13: that one accepts records RFC 7208 rejects, has no
// void-lookup limit and mishandles IPv4-mapped clients and `ptr`, and none of it is
// configurable (54 of the 203 OpenSPF suite tests; docs/findings.md, SPF).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mxray_core::DomainName;
use mxray_core::mx::MxRecord;
use mxray_net::{Dns, DnsOutcome, DnsRecord, RType};
use serde::Serialize;

use super::record::{
    MAX_LOOKUPS, MAX_NAMES, MAX_RECORD_BYTES, MAX_VOID, Qualifier, Term, Tok, dotted, is_spf,
    macro_tokens, name_for_query, parse_record, transform, url_escape, valid_name,
};

/// The DNS an evaluation needs: one question at a time, answered as an outcome and records.
/// Implemented by [`mxray_net::Dns`]; tests implement it over a map.
pub trait Resolver: Clone + Send + Sync + 'static {
    /// Records of `rtype` at `name` (any name [`valid_name`] accepts, odd octets included).
    fn lookup(
        &self,
        name: &str,
        rtype: RType,
    ) -> impl Future<Output = (DnsOutcome, Vec<DnsRecord>)> + Send;
    /// The PTR records of `ip`.
    fn reverse(&self, ip: IpAddr) -> impl Future<Output = (DnsOutcome, Vec<DnsRecord>)> + Send;
    /// The per-query time limit: the whole evaluation is bounded by a multiple of it.
    fn timeout(&self) -> Duration;
}

impl Resolver for Dns {
    async fn lookup(&self, name: &str, rtype: RType) -> (DnsOutcome, Vec<DnsRecord>) {
        let a = self.query_labels(name, rtype).await;
        (a.outcome, a.records)
    }

    async fn reverse(&self, ip: IpAddr) -> (DnsOutcome, Vec<DnsRecord>) {
        let a = Dns::reverse(self, ip).await;
        (a.outcome, a.records)
    }

    fn timeout(&self) -> Duration {
        Dns::timeout(self)
    }
}

fn verdict_of(q: Qualifier) -> SpfVerdict {
    match q {
        Qualifier::Pass => SpfVerdict::Pass,
        Qualifier::Fail => SpfVerdict::Fail,
        Qualifier::SoftFail => SpfVerdict::SoftFail,
        Qualifier::Neutral => SpfVerdict::Neutral,
    }
}

/// The seven results of RFC 7208 2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpfVerdict {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl SpfVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            SpfVerdict::Pass => "pass",
            SpfVerdict::Fail => "fail",
            SpfVerdict::SoftFail => "softfail",
            SpfVerdict::Neutral => "neutral",
            SpfVerdict::None => "none",
            SpfVerdict::TempError => "temperror",
            SpfVerdict::PermError => "permerror",
        }
    }
}

/// One evaluation: the inputs and what came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SpfEvaluation {
    pub ip: IpAddr,
    /// The domain whose policy was evaluated (the MAIL FROM domain, or the HELO name).
    pub domain: String,
    pub sender: String,
    pub helo: String,
    pub result: SpfVerdict,
    /// The term that decided (`-all`, `include:x`, `redirect=y`), or why it errored. Outside
    /// text: escape it for display.
    pub decided_by: Option<String>,
    /// The domain's `exp=` explanation, for a fail. Outside text.
    pub explanation: Option<String>,
    /// DNS lookups the evaluation spent (RFC 7208 4.6.4 counts them against 10).
    pub lookups: usize,
    /// Lookups that came back empty or NXDOMAIN (RFC 7208 4.6.4, at most 2).
    pub void_lookups: usize,
    /// True when the whole evaluation ran out of time (reported as temperror).
    pub timed_out: bool,
    pub elapsed_ms: u64,
}

/// Evaluates `sender` (an address; `""` for the null sender, when the HELO identity is
/// checked as RFC 7208 2.3 says) sent from `ip` after `EHLO helo`. Bounded: each query by the
/// resolver's timeout, the whole walk (at most 10 lookups plus their MX/PTR fan-out, RFC 7208
/// 4.6.4) by 25 of them.
pub async fn check_host<R: Resolver>(
    dns: &R,
    ip: IpAddr,
    sender: &str,
    helo: &str,
) -> SpfEvaluation {
    let start = Instant::now();
    let helo_domain = helo.trim_end_matches('.');
    // RFC 7208 4.3: no local-part means "postmaster"; the null sender means the HELO identity.
    let full_sender = if sender.is_empty() {
        format!("postmaster@{helo_domain}")
    } else if !sender.contains('@') {
        format!("postmaster@{sender}")
    } else if sender.starts_with('@') {
        format!("postmaster{sender}")
    } else {
        sender.to_string()
    };
    let (local, sender_domain) = full_sender
        .rsplit_once('@')
        .map_or(("postmaster", helo_domain), |(l, d)| (l, d));
    let domain = sender_domain.trim_end_matches('.').to_string();
    let mut ctx = Ctx {
        dns,
        // RFC 7208 5.6 (and the suite): an IPv4-mapped IPv6 client is an IPv4 client.
        ip: match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        },
        sender: full_sender.clone(),
        local: local.to_string(),
        sender_domain: domain.clone(),
        helo: helo_domain.to_string(),
        lookups: 0,
        void: 0,
    };
    let limit = Resolver::timeout(dns)
        .saturating_mul(25)
        .max(Duration::from_secs(1));
    let (outcome, timed_out) =
        match tokio::time::timeout(limit, evaluate(&mut ctx, domain.clone())).await {
            Ok(o) => (o, false),
            Err(_) => (
                Outcome {
                    result: SpfVerdict::TempError,
                    decided_by: Some("the evaluation ran out of time".into()),
                    explanation: None,
                },
                true,
            ),
        };
    SpfEvaluation {
        ip,
        domain,
        sender: sender.to_string(),
        helo: helo.to_string(),
        result: outcome.result,
        decided_by: outcome.decided_by,
        explanation: outcome.explanation,
        lookups: ctx.lookups,
        void_lookups: ctx.void,
        timed_out,
        elapsed_ms: start.elapsed().as_millis() as u64,
    }
}

/// One more against a limit of RFC 7208 4.6.4; past it, permerror.
fn spend(n: &mut usize, limit: usize, what: &str, at: &str) -> Result<(), Stop> {
    *n += 1;
    if *n > limit {
        return Err((
            SpfVerdict::PermError,
            format!("more than {limit} {what} (at {at})"),
        ));
    }
    Ok(())
}

/// What one `check_host()` level returns.
struct Outcome {
    result: SpfVerdict,
    decided_by: Option<String>,
    explanation: Option<String>,
}

impl Outcome {
    fn err(result: SpfVerdict, why: impl Into<String>) -> Outcome {
        Outcome {
            result,
            decided_by: Some(why.into()),
            explanation: None,
        }
    }
}

/// An evaluation stops early with this: the verdict and why.
type Stop = (SpfVerdict, String);

/// The evaluation's inputs and the counters shared by every nested `check_host()`.
struct Ctx<'a, R> {
    dns: &'a R,
    ip: IpAddr,
    sender: String,
    local: String,
    sender_domain: String,
    helo: String,
    lookups: usize,
    void: usize,
}

impl<R: Resolver> Ctx<'_, R> {
    /// One more term that causes a DNS lookup (RFC 7208 4.6.4): where the limit of 10 is
    /// counted.
    fn count(&mut self, term: &str) -> Result<(), Stop> {
        spend(&mut self.lookups, MAX_LOOKUPS, "DNS lookups", term)
    }

    /// One more void lookup (RFC 7208 4.6.4).
    fn void_lookup(&mut self, name: &str) -> Result<(), Stop> {
        spend(&mut self.void, MAX_VOID, "void lookups", name)
    }

    /// The address question that matches the client's family.
    fn addr_type(&self) -> RType {
        if self.ip.is_ipv4() {
            RType::A
        } else {
            RType::Aaaa
        }
    }

    /// Records of `rtype` at `name`; empty for NXDOMAIN / no data; temperror for a DNS failure
    /// (RFC 7208 5: an RCODE other than 0 or 3, or a timeout).
    async fn query(&self, name: &str, rtype: RType) -> Result<Vec<DnsRecord>, Stop> {
        let (outcome, records) = self.dns.lookup(name, rtype).await;
        match outcome {
            DnsOutcome::Answer => Ok(records),
            DnsOutcome::NoData | DnsOutcome::NxDomain => Ok(Vec::new()),
            other => Err((
                SpfVerdict::TempError,
                format!("{name} {}: {other:?}", rtype.as_str()),
            )),
        }
    }

    /// The client's A or AAAA question at `name`, as addresses.
    async fn addrs(&self, name: &str) -> Result<Vec<IpAddr>, Stop> {
        let rtype = self.addr_type();
        Ok(self
            .query(name, rtype)
            .await?
            .into_iter()
            .filter_map(|r| match r {
                DnsRecord::A { addr, .. } | DnsRecord::Aaaa { addr, .. } => Some(addr),
                _ => None,
            })
            .collect())
    }
}

fn evaluate<'a, R: Resolver>(
    ctx: &'a mut Ctx<'_, R>,
    domain: String,
) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
    Box::pin(async move {
        match evaluate_inner(ctx, &domain).await {
            Ok(o) => o,
            Err((v, why)) => Outcome::err(v, why),
        }
    })
}

/// RFC 7208 4: one `check_host(ip, domain, sender)`.
async fn evaluate_inner<R: Resolver>(ctx: &mut Ctx<'_, R>, domain: &str) -> Result<Outcome, Stop> {
    // 4.3: a malformed or single-label domain gives "none" without asking DNS.
    if !valid_name(domain) {
        return Ok(Outcome::err(
            SpfVerdict::None,
            format!("{domain:?} is not a valid domain name"),
        ));
    }
    // 4.4 / 4.5: the TXT records that start with "v=spf1"; none is "none", several permerror.
    let txts = ctx.query(domain, RType::Txt).await?;
    let spf: Vec<&str> = txts
        .iter()
        .filter_map(|r| match r {
            DnsRecord::Txt { text, .. } if is_spf(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let record = match spf.as_slice() {
        [] => {
            return Ok(Outcome::err(
                SpfVerdict::None,
                format!("{domain} has no SPF record"),
            ));
        }
        [one] => *one,
        _ => {
            return Err((
                SpfVerdict::PermError,
                format!("{domain} has {} SPF records", spf.len()),
            ));
        }
    };
    if record.len() > MAX_RECORD_BYTES {
        return Err((
            SpfVerdict::PermError,
            format!("{domain}: record longer than {MAX_RECORD_BYTES} bytes"),
        ));
    }
    let rec = parse_record(record)
        .map_err(|e| (SpfVerdict::PermError, format!("{domain}: {}", e.why)))?;

    // 4.6.2: mechanisms left to right; the first match decides.
    for (term, text) in rec.directives() {
        if matches(ctx, domain, term, text).await? {
            let result = term.qualifier().map_or(SpfVerdict::Pass, verdict_of);
            let explanation = match (rec.exp(), result) {
                (Some(exp), SpfVerdict::Fail) => explain(ctx, domain, exp).await,
                _ => None,
            };
            return Ok(Outcome {
                result,
                decided_by: Some(text.to_string()),
                explanation,
            });
        }
    }
    // 6.1: redirect applies only when nothing matched, and never beside an `all`.
    if let (Some(target), false) = (rec.redirect(), rec.has_all()) {
        let term = format!("redirect={target}");
        ctx.count(&term)?;
        let name = expand(ctx, target, domain, false).await?;
        let name = match name_for_query(&name) {
            Some(n) => n,
            None => return Err((SpfVerdict::PermError, format!("{term}: invalid target"))),
        };
        let mut out = evaluate(ctx, name).await;
        if out.result == SpfVerdict::None {
            return Err((
                SpfVerdict::PermError,
                format!("{term}: the target has no SPF record"),
            ));
        }
        if out.decided_by.is_none() {
            out.decided_by = Some(term);
        }
        return Ok(out);
    }
    Ok(Outcome {
        result: SpfVerdict::Neutral,
        decided_by: Some("no term matched (default neutral)".into()),
        explanation: None,
    })
}

/// Does one mechanism match the client? Errors stop the evaluation.
async fn matches<R: Resolver>(
    ctx: &mut Ctx<'_, R>,
    domain: &str,
    term: &Term,
    text: &str,
) -> Result<bool, Stop> {
    match term {
        Term::All { .. } => Ok(true),
        Term::Ip { addr, prefix, .. } => Ok(match (ctx.ip, addr) {
            (IpAddr::V4(ip), IpAddr::V4(net)) => in_net4(ip, *net, *prefix),
            (IpAddr::V6(ip), IpAddr::V6(net)) => in_net6(ip, *net, *prefix),
            _ => false,
        }),
        Term::Include { domain: spec, .. } => {
            ctx.count(text)?;
            let name = expand(ctx, spec, domain, false).await?;
            let Some(name) = name_for_query(&name) else {
                return Err((SpfVerdict::PermError, format!("{text}: invalid target")));
            };
            let out = evaluate(ctx, name).await;
            // 5.2: the included policy's result maps onto match / no match / error.
            match out.result {
                SpfVerdict::Pass => Ok(true),
                SpfVerdict::Fail | SpfVerdict::SoftFail | SpfVerdict::Neutral => Ok(false),
                SpfVerdict::TempError => Err((
                    SpfVerdict::TempError,
                    format!("{text}: {}", out.decided_by.unwrap_or_default()),
                )),
                SpfVerdict::PermError | SpfVerdict::None => Err((
                    SpfVerdict::PermError,
                    format!(
                        "{text}: {} ({})",
                        out.result.as_str(),
                        out.decided_by.unwrap_or_default()
                    ),
                )),
            }
        }
        Term::A {
            domain: spec,
            cidr4: c4,
            cidr6: c6,
            ..
        } => {
            ctx.count(text)?;
            let Some(name) = target(ctx, spec.as_deref(), domain).await? else {
                return Ok(false);
            };
            let addrs = ctx.addrs(&name).await?;
            if addrs.is_empty() {
                ctx.void_lookup(&name)?;
            }
            Ok(addrs.iter().any(|a| in_dual(ctx.ip, *a, *c4, *c6)))
        }
        Term::Mx {
            domain: spec,
            cidr4: c4,
            cidr6: c6,
            ..
        } => {
            ctx.count(text)?;
            let Some(name) = target(ctx, spec.as_deref(), domain).await? else {
                return Ok(false);
            };
            let mxs = ctx.query(&name, RType::Mx).await?;
            let mut hosts: Vec<DomainName> = MxRecord::from_records(&mxs)
                .into_iter()
                .map(|r| r.exchange)
                .collect();
            if hosts.is_empty() {
                ctx.void_lookup(&name)?;
                return Ok(false);
            }
            if hosts.len() > MAX_NAMES {
                return Err((
                    SpfVerdict::PermError,
                    format!("{text}: more than {MAX_NAMES} MX records"),
                ));
            }
            // A null MX ("." , RFC 7505) names no host.
            hosts.retain(|h| !h.is_root());
            // The exchanges are independent: ask for them all at once.
            let mut set = tokio::task::JoinSet::new();
            for h in hosts {
                let dns = ctx.dns.clone();
                let rtype = ctx.addr_type();
                set.spawn(async move {
                    let (outcome, records) = dns.lookup(h.as_str(), rtype).await;
                    (h, outcome, records)
                });
            }
            let mut matched = false;
            while let Some(joined) = set.join_next().await {
                let Ok((host, outcome, records)) = joined else {
                    continue;
                };
                match outcome {
                    DnsOutcome::Answer | DnsOutcome::NoData | DnsOutcome::NxDomain => {}
                    other => {
                        return Err((
                            SpfVerdict::TempError,
                            format!("{text}: {host} A/AAAA: {other:?}"),
                        ));
                    }
                }
                matched |= addrs_of(&records).any(|a| in_dual(ctx.ip, a, *c4, *c6));
            }
            Ok(matched)
        }
        Term::Ptr { domain: spec, .. } => {
            ctx.count(text)?;
            let Some(name) = target(ctx, spec.as_deref(), domain).await? else {
                return Ok(false);
            };
            let target = name.to_ascii_lowercase();
            Ok(validated_names(ctx).await.iter().any(|n| {
                let n = n.to_ascii_lowercase();
                n == target || n.ends_with(&format!(".{target}"))
            }))
        }
        Term::Exists { domain: spec, .. } => {
            ctx.count(text)?;
            let name = expand(ctx, spec, domain, false).await?;
            let Some(name) = name_for_query(&name) else {
                return Ok(false);
            };
            // 5.7: always an A query, whatever the client's address family.
            let found = ctx.query(&name, RType::A).await?;
            if found.is_empty() {
                ctx.void_lookup(&name)?;
            }
            Ok(!found.is_empty())
        }
        // Modifiers are not directives: `Record::directives` never yields them.
        Term::Redirect { .. } | Term::Exp { .. } | Term::Other { .. } => Ok(false),
    }
}

/// The name an a/mx/ptr term asks about: its expanded domain-spec, else the current domain.
/// `None` when the expansion is no name DNS can carry: the term cannot match (RFC 7208 4.8).
async fn target<R: Resolver>(
    ctx: &mut Ctx<'_, R>,
    spec: Option<&str>,
    domain: &str,
) -> Result<Option<String>, Stop> {
    match spec {
        None => Ok(Some(domain.to_string())),
        Some(s) => {
            let e = expand(ctx, s, domain, false).await?;
            Ok(name_for_query(&e))
        }
    }
}

/// RFC 7208 5.5: the client's PTR names (first 10) whose A/AAAA records include the client.
/// A DNS error on the PTR query means no names; on one name's query, that name is skipped.
async fn validated_names<R: Resolver>(ctx: &Ctx<'_, R>) -> Vec<String> {
    let (outcome, records) = ctx.dns.reverse(ctx.ip).await;
    if outcome != DnsOutcome::Answer {
        return Vec::new();
    }
    let names: Vec<String> = records
        .iter()
        .filter_map(|r| match r {
            DnsRecord::Ptr { target, .. } => Some(target.trim_end_matches('.').to_string()),
            _ => None,
        })
        .take(MAX_NAMES)
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for (i, n) in names.into_iter().enumerate() {
        let dns = ctx.dns.clone();
        let rtype = ctx.addr_type();
        set.spawn(async move {
            let (_, records) = dns.lookup(&n, rtype).await;
            (i, n, records)
        });
    }
    let mut ok = Vec::new();
    while let Some(joined) = set.join_next().await {
        let Ok((i, n, records)) = joined else {
            continue;
        };
        if addrs_of(&records).any(|a| a == ctx.ip) {
            ok.push((i, n));
        }
    }
    // Keep the PTR answer's order, so %{p} picks deterministically.
    ok.sort();
    ok.into_iter().map(|(_, n)| n).collect()
}

/// RFC 7208 6.2: the explanation for a fail, or nothing if any step of it goes wrong.
async fn explain<R: Resolver>(ctx: &mut Ctx<'_, R>, domain: &str, exp: &str) -> Option<String> {
    let name = expand(ctx, exp, domain, false).await.ok()?;
    let name = name_for_query(&name)?;
    let txts = ctx.query(&name, RType::Txt).await.ok()?;
    let texts: Vec<&str> = txts
        .iter()
        .filter_map(|r| match r {
            DnsRecord::Txt { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    match texts.as_slice() {
        [one] if one.len() <= MAX_RECORD_BYTES => expand(ctx, one, domain, true).await.ok(),
        _ => None,
    }
}

/// Addresses among records.
fn addrs_of(records: &[DnsRecord]) -> impl Iterator<Item = IpAddr> + '_ {
    records.iter().filter_map(|r| match r {
        DnsRecord::A { addr, .. } | DnsRecord::Aaaa { addr, .. } => Some(*addr),
        _ => None,
    })
}

/// Expands a macro-string for the current `domain` (RFC 7208 7.2-7.4).
async fn expand<R: Resolver>(
    ctx: &mut Ctx<'_, R>,
    s: &str,
    domain: &str,
    exp: bool,
) -> Result<String, Stop> {
    let toks = macro_tokens(s, exp).map_err(|e| (SpfVerdict::PermError, e))?;
    // %{p} costs DNS: resolve it only when used, and only once.
    let p = if toks
        .iter()
        .any(|t| matches!(t, Tok::Macro { letter: b'p', .. }))
    {
        let names = validated_names(ctx).await;
        let d = domain.to_ascii_lowercase();
        let pick = names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(&d))
            .or_else(|| {
                names
                    .iter()
                    .find(|n| n.to_ascii_lowercase().ends_with(&format!(".{d}")))
            })
            .or(names.first());
        pick.cloned().unwrap_or_else(|| "unknown".into())
    } else {
        String::new()
    };
    let mut out = String::new();
    for t in toks {
        match t {
            Tok::Lit(l) => out.push_str(l),
            Tok::Esc(e) => out.push_str(e),
            Tok::Macro {
                letter,
                upper,
                keep,
                reverse,
                delims,
            } => {
                let value = match letter {
                    b's' => ctx.sender.clone(),
                    b'l' => ctx.local.clone(),
                    b'o' => ctx.sender_domain.clone(),
                    b'd' => domain.to_string(),
                    b'i' => dotted(ctx.ip),
                    b'p' => p.clone(),
                    b'v' => if ctx.ip.is_ipv4() { "in-addr" } else { "ip6" }.to_string(),
                    b'h' => ctx.helo.clone(),
                    b'c' => ctx.ip.to_string(),
                    b'r' => "unknown".to_string(),
                    b't' => SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs())
                        .to_string(),
                    _ => String::new(),
                };
                let value = transform(&value, keep, reverse, delims);
                if upper {
                    out.push_str(&url_escape(&value));
                } else {
                    out.push_str(&value);
                }
            }
        }
    }
    Ok(out)
}

fn in_net4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_net6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

/// a/mx: the client against one resolved address, with the family's CIDR length.
fn in_dual(client: IpAddr, addr: IpAddr, c4: u8, c6: u8) -> bool {
    match (client, addr) {
        (IpAddr::V4(c), IpAddr::V4(a)) => in_net4(c, a, c4),
        (IpAddr::V6(c), IpAddr::V6(a)) => in_net6(c, a, c6),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;

    /// An in-memory zone: (name, type) -> records; anything else is NXDOMAIN, and names in
    /// `fail` answer SERVFAIL.
    #[derive(Clone, Default)]
    struct Fake {
        zone: Arc<HashMap<(String, RType), Vec<DnsRecord>>>,
        fail: Arc<Vec<String>>,
    }

    impl Fake {
        fn new(txt: &[(&str, &str)], a: &[(&str, &str)]) -> Fake {
            let mut zone: HashMap<(String, RType), Vec<DnsRecord>> = HashMap::new();
            for (name, text) in txt {
                zone.entry((name.to_string(), RType::Txt))
                    .or_default()
                    .push(DnsRecord::Txt {
                        owner: name.to_string(),
                        text: text.to_string(),
                    });
            }
            for (name, addr) in a {
                let addr: IpAddr = addr.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                zone.entry((name.to_string(), RType::A))
                    .or_default()
                    .push(DnsRecord::A {
                        owner: name.to_string(),
                        addr,
                    });
            }
            Fake {
                zone: Arc::new(zone),
                fail: Arc::new(Vec::new()),
            }
        }
    }

    impl Resolver for Fake {
        async fn lookup(&self, name: &str, rtype: RType) -> (DnsOutcome, Vec<DnsRecord>) {
            if self.fail.iter().any(|f| f == name) {
                return (DnsOutcome::ServFail, Vec::new());
            }
            match self.zone.get(&(name.to_string(), rtype)) {
                Some(r) => (DnsOutcome::Answer, r.clone()),
                None => (DnsOutcome::NxDomain, Vec::new()),
            }
        }

        async fn reverse(&self, _ip: IpAddr) -> (DnsOutcome, Vec<DnsRecord>) {
            (DnsOutcome::NxDomain, Vec::new())
        }

        fn timeout(&self) -> Duration {
            Duration::from_millis(200)
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    fn run(dns: &Fake, client: &str) -> SpfEvaluation {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(check_host(
            dns,
            ip(client),
            "a@example.com",
            "mail.example.com",
        ))
    }

    #[test]
    fn include_then_fail() {
        let dns = Fake::new(
            &[
                ("example.com", "v=spf1 include:_spf.example.net -all"),
                ("_spf.example.net", "v=spf1 ip4:192.0.2.0/24 -all"),
            ],
            &[],
        );
        let pass = run(&dns, "192.0.2.7");
        assert_eq!(pass.result, SpfVerdict::Pass);
        assert_eq!(pass.decided_by.as_deref(), Some("include:_spf.example.net"));
        assert_eq!(pass.lookups, 1);
        let fail = run(&dns, "198.51.100.1");
        assert_eq!(fail.result, SpfVerdict::Fail);
        assert_eq!(fail.decided_by.as_deref(), Some("-all"));
    }

    #[test]
    fn lookup_and_void_limits() {
        let many = format!("v=spf1 {} -all", "a:h.example.com ".repeat(11));
        let dns = Fake::new(
            &[("example.com", &many)],
            &[("h.example.com", "203.0.113.1")],
        );
        let e = run(&dns, "192.0.2.1");
        assert_eq!(e.result, SpfVerdict::PermError);
        assert_eq!(e.lookups, MAX_LOOKUPS + 1);
        let voids = Fake::new(
            &[(
                "example.com",
                "v=spf1 a:x1.example.com a:x2.example.com a:x3.example.com -all",
            )],
            &[],
        );
        let e = run(&voids, "192.0.2.1");
        assert_eq!(e.result, SpfVerdict::PermError);
        assert_eq!(e.void_lookups, MAX_VOID + 1);
    }

    #[test]
    fn dns_failure_is_temperror_and_syntax_is_permerror() {
        let mut dns = Fake::new(
            &[("example.com", "v=spf1 include:broken.example -all")],
            &[],
        );
        dns.fail = Arc::new(vec!["broken.example".to_string()]);
        assert_eq!(run(&dns, "192.0.2.1").result, SpfVerdict::TempError);
        let bad = Fake::new(&[("example.com", "v=spf1 a:foo.example.com/33 -all")], &[]);
        assert_eq!(run(&bad, "192.0.2.1").result, SpfVerdict::PermError);
        let none = Fake::new(&[], &[]);
        assert_eq!(run(&none, "192.0.2.1").result, SpfVerdict::None);
    }

    #[test]
    fn networks() {
        let ip: Ipv4Addr = "192.0.2.77".parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
        assert!(in_net4(ip, Ipv4Addr::new(192, 0, 2, 0), 24));
        assert!(!in_net4(ip, Ipv4Addr::new(192, 0, 3, 0), 24));
        assert!(in_net4(ip, Ipv4Addr::UNSPECIFIED, 0));
        assert!(in_net6(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, 0));
        assert!(!in_dual(
            IpAddr::V4(ip),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            0,
            0
        ));
    }
}
