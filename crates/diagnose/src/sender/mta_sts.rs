//! MTA-STS (RFC 8461): the `_mta-sts` record, the policy fetched over HTTPS, and whether it
//! covers every MX host.

use std::time::Duration;

use mxray_core::DomainName;
use mxray_core::address::special_range;
use mxray_core::{Finding, Severity, escape_text};
use mxray_net::{AddressPolicy, Dns, DnsAnswer, HttpsObservation, RType, TlsSettings, https_get};
use serde::Serialize;

use super::tags::tags;
use super::{SenderObs, txt_records};
use crate::recipient::observe::Observations;
use mxray_core::mx::MxPlan;

use crate::Topic;
use crate::score::Area;

// Finding ids: the public contract, listed in docs/findings.md.
pub const MISSING: &str = "mta_sts.missing";
pub const RECORD_SYNTAX: &str = "mta_sts.record_syntax";
pub const POLICY_UNREACHABLE: &str = "mta_sts.policy_unreachable";
pub const POLICY_SYNTAX: &str = "mta_sts.policy_syntax";
pub const MX_MISMATCH: &str = "mta_sts.mx_mismatch";
pub const TESTING: &str = "mta_sts.testing";
pub const MAX_AGE_SHORT: &str = "mta_sts.max_age_short";
pub const OK: &str = "mta_sts.ok";

/// This topic's score area, side and ids.
pub const TOPIC: Topic = Topic {
    area: Area::Tls,
    recipient: false,
    ids: &[
        MISSING,
        RECORD_SYNTAX,
        POLICY_UNREACHABLE,
        POLICY_SYNTAX,
        MX_MISMATCH,
        TESTING,
        MAX_AGE_SHORT,
        OK,
    ],
};

/// RFC 8461 3.2: max_age is at most a year; under a day defeats the point of caching.
pub const MAX_AGE_MAX: u64 = 31_557_600;
pub const MAX_AGE_MIN_SENSIBLE: u64 = 86_400;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MtaStsObs {
    pub txt: DnsAnswer,
    /// The policy fetch, done when the TXT record exists.
    pub policy: Option<HttpsObservation>,
}

/// The `_mta-sts` record and, when it exists, the policy over HTTPS.
pub async fn observe(
    dns: &Dns,
    d: &str,
    port: u16,
    tls: &TlsSettings,
    timeout: Duration,
    addresses: &AddressPolicy,
) -> MtaStsObs {
    let txt = dns.query(&format!("_mta-sts.{d}"), RType::Txt).await;
    let policy = if txt_records(&txt)
        .iter()
        .any(|t| t.to_ascii_lowercase().starts_with("v=stsv1"))
    {
        Some(
            https_get(
                dns,
                &format!("mta-sts.{d}"),
                port,
                "/.well-known/mta-sts.txt",
                tls,
                timeout,
                addresses,
            )
            .await,
        )
    } else {
        None
    };
    MtaStsObs { txt, policy }
}

/// A parsed MTA-STS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsPolicy {
    pub mode: String,
    pub mx: Vec<String>,
    pub max_age: u64,
}

