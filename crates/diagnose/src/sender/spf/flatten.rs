//! Flattening, judged from the recorded walk: the exact addresses an SPF tree passes, and the
//! plan that replaces includes (then `mx`, `a`) by those addresses until the record fits in 10 lookups.

// Pure over [`SpfNode`]: the walk already recorded every TXT, A, AAAA and MX answer the tree
// needs, so a flattened record is computed (and unit-tested) without DNS.

use mxray_core::DomainName;
use mxray_records::spf::{AddrSet, AllPolicy, flattened_layout};
use mxray_records::{Generated, RecordsError};
use serde::Serialize;

use super::observe::{SpfNode, term_text};
use super::record::{MAX_LOOKUPS, MAX_NAMES, Qualifier, Term, parse_record};

/// Why a record (or one of its includes) cannot be replaced by a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NotFlat {
    /// The record it is about: the domain, or the `include:`/`redirect=` that reached it.
    pub at: String,
    pub why: String,
}

impl std::fmt::Display for NotFlat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.why)
    }
}

fn not_flat(n: &SpfNode, why: impl Into<String>) -> NotFlat {
    NotFlat {
        at: if n.via.is_empty() {
            n.domain.clone()
        } else {
            n.via.clone()
        },
        why: why.into(),
    }
}

/// The addresses for which `check_host()` on this record returns pass (RFC 7208 4.6.2: the
/// first matching mechanism decides, so a later term only adds what no earlier term matched;
/// an include matches when its record passes; `redirect=` answers for what nothing matched).
/// `Err` when the answer depends on more than the address (`exists`, `ptr`, macros), or the
/// tree errs (no record, several, bad syntax, a loop, a failed lookup), or the walk stopped.
pub fn pass_set(n: &SpfNode) -> Result<AddrSet, NotFlat> {
    if let Some(to) = &n.loop_to {
        return Err(not_flat(n, format!("it loops back to {to}")));
    }
    if let Some(why) = &n.not_followed {
        return Err(not_flat(n, format!("not followed: {why}")));
    }
    if n.txt.outcome.is_failure() {
        return Err(not_flat(
            n,
            format!("its TXT lookup failed ({:?}): a temperror", n.txt.outcome),
        ));
    }
    match n.records.len() {
        0 => return Err(not_flat(n, "it publishes no SPF record (a permerror)")),
        1 => {}
        k => {
            return Err(not_flat(
                n,
                format!("it publishes {k} SPF records (a permerror)"),
            ));
        }
    }
    let terms = match &n.terms {
        Some(Ok(t)) => t,
        Some(Err(e)) => return Err(not_flat(n, format!("its record does not parse: {e}"))),
        None => return Err(not_flat(n, "its record was not read")),
    };
    let mut first = FirstMatch::default();
    let mut ended = false;
    for t in terms {
        let Some(q) = t.qualifier() else { continue };
        first.mechanism(q, &term_set(n, t)?);
        if matches!(t, Term::All { .. }) {
            ended = true;
            break;
        }
    }
    let FirstMatch { decided, mut pass } = first;
    if !ended
        && let Some(target) = terms.iter().find_map(|t| match t {
            Term::Redirect { domain } => Some(domain),
            _ => None,
        })
    {
        let via = format!("redirect={target}");
        let child = n
            .children
            .iter()
            .find(|c| c.via == via)
            .ok_or_else(|| not_flat(n, format!("{via} was not followed")))?;
        let mut rest = pass_set(child)?;
        rest.subtract(&decided);
        pass.union(&rest);
    }
    Ok(pass)
}

