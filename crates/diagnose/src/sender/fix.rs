//! The records to publish instead: for each sender-side problem a record can fix, what the
//! domain publishes today and the corrected record, judged purely from the observations.

// `mxray records fix` prints these; `judge` appends the same corrected records to the
// findings they answer, so diagnose and records never propose two different fixes.

use mxray_core::address::Target;
use mxray_core::{DomainName, Finding, Severity};
use mxray_net::Dns;
use mxray_records::spf::AllPolicy;
use mxray_records::{DnsRecord, Generated, ServedFile};
use serde::Serialize;

use super::spf::flatten::flatten;
use super::spf::record::{MAX_LOOKUPS, Qualifier, Term, parse_record};
use super::tags::{tag, tags};
use super::{SenderObs, SenderOptions, dmarc, mta_sts, spf, txt_records};
use crate::recipient::collect::Options;
use crate::recipient::observe::Observations;

/// One correction: the findings it answers, what is published, what to publish instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RecordFix {
    /// The finding ids it answers (`spf.multiple`, `dmarc.missing`...).
    pub findings: Vec<&'static str>,
    /// Each problem in a sentence, with what the correction does about it.
    pub problems: Vec<String>,
    /// What is published today at the names concerned (records, the served policy file).
    /// Outside text: escape it for display.
    pub current: Generated,
    /// What to publish instead: replace the current records at these names.
    pub corrected: Generated,
}

/// Every correction for the observed sender side, in report order (SPF, DMARC, MTA-STS).
/// `obs` gives the MX hosts an MTA-STS policy must list and the time of the run (a fresh
/// MTA-STS id).
pub fn fixes(s: &SenderObs, obs: &Observations) -> Vec<RecordFix> {
    let d = DomainName::from_dns(&s.domain);
    let mut out = Vec::new();
    out.extend(spf_fix(s, &d));
    out.extend(dmarc_fixes(s, &d));
    out.extend(mta_sts_fix(s, obs, &d));
    out
}

fn txt_at(name: &str, values: &[String]) -> Generated {
    Generated {
        records: values
            .iter()
            .map(|v| DnsRecord::txt(name, v.clone()))
            .collect(),
        ..Generated::default()
    }
}

/// What the record ends with, made safe: `-all` stays, anything else becomes `~all`.
fn all_of(terms: &[Term]) -> (AllPolicy, Option<String>) {
    let all = terms.iter().find_map(|t| match t {
        Term::All { q } => Some(*q),
        _ => None,
    });
    let redirect = terms.iter().any(|t| matches!(t, Term::Redirect { .. }));
    match all {
        Some(Qualifier::Fail) => (AllPolicy::Fail, None),
        Some(Qualifier::SoftFail) => (AllPolicy::SoftFail, None),
        Some(Qualifier::Pass) => (
            AllPolicy::SoftFail,
            Some("+all authorised every address on the internet: replaced by ~all (move to -all once reports show every sender listed)".to_string()),
        ),
        Some(Qualifier::Neutral) => (
            AllPolicy::SoftFail,
            Some("?all said nothing about unlisted hosts: replaced by ~all (move to -all once reports show every sender listed)".to_string()),
        ),
        None if !redirect => (
            AllPolicy::SoftFail,
            Some("the record had no all term: ~all added".to_string()),
        ),
        None => (AllPolicy::SoftFail, None),
    }
}

