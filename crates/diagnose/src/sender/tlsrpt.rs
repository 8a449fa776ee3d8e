//! TLS-RPT (RFC 8460): the `_smtp._tls` record and its judgement (warn when MTA-STS or DANE
//! is published and nobody would hear of its failures).

use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{Dns, DnsAnswer, DnsOutcome, RType};

use super::tags::tags;
use super::{SenderObs, txt_records};

use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const MISSING: &str = "tlsrpt.missing";
pub const SYNTAX: &str = "tlsrpt.syntax";
pub const OK: &str = "tlsrpt.ok";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Tls,
    recipient: false,
    ids: &[MISSING, SYNTAX, OK],
};

/// The `_smtp._tls` TXT record.
pub async fn observe(dns: &Dns, d: &str) -> DnsAnswer {
    dns.query(&format!("_smtp._tls.{d}"), RType::Txt).await
}

/// Every TLS-RPT finding.
pub fn findings(s: &SenderObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(a) = &s.tlsrpt else { return f };
    let d = &s.domain;
    let recs: Vec<String> = txt_records(a)
        .into_iter()
        .filter(|r| r.to_ascii_lowercase().starts_with("v=tlsrptv1"))
        .collect();
    let ev = a.evidence();
    let uses_policy = s.mta_sts.as_ref().is_some_and(|m| m.policy.is_some())
        || s.dane.iter().any(|x| x.tlsa.outcome == DnsOutcome::Answer);
    if recs.is_empty() {
        f.push(
            Finding::new(MISSING, if uses_policy { Severity::Warn } else { Severity::Info }, format!("{d} publishes no TLS-RPT record"))
                .detail(if uses_policy {
                    "MTA-STS or DANE is published but nobody receives the reports of senders that fail to use it: a broken policy goes unnoticed."
                } else {
                    "Optional: TLS-RPT (RFC 8460) has senders report TLS failures delivering to you."
                })
                .evidence(ev)
                .fix(format!("Publish TXT at _smtp._tls.{d}: v=TLSRPTv1; rua=mailto:tlsrpt@{d}")),
        );
        return f;
    }
    let valid = recs.len() == 1
        && tags(&recs[0]).ok().is_some_and(|t| {
            t.iter().find(|(k, _)| k == "rua").is_some_and(|(_, v)| {
                v.split(',').all(|u| {
                    let u = u.trim().to_ascii_lowercase();
                    (u.starts_with("mailto:") && u.contains('@')) || u.starts_with("https://")
                })
            })
        });
    if !valid {
        f.push(
            Finding::new(SYNTAX, Severity::Warn, "The TLS-RPT record is malformed")
                .detail("RFC 8460 3: exactly one record v=TLSRPTv1; rua=mailto:... or https://...")
                .evidence(ev)
                .fix(format!("v=TLSRPTv1; rua=mailto:tlsrpt@{d}")),
        );
        return f;
    }
    f.push(
        Finding::new(OK, Severity::Pass, "TLS-RPT reports are requested")
            .detail(escape_text(&recs[0]))
            .evidence(ev),
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sender::mta_sts::MtaStsObs;
    use crate::sender::testing::{ids, sender, txt};

    fn judge(records: &[&str], with_policy: bool) -> Vec<Finding> {
        let mut s = sender("example.com");
        s.tlsrpt = Some(txt("_smtp._tls.example.com", records));
        if with_policy {
            s.mta_sts = Some(MtaStsObs {
                txt: txt("_mta-sts.example.com", &["v=STSv1; id=1"]),
                policy: Some(mxray_net::HttpsObservation {
                    url: String::new(),
                    dns: None,
                    addr: None,
                    error: None,
                    tls: None,
                    status: Some(200),
                    content_type: None,
                    body: None,
                    truncated: false,
                    not_allowed: None,
                    elapsed_ms: 0,
                }),
            });
        }
        findings(&s)
    }

    #[test]
    fn missing_is_a_warning_only_beside_a_policy() {
        assert_eq!(ids(&judge(&[], false), Severity::Info), [MISSING]);
        assert_eq!(ids(&judge(&[], true), Severity::Warn), [MISSING]);
    }

    #[test]
    fn syntax_and_ok() {
        let bad = judge(&["v=TLSRPTv1; rua=ftp://x.example"], false);
        assert_eq!(ids(&bad, Severity::Warn), [SYNTAX]);
        let two = judge(
            &[
                "v=TLSRPTv1; rua=mailto:a@x.example",
                "v=TLSRPTv1; rua=https://r.example",
            ],
            false,
        );
        assert_eq!(ids(&two, Severity::Warn), [SYNTAX]);
        let good = judge(&["v=TLSRPTv1; rua=mailto:tlsrpt@example.com"], false);
        assert_eq!(ids(&good, Severity::Pass), [OK]);
    }
}
