//! SPF (RFC 7208) as a sender publishes it: the record parser, the concurrent walk of the
//! whole include tree (recorded), and the pure analysis of lookups, void lookups and loops.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mxray_net::{Dns, DnsAnswer, DnsOutcome, DnsRecord, RType};
use serde::Serialize;

/// RFC 7208 4.6.4: at most 10 terms that cause DNS lookups, and (SHOULD) 2 void lookups.
pub const MAX_LOOKUPS: usize = 10;
pub const MAX_VOID: usize = 2;
/// Records the walk follows at most (a hostile tree cannot make us query forever).
pub const MAX_NODES: usize = 40;
/// Exchanges resolved per `mx` term (RFC 7208 4.6.4: more than 10 is an error anyway).
pub const MAX_MX_NAMES: usize = 10;

/// `+`, `-`, `~`, `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

impl Qualifier {
    pub fn sign(self) -> char {
        match self {
            Qualifier::Pass => '+',
            Qualifier::Fail => '-',
            Qualifier::SoftFail => '~',
            Qualifier::Neutral => '?',
        }
    }
}

/// One parsed term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Term {
    All {
        q: Qualifier,
    },
    Include {
        q: Qualifier,
        domain: String,
    },
    A {
        q: Qualifier,
        domain: Option<String>,
    },
    Mx {
        q: Qualifier,
        domain: Option<String>,
    },
    Ptr {
        q: Qualifier,
        domain: Option<String>,
    },
    Ip {
        q: Qualifier,
        addr: IpAddr,
        prefix: u8,
    },
    Exists {
        q: Qualifier,
        domain: String,
    },
    Redirect {
        domain: String,
    },
    Exp {
        domain: String,
    },
    /// An unknown modifier (`name=value`): ignored, as RFC 7208 6 says.
    Other {
        name: String,
    },
}

impl Term {
    /// Terms that count against the 10-lookup limit.
    pub fn counts_lookup(&self) -> bool {
        matches!(
            self,
            Term::Include { .. }
                | Term::A { .. }
                | Term::Mx { .. }
                | Term::Ptr { .. }
                | Term::Exists { .. }
                | Term::Redirect { .. }
        )
    }
}

/// Why a record does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "kind", content = "term")]
pub enum SpfSyntaxError {
    #[error("the record is not 7-bit ASCII")]
    NotAscii,
    #[error("the record contains a control character")]
    Control,
    #[error("unknown mechanism or bad term {0:?}")]
    BadTerm(String),
    #[error("{0:?}: a bad domain-spec or macro")]
    BadDomain(String),
    #[error("{0:?}: a bad IP address or prefix length")]
    BadIp(String),
    #[error("{0:?} appears more than once")]
    DuplicateModifier(String),
}

/// True for a record that selects as SPF: `v=spf1` alone or followed by a space.
pub fn is_spf(txt: &str) -> bool {
    let t = txt.as_bytes();
    t.len() >= 6 && t[..6].eq_ignore_ascii_case(b"v=spf1") && (t.len() == 6 || t[6] == b' ')
}

