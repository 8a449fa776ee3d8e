//! Transport security policies, judged: MTA-STS (RFC 8461: record, policy over HTTPS, MX
//! patterns), TLS-RPT (RFC 8460) and DANE (RFC 7672: TLSA against the certificate seen).

use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{DnsOutcome, DnsRecord};
use ring::digest;

use crate::auth::tags;
use crate::observe::Observations;
use crate::sender::{SenderObs, txt_records};

/// RFC 8461 3.2: max_age is at most a year; under a day defeats the point of caching.
pub const MAX_AGE_MAX: u64 = 31_557_600;
pub const MAX_AGE_MIN_SENSIBLE: u64 = 86_400;

/// A parsed MTA-STS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsPolicy {
    pub mode: String,
    pub mx: Vec<String>,
    pub max_age: u64,
}

/// Parses a policy body (RFC 8461 3.2): `key: value` lines.
pub fn parse_policy(body: &str) -> Result<StsPolicy, String> {
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(format!("line {:?} is not key: value", escape_text(line)));
        };
        let v = v.trim();
        match k.trim() {
            "version" => version = Some(v.to_string()),
            "mode" => mode = Some(v.to_string()),
            "max_age" => {
                max_age = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("max_age {:?} is not a number", escape_text(v)))?,
                )
            }
            "mx" => mx.push(v.to_ascii_lowercase()),
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("version: STSv1 is missing".into());
    }
    let mode = mode.ok_or("mode is missing")?;
    if !matches!(mode.as_str(), "enforce" | "testing" | "none") {
        return Err(format!(
            "mode {:?} is not enforce, testing or none",
            escape_text(&mode)
        ));
    }
    let max_age = max_age.ok_or("max_age is missing")?;
    if max_age > MAX_AGE_MAX {
        return Err(format!("max_age {max_age} is over a year ({MAX_AGE_MAX})"));
    }
    if mx.is_empty() && mode != "none" {
        return Err("no mx: lines".into());
    }
    Ok(StsPolicy { mode, mx, max_age })
}

/// RFC 8461 4.1: an `mx` pattern matches exactly, or `*.` stands for one left-most label.
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim_end_matches('.').to_ascii_lowercase();
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match p.strip_prefix("*.") {
        Some(rest) => h
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => p == h,
    }
}

fn mx_names(obs: &Observations) -> Vec<String> {
    let mut v: Vec<String> = obs
        .mx
        .records
        .iter()
        .filter_map(|r| match r {
            DnsRecord::Mx { exchange, .. } if exchange != "." && !exchange.is_empty() => {
                Some(exchange.to_ascii_lowercase())
            }
            _ => None,
        })
        .collect();
    v.dedup();
    v
}

