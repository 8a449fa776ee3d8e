//! What a verification says about one address: the verdict, the documented reason code, the
//! deciding reply and the flags (catch-all, disposable, role, free provider), as plain data.

use mxray_core::csv_cell;
use serde::{Deserialize, Serialize};

/// The four verdicts. Only `undeliverable` claims an address does not work, and only on a
/// permanent answer about the mailbox or the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Deliverable,
    Undeliverable,
    Risky,
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Deliverable => "deliverable",
            Verdict::Undeliverable => "undeliverable",
            Verdict::Risky => "risky",
            Verdict::Unknown => "unknown",
        }
    }
}

/// Why; each code is documented in docs/verify.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// RCPT TO accepted at a domain that rejects random addresses.
    MailboxExists,
    /// 5.1.x (or a 550 that says the user is unknown).
    MailboxUnknown,
    /// 5.2.2 / 552, or 4.2.2 still unresolved at the deadline.
    MailboxFull,
    /// 5.2.1: the mailbox exists but takes no mail.
    MailboxDisabled,
    /// The domain accepts any address, so acceptance proves nothing.
    CatchAll,
    /// A disposable-address provider.
    Disposable,
    /// No MX and no address record.
    NoMx,
    /// RFC 7505 null MX: the domain accepts no mail.
    NullMx,
    DomainNxdomain,
    /// SERVFAIL or timeout looking up the domain.
    DnsFailure,
    Syntax,
    Greylisted,
    RateLimited,
    /// A 5.7.x / policy / blocklist refusal: about us, not the mailbox.
    BlockedByRecipient,
    /// MAIL FROM refused: the probe sender is the problem.
    SenderRejected,
    /// Every MX refused or could not be reached.
    ConnectionFailed,
    /// Every MX address is in a private range and only public ones may be contacted
    /// (--public-only, `serve`): not probed.
    PrivateAddress,
    Timeout,
    /// A 421 greeting or a server closing sessions: the host is unavailable now.
    ServerUnavailable,
    TlsRequired,
    /// Another temporary answer that did not clear before the deadline.
    Deferred,
    /// A permanent answer that says nothing about the mailbox.
    Rejected,
    /// The server's replies were out of step with our commands (extra or unsolicited
    /// replies): nothing it said can be pinned to an address.
    ProtocolError,
    /// The provider accepts every address at RCPT and bounces later (Yahoo/AOL), or a
    /// filtering gateway answered for the real server: acceptance proves nothing
    /// (docs/providers.md).
    UnverifiableProvider,
}

impl Reason {
    /// What the reason means, for a result no reply explains (a timeout, a refused connection,
    /// a dropped session): every result says why in words.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::MailboxExists => "the server accepted the address",
            Reason::MailboxUnknown => "the server says the mailbox does not exist",
            Reason::MailboxFull => "the mailbox is full",
            Reason::MailboxDisabled => "the mailbox exists but is disabled",
            Reason::CatchAll => "the domain accepts any address, so acceptance proves nothing",
            Reason::Disposable => "a disposable-address provider",
            Reason::NoMx => "the domain has no MX host with an address",
            Reason::NullMx => "the domain publishes a null MX: it takes no mail",
            Reason::DomainNxdomain => "the domain does not exist",
            Reason::DnsFailure => "the domain's DNS did not answer (SERVFAIL, REFUSED or timeout)",
            Reason::Syntax => "not an address",
            Reason::Greylisted => "greylisted, and the retry did not clear before the deadline",
            Reason::RateLimited => "the provider throttled the probes until the deadline",
            Reason::BlockedByRecipient => "the server refuses the prober (policy, blocklist)",
            Reason::SenderRejected => "the server refuses the probe's MAIL FROM: change --from",
            Reason::ConnectionFailed => "every MX host refused the connection or was unreachable",
            Reason::PrivateAddress => {
                "every MX address is private and only public ones may be contacted (--allow-private CIDR opens a range)"
            }
            Reason::Timeout => "no MX host answered in time (connect, greeting or reply)",
            Reason::ServerUnavailable => "the server closed the session or answered 421",
            Reason::TlsRequired => "the server requires TLS and the handshake failed",
            Reason::Deferred => "a temporary answer that did not clear before the deadline",
            Reason::Rejected => "a permanent refusal that says nothing about the mailbox",
            Reason::ProtocolError => {
                "the server's replies were out of step with the commands: none is believed"
            }
            Reason::UnverifiableProvider => {
                "the provider (or a gateway in front of it) accepts every address: acceptance proves nothing"
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MailboxExists => "mailbox_exists",
            Reason::MailboxUnknown => "mailbox_unknown",
            Reason::MailboxFull => "mailbox_full",
            Reason::MailboxDisabled => "mailbox_disabled",
            Reason::CatchAll => "catch_all",
            Reason::Disposable => "disposable",
            Reason::NoMx => "no_mx",
            Reason::NullMx => "null_mx",
            Reason::DomainNxdomain => "domain_nxdomain",
            Reason::DnsFailure => "dns_failure",
            Reason::Syntax => "syntax",
            Reason::Greylisted => "greylisted",
            Reason::RateLimited => "rate_limited",
            Reason::BlockedByRecipient => "blocked_by_recipient",
            Reason::SenderRejected => "sender_rejected",
            Reason::ConnectionFailed => "connection_failed",
            Reason::PrivateAddress => "private_address",
            Reason::Timeout => "timeout",
            Reason::ServerUnavailable => "server_unavailable",
            Reason::TlsRequired => "tls_required",
            Reason::Deferred => "deferred",
            Reason::Rejected => "rejected",
            Reason::ProtocolError => "protocol_error",
            Reason::UnverifiableProvider => "unverifiable_provider",
        }
    }
}

