//! DMARC (RFC 7489, with DMARCbis notes): the policy record (own or organisational), the
//! external report authorisations, and their judgement.

use mxray_core::DomainName;
use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{Dns, DnsAnswer, DnsOutcome, RType};
use serde::Serialize;
use tokio::task::JoinSet;

use super::tags::{tag, tags};
use super::{SenderObs, outcome_word, txt_records};

use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const MISSING: &str = "dmarc.missing";
pub const MULTIPLE: &str = "dmarc.multiple";
pub const SYNTAX: &str = "dmarc.syntax";
pub const POLICY_NONE: &str = "dmarc.policy_none";
pub const PCT: &str = "dmarc.pct";
pub const SUBDOMAIN_NONE: &str = "dmarc.subdomain_none";
pub const NO_RUA: &str = "dmarc.no_rua";
pub const RUA_UNAUTHORIZED: &str = "dmarc.rua_unauthorized";
pub const INHERITED: &str = "dmarc.inherited";
pub const DNS_ERROR: &str = "dmarc.dns_error";
pub const OK: &str = "dmarc.ok";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Auth,
    recipient: false,
    ids: &[
        MISSING,
        MULTIPLE,
        SYNTAX,
        POLICY_NONE,
        PCT,
        SUBDOMAIN_NONE,
        NO_RUA,
        RUA_UNAUTHORIZED,
        INHERITED,
        DNS_ERROR,
        OK,
    ],
};

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DmarcObs {
    pub answer: DnsAnswer,
    /// The organisational domain (public suffix list) and its `_dmarc`, when it differs.
    pub org: Option<(String, DnsAnswer)>,
    /// `DOMAIN._report._dmarc.REPORTDOMAIN` for each external report domain.
    pub report_auth: Vec<(String, DnsAnswer)>,
}

/// `_dmarc.DOMAIN`, the organisational domain's record when it differs, and the report
/// authorisations of external report domains (RFC 7489 7.1).
pub async fn observe(dns: &Dns, d: &str) -> DmarcObs {
    let org = DomainName::from_dns(d).registrable();
    let own = format!("_dmarc.{d}");
    let (answer, org_answer) = tokio::join!(dns.query(&own, RType::Txt), async {
        if org != d {
            Some(dns.query(&format!("_dmarc.{org}"), RType::Txt).await)
        } else {
            None
        }
    });
    // External report destinations must authorise us (RFC 7489 7.1).
    let record = txt_records(&answer)
        .into_iter()
        .chain(org_answer.iter().flat_map(txt_records))
        .find(|t| is_dmarc(t));
    let mut report_auth = Vec::new();
    if let Some(r) = record {
        let mut domains: Vec<String> = Vec::new();
        for uri in dmarc_uris(&r) {
            if let Some(rd) = mailto_domain(&uri)
                && DomainName::from_dns(&rd).registrable() != org
                && !domains.contains(&rd)
            {
                domains.push(rd);
            }
        }
        let mut set = JoinSet::new();
        for rd in domains.into_iter().take(8) {
            let dns = dns.clone();
            let name = format!("{d}._report._dmarc.{rd}");
            set.spawn(async move { (rd, dns.query(&name, RType::Txt).await) });
        }
        while let Some(Ok(x)) = set.join_next().await {
            report_auth.push(x);
        }
        report_auth.sort_by(|a, b| a.0.cmp(&b.0));
    }
    DmarcObs {
        answer,
        org: org_answer.map(|a| (org.into_string(), a)),
        report_auth,
    }
}

/// The `rua` and `ruf` URIs of a DMARC record.
pub fn dmarc_uris(record: &str) -> Vec<String> {
    let Ok(t) = tags(record) else {
        return Vec::new();
    };
    ["rua", "ruf"]
        .iter()
        .filter_map(|k| tag(&t, k))
        .flat_map(|v| v.split(','))
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect()
}

