//! `mxray verify --preflight`: before probing anyone's servers, is this machine fit to send
//! from? The egress address (through the proxy if any), outbound port 25, the egress's PTR and
//! its forward confirmation, the HELO name, the `--from` domain's SPF (and DMARC) for that
//! address, and the address on the blocklists. Observation reuses the sender topics
//! (`rdns`, `dnsbl`, `spf::check_host`, `dmarc::observe`); `judge` is pure. Not a diagnose
//! topic: these findings score no domain. Ids listed in docs/verify.md.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mxray_core::{DomainName, Finding, Severity, escape_text};
use mxray_net::{AddressPolicy, Dns, DnsAnswer, DnsRecord, EgressSource, Proxy, RType};

use crate::score::Areas;
use crate::sender::dmarc::{self, DmarcObs};
use crate::sender::dnsbl::{self, DnsblKind, DnsblZone};
use crate::sender::rdns::{self, SenderIpObs};
use crate::sender::spf::{SpfEvaluation, SpfVerdict, check_host};
use crate::sender::{SenderObs, txt_records};

// Finding ids: the public contract, listed in docs/verify.md.
pub const PORT25_CLOSED: &str = "preflight.port25_closed";
pub const NO_TARGET: &str = "preflight.no_target";
pub const NO_PTR: &str = "preflight.no_ptr";
pub const PTR_MISMATCH: &str = "preflight.ptr_mismatch";
pub const PTR_GENERIC: &str = "preflight.ptr_generic";
pub const HELO_MISMATCH: &str = "preflight.helo_mismatch";
pub const SPF_FAIL: &str = "preflight.spf_fail";
pub const DMARC_MISSING: &str = "preflight.dmarc_missing";
pub const LISTED: &str = "preflight.listed";
pub const DNSBL_UNUSABLE: &str = "preflight.dnsbl_unusable";
pub const OK: &str = "preflight.ok";

/// Every preflight id.
pub const IDS: &[&str] = &[
    PORT25_CLOSED,
    NO_TARGET,
    NO_PTR,
    PTR_MISMATCH,
    PTR_GENERIC,
    HELO_MISMATCH,
    SPF_FAIL,
    DMARC_MISSING,
    LISTED,
    DNSBL_UNUSABLE,
    OK,
];

/// What the preflight needs to know.
#[derive(Debug, Clone)]
pub struct PreflightOptions {
    /// The domain whose first MX is connected to.
    pub target: DomainName,
    pub smtp_port: u16,
    pub source: Option<IpAddr>,
    pub proxy: Option<Proxy>,
    pub helo: String,
    /// The MAIL FROM address (`""`: the null sender, no SPF/DMARC check).
    pub from: String,
    pub dnsbls: Vec<DnsblZone>,
    pub timeout: Duration,
    pub policy: AddressPolicy,
}

/// What was observed.
#[derive(Debug, Clone)]
pub struct PreflightObs {
    pub target: String,
    /// The MX address connected to, when the target had one.
    pub peer: Option<SocketAddr>,
    /// Why the connection failed (port 25 closed, a proxy failure), when it did.
    pub connect_error: Option<String>,
    /// The egress address: the socket's, the proxy's, or the `--source-ip` when the connection
    /// failed.
    pub egress: Option<IpAddr>,
    /// How `egress` was learned, when the connection opened.
    pub egress_source: Option<EgressSource>,
    pub banner: Option<String>,
    pub rdns: Option<SenderIpObs>,
    pub helo: String,
    /// The HELO name's A or AAAA answer.
    pub helo_addrs: Option<DnsAnswer>,
    pub from_domain: Option<String>,
    pub spf: Option<SpfEvaluation>,
    pub dmarc: Option<DmarcObs>,
    pub dnsbl_tests: Vec<dnsbl::DnsblSelfTest>,
    pub dnsbl: Vec<dnsbl::DnsblQuery>,
}

