//! TLS-RPT (RFC 8460): the `_smtp._tls` record that asks senders for daily reports of their
//! TLS failures delivering to the domain (MTA-STS, DANE, certificates).

use mxray_core::DomainName;

use crate::{DnsRecord, Generated, RecordsError, check};

/// `_smtp._tls.DOMAIN TXT "v=TLSRPTv1; rua=..."` from `mailto:` or `https:` destinations
/// (a bare address counts as `mailto:`).
pub fn tlsrpt(domain: &DomainName, rua: &[String]) -> Result<Generated, RecordsError> {
    if rua.is_empty() {
        return Err(RecordsError::NoReportAddress {
            what: "a TLS-RPT record",
            example: format!("mailto:tlsrpt@{domain}"),
        });
    }
    let mut uris: Vec<String> = Vec::new();
    for u in rua {
        let uri = report_uri(u)?;
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    let name = check::name(&["_smtp._tls", domain])?;
    let mut notes = vec![
        "Senders that support TLS-RPT send one report a day per sending organisation, as gzipped JSON (RFC 8460 4): expect mail from Google, Microsoft and others.".to_string(),
        format!("Reports matter most beside MTA-STS or DANE: they tell you when senders cannot deliver to {domain} under the policy."),
    ];
    if uris.iter().any(|u| u.starts_with("https:")) {
        notes.push("An https: destination receives each report as an HTTP POST (application/tlsrpt+gzip): the endpoint must accept it.".to_string());
    }
    Ok(Generated {
        records: vec![DnsRecord::txt(
            &name,
            format!("v=TLSRPTv1; rua={}", uris.join(",")),
        )],
        files: Vec::new(),
        notes,
    })
}

/// One destination: `https://...` as a URL, anything else as a mail address.
fn report_uri(input: &str) -> Result<String, RecordsError> {
    let s = input.trim();
    let scheme = s.split_once(':').map(|(x, _)| x.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https") => check::https("TLS-RPT report", s),
        Some("mailto") => Ok(check::mailto(s, false)?.0),
        // `user@host` has no scheme; a colon before an @ would be one.
        Some(other) if !other.contains('@') => Err(RecordsError::ReportUri {
            input: input.to_string(),
            why: format!("{other}: is neither mailto: nor https:"),
        }),
        _ => Ok(check::mailto(s, false)?.0),
    }
}

#[cfg(test)]
mod tests {
    use mxray_core::dns::{DnsAnswer, DnsOutcome, DnsRecord as Rec, RType};
    use mxray_core::{Finding, Severity};
    use mxray_diagnose::Areas;
    use mxray_diagnose::sender::SenderObs;
    use mxray_diagnose::sender::tags::{tag, tags};
    use mxray_diagnose::sender::tlsrpt::findings;

    use super::*;

    fn domain() -> DomainName {
        DomainName::parse("example.com").unwrap()
    }

    fn judge(r: &DnsRecord) -> Vec<Finding> {
        let mut s = SenderObs::new("example.com", Areas::all());
        s.tlsrpt = Some(DnsAnswer {
            name: r.name.clone(),
            rtype: RType::Txt,
            outcome: DnsOutcome::Answer,
            records: vec![Rec::Txt {
                owner: r.name.clone(),
                text: r.value.clone(),
            }],
            elapsed_ms: 1,
        });
        findings(&s)
    }

    fn list(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mailto_and_https_destinations_read_back() {
        let g = tlsrpt(
            &domain(),
            &list(&[
                "tlsrpt@example.com",
                "HTTPS://Reports.Example.net/tls",
                "mailto:tlsrpt@example.com",
            ]),
        )
        .unwrap();
        let r = &g.records[0];
        assert_eq!(r.name, "_smtp._tls.example.com");
        assert_eq!(
            r.value,
            "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.net/tls"
        );
        let t = tags(&r.value).unwrap();
        assert_eq!(tag(&t, "v"), Some("TLSRPTv1"));
        let f = judge(r);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].id, f[0].severity), ("tlsrpt.ok", Severity::Pass));
        assert!(g.notes.iter().any(|n| n.contains("POST")));
    }

    #[test]
    fn bad_destinations_are_refused() {
        assert!(matches!(
            tlsrpt(&domain(), &[]),
            Err(RecordsError::NoReportAddress { .. })
        ));
        assert!(matches!(
            tlsrpt(&domain(), &list(&["ftp://reports.example.net/"])),
            Err(RecordsError::ReportUri { .. })
        ));
        assert!(matches!(
            tlsrpt(&domain(), &list(&["http://reports.example.net/"])),
            Err(RecordsError::ReportUri { .. })
        ));
        assert!(matches!(
            tlsrpt(&domain(), &list(&["mailto:nobody"])),
            Err(RecordsError::Mailto { .. })
        ));
        // DMARC's size suffix is not TLS-RPT syntax.
        assert!(tlsrpt(&domain(), &list(&["r@example.com!10m"])).is_err());
        assert!(matches!(
            tlsrpt(&domain(), &list(&["https://user@reports.example.net/"])),
            Err(RecordsError::Https { .. })
        ));
    }

    #[test]
    fn refusals_say_what_to_give() {
        let e = tlsrpt(&domain(), &[]).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("mailto:tlsrpt@example.com"), "{e}");
        let e = tlsrpt(&domain(), &list(&["ftp://r.example.net/"]))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("give mailto:USER@DOMAIN or https://HOST/PATH"),
            "{e}"
        );
        // A comma inside an https URL would split the list: it is encoded.
        let g = tlsrpt(&domain(), &list(&["https://r.example.net/a,b"])).unwrap();
        assert_eq!(
            g.records[0].value,
            "v=TLSRPTv1; rua=https://r.example.net/a%2Cb"
        );
    }
}
