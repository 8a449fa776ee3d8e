//! SPF evaluation (RFC 7208 `check_host()`): would mail from this IP with this MAIL FROM pass?
//! mail-auth walks the records over this crate's resolver; the result is recorded as plain data.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mail_auth::spf::verify::SpfParameters;
use mail_auth::{MessageAuthenticator, SpfResult};
use serde::Serialize;

use crate::Dns;

/// The seven results of RFC 7208 2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpfVerdict {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl SpfVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            SpfVerdict::Pass => "pass",
            SpfVerdict::Fail => "fail",
            SpfVerdict::SoftFail => "softfail",
            SpfVerdict::Neutral => "neutral",
            SpfVerdict::None => "none",
            SpfVerdict::TempError => "temperror",
            SpfVerdict::PermError => "permerror",
        }
    }
}

/// One evaluation: the inputs and what came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpfEvaluation {
    pub ip: IpAddr,
    /// The domain whose policy was evaluated (the MAIL FROM domain, or the HELO name).
    pub domain: String,
    pub sender: String,
    pub helo: String,
    pub result: SpfVerdict,
    /// The domain's `exp=` explanation, for a fail. Outside text.
    pub explanation: Option<String>,
    /// True when the whole evaluation ran out of time (reported as temperror).
    pub timed_out: bool,
    pub elapsed_ms: u64,
}

/// Evaluates `sender` (an address; `""` for the null sender, when the HELO identity is
/// checked as RFC 7208 2.3 says) sent from `ip` after `EHLO helo`. Bounded: each query by the
/// resolver's timeout, the whole walk (at most 10 lookups plus their MX/PTR fan-out, RFC 7208
/// 4.6.4) by 25 of them.
pub async fn check_host(dns: &Dns, ip: IpAddr, sender: &str, helo: &str) -> SpfEvaluation {
    let start = Instant::now();
    let auth = MessageAuthenticator(dns.resolver().clone());
    let helo_domain = helo.trim_end_matches('.');
    let params = if sender.is_empty() {
        SpfParameters::verify_ehlo(ip, helo_domain, helo_domain)
    } else {
        SpfParameters::verify_mail_from(ip, helo_domain, helo_domain, sender)
    };
    let domain = if sender.is_empty() {
        helo_domain.to_string()
    } else {
        sender
            .rsplit_once('@')
            .map_or(helo_domain, |(_, d)| d)
            .to_string()
    };
    let limit = dns.timeout().saturating_mul(25).max(Duration::from_secs(1));
    let (result, explanation, timed_out) =
        match tokio::time::timeout(limit, auth.verify_spf(params)).await {
            Err(_) => (SpfVerdict::TempError, None, true),
            Ok(out) => (
                match out.result() {
                    SpfResult::Pass => SpfVerdict::Pass,
                    SpfResult::Fail => SpfVerdict::Fail,
                    SpfResult::SoftFail => SpfVerdict::SoftFail,
                    SpfResult::Neutral => SpfVerdict::Neutral,
                    SpfResult::None => SpfVerdict::None,
                    SpfResult::TempError => SpfVerdict::TempError,
                    SpfResult::PermError => SpfVerdict::PermError,
                },
                out.explanation().map(str::to_string),
                false,
            ),
        };
    SpfEvaluation {
        ip,
        domain,
        sender: sender.to_string(),
        helo: helo.to_string(),
        result,
        explanation,
        timed_out,
        elapsed_ms: start.elapsed().as_millis() as u64,
    }
}