/// The SPF correction: several records merged into one, a permissive or missing `all`
/// replaced, includes of names without a record dropped, and a record over 10 lookups
/// flattened, all in one record (one name holds one SPF record).
pub fn spf_fix(s: &SenderObs, d: &DomainName) -> Option<RecordFix> {
    let root = s.spf.as_ref()?;
    if root.txt.outcome.is_failure() || root.records.is_empty() {
        return None;
    }
    let current = txt_at(&s.domain, &root.records);
    let mut findings = Vec::new();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    if root.records.len() > 1 {
        let (merged, merge_notes) = merge(&root.records);
        findings.push(spf::MULTIPLE);
        problems.push(format!(
            "{} SPF records at {d}: receivers answer permerror for every message; merged into one",
            root.records.len()
        ));
        notes.extend(merge_notes);
        notes.push(format!("Publish the merged record, then check what it costs: mxray records fix {d} again (over {MAX_LOOKUPS} lookups it is flattened)."));
        return Some(RecordFix {
            findings,
            problems,
            current,
            corrected: Generated {
                records: vec![DnsRecord::txt(&s.domain, merged)],
                files: Vec::new(),
                notes,
            },
        });
    }
    let rec = parse_record(&root.records[0]).ok()?;
    let (all, all_problem) = all_of(&rec.terms);
    if let Some(p) = all_problem {
        findings.push(spf::PERMISSIVE_ALL);
        problems.push(p);
    }
    // Includes whose target publishes no SPF record make every evaluation a permerror.
    let dead: Vec<String> = root
        .children
        .iter()
        .filter(|c| {
            c.via.starts_with("include:")
                && c.loop_to.is_none()
                && c.not_followed.is_none()
                && !c.txt.outcome.is_failure()
                && c.records.is_empty()
        })
        .map(|c| c.via.clone())
        .collect();
    // The dead includes' terms as written (`+include:x` and `include:x` both name x).
    let dead_written: Vec<String> = rec
        .terms
        .iter()
        .zip(&rec.written)
        .filter(|(t, _)| matches!(t, Term::Include { domain, .. } if dead.contains(&format!("include:{domain}"))))
        .map(|(_, w)| w.clone())
        .collect();
    for v in &dead {
        findings.push(spf::INCLUDE_MISSING);
        problems.push(format!(
            "{v} names no SPF record (a permerror for every message): removed; if a provider renamed its include, add the new name"
        ));
    }
    // What the record costs once the dead includes are gone.
    let lookups = root.total_lookups().saturating_sub(dead.len());
    let mut corrected = None;
    if lookups > MAX_LOOKUPS {
        match flatten(root, d, all, &dead_written) {
            Ok(f) => {
                findings.push(spf::TOO_MANY_LOOKUPS);
                problems.push(format!(
                    "{lookups} DNS lookups, over RFC 7208's {MAX_LOOKUPS}: flattened to {} ({} replaced by their addresses)",
                    f.lookups,
                    f.flattened.join(", ")
                ));
                let mut g = f.generated;
                g.notes.push(format!(
                    "Check for drift regularly (a provider's new ranges fail until added): mxray records fix {d} reports a published flattened record against its providers' current lists when it is over {MAX_LOOKUPS} lookups again, and mxray records spf {d} --check-flattened with the record's original terms compares them."
                ));
                corrected = Some(g);
            }
            Err(e) => notes.push(format!(
                "The record needs {lookups} lookups (over {MAX_LOOKUPS}) and cannot be flattened: {e}"
            )),
        }
    }
    if findings.is_empty() {
        return None;
    }
    let corrected = match corrected {
        Some(mut g) => {
            g.notes.extend(notes);
            g
        }
        None => {
            let mut terms: Vec<String> = Vec::new();
            for (t, w) in rec.terms.iter().zip(&rec.written) {
                if !matches!(t, Term::All { .. }) && !dead_written.contains(w) {
                    terms.push(w.clone());
                }
            }
            let redirect = rec.terms.iter().any(|t| matches!(t, Term::Redirect { .. }));
            let has_all = rec.terms.iter().any(|t| matches!(t, Term::All { .. }));
            if has_all || !redirect {
                terms.push(all.term().to_string());
            }
            Generated {
                records: vec![DnsRecord::txt(
                    &s.domain,
                    format!("v=spf1 {}", terms.join(" ")),
                )],
                files: Vec::new(),
                notes,
            }
        }
    };
    Some(RecordFix {
        findings,
        problems,
        current,
        corrected,
    })
}

