//! The sender side, recorded: SPF tree and evaluation, DKIM keys, DMARC, MTA-STS, TLS-RPT,
//! DANE, BIMI, blocklists and the sender IP's reverse DNS, all asked at once through mxray-net.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use mxray_net::{Dns, DnsAnswer, DnsRecord, HttpsObservation, RType, TlsSettings, https_get};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::reputation::{DnsblKind, DnsblZone};
use crate::score::Areas;
pub mod spf;

use spf::{SpfEvaluation, SpfNode};

/// Selectors tried when none is given, and beside the given ones: the defaults of common
/// providers and MTAs (Microsoft 365, Google, Mailchimp/Mandrill, SendGrid, Amazon SES
/// custom, Zoho, Proton, Fastmail, rspamd/OpenDKIM defaults).
pub const COMMON_SELECTORS: &[&str] = &[
    "default",
    "dkim",
    "mail",
    "selector1",
    "selector2",
    "google",
    "k1",
    "k2",
    "k3",
    "s1",
    "s2",
    "s1024",
    "s2048",
    "key1",
    "key2",
    "smtp",
    "mandrill",
    "mxvault",
    "zoho",
    "protonmail",
    "fm1",
    "fm2",
    "fm3",
    "sig1",
    "dk",
];

/// Addresses from the SPF tree checked against blocklists, at most.
pub const MAX_SPF_ADDRS: usize = 16;
/// Blocklist queries in flight at once.
pub const DNSBL_CONCURRENCY: usize = 64;

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
}

/// One DKIM selector's key record.
#[derive(Debug, Clone, Serialize)]
pub struct DkimObs {
    pub selector: String,
    /// Given with --dkim-selector (else found by the sweep).
    pub given: bool,
    pub answer: DnsAnswer,
}

