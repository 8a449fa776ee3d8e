//! mxray's lab: a hermetic world of DNS and misbehaving SMTP servers on loopback, started
//! in-process from a scenario (TOML), counting everything clients do to it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mxray_lab::{Lab, LabOptions, Scenario, bundled};
//! let scenario = Scenario::from_str_named(bundled::SEEDS, "seeds.toml")?;
//! let lab = Lab::start(scenario, LabOptions::default()).await?;
//! println!("{}", serde_json::to_string_pretty(&lab.ready_info())?);
//! println!("{}", lab.stats());
//! lab.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `lib.rs`: [`Lab`] (start, addresses, ready info, counters, shutdown) and its options.
//! - `handle`: [`LabHandle`], a lab on its own runtime for callers that are not async.
//! - `scenario`: the TOML scenario format, parsed and validated with positions in errors.
//! - `bundled`: the scenarios compiled in (`seeds`, `world`).
//! - `dns`: the authoritative DNS server and the zones built from a scenario.
//! - `smtp`: the scriptable SMTP servers, one per host, with their behaviours.
//! - `https`: the MTA-STS policy server.
//! - `tls`: the lab CA and the certificates it issues (valid, expired, wrong name...).
//! - `stats`: what clients did, counted per host and per client.

pub mod bundled;
pub mod dns;
pub mod handle;
pub mod https;
pub mod scenario;
pub mod smtp;
pub mod stats;
pub mod tls;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use dns::dnssec::ZoneAnchor;
pub use handle::{LabHandle, StartError};
pub use scenario::{Scenario, ScenarioError};
pub use smtp::{Limits, Received};
pub use stats::{ClientStats, DnsStats, HostStats, HttpsStats, LabStats};

/// How a lab is started. `Default` picks free ports on 127.0.0.1 for DNS and HTTPS.
#[derive(Debug, Clone, Default)]
pub struct LabOptions {
    /// Port shared by every SMTP host (`None`: a free one).
    pub smtp_port: Option<u16>,
    /// Address of the DNS server (`None`: 127.0.0.1, a free port).
    pub dns_addr: Option<SocketAddr>,
    /// Address of the MTA-STS HTTPS server, started only if a domain has a policy
    /// (`None`: the DNS server's IP, a free port).
    pub https_addr: Option<SocketAddr>,
    /// Bounds on every SMTP session.
    pub limits: Limits,
}

/// Why a lab could not start.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not a loopback address (the lab only listens on 127.0.0.0/8 and ::1)")]
    NotLoopback(SocketAddr),
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("DNS setup failed: {0}")]
    Dns(String),
    #[error("no SMTP host named {0:?} in this lab")]
    UnknownHost(String),
}

impl LabError {
    pub(crate) fn bind(what: &str, addr: SocketAddr, source: std::io::Error) -> LabError {
        LabError::Bind {
            what: what.to_owned(),
            addr,
            source,
        }
    }

    /// True when the environment, not the scenario, is at fault (a port or address taken).
    pub fn is_bind(&self) -> bool {
        matches!(self, LabError::Bind { .. })
    }
}

