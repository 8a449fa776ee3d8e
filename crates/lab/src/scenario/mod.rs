//! Scenarios: the TOML description of a lab world, parsed and checked into plain data.
//! `docs/lab-scenarios.md` documents every key; errors point at `FILE:LINE:COL`.

mod behaviour;
mod raw;
mod validate;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

pub use behaviour::{
    Behaviour, CloseAfter, Concurrency, DataMode, FailCommand, FailFirst, Greylist, MailboxSet,
    Quirks, RateLimit, Reply, Submission, Tarpit, TlsMode,
};

/// Scenario files larger than this are refused: they are hand-written or generated worlds,
/// and a bound keeps a mistaken path (a log, a disk image) from being read whole.
pub const MAX_SCENARIO_BYTES: u64 = 16 * 1024 * 1024;

/// A checked scenario: every address is loopback, every owner name is under `.test`.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// `[lab] name`, or the file name it came from.
    pub name: String,
    pub description: String,
    pub domains: Vec<Domain>,
    pub dnsbls: Vec<Dnsbl>,
    pub hosts: Vec<Host>,
    /// Extra reverse records (`[[ptr]]`), on top of the ones made for hosts.
    pub ptrs: Vec<PtrRecord>,
}

/// A zone served by the lab DNS server.
#[derive(Debug, Clone)]
pub struct Domain {
    pub name: String,
    /// The apex first, then the names declared under `records`.
    pub nodes: Vec<Node>,
    pub mta_sts: Option<MtaSts>,
    /// `dnssec = ...`: the zone is signed at start (`None`: unsigned, as before).
    pub dnssec: Option<Dnssec>,
}

/// How a zone is signed (`dnssec = true`, `"expired"`, `"wrong-key"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dnssec {
    /// DNSKEY, RRSIGs over every RRset and NSEC, valid now; the anchor matches.
    Signed,
    /// Signed, but every RRSIG expired yesterday: a validator answers SERVFAIL (bogus).
    Expired,
    /// Signed and valid, but the published anchor (DS) is for another key: bogus too.
    WrongKey,
}

impl Dnssec {
    pub fn as_str(self) -> &'static str {
        match self {
            Dnssec::Signed => "signed",
            Dnssec::Expired => "expired",
            Dnssec::WrongKey => "wrong-key",
        }
    }
}

/// One owner name and what the DNS server says about it.
#[derive(Debug, Clone)]
pub struct Node {
    /// Fully qualified, lower case, no trailing dot.
    pub name: String,
    pub records: Vec<Record>,
    pub failure: Option<Failure>,
    /// Each A/AAAA answer carries one of the addresses, the next one each time, with TTL 0:
    /// a name whose answer changes between two lookups (DNS rebinding rehearsals).
    pub rotate: bool,
}

/// A resource record declared in a scenario (the lab adds SOA, NS, PTR and host addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `exchange` is "." for a null MX (RFC 7505).
    Mx {
        preference: u16,
        exchange: String,
    },
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Txt(String),
    Tlsa {
        usage: u8,
        selector: u8,
        matching: u8,
        data: Vec<u8>,
    },
    /// A `x 1 1` TLSA record whose data is a lab key's SHA-256, known only at start (keys are
    /// made fresh): `@ca` or `@leaf(HOST)`.
    TlsaKey {
        usage: u8,
        key: TlsaKey,
    },
}

/// Which lab key a TLSA placeholder names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaKey {
    /// The lab CA (`2 1 1 @ca`: DANE-TA).
    Ca,
    /// A host's certificate (`3 1 1 @leaf(mx.example.test)`: DANE-EE).
    Leaf(String),
}

/// A failure the DNS server injects for one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// Record type names (upper case) the failure applies to; empty means every type.
    pub types: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// RCODE 2.
    ServFail,
    /// RCODE 5.
    Refused,
    /// RCODE 3, whatever records exist.
    NxDomain,
    /// Never answer: the client times out.
    Timeout,
    /// Over UDP answer with TC set and no records, so the client retries over TCP,
    /// where the real answer is given.
    Truncate,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::ServFail => "servfail",
            FailureKind::Refused => "refused",
            FailureKind::NxDomain => "nxdomain",
            FailureKind::Timeout => "timeout",
            FailureKind::Truncate => "truncate",
        }
    }
}

