//! The knowledge base: the situations mail engineers actually meet behind a reply, each with its
//! category, whose side it is, causes ranked by likelihood and next steps that can be run.
//!
//! Data plus one pure function, [`classify`], shared by every verb that prints an SMTP reply.
//! Next steps may hold `{domain}`, `{host}` and `{ip}`; `explain` fills them from the input.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::code::{Class, EnhancedCode, ReplyCode};

/// What kind of problem a reply reports. The first six follow RFC 3463's subjects; the rest are
/// the specific situations that deserve their own name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Success,
    Addressing,
    Mailbox,
    MailSystem,
    NetworkRouting,
    Protocol,
    Content,
    SecurityPolicy,
    RateLimiting,
    Greylisting,
    Blocklisting,
    Authentication,
    TlsRequired,
    ConnectionDropped,
    Other,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Success => "success",
            Category::Addressing => "addressing",
            Category::Mailbox => "mailbox",
            Category::MailSystem => "mail_system",
            Category::NetworkRouting => "network_routing",
            Category::Protocol => "protocol",
            Category::Content => "content",
            Category::SecurityPolicy => "security_policy",
            Category::RateLimiting => "rate_limiting",
            Category::Greylisting => "greylisting",
            Category::Blocklisting => "blocklisting",
            Category::Authentication => "authentication",
            Category::TlsRequired => "tls_required",
            Category::ConnectionDropped => "connection_dropped",
            Category::Other => "other",
        }
    }

    /// Words for a human, used by printers.
    pub fn label(self) -> &'static str {
        match self {
            Category::Success => "success",
            Category::Addressing => "addressing",
            Category::Mailbox => "mailbox",
            Category::MailSystem => "mail system",
            Category::NetworkRouting => "network / routing",
            Category::Protocol => "protocol",
            Category::Content => "content",
            Category::SecurityPolicy => "security / policy",
            Category::RateLimiting => "rate limiting",
            Category::Greylisting => "greylisting",
            Category::Blocklisting => "blocklisting",
            Category::Authentication => "authentication (SPF / DKIM / DMARC / rDNS / AUTH)",
            Category::TlsRequired => "TLS required",
            Category::ConnectionDropped => "connection dropped",
            Category::Other => "other",
        }
    }
}

/// Whose side the problem most likely is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The sending system: its IP, domain, authentication, content or configuration.
    Sender,
    /// The receiving system: its DNS, servers, mailboxes or policy.
    Recipient,
    /// Between the two: network, DNS resolution, firewalls, middleboxes.
    Path,
    Unknown,
    /// Nothing is wrong (a success reply).
    None,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Sender => "sender",
            Side::Recipient => "recipient",
            Side::Path => "path",
            Side::Unknown => "unknown",
            Side::None => "none",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Side::Sender => "sender (your side)",
            Side::Recipient => "recipient (their side)",
            Side::Path => "the path between",
            Side::Unknown => "unknown",
            Side::None => "none",
        }
    }
}

/// The stable id of a situation, part of the JSON contract (`"rate_limited"`). An enum, so a
/// typo in a rule or a consumer does not compile; serialised as the snake_case string.
macro_rules! situation_ids {
    ($($variant:ident => $id:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum SituationId { $($variant,)* }

        impl SituationId {
            /// Every id, in the knowledge base's order.
            pub const ALL: &'static [SituationId] = &[$(SituationId::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self { $(SituationId::$variant => $id,)* }
            }

            /// The id for its string form (`"greylisted"`), if there is one.
            pub fn parse(s: &str) -> Option<SituationId> {
                match s { $($id => Some(SituationId::$variant),)* _ => None }
            }
        }
    };
}

situation_ids! {
    TransportUnavailable => "transport_unavailable",
    NoAnswer => "no_answer",
    ConnectionDropped => "connection_dropped",
    DnsRoutingFailure => "dns_routing_failure",
    UnableToRoute => "unable_to_route",
    Congestion => "congestion",
    RoutingLoop => "routing_loop",
    DeliveryExpired => "delivery_expired",
    SystemUnavailable => "system_unavailable",
    ServiceUnavailable => "service_unavailable",
    RateLimited => "rate_limited",
    RecipientRateLimited => "recipient_rate_limited",
    ConnectionLimit => "connection_limit",
    ProviderDeferral => "provider_deferral",
    Greylisted => "greylisted",
    TemporaryDeferral => "temporary_deferral",
    Blocklisted => "blocklisted",
    DmarcAuthFailure => "dmarc_auth_failure",
    ReverseDns => "reverse_dns",
    SmtpAuthFailure => "smtp_auth_failure",
    TlsRequired => "tls_required",
    TlsUnavailable => "tls_unavailable",
    RelayDenied => "relay_denied",
    PolicyRejection => "policy_rejection",
    PolicyDeferral => "policy_deferral",
    SpamContent => "spam_content",
    MessageTooBig => "message_too_big",
    MailboxUnknown => "mailbox_unknown",
    MailboxUnknownTransient => "mailbox_unknown_transient",
    BadDestinationDomain => "bad_destination_domain",
    BadAddressSyntax => "bad_address_syntax",
    MailboxMoved => "mailbox_moved",
    BadSenderDomain => "bad_sender_domain",
    NullMxRecipient => "null_mx_recipient",
    NullMxSender => "null_mx_sender",
    MailboxFull => "mailbox_full",
    MailboxDisabled => "mailbox_disabled",
    MailboxBusy => "mailbox_busy",
    MailboxOther => "mailbox_other",
    ListExpansion => "list_expansion",
    SystemStorage => "system_storage",
    MailSystemOther => "mail_system_other",
    SystemMisconfigured => "system_misconfigured",
    FeatureUnsupported => "feature_unsupported",
    NoSmtpService => "no_smtp_service",
    ServerClosing => "server_closing",
    ProtocolError => "protocol_error",
    TooManyRecipients => "too_many_recipients",
    MediaError => "media_error",
    SecurityOther => "security_other",
    CryptoFailure => "crypto_failure",
    Rrvs => "rrvs",
    Priority => "priority",
    Success => "success",
    Intermediate => "intermediate",
    UnspecifiedTransient => "unspecified_transient",
    UnspecifiedPermanent => "unspecified_permanent",
}

impl std::fmt::Display for SituationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SituationId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl schemars::JsonSchema for SituationId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SituationId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let ids: Vec<&str> = SituationId::ALL.iter().map(|s| s.as_str()).collect();
        schemars::json_schema!({
            "description": "The knowledge base's stable id for what a reply means.",
            "type": "string",
            "enum": ids
        })
    }
}

/// One situation behind a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Situation {
    /// Stable identifier (`rate_limited`, `dns_routing_failure`...), part of the JSON contract.
    pub id: SituationId,
    pub category: Category,
    pub side: Side,
    /// One or two sentences: what is going on.
    pub summary: &'static str,
    /// Likely causes, most likely first.
    pub causes: &'static [&'static str],
    /// What to do, each a command or setting where one exists.
    pub next_steps: &'static [&'static str],
}

macro_rules! situation {
    ($id:ident, $cat:ident, $side:ident, $summary:literal, [$($c:literal),* $(,)?], [$($n:literal),* $(,)?] $(,)?) => {
        Situation {
            id: SituationId::$id,
            category: Category::$cat,
            side: Side::$side,
            summary: $summary,
            causes: &[$($c),*],
            next_steps: &[$($n),*],
        }
    };
}