/// What another program needs to use a running lab (`lab serve --ready-file`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReadyInfo {
    pub scenario: String,
    /// The DNS server, "IP:PORT".
    pub resolver: String,
    pub smtp_port: u16,
    /// The MTA-STS HTTPS server's port, if the scenario has a policy.
    pub https_port: Option<u16>,
    /// The lab CA certificate (PEM): trust it to verify the lab's certificates.
    pub ca_pem: String,
    pub hosts: Vec<HostInfo>,
    /// Zones the DNS server is authoritative for.
    pub zones: Vec<String>,
    /// The trust anchors of the zones the scenario signs (`dnssec = ...`), one per signed
    /// zone: configure a validating resolver with them. Empty when no zone is signed.
    pub dnssec: Vec<ZoneAnchor>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HostInfo {
    pub name: String,
    pub address: IpAddr,
    /// False for a host declared with `refuse = true` (nothing listens).
    pub listening: bool,
    pub behaviours: Vec<String>,
    pub clients: Vec<ClientInfo>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ClientInfo {
    pub addresses: Vec<IpAddr>,
    pub behaviours: Vec<String>,
}

/// A running lab. Dropping it aborts its servers; `shutdown` does so cleanly.
pub struct Lab {
    scenario: Scenario,
    dns: Option<dns::DnsServer>,
    dns_addr: SocketAddr,
    dns_counters: Arc<Mutex<stats::DnsCounters>>,
    smtp_port: u16,
    hosts: Vec<Arc<smtp::HostRuntime>>,
    https: Option<(SocketAddr, Arc<https::HttpsSite>)>,
    ca: tls::LabCa,
    zones: Vec<String>,
    anchors: Vec<ZoneAnchor>,
    tasks: Vec<JoinHandle<()>>,
}

impl Lab {
    /// Generates the CA and certificates, binds every server, and returns once all listen.
    pub async fn start(scenario: Scenario, options: LabOptions) -> Result<Lab, LabError> {
        let dns_addr = options
            .dns_addr
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        check_loopback(dns_addr)?;
        let https_addr = options
            .https_addr
            .unwrap_or_else(|| SocketAddr::new(dns_addr.ip(), 0));
        check_loopback(https_addr)?;

        let ca = tls::LabCa::new()?;
        let mut cache = tls::ConfigCache::default();
        let mut hosts = Vec::new();
        for h in &scenario.hosts {
            hosts.push(Arc::new(smtp::HostRuntime::new(
                h.clone(),
                &ca,
                &mut cache,
                options.limits,
            )?));
        }

        let mut tasks = Vec::new();
        let (smtp_port, listeners) = smtp::bind_all(&hosts, options.smtp_port).await?;

        let mut https = None;
        let policies: HashMap<String, String> = scenario
            .domains
            .iter()
            .filter_map(|d| {
                d.mta_sts
                    .as_ref()
                    .map(|m| (format!("mta-sts.{}", d.name), m.policy.clone()))
            })
            .collect();
        let mut https_listener = None;
        if !policies.is_empty() {
            let names: Vec<String> = policies.keys().cloned().collect();
            let cfg = ca.multi_name_config(&names)?;
            let listener = TcpListener::bind(https_addr)
                .await
                .map_err(|e| LabError::bind("HTTPS", https_addr, e))?;
            let local = listener
                .local_addr()
                .map_err(|e| LabError::bind("HTTPS", https_addr, e))?;
            let site = Arc::new(https::HttpsSite {
                policies,
                acceptor: tokio_rustls::TlsAcceptor::from(cfg),
                stats: Mutex::new(HttpsStats::default()),
            });
            https = Some((local, site));
            https_listener = Some(listener);
        }

        let keys = dns::zones::TlsaKeys {
            ca: ca.spki_sha256().to_vec(),
            leaves: cache.leaf_spki.clone(),
        };
        let zones = dns::zones::build(&scenario, dns_addr.ip(), https_addr.ip(), &keys)?;
        let dns_counters = Arc::new(Mutex::new(stats::DnsCounters::default()));
        let origins = zones.origins.clone();
        let anchors = zones.anchors.clone();
        let server = dns::DnsServer::start(dns_addr, zones, dns_counters.clone()).await?;
        let dns_addr = server.addr;

        // Everything is bound: only now start serving, so a failed start leaves nothing behind.
        for (host, listener) in listeners {
            tasks.push(tokio::spawn(smtp::serve(listener, host)));
        }
        if let (Some(listener), Some((_, site))) = (https_listener, &https) {
            tasks.push(tokio::spawn(https::serve(listener, site.clone())));
        }

        Ok(Lab {
            scenario,
            dns: Some(server),
            dns_addr,
            dns_counters,
            smtp_port,
            hosts,
            https,
            ca,
            zones: origins,
            anchors,
            tasks,
        })
    }

    /// The DNS server's address (UDP and TCP).
    pub fn resolver(&self) -> SocketAddr {
        self.dns_addr
    }

    /// The port every SMTP host listens on.
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port
    }

    /// The MTA-STS HTTPS server, if the scenario has policies.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().map(|(a, _)| *a)
    }

    /// The lab CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        self.ca.pem()
    }

    /// The lab CA certificate (DER), for a rustls root store.
    pub fn ca_der(&self) -> &rustls::pki_types::CertificateDer<'static> {
        self.ca.der()
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Where the SMTP host `name` listens (also for refusing hosts: nothing answers there).
    pub fn host_addr(&self, name: &str) -> Option<SocketAddr> {
        self.scenario
            .host(name)
            .map(|h| SocketAddr::new(h.address, self.smtp_port))
    }

    pub fn ready_info(&self) -> ReadyInfo {
        ReadyInfo {
            scenario: self.scenario.name.clone(),
            resolver: self.dns_addr.to_string(),
            smtp_port: self.smtp_port,
            https_port: self.https_addr().map(|a| a.port()),
            ca_pem: self.ca.pem().to_owned(),
            hosts: self
                .scenario
                .hosts
                .iter()
                .map(|h| HostInfo {
                    name: h.name.clone(),
                    address: h.address,
                    listening: h.listens(),
                    behaviours: h.behaviour.describe(),
                    clients: h
                        .clients
                        .iter()
                        .map(|c| ClientInfo {
                            addresses: c.addresses.clone(),
                            behaviours: c.behaviour.describe(),
                        })
                        .collect(),
                })
                .collect(),
            zones: self.zones.clone(),
            dnssec: self.anchors.clone(),
        }
    }

    /// The trust anchors of the signed zones (also in [`ReadyInfo::dnssec`]).
    pub fn dnssec_anchors(&self) -> &[ZoneAnchor] {
        &self.anchors
    }

    /// Changes what SMTP host `name` does while the lab runs (a healthy host starts answering
    /// 421, say): `change` edits a copy of the scenario's host-level behaviour, which then
    /// applies to every client's sessions from the next one on, until [`Lab::restore_host`].
    /// Sessions already open keep what they started with; whether the host listens at all is
    /// fixed when the lab starts.
    pub fn change_host(
        &self,
        name: &str,
        change: impl FnOnce(&mut scenario::Behaviour),
    ) -> Result<(), LabError> {
        let h = self.host(name)?;
        let mut b = (*h.spec.behaviour).clone();
        change(&mut b);
        h.set_changed(Some(b));
        Ok(())
    }

    /// Gives host `name` back the scenario's behaviour (from its next session on).
    pub fn restore_host(&self, name: &str) -> Result<(), LabError> {
        self.host(name)?.set_changed(None);
        Ok(())
    }

    /// The messages submission host `name` accepted so far, oldest first (at most
    /// [`smtp::MAX_RECEIVED`]).
    pub fn received(&self, name: &str) -> Result<Vec<Received>, LabError> {
        Ok(self.host(name)?.received())
    }

    fn host(&self, name: &str) -> Result<&Arc<smtp::HostRuntime>, LabError> {
        self.hosts
            .iter()
            .find(|h| h.spec.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| LabError::UnknownHost(name.to_string()))
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> LabStats {
        let dns = self
            .dns_counters
            .lock()
            .map(|c| c.stats.clone())
            .unwrap_or_default();
        let smtp = self
            .hosts
            .iter()
            .filter_map(|h| h.counters.lock().ok().map(|c| c.stats.clone()))
            .collect();
        let https = self
            .https
            .as_ref()
            .and_then(|(_, s)| s.stats.lock().ok().map(|s| s.clone()))
            .unwrap_or_default();
        LabStats { dns, smtp, https }
    }

    /// Stops every server and waits (bounded) for them to go.
    pub async fn shutdown(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        if let Some(dns) = self.dns.take() {
            dns.shutdown().await;
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn check_loopback(addr: SocketAddr) -> Result<(), LabError> {
    let ok = match addr.ip() {
        IpAddr::V4(a) => a.octets()[0] == 127,
        IpAddr::V6(a) => a.is_loopback(),
    };
    if ok {
        Ok(())
    } else {
        Err(LabError::NotLoopback(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_can_cross_threads() {
        // Callers keep a Lab in shared test state or move it into tasks.
        fn check<T: Send + Sync>() {}
        check::<Lab>();
        check::<LabStats>();
        check::<ReadyInfo>();
        check::<Scenario>();
    }

    #[test]
    fn loopback_check() {
        assert!(check_loopback("127.0.0.9:53".parse().unwrap()).is_ok());
        assert!(check_loopback("[::1]:53".parse().unwrap()).is_ok());
        assert!(check_loopback("10.0.0.1:53".parse().unwrap()).is_err());
    }
}