/// The reply that decided, when a reply decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DecidingReply {
    pub code: u16,
    pub enhanced_code: Option<String>,
    pub text: String,
    pub mx_host: String,
    /// Where the session came from, as the remote saw it: the SOCKS5 proxy (`socks5://HOST:PORT`,
    /// never its credentials) or the local address the connection left from.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub egress: Option<String>,
}

/// One result per input address. Field names are the output contract (JSON and CSV).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VerifyResult {
    /// As given.
    pub address: String,
    /// Domain in A-labels, local part as given (local parts are case-sensitive in principle).
    pub normalized: String,
    pub verdict: Verdict,
    pub reason: Reason,
    pub reply: Option<DecidingReply>,
    pub catch_all: Option<bool>,
    pub disposable: bool,
    pub role_account: bool,
    pub free_provider: bool,
    pub suggestion: Option<String>,
    pub attempts: u32,
    pub elapsed_ms: u64,
    /// For an `unknown` left waiting at the deadline (greylisted, or a provider throttling
    /// the probes): seconds after which asking again makes sense.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retry_after_s: Option<u64>,
    /// The provider the deciding MX host belongs to, when the provider table knows it
    /// (`gmail`, `microsoft`, `yahoo`, ...: docs/providers.md).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub provider: Option<String>,
    /// With -v: the SMTP lines that concern this address.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub transcript: Vec<String>,
    /// For CSV input: the whole input row, so results join back to the user's list (CSV
    /// output puts its columns first).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub input_row: Vec<String>,
}

impl VerifyResult {
    /// CSV header, in field order.
    pub const CSV_HEADER: &'static [&'static str] = &[
        "address",
        "normalized",
        "verdict",
        "reason",
        "code",
        "enhanced_code",
        "text",
        "mx_host",
        "provider",
        "egress",
        "catch_all",
        "disposable",
        "role_account",
        "free_provider",
        "suggestion",
        "attempts",
        "elapsed_ms",
    ];

    /// The row for CSV output. Text from outside (the address as given, the server's reply,
    /// host names) goes through `csv_cell`: no control or bidi characters, no formulas.
    pub fn csv_row(&self) -> Vec<String> {
        let r = self.reply.as_ref();
        let opt_bool = |b: Option<bool>| b.map_or(String::new(), |b| b.to_string());
        vec![
            csv_cell(&self.address),
            csv_cell(&self.normalized),
            self.verdict.as_str().into(),
            self.reason.as_str().into(),
            r.map_or(String::new(), |r| r.code.to_string()),
            r.and_then(|r| r.enhanced_code.as_deref().map(csv_cell))
                .unwrap_or_default(),
            r.map_or(String::new(), |r| csv_cell(&r.text)),
            r.map_or(String::new(), |r| csv_cell(&r.mx_host)),
            self.provider.as_deref().map(csv_cell).unwrap_or_default(),
            r.and_then(|r| r.egress.as_deref().map(csv_cell))
                .unwrap_or_default(),
            opt_bool(self.catch_all),
            self.disposable.to_string(),
            self.role_account.to_string(),
            self.free_provider.to_string(),
            self.suggestion.as_deref().map(csv_cell).unwrap_or_default(),
            self.attempts.to_string(),
            self.elapsed_ms.to_string(),
        ]
    }
}