/// The addresses a record's own terms pass when its includes that cannot be flattened are
/// set aside, with those includes as written: how a flattened record and the record it came
/// from are compared (both keep such includes as they are, and they decide for themselves).
pub fn pass_set_keeping(n: &SpfNode) -> Result<(AddrSet, Vec<String>), NotFlat> {
    let rec = match n.records.as_slice() {
        [one] => parse_record(one).map_err(|f| not_flat(n, f.why))?,
        _ => return pass_set(n).map(|s| (s, Vec::new())),
    };
    let mut first = FirstMatch::default();
    let mut kept = Vec::new();
    for (t, w) in rec.terms.iter().zip(&rec.written) {
        let Some(q) = t.qualifier() else { continue };
        match (t, term_set(n, t)) {
            (_, Ok(m)) => first.mechanism(q, &m),
            (Term::Include { .. }, Err(_)) => {
                kept.push(w.to_ascii_lowercase());
                continue;
            }
            (_, Err(e)) => return Err(e),
        }
        if matches!(t, Term::All { .. }) {
            return Ok((first.pass, kept));
        }
    }
    let pass = first.pass;
    if rec.terms.iter().any(|t| matches!(t, Term::Redirect { .. })) {
        // redirect= answers for the rest: the strict reading decides.
        return pass_set(n).map(|s| (s, kept));
    }
    Ok((pass, kept))
}

/// RFC 7208 4.6.2 over address sets: the first mechanism that matches decides, so each one
/// passes only what no earlier one matched.
#[derive(Default)]
struct FirstMatch {
    /// Addresses some mechanism already matched.
    decided: AddrSet,
    /// Of those, the ones a pass mechanism matched.
    pass: AddrSet,
}

impl FirstMatch {
    fn mechanism(&mut self, q: Qualifier, matched: &AddrSet) {
        if q == Qualifier::Pass {
            let mut fresh = matched.clone();
            fresh.subtract(&self.decided);
            self.pass.union(&fresh);
        }
        self.decided.union(matched);
    }
}

/// The addresses one mechanism matches.
fn term_set(n: &SpfNode, t: &Term) -> Result<AddrSet, NotFlat> {
    let mut set = AddrSet::new();
    match t {
        Term::All { .. } => return Ok(AddrSet::everything()),
        Term::Ip { addr, prefix, .. } => set.insert_net(*addr, *prefix),
        Term::Include { domain, .. } => {
            let via = format!("include:{domain}");
            let child = n
                .children
                .iter()
                .find(|c| c.via == via)
                .ok_or_else(|| not_flat(n, format!("{via} was not followed")))?;
            return pass_set(child);
        }
        Term::A { cidr4, cidr6, .. } | Term::Mx { cidr4, cidr6, .. } => {
            let text = term_text(t);
            let looked = n
                .term_lookups
                .iter()
                .find(|l| l.term == text)
                .ok_or_else(|| {
                    not_flat(
                        n,
                        format!("{text} depends on the sender (a macro) and cannot be listed as addresses"),
                    )
                })?;
            if let Some(why) = &looked.stopped {
                return Err(not_flat(n, format!("{text}: {why}")));
            }
            for (i, a) in looked.answers.iter().enumerate() {
                if a.outcome.is_failure() {
                    return Err(not_flat(
                        n,
                        format!(
                            "{text}: the lookup of {} failed ({:?}): a temperror",
                            a.name, a.outcome
                        ),
                    ));
                }
                // RFC 7208 4.6.4: an mx term naming more than 10 exchanges is a permerror.
                if i == 0 && matches!(t, Term::Mx { .. }) && a.records.len() > MAX_NAMES {
                    return Err(not_flat(
                        n,
                        format!(
                            "{text} names {} MX hosts, over the {MAX_NAMES} RFC 7208 allows (a permerror)",
                            a.records.len()
                        ),
                    ));
                }
                for ip in a.addrs() {
                    set.insert_net(ip, if ip.is_ipv4() { *cidr4 } else { *cidr6 });
                }
            }
        }
        Term::Exists { .. } => {
            return Err(not_flat(
                n,
                format!(
                    "{} asks DNS about each sender: it cannot be listed as addresses",
                    term_text(t)
                ),
            ));
        }
        Term::Ptr { .. } => {
            return Err(not_flat(
                n,
                "ptr depends on each sender's reverse DNS: it cannot be listed as addresses",
            ));
        }
        Term::Redirect { .. } | Term::Exp { .. } | Term::Other { .. } => {}
    }
    Ok(set)
}

