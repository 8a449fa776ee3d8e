//! DNS as recorded observations: the record types mxray asks for, how a query ended, the records
//! that came back. Plain data with no I/O: `mxray-net` fills it in, checks judge it.

use std::net::IpAddr;

use serde::Serialize;

/// Record types mxray asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
pub enum RType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "MX")]
    Mx,
    #[serde(rename = "TXT")]
    Txt,
    #[serde(rename = "CNAME")]
    Cname,
    #[serde(rename = "PTR")]
    Ptr,
    #[serde(rename = "NS")]
    Ns,
    #[serde(rename = "SOA")]
    Soa,
    #[serde(rename = "TLSA")]
    Tlsa,
}

impl RType {
    pub fn as_str(self) -> &'static str {
        match self {
            RType::A => "A",
            RType::Aaaa => "AAAA",
            RType::Mx => "MX",
            RType::Txt => "TXT",
            RType::Cname => "CNAME",
            RType::Ptr => "PTR",
            RType::Ns => "NS",
            RType::Soa => "SOA",
            RType::Tlsa => "TLSA",
        }
    }
}

/// How a query ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "message")]
pub enum DnsOutcome {
    /// Records of the asked type came back (possibly after CNAMEs).
    Answer,
    /// The name exists but has no records of this type (NOERROR, empty answer).
    NoData,
    NxDomain,
    ServFail,
    Refused,
    /// No answer within the time limit from any server.
    Timeout,
    /// Anything else (FORMERR, an I/O error...), with its message.
    Error(String),
}

/// One answer record, in a form checks can use without hickory types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum DnsRecord {
    A {
        owner: String,
        addr: IpAddr,
    },
    Aaaa {
        owner: String,
        addr: IpAddr,
    },
    Mx {
        owner: String,
        preference: u16,
        exchange: String,
    },
    Txt {
        owner: String,
        text: String,
    },
    Cname {
        owner: String,
        target: String,
    },
    Ptr {
        owner: String,
        target: String,
    },
    Other {
        owner: String,
        rtype: String,
        data: String,
    },
}

impl DnsRecord {
    /// Zone-file style, for evidence.
    pub fn to_line(&self) -> String {
        match self {
            DnsRecord::A { owner, addr } => format!("{owner} A {addr}"),
            DnsRecord::Aaaa { owner, addr } => format!("{owner} AAAA {addr}"),
            DnsRecord::Mx {
                owner,
                preference,
                exchange,
            } => format!("{owner} MX {preference} {exchange}"),
            DnsRecord::Txt { owner, text } => format!("{owner} TXT {text:?}"),
            DnsRecord::Cname { owner, target } => format!("{owner} CNAME {target}"),
            DnsRecord::Ptr { owner, target } => format!("{owner} PTR {target}"),
            DnsRecord::Other { owner, rtype, data } => format!("{owner} {rtype} {data}"),
        }
    }
}

/// A recorded query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DnsAnswer {
    pub name: String,
    pub rtype: RType,
    pub outcome: DnsOutcome,
    pub records: Vec<DnsRecord>,
    pub elapsed_ms: u64,
}

impl DnsOutcome {
    /// The lookup did not complete (SERVFAIL, REFUSED, a timeout, an error such as a CNAME
    /// loop): unlike NXDOMAIN or no data, it says nothing about the name.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            DnsOutcome::ServFail | DnsOutcome::Refused | DnsOutcome::Timeout | DnsOutcome::Error(_)
        )
    }
}

impl DnsAnswer {
    /// Evidence lines: the query, its outcome, and each record.
    pub fn evidence(&self) -> Vec<String> {
        let mut v = vec![format!(
            "{} {} -> {} ({} ms)",
            self.name,
            self.rtype.as_str(),
            match &self.outcome {
                DnsOutcome::Answer => "answer".to_string(),
                DnsOutcome::NoData => "no data (NOERROR, empty)".to_string(),
                DnsOutcome::NxDomain => "NXDOMAIN".to_string(),
                DnsOutcome::ServFail => "SERVFAIL".to_string(),
                DnsOutcome::Refused => "REFUSED".to_string(),
                DnsOutcome::Timeout => "timeout".to_string(),
                DnsOutcome::Error(e) => format!("error: {e}"),
            },
            self.elapsed_ms
        )];
        v.extend(self.records.iter().map(|r| format!("  {}", r.to_line())));
        v
    }

    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.records.iter().filter_map(|r| match r {
            DnsRecord::A { addr, .. } | DnsRecord::Aaaa { addr, .. } => Some(*addr),
            _ => None,
        })
    }
}
