//! SPF evaluation (RFC 7208 `check_host()`): would mail from this IP with this MAIL FROM pass?
//! Our own evaluator over this crate's DNS, with the record checked against the RFC's ABNF.

// Hand-rolled rather than mail-auth 0.13: that one accepts records RFC 7208 rejects, has no
// void-lookup limit and mishandles IPv4-mapped clients and `ptr`, and none of it is
// configurable (54 of the 203 OpenSPF suite tests; docs/findings.md, SPF).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hickory_resolver::proto::rr::Name;
use serde::Serialize;

use crate::{Dns, DnsOutcome, DnsRecord, RType};

/// RFC 7208 4.6.4: at most 10 terms that cause DNS lookups per evaluation...
const MAX_LOOKUPS: usize = 10;
/// ...and (SHOULD, default 2) at most 2 lookups that come back empty or NXDOMAIN.
const MAX_VOID: usize = 2;
/// RFC 7208 4.6.4: an `mx` yielding more than 10 names is a permerror; `ptr` and `%{p}` look
/// at the first 10 names only.
const MAX_NAMES: usize = 10;
/// Longer than any record DNS carries in one UDP/TCP answer that we would act on; a longer
/// one is outside text we refuse to walk (permerror).
const MAX_RECORD_BYTES: usize = 8192;
/// RFC 7208 7.3: an expansion used as a name is cut, from the left, to this many octets.
const MAX_NAME: usize = 253;

/// The seven results of RFC 7208 2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
pub async fn check_host(dns: &Dns, ip: IpAddr, sender: &str, helo: &str) -> SpfEvaluation {
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
    let limit = dns.timeout().saturating_mul(25).max(Duration::from_secs(1));
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
struct Ctx<'a> {
    dns: &'a Dns,
    ip: IpAddr,
    sender: String,
    local: String,
    sender_domain: String,
    helo: String,
    lookups: usize,
    void: usize,
}

