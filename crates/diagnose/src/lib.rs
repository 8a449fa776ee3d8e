//! mxray-diagnose: the 421 debugging checklist for a domain, as recipient and as sender.
//! `collect`/`sender` record observations through mxray-net; the checks and the scorer judge them.

pub mod auth;
pub mod checks;
pub mod collect;
pub mod observe;
pub mod policy;
pub mod reputation;
pub mod score;
pub mod sender;

use mxray_core::Finding;
use mxray_core::address::parse_target;
use mxray_net::Dns;
use serde::Serialize;

pub use checks::{Overall, Verdict};
pub use collect::{Limits, Options};
pub use observe::Observations;
pub use reputation::{DnsblKind, DnsblZone};
pub use score::{Area, Areas, Score};
pub use sender::SenderOptions;

/// One target's report: verdict first, the score, findings, and the observations behind them.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub normalized: Option<String>,
    pub verdict: Verdict,
    pub score: Score,
    pub findings: Vec<Finding>,
    pub observations: Option<Observations>,
}

impl Report {
    pub fn has_failures(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == mxray_core::Severity::Fail)
    }
}

/// Diagnoses one domain or address as a recipient (part 1: DNS, MX, SMTP, TLS, rDNS).
pub async fn diagnose(dns: &Dns, input: &str, opts: &Options) -> Report {
    diagnose_full(dns, input, opts, None).await
}

/// Diagnoses one domain or address; with `sender`, also the domain as a sender (SPF, DKIM,
/// DMARC, MTA-STS, TLS-RPT, DANE, BIMI, blocklists, the sender IP's rDNS), all at once.
pub async fn diagnose_full(
    dns: &Dns,
    input: &str,
    opts: &Options,
    sender: Option<&SenderOptions>,
) -> Report {
    let areas = sender.map_or(
        Areas {
            auth: false,
            reputation: false,
            ..Areas::all()
        },
        |s| s.areas,
    );
    let target = match parse_target(input) {
        Ok(t) => t,
        Err(e) => {
            let findings = vec![checks::invalid_target(input, &e)];
            return Report {
                target: input.trim().to_string(),
                normalized: None,
                verdict: checks::verdict(None, &findings),
                score: score::score(&findings, areas),
                findings,
                observations: None,
            };
        }
    };
    let domain = target.domain_ascii.clone();
    let (mut obs, sender_obs) = tokio::join!(
        collect::collect_with(dns, target, opts, areas.smtp()),
        async {
            match sender {
                Some(s) => Some(sender::collect_sender(dns, &domain, s).await),
                None => None,
            }
        }
    );
    obs.sender = sender_obs;
    let findings = judge(&obs, areas);
    let recipient: Vec<Finding> = findings
        .iter()
        .filter(|f| is_recipient_side(f.id))
        .cloned()
        .collect();
    let mut verdict = checks::verdict(Some(&obs), &recipient);
    if !obs.smtp_checked {
        verdict.hosts.clear();
        verdict.overall = Overall::Inconclusive;
        verdict.summary = "SMTP not checked (--only leaves out transport and tls)".to_string();
    }
    Report {
        target: obs.target.input.clone(),
        normalized: Some(obs.target.normalized()),
        verdict,
        score: score::score(&findings, areas),
        findings,
        observations: Some(obs),
    }
}

/// The part-1 findings decide the verdict (can mail reach the domain); the sender side only
/// the score and the exit code.
fn is_recipient_side(id: &str) -> bool {
    matches!(
        id.split('.').next(),
        Some("domain" | "dns" | "mx" | "smtp" | "tls")
    ) || (id.starts_with("rdns.") && !id.starts_with("rdns.sender_"))
}

/// Every finding for the recorded observations, restricted to the checked areas.
pub fn judge(obs: &Observations, areas: Areas) -> Vec<Finding> {
    let mut f: Vec<Finding> = checks::check(obs)
        .into_iter()
        .filter(|x| {
            let a = score::area_of(x.id);
            a == Area::Dns || (areas.has(a) && obs.smtp_checked)
        })
        .collect();
    if let Some(s) = &obs.sender {
        if areas.auth {
            f.extend(auth::spf_findings(s));
            f.extend(auth::dkim_findings(s));
            f.extend(auth::dmarc_findings(s));
            f.extend(auth::bimi_findings(s));
        }
        if areas.tls {
            f.extend(policy::mta_sts_findings(s, obs));
            f.extend(policy::tlsrpt_findings(s));
            f.extend(policy::dane_findings(s, obs));
        }
        if areas.reputation {
            f.extend(reputation::dnsbl_findings(s));
            f.extend(reputation::sender_rdns_findings(s));
        }
    }
    f
}
