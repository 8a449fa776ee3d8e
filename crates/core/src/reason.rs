//! A failure's reason in Sisimai's vocabulary (`userunknown`, `blocked`...), the words bounce
//! pipelines key on: a provider's code, then the text, the situation recognised, the codes.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::code::{Class, EnhancedCode};
use crate::knowledge::SituationId;

macro_rules! reasons {
    ($($variant:ident => $id:literal: $doc:literal,)*) => {
        /// Why a message was not delivered, in the vocabulary of the Sisimai bounce parser.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason { $(#[doc = $doc] $variant,)* }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self { $(Reason::$variant => $id,)* }
            }

            pub fn parse(s: &str) -> Option<Reason> {
                match s { $($id => Some(Reason::$variant),)* _ => None }
            }
        }
    };
}

reasons! {
    Delivered => "delivered": "Delivered (a DSN with a 2.x.x status).",
    UserUnknown => "userunknown": "The mailbox does not exist.",
    MailboxFull => "mailboxfull": "The mailbox is over its quota.",
    HostUnknown => "hostunknown": "The recipient's domain does not exist or has no mail host.",
    HasMoved => "hasmoved": "The recipient has moved to another address.",
    Suspend => "suspend": "The mailbox is disabled, suspended or inactive.",
    Filtered => "filtered": "The recipient (or its filter) refuses this mail.",
    Rejected => "rejected": "The envelope sender was refused.",
    Blocked => "blocked": "The sending IP address or host is blocked.",
    BadReputation => "badreputation": "The sending IP or domain has a poor reputation.",
    RequirePtr => "requireptr": "The sending IP has no (matching) reverse DNS.",
    AuthFailure => "authfailure": "SPF, DKIM or DMARC failed.",
    SecurityError => "securityerror": "SMTP authentication or TLS was required or failed.",
    NoRelaying => "norelaying": "Relaying was denied.",
    PolicyViolation => "policyviolation": "A local policy refused the message.",
    SpamDetected => "spamdetected": "The content was judged spam.",
    VirusDetected => "virusdetected": "The content carried a virus.",
    ContentError => "contenterror": "The content (MIME, encoding, attachments) was refused.",
    NotCompliantRfc => "notcompliantrfc": "The message does not follow RFC 5322 (headers, line ends).",
    MesgTooBig => "mesgtoobig": "The message is too big.",
    ExceedLimit => "exceedlimit": "The message exceeds an administrative limit.",
    Speeding => "speeding": "Too much mail too fast: a rate limit.",
    TooManyConn => "toomanyconn": "Too many connections at once.",
    Expired => "expired": "Delivery was retried until the queue gave up.",
    NetworkError => "networkerror": "DNS or network trouble on the way.",
    SystemError => "systemerror": "The receiving system failed or is misconfigured.",
    SystemFull => "systemfull": "The receiving system is out of disk space.",
    NotAccept => "notaccept": "The host accepts no mail at all (null MX, no SMTP service).",
    MailerError => "mailererror": "A local delivery program failed.",
    SyntaxError => "syntaxerror": "An SMTP command or parameter was refused as malformed.",
    Feedback => "feedback": "Not a bounce: an ARF feedback (abuse) report.",
    Vacation => "vacation": "Not a bounce: an auto-reply.",
    Undefined => "undefined": "The bounce does not say why.",
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl schemars::JsonSchema for Reason {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Reason".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let ids: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        schemars::json_schema!({
            "description": "Why delivery failed, in the Sisimai bounce parser's vocabulary (docs/reasons.md).",
            "type": "string",
            "enum": ids
        })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ordered: the first rule whose words appear wins, so the narrower readings come first (a
/// sender refused for an unknown domain is `rejected`, not `hostunknown`; a full mailbox is
/// not an unknown one).
const RULES: &[(Reason, &str)] = &[
    // Narrow phrases that later, broader rules would misread: a duplicated header (amavis
    // names it even when it calls the message UBE: the header is the concrete fault), "UBE"
    // (unsolicited bulk email), a blocklisted URL in the body.
    (
        Reason::NotCompliantRfc,
        r"duplicate header|multiple addresses in from",
    ),
    (
        Reason::SpamDetected,
        r"\bUBE\b|unsolicited bulk|blacklisted (url|uri|link|domain) in (the )?(message|body)",
    ),
    (
        Reason::SystemError,
        r"unable to contact ldap|ldap (server|lookup) (error|failed|failure|unavailable)",
    ),
    (
        Reason::VirusDetected,
        r"\bvirus|malware|infected (attachment|file|message)|trojan",
    ),
    (
        Reason::Rejected,
        r"sender (address )?(rejected|denied|refused|verify failed|verification)|(domain of )?sender address (does not exist|must exist|invalid|is not|unknown)|sender domain (must|does not|unknown|is not)|mail from (address )?(rejected|refused|denied|not allowed)|bad sender|sender (is )?(not allowed|blocked|unknown|invalid)|rejected .{0,20}sender\b|from address (is )?(not|rejected|invalid)|groups\.google\.com/support|not (have )?permission to post|may not post|not a member of (this|the) (mailing )?list|sending (to/)?from an address that has been (black|block)listed|(sender|your e-?mail) address has been (black|block)listed|from:? domain is invalid|provide a valid from\b|sending this from a different address or alias",
    ),
    (
        Reason::MailboxFull,
        r"mail ?box (is |was )?full|over ?quota|quota (exceeded|exceed|full|limit)|exceeded (its |the |their )?(storage|quota|mailbox)|(storage|disk) quota|mailbox (size )?(limit|quota) (exceeded|reached)|mail ?box (has )?exceeded|inbox is full|mail ?folder is full|not enough (space|storage) (in|on) (the )?(user|mailbox|account)|user'?s? (mailbox|storage|disk) (is )?(full|over)|insufficient (storage|space) (in|on|for) (the )?(mailbox|user|account)|account is full|full mailbox",
    ),
    (
        Reason::ExceedLimit,
        r"administrative limit|message length exceeds|exceeds? (the )?(recipient|per-message|local) limit",
    ),
    (
        Reason::MesgTooBig,
        r"(message|mail|email)( size)? (is )?(too (large|big)|exceeds)|size (limit )?exceed|exceeds (the )?(fixed )?maximum (message )?size|message size .{0,30}(limit|maximum|larger)|larger than .{0,30}(limit|allowed|maximum)|too big for",
    ),
    (
        Reason::HasMoved,
        r"has moved|moved permanently|no longer (at|with|uses?|available at) this address|changed (his|her|their) (e-?mail )?address",
    ),
    (
        Reason::Suspend,
        r"(account|mail ?box|user|address|recipient)( has been| is| was)? (temporarily )?(disabled|suspended|inactive|deactivated|frozen|locked|blocked by the administrator|not active|no longer active|expired)|(account|mail ?box|user|address|recipient)\b.{0,40}\b(is|was|has been) (temporarily )?(disabled|suspended|inactive|deactivated|frozen|locked)|(disabled|suspended|inactive|deactivated) (recipient|mail ?box|account|user|address)|account (has been |was |is )?(terminated|closed|cancell?ed)|mailbox (is )?(inactive|disabled)|\btemporar(y|ily) locked",
    ),
    (
        Reason::NoRelaying,
        r"relay(ing)? (access |is )?(denied|not permitted|not allowed|prohibited|disallowed|refused)|not permitted to relay|(unable|not allowed|cannot) (to )?relay|we do not relay|no relaying|relay not (permitted|allowed|authorized)|not a gateway|not (an )?open relay|relaying (mail )?(to .{0,40})?(is )?(denied|not)|email address is not verified",
    ),
    (
        Reason::RequirePtr,
        r"reverse (dns|lookup|mapping|hostname|name)|\bptr\b|\brdns\b|cannot find your (host ?name|reverse)|client host rejected: cannot find|no (matching )?host ?name for|hostname .{0,40}(not resolve|does not resolve|not found)|(ip|address) .{0,30}(has )?no (dns|host ?name|name)|not resolvable|unresolvable (ip|address|host)|ip name lookup failed|name lookup failed|mismatches client ip|does not match (the )?(client|connecting) ip|unverif(y|i)able sending ips?",
    ),
    (
        Reason::BadReputation,
        r"reputation|unusual rate of unsolicited|sender ?score|bad (ip|sender) standing|bulk sender|user complaints|unexpected volume",
    ),
    (
        Reason::AuthFailure,
        r"\bspf\b|\bdkim\b|\bdmarc\b|sender policy framework|domainkeys|not authenticated|unauthenticated (mail|email|message)|authentication (check|results?) (failed|failure)|fails? (the )?authentication|authorized sender|not designated as permitted|authentication information|fails? to pass (the )?authentication|sender is unauthenticated|requires all senders to authenticate",
    ),
    (
        Reason::Blocked,
        r"black ?list|block ?list|\bdnsbl\b|\brbl\b|(is |are |been |currently )listed (at|in|on|by)|listed (at|in|on|by) [a-z0-9.-]*(bl|spam|block|black)|spamhaus|spamcop|barracuda|sorbs|(client|your|sending) (host|ip|server|address|mta|domain).{0,60}(block|reject|refus|denied|banned|listed)|(ip|host) (address )?(is |has been )?(blocked|banned|blacklisted|rejected|refused|not allowed)|blocked (using|by|due|because|for)|connection (rejected|not accepted)|access denied for|banned|not allowed to send|poor reputation|dynamic (ip|address|pool)|residential|dial-?up|\bip\b.{0,40}(block|deny|denied)|smtp server of your isp|invalid ip for sending|no access from mail server|(is|being) an open relay|\bservice refused\b",
    ),
    (
        Reason::SecurityError,
        r"authentication (is )?required|auth(entication)? (failed|failure|required)|must (issue a )?starttls|starttls (is )?required|tls (is )?required|must use tls|encryption required|(certificate|tls|ssl) (verification |negotiation )?(failed|error|problem)|must authenticate|not authenticated to send|smtp auth|invalid credentials|password",
    ),
    (
        Reason::TooManyConn,
        r"too many (concurrent |simultaneous |smtp )?(connections|sessions|hosts)|connection (limit|count) (exceeded|reached)|maximum (number of )?(concurrent )?connections|too many connections from|connection rate|(connection|ip) frequency",
    ),
    (
        Reason::Speeding,
        r"rate limit|rate[- ]limited|(sending|message|receiving) rate|at a rate|too (many|much) (mail|messages|emails)|too fast|throttl|exceeded (the |your )?(message |sending )?(rate|limit|quota) (for|of)|frequency|(messages|mail) per (hour|minute|day)|slow down|try again (later|in)[^.]{0,40}(rate|many)|too many recipients (this|per|an?|in the) (hour|day|minute)",
    ),
    (
        Reason::SpamDetected,
        r"\bspam|junk mail|bulk (e-?)?mail|unsolicited|classified as (spam|junk)|content (was )?(rejected|refused) as|looks like spam|message (content )?(was )?(rejected|refused) (due to|because of|for) (its )?content|phish",
    ),
    (
        Reason::NotCompliantRfc,
        r"\b(not|non)[- ]?(rfc|standard|standards)[- ]?(2822|5322|5321)?[- ]?(compliant|conformant)|(violates|violation of|conform to|comply with) rfc ?(2822|5322|5321|822)|multiple addresses in from|duplicate (header|message-id)|multiple (from|to|subject|date|message-id|sender) (headers|fields)|(header|headers) (is |are )?(missing|invalid|malformed|not valid|too long)|(missing|duplicate|invalid) (required )?(header|message-id|date|from)|bare (lf|cr|linefeed)|line (too long|length)",
    ),
    (
        Reason::ContentError,
        r"(mime|attachment|encoding|character set|charset|media type|content type|file type|file extension).{0,40}(not|invalid|refused|rejected|prohibited|allowed|error|unsupported)|(prohibited|forbidden|blocked|dangerous) (attachment|file|content)|invalid (content|characters|8bit)|content (error|rejected)|8-?bit data|headers? too (large|long|many)|media error",
    ),
    (
        Reason::PolicyViolation,
        r"\bpolicy|policies|administrative prohibition|prohibited|violat|not allowed by|acceptable use|terms of service|header error",
    ),
    (
        Reason::UserUnknown,
        r"user unknown|unknown (user|recipient|mail ?box|address|local ?part|alias|account)|no such (user|mail ?box|recipient|address|account|person|local user|alias)|(user|mail ?box|recipient|address|account|addressee)( name)? (does not|doesn't|did not|does no longer) exist|(user|mail ?box|recipient|address|account|addressee|destination)( name| address)? (not found|unknown|invalid|not valid|not recognized|is not recognized|not listed|unavailable|not available|is unavailable)|invalid (recipient|mail ?box|address|user|account)|recipient (rejected|not found|address rejected: (user unknown|undeliverable|unknown|address))|not a (known|valid) (user|recipient|mail ?box)|no mail ?box|mail ?box (not|isn't|is not) (available|found|here|valid)|undeliverable address|not our customer|user not found|recipientnotfound|bad destination mail ?box|unknown or illegal alias|no valid recipients|is not a valid|account (that you tried to reach )?does not exist|does not have an? .{0,30}account|no (such )?account|address (is )?(unknown|not found|not exist)|invalid (final )?(delivery )?userid|not (listed|present) in (the )?[a-z ]{0,20}directory|recipient address rejected: access denied|check if (the )?(e-?mail )?address is correct",
    ),
    // A domain without MX: it exists (else NXDOMAIN, `hostunknown`) but names no host that
    // takes mail, Sisimai's `notaccept` as for a null MX.
    (
        Reason::NotAccept,
        r"no (valid )?mx( record)?s? (found|for|exists?)|no mx records?\b|mx (record )?not found|domain .{0,40}(has )?no (mx|mail ?(server|exchanger|host))",
    ),
    (
        Reason::HostUnknown,
        r"host (or domain name )?(not found|unknown)|host [a-z0-9-]+(\.[a-z0-9-]+)+ not found|unknown (host|domain)|domain (name )?(not found|does not exist|unknown|not valid|is not valid|lookup failed)|no such (domain|host)|(unrouteable|unroutable) (mail )?domain|mx (record )?lookup|nxdomain|host ?name (not found|unknown)|non-?existent (domain|host)|invalid domain|bad (destination )?domain|name or service not known|domain .{0,40}(has )?no (dns|a record)|unrouteable address|domain is not reachable|illegal host/domain",
    ),
    (
        Reason::Filtered,
        r"filter|recipient.?s? (preferences|settings)|(refused|rejected|blocked) by (the )?(recipient|user|addressee)|recipient .{0,30}(refuse|block|does not accept|not accepting)|not accepting (mail|messages|e-?mail) from|does not (want|accept) (mail|messages|e-?mail) from|rejected by (the )?recipient|only accepts? (mail|messages) from",
    ),
    (
        Reason::Expired,
        r"retry time(out)? (not reached|exceeded|expired)|(delivery|message|queue) (time |lifetime )?(has )?expired|timeout exceeded|giving up|gave up|too long in (the )?queue|could not be delivered (with)?in|(been )?(in (the )?queue|queued|undeliverable|delayed) for (more than |over )?[0-9]+|(delivery|message) (has been )?delayed|expired after|deferred for too long|retry timeout|time limit (exceeded|reached)|maximum (delivery|queue) time|will not be retried|delivery attempts? (will continue|has been suspended|failed for)|did not accept our requests to connect|will be retried for|have been failing for|not going to try again|in the queue too long|has not yet been delivered|delivery attempts? (have )?failed|failed [0-9]+ attempts|still undelivered|undelivered (for|after) [0-9]+|not (been )?delivered within|aborted after [0-9.]+ (hour|day|minute)|could not find a gateway",
    ),
    (
        Reason::NotAccept,
        r"(does not|doesn't|do not) accept (e-?mail|mail|messages)|not accepting (any )?(mail|messages|e-?mail)|null mx|no smtp service|accepts? no mail|mail (is )?not accepted|not configured to (accept|receive)",
    ),
    (
        Reason::SystemFull,
        r"(disk|file ?system|partition|spool|queue|server|system|storage) (is |space is )?(full|out of space|exhausted)|insufficient system (storage|resources)|no space left|out of disk|insufficient disk space|disk space",
    ),
    (
        Reason::NetworkError,
        r"malformed or unexpected name server reply|responded with code (noerror|servfail)|connection (timed out|refused|reset|closed|lost|dropped)|network (is )?unreachable|no route to host|timed out|time ?out|dns (error|failure|lookup|problem|server)|routing loop|too many hops|mail loop|loop detected|lookup (failure|failed|error)|temporary (dns|lookup|name) (failure|error)|(could not|unable to|cannot|failed to) (connect|establish|open)|connect to .{0,80}failed|not (responding|reachable)|i/o error|broken pipe|lost connection|host (is )?(down|unreachable)",
    ),
    (
        Reason::MailerError,
        r"mailer error|x-unix|\bpipe to |(program|command|procmail|maildrop|script) .{0,40}(failed|exited|error|returned)|exit (code|status)|delivery program",
    ),
    // Postfix's "refused to talk to me": the server turned this client away at the greeting,
    // whatever it says after (often only "Service not available").
    (Reason::Blocked, r"refused to talk to me"),
    (
        Reason::SystemError,
        r"system (error|failure|problem)|internal (system |server )?(error|failure)|server (error|failure)|local (delivery|error|configuration)|configuration (error|problem)|misconfigur|resources? (temporarily )?unavailable|service (is )?(currently |temporarily )?(unavailable|not available)|temporary (server |local )?(error|failure|problem)|(unexpected|unknown) error",
    ),
    (
        Reason::SyntaxError,
        r"syntax error|command (not )?(recognized|unrecognized|not implemented)|unrecognized command|bad sequence|invalid (command|parameter|argument)",
    ),
    // Last: the generic refusals, when nothing more specific was said after them.
    (
        Reason::Filtered,
        r"recipient address rejected|access denied",
    ),
];

/// [`RULES`] compiled (a unit test checks that every one compiles).
static TEXT_RULES: LazyLock<Vec<(Reason, Regex)>> = LazyLock::new(|| {
    RULES
        .iter()
        .filter_map(|(r, p)| Regex::new(&format!("(?i){p}")).ok().map(|re| (*r, re)))
        .collect()
});

/// Orange (`OFR006_102`, `LPN007_505`, `LPN416`): the three digits after the label.
static ORANGE_CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:ofr|lpn|ouk)[a-z]*[0-9]*_?([0-9]{3})\b").expect("static regex")
});
/// Cox (`AUP#CXBL`) and Charter/Spectrum (`AUP#In-1310`, `AUP#O-1000`).
static AUP_CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"AUP#(?:([A-Z]{2,}[0-9]*)\b|(?:I|O|In|Out)?-?([0-9]{4})\b)").expect("static regex")
});

