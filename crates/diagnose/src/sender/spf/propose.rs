//! SPF records proposed before they are published: a generated record walked as if published
//! and flattened when over 10 lookups, and a published flattened record checked for drift.

use mxray_core::DomainName;
use mxray_net::Dns;
use mxray_records::spf::{AddrSet, SpfSpec, spf};
use mxray_records::{Generated, RecordsError};
use serde::Serialize;

use super::flatten::{FlattenError, Flattened, NotFlat, pass_set_keeping};
use super::observe::{SpfNode, walk, walk_record};
use super::record::{MAX_LOOKUPS, MAX_VOID};

/// Why no record can be proposed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error(transparent)]
    Records(#[from] RecordsError),
    #[error("{at}: {why}; check the name the provider documents for its include (or leave it out)")]
    Include { at: String, why: String },
    #[error(transparent)]
    Flatten(#[from] FlattenError),
    #[error("the record cannot be compared with {domain}'s: {why}")]
    NotComparable { domain: String, why: String },
}

/// A record for `spec`: as asked when it fits in 10 lookups, flattened otherwise.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SpfProposal {
    /// The record as asked, before any flattening.
    pub record: String,
    /// Lookups an evaluation of the record as asked spends.
    pub lookups: usize,
    /// What to publish: the record as asked, or the flattened layout.
    pub generated: Generated,
    /// Set when the record as asked was over 10 lookups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flattened: Option<Flattened>,
}

/// Builds the record for `spec`, walks it (its includes through DNS) as receivers would, and
/// flattens it when it needs more than 10 lookups. An include that names no SPF record, loops
/// or fails to resolve is refused: published, it would make every evaluation an error.
pub async fn propose_spf(dns: &Dns, spec: &SpfSpec) -> Result<SpfProposal, ProposeError> {
    let mut g = spf(spec)?;
    let record = g
        .records
        .first()
        .map(|r| r.value.clone())
        .unwrap_or_default();
    let root = walk_record(dns, &spec.domain, &record).await;
    check_includes(&root)?;
    let lookups = root.total_lookups();
    let void = root.total_void();
    if void > MAX_VOID {
        g.notes.push(format!(
            "{void} of the record's lookups come back empty (RFC 7208 allows {MAX_VOID}): receivers answer permerror; remove the a/mx/include terms that name nothing"
        ));
    }
    if lookups <= MAX_LOOKUPS {
        g.notes.push(format!(
            "The record spends {lookups} of RFC 7208's {MAX_LOOKUPS} DNS lookups (its includes' own included)."
        ));
        return Ok(SpfProposal {
            record,
            lookups,
            generated: g,
            flattened: None,
        });
    }
    let f = super::flatten::flatten(&root, &spec.domain, spec.all, &[])?;
    let mut generated = f.generated.clone();
    generated.notes.insert(
        0,
        format!(
            "As asked the record needs {lookups} DNS lookups, over RFC 7208's {MAX_LOOKUPS} (receivers answer permerror): flattened to {} ({} replaced by the addresses they list today).",
            f.lookups,
            f.flattened.join(", ")
        ),
    );
    if f.lookups == MAX_LOOKUPS {
        generated.notes.push(format!(
            "The layout is at the limit of {MAX_LOOKUPS} lookups: one more include in a kept provider's record makes it a permerror; --check-flattened reports the lookups too."
        ));
    }
    for nf in &f.not_flat {
        generated
            .notes
            .push(format!("{} stays as it is: {}", nf.at, nf.why));
    }
    Ok(SpfProposal {
        record,
        lookups,
        generated,
        flattened: Some(f),
    })
}

/// Refuses a tree whose includes would break every evaluation.
fn check_includes(root: &SpfNode) -> Result<(), ProposeError> {
    for c in &root.children {
        if c.not_followed.is_some() {
            // A macro include is expanded per sender: it cannot be checked here.
            continue;
        }
        let why = if let Some(to) = &c.loop_to {
            Some(format!("it loops back to {to}"))
        } else if c.txt.outcome.is_failure() {
            Some(format!("its TXT lookup failed ({:?})", c.txt.outcome))
        } else {
            match c.records.len() {
                0 => Some("it publishes no SPF record".to_string()),
                1 => None,
                k => Some(format!("it publishes {k} SPF records")),
            }
        };
        if let Some(why) = why {
            return Err(ProposeError::Include {
                at: c.via.clone(),
                why,
            });
        }
    }
    Ok(())
}

/// The published record against what `spec` authorises today.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Drift {
    pub domain: String,
    /// The SPF records published at the domain (outside text).
    pub published: Vec<String>,
    /// Lookups the published record spends.
    pub lookups: usize,
    /// Networks `spec` authorises (its includes' current lists) that the published record
    /// does not pass: mail from them fails SPF. As SPF terms.
    pub missing: Vec<String>,
    /// Networks the published record passes that `spec` no longer authorises (a provider
    /// dropped them): anyone who gets those addresses may send as the domain.
    pub extra: Vec<String>,
    /// Includes that decide per sender (`exists:`, macros): compared by name, not address.
    pub kept: Vec<String>,
    /// Set when the published record keeps other such includes than `kept`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_kept: Option<Vec<String>>,
    /// True when nothing is missing nor extra, the same includes are kept, and the record
    /// fits in 10 lookups.
    pub in_sync: bool,
}

/// Compares what the domain publishes (its record and `_spfN` sub-records, walked) with what
/// `spec` authorises now (its includes walked afresh): the drift of a flattened record.
pub async fn check_flattened(dns: &Dns, spec: &SpfSpec) -> Result<Drift, ProposeError> {
    let g = spf(spec)?;
    let record = g
        .records
        .first()
        .map(|r| r.value.clone())
        .unwrap_or_default();
    let (intended, published) = tokio::join!(
        walk_record(dns, &spec.domain, &record),
        walk(dns, &spec.domain)
    );
    check_includes(&intended)?;
    let (want, mut want_kept) =
        pass_set_keeping(&intended).map_err(|e| not_comparable(&spec.domain, e))?;
    let (have, mut have_kept) =
        pass_set_keeping(&published).map_err(|e| not_comparable(&spec.domain, e))?;
    let (missing, extra) = difference(&want, &have);
    let lookups = published.total_lookups();
    want_kept.sort();
    have_kept.sort();
    let kept_differ = want_kept != have_kept;
    Ok(Drift {
        domain: spec.domain.to_string(),
        published: published.records.clone(),
        lookups,
        in_sync: missing.is_empty() && extra.is_empty() && !kept_differ && lookups <= MAX_LOOKUPS,
        missing,
        extra,
        kept: want_kept,
        published_kept: kept_differ.then_some(have_kept),
    })
}

fn not_comparable(d: &DomainName, e: NotFlat) -> ProposeError {
    ProposeError::NotComparable {
        domain: d.to_string(),
        why: e.to_string(),
    }
}

/// `want − have` and `have − want`, as SPF terms.
fn difference(want: &AddrSet, have: &AddrSet) -> (Vec<String>, Vec<String>) {
    let mut missing = want.clone();
    missing.subtract(have);
    let mut extra = have.clone();
    extra.subtract(want);
    (missing.terms(), extra.terms())
}
