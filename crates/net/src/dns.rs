//! DNS lookups through hickory-resolver, recorded as plain observations: what was asked, what came
//! back (records, NXDOMAIN, no data, SERVFAIL, REFUSED, timeout) and how long it took.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::Name;
use hickory_resolver::proto::rr::{RData, Record, RecordType};

pub use mxray_core::dns::{DnsAnswer, DnsOutcome, DnsRecord, RType};

/// The hickory record type for ours (a trait because `RType` lives in `mxray-core`).
trait HickoryType {
    fn hickory(self) -> RecordType;
}

impl HickoryType for RType {
    fn hickory(self) -> RecordType {
        match self {
            RType::A => RecordType::A,
            RType::Aaaa => RecordType::AAAA,
            RType::Mx => RecordType::MX,
            RType::Txt => RecordType::TXT,
            RType::Cname => RecordType::CNAME,
            RType::Ptr => RecordType::PTR,
            RType::Ns => RecordType::NS,
            RType::Soa => RecordType::SOA,
            RType::Tlsa => RecordType::TLSA,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DnsSetupError {
    #[error(
        "cannot read the system resolver configuration (/etc/resolv.conf): {0}; pass --resolver IP:PORT"
    )]
    SystemConfig(String),
    #[error("cannot build the resolver: {0}")]
    Build(String),
}

/// A resolver that records what it sees. Cheap to clone; share one per run (it caches).
#[derive(Clone)]
pub struct Dns {
    resolver: TokioResolver,
    /// The same servers, for the direct queries that bypass the resolver's special cases.
    servers: Vec<SocketAddr>,
    timeout: Duration,
    /// Queries in flight at once, for the whole run: a burst of thousands of UDP queries
    /// overflows resolvers' receive buffers (and trips their rate limits), and every lost
    /// datagram costs a full timeout. Bounded, the same work finishes far sooner.
    inflight: std::sync::Arc<tokio::sync::Semaphore>,
}

/// How an alias chain ended when followed link by link.
enum ChainEnd {
    /// At a name that is not an alias (or a lookup that failed: nothing more to say).
    Ends,
    Loops,
    TooLong,
}

/// CNAME links followed to complete an answer the cache gave without them (resolvers stop
/// following chains at about this length too).
const MAX_CNAME_LINKS: usize = 8;

/// Default bound on DNS queries in flight (see `Dns::inflight`).
pub const MAX_INFLIGHT: usize = 64;

impl Dns {
    /// `servers` empty: the system's resolvers. `timeout` bounds each query as a whole.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Dns, DnsSetupError> {
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.ndots = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.cache_size = 4096;
        let mut direct: Vec<SocketAddr> = servers.to_vec();
        let builder = if servers.is_empty() {
            let (conf, _) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| DnsSetupError::SystemConfig(e.to_string()))?;
            for ns in conf.name_servers() {
                if let Some(c) = ns.connections.first() {
                    let sa = SocketAddr::new(ns.ip, c.port);
                    if !direct.contains(&sa) {
                        direct.push(sa);
                    }
                }
            }
            let mut b = TokioResolver::builder_tokio()
                .map_err(|e| DnsSetupError::SystemConfig(e.to_string()))?;
            *b.options_mut() = opts;
            b
        } else {
            let configs = servers
                .iter()
                .map(|s| {
                    let mut c = NameServerConfig::udp_and_tcp(s.ip());
                    for conn in &mut c.connections {
                        conn.port = s.port();
                    }
                    c
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(configs),
                TokioRuntimeProvider::default(),
            )
            .with_options(opts)
        };
        let resolver = builder
            .build()
            .map_err(|e| DnsSetupError::Build(e.to_string()))?;
        Ok(Dns {
            resolver,
            servers: direct,
            timeout,
            inflight: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_INFLIGHT)),
        })
    }

    /// Asks `name` for `rtype`, never failing: every outcome is an observation.
    pub async fn query(&self, name: &str, rtype: RType) -> DnsAnswer {
        let fqdn = if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        };
        let qname = Name::from_ascii(&fqdn).map_err(|e| format!("invalid name: {e}"));
        self.ask(trim_dot(&fqdn), qname, rtype, false).await
    }

    /// Like [`Dns::query`], for names whose labels hold octets the text form refuses (`:`,
    /// `/`, `%`, spaces: RFC 2181 11 allows any octet, and SPF domain-specs use them): the
    /// labels are taken as raw bytes. Outcomes are classified as for every other lookup.
    pub async fn query_labels(&self, name: &str, rtype: RType) -> DnsAnswer {
        if Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).is_ok() {
            return self.query(name, rtype).await;
        }
        let bare = name.strip_suffix('.').unwrap_or(name);
        let qname = Name::from_labels(bare.split('.').map(str::as_bytes))
            .map(|mut n| {
                n.set_fqdn(true);
                n
            })
            .map_err(|_| format!("invalid name {name:?}"));
        self.ask(bare.to_string(), qname, rtype, true).await
    }

    /// One question through the resolver, bounded as a whole, its outcome classified. `raw`:
    /// names in the answer are given as their raw labels too (not escaped text).
    async fn ask(
        &self,
        shown: String,
        qname: Result<Name, String>,
        rtype: RType,
        raw: bool,
    ) -> DnsAnswer {
        let _slot = self.inflight.acquire().await.ok();
        let start = Instant::now();
        let (outcome, records) = match qname {
            Err(e) => (DnsOutcome::Error(e), Vec::new()),
            Ok(n) => {
                // The resolver has its own timeout per attempt; this bounds the whole call.
                let fut = self.resolver.lookup(n.clone(), rtype.hickory());
                match tokio::time::timeout(self.timeout + Duration::from_millis(500), fut).await {
                    Err(_) => (DnsOutcome::Timeout, Vec::new()),
                    Ok(Ok(lookup)) => {
                        let mut answers: Vec<Record> = lookup.answers().to_vec();
                        if !answers.is_empty() && on_chain(&n, &answers).is_empty() {
                            // The cache answered from the end of an alias chain without the
                            // CNAMEs leading there: ask for them, so an answer always shows
                            // its whole chain whichever lookup filled the cache first.
                            let (links, _) = self.cname_links(&n).await;
                            answers.splice(0..0, links);
                        }
                        let chain = on_chain(&n, &answers);
                        // Nothing links the name to what came back: shown as it came.
                        let kept: Vec<&Record> = if chain.is_empty() {
                            answers.iter().collect()
                        } else {
                            chain
                        };
                        let recs: Vec<DnsRecord> = kept
                            .into_iter()
                            .map(|r| match &r.data {
                                RData::MX(mx) if raw => DnsRecord::Mx {
                                    owner: trim_dot(&r.name.to_ascii()),
                                    preference: mx.preference,
                                    exchange: raw_text(&mx.exchange),
                                },
                                data => convert(&r.name.to_ascii(), data),
                            })
                            .collect();
                        let wanted = recs.iter().any(|r| matches_type(r, rtype));
                        (
                            if wanted {
                                DnsOutcome::Answer
                            } else {
                                DnsOutcome::NoData
                            },
                            recs,
                        )
                    }
                    Ok(Err(e)) => (classify(&e), Vec::new()),
                }
            }
        };
        DnsAnswer {
            name: shown,
            rtype,
            outcome,
            records,
            elapsed_ms: start.elapsed().as_millis() as u64,
        }
    }

    /// The CNAME records leading from `from`, in order, at most [`MAX_CNAME_LINKS`], and
    /// whether the chain ends (it may loop back, or run past the limit).
    async fn cname_links(&self, from: &Name) -> (Vec<Record>, ChainEnd) {
        let mut out: Vec<Record> = Vec::new();
        let mut at = from.clone();
        for _ in 0..MAX_CNAME_LINKS {
            let fut = self.resolver.lookup(at.clone(), RecordType::CNAME);
            let Ok(Ok(lookup)) = tokio::time::timeout(self.timeout, fut).await else {
                return (out, ChainEnd::Ends);
            };
            let link = lookup.answers().iter().find_map(|r| match &r.data {
                RData::CNAME(c) if r.name.eq_ignore_root(&at) => Some((r.clone(), c.0.clone())),
                _ => None,
            });
            let Some((record, target)) = link else {
                return (out, ChainEnd::Ends);
            };
            let looped =
                out.iter().any(|r| r.name.eq_ignore_root(&target)) || from.eq_ignore_root(&target);
            out.push(record);
            if looped {
                return (out, ChainEnd::Loops);
            }
            at = target;
        }
        (out, ChainEnd::TooLong)
    }

    /// Why `name`'s alias chain never reaches a record, when it does not: a CNAME loop or a
    /// chain past [`MAX_CNAME_LINKS`], with the chain for evidence. Resolvers answer such a
    /// name "no data", which would read as "no address" rather than a broken zone.
    pub async fn alias_failure(&self, name: &str) -> Option<String> {
        let n = Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).ok()?;
        let (links, end) = self.cname_links(&n).await;
        let mut chain: Vec<String> = links.iter().map(|r| trim_dot(&r.name.to_ascii())).collect();
        if let Some(RData::CNAME(c)) = links.last().map(|r| &r.data) {
            chain.push(trim_dot(&c.0.to_ascii()));
        }
        match end {
            ChainEnd::Ends => None,
            ChainEnd::Loops => Some(format!("CNAME loop: {}", chain.join(" -> "))),
            ChainEnd::TooLong => Some(format!(
                "CNAME chain longer than {MAX_CNAME_LINKS} links: {} -> ...",
                chain.join(" -> ")
            )),
        }
    }

    /// The PTR names of an address. Asked of the servers directly: hickory-resolver answers
    /// `localhost` for every 127.0.0.0/8 address by itself (RFC 6761), which would hide the
    /// lab's and any loopback-hosted zone's real PTR records.
    pub async fn reverse(&self, addr: IpAddr) -> DnsAnswer {
        let start = Instant::now();
        let name = reverse_name(addr);
        let (outcome, records) = self.direct(&name, RType::Ptr).await;
        DnsAnswer {
            name,
            rtype: RType::Ptr,
            outcome,
            records,
            elapsed_ms: start.elapsed().as_millis() as u64,
        }
    }

    /// One query straight to the configured servers (UDP, then TCP when truncated), trying
    /// each in turn until one answers.
    async fn direct(&self, name: &str, rtype: RType) -> (DnsOutcome, Vec<DnsRecord>) {
        self.direct_flags(name, rtype, false).await
    }

    /// Asks again with the CD (checking disabled) bit, RFC 4035 3.2.2: a validating resolver
    /// that answered SERVFAIL then returns the data it could not validate. Data here where the
    /// plain question failed means the zone's DNSSEC is broken (bogus), not its servers.
    pub async fn checking_disabled(&self, name: &str, rtype: RType) -> DnsAnswer {
        let start = Instant::now();
        let (outcome, records) = self.direct_flags(name, rtype, true).await;
        DnsAnswer {
            name: name.trim_end_matches('.').to_string(),
            rtype,
            outcome,
            records,
            elapsed_ms: start.elapsed().as_millis() as u64,
        }
    }

    async fn direct_flags(
        &self,
        name: &str,
        rtype: RType,
        cd: bool,
    ) -> (DnsOutcome, Vec<DnsRecord>) {
        let _slot = self.inflight.acquire().await.ok();
        let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.')));
        let Ok(fqdn) = fqdn else {
            return (
                DnsOutcome::Error(format!("invalid name {name:?}")),
                Vec::new(),
            );
        };
        let mut last = DnsOutcome::Timeout;
        for server in &self.servers {
            let q = raw::query_bits(*server, &fqdn, rtype.hickory(), false, cd);
            match tokio::time::timeout(self.timeout, q).await {
                Err(_) => last = DnsOutcome::Timeout,
                Ok(Err(e)) => last = DnsOutcome::Error(e),
                Ok(Ok(msg)) => {
                    let records: Vec<DnsRecord> = msg
                        .answers
                        .iter()
                        .map(|r| convert(&r.name.to_ascii(), &r.data))
                        .collect();
                    let outcome = match msg.metadata.response_code {
                        ResponseCode::NoError if records.iter().any(|r| matches_type(r, rtype)) => {
                            DnsOutcome::Answer
                        }
                        ResponseCode::NoError => DnsOutcome::NoData,
                        ResponseCode::NXDomain => DnsOutcome::NxDomain,
                        ResponseCode::ServFail => DnsOutcome::ServFail,
                        ResponseCode::Refused => DnsOutcome::Refused,
                        other => DnsOutcome::Error(format!("response code {other}")),
                    };
                    return (outcome, records);
                }
            }
        }
        (last, Vec::new())
    }

    /// The per-query time limit this resolver was built with.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Asks the servers directly for `name`/`rtype` with the AD bit set (RFC 6840 5.7) and
    /// returns whether the answer came back marked authenticated: `None` when no server
    /// answered. mxray does not validate DNSSEC itself; this is the resolver's word.
    pub async fn authenticated(&self, name: &str, rtype: RType) -> Option<bool> {
        let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).ok()?;
        for server in &self.servers {
            let q = raw::query_flags(*server, &fqdn, rtype.hickory(), true);
            if let Ok(Ok(msg)) = tokio::time::timeout(self.timeout, q).await {
                return Some(msg.metadata.authentic_data);
            }
        }
        None
    }

    /// Whether the resolver answers at all: any response (even REFUSED or NXDOMAIN) counts;
    /// only silence means the environment is broken.
    pub async fn alive(&self) -> bool {
        let a = self.query(".", RType::Soa).await;
        !matches!(a.outcome, DnsOutcome::Timeout)
            && !matches!(&a.outcome, DnsOutcome::Error(m) if m.contains("no connections"))
    }
}