/// Every situation the knowledge base knows. Ids are unique (tested).
pub static SITUATIONS: &[Situation] = &[
    // ---- the 421 / 4.4.x family: the deepest treatment -------------------------------------
    situation!(
        TransportUnavailable,
        NetworkRouting,
        Unknown,
        "The receiving (or relaying) server could not pass the message on: a network or routing failure before the transaction really started (4.4.0). The reply alone does not say whose side; the step before it in the log usually does.",
        [
            "The recipient domain's MX records are missing, wrong, or point to hosts that do not answer",
            "Your resolver fails or returns stale data for the recipient domain",
            "A firewall or your provider blocks outbound port 25, or the recipient's inbound port 25",
            "The recipient server (often Exchange / Microsoft 365 transport) is overloaded, restarting or misconfigured",
            "Your smarthost / relay is misconfigured, so mail goes nowhere (Postfix relay=none)"
        ],
        [
            "Read the log lines just before the deferral: look for 'connection timed out', 'host not found', 'network unreachable'",
            "dig MX {domain} +short, then dig A <each MX host> +short",
            "mxray diagnose {domain}",
            "nc -vz -w 10 <MX host> 25 (from the sending machine, to test port 25 reachability)",
            "postconf relayhost default_transport (Postfix: confirm mail is routed where you think)",
            "If only this domain fails and its MX answers, contact the recipient's postmaster with the timestamps"
        ]
    ),
    situation!(
        NoAnswer,
        NetworkRouting,
        Path,
        "The connection attempt to the receiving server was not answered: refused, timed out or unreachable (4.4.1).",
        [
            "The MX host is down, overloaded, or refusing connections",
            "A firewall on either side (or your hosting provider) blocks TCP port 25",
            "The MX record points to an address that no longer hosts a mail server",
            "IPv6 is tried first and is broken on the path"
        ],
        [
            "mxray diagnose {domain}",
            "nc -vz -w 10 <MX host> 25, and the same over IPv4 and IPv6 (nc -4 / nc -6)",
            "Ask your hosting provider whether outbound port 25 is blocked (common on cloud VMs)",
            "postconf smtp_address_preference (Postfix: set to ipv4 if IPv6 routing is broken)"
        ]
    ),
    situation!(
        ConnectionDropped,
        ConnectionDropped,
        Unknown,
        "The connection was established but broke before the transaction finished: the server closed it, it timed out, or the network dropped it (4.4.2).",
        [
            "The receiving server closed the session deliberately: too many connections, too many commands, or a policy decision (often after a 421)",
            "An idle or slow session hit the server's timeout (for example a slow DATA phase or a tarpit)",
            "A firewall, NAT or load balancer on the path dropped an idle or long connection",
            "A TLS handshake failure that the client logged as a lost connection",
            "The server crashed or restarted mid-session"
        ],
        [
            "Find the stage in the log: (in reply to ...) for Postfix, 'after ...' for Exim",
            "mxray diagnose {domain} --probe (shows which step the drop happens at)",
            "Lower concurrency to this destination: a dedicated transport (transport_maps) with <transport>_destination_concurrency_limit = 2, or smtp_destination_concurrency_limit (Postfix)",
            "If it happens right after STARTTLS, test TLS: openssl s_client -starttls smtp -connect <MX host>:25",
            "For bulk verification: reuse sessions and slow down per MX host (mxray verify does this)"
        ]
    ),
    situation!(
        DnsRoutingFailure,
        NetworkRouting,
        Path,
        "A directory (DNS) lookup failed, so the server could not route the message (4.4.3). Often your own resolver, sometimes the recipient's DNS.",
        [
            "Your resolver timed out or returned SERVFAIL for the recipient domain (or its MX hosts)",
            "The recipient domain's authoritative DNS servers are down, lame or DNSSEC-broken",
            "A relay in the path failed its own DNS lookup (a routing server failure on their side)",
            "Stale DNS cache after the recipient changed MX records",
            "SPF evaluation hit a DNS error (some servers report 4.4.3 for SPF temperror)"
        ],
        [
            "dig MX {domain} and dig MX {domain} @1.1.1.1 (compare your resolver with a public one)",
            "dig +trace MX {domain} (find the broken delegation)",
            "delv MX {domain} (check DNSSEC validation)",
            "mxray diagnose {domain}",
            "Flush your resolver cache (unbound-control flush_zone {domain}, rndc flushname {domain}, resolvectl flush-caches)"
        ]
    ),
    situation!(
        UnableToRoute,
        NetworkRouting,
        Recipient,
        "No route to the destination could be found: DNS gave no usable MX or address for the domain (4.4.4).",
        [
            "The domain has no MX and no A/AAAA record (or only an SOA)",
            "The MX host name does not resolve",
            "The domain is misspelled",
            "The domain publishes a null MX and accepts no mail"
        ],
        [
            "dig MX {domain} +short; dig A {domain} +short",
            "Check the address for typos",
            "mxray diagnose {domain}"
        ]
    ),
    situation!(
        Congestion,
        MailSystem,
        Recipient,
        "The receiving mail system is congested and is asking senders to come back later (4.4.5).",
        [
            "The recipient server's queue or resources are exhausted",
            "A burst of mail (including yours) exceeded what the server accepts",
            "Maintenance or a partial outage on the recipient side"
        ],
        [
            "Let your MTA retry; check its retry schedule (postconf maximal_backoff_time minimal_backoff_time)",
            "Reduce concurrency to this destination (smtp_destination_concurrency_limit)",
            "If it persists for hours, contact the recipient's postmaster"
        ]
    ),
    situation!(
        RoutingLoop,
        NetworkRouting,
        Unknown,
        "The message was forwarded around in a loop (too many Received: hops) (4.4.6).",
        [
            "MX or relay configuration sends mail back to a server that already handled it",
            "A user forwarding rule points back at the original mailbox",
            "The receiving server thinks it is not the final destination for its own domain (Postfix: 'mail for ... loops back to myself')"
        ],
        [
            "Inspect the Received: headers of the bounced message",
            "postconf mydestination relay_domains virtual_mailbox_domains (the domain must be in exactly one)",
            "Check forwarding rules on the recipient mailbox"
        ]
    ),
    situation!(
        DeliveryExpired,
        NetworkRouting,
        Unknown,
        "The message stayed queued too long and was given up (5.4.7, delivery time expired; a delay notice says 4.4.7). The real cause is the error logged on the earlier attempts.",
        [
            "Every attempt over the queue lifetime was deferred: look at those deferral reasons",
            "The destination was unreachable for days",
            "The queue lifetime is short (Postfix maximal_queue_lifetime, Exim retry rules)"
        ],
        [
            "mxray logs /var/log/mail.log --domain {domain} (see the deferrals before the expiry)",
            "postconf maximal_queue_lifetime bounce_queue_lifetime",
            "mxray diagnose {domain}"
        ]
    ),
    situation!(
        SystemUnavailable,
        MailSystem,
        Recipient,
        "The receiving host is not accepting mail right now: shutdown, overload or maintenance (X.3.2).",
        [
            "Planned maintenance or a restart on the recipient side",
            "The server is overloaded and refusing new sessions",
            "The server is protecting itself from the sending IP (load shedding by reputation)"
        ],
        [
            "Let your MTA retry later; nothing to change if it clears within hours",
            "mxray diagnose {domain} (check whether every MX says the same)",
            "If only your IP gets it, check your reputation: mxray diagnose {domain} --sender-ip {ip}"
        ]
    ),
    situation!(
        ServiceUnavailable,
        MailSystem,
        Recipient,
        "The server is closing the connection and will not take mail now (421: service not available, closing transmission channel). Transient by definition: retry later.",
        [
            "The server is overloaded, shutting down or in maintenance",
            "It limits connections per client IP and you exceeded it",
            "It defers mail from your IP for reputation reasons without saying so",
            "Greylisting implemented at connection level"
        ],
        [
            "Let your MTA retry; check the deferral clears (mxray logs /var/log/mail.log --domain {domain})",
            "mxray diagnose {domain} (is every MX answering 421?)",
            "Lower concurrency to this destination: smtp_destination_concurrency_limit / smtp_destination_rate_delay (Postfix)",
            "Check your IP against blocklists: mxray diagnose {domain} --sender-ip {ip}"
        ]
    ),
    // ---- 4.7.x: policy deferrals, named by the text ------------------------------------------
    situation!(
        RateLimited,
        RateLimiting,
        Sender,
        "The receiver is throttling you: too much mail, too fast, or from an IP whose reputation does not earn that volume.",
        [
            "Your sending rate or volume to this provider exceeds what it accepts from your IP or domain",
            "Your IP or domain reputation is low or new (not warmed up), so limits are tight",
            "Recipients complained or marked your mail as spam, lowering the allowance",
            "Several systems share your outbound IP and together exceed the limit"
        ],
        [
            "Slow down to this destination: postconf -e 'smtp_destination_rate_delay = 1s' (or a per-transport limit), Exim: smtp_accept / remote_max_parallel",
            "Spread volume over time; warm up new IPs and domains gradually",
            "Check the provider's postmaster tools (Google Postmaster Tools, Microsoft SNDS, Yahoo Sender Hub)",
            "Check your IP and domain reputation: mxray diagnose {domain} --sender-ip {ip}",
            "Make sure SPF, DKIM and DMARC pass: mxray diagnose <your domain> --only auth"
        ]
    ),
    situation!(
        RecipientRateLimited,
        RateLimiting,
        Recipient,
        "This one recipient is receiving mail faster than its provider allows (Gmail's ReceivingRate, 450 4.2.1): a per-mailbox limit, not your volume and not a dead mailbox.",
        [
            "The recipient gets a burst of mail (a mailing list, notifications, a loop or an attack)",
            "Several of your messages to the same address in a short time",
            "The mailbox feeds an automated system that receives at high volume"
        ],
        [
            "Let your MTA retry later: the limit lifts once the recipient's inflow slows",
            "Space out messages to this address; batch notifications into a digest",
            "Do not remove the address for this: it exists and accepts mail"
        ]
    ),
    situation!(
        ConnectionLimit,
        RateLimiting,
        Sender,
        "Too many simultaneous connections (or new connections per minute) from your IP: the server refuses more and closes.",
        [
            "Your MTA opens more parallel sessions to this host than it allows",
            "Many messages delivered with one connection each instead of reusing sessions",
            "Other senders behind the same NAT / IP share the budget",
            "A bulk verifier probing the same MX host in parallel"
        ],
        [
            "Lower parallelism: Postfix smtp_destination_concurrency_limit (default 20) or a transport with a lower limit; Exim remote_max_parallel",
            "Enable connection reuse (Postfix smtp_connection_cache_on_demand = yes)",
            "For verification: one session with many RCPTs, per-host limits (mxray verify does this)",
            "Retry later; the limit resets within minutes"
        ]
    ),
    situation!(
        ProviderDeferral,
        RateLimiting,
        Sender,
        "The provider temporarily deferred your mail because of its volume or complaints about it (the 'temporarily deferred' family, e.g. Yahoo TSS04).",
        [
            "Unexpected volume from your IP or domain compared with its history",
            "User complaints (spam reports) about recent mail",
            "Poor list hygiene: many unknown recipients in recent sends",
            "A new or recently changed sending IP"
        ],
        [
            "Follow the provider's link in the reply text (their error-code page explains the code)",
            "Reduce volume to this provider and send only to engaged recipients",
            "Register for the provider's feedback loop and postmaster tools",
            "mxray diagnose <your domain> --sender-ip {ip}"
        ]
    ),
    situation!(
        Greylisted,
        Greylisting,
        Recipient,
        "Greylisting: the server refuses the first attempt from an unknown (IP, sender, recipient) triplet and accepts a retry after a delay. Nothing is wrong; retry.",
        [
            "First contact between your IP, this sender and this recipient",
            "Your retries come from a different IP (a pool), so the triplet never matches",
            "Your MTA retries too early, before the greylist delay expires",
            "The MAIL FROM changes on each attempt (VERP or random bounce addresses)"
        ],
        [
            "Nothing, if your MTA retries: delivery normally succeeds within 5-30 minutes",
            "Make retries come from the same outbound IP and the same MAIL FROM",
            "Postfix: minimal_backoff_time (default 300s) is fine; do not retry in seconds",
            "For verification: retry after the server's hint from the same IP (mxray verify does this)"
        ]
    ),
    situation!(
        TemporaryDeferral,
        MailSystem,
        Unknown,
        "A generic 'try again later': the server deferred the request without saying why.",
        [
            "Greylisting (most common with 450 / 451 4.7.1 and a first-time triplet)",
            "Temporary rate limiting or load shedding",
            "A temporary local problem on the receiving server (disk, antivirus, a backend lookup)"
        ],
        [
            "Let your MTA retry and watch whether a later attempt succeeds",
            "mxray logs /var/log/mail.log --domain {domain} (how many retries, and does it ever deliver?)",
            "If every attempt for hours gets it, mxray diagnose {domain}"
        ]
    ),
    situation!(
        Blocklisted,
        Blocklisting,
        Sender,
        "Your sending IP or domain is on a blocklist (DNSBL) that the receiver uses, or is blocked by its own reputation system.",
        [
            "Your IP is listed on Spamhaus (SBL/XBL/PBL/CSS), Barracuda, SpamCop, UCEPROTECT or similar",
            "Your IP is in a dynamic / residential range listed by policy (Spamhaus PBL)",
            "A compromised account or host on your network sent spam",
            "Your domain (or a link in the message) is on a domain blocklist (Spamhaus DBL, SURBL, URIBL)"
        ],
        [
            "Look up your IP: mxray diagnose {domain} --sender-ip {ip} (checks the common DNSBLs)",
            "dig +short <reversed IP>.zen.spamhaus.org (127.0.0.x means listed)",
            "Find and fix the cause (compromised account, open relay, bad list), then use the list's removal (delisting) page, e.g. Spamhaus check.spamhaus.org, Barracuda barracudacentral.org/lookups",
            "Send through a smarthost with good reputation until delisted"
        ]
    ),
    situation!(
        DmarcAuthFailure,
        Authentication,
        Sender,
        "The message failed the receiver's sender-authentication checks: SPF, DKIM and/or DMARC.",
        [
            "No DKIM signature, or a signature from a domain that does not align with From:",
            "The sending IP is not in the domain's SPF record (often a new ESP or relay)",
            "DMARC policy p=quarantine/reject with neither SPF nor DKIM aligned",
            "Forwarding or a mailing list broke SPF and modified the message, breaking DKIM"
        ],
        [
            "mxray diagnose <your domain> --only auth --sender-ip {ip}",
            "dig TXT <your domain> +short | grep spf1; dig TXT _dmarc.<your domain> +short",
            "Sign with DKIM using the From: domain (opendkim / your ESP's DKIM setup) and publish the key",
            "Add every sending service to SPF (include:...) while staying under 10 DNS lookups"
        ]
    ),
    situation!(
        ReverseDns,
        Authentication,
        Sender,
        "The receiver rejected or deferred your IP because its reverse DNS is missing or does not match (forward-confirmed rDNS failed).",
        [
            "Your sending IP has no PTR record",
            "The PTR name does not resolve back to the same IP",
            "The PTR looks generic or dynamic (for example ip-1-2-3-4.provider.net)",
            "Your HELO/EHLO name does not match the PTR"
        ],
        [
            "dig -x {ip} +short, then dig A <that name> +short (must give {ip} back)",
            "Ask your hosting provider / ISP to set the PTR to your mail host name",
            "postconf smtp_helo_name myhostname (make the EHLO name match the PTR)"
        ]
    ),
    situation!(
        SmtpAuthFailure,
        Authentication,
        Sender,
        "SMTP AUTH failed or is required: the credentials, mechanism or account were refused.",
        [
            "Wrong username or password, or an expired app password",
            "The account is disabled or requires a different mechanism",
            "Authentication attempted before STARTTLS, and the server requires encryption for it",
            "The server requires authentication to relay (you tried to relay without AUTH)"
        ],
        [
            "Test by hand: swaks --to you@{domain} --server <host> --auth LOGIN --auth-user <user> --tls",
            "Postfix client: check smtp_sasl_password_maps and smtp_sasl_auth_enable = yes",
            "Use STARTTLS (or port 465) before AUTH"
        ]
    ),
    situation!(
        TlsRequired,
        TlsRequired,
        Sender,
        "The server requires an encrypted (STARTTLS) session, or REQUIRETLS, and this session did not have one.",
        [
            "Your MTA did not issue STARTTLS (opportunistic TLS disabled)",
            "The TLS handshake failed and your MTA fell back to plain text",
            "The receiver (or an MTA-STS policy) requires TLS for this path"
        ],
        [
            "Postfix: postconf -e 'smtp_tls_security_level = may' (or encrypt)",
            "Test: openssl s_client -starttls smtp -connect <MX host>:25 -servername <MX host>",
            "mxray diagnose {domain} (shows the STARTTLS offer and certificate)"
        ]
    ),
    situation!(
        TlsUnavailable,
        TlsRequired,
        Recipient,
        "The server offered TLS but cannot provide it right now (a local problem with its certificate or TLS library).",
        [
            "Broken or expired certificate or key on the receiving server",
            "The server's TLS library or entropy source failed"
        ],
        [
            "Retry later; if your policy requires TLS, the mail waits until it is fixed",
            "mxray diagnose {domain} (certificate and handshake details)",
            "Tell the recipient's postmaster: the problem is on their server"
        ]
    ),
    situation!(
        RelayDenied,
        SecurityPolicy,
        Sender,
        "The server refused to relay: it is not the destination for that domain and you are not allowed to send through it.",
        [
            "You are sending to a domain this server does not handle, without authenticating",
            "Wrong smarthost, or AUTH not configured for the smarthost",
            "The recipient domain's MX points to a server that no longer hosts it"
        ],
        [
            "Authenticate to your submission server (port 587 with AUTH)",
            "dig MX {domain} +short (is this server really the MX?)",
            "Postfix server side: postconf mynetworks smtpd_relay_restrictions"
        ]
    ),
    situation!(
        PolicyRejection,
        SecurityPolicy,
        Unknown,
        "Refused by the receiver's policy: the sender is not authorised to send to this destination (X.7.1, or a 550 / 554 whose text names no other reason). The text usually names the rule.",
        [
            "Your IP or domain failed a reputation, blocklist or authentication check",
            "The recipient only accepts mail from certain senders (allowlist, internal-only group)",
            "Content filtering flagged the message",
            "Geographic or network-based blocking"
        ],
        [
            "Read the reply text for a rule name or a URL; follow it",
            "mxray diagnose <your domain> --sender-ip {ip} (authentication and blocklists)",
            "Ask the recipient to allowlist you, or check that the address accepts external mail"
        ]
    ),
    situation!(
        PolicyDeferral,
        SecurityPolicy,
        Unknown,
        "A transient security or policy deferral (4.7.x) without a specific reason: usually throttling, greylisting or reputation.",
        [
            "Rate limiting or reputation-based throttling of your IP",
            "Greylisting",
            "An authentication check (SPF/DKIM/DMARC/rDNS) temporarily failing",
            "TLS required but not negotiated"
        ],
        [
            "Read the reply text for the provider's reason or URL",
            "Let your MTA retry and see if it clears",
            "mxray diagnose <your domain> --sender-ip {ip}"
        ]
    ),
    situation!(
        SpamContent,
        Content,
        Sender,
        "The message content was judged as spam, malware or phishing and refused.",
        [
            "Spam-like content, URLs on domain blocklists, or URL shorteners",
            "An attachment type the receiver blocks (executables, macros)",
            "Poor sender reputation that lowers the threshold for content",
            "Missing authentication making the content check stricter"
        ],
        [
            "Check links and domains against URI blocklists (Spamhaus DBL, SURBL)",
            "Send a test to a mailbox you control and read its spam headers (X-Spam-Status, Authentication-Results)",
            "Remove risky attachments; send links to hosted files instead"
        ]
    ),
    situation!(
        MessageTooBig,
        Content,
        Sender,
        "The message is larger than the receiver accepts.",
        [
            "Large attachments",
            "Base64 encoding inflating the size by a third",
            "A per-mailbox limit below the system limit"
        ],
        [
            "Check the SIZE the server advertises: swaks --server <MX host> --quit-after EHLO",
            "Send large files as links",
            "Postfix: message_size_limit (your own limit)"
        ]
    ),
    // ---- mailbox and addressing ----------------------------------------------------------------
    situation!(
        MailboxUnknown,
        Addressing,
        Recipient,
        "The mailbox does not exist at the destination (X.1.1): the address is wrong or gone.",
        [
            "A typo in the local part",
            "The user left and the mailbox was deleted",
            "An old or purchased list"
        ],
        [
            "Check the address with its owner",
            "Remove it from your lists (keep bounces low)",
            "mxray verify <address> (confirms without sending)"
        ]
    ),
    situation!(
        MailboxUnknownTransient,
        Addressing,
        Recipient,
        "The server could not confirm the recipient right now (a 4xx with an addressing code): often a recipient verification that timed out on their side.",
        [
            "The receiver's recipient lookup (LDAP, backend) is temporarily failing",
            "Address verification (Postfix reject_unverified_recipient) has not completed",
            "The address is being provisioned"
        ],
        [
            "Let your MTA retry",
            "If it turns permanent, treat the address as unknown"
        ]
    ),
    situation!(
        BadDestinationDomain,
        Addressing,
        Recipient,
        "The domain part of the address is invalid for mail (X.1.2): it does not exist or cannot receive.",
        [
            "A typo in the domain (gmial.com)",
            "The domain expired or was never set up for mail"
        ],
        [
            "dig MX {domain} +short; dig NS {domain} +short",
            "Fix the address; mxray diagnose {domain}"
        ]
    ),
    situation!(
        BadAddressSyntax,
        Addressing,
        Sender,
        "The address is syntactically invalid (X.1.3 / X.1.7).",
        [
            "Stray characters, spaces or missing angle brackets",
            "Non-ASCII characters without SMTPUTF8",
            "A form field passed through without validation"
        ],
        [
            "Validate addresses before sending (mxray verify reports syntax errors)",
            "Check the MAIL FROM / RCPT TO your application generates"
        ]
    ),
    situation!(
        MailboxMoved,
        Addressing,
        Recipient,
        "The mailbox has moved and there is no forwarding address (X.1.6); the address is no longer valid.",
        [
            "The recipient changed address",
            "The organisation changed domains"
        ],
        ["Remove the address; ask the recipient for the new one"]
    ),
    situation!(
        BadSenderDomain,
        Addressing,
        Sender,
        "The receiver refused your sender address because its domain does not resolve or cannot receive replies (X.1.8).",
        [
            "Your MAIL FROM domain has no MX and no A record",
            "A typo or an internal-only domain used as sender",
            "Your domain's DNS failed temporarily (with 4xx)"
        ],
        [
            "dig MX <your domain> +short; dig A <your domain> +short",
            "Use a sender domain that exists in public DNS",
            "Postfix: check myorigin and masquerade_domains"
        ]
    ),
    situation!(
        NullMxRecipient,
        Addressing,
        Recipient,
        "The recipient's domain publishes a null MX (RFC 7505): it accepts no mail at all.",
        [
            "The domain is used only for web or is parked",
            "A typo that landed on a real but mail-less domain"
        ],
        [
            "dig MX {domain} +short (shows '0 .')",
            "Do not retry; fix or remove the address"
        ]
    ),
    situation!(
        NullMxSender,
        Addressing,
        Sender,
        "Your sender domain publishes a null MX, so it could not receive a bounce; the receiver refuses it (X.7.27).",
        ["MAIL FROM uses a domain that declares it receives no mail"],
        [
            "Use a MAIL FROM domain that receives mail (bounces must reach someone)",
            "dig MX <your domain> +short"
        ]
    ),
    situation!(
        MailboxFull,
        Mailbox,
        Recipient,
        "The recipient's mailbox is over its quota (X.2.2). Usually transient: it clears when the owner deletes mail.",
        [
            "The user has not cleaned up their mailbox",
            "An abandoned mailbox slowly filling up"
        ],
        [
            "Let your MTA retry for a while",
            "If it persists for days, treat the mailbox as abandoned"
        ]
    ),
    situation!(
        MailboxDisabled,
        Mailbox,
        Recipient,
        "The mailbox exists but does not accept mail (X.2.1): disabled, suspended or inactive.",
        [
            "The account was suspended (unpaid, abuse, inactivity)",
            "The employee left and the mailbox is frozen"
        ],
        ["Stop sending to it; contact the recipient another way"]
    ),
    situation!(
        MailboxBusy,
        Mailbox,
        Recipient,
        "The mailbox is temporarily unavailable (busy, locked, or a backend problem).",
        [
            "The mailbox store is locked or being migrated",
            "A temporary backend failure on the recipient side",
            "Greylisting disguised as a mailbox error"
        ],
        ["Let your MTA retry"]
    ),
    situation!(
        MailboxOther,
        Mailbox,
        Recipient,
        "Something about the destination mailbox caused the failure; the code does not say what.",
        ["A mailbox-specific policy or state on the recipient side"],
        ["Read the reply text; contact the recipient if it persists"]
    ),
    situation!(
        ListExpansion,
        Mailbox,
        Recipient,
        "A mailing-list address could not be expanded, or you may not post to it.",
        [
            "The list is broken or moderated",
            "You are not a member of a members-only list"
        ],
        ["Contact the list owner"]
    ),
    situation!(
        SystemStorage,
        MailSystem,
        Recipient,
        "The receiving system is out of storage (X.3.1 / 452 insufficient system storage).",
        [
            "The recipient server's disk or queue is full",
            "Too many recipients in one transaction for its current limits"
        ],
        [
            "Let your MTA retry",
            "If sending many recipients per message, send fewer per transaction"
        ]
    ),
    situation!(
        MailSystemOther,
        MailSystem,
        Recipient,
        "The destination mail system had a problem handling the request (a local error on their side).",
        [
            "A temporary fault on the receiving server: a backend, a filter, a database",
            "A misconfigured receiving system"
        ],
        [
            "Let your MTA retry (for 4xx)",
            "If it persists, contact the recipient's postmaster with the full reply and timestamps"
        ]
    ),
    situation!(
        SystemMisconfigured,
        MailSystem,
        Recipient,
        "The receiving system is not configured to accept this message (X.3.5).",
        [
            "A broken configuration on the recipient side",
            "The domain is not (or no longer) hosted on this server"
        ],
        [
            "dig MX {domain} +short (are you talking to the right server?)",
            "Contact the recipient's postmaster"
        ]
    ),
    situation!(
        FeatureUnsupported,
        MailSystem,
        Recipient,
        "The destination cannot handle a feature the message needs (X.3.3), such as 8-bit or SMTPUTF8.",
        ["8BITMIME / SMTPUTF8 content sent to a server that does not support it"],
        [
            "Encode the message as 7-bit (quoted-printable / base64)",
            "Avoid non-ASCII addresses for this destination"
        ]
    ),
    situation!(
        NoSmtpService,
        MailSystem,
        Recipient,
        "The server greeted with 554 (or 521): it does not offer SMTP service to you at all.",
        [
            "Your IP is blocked at connection time (blocklist or policy)",
            "The host is not a mail server for the public",
            "The domain does not accept mail (521 / null MX)"
        ],
        [
            "Read the text for a blocklist name or URL",
            "mxray diagnose {domain}",
            "Check your IP: mxray diagnose {domain} --sender-ip {ip}"
        ]
    ),
    situation!(
        ServerClosing,
        Success,
        None,
        "The server closes the session normally (221).",
        [],
        []
    ),
    // ---- protocol -------------------------------------------------------------------------------
    situation!(
        ProtocolError,
        Protocol,
        Sender,
        "The SMTP conversation went wrong: a command out of sequence, unrecognised, or with bad arguments. Usually the client (or something on the path) is at fault.",
        [
            "A bug or misconfiguration in the sending software",
            "PIPELINING or an extension used without the server offering it",
            "A firewall or 'SMTP fixup' middlebox rewriting commands",
            "Bare LF line endings or overlong lines"
        ],
        [
            "Capture the session: swaks --to you@{domain} --server <host> (shows every command and reply)",
            "Disable SMTP inspection on Cisco ASA / middleboxes (no fixup protocol smtp)",
            "Check your client library's SMTP extensions usage"
        ]
    ),
    situation!(
        TooManyRecipients,
        Protocol,
        Sender,
        "Too many recipients in one transaction (X.5.3 / 452): the rest must go in another transaction.",
        ["More RCPT TO commands than the server allows per message"],
        [
            "Nothing for a normal MTA (it sends the rest later)",
            "Postfix: smtp_destination_recipient_limit to stay under the server's cap"
        ]
    ),
    situation!(
        MediaError,
        Content,
        Sender,
        "Something about the message content or its media types prevented delivery (X.6.x).",
        [
            "A media type or encoding the path cannot carry",
            "A conversion (8-bit to 7-bit, UTF-8 headers) that failed or was not allowed"
        ],
        [
            "Encode the message as 7-bit MIME",
            "Avoid UTF-8 headers and addresses for servers without SMTPUTF8"
        ]
    ),
    situation!(
        SecurityOther,
        SecurityPolicy,
        Unknown,
        "A security problem prevented delivery; the code gives no more detail.",
        ["A policy, authentication or encryption rule on the receiver"],
        [
            "Read the reply text",
            "mxray diagnose <your domain> --sender-ip {ip}"
        ]
    ),
    situation!(
        CryptoFailure,
        SecurityPolicy,
        Unknown,
        "A cryptographic check (signature, encryption, integrity) failed on the path (X.7.5-X.7.7).",
        [
            "A missing or invalid key",
            "An algorithm the receiver does not support",
            "The message was altered in transit"
        ],
        ["Check your signing keys and algorithms (DKIM key size, S/MIME certificates)"]
    ),
    situation!(
        Rrvs,
        SecurityPolicy,
        Recipient,
        "Require-Recipient-Valid-Since: the mailbox or domain changed owner, or the check could not be done (X.7.17-X.7.19).",
        ["The address was reassigned to someone else"],
        ["Confirm the address with its owner before sending again"]
    ),
    situation!(
        Priority,
        MailSystem,
        Recipient,
        "The message priority was changed or is too low for the receiver right now (RFC 6710).",
        ["The server only accepts higher-priority mail at the moment"],
        ["Retry later, or send with a higher MT-PRIORITY if you are entitled to"]
    ),
    // ---- success and unknown --------------------------------------------------------------------
    situation!(
        Success,
        Success,
        None,
        "Success: the command was accepted.",
        [],
        []
    ),
    situation!(
        Intermediate,
        Success,
        None,
        "Intermediate success: the server waits for more input (354 after DATA, 334 during AUTH).",
        [],
        []
    ),
    situation!(
        UnspecifiedTransient,
        Other,
        Unknown,
        "A transient failure the code does not explain further: retry later.",
        [
            "A temporary condition on the receiving side",
            "Rate limiting or greylisting without standard codes"
        ],
        [
            "Let your MTA retry",
            "Read the reply text for a reason or URL",
            "mxray diagnose {domain}"
        ]
    ),
    situation!(
        UnspecifiedPermanent,
        Other,
        Unknown,
        "A permanent failure the code does not explain further: the same message will fail again.",
        ["A policy or address problem the server does not name"],
        [
            "Read the reply text for a reason or URL",
            "mxray diagnose {domain}"
        ]
    ),
];

