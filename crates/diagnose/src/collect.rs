//! The collector: asks DNS and talks SMTP through `mxray-net`, all MX hosts and addresses at once
//! (bounded), and records everything into [`Observations`]. No judgement happens here.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mxray_core::address::Target;
use mxray_net::{Dns, DnsAnswer, DnsOutcome, DnsRecord, RType, Session, TlsSettings};
use tokio::sync::{OnceCell, Semaphore};
use tokio::task::JoinSet;

use crate::observe::{AddrObs, HostObs, Observations, Step};

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
}

/// One MX address's observation, filled by whichever domain probes it first.
type SharedObservation = Arc<OnceCell<AddrObs>>;

/// Politeness shared by every target of a run: at most `per_addr` simultaneous connections to
/// any one address, however many domains share it; and each MX address is probed once per run
/// when no RCPT is asked (the conversation is the same for every domain that uses it).
pub struct Limits {
    per_addr: usize,
    map: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
    seen: Mutex<HashMap<(IpAddr, String), SharedObservation>>,
}

impl Limits {
    pub fn new(per_addr: usize) -> Limits {
        Limits {
            per_addr: per_addr.max(1),
            map: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
        }
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

    fn for_addr(&self, addr: IpAddr) -> Arc<Semaphore> {
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(addr)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_addr)))
            .clone()
    }
}

/// Runs every step for `target` and returns what was seen.
pub async fn collect(dns: &Dns, target: Target, opts: &Options) -> Observations {
    collect_with(dns, target, opts, true).await
}

