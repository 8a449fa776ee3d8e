//! What `diagnose` saw on the recipient side, as plain data: DNS answers, connection results,
//! SMTP replies, the TLS handshake and certificate, the transcript. Judges read only this.

use std::net::IpAddr;

use mxray_core::DomainName;
use mxray_core::address::Target;
use mxray_net::smtp::capabilities;
use mxray_net::{DnsAnswer, DnsRecord, Reply, SmtpError, TlsObservation};
use serde::Serialize;

/// Everything recorded for one target.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Observations {
    pub target: Target,
    /// The MX query for the domain.
    pub mx: DnsAnswer,
    /// When the MX query got SERVFAIL: the same question with the CD bit (checking disabled).
    /// Data here means the resolver had it but could not validate it: DNSSEC is broken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mx_cd: Option<DnsAnswer>,
    /// Without MX records: the domain's own A and AAAA (RFC 5321 5.1 implicit MX).
    pub implicit: Option<[DnsAnswer; 2]>,
    pub hosts: Vec<HostObs>,
    /// Whether MAIL FROM / RCPT TO were tried.
    pub probe: bool,
    pub smtp_port: u16,
    /// The time a greeting was awaited before calling a host silent.
    pub greeting_wait_ms: u64,
    /// Whether the MX hosts were contacted over SMTP (`--only` may leave transport out).
    pub smtp_checked: bool,
    /// The sender side (SPF, DKIM, DMARC, MTA-STS, TLS-RPT, DANE, BIMI, DNSBL, sender rDNS).
    pub sender: Option<crate::sender::SenderObs>,
    /// When the observations were taken (Unix seconds), to judge certificate dates.
    pub at_unix: i64,
}

/// One mail exchanger (or the domain itself, for implicit MX).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HostObs {
    pub name: String,
    /// `None` for an implicit MX.
    pub preference: Option<u16>,
    /// The exchange is an IP address, not a name.
    pub ip_literal: bool,
    /// The exchange names an alias (RFC 2181 10.3 forbids it).
    pub cname: Option<DnsAnswer>,
    pub a: Option<DnsAnswer>,
    pub aaaa: Option<DnsAnswer>,
    pub addrs: Vec<AddrObs>,
    /// Addresses resolved but not probed (beyond the per-host limit).
    pub skipped_addrs: Vec<IpAddr>,
}

impl HostObs {
    pub fn label(&self) -> String {
        match self.preference {
            Some(p) => format!("{} (MX {p})", self.name),
            None => format!("{} (implicit MX)", self.name),
        }
    }
}

/// One command and what came back.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Step {
    pub command: String,
    pub result: Result<Reply, SmtpError>,
}

impl Step {
    pub fn reply(&self) -> Option<&Reply> {
        self.result.as_ref().ok()
    }

    pub fn code(&self) -> Option<u16> {
        self.reply().map(|r| r.code)
    }

    pub fn positive(&self) -> bool {
        self.reply().is_some_and(Reply::is_positive)
    }

    /// The session ended here: the connection broke, or the server said 421 (RFC 5321 3.8:
    /// it is closing the channel).
    pub fn ends_session(&self) -> bool {
        self.result.as_ref().map_or(true, |r| r.code == 421)
    }
}

/// One address of an exchanger, probed over SMTP.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AddrObs {
    pub addr: IpAddr,
    pub ptr: Option<DnsAnswer>,
    /// A/AAAA lookups of the PTR names, to confirm they point back (FCrDNS).
    pub ptr_forward: Vec<DnsAnswer>,
    /// Connect time, or why it failed.
    pub connect: Result<u64, SmtpError>,
    /// The greeting, `None` when not connected.
    pub banner: Option<Step>,
    pub ehlo: Option<Step>,
    pub helo: Option<Step>,
    pub starttls: Option<Step>,
    pub tls: Option<TlsObservation>,
    pub ehlo_tls: Option<Step>,
    pub mail: Option<Step>,
    pub rcpt: Option<Step>,
    pub rset: Option<Step>,
    pub transcript: Vec<String>,
}

impl AddrObs {
    pub fn new(addr: IpAddr) -> AddrObs {
        AddrObs {
            addr,
            ptr: None,
            ptr_forward: Vec::new(),
            connect: Err(SmtpError::Io("not attempted".into())),
            banner: None,
            ehlo: None,
            helo: None,
            starttls: None,
            tls: None,
            ehlo_tls: None,
            mail: None,
            rcpt: None,
            rset: None,
            transcript: Vec::new(),
        }
    }

    /// The EHLO reply that describes the session as used (after TLS when TLS came up).
    pub fn capabilities(&self) -> Vec<(String, String)> {
        self.ehlo_tls
            .as_ref()
            .or(self.ehlo.as_ref())
            .and_then(Step::reply)
            .filter(|r| r.code == 250)
            .map(capabilities)
            .unwrap_or_default()
    }

    /// The name the server calls itself in its greeting or EHLO reply.
    pub fn announced_name(&self) -> Option<String> {
        let from = |s: &Option<Step>| {
            s.as_ref()
                .and_then(Step::reply)
                .filter(|r| r.is_positive())
                .and_then(|r| r.lines.first())
                .and_then(|l| l.split_whitespace().next())
                .map(|n| DomainName::from_dns(n).into_string())
        };
        from(&self.ehlo).or_else(|| from(&self.banner))
    }

    pub fn ptr_names(&self) -> Vec<String> {
        self.ptr
            .iter()
            .flat_map(|a| a.records.iter())
            .filter_map(|r| match r {
                DnsRecord::Ptr { target, .. } => Some(target.to_ascii_lowercase()),
                _ => None,
            })
            .collect()
    }

    /// The steps after the greeting, in the order they were sent.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        [
            &self.ehlo,
            &self.helo,
            &self.starttls,
            &self.ehlo_tls,
            &self.mail,
            &self.rcpt,
            &self.rset,
        ]
        .into_iter()
        .flatten()
    }

    /// The server said 2xx to EHLO or HELO and did not end the session on a later command: it
    /// can take a transaction. (A failed TLS handshake does not count: MTAs retry in plain text.)
    pub fn usable(&self) -> bool {
        let greeted = self.ehlo.as_ref().is_some_and(Step::positive)
            || self.helo.as_ref().is_some_and(Step::positive);
        greeted && !self.steps().any(Step::ends_session)
    }
}
