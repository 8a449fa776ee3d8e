//! DANE for SMTP (RFC 7672): each MX host's TLSA records with the resolver's AD bit, judged
//! against the certificates the recipient side's STARTTLS sessions saw.

use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{Dns, DnsAnswer, DnsOutcome, DnsRecord, RType};
use ring::digest;
use serde::Serialize;

use super::SenderObs;
use super::shared::OncePerRun;
use crate::recipient::observe::Observations;

use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const NONE: &str = "dane.none";
pub const UNSIGNED: &str = "dane.unsigned";
pub const MISMATCH: &str = "dane.mismatch";
pub const OK: &str = "dane.ok";

pub const UNUSABLE: &str = "dane.unusable";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Tls,
    recipient: false,
    ids: &[NONE, UNSIGNED, UNUSABLE, OK],
};

/// A validated TLSA set that no certificate satisfies stops delivery: DANE-enforcing senders
/// (Postfix, Exim, the large providers) defer every message (4.7.5). That is a recipient-side
/// fault, so the mismatch counts towards the verdict as the other recipient topics do.
pub const DELIVERY_TOPIC: Topic = Topic {
    area: Area::Tls,
    recipient: true,
    ids: &[MISMATCH],
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

/// MX hosts' DANE observations shared by every target of a run: a provider's MX hosts serve
/// many domains, and the AD-bit question goes past the resolver's cache, so without this each
/// domain asked it again for the same host.
pub struct DaneCache {
    hosts: OncePerRun<String, DaneObs>,
}

/// MX hosts a run's DANE cache keeps (far more than a run meets; beyond, asked directly).
pub const CACHE_MAX: usize = 100_000;

impl Default for DaneCache {
    fn default() -> DaneCache {
        DaneCache {
            hosts: OncePerRun::new(CACHE_MAX),
        }
    }
}

/// [`observe`], once per MX host for the whole run.
pub async fn observe_shared(dns: &Dns, cache: &DaneCache, mx: &str) -> DaneObs {
    let mut obs = cache
        .hosts
        .get(mx.to_ascii_lowercase(), || observe(dns, mx))
        .await;
    // The name as this domain's MX record spells it.
    obs.mx = mx.to_string();
    obs
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

/// Whether a certificate's DNS names cover one of `hosts` (lower case, no trailing dot): an
/// exact name, or a `*.` wildcard for exactly the left-most label (RFC 6125 6.4.3).
fn names_any(names: &[String], hosts: &[String]) -> bool {
    names.iter().any(|n| {
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        hosts.iter().any(|h| match n.strip_prefix("*.") {
            Some(rest) => h
                .split_once('.')
                .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
            None => *h == n,
        })
    })
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
            // RFC 7672 2.2: TLSA records that are not DNSSEC-validated are ignored; whether
            // they would match says nothing about delivery, so no match is judged.
            f.push(
                Finding::new(UNSIGNED, Severity::Warn, format!("TLSA records for {} exist but are not DNSSEC-validated: unusable", x.mx))
                    .detail("The resolver did not mark the answer authenticated: the zone is unsigned, or the resolver does not validate (mxray does not validate DNSSEC itself). DANE senders ignore TLSA records without DNSSEC (RFC 7672 2.2): these records neither protect nor break delivery, so they are not compared with the certificate.")
                    .evidence(ev.clone())
                    .fix("Sign the zone with DNSSEC, or check with a validating resolver (--resolver of one that sets AD)"),
            );
            continue;
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
        let all: Vec<(u8, u8, u8, Vec<u8>)> = x
            .tlsa
            .records
            .iter()
            .filter_map(|r| match r {
                DnsRecord::Other { rtype, data, .. } if rtype == "TLSA" => tlsa_fields(data),
                _ => None,
            })
            .collect();
        // RFC 7672 3.1.3: SMTP uses DANE-TA(2) and DANE-EE(3) only; PKIX-TA(0) and PKIX-EE(1)
        // records are unusable, and a set of only unusable records is no DANE at all.
        let records: Vec<&(u8, u8, u8, Vec<u8>)> =
            all.iter().filter(|(u, ..)| matches!(u, 2 | 3)).collect();
        if records.is_empty() {
            f.push(
                Finding::new(UNUSABLE, Severity::Warn, format!("{}'s TLSA records are all unusable for SMTP", x.mx))
                    .detail("RFC 7672 3.1.3: SMTP senders use only DANE-TA (2) and DANE-EE (3) records; with PKIX-TA (0) or PKIX-EE (1) records alone, DANE senders fall back to unauthenticated TLS.")
                    .evidence(ev)
                    .fix(format!("Publish 3 1 1 records (the SHA-256 of the server's public key) at _25._tcp.{}", x.mx))
                    .host(x.mx.clone()),
            );
            continue;
        }
        // DANE-TA also needs the certificate to name the host (RFC 7672 3.2.2, 3.2.3): the MX
        // name, or the name its CNAME leads to. DANE-EE ignores names.
        let mut reference = vec![x.mx.to_ascii_lowercase()];
        for h in obs
            .hosts
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(&x.mx))
        {
            for r in h.cname.iter().flat_map(|c| c.records.iter()) {
                if let DnsRecord::Cname { target, .. } = r {
                    reference.push(target.trim_end_matches('.').to_ascii_lowercase());
                }
            }
        }
        let mut ta_unnamed = false;
        let matched = chains.iter().all(|chain| {
            records.iter().any(|(usage, sel, m, want)| {
                let candidates: Vec<&mxray_net::CertInfo> = match usage {
                    3 => chain.iter().take(1).collect(),
                    _ => chain.iter().skip(1).collect(),
                };
                let digest = candidates.iter().any(|c| {
                    association(&c.der, &c.spki, *sel, *m).is_some_and(|got| &got == want)
                });
                if digest
                    && *usage == 2
                    && !chain
                        .first()
                        .is_some_and(|leaf| names_any(&leaf.names, &reference))
                {
                    ta_unnamed = true;
                    return false;
                }
                digest
            })
        });
        let leaf_digest = certs.first().map(|c| {
            digest::digest(&digest::SHA256, &c.spki)
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        });
        if let (Some(c), Some(d)) = (certs.first(), &leaf_digest) {
            ev.push(format!(
                "presented: {} spki sha256 {d}",
                escape_text(&c.names.join(", "))
            ));
        }
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
        } else if ta_unnamed {
            f.push(
                Finding::new(MISMATCH, Severity::Fail, format!("{}'s certificate chains to its DANE-TA anchor but does not name {}", x.mx, x.mx))
                    .detail("RFC 7672 3.2.3: with a DANE-TA (2 x x) record the server certificate must also name the MX host (or the name its CNAME leads to); Postfix reports \"hostname mismatch\" and defers every message (4.7.5).")
                    .evidence(ev)
                    .fix(format!("Issue the certificate for {} (a SAN entry), or publish a DANE-EE record instead: TLSA 3 1 1 {}", x.mx, leaf_digest.as_deref().unwrap_or("<SHA-256 of the server's public key>")))
                    .host(x.mx.clone()),
            );
        } else {
            f.push(
                Finding::new(MISMATCH, Severity::Fail, format!("{}'s certificate matches none of its TLSA records", x.mx))
                    .detail("The zone is DNSSEC-validated, so DANE senders (Postfix, Exim, the large providers) enforce these records: no record matches the certificate, and they defer every message (4.7.5), then bounce it. Usually a certificate renewed with a new key before its TLSA record was published.")
                    .evidence(ev)
                    .fix(format!(
                        "Publish at _25._tcp.{} the record of the key the server presents now: TLSA 3 1 1 {}. When rolling keys, publish the next key's 3 1 1 beside the current one first (\"3 1 1 current + 3 1 1 next\"), wait the TTL, then switch the certificate",
                        x.mx,
                        leaf_digest.as_deref().unwrap_or("<SHA-256 of the server's public key: openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum>")
                    ))
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
        // Unvalidated records are not judged: no pass beside "unsigned" (RFC 7672 2.2), and
        // no mismatch either.
        assert!(ids(&unsigned, Severity::Pass).is_empty(), "{unsigned:?}");
        let wrong_unsigned = judge(
            tlsa(&format!("3 1 1 {}", "00".repeat(32)), Some(false)),
            vec![cert()],
        );
        assert!(
            ids(&wrong_unsigned, Severity::Fail).is_empty(),
            "{wrong_unsigned:?}"
        );
        let mut nothing = tlsa("", None);
        nothing.tlsa = answer(
            "_25._tcp.mx1.example.com",
            RType::Tlsa,
            DnsOutcome::NxDomain,
            vec![],
        );
        assert_eq!(ids(&judge(nothing, vec![cert()]), Severity::Info), [NONE]);
    }

    fn ca() -> CertInfo {
        CertInfo {
            subject: "CN=lab CA".into(),
            issuer: "CN=lab CA".into(),
            names: vec![],
            der: vec![0x30, 0x03, 0x01, 0x01, 0xff],
            spki: vec![0x30, 0x04, 0x05, 0x00, 0x01],
            ..cert()
        }
    }

    fn ca_sha256() -> String {
        digest::digest(&digest::SHA256, &ca().spki)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn dane_ta_needs_the_host_name_dane_ee_does_not() {
        let ta = format!("2 1 1 {}", ca_sha256());
        let good = judge(tlsa(&ta, Some(true)), vec![cert(), ca()]);
        assert_eq!(ids(&good, Severity::Pass), [OK], "{good:?}");
        // The anchor matches, the leaf names another host: Postfix's "hostname mismatch".
        let other = CertInfo {
            names: vec!["mail.elsewhere.example".into()],
            ..cert()
        };
        let unnamed = judge(tlsa(&ta, Some(true)), vec![other.clone(), ca()]);
        assert_eq!(ids(&unnamed, Severity::Fail), [MISMATCH]);
        assert!(unnamed[0].title.contains("does not name"), "{unnamed:?}");
        let fix = unnamed[0].fix.clone().unwrap_or_default();
        assert!(fix.contains(&format!("3 1 1 {}", spki_sha256())), "{fix}");
        // A wildcard covers one label; DANE-EE ignores names altogether.
        let wild = CertInfo {
            names: vec!["*.example.com".into()],
            ..cert()
        };
        assert_eq!(
            ids(
                &judge(tlsa(&ta, Some(true)), vec![wild, ca()]),
                Severity::Pass
            ),
            [OK]
        );
        let ee = judge(
            tlsa(&format!("3 1 1 {}", spki_sha256()), Some(true)),
            vec![other, ca()],
        );
        assert_eq!(ids(&ee, Severity::Pass), [OK]);
        assert!(names_any(
            &["*.example.com".into()],
            &["mx1.example.com".into()]
        ));
        assert!(!names_any(
            &["*.example.com".into()],
            &["a.mx1.example.com".into()]
        ));
        assert!(!names_any(
            &["*.example.com".into()],
            &["example.com".into()]
        ));
    }

    #[test]
    fn pkix_usages_are_unusable_for_smtp() {
        let pkix = judge(
            tlsa(&format!("1 1 1 {}", spki_sha256()), Some(true)),
            vec![cert()],
        );
        assert_eq!(ids(&pkix, Severity::Warn), [UNUSABLE]);
        assert!(ids(&pkix, Severity::Pass).is_empty());
    }

    #[test]
    fn a_validated_mismatch_counts_for_the_recipient_side() {
        assert!(crate::topic_of(MISMATCH).is_some_and(|t| t.recipient));
        let bad = judge(
            tlsa(&format!("3 1 1 {}", "00".repeat(32)), Some(true)),
            vec![cert()],
        );
        let fix = bad[0].fix.clone().unwrap_or_default();
        assert!(
            fix.contains("3 1 1 current + 3 1 1 next") && fix.contains(&spki_sha256()),
            "{fix}"
        );
    }
}