/// Several SPF records as one: every mechanism once (in the order first written), `redirect=`
/// turned into `include:` (a record may redirect only once, and the others' mechanisms come
/// first), one `exp=`, and `-all` only when every record ended so (else `~all`: merging must
/// not start refusing mail one of the records let through).
pub fn merge(records: &[String]) -> (String, Vec<String>) {
    let mut terms: Vec<String> = Vec::new();
    let mut notes = Vec::new();
    let mut exp: Option<String> = None;
    let mut every_fail = true;
    let seen = |t: &str, terms: &mut Vec<String>| {
        if !terms.iter().any(|x| x.eq_ignore_ascii_case(t)) {
            terms.push(t.to_string());
        }
    };
    for r in records {
        let rec = match parse_record(r) {
            Ok(rec) => rec,
            Err(e) => {
                every_fail = false;
                notes.push(format!(
                    "\"{}\" does not parse ({}): its terms are left out; add back what it meant",
                    mxray_core::escape_text(r),
                    mxray_core::escape_text(&e.why)
                ));
                continue;
            }
        };
        let mut ended_fail = false;
        for (t, w) in rec.terms.iter().zip(&rec.written) {
            match t {
                Term::All { q } => ended_fail = *q == Qualifier::Fail,
                Term::Redirect { domain } => {
                    notes.push(format!(
                        "redirect={domain} became include:{domain}: the merged record's own all decides for unlisted hosts"
                    ));
                    seen(&format!("include:{domain}"), &mut terms);
                }
                Term::Exp { .. } => {
                    exp.get_or_insert_with(|| w.clone());
                }
                _ => seen(w, &mut terms),
            }
        }
        every_fail &= ended_fail;
    }
    let all = if every_fail { "-all" } else { "~all" };
    if !every_fail {
        notes.push("Not every record ended in -all: the merged record ends in ~all, so no mail one of them let through is refused; move to -all once reports show every sender listed.".to_string());
    }
    terms.push(all.to_string());
    if let Some(e) = exp {
        terms.push(e);
    }
    (format!("v=spf1 {}", terms.join(" ")), notes)
}

/// DMARC: a missing record gets a monitoring starter; a record without `rua=` gets one; an
/// external report domain that has not agreed gets the record it must publish.
fn dmarc_fixes(s: &SenderObs, d: &DomainName) -> Vec<RecordFix> {
    let mut out = Vec::new();
    let Some(dm) = &s.dmarc else { return out };
    if dm.answer.outcome.is_failure() {
        return out;
    }
    let own: Vec<String> = txt_records(&dm.answer)
        .into_iter()
        .filter(|r| dmarc::is_dmarc(r))
        .collect();
    let name = format!("_dmarc.{d}");
    let starter_rua = format!("mailto:dmarc-reports@{d}");
    let inherited = dm
        .org
        .as_ref()
        .is_some_and(|(_, a)| txt_records(a).iter().any(|r| dmarc::is_dmarc(r)));
    if own.is_empty() && !inherited {
        let o = mxray_records::dmarc::DmarcOptions {
            rua: vec![starter_rua.clone()],
            ..Default::default()
        };
        if let Ok(mut g) = mxray_records::dmarc::dmarc(d, &o) {
            g.notes.insert(0, format!("dmarc-reports@{d} must be a mailbox that exists (or put a DMARC report service's address in rua=): aggregate reports arrive there daily."));
            out.push(RecordFix {
                findings: vec![dmarc::MISSING],
                problems: vec![format!(
                    "{d} publishes no DMARC record: a p=none starter that asks for reports"
                )],
                current: Generated::default(),
                corrected: g,
            });
        }
        return out;
    }
    if let [rec] = own.as_slice()
        && let Ok(t) = tags(rec)
        && tag(&t, "rua").is_none_or(|v| v.trim().is_empty())
    {
        let base = rec.trim().trim_end_matches(';').trim_end();
        let without: Vec<String> = base
            .split(';')
            .map(str::trim)
            .filter(|p| !p.to_ascii_lowercase().starts_with("rua"))
            .map(str::to_string)
            .collect();
        let mut g = txt_at(
            &name,
            &[format!("{}; rua={starter_rua}", without.join("; "))],
        );
        g.notes.push(format!("dmarc-reports@{d} must be a mailbox that exists (or use a DMARC report service's address)."));
        out.push(RecordFix {
            findings: vec![dmarc::NO_RUA],
            problems: vec![
                "the DMARC record asks for no aggregate reports: rua= added".to_string(),
            ],
            current: txt_at(&name, &own),
            corrected: g,
        });
    }
    for (rd, a) in &dm.report_auth {
        let ok = txt_records(a).iter().any(|r| dmarc::is_dmarc(r));
        if ok {
            continue;
        }
        let auth = format!("{d}._report._dmarc.{rd}");
        let mut g = txt_at(&auth, &["v=DMARC1".to_string()]);
        g.notes.push(format!("{rd} publishes this, not {d}: ask its administrator (report services often publish *._report._dmarc.{rd} for all their customers)."));
        out.push(RecordFix {
            findings: vec![dmarc::RUA_UNAUTHORIZED],
            problems: vec![format!(
                "reports go to {rd}, which has not agreed to take them (RFC 7489 7.1): receivers send it nothing"
            )],
            current: txt_at(&auth, &txt_records(a)),
            corrected: g,
        });
    }
    out
}

