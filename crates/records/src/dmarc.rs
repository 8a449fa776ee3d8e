//! DMARC (RFC 7489): the `_dmarc` policy record, the authorisation records that outside report
//! destinations must publish (7.1), and a staged rollout from monitoring to reject.

use std::fmt;
use std::str::FromStr;

use mxray_core::DomainName;
use serde::Serialize;

use crate::{DnsRecord, Generated, RecordsError, check};

/// What receivers do with mail that fails DMARC (`p=`, `sp=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Monitor only: deliver as if there were no policy, and report.
    #[default]
    None,
    /// Treat failing mail as suspicious (spam folder).
    Quarantine,
    /// Refuse failing mail during the SMTP transaction.
    Reject,
}

impl Policy {
    /// `none`, `quarantine` or `reject`, in any case.
    pub fn parse(s: &str) -> Result<Policy, RecordsError> {
        s.parse()
    }

    /// The tag value (`none`, `quarantine`, `reject`).
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }
}

impl FromStr for Policy {
    type Err = RecordsError;
    fn from_str(s: &str) -> Result<Policy, RecordsError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Policy::None),
            "quarantine" => Ok(Policy::Quarantine),
            "reject" => Ok(Policy::Reject),
            _ => Err(RecordsError::Policy {
                input: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifier alignment (`adkim=`, `aspf=`): relaxed accepts the same organisational domain,
/// strict only the very domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Alignment {
    Relaxed,
    Strict,
}

impl Alignment {
    /// `r` or `s` (also `relaxed`, `strict`), in any case.
    pub fn parse(s: &str) -> Result<Alignment, RecordsError> {
        s.parse()
    }

    /// The tag value (`r`, `s`).
    pub fn as_str(self) -> &'static str {
        match self {
            Alignment::Relaxed => "r",
            Alignment::Strict => "s",
        }
    }
}