/// Connects to the target's first MX (as verify would), then asks DNS about the egress.
pub async fn observe(dns: &Dns, o: &PreflightOptions) -> PreflightObs {
    let mx = mxray_net::resolve_mx(dns, &o.target, 1).await;
    let peer = mx
        .targets
        .first()
        .and_then(|t| t.addrs().into_iter().next())
        .map(|ip| SocketAddr::new(ip, o.smtp_port));
    let mut obs = PreflightObs {
        target: o.target.as_str().to_string(),
        peer,
        connect_error: None,
        egress: o.source,
        egress_source: None,
        banner: None,
        rdns: None,
        helo: o.helo.clone(),
        helo_addrs: None,
        from_domain: o
            .from
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty()),
        spf: None,
        dmarc: None,
        dnsbl_tests: Vec::new(),
        dnsbl: Vec::new(),
    };
    if let Some(peer) = peer {
        match mxray_net::probe_egress(peer, o.source, o.proxy.as_ref(), o.timeout, &o.policy).await
        {
            Ok(e) => {
                obs.egress = Some(e.ip);
                obs.egress_source = Some(e.source);
                obs.banner = Some(match e.banner {
                    Ok(r) => r.raw(),
                    Err(err) => format!("no greeting: {err}"),
                });
            }
            Err(e) => obs.connect_error = Some(e.to_string()),
        }
    }
    let Some(ip) = obs.egress else { return obs };
    let rtype = if ip.is_ipv4() { RType::A } else { RType::Aaaa };
    let zones = o.dnsbls.clone();
    let lists = dnsbl::Lists::uncached(dns);
    let (rdns_obs, helo_addrs, tests, listed) = tokio::join!(
        rdns::observe(dns, ip),
        dns.query(&o.helo, rtype),
        dnsbl::self_tests(&lists, &zones),
        dnsbl::queries(
            &lists,
            &zones,
            vec![(ip.to_string(), "egress IP".to_string())],
            DnsblKind::Ip
        )
    );
    obs.rdns = Some(rdns_obs);
    obs.helo_addrs = Some(helo_addrs);
    obs.dnsbl_tests = tests;
    obs.dnsbl = listed;
    if let Some(d) = obs.from_domain.clone() {
        let (spf, dm) = tokio::join!(
            check_host(dns, ip, &o.from, &o.helo),
            dmarc::observe(dns, &d)
        );
        obs.spf = Some(spf);
        obs.dmarc = Some(dm);
    }
    obs
}

/// Re-labels a sender-topic finding as a preflight one.
fn relabel(mut f: Finding, id: &'static str) -> Finding {
    f.id = id;
    f
}