/// Finds a situation by id.
pub fn situation(id: SituationId) -> Option<&'static Situation> {
    SITUATIONS.iter().find(|s| s.id == id)
}

/// A text pattern that names a situation regardless of the code's detail.
struct TextRule {
    re: Regex,
    situation: SituationId,
    /// `None`: any failure class; `Some(c)`: only that class.
    class: Option<Class>,
    /// An enhanced subject whose code outranks these words (see [`TextRule::unless_subject`]).
    unless_subject: Option<u16>,
}

impl TextRule {
    /// The rule stands aside when the enhanced code has this subject: words that are only a
    /// prefix ("Recipient address rejected:") say less than an X.7.x code does.
    fn unless_subject(mut self, subject: u16) -> TextRule {
        self.unless_subject = Some(subject);
        self
    }

    fn applies(&self, class: Option<Class>, enhanced: Option<EnhancedCode>, text: &str) -> bool {
        (self.class.is_none() || self.class == class)
            && enhanced.is_none_or(|e| Some(e.subject) != self.unless_subject)
            && self.re.is_match(text)
    }
}

fn rule(pat: &str, situation: SituationId, class: Option<Class>) -> TextRule {
    TextRule {
        re: Regex::new(&format!("(?i){pat}")).expect("static knowledge-base regex"),
        situation,
        class,
        unless_subject: None,
    }
}