/// MTA-STS: a policy that misses an MX host gets the host added, with a fresh id (senders
/// refetch the policy only when the id changes).
fn mta_sts_fix(s: &SenderObs, obs: &Observations, d: &DomainName) -> Option<RecordFix> {
    let m = s.mta_sts.as_ref()?;
    let p = m.policy.as_ref()?;
    if p.status != Some(200) || p.error.is_some() {
        return None;
    }
    let body = p.body.as_deref()?;
    let policy = mta_sts::parse_policy(body).ok()?;
    if policy.mode == "none" {
        return None;
    }
    let missing = mta_sts::unmatched_mx(&policy, obs);
    if missing.is_empty() {
        return None;
    }
    let mode = mxray_records::mta_sts::Mode::parse(&policy.mode).ok()?;
    let mut mx = policy.mx.clone();
    mx.extend(missing.iter().map(|h| h.trim_end_matches('.').to_string()));
    let max_age = policy.max_age.clamp(1, mta_sts::MAX_AGE_MAX);
    let id = mxray_records::mta_sts::fresh_id(u64::try_from(obs.at_unix).unwrap_or(0));
    let corrected = mxray_records::mta_sts::mta_sts(d, mode, &mx, max_age, &id).ok()?;
    let txt_name = format!("_mta-sts.{d}");
    let mut current = txt_at(&txt_name, &txt_records(&m.txt));
    current.files.push(ServedFile {
        url: p.url.clone(),
        content_type: p.content_type.clone().unwrap_or_default(),
        body: body.to_string(),
    });
    Some(RecordFix {
        findings: vec![mta_sts::MX_MISMATCH],
        problems: vec![format!(
            "the MTA-STS policy does not list {}: {} senders {} mail to it; added, with a new id",
            missing
                .iter()
                .map(|h| h.trim_end_matches('.'))
                .collect::<Vec<_>>()
                .join(", "),
            if policy.mode == "enforce" {
                "enforcing"
            } else {
                "in testing mode,"
            },
            if policy.mode == "enforce" {
                "refuse"
            } else {
                "would refuse"
            },
        )],
        current,
        corrected,
    })
}

/// The corrected records written into a finding's fix: the zone lines (and served files) to
/// publish. Shared by `judge` and the printers of `records fix`.
pub fn publish_text(g: &Generated) -> String {
    let mut out = String::from("Publish instead:");
    for r in &g.records {
        out.push_str("\n  ");
        out.push_str(&r.zone_line(mxray_records::DEFAULT_TTL));
    }
    for f in &g.files {
        out.push_str(&format!("\n  and serve at {} ({}):", f.url, f.content_type));
        for l in f.body.lines() {
            out.push_str("\n    ");
            out.push_str(l);
        }
    }
    out
}

