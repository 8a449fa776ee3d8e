//! mxray-diagnose: the 421 debugging checklist for a domain, as recipient and as sender.
//! Each topic observes through mxray-net and judges with pure functions; this file runs them.
//!
//! # Layout
//! - `recipient`: can mail reach the domain: `mx`, `smtp`, `tls`, `rdns`, with the collector
//!   that runs their observations (`collect`) and the recorded data (`observe`).
//! - `sender`: the domain as a sender: `spf/` (record grammar, evaluator, walk, judge), `dkim`,
//!   `dmarc`, `mta_sts`, `tlsrpt`, `dane`, `bimi`, `dnsbl`, `rdns`, the shared `tags` parser,
//!   and `shared` (answers asked once per run: blocklists, MX hosts' DANE).
//! - `verdict`: deliverable path, degraded, broken or inconclusive, and whose side it is on.
//! - `score`: 0-100 per area and overall, each finding counted in its topic's area.
//! - `run`: many targets at once on mxray-run (the CLI's bulk mode, `serve`, cluster workers).
//! - here: collect everything for a target, judge, build the [`Report`]; the topic registry.

pub mod preflight;
pub mod recipient;
pub mod request;
pub mod run;
pub mod score;
pub mod sender;
pub mod verdict;

use mxray_core::Finding;
use mxray_core::address::parse_target;
use mxray_net::{Dns, ProxyError};
use serde::Serialize;

pub use recipient::collect::{Limits, Options, ProxyEgress};
pub use recipient::observe::Observations;
pub use recipient::smtp::HostState;
pub use run::{Diagnosed, Job};
pub use score::{Area, Areas, Score};
pub use sender::SenderOptions;
pub use sender::dnsbl::{DnsblFileError, DnsblKind, DnsblZone, default_zones, parse_dnsbl_file};
pub use verdict::{Overall, Verdict};

/// A topic's place in the report: the score area its findings count in, whether they decide
/// the verdict (the recipient side does), and its finding ids.
#[derive(Debug, Clone, Copy)]
pub struct Topic {
    pub area: Area,
    pub recipient: bool,
    pub ids: &'static [&'static str],
}

/// Every topic, recipient side first, in the order docs/findings.md lists them.
pub const TOPICS: [Topic; 14] = [
    recipient::mx::TOPIC,
    recipient::smtp::TOPIC,
    recipient::tls::TOPIC,
    recipient::rdns::TOPIC,
    sender::spf::TOPIC,
    sender::dkim::TOPIC,
    sender::dmarc::TOPIC,
    sender::bimi::TOPIC,
    sender::mta_sts::TOPIC,
    sender::tlsrpt::TOPIC,
    sender::dane::TOPIC,
    sender::dane::DELIVERY_TOPIC,
    sender::dnsbl::TOPIC,
    sender::rdns::TOPIC,
];

/// The results of indexed tasks in index order: observations keep the order of what they
/// observe (MX hosts, selectors, zones) however the lookups finish. A task that panicked is
/// left out rather than ending the collection.
pub(crate) async fn in_order<T: 'static>(mut set: tokio::task::JoinSet<(usize, T)>) -> Vec<T> {
    let mut out = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        if let Ok(x) = joined {
            out.push(x);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, x)| x).collect()
}

/// Every finding id any topic can report.
pub fn all_ids() -> Vec<&'static str> {
    TOPICS.iter().flat_map(|t| t.ids.iter().copied()).collect()
}

/// The topic that reports `id`.
pub fn topic_of(id: &str) -> Option<&'static Topic> {
    TOPICS.iter().find(|t| t.ids.contains(&id))
}

/// One target's report: verdict first, the score, findings, and the observations behind them.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
pub async fn diagnose(dns: &Dns, input: &str, opts: &Options) -> Result<Report, ProxyError> {
    diagnose_full(dns, input, opts, None).await
}