/// What a 554 says at the greeting rather than later (RFC 5321: "No SMTP service here" there,
/// "Transaction failed" after any other command): a banner (host name, then ESMTP) or words
/// about taking no connections. `classify` does not see the stage, so the text has to say it.
static NO_SERVICE_BANNER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)no smtp service|^[\w.-]+\s+e?smtp\b|not accepting (connections|messages|mail)|connections? not (accepted|allowed)",
    )
    .expect("static knowledge-base regex")
});

/// Strong rules: the text names a specific situation that codes such as 4.7.0 or 5.7.1 cannot.
/// Order matters: the first match wins.
static STRONG_RULES: LazyLock<Vec<TextRule>> = LazyLock::new(|| {
    vec![
        rule(
            r"gr[ae]y[- ]?list|postgrey|greylisting in action",
            SituationId::Greylisted,
            None,
        ),
        rule(r"too many recipients", SituationId::TooManyRecipients, None),
        // Gmail's per-recipient limit says 4.2.1, which the registry reads as "mailbox disabled";
        // it has worded it "at a rate that prevents..." and "too quickly" over the years.
        rule(
            r"receiving (e-?)?mail (at a rate|too (fast|quickly|frequently))|receivingrate|recipient .*receiving (too much|too many)",
            SituationId::RecipientRateLimited,
            Some(Class::Transient),
        ),
        // Microsoft 365 answers unknown recipients with 5.1.10 (RecipientNotFound; on-premises
        // Exchange says RecipNotFound) and 5.4.1 (below), which would otherwise read as "null MX"
        // and "no answer".
        rule(
            r"recip(ient)?notfound|recipient not found",
            SituationId::MailboxUnknown,
            Some(Class::Permanent),
        ),
        // Microsoft's 5.4.1 words are also Postfix's access-table REJECT ("554 5.7.1 <a@b>:
        // Recipient address rejected: Access denied"): with an X.7.x code that is policy.
        rule(
            r"recipient address rejected: access denied",
            SituationId::MailboxUnknown,
            Some(Class::Permanent),
        )
        .unless_subject(7),
        // A disabled recipient, whatever the code: some servers send it as X.7.13, which the
        // registry means for the sender's own account after AUTH (525 "User Account Disabled").
        // Only words naming the recipient count, so an AUTH reply keeps its code's meaning.
        rule(
            r"recipient (account |mailbox )?(is |has been )?(disabled|deactivated|suspended|inactive)|(account|mailbox|address) (that )?you tried to reach (is|has been) (disabled|deactivated|suspended|inactive)",
            SituationId::MailboxDisabled,
            None,
        ),
        rule(
            r"too many (concurrent |simultaneous |smtp )*(connections|sessions)|connection (rate|count) limit|concurrency limit|(max|maximum) (number of )?(connections|sessions)|too many connects|connection limit",
            SituationId::ConnectionLimit,
            None,
        ),
        rule(
            r"\bblock ?list|\bblack ?list|blocked using|listed (on|in|at|by)\b|\b(spamhaus|spamcop|barracuda|sorbs|uceprotect|spamrats|dnsbl|rbl|sbl|xbl|pbl|css)\b|on our block|\bbanned\b|ip (address )?(is )?blocked|poor (ip )?reputation|bad reputation|low reputation|reputation of (your|the sending)",
            SituationId::Blocklisted,
            None,
        ),
        rule(
            r"temporarily deferred|\[TSS?0\d\]|temporarily (rejected|refused|blocked)|deferred due to|\bRP-00\d|messages? from .*deferred",
            SituationId::ProviderDeferral,
            Some(Class::Transient),
        ),
        rule(
            r"rate[- ]?limit|unusual rate|too many (messages|mails|emails)|sending rate|message rate|throttl|slow down|exceeded .*(rate|limit|quota of messages)|\b4\.7\.(28|650|500)\b|server busy|too (much|fast)|volume",
            SituationId::RateLimited,
            None,
        ),
        rule(
            r"\bdmarc\b|\bdkim\b|\bspf\b|sender policy framework|unauthenticated|not authenticated|fails? to pass authentication|authentication (checks?|results)|domain-based message authentication|\barc\b validation",
            SituationId::DmarcAuthFailure,
            None,
        ),
        rule(
            r"reverse (dns|lookup|hostname)|\bptr\b|\brdns\b|cannot find your (reverse )?hostname|client host rejected: cannot find|hostname does not resolve|no reverse|forward-confirmed",
            SituationId::ReverseDns,
            None,
        ),
        rule(
            r"tls not available|tls (is )?temporarily|tls.*local problem",
            SituationId::TlsUnavailable,
            None,
        ),
        rule(
            r"must issue a starttls|starttls (is )?required|tls (is )?required|requires? (tls|encryption|a secure)|encryption (is )?required|secure connection required|requiretls|not (over|using) (tls|encryption)",
            SituationId::TlsRequired,
            None,
        ),
        rule(
            r"relay(ing)? (access )?(denied|not permitted|not allowed|prohibited)|not allowed to relay|unable to relay|we do not relay|not permitted to relay",
            SituationId::RelayDenied,
            None,
        ),
        rule(
            r"authentication (required|failed|credentials|unsuccessful)|invalid (credentials|login|password)|username and password not accepted|auth(entication)? mechanism",
            SituationId::SmtpAuthFailure,
            None,
        ),
        rule(
            r"administrative prohibition|envelope blocked|policy reasons|rejected (by|for) policy|not authori[sz]ed to send|access denied",
            SituationId::PolicyRejection,
            Some(Class::Permanent),
        ),
        rule(
            r"\bspam\b|content (rejected|filter)|message content|\bvirus|malware|phish|suspicious|junk mail|\bUCE\b",
            SituationId::SpamContent,
            Some(Class::Permanent),
        ),
    ]
});