/// A bare stub client for the few queries the resolver would answer itself.
mod raw {
    use std::net::SocketAddr;

    use hickory_resolver::proto::op::{Message, Query};
    use hickory_resolver::proto::rr::{Name, RecordType};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpStream, UdpSocket};

    /// `ad`: set the AD bit, asking a validating resolver to say whether the data is authentic.
    pub async fn query_flags(
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        ad: bool,
    ) -> Result<Message, String> {
        query_bits(server, name, rtype, ad, false).await
    }

    /// `cd`: set the CD bit, asking a validating resolver for the data even when it does not
    /// validate.
    pub async fn query_bits(
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        ad: bool,
        cd: bool,
    ) -> Result<Message, String> {
        let mut msg = Message::query();
        msg.metadata.recursion_desired = true;
        msg.metadata.authentic_data = ad;
        msg.metadata.checking_disabled = cd;
        if cd {
            // With checking disabled, ask for the signatures too (DO): the evidence of why the
            // data did not validate (an RRSIG's expiry, the key tag that signed it).
            let mut edns = hickory_resolver::proto::op::Edns::new();
            edns.set_dnssec_ok(true);
            edns.set_max_payload(4096);
            msg.set_edns(edns);
        }
        msg.add_query(Query::query(name.clone(), rtype));
        let wire = msg.to_vec().map_err(|e| e.to_string())?;
        let id = msg.metadata.id;
        let bind: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let sock = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
        sock.send_to(&wire, server)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 4096];
        let reply = loop {
            let (n, from) = sock.recv_from(&mut buf).await.map_err(|e| e.to_string())?;
            if from != server {
                continue;
            }
            match Message::from_vec(&buf[..n]) {
                Ok(m) if m.metadata.id == id => break m,
                _ => continue,
            }
        };
        if !reply.metadata.truncation {
            return Ok(reply);
        }
        // Truncated: the whole answer only comes over TCP (RFC 7766).
        let mut tcp = TcpStream::connect(server)
            .await
            .map_err(|e| e.to_string())?;
        let len = u16::try_from(wire.len()).map_err(|e| e.to_string())?;
        tcp.write_all(&len.to_be_bytes())
            .await
            .map_err(|e| e.to_string())?;
        tcp.write_all(&wire).await.map_err(|e| e.to_string())?;
        let n = tcp.read_u16().await.map_err(|e| e.to_string())? as usize;
        let mut body = vec![0u8; n];
        tcp.read_exact(&mut body).await.map_err(|e| e.to_string())?;
        Message::from_vec(&body).map_err(|e| e.to_string())
    }
}