/// A record rewritten to fit in RFC 7208's 10 lookups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Flattened {
    /// The records to publish: the domain's own first, then its `_spfN` sub-records.
    pub generated: Generated,
    /// Lookups an evaluation of the flattened record spends at most.
    pub lookups: usize,
    /// Lookups of the record before (over 10: receivers answer permerror).
    pub lookups_before: usize,
    /// The terms replaced by their addresses, as written.
    pub flattened: Vec<String>,
    /// The terms left as they were (still looked up by receivers), as written.
    pub kept: Vec<String>,
    /// Why each kept include could not be flattened.
    pub not_flat: Vec<NotFlat>,
    /// Addresses the flattened record passes, as the original does: its addresses and every
    /// term that could be flattened (kept terms listed in `not_flat` may pass more).
    #[serde(skip)]
    #[schemars(skip)]
    pub pass: AddrSet,
}

/// Why a record cannot be flattened at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlattenError {
    #[error("{0}")]
    Tree(NotFlat),
    #[error(
        "the record's mechanisms are not all pass (+) qualified ({term}): moving them would change who passes; flatten it by hand"
    )]
    Qualifiers { term: String },
    #[error(
        "the record ends in redirect={target}: put include:{target} and an all term in its place, then flatten"
    )]
    Redirect { target: String },
    #[error(
        "{term} passes every address: flattening it would publish +all; remove it (an include of a record that ends in +all authorises the whole internet)"
    )]
    Everything { term: String },
    #[error(
        "even flattened the record needs {lookups} lookups, over RFC 7208's {MAX_LOOKUPS}: {why}"
    )]
    StillOver { lookups: usize, why: String },
    #[error(transparent)]
    Layout(#[from] RecordsError),
}

/// One top-level term and what replacing it would save and give.
struct Part<'a> {
    written: &'a str,
    /// Lookups it costs where it stands (1, plus an include's whole tree).
    cost: usize,
    /// Its addresses when it can be flattened; why not otherwise.
    set: Result<AddrSet, NotFlat>,
    /// Flattened first: includes (provider lists), biggest first, then mx, then a (the
    /// domain's own hosts, which change with its own infrastructure).
    rank: (u8, std::cmp::Reverse<usize>),
}