/// What `mxray records fix` reports for a domain.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FixReport {
    pub domain: String,
    /// One correction per record to replace, in report order.
    pub fixes: Vec<RecordFix>,
    /// The failing and warning sender-side findings no record correction answers (they need
    /// a person: a key to rotate, a server to configure), for context.
    pub unfixed: Vec<Finding>,
}

/// Observes the domain's sender side (SPF, DMARC, MTA-STS, with its MX hosts but no SMTP
/// session), judges it, and proposes the corrections. A merged SPF record over 10 lookups is
/// walked as if published and flattened.
pub async fn fix_domain(
    dns: &Dns,
    target: Target,
    opts: &Options,
    sender: &SenderOptions,
) -> FixReport {
    let domain = target.domain_ascii.to_string();
    let (mut obs, s) = tokio::join!(
        crate::recipient::collect::collect_unprobed(dns, target, opts),
        super::collect_sender(dns, &domain, sender, &opts.activity, &opts.policy)
    );
    let mut fixes = fixes(&s, &obs);
    for f in &mut fixes {
        settle_merged_spf(dns, &domain, f).await;
    }
    let areas = sender.areas;
    obs.sender = Some(s);
    let answered: Vec<&str> = fixes
        .iter()
        .flat_map(|f| f.findings.iter().copied())
        .collect();
    let unfixed = obs
        .sender
        .as_ref()
        .map(|s| super::judge(s, &obs, areas))
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.severity >= Severity::Warn && !answered.contains(&f.id))
        .collect();
    FixReport {
        domain,
        fixes,
        unfixed,
    }
}

