//! BIMI (draft-brand-indicators-for-message-identification): the `SELECTOR._bimi` record that
//! points at the brand's SVG logo and, for the mailboxes that require one, its mark certificate.

use mxray_core::DomainName;

use crate::{DnsRecord, Generated, RecordsError, check};

/// The selector receivers look up when a message names none (BIMI-Selector header absent).
pub const DEFAULT_SELECTOR: &str = "default";

/// `SELECTOR._bimi.DOMAIN TXT "v=BIMI1; l=LOGO; a=AUTHORITY"`. `logo` is an https URL to an
/// SVG; `authority` an https URL to the VMC or CMC (`.pem`). An empty selector is `default`.
pub fn bimi(
    domain: &DomainName,
    selector: &str,
    logo: &str,
    authority: Option<&str>,
) -> Result<Generated, RecordsError> {
    let selector = if selector.trim().is_empty() {
        DEFAULT_SELECTOR.to_string()
    } else {
        check::selector(selector)?
    };
    let l = check::https("BIMI logo", logo)?;
    // Mailbox providers fetch only SVG Tiny PS; a logo URL that does not end in .svg is
    // refused by them and by mxray's own BIMI check.
    if !l.to_ascii_lowercase().ends_with(".svg") {
        return Err(RecordsError::Https {
            what: "BIMI logo",
            input: logo.to_string(),
            why: "it does not end in .svg (the logo is an SVG Tiny PS file)".to_string(),
        });
    }
    let a = authority
        .filter(|a| !a.trim().is_empty())
        .map(|a| check::https("BIMI certificate", a))
        .transpose()?;
    let name = check::name(&[&selector, "_bimi", domain])?;
    let mut value = format!("v=BIMI1; l={l}");
    let org = domain.registrable();
    let mut notes = vec![
        "The logo must be SVG Tiny Portable/Secure (SVG Tiny PS: square, a solid background, no scripts nor external references), served over https with a valid certificate.".to_string(),
        format!("Mailbox providers show the logo only when DMARC is at enforcement: p=quarantine or p=reject with pct=100 for {domain} (and not sp=none at {org}). mxray diagnose {domain} checks it."),
    ];
    match &a {
        Some(a) => {
            value.push_str(&format!("; a={a}"));
            if !a.to_ascii_lowercase().ends_with(".pem") {
                notes.push("The a= URL usually names the certificate's .pem file (the VMC or CMC with its chain).".to_string());
            }
            notes.push("The mark certificate (VMC or CMC) must cover this very logo: the SVG is embedded in it.".to_string());
        }
        None => notes.push("Without a= (a Verified or Common Mark Certificate), Gmail and Apple Mail show no logo; some other mailboxes do.".to_string()),
    }
    if selector != DEFAULT_SELECTOR {
        notes.push(format!("Receivers look up default._bimi unless a message names another selector: send a BIMI-Selector: v=BIMI1; s={selector} header with mail that should use this one."));
    }
    Ok(Generated {
        records: vec![DnsRecord::txt(&name, value)],
        files: Vec::new(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use mxray_core::dns::{DnsAnswer, DnsOutcome, DnsRecord as Rec, RType};
    use mxray_core::{Finding, Severity};
    use mxray_diagnose::Areas;
    use mxray_diagnose::sender::SenderObs;
    use mxray_diagnose::sender::bimi::findings;
    use mxray_diagnose::sender::dmarc::DmarcObs;
    use mxray_diagnose::sender::tags::{tag, tags};

    use super::*;
    use crate::dmarc::{DmarcOptions, Policy, dmarc};

    fn domain() -> DomainName {
        DomainName::parse("example.com").unwrap()
    }

    fn txt(r: &DnsRecord) -> DnsAnswer {
        DnsAnswer {
            name: r.name.clone(),
            rtype: RType::Txt,
            outcome: DnsOutcome::Answer,
            records: vec![Rec::Txt {
                owner: r.name.clone(),
                text: r.value.clone(),
            }],
            elapsed_ms: 1,
        }
    }

    /// Diagnose's BIMI judge over our BIMI record beside our DMARC record at `policy`.
    fn judge(bimi: &DnsRecord, policy: Policy) -> Vec<Finding> {
        let o = DmarcOptions {
            policy,
            rua: vec!["dmarc@example.com".into()],
            ..DmarcOptions::default()
        };
        let d = dmarc(&domain(), &o).unwrap();
        let mut s = SenderObs::new("example.com", Areas::all());
        s.bimi = Some(txt(bimi));
        s.dmarc = Some(DmarcObs {
            answer: txt(&d.records[0]),
            org: None,
            report_auth: Vec::new(),
        });
        findings(&s)
    }

    #[test]
    fn logo_and_certificate_read_back() {
        let g = bimi(
            &domain(),
            "",
            "https://Example.com/brand/logo.svg",
            Some("https://example.com/brand/vmc.pem"),
        )
        .unwrap();
        let r = &g.records[0];
        assert_eq!(r.name, "default._bimi.example.com");
        assert_eq!(
            r.value,
            "v=BIMI1; l=https://example.com/brand/logo.svg; a=https://example.com/brand/vmc.pem"
        );
        let t = tags(&r.value).unwrap();
        assert_eq!(tag(&t, "a"), Some("https://example.com/brand/vmc.pem"));
        let f = judge(r, Policy::Reject);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].id, f[0].severity), ("bimi.ok", Severity::Pass));
        // The judge agrees with the note: DMARC at none hides the logo.
        let lax = judge(r, Policy::None);
        assert_eq!(lax[0].id, "bimi.dmarc_not_enforced");
        assert!(g.notes.iter().any(|n| n.contains("SVG Tiny PS")));
        assert!(
            g.notes
                .iter()
                .any(|n| n.contains("p=quarantine or p=reject"))
        );
    }

    #[test]
    fn another_selector_and_no_certificate() {
        let g = bimi(&domain(), "Brand2", "https://example.com/l.SVG", None).unwrap();
        let r = &g.records[0];
        assert_eq!(r.name, "brand2._bimi.example.com");
        assert_eq!(r.value, "v=BIMI1; l=https://example.com/l.SVG");
        assert!(g.notes.iter().any(|n| n.contains("Gmail")));
        assert!(g.notes.iter().any(|n| n.contains("BIMI-Selector")));
        assert_eq!(judge(r, Policy::Quarantine)[0].id, "bimi.ok");
    }

    #[test]
    fn bad_inputs_are_refused() {
        let d = domain();
        for (logo, a) in [
            ("http://example.com/logo.svg", None),
            ("https://example.com/logo.png", None),
            ("example.com/logo.svg", None),
            (
                "https://example.com/logo.svg",
                Some("http://example.com/vmc.pem"),
            ),
        ] {
            assert!(
                matches!(
                    bimi(&d, "default", logo, a),
                    Err(RecordsError::Https { .. })
                ),
                "{logo} {a:?}"
            );
        }
        assert!(matches!(
            bimi(&d, "bad_selector", "https://example.com/logo.svg", None),
            Err(RecordsError::Selector { .. })
        ));
    }
}