/// The answer records on the chain from `qname` (its own records and those reached through
/// its CNAMEs). The resolver's cache can hand back an answer with another name's CNAME in it
/// (cached while resolving an alias of this name); that record says nothing about `qname`.
fn on_chain<'a>(qname: &Name, answers: &'a [Record]) -> Vec<&'a Record> {
    let mut chain = vec![qname];
    // Each pass adds at least one name or stops, so at most one pass per record.
    for _ in 0..answers.len() {
        let before = chain.len();
        for r in answers {
            if let RData::CNAME(c) = &r.data
                && chain.iter().any(|n| n.eq_ignore_root(&r.name))
                && !chain.iter().any(|n| n.eq_ignore_root(&c.0))
            {
                chain.push(&c.0);
            }
        }
        if chain.len() == before {
            break;
        }
    }
    answers
        .iter()
        .filter(|r| chain.iter().any(|n| n.eq_ignore_root(&r.name)))
        .collect()
}

fn matches_type(r: &DnsRecord, t: RType) -> bool {
    matches!(
        (r, t),
        (DnsRecord::A { .. }, RType::A)
            | (DnsRecord::Aaaa { .. }, RType::Aaaa)
            | (DnsRecord::Mx { .. }, RType::Mx)
            | (DnsRecord::Txt { .. }, RType::Txt)
            | (DnsRecord::Cname { .. }, RType::Cname)
            | (DnsRecord::Ptr { .. }, RType::Ptr)
    ) || matches!(r, DnsRecord::Other { rtype, .. } if rtype == t.as_str())
}

