//! SPF as a sender publishes it, observed: the concurrent walk of the whole include tree
//! (recorded through mxray-net), and the counts of lookups, void lookups and loops over it.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::join_all;
use mxray_core::DomainName;
use mxray_core::mx::MxRecord;
use mxray_net::{Dns, DnsAnswer, DnsOutcome, DnsRecord, RType};
use serde::Serialize;

use super::record::{
    MAX_LOOKUPS, MAX_NAMES, Qualifier, SpfSyntaxError, Term, has_macro, is_spf, parse,
};
use crate::sender::outcome_word;

/// Records the walk follows at most (a hostile tree cannot make us query forever).
pub const MAX_NODES: usize = 40;
/// Exchanges resolved per `mx` term (RFC 7208 4.6.4: more than 10 is an error anyway).
pub const MAX_MX_NAMES: usize = MAX_NAMES;
/// `a`/`mx`/`exists` terms looked up per record: an evaluation stops after 10 lookups in
/// all (RFC 7208 4.6.4), so one record's later terms could never be reached.
pub const MAX_TERM_LOOKUPS: usize = MAX_LOOKUPS;
/// DNS queries one walk makes at most, whatever the tree publishes. An RFC-conforming tree
/// needs far fewer (10 lookup terms of 10 names: about 220); the rest is a hostile tree's.
pub const MAX_WALK_QUERIES: usize = 500;
/// Bytes of DNS answers one walk keeps at most (what goes into the report).
pub const MAX_WALK_BYTES: usize = 1 << 20;

/// What one walk may still spend, shared by every branch of it.
#[derive(Default)]
struct Budget {
    records: AtomicUsize,
    queries: AtomicUsize,
    bytes: AtomicUsize,
}

impl Budget {
    /// Asks `name` if the walk may still query, keeping the answer's records only while the
    /// walk's byte budget lasts. `Err` says which bound stopped it.
    async fn query(&self, dns: &Dns, name: &str, rtype: RType) -> Result<DnsAnswer, String> {
        if self.queries.fetch_add(1, Ordering::SeqCst) >= MAX_WALK_QUERIES {
            return Err(format!(
                "the walk's budget of {MAX_WALK_QUERIES} DNS queries is spent"
            ));
        }
        let mut a = dns.query(name, rtype).await;
        let size: usize = a.name.len() + a.records.iter().map(|r| r.to_line().len()).sum::<usize>();
        if self.bytes.fetch_add(size, Ordering::SeqCst) + size > MAX_WALK_BYTES {
            a.records.clear();
            return Err(format!(
                "the walk keeps at most {} KiB of answers",
                MAX_WALK_BYTES / 1024
            ));
        }
        Ok(a)
    }
}

/// One SPF record fetched during the walk, with the lookups its terms caused.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TermLookups {
    /// The term as written.
    pub term: String,
    pub answers: Vec<DnsAnswer>,
    /// Why the term's lookups were not made, or not all of them: a bound of the walk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
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