/// An MTA-STS policy served over HTTPS at `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`.
#[derive(Debug, Clone)]
pub struct MtaSts {
    /// The policy body exactly as served.
    pub policy: String,
    /// The `id=` of the `_mta-sts` TXT record.
    pub id: String,
    /// Whether the lab publishes `_mta-sts.DOMAIN TXT "v=STSv1; id=..."`.
    pub txt_record: bool,
}

/// A DNS blocklist zone (RFC 5782).
#[derive(Debug, Clone)]
pub struct Dnsbl {
    pub zone: String,
    pub kind: DnsblKind,
    /// Whether the RFC 5782 test entries are served (127.0.0.2 or TEST listed).
    pub test_entries: bool,
    pub listed: Vec<Listed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsblKind {
    /// Entries are IP addresses, queried as reversed octets (or nibbles) under the zone.
    Ip,
    /// Entries are domain names, queried as `NAME.ZONE`.
    Domain,
}

/// One blocklist entry.
#[derive(Debug, Clone)]
pub struct Listed {
    /// An address (IP lists) or a lower-case domain name (domain lists).
    pub entry: String,
    /// The A record returned, in 127.0.0.0/8.
    pub code: Ipv4Addr,
    /// The TXT record returned.
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct PtrRecord {
    pub address: IpAddr,
    pub name: String,
}

/// A lab SMTP server.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub address: IpAddr,
    /// The PTR name published for `address` (`None`: no PTR record).
    pub ptr: Option<String>,
    /// What every client gets unless a `clients` override matches its address.
    pub behaviour: Arc<Behaviour>,
    pub clients: Vec<ClientOverride>,
}

/// Behaviour for connections from particular client addresses.
#[derive(Debug, Clone)]
pub struct ClientOverride {
    pub addresses: Vec<IpAddr>,
    /// The host's behaviour with the override's keys applied.
    pub behaviour: Arc<Behaviour>,
}

impl Host {
    /// The behaviour a client connecting from `client` gets.
    pub fn behaviour_for(&self, client: IpAddr) -> &Arc<Behaviour> {
        self.clients
            .iter()
            .find(|c| c.addresses.contains(&client))
            .map_or(&self.behaviour, |c| &c.behaviour)
    }

    /// Whether the host has a listener at all (a host-level `refuse` means it has none).
    pub fn listens(&self) -> bool {
        !self.behaviour.refuse
    }
}

/// Why a scenario was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read scenario: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: scenario is larger than {MAX_SCENARIO_BYTES} bytes")]
    TooLarge { path: String },
    /// Syntax or meaning: the position is where the offending value starts.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Scenario {
    /// Reads and checks a scenario file; errors name the file as given.
    pub fn from_path(path: &Path) -> Result<Scenario, ScenarioError> {
        let display = path.display().to_string();
        let read_err = |source| ScenarioError::Read {
            path: display.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.len() > MAX_SCENARIO_BYTES {
            return Err(ScenarioError::TooLarge { path: display });
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".to_owned());
        validate::parse(&text, &display, &stem)
    }

    /// Checks a scenario held in memory; `name` stands for the file name in errors.
    pub fn from_str_named(text: &str, name: &str) -> Result<Scenario, ScenarioError> {
        let stem = name.rsplit('/').next().unwrap_or(name);
        let stem = stem.strip_suffix(".toml").unwrap_or(stem);
        validate::parse(text, name, stem)
    }

    /// The host with this name, if any.
    pub fn host(&self, name: &str) -> Option<&Host> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Number of distinct mailboxes declared across hosts (after generator expansion).
    pub fn mailbox_count(&self) -> usize {
        self.hosts.iter().map(|h| h.behaviour.mailboxes.len()).sum()
    }
}