pub fn mta_sts_findings(s: &SenderObs, obs: &Observations) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(m) = &s.mta_sts else { return f };
    let d = &s.domain;
    let recs: Vec<String> = txt_records(&m.txt)
        .into_iter()
        .filter(|r| r.to_ascii_lowercase().starts_with("v=stsv1"))
        .collect();
    if recs.is_empty() {
        f.push(
            Finding::new("mta_sts.missing", Severity::Info, format!("{d} publishes no MTA-STS policy"))
                .detail("Optional: MTA-STS (RFC 8461) lets senders insist on verified TLS to your MX hosts, stopping downgrade attacks.")
                .evidence(m.txt.evidence()),
        );
        return f;
    }
    let ev_txt = m.txt.evidence();
    let id_ok = recs.len() == 1
        && tags(&recs[0]).ok().is_some_and(|t| {
            t.first().is_some_and(|(k, v)| k == "v" && v == "STSv1")
                && t.iter().any(|(k, v)| {
                    k == "id"
                        && !v.is_empty()
                        && v.len() <= 32
                        && v.chars().all(|c| c.is_ascii_alphanumeric())
                })
        });
    if !id_ok {
        f.push(
            Finding::new("mta_sts.record_syntax", Severity::Fail, format!("The _mta-sts.{d} record is malformed"))
                .detail("RFC 8461 3.1: exactly one record \"v=STSv1; id=ID\" (id: 1-32 letters or digits). Senders ignore the policy otherwise.")
                .evidence(ev_txt.clone())
                .fix(format!("Publish one TXT at _mta-sts.{d}: v=STSv1; id=20240101")),
        );
    }
    let Some(p) = &m.policy else { return f };
    let mut ev = ev_txt;
    ev.push(format!(
        "GET {} -> {}",
        p.url,
        match (p.status, &p.error) {
            (Some(s), _) => format!(
                "HTTP {s}, {} ({} ms)",
                p.content_type.as_deref().unwrap_or("no content type"),
                p.elapsed_ms
            ),
            (None, Some(e)) => escape_text(e),
            (None, None) => "no response".into(),
        }
    ));
    if let Some(t) = &p.tls {
        if let Some(leaf) = t.chain.first() {
            ev.push(format!(
                "certificate: {} (issuer {})",
                escape_text(&leaf.names.join(", ")),
                escape_text(&leaf.issuer)
            ));
        }
        if let Some(v) = &t.verify_error {
            ev.push(format!("certificate verdict: {}", escape_text(v)));
        }
    }
    let cert_bad = p.tls.as_ref().and_then(|t| t.verify_error.clone());
    let why = if let Some(e) = &p.error {
        Some(escape_text(e))
    } else if let Some(v) = cert_bad {
        Some(format!(
            "the certificate of mta-sts.{d} does not verify ({}): senders must not use a policy fetched that way",
            escape_text(&v)
        ))
    } else {
        match p.status {
            Some(200) => None,
            Some(s) => Some(format!("HTTP {s} instead of 200")),
            None => Some("no response".into()),
        }
    };
    if let Some(why) = why {
        f.push(
            Finding::new("mta_sts.policy_unreachable", Severity::Fail, format!("The MTA-STS policy of {d} cannot be fetched"))
                .detail(format!("{why}. The TXT record announces a policy, so senders that already cached one keep enforcing it and new ones get nothing (RFC 8461 3.3)."))
                .evidence(ev)
                .fix(format!("Serve the policy at https://mta-sts.{d}/.well-known/mta-sts.txt with a valid certificate for mta-sts.{d}")),
        );
        return f;
    }
    let body = p.body.clone().unwrap_or_default();
    ev.extend(
        body.lines()
            .take(20)
            .map(|l| format!("  {}", escape_text(l))),
    );
    let ctype_ok = p
        .content_type
        .as_deref()
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/plain"));
    let policy = match parse_policy(&body) {
        Ok(pol) if ctype_ok => pol,
        other => {
            let why = match other {
                Err(e) => e,
                Ok(_) => format!(
                    "Content-Type is {:?}, not text/plain",
                    p.content_type.as_deref().unwrap_or("missing")
                ),
            };
            f.push(
                Finding::new("mta_sts.policy_syntax", Severity::Fail, format!("The MTA-STS policy of {d} is invalid"))
                    .detail(format!("{}. Senders discard an invalid policy.", escape_text(&why)))
                    .evidence(ev)
                    .fix("Serve text/plain: version: STSv1 / mode: enforce / mx: mx.example.com / max_age: 604800"),
            );
            return f;
        }
    };
    let names = mx_names(obs);
    let unmatched: Vec<&String> = names
        .iter()
        .filter(|n| !policy.mx.iter().any(|pat| mx_matches(pat, n)))
        .collect();
    if !unmatched.is_empty() && policy.mode != "none" {
        let enforce = policy.mode == "enforce";
        f.push(
            Finding::new("mta_sts.mx_mismatch", if enforce { Severity::Fail } else { Severity::Warn }, format!("MX host(s) not in the MTA-STS policy: {}", unmatched.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")))
                .detail(format!(
                    "The policy allows mx: {}. {}",
                    escape_text(&policy.mx.join(", ")),
                    if enforce { "In enforce mode, senders refuse to deliver to an MX the policy does not list: mail to it is deferred, then bounced." } else { "In testing mode this is only reported (TLS-RPT), but it would break delivery once enforced." }
                ))
                .evidence(ev.clone())
                .fix("Add an mx: line for every MX host (or a *.example.com pattern), and bump the id in the _mta-sts record"),
        );
    }
    if policy.mode == "testing" {
        f.push(
            Finding::new("mta_sts.testing", Severity::Info, "MTA-STS is in testing mode")
                .detail("Failures are reported (TLS-RPT) but not enforced. Switch to enforce once reports are clean.")
                .evidence(ev.clone()),
        );
    }
    if policy.max_age < MAX_AGE_MIN_SENSIBLE && policy.mode != "none" {
        f.push(
            Finding::new("mta_sts.max_age_short", Severity::Warn, format!("MTA-STS max_age is only {} s", policy.max_age))
                .detail("Senders forget the policy quickly, so an attacker who blocks the policy fetch can downgrade TLS. RFC 8461 suggests weeks.")
                .evidence(ev.clone())
                .fix("Set max_age to 604800 (a week) or more"),
        );
    }
    if unmatched.is_empty() {
        f.push(
            Finding::new(
                "mta_sts.ok",
                Severity::Pass,
                format!("MTA-STS mode {} covers every MX", policy.mode),
            )
            .detail(format!(
                "mx: {}; max_age {}",
                escape_text(&policy.mx.join(", ")),
                policy.max_age
            ))
            .evidence(ev),
        );
    }
    f
}

pub fn tlsrpt_findings(s: &SenderObs) -> Vec<Finding> {
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
            Finding::new("tlsrpt.missing", if uses_policy { Severity::Warn } else { Severity::Info }, format!("{d} publishes no TLS-RPT record"))
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
            Finding::new(
                "tlsrpt.syntax",
                Severity::Warn,
                "The TLS-RPT record is malformed",
            )
            .detail("RFC 8460 3: exactly one record v=TLSRPTv1; rua=mailto:... or https://...")
            .evidence(ev)
            .fix(format!("v=TLSRPTv1; rua=mailto:tlsrpt@{d}")),
        );
        return f;
    }
    f.push(
        Finding::new("tlsrpt.ok", Severity::Pass, "TLS-RPT reports are requested")
            .detail(escape_text(&recs[0]))
            .evidence(ev),
    );
    f
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

