//! The sender side: the domain as a sender (SPF, DKIM, DMARC, MTA-STS, TLS-RPT, DANE, BIMI,
//! blocklists, the sender IP's rDNS). Each topic observes through mxray-net and judges purely.

pub mod bimi;
pub mod dane;
pub mod dkim;
pub mod dmarc;
pub mod dnsbl;
pub mod fix;
pub mod mta_sts;
pub mod rdns;
pub mod shared;
pub mod spf;
pub mod tags;
#[cfg(test)]
mod testing;
pub mod tlsrpt;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use mxray_core::DomainName;
use mxray_core::Finding;
use mxray_net::{Dns, DnsAnswer, DnsOutcome, DnsRecord, RType, TlsSettings};
use serde::Serialize;
use tokio::task::JoinSet;

pub use dane::DaneObs;
pub use dkim::{COMMON_SELECTORS, DkimObs};
pub use dmarc::DmarcObs;
pub use dnsbl::{DnsblKind, DnsblQuery, DnsblSelfTest, DnsblZone};
pub use mta_sts::MtaStsObs;
pub use rdns::SenderIpObs;

use crate::recipient::observe::Observations;
use crate::score::Areas;
use mxray_core::mx::{MAX_EXCHANGES, MxPlan};
use spf::{SpfEvaluation, SpfNode};

/// Addresses from the SPF tree checked against blocklists, at most.
pub const MAX_SPF_ADDRS: usize = 16;

/// How to collect the sender side.
#[derive(Clone)]
pub struct SenderOptions {
    pub sender_ip: Option<IpAddr>,
    pub dkim_selectors: Vec<String>,
    pub dnsbls: Vec<DnsblZone>,
    /// Port of `mta-sts.DOMAIN` (443; labs set another).
    pub https_port: u16,
    pub tls: Arc<TlsSettings>,
    /// The HELO name used for the SPF evaluation.
    pub helo: String,
    pub timeout: Duration,
    pub areas: Areas,
    /// Blocklist answers shared by every target the options serve (a whole `--input` run).
    pub dnsbl_cache: Arc<dnsbl::DnsblCache>,
    /// MX hosts' TLSA answers shared the same way (providers' MX hosts serve many domains).
    pub dane_cache: Arc<dane::DaneCache>,
}

/// Everything recorded about the domain as a sender.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SenderObs {
    pub domain: String,
    pub areas: Areas,
    pub spf: Option<SpfNode>,
    pub spf_eval: Option<SpfEvaluation>,
    pub dkim: Vec<DkimObs>,
    /// `_domainkey.DOMAIN` (asked for CNAME): NXDOMAIN there means no selector can exist, and
    /// the common-selector sweep was skipped (RFC 8020); `dkim` then holds the given ones only.
    pub dkim_domainkey: Option<DnsAnswer>,
    pub dmarc: Option<DmarcObs>,
    pub mta_sts: Option<MtaStsObs>,
    pub tlsrpt: Option<DnsAnswer>,
    pub dane: Vec<DaneObs>,
    pub bimi: Option<DnsAnswer>,
    pub dnsbl_tests: Vec<DnsblSelfTest>,
    pub dnsbl: Vec<DnsblQuery>,
    pub sender_ip: Option<SenderIpObs>,
    pub elapsed_ms: u64,
}

impl SenderObs {
    /// Nothing observed yet for `domain`: the start of hand-made observations in tests.
    pub fn new(domain: &str, areas: Areas) -> SenderObs {
        SenderObs {
            domain: domain.to_string(),
            areas,
            spf: None,
            spf_eval: None,
            dkim: Vec::new(),
            dkim_domainkey: None,
            dmarc: None,
            mta_sts: None,
            tlsrpt: None,
            dane: Vec::new(),
            bimi: None,
            dnsbl_tests: Vec::new(),
            dnsbl: Vec::new(),
            sender_ip: None,
            elapsed_ms: 0,
        }
    }
}