/// Diagnoses one domain or address; with `sender`, also the domain as a sender (SPF, DKIM,
/// DMARC, MTA-STS, TLS-RPT, DANE, BIMI, blocklists, the sender IP's rDNS), all at once.
///
/// The error is the SOCKS5 proxy's own failure (`opts.proxy`): the egress broke, so there is
/// no report at all rather than one blaming the domain's hosts for it.
pub async fn diagnose_full(
    dns: &Dns,
    input: &str,
    opts: &Options,
    sender: Option<&SenderOptions>,
) -> Result<Report, ProxyError> {
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
            let findings = vec![recipient::mx::invalid_target(input, &e)];
            return Ok(Report {
                target: input.trim().to_string(),
                normalized: None,
                verdict: verdict::verdict(None, &findings),
                score: score::score(&findings, areas),
                findings,
                observations: None,
            });
        }
    };
    let domain = target.domain_ascii.clone();
    let (obs, sender_obs) = tokio::join!(
        recipient::collect::collect_with(dns, target, opts, areas.smtp()),
        async {
            match sender {
                Some(s) => Some(
                    sender::collect_sender(dns, &domain, s, &opts.activity, &opts.policy).await,
                ),
                None => None,
            }
        }
    );
    let mut obs = obs?;
    obs.sender = sender_obs;
    let findings = judge(&obs, areas);
    let recipient: Vec<Finding> = findings
        .iter()
        .filter(|f| is_recipient_side(f.id))
        .cloned()
        .collect();
    let mut verdict = verdict::verdict(Some(&obs), &recipient);
    if !obs.smtp_checked {
        verdict.hosts.clear();
        verdict.overall = Overall::Inconclusive;
        verdict.summary = "SMTP not checked (--only leaves out transport and tls)".to_string();
    }
    Ok(Report {
        target: obs.target.input.clone(),
        normalized: Some(obs.target.normalized()),
        verdict,
        score: score::score(&findings, areas),
        findings,
        observations: Some(obs),
    })
}

/// The part-1 findings decide the verdict (can mail reach the domain); the sender side only
/// the score and the exit code. Each topic says which side it is on.
fn is_recipient_side(id: &str) -> bool {
    topic_of(id).is_some_and(|t| t.recipient)
}

/// Every finding for the recorded observations, restricted to the checked areas.
pub fn judge(obs: &Observations, areas: Areas) -> Vec<Finding> {
    let mut f: Vec<Finding> = recipient::check(obs)
        .into_iter()
        .filter(|x| {
            let a = score::area_of(x.id);
            a == Area::Dns || (areas.has(a) && obs.smtp_checked)
        })
        .collect();
    if let Some(s) = &obs.sender {
        f.extend(sender::judge(s, obs, areas));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids docs/findings.md documents: the first cell of its table rows.
    fn documented() -> Vec<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/findings.md");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`').map(|(id, _)| id.to_string()))
            .filter(|id| id.contains('.'))
            .collect()
    }

    #[test]
    fn docs_and_code_list_the_same_ids() {
        let docs = documented();
        let code = all_ids();
        assert!(docs.len() > 50, "docs/findings.md was not read");
        let undocumented: Vec<&str> = code
            .iter()
            .copied()
            .filter(|id| !docs.iter().any(|d| d == id))
            .collect();
        let unknown: Vec<&String> = docs
            .iter()
            .filter(|d| !code.contains(&d.as_str()))
            .collect();
        assert!(
            undocumented.is_empty(),
            "ids missing from docs/findings.md: {undocumented:?}"
        );
        assert!(
            unknown.is_empty(),
            "ids documented but reported by no topic: {unknown:?}"
        );
        let mut unique = code.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), code.len(), "an id is declared by two topics");
    }

    #[test]
    fn every_id_keeps_its_area_and_side() {
        // The assignment the id prefixes used to decide, before topics declared it.
        for id in all_ids() {
            let (prefix, name) = id.split_once('.').unwrap_or((id, ""));
            let (area, recipient) = match prefix {
                "domain" | "dns" | "dnssec" | "mx" | "net" => (Area::Dns, true),
                "smtp" => (Area::Transport, true),
                "rdns" if name.starts_with("sender_") => (Area::Reputation, false),
                "rdns" => (Area::Transport, true),
                "tls" => (Area::Tls, true),
                // A validated DANE mismatch stops delivery: the recipient side (issue 20).
                "dane" if name == "mismatch" => (Area::Tls, true),
                "mta_sts" | "tlsrpt" | "dane" => (Area::Tls, false),
                "spf" | "dkim" | "dmarc" | "bimi" => (Area::Auth, false),
                "dnsbl" => (Area::Reputation, false),
                _ => panic!("unexpected id {id}"),
            };
            assert_eq!(score::area_of(id), area, "{id}");
            assert_eq!(is_recipient_side(id), recipient, "{id}");
        }
    }
}