/// The domain of a `mailto:` URI (size suffix `!10m` removed).
pub fn mailto_domain(uri: &str) -> Option<String> {
    let rest = uri
        .get(..7)?
        .eq_ignore_ascii_case("mailto:")
        .then(|| &uri[7..])?;
    let addr = rest.split('!').next()?;
    let (_, dom) = addr.rsplit_once('@')?;
    let dom = DomainName::from_dns(dom).into_string();
    (!dom.is_empty()).then_some(dom)
}

/// The policy a DMARC record publishes, if it parses.
/// A DMARC record: its text starts with `v=DMARC1` (case-insensitive, leading spaces allowed).
pub fn is_dmarc(txt: &str) -> bool {
    txt.trim_start()
        .get(..8)
        .is_some_and(|v| v.eq_ignore_ascii_case("v=dmarc1"))
}

pub fn dmarc_policy(s: &SenderObs) -> Option<(String, u32)> {
    let dm = s.dmarc.as_ref()?;
    let recs: Vec<String> = txt_records(&dm.answer)
        .into_iter()
        .chain(dm.org.iter().flat_map(|(_, a)| txt_records(a)))
        .filter(|r| is_dmarc(r))
        .collect();
    let t = tags(recs.first()?).ok()?;
    let p = tag(&t, "p")?.to_ascii_lowercase();
    let pct = tag(&t, "pct").and_then(|v| v.parse().ok()).unwrap_or(100);
    Some((p, pct))
}