/// The reason a provider's documented error code names, where the words around it are vague
/// ("Service refused, please try later. OFR005_505"). Tables from the providers' postmaster
/// pages (Orange, Cox, Spectrum), as Sisimai reads them.
pub fn from_provider_code(text: &str) -> Option<Reason> {
    if let Some(n) = ORANGE_CODE
        .captures(text)
        .and_then(|c| c.get(1)?.as_str().parse::<u16>().ok())
    {
        let r = match n {
            101 | 102 | 103 | 510 | 999 => Some(Reason::Blocked),
            104 => Some(Reason::TooManyConn),
            305 | 402 => Some(Reason::SecurityError),
            401 | 517 => Some(Reason::AuthFailure),
            403 | 405 | 415 | 421 => Some(Reason::Rejected),
            416 => Some(Reason::UserUnknown),
            417 => Some(Reason::MailboxFull),
            420 | 426 => Some(Reason::Suspend),
            505 => Some(Reason::SystemError),
            506 => Some(Reason::SpamDetected),
            514 => Some(Reason::MesgTooBig),
            630 => Some(Reason::PolicyViolation),
            _ => None,
        };
        if r.is_some() {
            return r;
        }
    }
    let c = AUP_CODE.captures(text)?;
    if let Some(cox) = c.get(1) {
        let code = cox.as_str();
        return match code {
            "CXBL" | "CDRBL" => Some(Reason::Blocked),
            "CXDNS" => Some(Reason::RequirePtr),
            "CXSNDR" => Some(Reason::AuthFailure),
            "CXSMTP" => Some(Reason::Rejected),
            "CXCNCT" | "CXMXRT" => Some(Reason::TooManyConn),
            "CXTHRT" | "CXMJ" => Some(Reason::SecurityError),
            _ if code.starts_with("IPBL") => Some(Reason::Blocked),
            _ if code.starts_with("URLBL") => Some(Reason::SpamDetected),
            _ => None,
        };
    }
    let n: u16 = c.get(2)?.as_str().parse().ok()?;
    Some(match n {
        1000 | 1200..=1250 => Reason::Blocked,
        1010 | 1020..=1080 | 1500 | 1520 => Reason::Rejected,
        1090 => Reason::SystemError,
        1100..=1150 => Reason::RequirePtr,
        1160..=1190 | 1560 => Reason::PolicyViolation,
        1260 => Reason::NetworkError,
        1300..=1340 => Reason::TooManyConn,
        1350..=1490 | 1540 | 1550 | 1580 => Reason::Speeding,
        1530 => Reason::MesgTooBig,
        _ => return None,
    })
}