/// Weak rules: used when the code alone is generic (no enhanced code, or detail 0).
static WEAK_RULES: LazyLock<Vec<TextRule>> = LazyLock::new(|| {
    vec![
        rule(
            r"service (is )?not available|closing transmission channel|service (temporarily )?unavailable",
            SituationId::ServiceUnavailable,
            Some(Class::Transient),
        ),
        rule(
            r"transport agent was unable",
            SituationId::TransportUnavailable,
            None,
        ),
        rule(
            r"routing server failure",
            SituationId::DnsRoutingFailure,
            None,
        ),
        rule(
            r"connection (closed|reset|dropped|lost)|lost connection|closed (the )?connection|broken pipe|unexpected(ly)? (eof|end of file|disconnect)|conversation timed out|timed out while|timeout exceeded|idle timeout",
            SituationId::ConnectionDropped,
            None,
        ),
        rule(
            r"connection refused|connect to .*(timed out|refused)|no route to host|network is unreachable|host is unreachable|connection timed out|no answer",
            SituationId::NoAnswer,
            None,
        ),
        rule(
            r"host (or domain name )?not found|name service error|temporary failure in name resolution|\bservfail\b|dns (error|failure|lookup|timeout)|unable to resolve",
            SituationId::DnsRoutingFailure,
            Some(Class::Transient),
        ),
        rule(
            r"host (or domain name )?not found|domain not found|no such domain|\bnxdomain\b|unrout(e)?able|no mx (record|host)|does not accept mail|null mx",
            SituationId::UnableToRoute,
            None,
        ),
        rule(
            r"loops back to myself|mail loop|routing loop|too many hops",
            SituationId::RoutingLoop,
            None,
        ),
        rule(
            r"over ?quota|quota exceeded|mailbox (is )?full|mailbox size limit|exceeded (storage|its quota)|insufficient (storage|space) for",
            SituationId::MailboxFull,
            None,
        ),
        rule(
            r"account (is |has been )?(disabled|inactive|suspended|locked)|mailbox (is )?(disabled|inactive|suspended)|inactive (user|account|mailbox)|user (is )?suspended",
            SituationId::MailboxDisabled,
            None,
        ),
        // A bare 550 does not mean "unknown" by itself (see `by_basic`): these words say it.
        rule(
            r"(user|recipient|addressee|mailbox) (is )?(unknown|not found)|unknown (user|recipient|addressee|local[- ]part)|no such (user|mailbox|recipient|address|person)|mailbox (is )?(unavailable|not available)|does(n't| not) (exist|have an? \S+ account)|(user|recipient|mailbox) not exist|invalid (recipient|mailbox)|no mailbox|not a valid (mailbox|recipient)|undeliverable address",
            SituationId::MailboxUnknown,
            Some(Class::Permanent),
        ),
        // Postfix prefixes every recipient restriction with these words; the reason after them
        // may be anything, and an X.7.x code says it is policy.
        rule(
            r"recipient (address )?rejected|address rejected",
            SituationId::MailboxUnknown,
            Some(Class::Permanent),
        )
        .unless_subject(7),
        rule(
            r"message (size )?exceeds|too (big|large)|size limit|message size",
            SituationId::MessageTooBig,
            None,
        ),
        rule(
            r"try (again )?later|retry later|please (try|retry)|come back later|temporar(il)?y (unavailable|failure|problem|error)",
            SituationId::TemporaryDeferral,
            Some(Class::Transient),
        ),
    ]
});