/// Every DMARC finding.
pub fn findings(s: &SenderObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(dm) = &s.dmarc else { return f };
    let d = &s.domain;
    let own: Vec<String> = txt_records(&dm.answer)
        .into_iter()
        .filter(|r| is_dmarc(r))
        .collect();
    let (records, at, ev, inherited) = if !own.is_empty() {
        (own, format!("_dmarc.{d}"), dm.answer.evidence(), false)
    } else if let Some((org, a)) = &dm.org {
        let mut ev = dm.answer.evidence();
        ev.extend(a.evidence());
        let r: Vec<String> = txt_records(a).into_iter().filter(|r| is_dmarc(r)).collect();
        (r, format!("_dmarc.{org}"), ev, true)
    } else {
        (
            Vec::new(),
            format!("_dmarc.{d}"),
            dm.answer.evidence(),
            false,
        )
    };
    if let DnsOutcome::ServFail | DnsOutcome::Timeout | DnsOutcome::Refused | DnsOutcome::Error(_) =
        &dm.answer.outcome
    {
        f.push(
            Finding::new(
                DNS_ERROR,
                Severity::Warn,
                format!(
                    "The DMARC lookup at _dmarc.{d} failed ({})",
                    outcome_word(&dm.answer.outcome)
                ),
            )
            .detail("Receivers cannot read the policy: they treat it as temperror.")
            .evidence(ev)
            .fix(format!(
                "dig TXT _dmarc.{d}; check the domain's name servers"
            )),
        );
        return f;
    }
    if records.is_empty() {
        f.push(
            Finding::new(MISSING, Severity::Fail, format!("{d} publishes no DMARC record"))
                .detail("No v=DMARC1 TXT record at _dmarc (nor at the organisational domain). Gmail and Yahoo require DMARC from bulk senders (2024), and without it spoofed mail under the domain is judged on heuristics alone.")
                .evidence(ev)
                .fix(format!("Publish TXT at _dmarc.{d}: \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\", read the reports, then move to p=quarantine and p=reject")),
        );
        return f;
    }
    if records.len() > 1 {
        f.push(
            Finding::new(MULTIPLE, Severity::Fail, format!("{at} publishes {} DMARC records", records.len()))
                .detail("RFC 7489 6.6.3: with more than one record, receivers apply no DMARC policy at all.")
                .evidence(ev)
                .fix("Keep exactly one v=DMARC1 record"),
        );
        return f;
    }
    let rec = &records[0];
    if inherited {
        f.push(
            Finding::new(INHERITED, Severity::Info, format!("DMARC for {d} comes from the organisational domain ({at})"))
                .detail("RFC 7489 6.6.3: with no record of its own, a subdomain follows its organisational domain's record (its sp= policy).")
                .evidence(ev.clone()),
        );
    }
    let t = match tags(rec) {
        Ok(t) => t,
        Err(e) => {
            f.push(dmarc_syntax(&e, ev));
            return f;
        }
    };
    if t.first().map(|(k, v)| (k.as_str(), v.as_str())) != Some(("v", "DMARC1")) {
        f.push(dmarc_syntax("v=DMARC1 must be the first tag, exactly", ev));
        return f;
    }
    let mut problems = Vec::new();
    let pol = |v: &str| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "none" | "quarantine" | "reject"
        )
    };
    let p = tag(&t, "p");
    match p {
        None => problems.push(
            "no p= tag (receivers treat the record as p=none only if rua is valid)".to_string(),
        ),
        Some(v) if !pol(v) => problems.push(format!(
            "p={} is not none, quarantine or reject",
            escape_text(v)
        )),
        _ => {}
    }
    for k in ["sp", "np"] {
        if let Some(v) = tag(&t, k)
            && !pol(v)
        {
            problems.push(format!(
                "{k}={} is not none, quarantine or reject",
                escape_text(v)
            ));
        }
    }
    for k in ["adkim", "aspf"] {
        if let Some(v) = tag(&t, k)
            && !matches!(v, "r" | "s")
        {
            problems.push(format!("{k}={} must be r or s", escape_text(v)));
        }
    }
    let pct = match tag(&t, "pct") {
        None => 100,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n <= 100 => n,
            _ => {
                problems.push(format!("pct={} is not 0-100", escape_text(v)));
                100
            }
        },
    };
    for uri in dmarc_uris(rec) {
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("mailto:") {
            if mailto_domain(&uri).is_none() {
                problems.push(format!("{} is not a mailto: address", escape_text(&uri)));
            }
        } else if !lower.starts_with("https:") {
            problems.push(format!("report URI {} is not mailto:", escape_text(&uri)));
        }
    }
    if !problems.is_empty() {
        f.push(dmarc_syntax(&problems.join("; "), ev.clone()));
    }
    let policy = if inherited { tag(&t, "sp").or(p) } else { p }
        .unwrap_or("none")
        .to_ascii_lowercase();
    if policy == "none" {
        f.push(
            Finding::new(POLICY_NONE, Severity::Warn, format!("DMARC policy for {d} is p=none (monitoring only)"))
                .detail("Receivers report but do not act on failing mail: spoofing still gets through. Fine while reading reports; not a protection.")
                .evidence(ev.clone())
                .fix("After the aggregate reports show your legitimate mail passing, move to p=quarantine, then p=reject"),
        );
    }
    if pct < 100 && policy != "none" {
        f.push(
            Finding::new(PCT, Severity::Warn, format!("DMARC applies to only {pct}% of failing mail"))
                .detail("pct<100 leaves the rest to the next weaker policy. DMARCbis drops pct in favour of t=y (testing).")
                .evidence(ev.clone())
                .fix("Raise pct to 100 (or remove it)"),
        );
    }
    if p.is_some_and(|v| !v.eq_ignore_ascii_case("none"))
        && tag(&t, "sp").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        f.push(
            Finding::new(
                SUBDOMAIN_NONE,
                Severity::Warn,
                "Subdomains are exempt (sp=none)",
            )
            .detail("Spoofers can send from any subdomain that does not publish its own record.")
            .evidence(ev.clone())
            .fix("Remove sp=none, or set sp=quarantine/reject"),
        );
    }
    let rua: Vec<String> = tag(&t, "rua")
        .map(|v| v.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_default();
    if rua.iter().all(|u| u.is_empty()) {
        f.push(
            Finding::new(NO_RUA, Severity::Warn, "DMARC asks for no aggregate reports (no rua=)")
                .detail("Without rua you cannot see who sends as the domain nor whether it passes, so moving to reject is blind.")
                .evidence(ev.clone())
                .fix(format!("Add rua=mailto:dmarc-reports@{d} (or a DMARC report service's address)")),
        );
    }
    for (rd, a) in &dm.report_auth {
        let ok = txt_records(a).iter().any(|r| is_dmarc(r));
        if !ok {
            f.push(
                Finding::new(RUA_UNAUTHORIZED, Severity::Warn, format!("Reports go to {rd}, which has not authorised them"))
                    .detail(format!("RFC 7489 7.1: a report address outside the domain must publish {d}._report._dmarc.{rd} TXT \"v=DMARC1\"; receivers skip unauthorised destinations, so no reports arrive."))
                    .evidence(a.evidence())
                    .fix(format!("Have {rd} publish TXT \"v=DMARC1\" at {d}._report._dmarc.{rd} (or *._report._dmarc.{rd})")),
            );
        }
    }
    if problems.is_empty() {
        f.push(
            Finding::new(OK, Severity::Pass, format!("DMARC p={policy} for {d}"))
                .detail(format!(
                    "{}; alignment adkim={} aspf={}{}",
                    escape_text(rec),
                    tag(&t, "adkim").unwrap_or("r"),
                    tag(&t, "aspf").unwrap_or("r"),
                    if tag(&t, "pct").is_some() {
                        "; note: DMARCbis replaces pct= with t="
                    } else {
                        ""
                    }
                ))
                .evidence(ev),
        );
    }
    f
}