/// Parses a `v=spf1` record (RFC 7208 4.6.1, 12).
pub fn parse(record: &str) -> Result<Vec<Term>, SpfSyntaxError> {
    if !record.is_ascii() {
        return Err(SpfSyntaxError::NotAscii);
    }
    if record.chars().any(|c| c.is_ascii_control()) {
        return Err(SpfSyntaxError::Control);
    }
    let mut terms = Vec::new();
    let mut seen_redirect = false;
    let mut seen_exp = false;
    for raw in record.split(' ').skip(1).filter(|t| !t.is_empty()) {
        // Modifiers: name "=" macro-string, where name starts with a letter.
        if let Some((name, value)) = raw.split_once('=')
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            let lname = name.to_ascii_lowercase();
            match lname.as_str() {
                "redirect" | "exp" => {
                    let seen = if lname == "redirect" {
                        &mut seen_redirect
                    } else {
                        &mut seen_exp
                    };
                    if *seen {
                        return Err(SpfSyntaxError::DuplicateModifier(lname));
                    }
                    *seen = true;
                    check_domain_spec(value, raw)?;
                    terms.push(if lname == "redirect" {
                        Term::Redirect {
                            domain: value.to_string(),
                        }
                    } else {
                        Term::Exp {
                            domain: value.to_string(),
                        }
                    });
                }
                _ => {
                    check_macro_string(value).map_err(|_| SpfSyntaxError::BadTerm(raw.into()))?;
                    terms.push(Term::Other { name: lname });
                }
            }
            continue;
        }
        let (q, body) = match raw.as_bytes()[0] {
            b'+' => (Qualifier::Pass, &raw[1..]),
            b'-' => (Qualifier::Fail, &raw[1..]),
            b'~' => (Qualifier::SoftFail, &raw[1..]),
            b'?' => (Qualifier::Neutral, &raw[1..]),
            _ => (Qualifier::Pass, raw),
        };
        let (name, arg) = match body.find([':', '/']) {
            Some(i) => (&body[..i], Some(&body[i..])),
            None => (body, None),
        };
        let term = match (name.to_ascii_lowercase().as_str(), arg) {
            ("all", None) => Term::All { q },
            ("include", Some(a)) if a.starts_with(':') => {
                check_domain_spec(&a[1..], raw)?;
                Term::Include {
                    q,
                    domain: a[1..].to_string(),
                }
            }
            ("exists", Some(a)) if a.starts_with(':') => {
                check_domain_spec(&a[1..], raw)?;
                Term::Exists {
                    q,
                    domain: a[1..].to_string(),
                }
            }
            (m @ ("a" | "mx"), arg) => {
                let domain = match arg {
                    None => None,
                    Some(a) => {
                        let (dom, cidr) = match a.strip_prefix(':') {
                            Some(rest) => match rest.find('/') {
                                Some(i) => (Some(&rest[..i]), &rest[i..]),
                                None => (Some(rest), ""),
                            },
                            None => (None, a),
                        };
                        check_dual_cidr(cidr, raw)?;
                        if let Some(d) = dom {
                            check_domain_spec(d, raw)?;
                        }
                        dom.map(str::to_string)
                    }
                };
                if m == "a" {
                    Term::A { q, domain }
                } else {
                    Term::Mx { q, domain }
                }
            }
            ("ptr", None) => Term::Ptr { q, domain: None },
            ("ptr", Some(a)) if a.starts_with(':') => {
                check_domain_spec(&a[1..], raw)?;
                Term::Ptr {
                    q,
                    domain: Some(a[1..].to_string()),
                }
            }
            (v @ ("ip4" | "ip6"), Some(a)) if a.starts_with(':') => {
                let text = &a[1..];
                let (ip, prefix) = match text.split_once('/') {
                    Some((ip, p)) => (ip, Some(p)),
                    None => (text, None),
                };
                let bad = || SpfSyntaxError::BadIp(raw.to_string());
                let addr: IpAddr = ip.parse().map_err(|_| bad())?;
                let max = if v == "ip4" { 32 } else { 128 };
                if (v == "ip4") != addr.is_ipv4() {
                    return Err(bad());
                }
                let prefix = match prefix {
                    None => max,
                    Some(p) => {
                        if p.is_empty() || (p.len() > 1 && p.starts_with('0')) {
                            return Err(bad());
                        }
                        p.parse::<u8>().ok().filter(|n| *n <= max).ok_or_else(bad)?
                    }
                };
                Term::Ip { q, addr, prefix }
            }
            _ => return Err(SpfSyntaxError::BadTerm(raw.to_string())),
        };
        terms.push(term);
    }
    Ok(terms)
}

fn check_dual_cidr(cidr: &str, raw: &str) -> Result<(), SpfSyntaxError> {
    if cidr.is_empty() {
        return Ok(());
    }
    let bad = || SpfSyntaxError::BadIp(raw.to_string());
    let ok = |s: &str, max: u8| {
        !(s.is_empty() || (s.len() > 1 && s.starts_with('0')))
            && s.parse::<u8>().is_ok_and(|n| n <= max)
    };
    let (v4, v6) = match cidr.strip_prefix("//") {
        Some(v6) => (None, Some(v6)),
        None => {
            let rest = cidr.strip_prefix('/').ok_or_else(bad)?;
            match rest.split_once("//") {
                Some((a, b)) => (Some(a), Some(b)),
                None => (Some(rest), None),
            }
        }
    };
    if v4.is_some_and(|s| !ok(s, 32)) || v6.is_some_and(|s| !ok(s, 128)) {
        return Err(bad());
    }
    Ok(())
}