/// The knowledge base's verdict on one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub situation: &'static Situation,
    /// How it was decided: `text`, `enhanced_code`, `basic_code`, `subject`, `class`.
    pub decided_by: &'static str,
}

/// Picks the situation for a reply: specific text first, then the enhanced code, then generic
/// text, then the basic code, then the enhanced subject or the class alone.
///
/// `class` is the effective class (the basic code's when present, since MTAs act on it).
pub fn classify(
    code: Option<ReplyCode>,
    enhanced: Option<EnhancedCode>,
    class: Option<Class>,
    text: &str,
) -> Classification {
    let found = |id: SituationId, by: &'static str| {
        situation(id).map(|situation| Classification {
            situation,
            decided_by: by,
        })
    };
    if class == Some(Class::Success) {
        let id = match code.map(ReplyCode::value) {
            Some(221) => SituationId::ServerClosing,
            Some(334) | Some(354) => SituationId::Intermediate,
            _ => SituationId::Success,
        };
        return found(id, "class").unwrap_or_else(fallback);
    }
    let rule_applies = |r: &TextRule| r.applies(class, enhanced, text);
    if !text.is_empty()
        && let Some(r) = STRONG_RULES.iter().find(|r| rule_applies(r))
        && let Some(c) = found(r.situation, "text")
    {
        return c;
    }
    let specific = enhanced.and_then(|e| by_enhanced(e, class));
    // X.y.0 says nothing specific, and X.7.1 ("delivery not authorized") is the catch-all that
    // greylisting and throttling servers use too: the text decides for both.
    let generic_enhanced =
        enhanced.is_none_or(|e| e.detail == 0 || (e.subject == 7 && e.detail == 1));
    // X.1.10 is RFC 7505's null MX, but Microsoft 365 sends 550 5.1.10 for a recipient its
    // directory does not know (and a relaying Sendmail logs just "User unknown"): the text may
    // switch it to an unknown mailbox, and to nothing else, since a null MX reply reads
    // "Recipient address rejected: Domain ... does not accept mail" and must stay null MX.
    let text_may_only_say = enhanced
        .filter(|e| e.subject == 1 && e.detail == 10)
        .map(|_| SituationId::MailboxUnknown);
    if (generic_enhanced || text_may_only_say.is_some())
        && !text.is_empty()
        && let Some(r) = WEAK_RULES.iter().find(|r| rule_applies(r))
        && text_may_only_say.is_none_or(|id| r.situation == id)
        && let Some(c) = found(r.situation, "text")
    {
        // A specific X.Y.0 code beats a generic text match only for 4.4.0, the code whose
        // meaning is exactly "the transport could not get it there".
        if !(specific.is_some() && enhanced.is_some_and(|e| e.subject == 4)) {
            return c;
        }
    }
    if let Some(id) = specific
        && let Some(c) = found(id, "enhanced_code")
    {
        return c;
    }
    if let Some(id) = code.and_then(|c| by_basic(c, text))
        && let Some(c) = found(id, "basic_code")
    {
        return c;
    }
    if let Some(id) = enhanced.and_then(|e| by_subject(e.subject, class))
        && let Some(c) = found(id, "subject")
    {
        return c;
    }
    let id = match class {
        Some(Class::Permanent) => SituationId::UnspecifiedPermanent,
        _ => SituationId::UnspecifiedTransient,
    };
    found(id, "class").unwrap_or_else(fallback)
}