/// A merged SPF record (the correction for `spf.multiple`) is walked as if published: over 10
/// lookups it is flattened in place, otherwise its cost is noted. Other corrections are left
/// as they are.
pub async fn settle_merged_spf(dns: &Dns, domain: &str, f: &mut RecordFix) {
    if f.findings.first() != Some(&spf::MULTIPLE) {
        return;
    }
    let Some(merged) = f.corrected.records.first().map(|r| r.value.clone()) else {
        return;
    };
    let tree = spf::walk_record(dns, domain, &merged).await;
    let lookups = tree.total_lookups();
    f.corrected
        .notes
        .retain(|n| !n.starts_with("Publish the merged record"));
    if lookups <= MAX_LOOKUPS {
        f.corrected.notes.push(format!(
            "The merged record spends {lookups} of RFC 7208's {MAX_LOOKUPS} DNS lookups."
        ));
        return;
    }
    let all = parse_record(&merged).map_or(AllPolicy::SoftFail, |r| all_of(&r.terms).0);
    match flatten(&tree, &DomainName::from_dns(domain), all, &[]) {
        Ok(fl) => {
            // A problem of the merged record, not yet a finding of the published ones.
            f.problems.push(format!(
                "merged, the record needs {lookups} DNS lookups, over RFC 7208's {MAX_LOOKUPS}: flattened to {} ({} replaced by their addresses)",
                fl.lookups,
                fl.flattened.join(", ")
            ));
            let mut g = fl.generated;
            g.notes.append(&mut f.corrected.notes);
            f.corrected = g;
        }
        Err(e) => f.corrected.notes.push(format!(
            "Merged, the record needs {lookups} lookups (over {MAX_LOOKUPS}) and cannot be flattened: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sender::dmarc::DmarcObs;
    use crate::sender::testing::{recipient, sender, txt};

    #[test]
    fn merging_keeps_every_mechanism_once_and_the_weaker_all() {
        let (m, notes) = merge(&[
            "v=spf1 include:_spf.a.example ip4:192.0.2.0/24 -all".to_string(),
            "v=spf1 IP4:192.0.2.0/24 mx redirect=_spf.b.example exp=why.example".to_string(),
        ]);
        assert_eq!(
            m,
            "v=spf1 include:_spf.a.example ip4:192.0.2.0/24 mx include:_spf.b.example ~all exp=why.example"
        );
        assert!(parse_record(&m).is_ok());
        assert!(notes.iter().any(|n| n.contains("redirect=_spf.b.example")));
        // Every record ending -all keeps -all; a record that does not parse is left out, said.
        let (m, notes) = merge(&[
            "v=spf1 a -all".to_string(),
            "v=spf1 mx -all".to_string(),
            "v=spf1 ip4:300.0.0.1 -all".to_string(),
        ]);
        assert_eq!(m, "v=spf1 a mx ~all");
        assert!(notes.iter().any(|n| n.contains("does not parse")));
        let (m, _) = merge(&["v=spf1 a -all".to_string(), "v=spf1 mx -all".to_string()]);
        assert_eq!(m, "v=spf1 a mx -all");
    }

    fn with_spf(records: &[&str]) -> SenderObs {
        let mut s = sender("example.com");
        let answer = txt("example.com", records);
        s.spf = Some(spf::SpfNode {
            domain: "example.com".into(),
            via: String::new(),
            records: records.iter().map(|r| r.to_string()).collect(),
            sender_id: Vec::new(),
            terms: (records.len() == 1).then(|| spf::record::parse(records[0])),
            term_lookups: Vec::new(),
            children: Vec::new(),
            loop_to: None,
            not_followed: None,
            txt: answer,
        });
        s
    }

    #[test]
    fn permissive_or_missing_all_becomes_softfail() {
        let d = DomainName::from_dns("example.com");
        for (rec, want) in [
            ("v=spf1 mx +all", "v=spf1 mx ~all"),
            ("v=spf1 mx ?all", "v=spf1 mx ~all"),
            ("v=spf1 ip4:192.0.2.1", "v=spf1 ip4:192.0.2.1 ~all"),
        ] {
            let f = spf_fix(&with_spf(&[rec]), &d).expect(rec);
            assert_eq!(f.findings, [spf::PERMISSIVE_ALL], "{rec}");
            assert_eq!(f.current.records[0].value, rec);
            assert_eq!(f.corrected.records[0].value, want);
        }
        // -all, ~all and redirect= without all need nothing.
        for rec in [
            "v=spf1 mx -all",
            "v=spf1 mx ~all",
            "v=spf1 redirect=_spf.example.net",
        ] {
            assert!(spf_fix(&with_spf(&[rec]), &d).is_none(), "{rec}");
        }
    }

    #[test]
    fn dmarc_starter_rua_and_authorisation() {
        let obs = recipient("example.com", &["mx.example.com"], Vec::new());
        let mut s = sender("example.com");
        s.dmarc = Some(DmarcObs {
            answer: txt("_dmarc.example.com", &[]),
            org: None,
            report_auth: Vec::new(),
        });
        let f = fixes(&s, &obs);
        assert_eq!(f[0].findings, [dmarc::MISSING]);
        assert_eq!(
            f[0].corrected.records[0].value,
            "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com"
        );
        s.dmarc = Some(DmarcObs {
            answer: txt("_dmarc.example.com", &["v=DMARC1; p=reject; adkim=s;"]),
            org: None,
            report_auth: vec![(
                "reports.example.net".into(),
                txt("example.com._report._dmarc.reports.example.net", &[]),
            )],
        });
        let f = fixes(&s, &obs);
        assert_eq!(f[0].findings, [dmarc::NO_RUA]);
        assert_eq!(
            f[0].corrected.records[0].value,
            "v=DMARC1; p=reject; adkim=s; rua=mailto:dmarc-reports@example.com"
        );
        assert_eq!(f[1].findings, [dmarc::RUA_UNAUTHORIZED]);
        assert_eq!(
            f[1].corrected.records[0].name,
            "example.com._report._dmarc.reports.example.net"
        );
        // The judge shows the same record in the finding's fix.
        let judged = crate::sender::judge(&s, &obs, crate::Areas::all());
        let fix = judged
            .iter()
            .find(|x| x.id == dmarc::NO_RUA)
            .and_then(|x| x.fix.clone())
            .unwrap_or_default();
        assert!(
            fix.contains("rua=mailto:dmarc-reports@example.com\""),
            "{fix}"
        );
    }
}