/// RFC 7208 7.1 macro-string: literals and `%{letter digits r delimiters}`, `%%`, `%_`, `%-`.
fn check_macro_string(s: &str) -> Result<(), ()> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match b.get(i + 1) {
                Some(b'%' | b'_' | b'-') => i += 2,
                Some(b'{') => {
                    let end = s[i..].find('}').ok_or(())? + i;
                    let inner = &s[i + 2..end];
                    let mut chars = inner.chars();
                    let letter = chars.next().ok_or(())?.to_ascii_lowercase();
                    if !"slodiphcrtv".contains(letter) {
                        return Err(());
                    }
                    let rest: String = chars.collect();
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let rest = &rest[digits.len()..];
                    let rest = rest
                        .strip_prefix('r')
                        .or_else(|| rest.strip_prefix('R'))
                        .unwrap_or(rest);
                    if !rest.chars().all(|c| ".-+,/_=".contains(c)) {
                        return Err(());
                    }
                    i = end + 1;
                }
                _ => return Err(()),
            }
        } else if (0x21..=0x7e).contains(&b[i]) {
            i += 1;
        } else {
            return Err(());
        }
    }
    Ok(())
}

fn has_macro(s: &str) -> bool {
    s.contains('%')
}

/// domain-spec = macro-string domain-end: the last label (after expansion) must look like a
/// top-level domain, unless it is a macro.
fn check_domain_spec(s: &str, raw: &str) -> Result<(), SpfSyntaxError> {
    let bad = || SpfSyntaxError::BadDomain(raw.to_string());
    if s.is_empty() {
        return Err(bad());
    }
    check_macro_string(s).map_err(|_| bad())?;
    let trimmed = s.strip_suffix('.').unwrap_or(s);
    if trimmed.ends_with('}') {
        return Ok(());
    }
    let last = trimmed.rsplit('.').next().unwrap_or("");
    let toplabel = !last.is_empty()
        && trimmed.contains('.')
        && last.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !last.starts_with('-')
        && !last.ends_with('-')
        && last.chars().any(|c| c.is_ascii_alphabetic());
    if toplabel { Ok(()) } else { Err(bad()) }
}