fn classify(e: &NetError) -> DnsOutcome {
    match e {
        NetError::Timeout => DnsOutcome::Timeout,
        NetError::Dns(DnsError::NoRecordsFound(nr)) => match nr.response_code {
            ResponseCode::NXDomain => DnsOutcome::NxDomain,
            ResponseCode::NoError => DnsOutcome::NoData,
            ResponseCode::ServFail => DnsOutcome::ServFail,
            ResponseCode::Refused => DnsOutcome::Refused,
            other => DnsOutcome::Error(format!("response code {other}")),
        },
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => DnsOutcome::ServFail,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => DnsOutcome::Refused,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::NXDomain)) => DnsOutcome::NxDomain,
        other => {
            let msg = other.to_string();
            // The pool reports exhausted servers in words; a timeout is still a timeout.
            if msg.contains("timed out") {
                DnsOutcome::Timeout
            } else {
                DnsOutcome::Error(msg)
            }
        }
    }
}

fn convert(owner: &str, data: &RData) -> DnsRecord {
    let owner = trim_dot(owner);
    match data {
        RData::A(a) => DnsRecord::A {
            owner,
            addr: IpAddr::V4(a.0),
        },
        RData::AAAA(a) => DnsRecord::Aaaa {
            owner,
            addr: IpAddr::V6(a.0),
        },
        RData::MX(mx) => DnsRecord::Mx {
            owner,
            preference: mx.preference,
            exchange: trim_dot(&mx.exchange.to_ascii()),
        },
        RData::TXT(txt) => DnsRecord::Txt {
            owner,
            // Character strings are concatenated, as SPF and DMARC readers must (RFC 7208 3.3).
            text: txt
                .txt_data
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
        },
        RData::CNAME(c) => DnsRecord::Cname {
            owner,
            target: trim_dot(&c.0.to_ascii()),
        },
        RData::PTR(p) => DnsRecord::Ptr {
            owner,
            target: trim_dot(&p.0.to_ascii()),
        },
        other => DnsRecord::Other {
            owner,
            rtype: other.record_type().to_string(),
            data: other.to_string(),
        },
    }
}

