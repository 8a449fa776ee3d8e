//! mxray-diagnose: the 421 debugging checklist for the path to a domain. `collect` records
//! observations through mxray-net; `checks` turns them into findings and a verdict, purely.

pub mod checks;
pub mod collect;
pub mod observe;

use mxray_core::Finding;
use mxray_core::address::parse_target;
use mxray_net::Dns;
use serde::Serialize;

pub use checks::{Overall, Verdict};
pub use collect::{Limits, Options};
pub use observe::Observations;

/// One target's report: verdict first, findings, and the observations behind them.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub normalized: Option<String>,
    pub verdict: Verdict,
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

/// Diagnoses one domain or address.
pub async fn diagnose(dns: &Dns, input: &str, opts: &Options) -> Report {
    let target = match parse_target(input) {
        Ok(t) => t,
        Err(e) => {
            let findings = vec![checks::invalid_target(input, &e)];
            return Report {
                target: input.trim().to_string(),
                normalized: None,
                verdict: checks::verdict(None, &findings),
                findings,
                observations: None,
            };
        }
    };
    let obs = collect::collect(dns, target, opts).await;
    let findings = checks::check(&obs);
    Report {
        target: obs.target.input.clone(),
        normalized: Some(obs.target.normalized()),
        verdict: checks::verdict(Some(&obs), &findings),
        findings,
        observations: Some(obs),
    }
}