fn dmarc_syntax(why: &str, ev: Vec<String>) -> Finding {
    Finding::new(
        SYNTAX,
        Severity::Fail,
        "The DMARC record is malformed",
    )
    .detail(format!(
        "{why}. Receivers may ignore the record (RFC 7489 6.6.3) or the bad tags."
    ))
    .evidence(ev)
    .fix("Write it as v=DMARC1; p=none|quarantine|reject; rua=mailto:ADDRESS (tags separated by ;)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sender::testing::{ids, sender, txt};

    fn judge(records: &[&str], report_auth: Vec<(String, DnsAnswer)>) -> Vec<Finding> {
        let mut s = sender("example.com");
        s.dmarc = Some(DmarcObs {
            answer: txt("_dmarc.example.com", records),
            org: None,
            report_auth,
        });
        findings(&s)
    }

    #[test]
    fn missing_and_none() {
        assert_eq!(ids(&judge(&[], vec![]), Severity::Fail), [MISSING]);
        let none = judge(&["v=DMARC1; p=none; rua=mailto:d@example.com"], vec![]);
        assert_eq!(ids(&none, Severity::Warn), [POLICY_NONE]);
        assert_eq!(ids(&none, Severity::Pass), [OK]);
        let two = judge(&["v=DMARC1; p=none", "v=DMARC1; p=reject"], vec![]);
        assert_eq!(ids(&two, Severity::Fail), [MULTIPLE]);
    }

    #[test]
    fn bad_and_unauthorised_report_addresses() {
        let bad = judge(&["v=DMARC1; p=reject; rua=ftp://x.example"], vec![]);
        assert_eq!(ids(&bad, Severity::Fail), [SYNTAX]);
        let no_rua = judge(&["v=DMARC1; p=reject"], vec![]);
        assert_eq!(ids(&no_rua, Severity::Warn), [NO_RUA]);
        let outside = judge(
            &["v=DMARC1; p=reject; rua=mailto:r@reports.example.net"],
            vec![(
                "reports.example.net".into(),
                txt("example.com._report._dmarc.reports.example.net", &[]),
            )],
        );
        assert_eq!(ids(&outside, Severity::Warn), [RUA_UNAUTHORIZED]);
        assert_eq!(ids(&outside, Severity::Pass), [OK]);
    }

    #[test]
    fn tags_of_a_record() {
        assert_eq!(
            mailto_domain("mailto:b@Y.example!10m").as_deref(),
            Some("y.example")
        );
        assert_eq!(
            dmarc_uris(
                "v=DMARC1; rua=mailto:a@x.example, mailto:b@y.example; ruf=mailto:c@z.example"
            ),
            [
                "mailto:a@x.example",
                "mailto:b@y.example",
                "mailto:c@z.example"
            ]
        );
    }
}
