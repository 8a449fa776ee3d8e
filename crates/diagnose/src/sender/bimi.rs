//! BIMI: the `default._bimi` record and its judgement (syntax, https SVG logo, and DMARC at
//! enforcement, without which no mailbox shows the logo).

use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{Dns, DnsAnswer, RType};

use super::dmarc::dmarc_policy;
use super::tags::{tag, tags};
use super::{SenderObs, txt_records};

use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const MISSING: &str = "bimi.missing";
pub const SYNTAX: &str = "bimi.syntax";
pub const DMARC_NOT_ENFORCED: &str = "bimi.dmarc_not_enforced";
pub const OK: &str = "bimi.ok";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Auth,
    recipient: false,
    ids: &[MISSING, SYNTAX, DMARC_NOT_ENFORCED, OK],
};

/// The `default._bimi` TXT record.
pub async fn observe(dns: &Dns, d: &str) -> DnsAnswer {
    dns.query(&format!("default._bimi.{d}"), RType::Txt).await
}

/// Every BIMI finding.
pub fn findings(s: &SenderObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(a) = &s.bimi else { return f };
    let d = &s.domain;
    let recs: Vec<String> = txt_records(a)
        .into_iter()
        .filter(|r| r.trim_start().to_ascii_lowercase().starts_with("v=bimi1"))
        .collect();
    let ev = a.evidence();
    let Some(rec) = recs.first() else {
        f.push(
            Finding::new(MISSING, Severity::Info, format!("No BIMI record at default._bimi.{d}"))
                .detail("Optional: BIMI shows the brand logo in supporting inboxes, and requires DMARC at quarantine or reject.")
                .evidence(ev),
        );
        return f;
    };
    let mut problems = Vec::new();
    match tags(rec) {
        Err(e) => problems.push(e),
        Ok(t) => {
            match tag(&t, "l") {
                Some("") | None => {}
                Some(l) if !l.to_ascii_lowercase().starts_with("https://") => {
                    problems.push(format!("l={} is not an https URL", escape_text(l)))
                }
                Some(l) if !l.to_ascii_lowercase().ends_with(".svg") => problems.push(format!(
                    "l={} does not name an SVG file (SVG Tiny PS)",
                    escape_text(l)
                )),
                _ => {}
            }
            if let Some(x) = tag(&t, "a")
                && !x.is_empty()
                && !x.to_ascii_lowercase().starts_with("https://")
            {
                problems.push(format!("a={} is not an https URL", escape_text(x)));
            }
            if tag(&t, "l").is_none_or(str::is_empty) && tag(&t, "a").is_none_or(str::is_empty) {
                problems.push("neither l= (logo) nor a= (certificate) is given".into());
            }
        }
    }
    if !problems.is_empty() {
        f.push(
            Finding::new(SYNTAX, Severity::Warn, "The BIMI record is malformed")
                .detail(problems.join("; "))
                .evidence(ev)
                .fix("v=BIMI1; l=https://DOMAIN/logo.svg; a=https://DOMAIN/vmc.pem"),
        );
        return f;
    }
    let enforced =
        dmarc_policy(s).is_some_and(|(p, pct)| (p == "quarantine" || p == "reject") && pct == 100);
    if !enforced {
        f.push(
            Finding::new(DMARC_NOT_ENFORCED, Severity::Warn, "BIMI is published but DMARC is not enforced")
                .detail("Mailbox providers show BIMI logos only for domains at p=quarantine or p=reject with pct=100.")
                .evidence(ev)
                .fix("Move DMARC to p=quarantine or p=reject"),
        );
        return f;
    }
    f.push(
        Finding::new(
            OK,
            Severity::Pass,
            format!("BIMI record at default._bimi.{d}"),
        )
        .detail(escape_text(rec))
        .evidence(ev),
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sender::dmarc::DmarcObs;
    use crate::sender::testing::{ids, sender, txt};

    fn judge(bimi: &[&str], dmarc: &str) -> Vec<Finding> {
        let mut s = sender("example.com");
        s.bimi = Some(txt("default._bimi.example.com", bimi));
        s.dmarc = Some(DmarcObs {
            answer: txt("_dmarc.example.com", &[dmarc]),
            org: None,
            report_auth: Vec::new(),
        });
        findings(&s)
    }

    #[test]
    fn bimi_needs_a_record_an_svg_and_enforced_dmarc() {
        let reject = "v=DMARC1; p=reject";
        assert_eq!(ids(&judge(&[], reject), Severity::Info), [MISSING]);
        let http = judge(&["v=BIMI1; l=http://example.com/logo.svg"], reject);
        assert_eq!(ids(&http, Severity::Warn), [SYNTAX]);
        let logo = "v=BIMI1; l=https://example.com/logo.svg";
        let lax = judge(&[logo], "v=DMARC1; p=none");
        assert_eq!(ids(&lax, Severity::Warn), [DMARC_NOT_ENFORCED]);
        assert_eq!(ids(&judge(&[logo], reject), Severity::Pass), [OK]);
    }
}
