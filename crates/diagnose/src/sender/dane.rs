//! DANE for SMTP (RFC 7672): each MX host's TLSA records with the resolver's AD bit, judged
//! against the certificates the recipient side's STARTTLS sessions saw.

use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{Dns, DnsAnswer, DnsOutcome, DnsRecord, RType};
use ring::digest;
use serde::Serialize;

use super::SenderObs;
use crate::recipient::observe::Observations;

use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const NONE: &str = "dane.none";
pub const UNSIGNED: &str = "dane.unsigned";
pub const MISMATCH: &str = "dane.mismatch";
pub const OK: &str = "dane.ok";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Tls,
    recipient: false,
    ids: &[NONE, UNSIGNED, MISMATCH, OK],
};

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DaneObs {
    pub mx: String,
    pub tlsa: DnsAnswer,
    /// The resolver's AD bit on the TLSA answer (`None`: could not ask).
    pub authenticated: Option<bool>,
}

/// `_25._tcp.MX` TLSA, and whether the resolver marks it authenticated.
pub async fn observe(dns: &Dns, mx: &str) -> DaneObs {
    let name = format!("_25._tcp.{mx}");
    let (tlsa, ad) = tokio::join!(
        dns.query(&name, RType::Tlsa),
        dns.authenticated(&name, RType::Tlsa)
    );
    DaneObs {
        mx: mx.to_string(),
        tlsa,
        authenticated: ad,
    }
}

/// `usage selector matching hex` of a TLSA record line.
fn tlsa_fields(data: &str) -> Option<(u8, u8, u8, Vec<u8>)> {
    let mut it = data.split_whitespace();
    let u = it.next()?.parse().ok()?;
    let s = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let hex: String = it.collect();
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((u, s, m, bytes))
}

fn association(der: &[u8], spki: &[u8], selector: u8, matching: u8) -> Option<Vec<u8>> {
    let data = match selector {
        0 => der,
        1 => spki,
        _ => return None,
    };
    match matching {
        0 => Some(data.to_vec()),
        1 => Some(digest::digest(&digest::SHA256, data).as_ref().to_vec()),
        2 => Some(digest::digest(&digest::SHA512, data).as_ref().to_vec()),
        _ => None,
    }
}