impl FromStr for Alignment {
    type Err = RecordsError;
    fn from_str(s: &str) -> Result<Alignment, RecordsError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "r" | "relaxed" => Ok(Alignment::Relaxed),
            "s" | "strict" => Ok(Alignment::Strict),
            _ => Err(RecordsError::Alignment {
                input: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for Alignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the DMARC record says. Unset tags are left out, so receivers apply the RFC defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DmarcOptions {
    pub policy: Policy,
    /// `sp=`: the policy for subdomains without a record of their own (default: `p`).
    pub subdomain_policy: Option<Policy>,
    /// `pct=`: the share of failing mail the policy applies to, 0-100 (100 is left out).
    pub pct: Option<u8>,
    /// Aggregate report destinations: `mailto:` URIs or bare addresses.
    pub rua: Vec<String>,
    /// Failure report destinations: `mailto:` URIs or bare addresses.
    pub ruf: Vec<String>,
    pub adkim: Option<Alignment>,
    pub aspf: Option<Alignment>,
}

/// `_dmarc.DOMAIN TXT "v=DMARC1; p=..."`, and for every report destination outside the
/// domain's organisational domain the `DOMAIN._report._dmarc.OTHER TXT "v=DMARC1"` that OTHER
/// must publish, or receivers send it nothing (RFC 7489 7.1).
pub fn dmarc(domain: &DomainName, o: &DmarcOptions) -> Result<Generated, RecordsError> {
    if let Some(pct) = o.pct
        && pct > 100
    {
        return Err(RecordsError::Pct { pct });
    }
    let name = check::name(&["_dmarc", domain])?;
    let rua = uris(&o.rua)?;
    let ruf = uris(&o.ruf)?;
    // Tag order as RFC 7489's examples write it: v first (required), p second.
    let mut value = format!("v=DMARC1; p={}", o.policy);
    if let Some(sp) = o.subdomain_policy {
        value.push_str(&format!("; sp={sp}"));
    }
    if let Some(pct) = o.pct.filter(|p| *p != 100) {
        value.push_str(&format!("; pct={pct}"));
    }
    for (tag, list) in [("rua", &rua), ("ruf", &ruf)] {
        if !list.is_empty() {
            let joined: Vec<&str> = list.iter().map(|(u, _)| u.as_str()).collect();
            value.push_str(&format!("; {tag}={}", joined.join(",")));
        }
    }
    for (tag, a) in [("adkim", o.adkim), ("aspf", o.aspf)] {
        if let Some(a) = a {
            value.push_str(&format!("; {tag}={a}"));
        }
    }
    let mut g = Generated {
        records: vec![DnsRecord::txt(&name, value)],
        ..Generated::default()
    };
    policy_notes(&mut g.notes, domain, o, rua.is_empty(), !ruf.is_empty());
    let org = domain.registrable();
    let mut outside: Vec<&DomainName> = Vec::new();
    for (_, d) in rua.iter().chain(&ruf) {
        if d.registrable() != org && !outside.contains(&d) {
            outside.push(d);
        }
    }
    for other in outside {
        let auth = check::name(&[domain, "_report", "_dmarc", other])?;
        g.notes.push(format!(
            "{other} must publish {auth} TXT \"v=DMARC1\" (RFC 7489 7.1): receivers send reports outside {org} only to destinations that agree to take them. Report services often publish *._report._dmarc.{other} for all their customers: dig TXT {auth} shows whether it is there."
        ));
        g.records
            .push(DnsRecord::txt(&auth, "v=DMARC1".to_string()));
    }
    Ok(g)
}

/// Report destinations as `mailto:` URIs with their domains, duplicates dropped.
fn uris(list: &[String]) -> Result<Vec<(String, DomainName)>, RecordsError> {
    let mut out: Vec<(String, DomainName)> = Vec::new();
    for s in list {
        let u = check::mailto(s, true)?;
        if !out.iter().any(|(x, _)| *x == u.0) {
            out.push(u);
        }
    }
    Ok(out)
}

/// What the chosen tags mean for the person publishing them.
fn policy_notes(
    notes: &mut Vec<String>,
    domain: &DomainName,
    o: &DmarcOptions,
    no_rua: bool,
    has_ruf: bool,
) {
    if o.policy == Policy::None {
        notes.push("p=none only monitors: failing mail is delivered as before. Read the aggregate reports, then move to quarantine and reject (the staged rollout).".to_string());
    }
    if no_rua {
        notes.push(format!("No rua=: nobody receives aggregate reports, so nobody sees who sends as {domain} nor whether it passes. Add one before tightening the policy."));
    }
    if let Some(pct) = o.pct.filter(|p| *p < 100)
        && o.policy != Policy::None
    {
        notes.push(format!("pct={pct}: the policy applies to {pct}% of failing mail, the rest gets the next weaker treatment. DMARCbis (RFC 7489's successor) drops pct= for t=y (testing), so receivers following it ignore it."));
    }
    if o.subdomain_policy == Some(Policy::None) && o.policy != Policy::None {
        notes.push(format!("sp=none exempts subdomains: a spoofer can send as any subdomain of {domain} that has no record of its own."));
    }
    if has_ruf {
        notes.push("Failure reports (ruf=) carry parts of the failing messages: most large receivers never send them, and those that do may redact them.".to_string());
    }
    let org = domain.registrable();
    if org != *domain {
        notes.push(format!("{domain} is below its organisational domain {org}: this record covers {domain} itself, and subdomains of {domain} without a record of their own follow {org}'s record (RFC 7489 6.6.3)."));
    }
}

/// A staged plan from monitoring to reject: each step's record, with when to move on.
/// Every step needs aggregate reports to judge by, so `rua` must name at least one.
pub fn rollout(
    domain: &DomainName,
    rua: &[String],
) -> Result<Vec<(String, Generated)>, RecordsError> {
    if rua.is_empty() {
        return Err(RecordsError::NoReportAddress {
            what: "a DMARC rollout",
            example: format!("mailto:dmarc-reports@{domain}"),
        });
    }
    let stage = |policy: Policy, pct: Option<u8>| DmarcOptions {
        policy,
        pct,
        rua: rua.to_vec(),
        ..DmarcOptions::default()
    };
    let steps = [
        (
            "1. Monitor (p=none): move on when 2 to 4 weeks of aggregate reports show every legitimate sender passing SPF or DKIM aligned with the domain.",
            stage(Policy::None, None),
        ),
        (
            "2. Quarantine a quarter (p=quarantine; pct=25): move on after 1 to 2 weeks in which the reports show no legitimate mail failing.",
            stage(Policy::Quarantine, Some(25)),
        ),
        (
            "3. Quarantine all (p=quarantine): move on after 2 weeks with no legitimate mail failing and no reports of wanted mail in spam.",
            stage(Policy::Quarantine, None),
        ),
        (
            "4. Reject (p=reject), the goal: keep reading the reports; a new sending service must be aligned (SPF include or DKIM key) before it sends.",
            stage(Policy::Reject, None),
        ),
    ];
    steps
        .into_iter()
        .map(|(when, o)| Ok((when.to_string(), dmarc(domain, &o)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use mxray_core::dns::{DnsAnswer, DnsOutcome, DnsRecord as Rec, RType};
    use mxray_core::{Finding, Severity};
    use mxray_diagnose::Areas;
    use mxray_diagnose::sender::SenderObs;
    use mxray_diagnose::sender::dmarc::{DmarcObs, findings};
    use mxray_diagnose::sender::tags::{tag, tags};

    use super::*;

    fn domain(s: &str) -> DomainName {
        DomainName::parse(s).unwrap_or_default()
    }

    fn txt(name: &str, texts: &[&str]) -> DnsAnswer {
        DnsAnswer {
            name: name.into(),
            rtype: RType::Txt,
            outcome: if texts.is_empty() {
                DnsOutcome::NxDomain
            } else {
                DnsOutcome::Answer
            },
            records: texts
                .iter()
                .map(|t| Rec::Txt {
                    owner: name.into(),
                    text: t.to_string(),
                })
                .collect(),
            elapsed_ms: 1,
        }
    }

    /// Diagnose's DMARC judge over the generated records, as if DNS served them.
    fn judge(d: &str, g: &Generated) -> Vec<Finding> {
        let mut s = SenderObs::new(d, Areas::all());
        let own = &g.records[0];
        let report_auth = g.records[1..]
            .iter()
            .map(|r| {
                let other = r.name.split("._report._dmarc.").nth(1).unwrap_or_default();
                (other.to_string(), txt(&r.name, &[&r.value]))
            })
            .collect();
        s.dmarc = Some(DmarcObs {
            answer: txt(&own.name, &[&own.value]),
            org: None,
            report_auth,
        });
        findings(&s)
    }

    fn ids(f: &[Finding], severity: Severity) -> Vec<&'static str> {
        f.iter()
            .filter(|x| x.severity == severity)
            .map(|x| x.id)
            .collect()
    }

    #[test]
    fn a_full_record_reads_back() {
        let o = DmarcOptions {
            policy: Policy::Reject,
            subdomain_policy: Some(Policy::Quarantine),
            pct: Some(50),
            rua: vec![
                "dmarc@example.com".into(),
                "mailto:dmarc@example.com".into(),
            ],
            ruf: vec!["mailto:forensic@Example.com".into()],
            adkim: Some(Alignment::Strict),
            aspf: Some(Alignment::Relaxed),
        };
        let g = dmarc(&domain("Example.com"), &o).unwrap_or_default();
        assert_eq!(g.records.len(), 1, "{g:?}");
        let r = &g.records[0];
        assert_eq!(
            (r.name.as_str(), r.rtype.as_str()),
            ("_dmarc.example.com", "TXT")
        );
        assert_eq!(
            r.value,
            "v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:dmarc@example.com; ruf=mailto:forensic@example.com; adkim=s; aspf=r"
        );
        let t = tags(&r.value).unwrap_or_default();
        assert_eq!(
            t.first().map(|(k, v)| (k.as_str(), v.as_str())),
            Some(("v", "DMARC1"))
        );
        assert_eq!(tag(&t, "pct"), Some("50"));
        // The judge finds it well-formed; pct<100 is its only warning.
        let f = judge("example.com", &g);
        assert_eq!(ids(&f, Severity::Fail), Vec::<&str>::new());
        assert_eq!(ids(&f, Severity::Warn), ["dmarc.pct"]);
        assert_eq!(ids(&f, Severity::Pass), ["dmarc.ok"]);
    }

    #[test]
    fn pct_100_and_unset_tags_are_left_out() {
        let o = DmarcOptions {
            policy: Policy::Quarantine,
            pct: Some(100),
            rua: vec!["r@example.com".into()],
            ..DmarcOptions::default()
        };
        let g = dmarc(&domain("example.com"), &o).unwrap_or_default();
        assert_eq!(
            g.records[0].value,
            "v=DMARC1; p=quarantine; rua=mailto:r@example.com"
        );
        assert_eq!(ids(&judge("example.com", &g), Severity::Pass), ["dmarc.ok"]);
    }

    #[test]
    fn outside_report_domains_get_an_authorisation_record() {
        let o = DmarcOptions {
            policy: Policy::None,
            rua: vec![
                "mailto:agg@reports.example.net!10m".into(),
                // Same organisational domain: no authorisation needed.
                "dmarc@mail.example.com".into(),
            ],
            ruf: vec!["fail@reports.example.net".into()],
            ..DmarcOptions::default()
        };
        let g = dmarc(&domain("example.com"), &o).unwrap_or_default();
        assert_eq!(g.records.len(), 2, "{g:?}");
        assert_eq!(
            g.records[0].value,
            "v=DMARC1; p=none; rua=mailto:agg@reports.example.net!10m,mailto:dmarc@mail.example.com; ruf=mailto:fail@reports.example.net"
        );
        let auth = &g.records[1];
        assert_eq!(auth.name, "example.com._report._dmarc.reports.example.net");
        assert_eq!(auth.value, "v=DMARC1");
        assert!(
            g.notes.iter().any(|n| n.starts_with(
                "reports.example.net must publish example.com._report._dmarc.reports.example.net"
            )),
            "{:?}",
            g.notes
        );
        // With the authorisation published, the judge raises no rua_unauthorized.
        let f = judge("example.com", &g);
        assert!(!f.iter().any(|x| x.id == "dmarc.rua_unauthorized"), "{f:?}");
        assert_eq!(ids(&f, Severity::Warn), ["dmarc.policy_none"]);
        // A subdomain sending to its organisational domain needs none either.
        let sub = DmarcOptions {
            rua: vec!["d@example.com".into()],
            ..DmarcOptions::default()
        };
        let g = dmarc(&domain("news.example.com"), &sub).unwrap_or_default();
        assert_eq!(g.records.len(), 1);
        assert!(
            g.notes
                .iter()
                .any(|n| n.contains("organisational domain example.com"))
        );
    }

    #[test]
    fn bad_inputs_are_refused() {
        let d = domain("example.com");
        let with = |f: fn(&mut DmarcOptions)| {
            let mut o = DmarcOptions::default();
            f(&mut o);
            dmarc(&d, &o)
        };
        assert_eq!(
            with(|o| o.pct = Some(101)),
            Err(RecordsError::Pct { pct: 101 })
        );
        assert!(matches!(
            with(|o| o.rua = vec!["mailto:not-an-address".into()]),
            Err(RecordsError::Mailto { .. })
        ));
        assert!(matches!(
            with(|o| o.ruf = vec!["https://reports.example.net/dmarc".into()]),
            Err(RecordsError::Mailto { .. })
        ));
        assert_eq!(
            "sometimes".parse::<Policy>(),
            Err(RecordsError::Policy {
                input: "sometimes".into()
            })
        );
        assert_eq!(Policy::parse(" Reject"), Ok(Policy::Reject));
        assert_eq!("s".parse::<Alignment>(), Ok(Alignment::Strict));
        assert_eq!(Alignment::parse("relaxed"), Ok(Alignment::Relaxed));
        assert!(Alignment::parse("x").is_err());
        let e = with(|o| o.pct = Some(200))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("0 to 100"), "{e}");
    }

    #[test]
    fn the_rollout_tightens_step_by_step() {
        let d = domain("example.com");
        let plan = rollout(&d, &["dmarc@example.com".into()]).unwrap_or_default();
        let values: Vec<&str> = plan
            .iter()
            .map(|(_, g)| g.records[0].value.as_str())
            .collect();
        assert_eq!(
            values,
            [
                "v=DMARC1; p=none; rua=mailto:dmarc@example.com",
                "v=DMARC1; p=quarantine; pct=25; rua=mailto:dmarc@example.com",
                "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com",
                "v=DMARC1; p=reject; rua=mailto:dmarc@example.com",
            ]
        );
        assert!(plan.iter().all(|(when, _)| when.contains(':')));
        for (_, g) in &plan {
            assert_eq!(
                ids(&judge("example.com", g), Severity::Fail),
                Vec::<&str>::new()
            );
        }
        assert!(matches!(
            rollout(&d, &[]),
            Err(RecordsError::NoReportAddress { .. })
        ));
        assert!(rollout(&d, &["bad".into()]).is_err());
    }
}