/// One SPF record fetched during the walk, with the lookups its terms caused.
#[derive(Debug, Clone, Serialize)]
pub struct SpfNode {
    pub domain: String,
    /// How this record was reached: `""` for the domain itself, `include:x`, `redirect=x`.
    pub via: String,
    pub txt: DnsAnswer,
    /// The `v=spf1` records found at `domain` (one is right).
    pub records: Vec<String>,
    /// Records starting with `spf2.0/` (Sender ID), which SPF ignores.
    pub sender_id: Vec<String>,
    /// The parsed terms of the single record, or the syntax error.
    pub terms: Option<Result<Vec<Term>, SpfSyntaxError>>,
    /// Address lookups made for `a` / `mx` / `exists` terms (static analysis: which addresses
    /// the record authorises, and which lookups come back void).
    pub term_lookups: Vec<TermLookups>,
    pub children: Vec<SpfNode>,
    /// Set when this include or redirect names a record already on the path: a loop.
    pub loop_to: Option<String>,
    /// Set when the target is a macro (it can only be expanded for a given sender) or the
    /// walk stopped at [`MAX_NODES`].
    pub not_followed: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TermLookups {
    /// The term as written.
    pub term: String,
    pub answers: Vec<DnsAnswer>,
}

impl TermLookups {
    /// A void lookup (RFC 7208 4.6.4): nothing came back (NXDOMAIN or no data) from the
    /// term's own query.
    pub fn void(&self) -> bool {
        !self.answers.is_empty()
            && self
                .answers
                .iter()
                .all(|a| matches!(a.outcome, DnsOutcome::NxDomain | DnsOutcome::NoData))
    }
}

fn term_text(t: &Term) -> String {
    match t {
        Term::All { q } => format!("{}all", q.sign()),
        Term::Include { q, domain } => format!("{}include:{domain}", q.sign()),
        Term::A { q, domain } => format!(
            "{}a{}",
            q.sign(),
            domain.as_ref().map(|d| format!(":{d}")).unwrap_or_default()
        ),
        Term::Mx { q, domain } => format!(
            "{}mx{}",
            q.sign(),
            domain.as_ref().map(|d| format!(":{d}")).unwrap_or_default()
        ),
        Term::Ptr { q, domain } => format!(
            "{}ptr{}",
            q.sign(),
            domain.as_ref().map(|d| format!(":{d}")).unwrap_or_default()
        ),
        Term::Ip { q, addr, prefix } => format!(
            "{}ip{}:{addr}/{prefix}",
            q.sign(),
            if addr.is_ipv4() { 4 } else { 6 }
        ),
        Term::Exists { q, domain } => format!("{}exists:{domain}", q.sign()),
        Term::Redirect { domain } => format!("redirect={domain}"),
        Term::Exp { domain } => format!("exp={domain}"),
        Term::Other { name } => format!("{name}=..."),
    }
}

/// Walks `domain`'s SPF record and everything it includes, concurrently: every include and
/// redirect is fetched as soon as its parent is parsed, and each `a`/`mx`/`exists` term's
/// lookups run beside them.
pub async fn walk(dns: &Dns, domain: &str) -> SpfNode {
    let budget = Arc::new(AtomicUsize::new(0));
    walk_node(
        dns.clone(),
        domain.to_string(),
        String::new(),
        Vec::new(),
        budget,
    )
    .await
}

fn walk_node(
    dns: Dns,
    domain: String,
    via: String,
    ancestors: Vec<String>,
    budget: Arc<AtomicUsize>,
) -> Pin<Box<dyn Future<Output = SpfNode> + Send>> {
    Box::pin(async move {
        let txt = dns.query(&domain, RType::Txt).await;
        let texts: Vec<String> = txt
            .records
            .iter()
            .filter_map(|r| match r {
                DnsRecord::Txt { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        let records: Vec<String> = texts.iter().filter(|t| is_spf(t)).cloned().collect();
        let sender_id: Vec<String> = texts
            .iter()
            .filter(|t| t.to_ascii_lowercase().starts_with("spf2.0/"))
            .cloned()
            .collect();
        let mut node = SpfNode {
            domain: domain.clone(),
            via,
            txt,
            records: records.clone(),
            sender_id,
            terms: None,
            term_lookups: Vec::new(),
            children: Vec::new(),
            loop_to: None,
            not_followed: None,
        };
        if records.len() != 1 {
            return node;
        }
        let parsed = parse(&records[0]);
        let Ok(terms) = &parsed else {
            node.terms = Some(parsed);
            return node;
        };
        let mut path = ancestors.clone();
        path.push(domain.to_ascii_lowercase());
        let mut kids = Vec::new();
        let mut looks = Vec::new();
        let has_all = terms.iter().any(|t| matches!(t, Term::All { .. }));
        for t in terms {
            match t {
                Term::Include { domain: d, .. } | Term::Redirect { domain: d }
                    if !(matches!(t, Term::Redirect { .. }) && has_all) =>
                {
                    let via = match t {
                        Term::Include { .. } => format!("include:{d}"),
                        _ => format!("redirect={d}"),
                    };
                    let target = d.trim_end_matches('.').to_ascii_lowercase();
                    if has_macro(d) {
                        kids.push(Err((
                            via,
                            None,
                            Some("a macro: expanded only for a given sender".to_string()),
                        )));
                    } else if path.contains(&target) {
                        kids.push(Err((via, Some(target), None)));
                    } else if budget.fetch_add(1, Ordering::SeqCst) >= MAX_NODES {
                        kids.push(Err((
                            via,
                            None,
                            Some(format!("the walk stops after {MAX_NODES} records")),
                        )));
                    } else {
                        kids.push(Ok(walk_node(
                            dns.clone(),
                            target,
                            via,
                            path.clone(),
                            budget.clone(),
                        )));
                    }
                }
                Term::A { domain: d, .. } | Term::Mx { domain: d, .. } => {
                    let name = d.clone().unwrap_or_else(|| domain.clone());
                    if has_macro(&name) {
                        continue;
                    }
                    let is_mx = matches!(t, Term::Mx { .. });
                    let dns = dns.clone();
                    let text = term_text(t);
                    looks.push(tokio::spawn(async move {
                        let answers = if is_mx {
                            let mx = dns.query(&name, RType::Mx).await;
                            let names: Vec<String> = mx
                                .records
                                .iter()
                                .filter_map(|r| match r {
                                    DnsRecord::Mx { exchange, .. } => Some(exchange.clone()),
                                    _ => None,
                                })
                                .take(MAX_MX_NAMES)
                                .collect();
                            let mut all = vec![mx];
                            let mut set = tokio::task::JoinSet::new();
                            for (i, n) in names.into_iter().enumerate() {
                                let dns = dns.clone();
                                set.spawn(async move {
                                    let (a, aaaa) = tokio::join!(
                                        dns.query(&n, RType::A),
                                        dns.query(&n, RType::Aaaa)
                                    );
                                    (i, a, aaaa)
                                });
                            }
                            let mut got = Vec::new();
                            while let Some(Ok(x)) = set.join_next().await {
                                got.push(x);
                            }
                            got.sort_by_key(|x| x.0);
                            for (_, a, aaaa) in got {
                                all.push(a);
                                all.push(aaaa);
                            }
                            all
                        } else {
                            let (a, aaaa) = tokio::join!(
                                dns.query(&name, RType::A),
                                dns.query(&name, RType::Aaaa)
                            );
                            vec![a, aaaa]
                        };
                        TermLookups {
                            term: text,
                            answers,
                        }
                    }));
                }
                Term::Exists { domain: d, .. } if !has_macro(d) => {
                    let dns = dns.clone();
                    let (name, text) = (d.clone(), term_text(t));
                    looks.push(tokio::spawn(async move {
                        TermLookups {
                            term: text,
                            answers: vec![dns.query(&name, RType::A).await],
                        }
                    }));
                }
                _ => {}
            }
        }
        let mut running = Vec::new();
        for k in kids {
            running.push(match k {
                Ok(fut) => Ok(tokio::spawn(fut)),
                Err(e) => Err(e),
            });
        }
        for l in looks {
            if let Ok(tl) = l.await {
                node.term_lookups.push(tl);
            }
        }
        for k in running {
            match k {
                Ok(handle) => {
                    if let Ok(child) = handle.await {
                        node.children.push(child);
                    }
                }
                Err((via, loop_to, not_followed)) => {
                    let target = via
                        .split_once([':', '='])
                        .map(|(_, d)| d.to_string())
                        .unwrap_or_default();
                    node.children.push(SpfNode {
                        domain: target.clone(),
                        via,
                        txt: DnsAnswer {
                            name: target,
                            rtype: RType::Txt,
                            outcome: DnsOutcome::NoData,
                            records: Vec::new(),
                            elapsed_ms: 0,
                        },
                        records: Vec::new(),
                        sender_id: Vec::new(),
                        terms: None,
                        term_lookups: Vec::new(),
                        children: Vec::new(),
                        loop_to,
                        not_followed,
                    });
                }
            }
        }
        node.terms = Some(parsed);
        node
    })
}

impl SpfNode {
    pub fn terms(&self) -> &[Term] {
        match &self.terms {
            Some(Ok(t)) => t,
            _ => &[],
        }
    }

    /// The lookup-causing terms of this record alone.
    pub fn own_lookups(&self) -> usize {
        let has_all = self.terms().iter().any(|t| matches!(t, Term::All { .. }));
        self.terms()
            .iter()
            .filter(|t| t.counts_lookup() && !(has_all && matches!(t, Term::Redirect { .. })))
            .count()
    }

    /// Lookups for the whole tree below and including this record (RFC 7208 4.6.4).
    pub fn total_lookups(&self) -> usize {
        self.own_lookups()
            + self
                .children
                .iter()
                .filter(|c| c.loop_to.is_none())
                .map(SpfNode::total_lookups)
                .sum::<usize>()
    }

    /// Void lookups in the whole tree: `a`/`mx`/`exists` terms whose queries came back empty,
    /// and includes/redirects whose target has no records at all.
    pub fn total_void(&self) -> usize {
        let own = self.term_lookups.iter().filter(|t| t.void()).count();
        let kids: usize = self
            .children
            .iter()
            .map(|c| {
                let void_target = c.loop_to.is_none()
                    && c.not_followed.is_none()
                    && matches!(c.txt.outcome, DnsOutcome::NxDomain | DnsOutcome::NoData);
                usize::from(void_target) + c.total_void()
            })
            .sum();
        own + kids
    }

    /// Every record in the tree, depth first, with its depth.
    pub fn flatten(&self) -> Vec<(usize, &SpfNode)> {
        let mut out = Vec::new();
        fn go<'a>(n: &'a SpfNode, d: usize, out: &mut Vec<(usize, &'a SpfNode)>) {
            out.push((d, n));
            for c in &n.children {
                go(c, d + 1, out);
            }
        }
        go(self, 0, &mut out);
        out
    }

    /// The tree as indented lines with per-record and cumulative lookup counts: the chain
    /// behind a too-many-lookups finding.
    pub fn chain_lines(&self) -> Vec<String> {
        self.flatten()
            .into_iter()
            .map(|(d, n)| {
                let what = if n.via.is_empty() {
                    n.domain.clone()
                } else {
                    n.via.clone()
                };
                let note = if let Some(l) = &n.loop_to {
                    format!(" LOOP back to {l}")
                } else if let Some(w) = &n.not_followed {
                    format!(" (not followed: {w})")
                } else if n.records.is_empty() {
                    format!(" (no SPF record: {})", outcome_word(&n.txt.outcome))
                } else {
                    String::new()
                };
                format!(
                    "{}{what}: {} lookup(s) here, {} with its includes{note}",
                    "  ".repeat(d),
                    n.own_lookups(),
                    n.total_lookups()
                )
            })
            .collect()
    }

    /// Addresses the tree authorises: `ip4`/`ip6` hosts and narrow networks (by their first
    /// address) and the resolved `a`/`mx` addresses, at most `cap`.
    pub fn authorised_addrs(&self, cap: usize) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for (_, n) in self.flatten() {
            for t in n.terms() {
                if let Term::Ip { addr, prefix, q } = t
                    && *q == Qualifier::Pass
                    && ((addr.is_ipv4() && *prefix >= 24) || (addr.is_ipv6() && *prefix >= 120))
                    && !out.contains(addr)
                {
                    out.push(*addr);
                }
            }
            for tl in &n.term_lookups {
                for a in &tl.answers {
                    for ip in a.addrs() {
                        if !out.contains(&ip) {
                            out.push(ip);
                        }
                    }
                }
            }
        }
        out.truncate(cap);
        out
    }
}

pub fn outcome_word(o: &DnsOutcome) -> String {
    match o {
        DnsOutcome::Answer => "answer".into(),
        DnsOutcome::NoData => "no data".into(),
        DnsOutcome::NxDomain => "NXDOMAIN".into(),
        DnsOutcome::ServFail => "SERVFAIL".into(),
        DnsOutcome::Refused => "REFUSED".into(),
        DnsOutcome::Timeout => "timeout".into(),
        DnsOutcome::Error(e) => format!("error: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_records() {
        let t =
            parse("v=spf1 ip4:192.0.2.0/24 include:_spf.example.com mx a:x.example.com/24 -all")
                .expect("parses");
        assert_eq!(t.len(), 5);
        assert!(matches!(t[4], Term::All { q: Qualifier::Fail }));
        assert_eq!(t.iter().filter(|t| t.counts_lookup()).count(), 3);
        assert!(parse("v=spf1 ip4:192.0.2.300 -all").is_err());
        assert!(parse("v=spf1 foo:bar -all").is_err());
        assert!(parse("v=spf1 include:%{z}.example.com").is_err());
        assert!(parse("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all").is_ok());
        assert!(parse("v=spf1 redirect=a.example.com redirect=b.example.com").is_err());
        assert!(parse("v=spf1 a:example -all").is_err());
        assert!(parse("v=spf1 a//64 mx/24//96 -all").is_ok());
        assert!(is_spf("V=SPF1 -all") && is_spf("v=spf1") && !is_spf("v=spf10"));
    }
}
