//! The recipient-side collector: the pipeline that runs each topic's observation (MX lookup,
//! then every host and address at once, bounded: SMTP session beside reverse DNS). No judgement.
//!
//! Through a SOCKS5 proxy (`--proxy`), the proxy's own failure ends the collection with a
//! [`ProxyError`] instead of observations: what it kept from the servers says nothing about
//! them, so no judge may see it as a host's answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mxray_core::address::Target;
use mxray_core::mx::MxTarget;
use mxray_net::{Dns, DnsOutcome, Proxy, ProxyError, RType, TlsSettings, resolve_mx};
use tokio::sync::{OnceCell, Semaphore};
use tokio::task::JoinSet;

use super::observe::{AddrObs, HostObs, Observations};
use super::{rdns, smtp};

/// How to collect.
#[derive(Clone)]
pub struct Options {
    pub smtp_port: u16,
    /// Per network step.
    pub timeout: Duration,
    /// How long to wait for a greeting before calling the host silent (tarpits greet late).
    pub greeting_wait: Duration,
    pub probe: bool,
    /// MAIL FROM for probes (empty: the null sender `<>`).
    pub from: String,
    /// Our EHLO name.
    pub helo: String,
    pub tls: Arc<TlsSettings>,
    /// Addresses probed per MX host (the rest are listed, not contacted).
    pub max_addrs_per_host: usize,
    /// MX hosts followed per domain.
    pub max_hosts: usize,
    pub limits: Arc<Limits>,
    /// The steps in flight, for a progress line ("the greeting of mx.example.com").
    pub activity: mxray_run::Activity,
    /// Which MX addresses may be contacted (public only under `serve` or --public-only).
    pub policy: mxray_net::AddressPolicy,
    /// Every SMTP connection goes through this SOCKS5 proxy (`--proxy`), shared by every
    /// target of a run. `None`: direct connections.
    pub proxy: Option<Arc<ProxyEgress>>,
}

impl Options {
    /// The proxy's first failure in this run, if any: the targets it hit were not judged.
    pub fn proxy_failure(&self) -> Option<ProxyError> {
        self.proxy.as_ref().and_then(|p| p.failure())
    }
}

/// A run's SOCKS5 egress and its first failure. Once the proxy has failed, later connections
/// are not tried: every one would fail the same way (or hang until its timeout) and decide
/// nothing, so the run ends sooner.
pub struct ProxyEgress {
    proxy: Proxy,
    failed: Mutex<Option<ProxyError>>,
}