/// The TXT strings of an answer (outside text).
pub fn txt_records(a: &DnsAnswer) -> Vec<String> {
    a.records
        .iter()
        .filter_map(|r| match r {
            DnsRecord::Txt { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// A DNS outcome in a word or two, for finding titles.
pub fn outcome_word(o: &DnsOutcome) -> String {
    match o {
        DnsOutcome::Answer => "answer".into(),
        DnsOutcome::NoData => "no data".into(),
        DnsOutcome::NxDomain => "NXDOMAIN".into(),
        DnsOutcome::ServFail => "SERVFAIL".into(),
        DnsOutcome::Refused => "REFUSED".into(),
        DnsOutcome::Timeout => "timeout".into(),
        DnsOutcome::Error(e) => format!("error: {e}"),
    }
}

/// Collects every sender-side observation for `domain`, concurrently: each topic's own
/// observation, run side by side (blocklist queries for SPF-authorised addresses follow the
/// SPF walk).
/// `activity` and `policy` are the run's (the recipient side's `Options`): one board, one
/// address policy for both sides.
pub async fn collect_sender(
    dns: &Dns,
    domain: &str,
    opts: &SenderOptions,
    activity: &mxray_run::Activity,
    policy: &mxray_net::AddressPolicy,
) -> SenderObs {
    let start = std::time::Instant::now();
    let d = DomainName::from_dns(domain).into_string();
    let auth = opts.areas.auth;
    let tls = opts.areas.tls;
    let rep = opts.areas.reputation;

    let eval_fut = async {
        match (auth, opts.sender_ip) {
            (true, Some(ip)) => {
                let sender = format!("postmaster@{d}");
                let eval = spf::check_host(dns, ip, &sender, &opts.helo);
                Some(
                    activity
                        .during(format!("the SPF evaluation of {d} for {ip}"), eval)
                        .await,
                )
            }
            _ => None,
        }
    };
    let dkim_fut = async {
        if auth {
            let sweep = dkim::observe(dns, &d, &opts.dkim_selectors);
            activity
                .during(format!("the DKIM keys of {d}"), sweep)
                .await
        } else {
            dkim::DkimSweep::default()
        }
    };
    let dmarc_fut = async {
        if auth {
            Some(
                activity
                    .during(format!("the DMARC record of {d}"), dmarc::observe(dns, &d))
                    .await,
            )
        } else {
            None
        }
    };
    let sts_fut = async {
        if tls {
            let sts = mta_sts::observe(dns, &d, opts.https_port, &opts.tls, opts.timeout, policy);
            Some(
                activity
                    .during(format!("the MTA-STS policy of {d}"), sts)
                    .await,
            )
        } else {
            None
        }
    };
    let simple_fut = async {
        tokio::join!(
            async {
                if tls {
                    Some(tlsrpt::observe(dns, &d).await)
                } else {
                    None
                }
            },
            async {
                if auth {
                    Some(bimi::observe(dns, &d).await)
                } else {
                    None
                }
            }
        )
    };
    let lists = dnsbl::Lists {
        dns: dns.clone(),
        cache: opts.dnsbl_cache.clone(),
    };
    // MX hosts: their TLSA records (tls) and their addresses on blocklists (reputation).
    let mx_fut = async {
        if !(tls || rep) {
            return (Vec::new(), Vec::new());
        }
        let mx = dns.query(&d, RType::Mx).await;
        let mut set = JoinSet::new();
        let names: Vec<String> = MxPlan::from_answer(&mx)
            .exchanges(MAX_EXCHANGES)
            .into_iter()
            .map(|r| r.exchange.to_string())
            .collect();
        for (i, n) in names.into_iter().enumerate() {
            let (dns, lists) = (dns.clone(), lists.clone());
            let dnsbls = opts.dnsbls.clone();
            let dane_cache = opts.dane_cache.clone();
            set.spawn(async move {
                let (dane, bl) = tokio::join!(
                    async {
                        if tls {
                            Some(dane::observe_shared(&dns, &dane_cache, &n).await)
                        } else {
                            None
                        }
                    },
                    async {
                        if rep {
                            dnsbl::mx_queries(&lists, &dnsbls, &n).await
                        } else {
                            Vec::new()
                        }
                    }
                );
                (i, (dane, bl))
            });
        }
        let mut dane = Vec::new();
        let mut bl = Vec::new();
        let mx_checks = crate::in_order(set);
        for (d, b) in activity
            .during(
                format!("the TLSA and blocklist lookups of {d}'s MX hosts"),
                mx_checks,
            )
            .await
        {
            dane.extend(d);
            bl.extend(b);
        }
        (dane, bl)
    };
    let rep_fut = async {
        if !rep {
            return (Vec::new(), Vec::new(), None);
        }
        let lists = async {
            tokio::join!(
                dnsbl::self_tests(&lists, &opts.dnsbls),
                dnsbl::direct_queries(&lists, &opts.dnsbls, &d, opts.sender_ip),
                async {
                    match opts.sender_ip {
                        Some(ip) => Some(rdns::observe(dns, ip).await),
                        None => None,
                    }
                }
            )
        };
        activity.during("the blocklists", lists).await
    };
    // The SPF tree, then (reputation) blocklists for the addresses it authorises.
    let spf_then_bl = async {
        let tree = if auth || rep {
            Some(
                activity
                    .during(
                        format!("the SPF record of {d} and its includes"),
                        spf::walk(dns, &d),
                    )
                    .await,
            )
        } else {
            None
        };
        let bl = match (&tree, rep) {
            (Some(t), true) => {
                let targets = t
                    .authorised_addrs(MAX_SPF_ADDRS)
                    .into_iter()
                    .map(|ip| (ip.to_string(), "authorised by SPF".to_string()))
                    .collect();
                dnsbl::queries(&lists, &opts.dnsbls, targets, DnsblKind::Ip).await
            }
            _ => Vec::new(),
        };
        (tree, bl)
    };
    let (
        (spf_tree, spf_bl),
        spf_eval,
        dkim,
        dmarc,
        mta_sts,
        (tlsrpt, bimi),
        (dane, mx_bl),
        (tests, direct_bl, sender_ip),
    ) = tokio::join!(
        spf_then_bl,
        eval_fut,
        dkim_fut,
        dmarc_fut,
        sts_fut,
        simple_fut,
        mx_fut,
        rep_fut
    );
    let mut dnsbl = mx_bl;
    dnsbl.extend(direct_bl);
    for q in spf_bl {
        if !dnsbl.iter().any(|x| x.zone == q.zone && x.entry == q.entry) {
            dnsbl.push(q);
        }
    }
    SenderObs {
        domain: d,
        areas: opts.areas,
        spf: spf_tree,
        spf_eval,
        dkim: dkim.keys,
        dkim_domainkey: dkim.domainkey,
        dmarc,
        mta_sts,
        tlsrpt,
        dane,
        bimi,
        dnsbl_tests: tests,
        dnsbl,
        sender_ip,
        elapsed_ms: start.elapsed().as_millis() as u64,
    }
}

/// Every sender-side finding, for the areas that were checked, in report order.
pub fn judge(s: &SenderObs, obs: &Observations, areas: Areas) -> Vec<Finding> {
    let mut f = Vec::new();
    if areas.auth {
        f.extend(spf::judge::findings(s));
        f.extend(dkim::findings(s));
        f.extend(dmarc::findings(s));
        f.extend(bimi::findings(s));
    }
    if areas.tls {
        f.extend(mta_sts::findings(s, obs));
        f.extend(tlsrpt::findings(s));
        f.extend(dane::findings(s, obs));
    }
    if areas.reputation {
        f.extend(dnsbl::findings(s));
        f.extend(rdns::findings(s));
    }
    // Each corrected record goes into the fix of the findings it answers: the same record
    // `mxray records fix` prints.
    for rf in fix::fixes(s, obs) {
        let mut ids = rf.findings.clone();
        ids.dedup();
        for id in &ids {
            if let Some(finding) = f.iter_mut().find(|x| x.id == *id) {
                let text = fix::publish_text(&rf.corrected);
                finding.fix = Some(match finding.fix.take() {
                    Some(old) => format!("{old}\n{text}"),
                    None => text,
                });
            }
        }
    }
    f
}