/// A name as its labels' octets joined by dots, unescaped (`foo:bar/baz.example.com`).
fn raw_text(n: &Name) -> String {
    n.iter()
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(".")
}

/// `.` stays `.`; `mx.example.com.` becomes `mx.example.com`.
fn trim_dot(s: &str) -> String {
    if s == "." {
        s.to_string()
    } else {
        s.trim_end_matches('.').to_string()
    }
}

/// `192.0.2.1` -> `1.2.0.192.in-addr.arpa`; IPv6 nibbles under `ip6.arpa`.
pub fn reverse_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_only_the_chain_from_the_question() {
        use hickory_resolver::proto::rr::rdata::{A, CNAME};
        let name = |s: &str| Name::from_ascii(s).unwrap();
        let answers = [
            Record::from_rdata(
                name("alias.cname-mx.test."),
                60,
                RData::CNAME(CNAME(name("mx.ok.test."))),
            ),
            Record::from_rdata(name("MX.ok.test."), 60, RData::A(A::new(127, 0, 0, 10))),
            Record::from_rdata(name("other.test."), 60, RData::A(A::new(127, 0, 0, 11))),
        ];
        let owners = |q: &str| -> Vec<String> {
            on_chain(&name(q), &answers)
                .iter()
                .map(|r| r.name.to_ascii())
                .collect()
        };
        // Asked directly: the alias that points here is someone else's record.
        assert_eq!(owners("mx.ok.test."), ["MX.ok.test."]);
        // Asked through the alias: the CNAME and the record it leads to.
        assert_eq!(
            owners("alias.cname-mx.test"),
            ["alias.cname-mx.test.", "MX.ok.test."]
        );
        assert!(owners("nothing.test.").is_empty());
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.1".parse().unwrap()),
            "1.2.0.192.in-addr.arpa"
        );
        assert!(reverse_name("2001:db8::1".parse().unwrap()).ends_with("8.b.d.0.1.0.0.2.ip6.arpa"));
    }
}