pub(super) fn term_text(t: &Term) -> String {
    match t {
        Term::All { q } => format!("{}all", q.sign()),
        Term::Include { q, domain } => format!("{}include:{domain}", q.sign()),
        Term::A { q, domain, .. } => format!(
            "{}a{}",
            q.sign(),
            domain.as_ref().map(|d| format!(":{d}")).unwrap_or_default()
        ),
        Term::Mx { q, domain, .. } => format!(
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
    walk_from(dns, domain, None).await
}

/// Walks `record` as if `domain` published it (and only it): everything below it is asked of
/// DNS as [`walk`] does. What a proposed record would cost and authorise, before it is
/// published (`mxray records spf`, `records fix`).
pub async fn walk_record(dns: &Dns, domain: &str, record: &str) -> SpfNode {
    walk_from(dns, domain, Some(record.to_string())).await
}

/// A walk from the domain's published record, or from `given` in its place.
async fn walk_from(dns: &Dns, domain: &str, given: Option<String>) -> SpfNode {
    let budget = Arc::new(Budget::default());
    walk_node(
        dns.clone(),
        domain.to_string(),
        String::new(),
        Vec::new(),
        budget,
        given,
    )
    .await
}

fn walk_node(
    dns: Dns,
    domain: String,
    via: String,
    ancestors: Vec<String>,
    budget: Arc<Budget>,
    given: Option<String>,
) -> Pin<Box<dyn Future<Output = SpfNode> + Send>> {
    Box::pin(async move {
        let (txt, stopped) = match given {
            Some(text) => (
                DnsAnswer {
                    name: domain.clone(),
                    rtype: RType::Txt,
                    outcome: DnsOutcome::Answer,
                    records: vec![DnsRecord::Txt {
                        owner: domain.clone(),
                        text,
                    }],
                    elapsed_ms: 0,
                },
                None,
            ),
            None => match budget.query(&dns, &domain, RType::Txt).await {
                Ok(a) => (a, None),
                Err(why) => (unasked(&domain, RType::Txt), Some(why)),
            },
        };
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
            not_followed: stopped,
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
        let mut skipped = Vec::new();
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
                    let target = DomainName::from_dns(d).into_string();
                    if has_macro(d) {
                        kids.push(Err((
                            via,
                            None,
                            Some("a macro: expanded only for a given sender".to_string()),
                        )));
                    } else if path.contains(&target) {
                        kids.push(Err((via, Some(target), None)));
                    } else if budget.records.fetch_add(1, Ordering::SeqCst) >= MAX_NODES {
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
                            None,
                        )));
                    }
                }
                Term::A { .. } | Term::Mx { .. } | Term::Exists { .. } => {
                    let (name, kind) = match t {
                        Term::Mx { domain: d, .. } => {
                            (d.clone().unwrap_or_else(|| domain.clone()), Lookup::Mx)
                        }
                        Term::A { domain: d, .. } => {
                            (d.clone().unwrap_or_else(|| domain.clone()), Lookup::A)
                        }
                        Term::Exists { domain: d, .. } => (d.clone(), Lookup::Exists),
                        _ => continue,
                    };
                    if has_macro(&name) {
                        continue;
                    }
                    let text = term_text(t);
                    if looks.len() >= MAX_TERM_LOOKUPS {
                        skipped.push(TermLookups {
                            term: text,
                            answers: Vec::new(),
                            stopped: Some(format!(
                                "not looked up: past the {MAX_TERM_LOOKUPS} lookups an evaluation allows (RFC 7208 4.6.4)"
                            )),
                        });
                        continue;
                    }
                    let (dns, budget) = (dns.clone(), budget.clone());
                    looks.push(tokio::spawn(async move {
                        term_lookups(&dns, &budget, kind, &name, text).await
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
        node.term_lookups.extend(skipped);
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
                        txt: unasked(&target, RType::Txt),
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

/// The lookups of one `a`, `mx` or `exists` term.
#[derive(Clone, Copy)]
enum Lookup {
    A,
    Mx,
    Exists,
}

async fn term_lookups(
    dns: &Dns,
    budget: &Budget,
    kind: Lookup,
    name: &str,
    term: String,
) -> TermLookups {
    let both = |n: String| async move {
        let (a, aaaa) = tokio::join!(
            budget.query(dns, &n, RType::A),
            budget.query(dns, &n, RType::Aaaa)
        );
        vec![a, aaaa]
    };
    let results: Vec<Result<DnsAnswer, String>> = match kind {
        Lookup::Exists => vec![budget.query(dns, name, RType::A).await],
        Lookup::A => both(name.to_string()).await,
        Lookup::Mx => {
            let mx = budget.query(dns, name, RType::Mx).await;
            let names: Vec<String> = match &mx {
                Ok(a) => MxRecord::from_records(&a.records)
                    .into_iter()
                    .map(|r| r.exchange.into_string())
                    .take(MAX_MX_NAMES)
                    .collect(),
                Err(_) => Vec::new(),
            };
            let mut all = vec![mx];
            // The exchanges are independent: asked all at once, kept in their order.
            all.extend(
                join_all(names.into_iter().map(both))
                    .await
                    .into_iter()
                    .flatten(),
            );
            all
        }
    };
    let mut out = TermLookups {
        term,
        answers: Vec::new(),
        stopped: None,
    };
    let asked = results.len();
    for r in results {
        match r {
            Ok(a) => out.answers.push(a),
            Err(why) => {
                out.stopped.get_or_insert(why);
            }
        }
    }
    if let Some(why) = &mut out.stopped {
        why.push_str(&format!(" ({} of {asked} queries made)", out.answers.len()));
    }
    out
}

/// The place of a query the walk did not make.
fn unasked(name: &str, rtype: RType) -> DnsAnswer {
    DnsAnswer {
        name: name.to_string(),
        rtype,
        outcome: DnsOutcome::NoData,
        records: Vec::new(),
        elapsed_ms: 0,
    }
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