/// The reason the server's words give, if any rule recognises them.
pub fn from_text(text: &str) -> Option<Reason> {
    TEXT_RULES
        .iter()
        .find(|(_, re)| re.is_match(text))
        .map(|(r, _)| *r)
}

/// The reason a situation implies, when the text said nothing recognisable.
pub fn from_situation(s: SituationId) -> Option<Reason> {
    use SituationId as S;
    Some(match s {
        S::MailboxUnknown | S::MailboxUnknownTransient | S::BadAddressSyntax => Reason::UserUnknown,
        S::BadDestinationDomain => Reason::HostUnknown,
        S::MailboxFull => Reason::MailboxFull,
        S::SystemStorage => Reason::SystemFull,
        S::MessageTooBig => Reason::MesgTooBig,
        S::MailboxDisabled => Reason::Suspend,
        S::MailboxMoved => Reason::HasMoved,
        S::Blocklisted => Reason::Blocked,
        S::ReverseDns => Reason::RequirePtr,
        S::DmarcAuthFailure => Reason::AuthFailure,
        S::SmtpAuthFailure
        | S::TlsRequired
        | S::TlsUnavailable
        | S::CryptoFailure
        | S::SecurityOther => Reason::SecurityError,
        S::RelayDenied => Reason::NoRelaying,
        S::PolicyRejection | S::PolicyDeferral => Reason::PolicyViolation,
        S::SpamContent => Reason::SpamDetected,
        S::RateLimited | S::RecipientRateLimited | S::ProviderDeferral => Reason::Speeding,
        S::ConnectionLimit => Reason::TooManyConn,
        S::DeliveryExpired => Reason::Expired,
        S::NoAnswer
        | S::ConnectionDropped
        | S::TransportUnavailable
        | S::UnableToRoute
        | S::RoutingLoop
        | S::Congestion
        | S::DnsRoutingFailure => Reason::NetworkError,
        S::SystemUnavailable
        | S::ServiceUnavailable
        | S::MailSystemOther
        | S::SystemMisconfigured
        | S::MailboxBusy => Reason::SystemError,
        S::NullMxRecipient | S::NoSmtpService => Reason::NotAccept,
        S::BadSenderDomain | S::NullMxSender => Reason::Rejected,
        S::ProtocolError | S::FeatureUnsupported => Reason::SyntaxError,
        S::TooManyRecipients => Reason::ExceedLimit,
        S::MediaError => Reason::ContentError,
        S::Success => Reason::Delivered,
        _ => return None,
    })
}