/// Every preflight finding; `preflight.ok` when nothing warns or fails.
pub fn judge(o: &PreflightObs) -> Vec<Finding> {
    let mut f = Vec::new();
    let fix25 =
        "Ask your provider to open outbound port 25, or use --proxy through a host that can";
    match (&o.peer, &o.connect_error) {
        (None, _) => f.push(
            Finding::new(
                NO_TARGET,
                Severity::Warn,
                format!("{} has no MX address to test outbound SMTP against", escape_text(&o.target)),
            )
            .detail("Without an address to connect to, whether outbound port 25 opens is unknown.")
            .fix("Give --preflight-target a domain that receives mail (e.g. the first domain of the list)"),
        ),
        (Some(peer), Some(err)) => f.push(
            Finding::new(
                PORT25_CLOSED,
                Severity::Fail,
                format!("Outbound SMTP to {peer} does not open: {}", escape_text(err)),
            )
            .detail("Many hosting providers and ISPs block outbound port 25; every probe of the run would fail the same way.")
            .evidence(vec![format!("connect {peer}: {err}")])
            .fix(fix25),
        ),
        _ => {}
    }
    let Some(ip) = o.egress else { return finish(f) };
    if let Some(r) = &o.rdns {
        let mut s = SenderObs::new(&o.target, Areas::all());
        s.sender_ip = Some(r.clone());
        for x in rdns::findings(&s) {
            match x.id {
                rdns::MISSING => f.push(relabel(x, NO_PTR)),
                rdns::MISMATCH => f.push(relabel(x, PTR_MISMATCH)),
                rdns::GENERIC => f.push(relabel(x, PTR_GENERIC)),
                _ => {}
            }
        }
    }
    // The HELO name: its address should be the egress, and the egress's PTR should name it.
    let helo = o.helo.trim_end_matches('.').to_ascii_lowercase();
    let ptr_names: Vec<String> = o
        .rdns
        .iter()
        .flat_map(|r| r.ptr.records.iter())
        .filter_map(|r| match r {
            DnsRecord::Ptr { target, .. } => {
                Some(target.trim_end_matches('.').to_ascii_lowercase())
            }
            _ => None,
        })
        .collect();
    let resolves = o
        .helo_addrs
        .as_ref()
        .is_some_and(|a| a.addrs().any(|x| x == ip));
    let named = ptr_names.contains(&helo);
    if !resolves || !named {
        let mut why = Vec::new();
        if !resolves {
            why.push(format!("{} does not resolve to {ip}", escape_text(&helo)));
        }
        if !named {
            why.push(match ptr_names.first() {
                Some(p) => format!("{ip}'s PTR is {}, not the HELO name", escape_text(p)),
                None => format!("{ip} has no PTR naming it"),
            });
        }
        let mut ev = Vec::new();
        if let Some(a) = &o.helo_addrs {
            ev.extend(a.evidence());
        }
        f.push(
            Finding::new(
                HELO_MISMATCH,
                Severity::Warn,
                format!("The HELO name {} does not match the egress {ip}", escape_text(&helo)),
            )
            .detail(format!(
                "{}. Receivers score a HELO that is not the sending host's forward-confirmed name as suspicious; some refuse it.",
                why.join("; ")
            ))
            .evidence(ev)
            .fix(match ptr_names.first() {
                Some(p) => format!("Use --helo {} (the egress's PTR name), with an A record to {ip}", escape_text(p)),
                None => format!("Give {ip} a PTR and an A record for one name, and pass that name with --helo"),
            }),
        );
    }
    if let (Some(d), Some(spf)) = (&o.from_domain, &o.spf) {
        let sev = match spf.result {
            SpfVerdict::Pass => None,
            SpfVerdict::Fail | SpfVerdict::PermError => Some(Severity::Fail),
            _ => Some(Severity::Warn),
        };
        if let Some(sev) = sev {
            let decided = spf
                .decided_by
                .as_deref()
                .map(|t| format!(" (decided by {})", escape_text(t)))
                .unwrap_or_default();
            f.push(
                Finding::new(
                    SPF_FAIL,
                    sev,
                    format!("SPF of {} gives {} for {ip}", escape_text(d), spf.result.as_str()),
                )
                .detail(format!(
                    "The --from domain's SPF record does not authorise the egress{decided}, so SPF cannot align for DMARC; receivers may refuse the MAIL FROM."
                ))
                .evidence(vec![format!(
                    "check_host({ip}, {}, {}) = {}",
                    escape_text(&spf.sender),
                    escape_text(&spf.helo),
                    spf.result.as_str()
                )])
                .fix(format!("Add ip{}:{ip} to {}'s SPF record, or probe with a --from whose domain authorises it", if ip.is_ipv4() { 4 } else { 6 }, escape_text(d))),
            );
        }
        if let Some(dm) = &o.dmarc {
            let has = txt_records(&dm.answer)
                .into_iter()
                .chain(dm.org.iter().flat_map(|(_, a)| txt_records(a)))
                .any(|t| t.trim_start().to_ascii_lowercase().starts_with("v=dmarc1"));
            if !has {
                let mut ev = dm.answer.evidence();
                if let Some((_, a)) = &dm.org {
                    ev.extend(a.evidence());
                }
                f.push(
                    Finding::new(DMARC_MISSING, Severity::Warn, format!("{} publishes no DMARC record", escape_text(d)))
                        .detail("Large receivers want DMARC on the sending domain; without it alignment cannot be shown.")
                        .evidence(ev)
                        .fix(format!("Publish _dmarc.{} TXT \"v=DMARC1; p=none\" (see mxray records dmarc)", escape_text(d))),
                );
            }
        }
    }
    let mut s = SenderObs::new(&o.target, Areas::all());
    s.dnsbl_tests = o.dnsbl_tests.clone();
    s.dnsbl = o.dnsbl.clone();
    for x in dnsbl::findings(&s) {
        match x.id {
            dnsbl::LISTED => f.push(
                relabel(x, LISTED)
                    .fix(format!("Ask for delisting at the list's site once the cause is fixed, or send from another address (--source-ip, --proxy): probing from {ip} will be refused")),
            ),
            dnsbl::UNUSABLE => f.push(relabel(x, DNSBL_UNUSABLE)),
            _ => {}
        }
    }
    let through = match o.egress_source {
        Some(EgressSource::ProxyReply) => {
            " The egress is the proxy's outgoing address, as its CONNECT reply named it."
        }
        Some(EgressSource::ProxyAddress) => {
            " The egress is taken to be the proxy's own address (its CONNECT reply named no outgoing address)."
        }
        Some(EgressSource::Socket) | None => "",
    };
    for x in &mut f {
        x.detail.push_str(through);
    }
    finish(f)
}