/// The domain's MX hosts that no `mx:` pattern of the policy matches (RFC 8461 4.1: exact,
/// or `*.` for one left-most label).
pub fn unmatched_mx(policy: &StsPolicy, obs: &Observations) -> Vec<String> {
    MxPlan::from_answer(&obs.mx)
        .exchanges(usize::MAX)
        .into_iter()
        .map(|r| r.exchange.to_string())
        .filter(|n| {
            let n = DomainName::from_dns(n);
            !policy.mx.iter().any(|pat| n.matches_pattern(pat))
        })
        .collect()
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

/// Every MTA-STS finding; the MX hosts come from the recipient side's MX lookup.
pub fn findings(s: &SenderObs, obs: &Observations) -> Vec<Finding> {
    let mut f = Vec::new();
    let Some(m) = &s.mta_sts else { return f };
    let d = &s.domain;
    let recs: Vec<String> = txt_records(&m.txt)
        .into_iter()
        .filter(|r| r.to_ascii_lowercase().starts_with("v=stsv1"))
        .collect();
    if recs.is_empty() {
        f.push(
            Finding::new(MISSING, Severity::Info, format!("{d} publishes no MTA-STS policy"))
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
            Finding::new(RECORD_SYNTAX, Severity::Fail, format!("The _mta-sts.{d} record is malformed"))
                .detail("RFC 8461 3.1: exactly one record \"v=STSv1; id=ID\" (id: 1-32 letters or digits). Senders ignore the policy otherwise.")
                .evidence(ev_txt.clone())
                .fix(format!("Publish one TXT at _mta-sts.{d}: v=STSv1; id=20240101")),
        );
    }
    let Some(p) = &m.policy else { return f };
    // The policy host in a special-purpose range: senders elsewhere cannot fetch the policy,
    // and a fetcher sent there probes its own network (loopback: the lab, a note).
    if let Some(ip) = p.addr
        && let Some(range) = special_range(ip)
    {
        let host = format!("mta-sts.{d}");
        f.push(
            Finding::new(
                crate::recipient::mx::PRIVATE_ADDRESS,
                if ip.is_loopback() { Severity::Info } else { Severity::Warn },
                format!("The MTA-STS policy host {host} resolves to {ip}: {range}"),
            )
            .detail("Senders fetch the policy over HTTPS from the internet: an address outside it cannot serve them (loopback is expected in the lab and local rehearsals).")
            .evidence(p.dns.iter().flat_map(|a| a.evidence()).collect::<Vec<_>>())
            .fix(format!("Publish the public address of the web server for {host}")),
        );
    }
    if let Some(n) = &p.not_allowed {
        // Not fetched by choice (--public-only, serve): nothing is known of the server.
        f.push(
            Finding::new(
                crate::recipient::mx::PRIVATE_ADDRESS,
                Severity::Warn,
                format!("The MTA-STS policy of {d} was not fetched: mta-sts.{d} is a {} address", n.range),
            )
            .detail("Only public addresses are contacted in this run (--public-only, or mxray serve), so the policy is not judged.")
            .evidence([format!("GET {}: {}", p.url, escape_text(&n.to_string()))])
            .fix(format!("If {} is on your own network and you mean to test it, allow the range: --allow-private CIDR", n.ip)),
        );
        return f;
    }
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
            Finding::new(POLICY_UNREACHABLE, Severity::Fail, format!("The MTA-STS policy of {d} cannot be fetched"))
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
                Finding::new(POLICY_SYNTAX, Severity::Fail, format!("The MTA-STS policy of {d} is invalid"))
                    .detail(format!("{}. Senders discard an invalid policy.", escape_text(&why)))
                    .evidence(ev)
                    .fix("Serve text/plain: version: STSv1 / mode: enforce / mx: mx.example.com / max_age: 604800"),
            );
            return f;
        }
    };
    let unmatched = unmatched_mx(&policy, obs);
    if !unmatched.is_empty() && policy.mode != "none" {
        let enforce = policy.mode == "enforce";
        f.push(
            Finding::new(MX_MISMATCH, if enforce { Severity::Fail } else { Severity::Warn }, format!("MX host(s) not in the MTA-STS policy: {}", unmatched.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")))
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
            Finding::new(TESTING, Severity::Info, "MTA-STS is in testing mode")
                .detail("Failures are reported (TLS-RPT) but not enforced. Switch to enforce once reports are clean.")
                .evidence(ev.clone()),
        );
    }
    if policy.max_age < MAX_AGE_MIN_SENSIBLE && policy.mode != "none" {
        f.push(
            Finding::new(MAX_AGE_SHORT, Severity::Warn, format!("MTA-STS max_age is only {} s", policy.max_age))
                .detail("Senders forget the policy quickly, so an attacker who blocks the policy fetch can downgrade TLS. RFC 8461 suggests weeks.")
                .evidence(ev.clone())
                .fix("Set max_age to 604800 (a week) or more"),
        );
    }
    if unmatched.is_empty() {
        f.push(
            Finding::new(
                OK,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sender::testing::{ids, recipient, sender, txt};

    fn fetched(status: Option<u16>, error: Option<&str>, body: &str) -> HttpsObservation {
        HttpsObservation {
            url: "https://mta-sts.example.com/.well-known/mta-sts.txt".into(),
            dns: None,
            addr: None,
            error: error.map(str::to_string),
            tls: None,
            status,
            content_type: Some("text/plain".into()),
            body: Some(body.into()),
            truncated: false,
            not_allowed: None,
            elapsed_ms: 5,
        }
    }

    fn judge(policy: Option<HttpsObservation>, mx: &[&str]) -> Vec<Finding> {
        let mut s = sender("example.com");
        s.mta_sts = Some(MtaStsObs {
            txt: txt("_mta-sts.example.com", &["v=STSv1; id=20240101"]),
            policy,
        });
        findings(&s, &recipient("example.com", mx, Vec::new()))
    }

    const ENFORCE: &str = "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 604800\n";

    #[test]
    fn policy_mismatch_and_coverage() {
        let ok = judge(
            Some(fetched(Some(200), None, ENFORCE)),
            &["mx1.example.com"],
        );
        assert_eq!(ids(&ok, Severity::Pass), [OK]);
        let two = ["mx1.example.com", "mx2.example.com"];
        let bad = judge(Some(fetched(Some(200), None, ENFORCE)), &two);
        assert_eq!(ids(&bad, Severity::Fail), [MX_MISMATCH]);
        let testing = ENFORCE.replace("enforce", "testing");
        let soft = judge(Some(fetched(Some(200), None, &testing)), &two);
        assert_eq!(ids(&soft, Severity::Warn), [MX_MISMATCH]);
        assert_eq!(ids(&soft, Severity::Info), [TESTING]);
    }

    #[test]
    fn policy_unreachable_or_invalid() {
        let mx = ["mx1.example.com"];
        let down = judge(Some(fetched(None, Some("connection refused"), "")), &mx);
        assert_eq!(ids(&down, Severity::Fail), [POLICY_UNREACHABLE]);
        let gone = judge(Some(fetched(Some(404), None, "")), &mx);
        assert_eq!(ids(&gone, Severity::Fail), [POLICY_UNREACHABLE]);
        let junk = judge(Some(fetched(Some(200), None, "mode: enforce\n")), &mx);
        assert_eq!(ids(&junk, Severity::Fail), [POLICY_SYNTAX]);
        let short = ENFORCE.replace("604800", "3600");
        let brief = judge(Some(fetched(Some(200), None, &short)), &mx);
        assert_eq!(ids(&brief, Severity::Warn), [MAX_AGE_SHORT]);
    }

    #[test]
    fn a_policy_host_in_a_private_range_is_named() {
        let mut p = fetched(Some(200), None, ENFORCE);
        p.addr = Some("10.20.30.40".parse().unwrap());
        let f = judge(Some(p), &["mx1.example.com"]);
        let w: Vec<&Finding> = f
            .iter()
            .filter(|x| x.id == crate::recipient::mx::PRIVATE_ADDRESS)
            .collect();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].severity, Severity::Warn);
        assert!(
            w[0].title.contains("10.20.30.40: private (RFC 1918"),
            "{}",
            w[0].title
        );
    }

    #[test]
    fn record_missing_or_malformed() {
        let mut s = sender("example.com");
        s.mta_sts = Some(MtaStsObs {
            txt: txt("_mta-sts.example.com", &[]),
            policy: None,
        });
        let obs = recipient("example.com", &["mx1.example.com"], Vec::new());
        assert_eq!(ids(&findings(&s, &obs), Severity::Info), [MISSING]);
        s.mta_sts = Some(MtaStsObs {
            txt: txt("_mta-sts.example.com", &["v=STSv1; id=not-alnum!"]),
            policy: None,
        });
        assert_eq!(ids(&findings(&s, &obs), Severity::Fail), [RECORD_SYNTAX]);
        let p = parse_policy(
            "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
        );
        assert_eq!(p.map(|p| p.mx.len()), Ok(2));
        assert!(parse_policy("version: STSv1\nmode: sometimes\nmx: a\nmax_age: 1\n").is_err());
        assert!(parse_policy("mode: enforce\nmx: a\nmax_age: 1\n").is_err());
    }
}