/// Like [`collect`]; with `smtp` false the MX hosts are resolved but not contacted (their
/// addresses land in `skipped_addrs`): `--only` without transport and tls.
pub async fn collect_with(dns: &Dns, target: Target, opts: &Options, smtp: bool) -> Observations {
    let domain = target.domain_ascii.clone();
    let mx = dns.query(&domain, RType::Mx).await;
    let mut obs = Observations {
        target,
        mx: mx.clone(),
        implicit: None,
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
    let mut exchanges: Vec<(u16, String)> = mx
        .records
        .iter()
        .filter_map(|r| match r {
            DnsRecord::Mx {
                preference,
                exchange,
                ..
            } => Some((*preference, exchange.to_ascii_lowercase())),
            _ => None,
        })
        .collect();
    exchanges.sort();
    let hosts: Vec<(Option<u16>, String)> = match mx.outcome {
        DnsOutcome::Answer if is_null_mx(&exchanges) => Vec::new(),
        DnsOutcome::Answer => {
            let mut seen = Vec::new();
            for (p, x) in exchanges {
                if !seen.iter().any(|(_, s): &(Option<u16>, String)| *s == x) {
                    seen.push((Some(p), x));
                }
            }
            seen.truncate(opts.max_hosts);
            seen
        }
        DnsOutcome::NoData => {
            let (a, aaaa) = tokio::join!(
                dns.query(&domain, RType::A),
                dns.query(&domain, RType::Aaaa)
            );
            let any = a.addrs().next().is_some() || aaaa.addrs().next().is_some();
            obs.implicit = Some([a, aaaa]);
            if any {
                vec![(None, domain.clone())]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    };
    let mut set = JoinSet::new();
    for (i, (pref, name)) in hosts.into_iter().enumerate() {
        let dns = dns.clone();
        let opts = opts.clone();
        let implicit = obs.implicit.clone();
        let local = obs.target.local.clone();
        let domain = domain.clone();
        set.spawn(async move {
            let host = collect_host(
                &dns,
                pref,
                name,
                implicit,
                local.map(|l| format!("{l}@{domain}")),
                &opts,
                smtp,
            )
            .await;
            (i, host)
        });
    }
    let mut hosts = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(h) = joined {
            hosts.push(h);
        }
    }
    hosts.sort_by_key(|(i, _)| *i);
    obs.hosts = hosts.into_iter().map(|(_, h)| h).collect();
    obs
}

/// RFC 7505: a single MX with preference 0 and the root as exchange.
pub fn is_null_mx(exchanges: &[(u16, String)]) -> bool {
    exchanges.len() == 1 && matches!(exchanges[0].1.as_str(), "" | ".")
}

async fn collect_host(
    dns: &Dns,
    preference: Option<u16>,
    name: String,
    implicit: Option<[DnsAnswer; 2]>,
    rcpt: Option<String>,
    opts: &Options,
    smtp: bool,
) -> HostObs {
    let mut host = HostObs {
        name: name.clone(),
        preference,
        ip_literal: false,
        cname: None,
        a: None,
        aaaa: None,
        addrs: Vec::new(),
        skipped_addrs: Vec::new(),
    };
    let literal = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok();
    let addrs: Vec<IpAddr> = if literal {
        // MTAs refuse IP-literal exchanges (RFC 5321 5.1 wants a name): record, do not contact.
        host.ip_literal = true;
        Vec::new()
    } else if let Some([a, aaaa]) = implicit {
        let v: Vec<IpAddr> = a.addrs().chain(aaaa.addrs()).collect();
        host.a = Some(a);
        host.aaaa = Some(aaaa);
        v
    } else {
        let (cname, a, aaaa) = tokio::join!(
            dns.query(&name, RType::Cname),
            dns.query(&name, RType::A),
            dns.query(&name, RType::Aaaa)
        );
        let v: Vec<IpAddr> = a.addrs().chain(aaaa.addrs()).collect();
        if matches!(cname.outcome, DnsOutcome::Answer) {
            host.cname = Some(cname);
        }
        host.a = Some(a);
        host.aaaa = Some(aaaa);
        v
    };
    let mut uniq = Vec::new();
    for a in addrs {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if !smtp {
        host.skipped_addrs = uniq;
        return host;
    }
    if uniq.len() > opts.max_addrs_per_host {
        host.skipped_addrs = uniq.split_off(opts.max_addrs_per_host);
    }
    let mut set = JoinSet::new();
    for (i, addr) in uniq.into_iter().enumerate() {
        let dns = dns.clone();
        let opts = opts.clone();
        let name = name.clone();
        let rcpt = rcpt.clone();
        set.spawn(async move {
            (
                i,
                probe_addr(&dns, addr, &name, rcpt.as_deref(), &opts).await,
            )
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(a) = joined {
            out.push(a);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    host.addrs = out.into_iter().map(|(_, a)| a).collect();
    host
}

/// Reverse DNS and the SMTP conversation with one address, side by side (neither waits for the
/// other, so a slow PTR lookup never lengthens the critical path).
async fn probe_addr(
    dns: &Dns,
    addr: IpAddr,
    mx_name: &str,
    rcpt: Option<&str>,
    opts: &Options,
) -> AddrObs {
    if rcpt.is_none() {
        // Many domains share MX hosts (every Google Workspace domain, say): ask each once.
        let cell = opts.limits.observation(addr, mx_name);
        return cell
            .get_or_init(|| probe_addr_uncached(dns, addr, mx_name, None, opts))
            .await
            .clone();
    }
    probe_addr_uncached(dns, addr, mx_name, rcpt, opts).await
}

async fn probe_addr_uncached(
    dns: &Dns,
    addr: IpAddr,
    mx_name: &str,
    rcpt: Option<&str>,
    opts: &Options,
) -> AddrObs {
    let rdns = async {
        let ptr = dns.reverse(addr).await;
        let rtype = if addr.is_ipv4() {
            RType::A
        } else {
            RType::Aaaa
        };
        let mut forward = Vec::new();
        for r in ptr.records.iter().take(2) {
            if let DnsRecord::Ptr { target, .. } = r {
                forward.push(dns.query(target, rtype).await);
            }
        }
        (ptr, forward)
    };
    let smtp = async {
        let mut o = AddrObs::new(addr);
        // Politeness: a shared cap on simultaneous connections per address.
        let _permit = opts.limits.for_addr(addr).acquire_owned().await.ok();
        let peer = SocketAddr::new(addr, opts.smtp_port);
        match Session::connect(peer, opts.timeout).await {
            Err(e) => o.connect = Err(e),
            Ok(mut s) => {
                o.connect = Ok(s.now_ms());
                converse(&mut s, &mut o, mx_name, rcpt, opts).await;
                s.quit().await;
                o.transcript = s.transcript_lines();
            }
        }
        o
    };
    let ((ptr, forward), mut o) = tokio::join!(rdns, smtp);
    o.ptr = Some(ptr);
    o.ptr_forward = forward;
    o
}

async fn converse(
    s: &mut Session,
    o: &mut AddrObs,
    mx_name: &str,
    rcpt: Option<&str>,
    opts: &Options,
) {
    let banner = Step {
        command: "(greeting)".into(),
        result: s.read_reply(opts.greeting_wait).await,
    };
    let ok = banner.positive();
    o.banner = Some(banner);
    if !ok {
        return;
    }
    let ehlo = step(s, format!("EHLO {}", opts.helo)).await;
    let ehlo_ok = ehlo.positive();
    let ended = ehlo.ends_session();
    o.ehlo = Some(ehlo);
    if ended {
        return;
    }
    if !ehlo_ok {
        let helo = step(s, format!("HELO {}", opts.helo)).await;
        let ok = helo.positive();
        o.helo = Some(helo);
        if !ok {
            return;
        }
    }
    let offers_tls = o.capabilities().iter().any(|(k, _)| k == "STARTTLS");
    if offers_tls {
        let st = step(s, "STARTTLS".into()).await;
        let go = st.code() == Some(220);
        let dropped = st.ends_session();
        o.starttls = Some(st);
        if dropped {
            return;
        }
        if go {
            let tls = s.upgrade_tls(mx_name, &opts.tls).await;
            let up = tls.handshake_error.is_none();
            o.tls = Some(tls);
            if !up {
                // The connection state is unknown after a failed handshake: stop here, as an MTA
                // would before retrying without TLS.
                return;
            }
            let again = step(s, format!("EHLO {}", opts.helo)).await;
            let ok = again.positive();
            o.ehlo_tls = Some(again);
            if !ok {
                return;
            }
        }
    }
    if let (true, Some(rcpt)) = (opts.probe, rcpt) {
        let mail = step(s, format!("MAIL FROM:<{}>", opts.from)).await;
        let ok = mail.positive();
        o.mail = Some(mail);
        if !ok {
            return;
        }
        let r = step(s, format!("RCPT TO:<{rcpt}>")).await;
        let dropped = r.ends_session();
        o.rcpt = Some(r);
        if dropped {
            return;
        }
        // Never DATA: reset the envelope and leave.
        o.rset = Some(step(s, "RSET".into()).await);
    }
}

async fn step(s: &mut Session, command: String) -> Step {
    let result = s.command(&command).await;
    Step { command, result }
}