fn finish(mut f: Vec<Finding>) -> Vec<Finding> {
    if !f
        .iter()
        .any(|x| matches!(x.severity, Severity::Fail | Severity::Warn))
    {
        f.push(
            Finding::new(OK, Severity::Pass, "Preflight passed: this egress is fit to probe from")
                .detail("Outbound SMTP opens; the egress has forward-confirmed reverse DNS naming the HELO; the --from domain authorises it; no blocklist lists it."),
        );
    }
    f
}

/// The preflight as printed (`mxray verify --preflight --json`).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Preflight {
    /// The domain whose first MX was connected to.
    pub target: String,
    /// The address servers see the probes come from, when known.
    pub egress: Option<IpAddr>,
    /// True when the probes go through a SOCKS5 proxy (`egress` is then the proxy's).
    pub through_proxy: bool,
    /// How `egress` was learned, when the connection opened: `socket` (the connection's own
    /// address), `proxy_reply` (the proxy's outgoing address from its CONNECT reply) or
    /// `proxy_address` (the proxy's own address, when its reply named none: a guess).
    pub egress_source: Option<EgressSource>,
    /// The MX's greeting (outside text), when the connection opened.
    pub banner: Option<String>,
    /// Every finding; `preflight.ok` alone when all is well.
    pub findings: Vec<Finding>,
}

/// Observes and judges.
pub async fn run(dns: &Dns, o: &PreflightOptions) -> Preflight {
    let obs = observe(dns, o).await;
    Preflight {
        findings: judge(&obs),
        target: obs.target,
        egress: obs.egress,
        through_proxy: matches!(
            obs.egress_source,
            Some(EgressSource::ProxyReply | EgressSource::ProxyAddress)
        ),
        egress_source: obs.egress_source,
        banner: obs.banner,
    }
}

/// Whether a failing finding is among them (exit 1, `--strict` refuses to start).
pub fn failed(f: &[Finding]) -> bool {
    f.iter().any(|x| x.severity == Severity::Fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare() -> PreflightObs {
        PreflightObs {
            target: "example.com".into(),
            peer: Some("192.0.2.1:25".parse().unwrap()),
            connect_error: None,
            egress: None,
            egress_source: None,
            banner: None,
            rdns: None,
            helo: "mail.example.com".into(),
            helo_addrs: None,
            from_domain: None,
            spf: None,
            dmarc: None,
            dnsbl_tests: Vec::new(),
            dnsbl: Vec::new(),
        }
    }

    #[test]
    fn closed_port_fails_and_names_the_fix() {
        let mut o = bare();
        o.connect_error = Some("connection refused".into());
        let f = judge(&o);
        assert_eq!(f[0].id, PORT25_CLOSED);
        assert!(failed(&f));
        assert!(f[0].fix.as_deref().unwrap().contains("--proxy"));
    }

    #[test]
    fn says_how_the_proxy_egress_was_learned() {
        let mut o = bare();
        o.egress = Some("198.51.100.7".parse().unwrap());
        let detail = |o: &PreflightObs| {
            let f = judge(o);
            f.iter()
                .find(|x| x.id == HELO_MISMATCH)
                .map(|x| x.detail.clone())
                .unwrap()
        };
        assert!(!detail(&o).contains("proxy"));
        o.egress_source = Some(EgressSource::ProxyReply);
        assert!(detail(&o).contains("as its CONNECT reply named it"));
        o.egress_source = Some(EgressSource::ProxyAddress);
        assert!(detail(&o).contains("named no outgoing address"));
    }

    #[test]
    fn ids_are_in_the_preflight_topic() {
        assert!(IDS.iter().all(|i| i.starts_with("preflight.")));
        let doc = include_str!("../../../docs/verify.md");
        for id in IDS {
            assert!(
                doc.contains(&format!("`{id}`")),
                "{id} missing from docs/verify.md"
            );
        }
    }
}