pub fn dane_findings(s: &SenderObs, obs: &Observations) -> Vec<Finding> {
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
                    "dane.none",
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
                Finding::new("dane.unsigned", Severity::Warn, format!("TLSA records for {} are not DNSSEC-validated", x.mx))
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
                Finding::new("dane.mismatch", Severity::Fail, format!("{} publishes TLSA records but presented no certificate", x.mx))
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
                    "dane.ok",
                    Severity::Pass,
                    format!("{}'s certificate matches its TLSA records", x.mx),
                )
                .evidence(ev)
                .host(x.mx.clone()),
            );
        } else {
            f.push(
                Finding::new("dane.mismatch", Severity::Fail, format!("{}'s certificate matches none of its TLSA records", x.mx))
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
    use super::*;

    #[test]
    fn policies_and_patterns() {
        let p = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n").unwrap();
        assert_eq!(p.mx.len(), 2);
        assert!(mx_matches("*.example.net", "a.example.net"));
        assert!(!mx_matches("*.example.net", "a.b.example.net"));
        assert!(parse_policy("version: STSv1\nmode: sometimes\nmx: a\nmax_age: 1\n").is_err());
        assert!(parse_policy("mode: enforce\nmx: a\nmax_age: 1\n").is_err());
        assert_eq!(
            tlsa_fields("3 1 1 0aff").map(|t| t.3),
            Some(vec![0x0a, 0xff])
        );
    }
}