/// Flattens the record at the root of `root` (a walk, or a [`super::observe::walk_record`]
/// of a proposed record): includes are replaced by their addresses, biggest tree first, then
/// `mx` and `a`, until the layout (the domain's record plus `_spfN` sub-records, each one
/// TXT string) needs at most 10 lookups. Terms that cannot be flattened are kept; terms in
/// `drop` (as written: includes of names without a record) are left out. `all` is what the
/// record ends with.
pub fn flatten(
    root: &SpfNode,
    domain: &DomainName,
    all: AllPolicy,
    drop: &[String],
) -> Result<Flattened, FlattenError> {
    let rec = match (&root.terms, root.records.as_slice()) {
        (Some(Ok(_)), [one]) => {
            parse_record(one).map_err(|f| FlattenError::Tree(not_flat(root, f.why)))?
        }
        _ => {
            // pass_set says precisely what is wrong with the root.
            pass_set(root).map_err(FlattenError::Tree)?;
            return Err(FlattenError::Tree(not_flat(
                root,
                "its record was not read",
            )));
        }
    };
    let terms = &rec.terms;
    let has_all = terms.iter().any(|t| matches!(t, Term::All { .. }));
    let mut parts: Vec<Part> = Vec::new();
    let mut kept_fixed: Vec<(&str, usize)> = Vec::new();
    let mut set = AddrSet::new();
    for (t, written) in terms.iter().zip(rec.written.iter().map(String::as_str)) {
        if drop.iter().any(|d| d.eq_ignore_ascii_case(written)) {
            continue;
        }
        match t {
            Term::All { .. } => {}
            Term::Redirect { domain } if !has_all => {
                return Err(FlattenError::Redirect {
                    target: domain.clone(),
                });
            }
            Term::Redirect { .. } | Term::Other { .. } => {}
            // exp= costs a lookup only when a receiver explains a fail; kept as it is.
            Term::Exp { .. } => kept_fixed.push((written, 0)),
            _ if t.qualifier() != Some(Qualifier::Pass) => {
                return Err(FlattenError::Qualifiers {
                    term: written.to_string(),
                });
            }
            Term::Ip { addr, prefix, .. } => set.insert_net(*addr, *prefix),
            Term::Ptr { .. } | Term::Exists { .. } => kept_fixed.push((written, 1)),
            Term::Include { domain: d, .. } => {
                let via = format!("include:{d}");
                let child = root.children.iter().find(|c| c.via == via);
                let cost = 1 + child.map_or(0, SpfNode::total_lookups);
                let set = match child {
                    Some(c) => pass_set(c),
                    None => Err(not_flat(root, format!("{via} was not followed"))),
                };
                parts.push(Part {
                    written,
                    cost,
                    set,
                    rank: (0, std::cmp::Reverse(cost)),
                });
            }
            Term::A { .. } | Term::Mx { .. } => parts.push(Part {
                written,
                cost: 1,
                set: term_set(root, t),
                rank: (
                    if matches!(t, Term::Mx { .. }) { 1 } else { 2 },
                    std::cmp::Reverse(1),
                ),
            }),
        }
    }
    for p in &parts {
        if let Ok(s) = &p.set
            && (s.is_everything_v4() || s.is_everything_v6())
        {
            return Err(FlattenError::Everything {
                term: p.written.to_string(),
            });
        }
    }
    let lookups_before = root.total_lookups();
    // Flattening order: by rank; parts that cannot be flattened never move.
    let mut order: Vec<usize> = (0..parts.len()).filter(|&i| parts[i].set.is_ok()).collect();
    order.sort_by_key(|&i| parts[i].rank);
    let not_flat: Vec<NotFlat> = parts
        .iter()
        .filter_map(|p| p.set.as_ref().err().cloned())
        .collect();
    let mut last = None;
    for k in 0..=order.len() {
        let chosen = &order[..k];
        let mut all_set = set.clone();
        let mut kept = Vec::new();
        let mut cost: usize = kept_fixed.iter().map(|(_, c)| c).sum();
        // Kept terms stay in the order written.
        for (w, _) in &kept_fixed {
            kept.push(w.to_string());
        }
        for (i, p) in parts.iter().enumerate() {
            if chosen.contains(&i) {
                if let Ok(s) = &p.set {
                    all_set.union(s);
                }
            } else {
                kept.push(p.written.to_string());
                cost += p.cost;
            }
        }
        let generated = flattened_layout(domain, &kept, &all_set, all)?;
        let lookups = cost + generated.records.len().saturating_sub(1);
        if lookups <= MAX_LOOKUPS {
            let flattened = chosen
                .iter()
                .map(|&i| parts[i].written.to_string())
                .collect();
            // Kept terms that could be flattened still pass their addresses.
            let mut pass = all_set;
            for (i, p) in parts.iter().enumerate() {
                if let (false, Ok(s)) = (chosen.contains(&i), &p.set) {
                    pass.union(s);
                }
            }
            return Ok(Flattened {
                generated,
                lookups,
                lookups_before,
                flattened,
                kept,
                not_flat,
                pass,
            });
        }
        last = Some(lookups);
    }
    let why = if not_flat.is_empty() {
        "the addresses alone fill more sub-records than the lookups allow".to_string()
    } else {
        format!(
            "these terms cannot be flattened: {}",
            not_flat
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    Err(FlattenError::StillOver {
        lookups: last.unwrap_or(lookups_before),
        why,
    })
}