fn fallback() -> Classification {
    Classification {
        situation: &SITUATIONS[SITUATIONS.len() - 1],
        decided_by: "class",
    }
}

/// Specific registry codes that map to one situation.
fn by_enhanced(e: EnhancedCode, class: Option<Class>) -> Option<SituationId> {
    let transient = class == Some(Class::Transient);
    Some(match (e.subject, e.detail) {
        (1, 1) if transient => SituationId::MailboxUnknownTransient,
        (1, 1) => SituationId::MailboxUnknown,
        (1, 2) => SituationId::BadDestinationDomain,
        (1, 3) | (1, 7) => SituationId::BadAddressSyntax,
        (1, 4) => SituationId::MailboxOther,
        (1, 6) => SituationId::MailboxMoved,
        (1, 8) => SituationId::BadSenderDomain,
        (1, 10) => SituationId::NullMxRecipient,
        (2, 0) if transient => SituationId::MailboxBusy,
        (2, 0) => SituationId::MailboxOther,
        (2, 1) => SituationId::MailboxDisabled,
        (2, 2) => SituationId::MailboxFull,
        (2, 3) => SituationId::MessageTooBig,
        (2, 4) | (7, 2) => SituationId::ListExpansion,
        (3, 0) => SituationId::MailSystemOther,
        (3, 1) => SituationId::SystemStorage,
        (3, 2) => SituationId::SystemUnavailable,
        (3, 3) => SituationId::FeatureUnsupported,
        (3, 4) => SituationId::MessageTooBig,
        (3, 5) => SituationId::SystemMisconfigured,
        (3, 6) | (7, 15) | (7, 16) => SituationId::Priority,
        (4, 0) => SituationId::TransportUnavailable,
        (4, 1) => SituationId::NoAnswer,
        (4, 2) => SituationId::ConnectionDropped,
        (4, 3) => SituationId::DnsRoutingFailure,
        (4, 4) => SituationId::UnableToRoute,
        (4, 5) => SituationId::Congestion,
        (4, 6) => SituationId::RoutingLoop,
        (4, 7) => SituationId::DeliveryExpired,
        (5, 3) => SituationId::TooManyRecipients,
        (5, 0..=2) | (5, 4..=6) => SituationId::ProtocolError,
        (6, _) => SituationId::MediaError,
        (7, 0) if transient => SituationId::PolicyDeferral,
        (7, 0) => SituationId::SecurityOther,
        (7, 1) if transient => SituationId::PolicyDeferral,
        (7, 1) => SituationId::PolicyRejection,
        (7, 3..=7) => SituationId::CryptoFailure,
        (7, 8) | (7, 9) | (7, 12) | (7, 13) | (7, 14) => SituationId::SmtpAuthFailure,
        (7, 10) | (7, 11) | (7, 30) => SituationId::TlsRequired,
        (7, 17..=19) => SituationId::Rrvs,
        (7, 20..=24) | (7, 26) | (7, 29) => SituationId::DmarcAuthFailure,
        (7, 25) => SituationId::ReverseDns,
        (7, 27) => SituationId::NullMxSender,
        (7, 28) => SituationId::RateLimited,
        _ => return None,
    })
}