/// Every DANE finding.
pub fn findings(s: &SenderObs, obs: &Observations) -> Vec<Finding> {
    let mut f = Vec::new();
    if !s.areas.tls {
        return f;
    }
    let with: Vec<_> = s
        .dane
        .iter()
        .filter(|x| x.tlsa.outcome == DnsOutcome::Answer)
        .collect();
    if with.is_empty() {
        if !s.dane.is_empty() {
            f.push(
                Finding::new(
                    NONE,
                    Severity::Info,
                    "No MX host publishes DANE TLSA records",
                )
                .detail(
                    "Optional: DANE (RFC 7672) pins the MX certificates in DNSSEC-signed zones.",
                )
                .evidence(
                    s.dane
                        .iter()
                        .flat_map(|x| x.tlsa.evidence())
                        .collect::<Vec<_>>(),
                ),
            );
        }
        return f;
    }
    for x in with {
        let mut ev = x.tlsa.evidence();
        ev.push(format!(
            "AD bit on the TLSA answer: {}",
            match x.authenticated {
                Some(true) => "set (the resolver validated DNSSEC)",
                Some(false) => "clear",
                None => "unknown (no direct answer)",
            }
        ));
        if x.authenticated != Some(true) {
            f.push(
                Finding::new(UNSIGNED, Severity::Warn, format!("TLSA records for {} are not DNSSEC-validated", x.mx))
                    .detail("The resolver did not mark the answer authenticated: the zone is unsigned, or the resolver does not validate (mxray does not validate DNSSEC itself). DANE senders ignore TLSA records without DNSSEC, so these protect nothing from here.")
                    .evidence(ev.clone())
                    .fix("Sign the zone with DNSSEC, or check with a validating resolver (--resolver of one that sets AD)"),
            );
        }
        let certs: Vec<&mxray_net::CertInfo> = obs
            .hosts
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(&x.mx))
            .flat_map(|h| h.addrs.iter())
            .filter_map(|a| a.tls.as_ref())
            .flat_map(|t| t.chain.first())
            .collect();
        let chains: Vec<&Vec<mxray_net::CertInfo>> = obs
            .hosts
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(&x.mx))
            .flat_map(|h| h.addrs.iter())
            .filter_map(|a| a.tls.as_ref().map(|t| &t.chain))
            .filter(|c| !c.is_empty())
            .collect();
        if chains.is_empty() {
            if !obs.hosts.iter().any(|h| h.name.eq_ignore_ascii_case(&x.mx))
                || !s.areas.transport && !s.areas.tls
            {
                continue;
            }
            f.push(
                Finding::new(MISMATCH, Severity::Fail, format!("{} publishes TLSA records but presented no certificate", x.mx))
                    .detail("No STARTTLS certificate was seen from this MX (see the TLS findings): DANE senders refuse to deliver without a TLS session that matches.")
                    .evidence(ev)
                    .fix("Fix STARTTLS on the MX, or remove the TLSA records")
                    .host(x.mx.clone()),
            );
            continue;
        }
        let records: Vec<(u8, u8, u8, Vec<u8>)> = x
            .tlsa
            .records
            .iter()
            .filter_map(|r| match r {
                DnsRecord::Other { rtype, data, .. } if rtype == "TLSA" => tlsa_fields(data),
                _ => None,
            })
            .collect();
        let matched = chains.iter().all(|chain| {
            records.iter().any(|(usage, sel, m, want)| {
                let candidates: Vec<&mxray_net::CertInfo> = match usage {
                    1 | 3 => chain.iter().take(1).collect(),
                    _ => chain.iter().skip(1).collect(),
                };
                candidates
                    .iter()
                    .any(|c| association(&c.der, &c.spki, *sel, *m).is_some_and(|got| &got == want))
            })
        });
        let leaf = certs.first().map(|c| {
            format!(
                "presented: {} spki sha256 {}",
                escape_text(&c.names.join(", ")),
                digest::digest(&digest::SHA256, &c.spki)
                    .as_ref()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )
        });
        ev.extend(leaf);
        if matched {
            f.push(
                Finding::new(
                    OK,
                    Severity::Pass,
                    format!("{}'s certificate matches its TLSA records", x.mx),
                )
                .evidence(ev)
                .host(x.mx.clone()),
            );
        } else {
            f.push(
                Finding::new(MISMATCH, Severity::Fail, format!("{}'s certificate matches none of its TLSA records", x.mx))
                    .detail("DANE senders (Postfix, Exim with DNSSEC) refuse to deliver when no TLSA record matches the certificate: mail is deferred (4.7.5). Usually a certificate renewed with a new key without updating TLSA.")
                    .evidence(ev)
                    .fix(format!("Publish a TLSA 3 1 1 record with the SHA-256 of the current key (openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum) at _25._tcp.{} before rotating keys", x.mx))
                    .host(x.mx.clone()),
            );
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use mxray_net::CertInfo;

    use super::*;
    use crate::sender::testing::{answer, ids, recipient, sender};

    fn cert() -> CertInfo {
        CertInfo {
            subject: "CN=mx1.example.com".into(),
            issuer: "CN=ca".into(),
            names: vec!["mx1.example.com".into()],
            not_before: 0,
            not_after: 2_000_000_000,
            self_signed: false,
            der: vec![0x30, 0x01, 0x00],
            spki: vec![0x30, 0x02, 0x05, 0x00],
        }
    }

    fn tlsa(data: &str, ad: Option<bool>) -> DaneObs {
        DaneObs {
            mx: "mx1.example.com".into(),
            tlsa: answer(
                "_25._tcp.mx1.example.com",
                RType::Tlsa,
                DnsOutcome::Answer,
                vec![DnsRecord::Other {
                    owner: "_25._tcp.mx1.example.com".into(),
                    rtype: "TLSA".into(),
                    data: data.into(),
                }],
            ),
            authenticated: ad,
        }
    }

    fn judge(x: DaneObs, chain: Vec<CertInfo>) -> Vec<Finding> {
        let mut s = sender("example.com");
        s.dane = vec![x];
        findings(&s, &recipient("example.com", &["mx1.example.com"], chain))
    }

    fn spki_sha256() -> String {
        digest::digest(&digest::SHA256, &cert().spki)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn match_and_mismatch() {
        let good = judge(
            tlsa(&format!("3 1 1 {}", spki_sha256()), Some(true)),
            vec![cert()],
        );
        assert_eq!(ids(&good, Severity::Pass), [OK]);
        assert!(ids(&good, Severity::Warn).is_empty());
        let bad = judge(
            tlsa(&format!("3 1 1 {}", "00".repeat(32)), Some(true)),
            vec![cert()],
        );
        assert_eq!(ids(&bad, Severity::Fail), [MISMATCH]);
        let no_cert = judge(
            tlsa(&format!("3 1 1 {}", spki_sha256()), Some(true)),
            vec![],
        );
        assert_eq!(ids(&no_cert, Severity::Fail), [MISMATCH]);
    }

    #[test]
    fn tlsa_records() {
        assert_eq!(
            tlsa_fields("3 1 1 0aff").map(|t| t.3),
            Some(vec![0x0a, 0xff])
        );
        assert_eq!(tlsa_fields("3 1 1 0af"), None);
    }

    #[test]
    fn unsigned_and_none() {
        let unsigned = judge(
            tlsa(&format!("3 1 1 {}", spki_sha256()), Some(false)),
            vec![cert()],
        );
        assert_eq!(ids(&unsigned, Severity::Warn), [UNSIGNED]);
        let mut nothing = tlsa("", None);
        nothing.tlsa = answer(
            "_25._tcp.mx1.example.com",
            RType::Tlsa,
            DnsOutcome::NxDomain,
            vec![],
        );
        assert_eq!(ids(&judge(nothing, vec![cert()]), Severity::Info), [NONE]);
    }
}