impl ProxyEgress {
    pub fn new(proxy: Proxy) -> ProxyEgress {
        ProxyEgress {
            proxy,
            failed: Mutex::new(None),
        }
    }

    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// The first failure recorded, if any.
    pub fn failure(&self) -> Option<ProxyError> {
        match self.failed.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Records `e` unless an earlier failure is already recorded (the first one is the cause).
    pub(crate) fn fail(&self, e: &ProxyError) {
        let mut f = match self.failed.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        f.get_or_insert_with(|| e.clone());
    }
}

/// One MX address's observation, filled by whichever domain probes it first.
type SharedObservation = Arc<OnceCell<AddrObs>>;

/// Politeness shared by every target of a run: at most `per_addr` simultaneous connections to
/// any one address, however many domains share it; and each MX address is probed once per run
/// when no RCPT is asked (the conversation is the same for every domain that uses it).
pub struct Limits {
    per_addr: usize,
    map: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
    seen: Mutex<HashMap<(IpAddr, String), SharedObservation>>,
}

impl Limits {
    pub fn new(per_addr: usize) -> Limits {
        Limits {
            per_addr: per_addr.max(1),
            map: Arc::new(Mutex::new(HashMap::new())),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Limits for one run of a long-lived process (a server's request, job or monitor run):
    /// the same connection caps per address, but observations of its own, so a later run
    /// sees the hosts as they are then, never an earlier run's sessions.
    pub fn scope(&self) -> Arc<Limits> {
        Arc::new(Limits {
            per_addr: self.per_addr,
            map: self.map.clone(),
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// The shared observation slot for an MX address under one name (SNI and the certificate
    /// name check depend on the name, so the name is part of the key).
    fn observation(&self, addr: IpAddr, mx_name: &str) -> SharedObservation {
        let mut seen = match self.seen.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        seen.entry((addr, mx_name.to_ascii_lowercase()))
            .or_default()
            .clone()
    }

    pub(crate) fn for_addr(&self, addr: IpAddr) -> Arc<Semaphore> {
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(addr)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_addr)))
            .clone()
    }
}

/// Runs every step for `target` and returns what was seen; a failing `--proxy` is an error.
pub async fn collect(
    dns: &Dns,
    target: Target,
    opts: &Options,
) -> Result<Observations, ProxyError> {
    collect_with(dns, target, opts, true).await
}

/// Like [`collect`]; with `smtp` false the MX hosts are resolved but not contacted (their
/// addresses land in `skipped_addrs`): `--only` without transport and tls.
pub async fn collect_with(
    dns: &Dns,
    target: Target,
    opts: &Options,
    smtp: bool,
) -> Result<Observations, ProxyError> {
    if !smtp {
        return Ok(collect_unprobed(dns, target, opts).await);
    }
    let (mut obs, targets) = resolve(dns, target, opts, true).await;
    let domain = obs.target.domain_ascii.clone();
    let mut set = JoinSet::new();
    for (i, mx_target) in targets.into_iter().enumerate() {
        let dns = dns.clone();
        let opts = opts.clone();
        let local = obs.target.local.clone();
        let domain = domain.clone();
        set.spawn(async move {
            let host = collect_host(
                &dns,
                mx_target,
                local.map(|l| format!("{l}@{domain}")),
                &opts,
            )
            .await;
            (i, host)
        });
    }
    obs.hosts = crate::in_order(set)
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(obs)
}

/// The MX hosts resolved, none contacted (`records fix`: no SMTP session, so no proxy).
pub async fn collect_unprobed(dns: &Dns, target: Target, opts: &Options) -> Observations {
    let (mut obs, targets) = resolve(dns, target, opts, false).await;
    obs.hosts = targets.into_iter().map(unprobed).collect();
    obs
}

/// The MX lookup (and its DNSSEC second look) into fresh observations with no host yet, and
/// the MX targets to follow.
async fn resolve(
    dns: &Dns,
    target: Target,
    opts: &Options,
    smtp: bool,
) -> (Observations, Vec<MxTarget>) {
    let domain = target.domain_ascii.clone();
    let resolution = opts
        .activity
        .during(
            format!("the MX records of {domain}"),
            resolve_mx(dns, &domain, opts.max_hosts),
        )
        .await;
    // SERVFAIL from a validating resolver may be a DNSSEC failure: the same question with the
    // CD bit tells a bogus zone (the data comes back) from failing servers (it does not).
    let mx_cd = if resolution.mx.outcome == DnsOutcome::ServFail {
        Some(dns.checking_disabled(&domain, RType::Mx).await)
    } else {
        None
    };
    let obs = Observations {
        target,
        mx: resolution.mx,
        mx_cd,
        implicit: resolution.implicit,
        hosts: Vec::new(),
        probe: opts.probe,
        smtp_port: opts.smtp_port,
        greeting_wait_ms: opts.greeting_wait.as_millis() as u64,
        smtp_checked: smtp,
        sender: None,
        at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    (obs, resolution.targets)
}

/// An MX target as a host with no address recorded yet, and the addresses to contact.
fn host(target: MxTarget) -> (HostObs, Vec<IpAddr>) {
    // MTAs refuse IP-literal exchanges (RFC 5321 5.1 wants a name): recorded, not contacted.
    let uniq = target.addrs();
    let host = HostObs {
        name: target.name.into_string(),
        preference: target.preference,
        ip_literal: target.ip_literal,
        cname: target.cname,
        a: target.a,
        aaaa: target.aaaa,
        addrs: Vec::new(),
        skipped_addrs: Vec::new(),
    };
    (host, uniq)
}

/// A host resolved but not contacted: every address listed as skipped.
fn unprobed(target: MxTarget) -> HostObs {
    let (mut h, addrs) = host(target);
    h.skipped_addrs = addrs;
    h
}

/// One MX target's addresses, each probed (up to the per-host limit; the rest are listed).
async fn collect_host(
    dns: &Dns,
    target: MxTarget,
    rcpt: Option<String>,
    opts: &Options,
) -> Result<HostObs, ProxyError> {
    let (mut host, mut uniq) = host(target);
    if uniq.len() > opts.max_addrs_per_host {
        host.skipped_addrs = uniq.split_off(opts.max_addrs_per_host);
    }
    let mut set = JoinSet::new();
    for (i, addr) in uniq.into_iter().enumerate() {
        let dns = dns.clone();
        let opts = opts.clone();
        let name = host.name.clone();
        let rcpt = rcpt.clone();
        set.spawn(async move {
            (
                i,
                probe_addr(&dns, addr, &name, rcpt.as_deref(), &opts).await,
            )
        });
    }
    host.addrs = crate::in_order(set)
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(host)
}

/// Reverse DNS and the SMTP conversation with one address, side by side (neither waits for the
/// other, so a slow PTR lookup never lengthens the critical path).
async fn probe_addr(
    dns: &Dns,
    addr: IpAddr,
    mx_name: &str,
    rcpt: Option<&str>,
    opts: &Options,
) -> Result<AddrObs, ProxyError> {
    if rcpt.is_none() {
        // Many domains share MX hosts (every Google Workspace domain, say): ask each once.
        // A proxy failure is not kept: it is no observation of the host.
        let cell = opts.limits.observation(addr, mx_name);
        return cell
            .get_or_try_init(|| probe_addr_uncached(dns, addr, mx_name, None, opts))
            .await
            .cloned();
    }
    probe_addr_uncached(dns, addr, mx_name, rcpt, opts).await
}

async fn probe_addr_uncached(
    dns: &Dns,
    addr: IpAddr,
    mx_name: &str,
    rcpt: Option<&str>,
    opts: &Options,
) -> Result<AddrObs, ProxyError> {
    let ((ptr, forward), o) = tokio::join!(
        rdns::observe(dns, addr),
        smtp::observe(addr, mx_name, rcpt, opts)
    );
    let mut o = o?;
    o.ptr = Some(ptr);
    o.ptr_forward = forward;
    Ok(o)
}