/// The basic code's situation, once neither the text rules nor the enhanced code decided.
fn by_basic(code: ReplyCode, text: &str) -> Option<SituationId> {
    Some(match code.value() {
        421 => SituationId::ServiceUnavailable,
        450 => SituationId::MailboxBusy,
        451 => SituationId::MailSystemOther,
        452 => SituationId::SystemStorage,
        454 => SituationId::PolicyDeferral,
        455 | 500..=504 | 555 => SituationId::ProtocolError,
        521 => SituationId::NoSmtpService,
        554 if NO_SERVICE_BANNER.is_match(text) => SituationId::NoSmtpService,
        // RFC 5321's 550 is "mailbox not found, no access, or command rejected for policy
        // reasons", and 554 after the greeting is "transaction failed": an unknown mailbox is
        // said by the text (the weak rules above), so what remains is a refusal.
        550 | 554 => SituationId::PolicyRejection,
        530 | 534 | 535 | 538 | 432 => SituationId::SmtpAuthFailure,
        523 => SituationId::TlsRequired,
        551 => SituationId::RelayDenied,
        552 => SituationId::MessageTooBig,
        553 => SituationId::BadAddressSyntax,
        556 => SituationId::NullMxRecipient,
        _ => return None,
    })
}

fn by_subject(subject: u16, class: Option<Class>) -> Option<SituationId> {
    let transient = class == Some(Class::Transient);
    Some(match subject {
        1 if transient => SituationId::MailboxUnknownTransient,
        1 => SituationId::MailboxUnknown,
        2 if transient => SituationId::MailboxBusy,
        2 => SituationId::MailboxOther,
        3 => SituationId::MailSystemOther,
        4 => SituationId::TransportUnavailable,
        5 => SituationId::ProtocolError,
        6 => SituationId::MediaError,
        7 if transient => SituationId::PolicyDeferral,
        7 => SituationId::SecurityOther,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn situation_ids_are_unique_and_rules_point_at_real_situations() {
        let mut ids: Vec<_> = SITUATIONS.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "duplicate situation id");
        // Every id has exactly one situation, and the string form round-trips.
        assert_eq!(ids.len(), SituationId::ALL.len());
        for id in SituationId::ALL {
            assert!(situation(*id).is_some(), "{id}");
            assert_eq!(SituationId::parse(id.as_str()), Some(*id));
        }
        for r in STRONG_RULES.iter().chain(WEAK_RULES.iter()) {
            assert!(situation(r.situation).is_some(), "{}", r.situation);
        }
        for s in SITUATIONS {
            if s.category != Category::Success {
                assert!(!s.causes.is_empty() && !s.next_steps.is_empty(), "{}", s.id);
            }
        }
    }

    #[test]
    fn every_mapped_code_has_a_situation() {
        for subject in 0..8u16 {
            for detail in 0..40u16 {
                for class in [Class::Transient, Class::Permanent] {
                    let e = EnhancedCode {
                        class: None,
                        subject,
                        detail,
                    };
                    if let Some(id) = by_enhanced(e, Some(class)) {
                        assert!(situation(id).is_some(), "{id}");
                    }
                }
            }
        }
        for c in 200..600u16 {
            for text in ["", "mx.example.com ESMTP not accepting messages"] {
                if let Some(code) = ReplyCode::new(c)
                    && let Some(id) = by_basic(code, text)
                {
                    assert!(situation(id).is_some(), "{id}");
                }
            }
        }
    }
}