/// The reason the enhanced code alone implies (RFC 3463's subjects and details).
pub fn from_enhanced(e: EnhancedCode) -> Option<Reason> {
    Some(match (e.subject, e.detail) {
        (1, 1) | (1, 3) | (1, 4) | (1, 10) => Reason::UserUnknown,
        (1, 2) => Reason::HostUnknown,
        (1, 6) => Reason::HasMoved,
        (1, 7) | (1, 8) => Reason::Rejected,
        (2, 1) => Reason::Suspend,
        (2, 2) => Reason::MailboxFull,
        (2, 3) => Reason::ExceedLimit,
        (3, 1) => Reason::SystemFull,
        (3, 4) => Reason::MesgTooBig,
        (3, _) => Reason::SystemError,
        (4, 7) => Reason::Expired,
        (4, _) => Reason::NetworkError,
        (5, _) => Reason::SyntaxError,
        (6, _) => Reason::ContentError,
        (7, 1) => Reason::Blocked,
        (7, 23) | (7, 24) | (7, 25) | (7, 26) | (7, 27) => Reason::AuthFailure,
        (7, _) => Reason::SecurityError,
        _ => return None,
    })
}

/// The reason for one reply: a provider's documented code, then its words (they name the
/// cause when codes are generic), then the situation mxray recognised, then the enhanced
/// code; a success is `delivered`.
pub fn reason(
    enhanced: Option<EnhancedCode>,
    class: Option<Class>,
    situation: SituationId,
    text: &str,
) -> Reason {
    if class == Some(Class::Success) {
        return Reason::Delivered;
    }
    // A provider's own code names its reason more exactly than its words.
    if let Some(r) = from_provider_code(text) {
        return r;
    }
    // A specific enhanced code outranks loose words about the same failure only where the
    // code is unambiguous: a mailbox that does not exist, a full one, a moved one.
    if let Some(e) = enhanced
        && matches!((e.subject, e.detail), (1, 1) | (2, 2) | (1, 6) | (3, 4))
        && from_text(text)
            .is_none_or(|r| matches!(r, Reason::PolicyViolation | Reason::SystemError))
    {
        return from_enhanced(e).unwrap_or(Reason::Undefined);
    }
    // X.1.6 says the mailbox moved, whatever else the words say about the address.
    if let Some(e) = enhanced
        && (e.subject, e.detail) == (1, 6)
    {
        return Reason::HasMoved;
    }
    let words = from_text(text);
    // X.2.3 is a per-recipient size limit ("RecipSizeLimit; message too large for this
    // recipient"): an administrative limit, not the message's size as such.
    if words == Some(Reason::MesgTooBig)
        && enhanced.is_some_and(|e| (e.subject, e.detail) == (2, 3))
    {
        return Reason::ExceedLimit;
    }
    // A domain that did not resolve, said as temporary (4.x.x): the sender's MTA is not sure
    // it does not exist, so DNS trouble on the way, not an unknown host.
    if words == Some(Reason::HostUnknown) && class == Some(Class::Transient) {
        return Reason::NetworkError;
    }
    // "User unknown" under a policy code (X.7.x): a filter hiding behind the words, as some
    // gateways and carriers' domain filters answer.
    if words == Some(Reason::UserUnknown)
        && let Some(e) = enhanced
        && e.subject == 7
    {
        return Reason::Filtered;
    }
    words
        .or_else(|| from_situation(situation))
        .or_else(|| enhanced.and_then(from_enhanced))
        .unwrap_or(Reason::Undefined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(TEXT_RULES.len(), RULES.len());
    }

    #[test]
    fn words_decide_in_order() {
        for (text, want) in [
            ("User unknown in local recipient table", Reason::UserUnknown),
            (
                "Sender address rejected: Domain not found",
                Reason::Rejected,
            ),
            ("Host or domain name not found", Reason::HostUnknown),
            ("Mailbox is full / over quota", Reason::MailboxFull),
            (
                "Client host rejected: cannot find your hostname",
                Reason::RequirePtr,
            ),
            (
                "Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org",
                Reason::Blocked,
            ),
            ("Relay access denied", Reason::NoRelaying),
            ("retry timeout exceeded", Reason::Expired),
            (
                "The email account that you tried to reach is disabled",
                Reason::Suspend,
            ),
            (
                "Message size exceeds fixed maximum message size",
                Reason::MesgTooBig,
            ),
            ("SPF check failed", Reason::AuthFailure),
            ("No MX found for domain", Reason::NotAccept),
            (
                "DNS lookup failure: host cx.example.org not found",
                Reason::HostUnknown,
            ),
            (
                "5.4.1 Recipient address rejected: Access denied",
                Reason::UserUnknown,
            ),
            (
                "User some.name (a@example.jp) not listed in Domino Directory",
                Reason::UserUnknown,
            ),
            (
                "You are not a member of this mailing list",
                Reason::Rejected,
            ),
            (
                "Recipient address rejected: User a@example.com temporary locked.",
                Reason::Suspend,
            ),
            (
                "service permits 2 unverifyable sending IPs - mx.example.com is not 192.0.2.2",
                Reason::RequirePtr,
            ),
        ] {
            assert_eq!(from_text(text), Some(want), "{text}");
        }
    }

    #[test]
    fn provider_codes_name_their_reason() {
        for (text, want) in [
            (
                "Service refuse. Service refused, please try later. OFR005_505 [505]",
                Some(Reason::SystemError),
            ),
            (
                "Mail rejete. Mail rejected. ofr_506 [506]",
                Some(Reason::SpamDetected),
            ),
            ("Invalid recipient. LPN416", Some(Reason::UserUnknown)),
            (
                "Client host rejected: #216 lpn LPN000_630",
                Some(Reason::PolicyViolation),
            ),
            ("sender rejected. AUP#CDRBL", Some(Reason::Blocked)),
            ("sender rejected. AUP#In-1310", Some(Reason::TooManyConn)),
            ("AUP#O-1000", Some(Reason::Blocked)),
            ("User unknown", None),
        ] {
            assert_eq!(from_provider_code(text), want, "{text}");
        }
    }

    #[test]
    fn a_per_recipient_size_limit_is_an_administrative_limit() {
        let e = EnhancedCode::parse("5.2.3");
        assert_eq!(
            reason(
                e,
                Some(Class::Permanent),
                SituationId::MessageTooBig,
                "RESOLVER.RST.RecipSizeLimit; message too large for this recipient"
            ),
            Reason::ExceedLimit
        );
    }

    #[test]
    fn every_reason_round_trips() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(*r));
        }
    }
}