impl Ctx<'_> {
    /// One more term that causes a DNS lookup (RFC 7208 4.6.4).
    fn count(&mut self, term: &str) -> Result<(), Stop> {
        self.lookups += 1;
        if self.lookups > MAX_LOOKUPS {
            return Err((
                SpfVerdict::PermError,
                format!("more than {MAX_LOOKUPS} DNS lookups (at {term})"),
            ));
        }
        Ok(())
    }

    /// One more void lookup (RFC 7208 4.6.4).
    fn void_lookup(&mut self, name: &str) -> Result<(), Stop> {
        self.void += 1;
        if self.void > MAX_VOID {
            return Err((
                SpfVerdict::PermError,
                format!("more than {MAX_VOID} void lookups (at {name})"),
            ));
        }
        Ok(())
    }

    /// Records of `rtype` at `name`; empty for NXDOMAIN / no data; temperror for a DNS failure
    /// (RFC 7208 5: an RCODE other than 0 or 3, or a timeout).
    async fn query(&self, name: &str, rtype: RType) -> Result<Vec<DnsRecord>, Stop> {
        let (outcome, records) = lookup(self.dns, name, rtype).await;
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
        let rtype = if self.ip.is_ipv4() {
            RType::A
        } else {
            RType::Aaaa
        };
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

fn evaluate<'a>(
    ctx: &'a mut Ctx<'_>,
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
async fn evaluate_inner(ctx: &mut Ctx<'_>, domain: &str) -> Result<Outcome, Stop> {
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
            DnsRecord::Txt { text, .. } if is_spf1(text) => Some(text.as_str()),
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
    let rec = parse(record).map_err(|e| (SpfVerdict::PermError, format!("{domain}: {e}")))?;

    // 4.6.2: mechanisms left to right; the first match decides.
    for d in &rec.directives {
        if matches(ctx, domain, &d.mech, &d.text).await? {
            let result = d.qualifier;
            let explanation = match (&rec.exp, result) {
                (Some(exp), SpfVerdict::Fail) => explain(ctx, domain, exp).await,
                _ => None,
            };
            return Ok(Outcome {
                result,
                decided_by: Some(d.text.clone()),
                explanation,
            });
        }
    }
    // 6.1: redirect applies only when nothing matched, and never beside an `all`.
    let has_all = rec.directives.iter().any(|d| matches!(d.mech, Mech::All));
    if let (Some(target), false) = (&rec.redirect, has_all) {
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
async fn matches(ctx: &mut Ctx<'_>, domain: &str, mech: &Mech, text: &str) -> Result<bool, Stop> {
    match mech {
        Mech::All => Ok(true),
        Mech::Ip4(net, len) => Ok(match ctx.ip {
            IpAddr::V4(ip) => in_net4(ip, *net, *len),
            IpAddr::V6(_) => false,
        }),
        Mech::Ip6(net, len) => Ok(match ctx.ip {
            IpAddr::V6(ip) => in_net6(ip, *net, *len),
            IpAddr::V4(_) => false,
        }),
        Mech::Include(spec) => {
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
        Mech::A(spec, c4, c6) => {
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
        Mech::Mx(spec, c4, c6) => {
            ctx.count(text)?;
            let Some(name) = target(ctx, spec.as_deref(), domain).await? else {
                return Ok(false);
            };
            let mxs = ctx.query(&name, RType::Mx).await?;
            let mut hosts: Vec<String> = mxs
                .into_iter()
                .filter_map(|r| match r {
                    DnsRecord::Mx { exchange, .. } => Some(exchange),
                    _ => None,
                })
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
            hosts.retain(|h| !h.trim_end_matches('.').is_empty());
            // The exchanges are independent: ask for them all at once.
            let mut set = tokio::task::JoinSet::new();
            for h in hosts {
                let dns = ctx.dns.clone();
                let rtype = if ctx.ip.is_ipv4() {
                    RType::A
                } else {
                    RType::Aaaa
                };
                set.spawn(async move {
                    let (outcome, records) = lookup(&dns, &h, rtype).await;
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
        Mech::Ptr(spec) => {
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
        Mech::Exists(spec) => {
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
    }
}

/// The name an a/mx/ptr term asks about: its expanded domain-spec, else the current domain.
/// `None` when the expansion is no name DNS can carry: the term cannot match (RFC 7208 4.8).
async fn target(
    ctx: &mut Ctx<'_>,
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
async fn validated_names(ctx: &Ctx<'_>) -> Vec<String> {
    let ptr = ctx.dns.reverse(ctx.ip).await;
    if ptr.outcome != DnsOutcome::Answer {
        return Vec::new();
    }
    let names: Vec<String> = ptr
        .records
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
        let rtype = if ctx.ip.is_ipv4() {
            RType::A
        } else {
            RType::Aaaa
        };
        set.spawn(async move {
            let (_, records) = lookup(&dns, &n, rtype).await;
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
async fn explain(ctx: &mut Ctx<'_>, domain: &str, exp: &str) -> Option<String> {
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

// ---- record syntax (RFC 7208 4.5, 4.6, 5, 6, 7.1 ABNF) ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mech {
    All,
    Include(String),
    /// domain-spec, ip4-cidr-length, ip6-cidr-length.
    A(Option<String>, u8, u8),
    Mx(Option<String>, u8, u8),
    Ptr(Option<String>),
    Ip4(Ipv4Addr, u8),
    Ip6(Ipv6Addr, u8),
    Exists(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Directive {
    qualifier: SpfVerdict,
    mech: Mech,
    /// The term as published, for evidence.
    text: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Record {
    directives: Vec<Directive>,
    redirect: Option<String>,
    exp: Option<String>,
}

/// RFC 7208 4.5: the version section, case-insensitive, then a space or the end.
fn is_spf1(text: &str) -> bool {
    let b = text.as_bytes();
    b.get(..6)
        .is_some_and(|v| v.eq_ignore_ascii_case(b"v=spf1"))
        && matches!(b.get(6), None | Some(b' '))
}

/// Parses a whole record (which [`is_spf1`] accepted). Any syntax error anywhere is a
/// permerror before evaluation starts (RFC 7208 4.6).
fn parse(record: &str) -> Result<Record, String> {
    if record.len() > MAX_RECORD_BYTES {
        return Err(format!("record longer than {MAX_RECORD_BYTES} bytes"));
    }
    let mut rec = Record::default();
    let body = record.get(6..).unwrap_or("");
    for term in body.split(' ').filter(|t| !t.is_empty()) {
        parse_term(term, &mut rec)?;
    }
    Ok(rec)
}

fn parse_term(term: &str, rec: &mut Record) -> Result<(), String> {
    // Terms are visible ASCII only: control characters and non-ASCII are syntax errors.
    if let Some(c) = term.chars().find(|c| !('\x21'..='\x7e').contains(c)) {
        return Err(format!("character {c:?} in term {term:?}"));
    }
    let b = term.as_bytes();
    let name_len = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        .count();
    if b.get(name_len) == Some(&b'=') {
        // modifier = name "=" macro-string; name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
        if name_len == 0 || !b[0].is_ascii_alphabetic() {
            return Err(format!("bad modifier name in {term:?}"));
        }
        let name = term[..name_len].to_ascii_lowercase();
        let value = &term[name_len + 1..];
        let slot = match name.as_str() {
            "redirect" => &mut rec.redirect,
            "exp" => &mut rec.exp,
            _ => {
                // Unknown modifiers are ignored, but must still be well formed (6).
                macro_tokens(value, false)?;
                return Ok(());
            }
        };
        if slot.is_some() {
            return Err(format!("{name}= appears twice"));
        }
        check_domain_spec(value)?;
        *slot = Some(value.to_string());
        return Ok(());
    }
    let (qualifier, body) = match b.first() {
        Some(b'+') => (SpfVerdict::Pass, &term[1..]),
        Some(b'-') => (SpfVerdict::Fail, &term[1..]),
        Some(b'~') => (SpfVerdict::SoftFail, &term[1..]),
        Some(b'?') => (SpfVerdict::Neutral, &term[1..]),
        _ => (SpfVerdict::Pass, term),
    };
    let n = body.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let (name, arg) = body.split_at(n);
    let spec = |arg: &str| -> Result<String, String> {
        let ds = arg
            .strip_prefix(':')
            .ok_or_else(|| format!("{term:?} needs :domain"))?;
        check_domain_spec(ds)?;
        Ok(ds.to_string())
    };
    let mech = match name.to_ascii_lowercase().as_str() {
        "all" if arg.is_empty() => Mech::All,
        "include" => Mech::Include(spec(arg)?),
        "exists" => Mech::Exists(spec(arg)?),
        "ptr" if arg.is_empty() => Mech::Ptr(None),
        "ptr" => Mech::Ptr(Some(spec(arg)?)),
        m @ ("a" | "mx") => {
            let (rest, c4, c6) = split_dual_cidr(arg)?;
            let ds = if rest.is_empty() {
                None
            } else {
                Some(spec(rest)?)
            };
            if m == "a" {
                Mech::A(ds, c4, c6)
            } else {
                Mech::Mx(ds, c4, c6)
            }
        }
        "ip4" => {
            let v = arg
                .strip_prefix(':')
                .ok_or_else(|| format!("{term:?} needs :address"))?;
            let (addr, len) = match v.split_once('/') {
                Some((a, l)) => (a, cidr(l, 32)?),
                None => (v, 32),
            };
            let addr = addr
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("bad IPv4 address in {term:?}"))?;
            Mech::Ip4(addr, len)
        }
        "ip6" => {
            let v = arg
                .strip_prefix(':')
                .ok_or_else(|| format!("{term:?} needs :address"))?;
            let (addr, len) = match v.split_once('/') {
                Some((a, l)) => (a, cidr(l, 128)?),
                None => (v, 128),
            };
            let addr = addr
                .parse::<Ipv6Addr>()
                .map_err(|_| format!("bad IPv6 address in {term:?}"))?;
            Mech::Ip6(addr, len)
        }
        _ => return Err(format!("unknown mechanism {term:?}")),
    };
    rec.directives.push(Directive {
        qualifier,
        mech,
        text: term.to_string(),
    });
    Ok(())
}

/// `[ ":" domain-spec ] [ dual-cidr-length ]`: peels `//N` then `/N` off the end, so a
/// domain-spec may itself hold `/` and `:` (the suite's `a:foo:bar/baz.example.com`).
fn split_dual_cidr(arg: &str) -> Result<(&str, u8, u8), String> {
    let mut rest = arg;
    let mut c6 = 128;
    let mut c4 = 32;
    if let Some((head, digits)) = rest.rsplit_once("//")
        && is_digits(digits)
    {
        c6 = cidr(digits, 128)?;
        rest = head;
    }
    if let Some((head, digits)) = rest.rsplit_once('/')
        && is_digits(digits)
    {
        c4 = cidr(digits, 32)?;
        rest = head;
    }
    Ok((rest, c4, c6))
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// ip4-cidr-length / ip6-cidr-length: `"0" / %x31-39 0*xDIGIT`, at most `max`.
fn cidr(s: &str, max: u8) -> Result<u8, String> {
    if !is_digits(s) || (s.len() > 1 && s.starts_with('0')) || s.len() > 3 {
        return Err(format!("bad CIDR length /{s}"));
    }
    match s.parse::<u8>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("CIDR length /{s} over {max}")),
    }
}

/// domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand.
fn check_domain_spec(s: &str) -> Result<(), String> {
    let toks = macro_tokens(s, false)?;
    match toks.last() {
        Some(Tok::Macro { .. }) | Some(Tok::Esc(_)) => Ok(()),
        Some(Tok::Lit(_)) => {
            // The literal tail (after the last macro) must end in "." toplabel [ "." ].
            let tail_start = toks
                .iter()
                .rposition(|t| !matches!(t, Tok::Lit(_)))
                .map_or(0, |i| i + 1);
            let tail: String = toks[tail_start..]
                .iter()
                .filter_map(|t| match t {
                    Tok::Lit(l) => Some(*l),
                    _ => None,
                })
                .collect();
            let t = tail.strip_suffix('.').unwrap_or(&tail);
            match t.rsplit_once('.') {
                Some((_, top)) if is_toplabel(top) => Ok(()),
                _ => Err(format!("{s:?} does not end in a valid top label")),
            }
        }
        None => Err("empty domain-spec".into()),
    }
}

/// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
fn is_toplabel(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
        && b.iter().any(|c| c.is_ascii_alphabetic() || *c == b'-')
}

/// RFC 7208 4.3: a name `check_host()` can start from: at most 253 octets, labels 1-63, more
/// than one label, a proper top label. Domain literals (`[192.0.2.1]`) fail the last test.
fn valid_name(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.is_empty() || d.len() > MAX_NAME {
        return false;
    }
    let labels: Vec<&str> = d.split('.').collect();
    labels.len() > 1
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| (0x20..0x7f).contains(&b)))
        && labels.last().is_some_and(|t| is_toplabel(t))
        && raw_name(d).is_some()
}

/// A name from its labels as raw octets: DNS labels may hold any octet (RFC 2181 11), and
/// domain-specs may hold `:`, `/`, `%` and spaces, which hickory's text parser refuses.
fn raw_name(d: &str) -> Option<Name> {
    let d = d.strip_suffix('.').unwrap_or(d);
    let mut n = Name::from_labels(d.split('.').map(str::as_bytes)).ok()?;
    n.set_fqdn(true);
    Some(n)
}

/// One query, for any name [`valid_name`] accepts.
async fn lookup(dns: &Dns, name: &str, rtype: RType) -> (DnsOutcome, Vec<DnsRecord>) {
    if Name::from_ascii(format!("{name}.")).is_ok() {
        let ans = dns.query(name, rtype).await;
        (ans.outcome, ans.records)
    } else {
        odd_name_query(dns, name, rtype).await
    }
}

/// Addresses among records.
fn addrs_of(records: &[DnsRecord]) -> impl Iterator<Item = IpAddr> + '_ {
    records.iter().filter_map(|r| match r {
        DnsRecord::A { addr, .. } | DnsRecord::Aaaa { addr, .. } => Some(*addr),
        _ => None,
    })
}

/// A query for a name hickory's text parser refuses ([`raw_name`]), through the same
/// resolver, with the outcome classified as [`Dns::query`] does for the types SPF asks.
async fn odd_name_query(dns: &Dns, name: &str, rtype: RType) -> (DnsOutcome, Vec<DnsRecord>) {
    use hickory_resolver::net::{DnsError, NetError};
    use hickory_resolver::proto::op::ResponseCode;
    use hickory_resolver::proto::rr::{RData, RecordType};

    let Some(qname) = raw_name(name) else {
        return (
            DnsOutcome::Error(format!("invalid name {name:?}")),
            Vec::new(),
        );
    };
    let rt = match rtype {
        RType::A => RecordType::A,
        RType::Aaaa => RecordType::AAAA,
        RType::Mx => RecordType::MX,
        RType::Txt => RecordType::TXT,
        other => {
            return (
                DnsOutcome::Error(format!("{} not supported here", other.as_str())),
                Vec::new(),
            );
        }
    };
    let fut = dns.resolver().lookup(qname, rt);
    let res = match tokio::time::timeout(dns.timeout() + Duration::from_millis(500), fut).await {
        Err(_) => return (DnsOutcome::Timeout, Vec::new()),
        Ok(r) => r,
    };
    match res {
        Ok(lookup) => {
            let owner = name.to_string();
            let records: Vec<DnsRecord> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(DnsRecord::A {
                        owner: owner.clone(),
                        addr: IpAddr::V4(a.0),
                    }),
                    RData::AAAA(a) => Some(DnsRecord::Aaaa {
                        owner: owner.clone(),
                        addr: IpAddr::V6(a.0),
                    }),
                    RData::MX(mx) => Some(DnsRecord::Mx {
                        owner: owner.clone(),
                        preference: mx.preference,
                        exchange: mx
                            .exchange
                            .iter()
                            .map(String::from_utf8_lossy)
                            .collect::<Vec<_>>()
                            .join("."),
                    }),
                    RData::TXT(t) => Some(DnsRecord::Txt {
                        owner: owner.clone(),
                        text: t
                            .txt_data
                            .iter()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .collect(),
                    }),
                    _ => None,
                })
                .collect();
            let outcome = if records.is_empty() {
                DnsOutcome::NoData
            } else {
                DnsOutcome::Answer
            };
            (outcome, records)
        }
        Err(NetError::Dns(DnsError::NoRecordsFound(nr))) => match nr.response_code {
            ResponseCode::NXDomain => (DnsOutcome::NxDomain, Vec::new()),
            ResponseCode::NoError => (DnsOutcome::NoData, Vec::new()),
            other => (
                DnsOutcome::Error(format!("response code {other}")),
                Vec::new(),
            ),
        },
        Err(NetError::Timeout) => (DnsOutcome::Timeout, Vec::new()),
        Err(e) => (DnsOutcome::Error(e.to_string()), Vec::new()),
    }
}

/// An expansion as a query name: cut from the left to 253 octets (RFC 7208 7.3), then
/// checked; `None` if DNS cannot carry it.
fn name_for_query(expanded: &str) -> Option<String> {
    let mut n = expanded.strip_suffix('.').unwrap_or(expanded);
    while n.len() > MAX_NAME {
        n = n.split_once('.')?.1;
    }
    valid_name(n).then(|| n.to_string())
}

// ---- macros (RFC 7208 7) ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    Lit(&'a str),
    /// `%%`, `%_`, `%-`.
    Esc(&'static str),
    Macro {
        letter: u8,
        upper: bool,
        keep: Option<usize>,
        reverse: bool,
        delims: &'a str,
    },
}

/// Splits a macro-string (or, with `exp`, an explain-string, which may also hold spaces and
/// the `c`, `r`, `t` letters) into tokens, or says what is wrong with it.
fn macro_tokens(s: &str, exp: bool) -> Result<Vec<Tok<'_>>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        let c = b[i];
        if c != b'%' {
            let ok = (0x21..=0x7e).contains(&c) || (exp && c == b' ');
            if !ok {
                return Err(format!("character {:?} in {s:?}", c as char));
            }
            i += 1;
            continue;
        }
        if lit < i {
            out.push(Tok::Lit(&s[lit..i]));
        }
        match b.get(i + 1) {
            Some(b'%') => out.push(Tok::Esc("%")),
            Some(b'_') => out.push(Tok::Esc(" ")),
            Some(b'-') => out.push(Tok::Esc("%20")),
            Some(b'{') => {
                let close = s[i..]
                    .find('}')
                    .map(|j| i + j)
                    .ok_or_else(|| format!("unclosed macro in {s:?}"))?;
                let inner = &s[i + 2..close];
                let ib = inner.as_bytes();
                let letter = *ib.first().ok_or_else(|| format!("empty macro in {s:?}"))?;
                let lower = letter.to_ascii_lowercase();
                let allowed: &[u8] = if exp { b"slodiphvcrt" } else { b"slodiphv" };
                if !allowed.contains(&lower) {
                    return Err(format!("bad macro letter {:?} in {s:?}", letter as char));
                }
                let rest = &inner[1..];
                let nd = rest.bytes().take_while(u8::is_ascii_digit).count();
                let keep = if nd == 0 {
                    None
                } else {
                    // More parts than any name has is the same as all of them.
                    let n = rest[..nd].parse::<usize>().unwrap_or(usize::MAX);
                    if n == 0 {
                        return Err(format!("zero transformer in {s:?}"));
                    }
                    Some(n)
                };
                let rest = &rest[nd..];
                let (reverse, delims) = match rest.as_bytes().first() {
                    Some(b'r' | b'R') => (true, &rest[1..]),
                    _ => (false, rest),
                };
                if !delims.bytes().all(|d| b".-+,/_=".contains(&d)) {
                    return Err(format!("bad macro delimiter in {s:?}"));
                }
                out.push(Tok::Macro {
                    letter: lower,
                    upper: letter.is_ascii_uppercase(),
                    keep,
                    reverse,
                    delims,
                });
                i = close + 1;
                lit = i;
                continue;
            }
            _ => return Err(format!("bad % escape in {s:?}")),
        }
        i += 2;
        lit = i;
    }
    if lit < b.len() {
        out.push(Tok::Lit(&s[lit..]));
    }
    Ok(out)
}

/// Expands a macro-string for the current `domain` (RFC 7208 7.2-7.4).
async fn expand(ctx: &mut Ctx<'_>, s: &str, domain: &str, exp: bool) -> Result<String, Stop> {
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

/// RFC 7208 7.3: split on the delimiters (default "."), optionally reverse, keep the
/// rightmost `keep` parts, join with ".".
fn transform(value: &str, keep: Option<usize>, reverse: bool, delims: &str) -> String {
    if keep.is_none() && !reverse && delims.is_empty() {
        return value.to_string();
    }
    let delims = if delims.is_empty() { "." } else { delims };
    let mut parts: Vec<&str> = value.split(|c| delims.contains(c)).collect();
    if reverse {
        parts.reverse();
    }
    let skip = keep.map_or(0, |k| parts.len().saturating_sub(k));
    parts[skip..].join(".")
}

/// `%{i}`: dotted quad, or 32 dot-separated nibbles for IPv6.
fn dotted(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6
            .octets()
            .iter()
            .flat_map(|b| [b >> 4, b & 0xf])
            .map(|n| format!("{n:x}"))
            .collect::<Vec<_>>()
            .join("."),
    }
}

/// Uppercase macro letters: URL-escape everything outside RFC 3986 "unreserved".
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
    use super::*;

    fn p(r: &str) -> Result<Record, String> {
        parse(r)
    }

    #[test]
    fn version_section() {
        assert!(is_spf1("v=spf1"));
        assert!(is_spf1("V=SPF1 -all"));
        assert!(!is_spf1("v=spf10 -all"));
        assert!(!is_spf1("v=spf"));
    }

    #[test]
    fn syntax_the_rfc_rejects() {
        for bad in [
            "v=spf1 ip4:1.2.3.4/33",
            "v=spf1 ip4:1.2.3.4/032",
            "v=spf1 ip6:::1/129",
            "v=spf1 a/33",
            "v=spf1 a//129",
            "v=spf1 a:111.222.33.44",
            "v=spf1 a:museum",
            "v=spf1 =all",
            "v=spf1 exp=%{x}.example.com",
            "v=spf1 redirect=a redirect=b.example.com",
            "v=spf1 foo=%",
            "v=spf1 -all\tx",
            "v=spf1 a:foo.example.com\0",
            "v=spf1 -all:foo",
            "v=spf1 exists:%{l0}.example.com",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn syntax_the_rfc_accepts() {
        for good in [
            "v=spf1",
            "v=spf1 a mx ptr -all ",
            "v=spf1 a:foo:bar/baz.example.com",
            "v=spf1 a:example.com/24//64 ip6:::1/0 ip4:0.0.0.0/0",
            "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} ?all",
            "v=spf1 moo.cow-far_out=man:dog/cat ~all",
            "v=spf1 include:%{d}",
            "v=spf1 redirect=_spf.example.com.",
        ] {
            assert!(p(good).is_ok(), "{good:?} should parse: {:?}", p(good));
        }
        let r = p("v=spf1 a:foo:bar/baz.example.com/24").unwrap_or_default();
        assert_eq!(
            r.directives[0].mech,
            Mech::A(Some("foo:bar/baz.example.com".into()), 24, 128)
        );
    }

    #[test]
    fn macro_transformers() {
        assert_eq!(transform("1.2.3.4", None, true, ""), "4.3.2.1");
        assert_eq!(transform("a.b.c.d", Some(2), false, ""), "c.d");
        assert_eq!(transform("strong-bad", None, false, "-"), "strong.bad");
        assert_eq!(transform("a.b", Some(9), false, ""), "a.b");
        assert_eq!(url_escape("a b/c"), "a%20b%2Fc");
        let v6: IpAddr = "2001:db8::cb01"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(dotted(v6).starts_with("2.0.0.1.0.d.b.8."));
    }

    #[test]
    fn names() {
        assert!(valid_name("example.com"));
        assert!(valid_name("example.com."));
        assert!(!valid_name("[192.0.2.1]"));
        assert!(!valid_name("a..example.com"));
        assert!(!valid_name("localhost"));
        assert!(!valid_name(&format!("{}.com", "x".repeat(64))));
        let long = format!("{}example.com", "abcdefghi.".repeat(30));
        assert_eq!(name_for_query(&long).map(|n| n.len() <= 253), Some(true));
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
