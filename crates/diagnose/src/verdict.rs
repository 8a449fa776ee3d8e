//! The verdict: can mail be delivered, and whose side is the first failure on. Decided by the
//! recipient-side findings only; the sender side counts for the score and the exit code.

use mxray_core::{Finding, Severity, Side, explain};
use serde::Serialize;

use crate::recipient::observe::Observations;
use crate::recipient::smtp::{HostState, host_state};

/// The overall judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    DeliverablePath,
    Degraded,
    Broken,
    Inconclusive,
}

impl Overall {
    pub fn as_str(self) -> &'static str {
        match self {
            Overall::DeliverablePath => "deliverable path",
            Overall::Degraded => "degraded",
            Overall::Broken => "broken",
            Overall::Inconclusive => "inconclusive",
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HostVerdict {
    pub host: String,
    pub state: HostState,
    /// The first failing step's finding id, if any.
    pub first_failure: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Verdict {
    pub overall: Overall,
    pub side: Side,
    pub summary: String,
    pub hosts: Vec<HostVerdict>,
}

/// Whose side a failing finding most likely points to.
fn side_of(f: &Finding) -> Side {
    match f.id {
        crate::recipient::mx::DOMAIN_INVALID | crate::recipient::mx::DOMAIN_TYPO => Side::Sender,
        crate::recipient::mx::DNS_TIMEOUT
        | crate::recipient::mx::DNS_SERVFAIL
        | crate::recipient::mx::DNS_REFUSED
        | crate::recipient::mx::DNS_ERROR => Side::Path,
        crate::recipient::smtp::CONNECT_TIMEOUT | crate::recipient::smtp::UNREACHABLE => Side::Path,
        crate::recipient::smtp::BANNER_4XX
        | crate::recipient::smtp::BANNER_5XX
        | crate::recipient::smtp::DROPPED
        | crate::recipient::smtp::RCPT_DEFERRED
        | crate::recipient::smtp::MAIL_REJECTED => {
            // The reply itself says best: rate limits and blocks are the sender's problem.
            f.detail
                .split_once(": ")
                .and_then(|(raw, _)| explain(raw).ok())
                .map_or(Side::Recipient, |e| e.side)
        }
        _ => Side::Recipient,
    }
}

pub fn verdict(obs: Option<&Observations>, findings: &[Finding]) -> Verdict {
    let fails: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Fail)
        .collect();
    let hosts: Vec<HostVerdict> = obs
        .map(|o| {
            o.hosts
                .iter()
                .map(|h| {
                    let label = h.label();
                    HostVerdict {
                        state: host_state(h),
                        first_failure: findings
                            .iter()
                            .find(|f| {
                                f.severity == Severity::Fail
                                    && f.host.as_deref() == Some(label.as_str())
                            })
                            .map(|f| f.id),
                        host: label,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let up = hosts.iter().filter(|h| h.state == HostState::Up).count();
    let inconclusive = hosts
        .iter()
        .filter(|h| h.state == HostState::Inconclusive)
        .count();
    let rcpt_rejected = findings
        .iter()
        .any(|f| f.id == crate::recipient::smtp::RCPT_REJECTED);
    let rcpt_deferred = findings
        .iter()
        .any(|f| f.id == crate::recipient::smtp::RCPT_DEFERRED);
    // --probe was asked and no host answered RCPT: the path may be fine, the address unknown.
    let probe_unanswered = findings
        .iter()
        .any(|f| f.id == crate::recipient::smtp::PROBE_NOT_RUN)
        && !findings.iter().any(|f| {
            [
                crate::recipient::smtp::RCPT_ACCEPTED,
                crate::recipient::smtp::RCPT_REJECTED,
                crate::recipient::smtp::RCPT_DEFERRED,
            ]
            .contains(&f.id)
        });
    let overall = if hosts.is_empty() || (up == 0 && inconclusive == 0) {
        if fails.is_empty() {
            Overall::Inconclusive
        } else {
            Overall::Broken
        }
    } else if up == 0 {
        Overall::Inconclusive
    } else if rcpt_rejected
        && !findings
            .iter()
            .any(|f| f.id == crate::recipient::smtp::RCPT_ACCEPTED)
    {
        Overall::Broken
    } else if up < hosts.len() || rcpt_deferred || !fails.is_empty() {
        Overall::Degraded
    } else if probe_unanswered {
        Overall::Inconclusive
    } else {
        Overall::DeliverablePath
    };
    let side = match overall {
        Overall::DeliverablePath => Side::None,
        _ => fails
            .first()
            .map(|f| side_of(f))
            .or_else(|| {
                findings
                    .iter()
                    .find(|f| f.severity == Severity::Warn)
                    .map(side_of)
            })
            .unwrap_or(Side::Unknown),
    };
    let summary = match overall {
        Overall::DeliverablePath => format!("all {} MX host(s) accept mail", hosts.len()),
        Overall::Degraded => format!(
            "{up} of {} MX host(s) accept mail; {}",
            hosts.len(),
            fails
                .first()
                .map_or("see warnings".to_string(), |f| f.title.clone())
        ),
        Overall::Broken => fails
            .first()
            .map_or("no way to deliver".to_string(), |f| f.title.clone()),
        Overall::Inconclusive if probe_unanswered && up > 0 => {
            "the MX hosts accept connections, but the requested probe did not run".to_string()
        }
        Overall::Inconclusive => {
            "no MX host gave a definite answer yet (silent or slow)".to_string()
        }
    };
    Verdict {
        overall,
        side,
        summary,
        hosts,
    }
}