#[derive(Debug, Clone, Serialize)]
pub struct DmarcObs {
    pub answer: DnsAnswer,
    /// The organisational domain (public suffix list) and its `_dmarc`, when it differs.
    pub org: Option<(String, DnsAnswer)>,
    /// `DOMAIN._report._dmarc.REPORTDOMAIN` for each external report domain.
    pub report_auth: Vec<(String, DnsAnswer)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MtaStsObs {
    pub txt: DnsAnswer,
    /// The policy fetch, done when the TXT record exists.
    pub policy: Option<HttpsObservation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DaneObs {
    pub mx: String,
    pub tlsa: DnsAnswer,
    /// The resolver's AD bit on the TLSA answer (`None`: could not ask).
    pub authenticated: Option<bool>,
}

/// One blocklist query.
#[derive(Debug, Clone, Serialize)]
pub struct DnsblQuery {
    pub zone: String,
    /// The address or domain looked up.
    pub entry: String,
    /// Why it was checked: `mx host NAME`, `sender ip`, `spf`, `domain`.
    pub role: String,
    pub a: DnsAnswer,
    /// The TXT reason, asked only when listed.
    pub txt: Option<DnsAnswer>,
}

/// RFC 5782 5 self-test of one list.
#[derive(Debug, Clone, Serialize)]
pub struct DnsblSelfTest {
    pub zone: String,
    pub kind: DnsblKind,
    /// 127.0.0.2 (or `test`): must be listed.
    pub listed: DnsAnswer,
    /// 127.0.0.1 (or `invalid`): must not be.
    pub unlisted: DnsAnswer,
}

#[derive(Debug, Clone, Serialize)]
pub struct SenderIpObs {
    pub ip: IpAddr,
    pub ptr: DnsAnswer,
    pub forward: Vec<DnsAnswer>,
}

/// Everything recorded about the domain as a sender.
#[derive(Debug, Clone, Serialize)]
pub struct SenderObs {
    pub domain: String,
    pub areas: Areas,
    pub spf: Option<SpfNode>,
    pub spf_eval: Option<SpfEvaluation>,
    pub dkim: Vec<DkimObs>,
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

fn txts(a: &DnsAnswer) -> Vec<String> {
    a.records
        .iter()
        .filter_map(|r| match r {
            DnsRecord::Txt { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The TXT strings of an answer (outside text).
pub fn txt_records(a: &DnsAnswer) -> Vec<String> {
    txts(a)
}

/// The organisational domain (RFC 7489 3.2) by the public suffix list; names whose suffix
/// the list does not know (`.test`) count their last label as the suffix.
pub fn org_domain(domain: &str) -> String {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    match psl::domain_str(&d) {
        Some(o) => o.to_string(),
        None => d,
    }
}

/// Collects every sender-side observation for `domain`, concurrently.
pub async fn collect_sender(dns: &Dns, domain: &str, opts: &SenderOptions) -> SenderObs {
    let start = std::time::Instant::now();
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    let auth = opts.areas.auth;
    let tls = opts.areas.tls;
    let rep = opts.areas.reputation;

    // SPF tree, then (reputation) blocklists for the addresses it authorises.
    let spf_fut = async {
        if auth || rep {
            Some(spf::walk(dns, &d).await)
        } else {
            None
        }
    };
    let eval_fut = async {
        match (auth, opts.sender_ip) {
            (true, Some(ip)) => {
                Some(spf::check_host(dns, ip, &format!("postmaster@{d}"), &opts.helo).await)
            }
            _ => None,
        }
    };
    let dkim_fut = async {
        if !auth {
            return Vec::new();
        }
        let mut set = JoinSet::new();
        let mut names: Vec<(String, bool)> = opts
            .dkim_selectors
            .iter()
            .map(|s| (s.to_ascii_lowercase(), true))
            .collect();
        for s in COMMON_SELECTORS {
            if !names.iter().any(|(n, _)| n == s) {
                names.push((s.to_string(), false));
            }
        }
        for (i, (sel, given)) in names.into_iter().enumerate() {
            let dns = dns.clone();
            let name = format!("{sel}._domainkey.{d}");
            set.spawn(async move {
                let answer = dns.query(&name, RType::Txt).await;
                (
                    i,
                    DkimObs {
                        selector: sel,
                        given,
                        answer,
                    },
                )
            });
        }
        let mut out = Vec::new();
        while let Some(Ok(x)) = set.join_next().await {
            out.push(x);
        }
        out.sort_by_key(|x| x.0);
        out.into_iter().map(|(_, o)| o).collect::<Vec<_>>()
    };
    let dmarc_fut = async {
        if !auth {
            return None;
        }
        let org = org_domain(&d);
        let own = format!("_dmarc.{d}");
        let (answer, org_answer) = tokio::join!(dns.query(&own, RType::Txt), async {
            if org != d {
                Some(dns.query(&format!("_dmarc.{org}"), RType::Txt).await)
            } else {
                None
            }
        });
        // External report destinations must authorise us (RFC 7489 7.1).
        let record = txts(&answer)
            .into_iter()
            .chain(org_answer.iter().flat_map(txts))
            .find(|t| t.trim_start().to_ascii_lowercase().starts_with("v=dmarc1"));
        let mut report_auth = Vec::new();
        if let Some(r) = record {
            let mut domains: Vec<String> = Vec::new();
            for uri in crate::auth::dmarc_uris(&r) {
                if let Some(rd) = crate::auth::mailto_domain(&uri)
                    && org_domain(&rd) != org
                    && !domains.contains(&rd)
                {
                    domains.push(rd);
                }
            }
            let mut set = JoinSet::new();
            for rd in domains.into_iter().take(8) {
                let dns = dns.clone();
                let name = format!("{d}._report._dmarc.{rd}");
                set.spawn(async move { (rd, dns.query(&name, RType::Txt).await) });
            }
            while let Some(Ok(x)) = set.join_next().await {
                report_auth.push(x);
            }
            report_auth.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Some(DmarcObs {
            answer,
            org: org_answer.map(|a| (org, a)),
            report_auth,
        })
    };
    let sts_fut = async {
        if !tls {
            return None;
        }
        let txt = dns.query(&format!("_mta-sts.{d}"), RType::Txt).await;
        let policy = if txts(&txt)
            .iter()
            .any(|t| t.to_ascii_lowercase().starts_with("v=stsv1"))
        {
            Some(
                https_get(
                    dns,
                    &format!("mta-sts.{d}"),
                    opts.https_port,
                    "/.well-known/mta-sts.txt",
                    &opts.tls,
                    opts.timeout,
                )
                .await,
            )
        } else {
            None
        };
        Some(MtaStsObs { txt, policy })
    };
    let simple_fut = async {
        if !(tls || auth) {
            return (None, None);
        }
        tokio::join!(
            async {
                if tls {
                    Some(dns.query(&format!("_smtp._tls.{d}"), RType::Txt).await)
                } else {
                    None
                }
            },
            async {
                if auth {
                    Some(dns.query(&format!("default._bimi.{d}"), RType::Txt).await)
                } else {
                    None
                }
            }
        )
    };
    // MX hosts: their TLSA records (tls) and their addresses on blocklists (reputation).
    let mx_fut = async {
        if !(tls || rep) {
            return (Vec::new(), Vec::new());
        }
        let mx = dns.query(&d, RType::Mx).await;
        let names: Vec<String> = mx
            .records
            .iter()
            .filter_map(|r| match r {
                DnsRecord::Mx { exchange, .. } if exchange != "." && !exchange.is_empty() => {
                    Some(exchange.to_ascii_lowercase())
                }
                _ => None,
            })
            .take(10)
            .collect();
        let mut set = JoinSet::new();
        for (i, n) in names.into_iter().enumerate() {
            let dns = dns.clone();
            let dnsbls = opts.dnsbls.clone();
            set.spawn(async move {
                let dane = async {
                    if !tls {
                        return None;
                    }
                    let name = format!("_25._tcp.{n}");
                    let (tlsa, ad) = tokio::join!(
                        dns.query(&name, RType::Tlsa),
                        dns.authenticated(&name, RType::Tlsa)
                    );
                    Some(DaneObs {
                        mx: n.clone(),
                        tlsa,
                        authenticated: ad,
                    })
                };
                let bl = async {
                    if !rep {
                        return Vec::new();
                    }
                    let (a, aaaa) =
                        tokio::join!(dns.query(&n, RType::A), dns.query(&n, RType::Aaaa));
                    let targets: Vec<(String, String)> = a
                        .addrs()
                        .chain(aaaa.addrs())
                        .take(4)
                        .map(|ip| (ip.to_string(), format!("MX host {n}")))
                        .collect();
                    dnsbl_queries(&dns, &dnsbls, targets, DnsblKind::Ip).await
                };
                let (dane, bl) = tokio::join!(dane, bl);
                (i, dane, bl)
            });
        }
        let mut got = Vec::new();
        while let Some(Ok(x)) = set.join_next().await {
            got.push(x);
        }
        got.sort_by_key(|x| x.0);
        let mut dane = Vec::new();
        let mut bl = Vec::new();
        for (_, d, b) in got {
            dane.extend(d);
            bl.extend(b);
        }
        (dane, bl)
    };
    let rep_fut = async {
        if !rep {
            return (Vec::new(), Vec::new(), None);
        }
        let tests = async {
            let mut set = JoinSet::new();
            for (i, z) in opts.dnsbls.iter().enumerate() {
                let (dns, z) = (dns.clone(), z.clone());
                set.spawn(async move {
                    let (yes, no) = match z.kind {
                        DnsblKind::Ip => ("2.0.0.127", "1.0.0.127"),
                        DnsblKind::Domain => ("test", "invalid"),
                    };
                    let (yes, no) = (format!("{yes}.{}", z.zone), format!("{no}.{}", z.zone));
                    let (listed, unlisted) =
                        tokio::join!(dns.query(&yes, RType::A), dns.query(&no, RType::A));
                    (
                        i,
                        DnsblSelfTest {
                            zone: z.zone,
                            kind: z.kind,
                            listed,
                            unlisted,
                        },
                    )
                });
            }
            let mut out = Vec::new();
            while let Some(Ok(x)) = set.join_next().await {
                out.push(x);
            }
            out.sort_by_key(|x| x.0);
            out.into_iter().map(|(_, t)| t).collect::<Vec<_>>()
        };
        let direct = async {
            let mut targets = vec![(d.clone(), "domain".to_string())];
            let mut ips = Vec::new();
            if let Some(ip) = opts.sender_ip {
                ips.push((ip.to_string(), "sender IP".to_string()));
            }
            let (a, b) = tokio::join!(
                dnsbl_queries(
                    dns,
                    &opts.dnsbls,
                    std::mem::take(&mut targets),
                    DnsblKind::Domain
                ),
                dnsbl_queries(dns, &opts.dnsbls, ips, DnsblKind::Ip)
            );
            let mut v = a;
            v.extend(b);
            v
        };
        let rdns = async {
            let ip = opts.sender_ip?;
            let ptr = dns.reverse(ip).await;
            let rtype = if ip.is_ipv4() { RType::A } else { RType::Aaaa };
            let mut set = JoinSet::new();
            for (i, r) in ptr.records.iter().take(4).enumerate() {
                if let DnsRecord::Ptr { target, .. } = r {
                    let (dns, target) = (dns.clone(), target.clone());
                    set.spawn(async move { (i, dns.query(&target, rtype).await) });
                }
            }
            let mut fw = Vec::new();
            while let Some(Ok(x)) = set.join_next().await {
                fw.push(x);
            }
            fw.sort_by_key(|x| x.0);
            Some(SenderIpObs {
                ip,
                ptr,
                forward: fw.into_iter().map(|(_, a)| a).collect(),
            })
        };
        tokio::join!(tests, direct, rdns)
    };
    let spf_then_bl = async {
        let tree = spf_fut.await;
        let bl = match (&tree, rep) {
            (Some(t), true) => {
                let targets = t
                    .authorised_addrs(MAX_SPF_ADDRS)
                    .into_iter()
                    .map(|ip| (ip.to_string(), "authorised by SPF".to_string()))
                    .collect();
                dnsbl_queries(dns, &opts.dnsbls, targets, DnsblKind::Ip).await
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
        spf: if auth || rep { spf_tree } else { None },
        spf_eval,
        dkim,
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

/// Queries every (entry, zone) pair of the given kind at once (bounded), asking the TXT
/// reason of listed entries.
async fn dnsbl_queries(
    dns: &Dns,
    zones: &[DnsblZone],
    entries: Vec<(String, String)>,
    kind: DnsblKind,
) -> Vec<DnsblQuery> {
    let sem = Arc::new(Semaphore::new(DNSBL_CONCURRENCY));
    let mut set = JoinSet::new();
    let mut i = 0usize;
    for (entry, role) in entries {
        for z in zones.iter().filter(|z| z.kind == kind) {
            let Some(name) = crate::reputation::query_name(&entry, z) else {
                continue;
            };
            let (dns, sem, zone, entry, role) = (
                dns.clone(),
                sem.clone(),
                z.zone.clone(),
                entry.clone(),
                role.clone(),
            );
            i += 1;
            let idx = i;
            set.spawn(async move {
                let _permit = sem.acquire_owned().await.ok();
                let a = dns.query(&name, RType::A).await;
                let txt = if a.addrs().next().is_some() {
                    Some(dns.query(&name, RType::Txt).await)
                } else {
                    None
                };
                (
                    idx,
                    DnsblQuery {
                        zone,
                        entry,
                        role,
                        a,
                        txt,
                    },
                )
            });
        }
    }
    let mut out = Vec::new();
    while let Some(Ok(x)) = set.join_next().await {
        out.push(x);
    }
    out.sort_by_key(|x| x.0);
    out.into_iter().map(|(_, q)| q).collect()
}
