//! The IANA "Simple Mail Transfer Protocol (SMTP) Enhanced Status Codes" registry, as data.
//! Class, subject and enumerated status codes (RFC 3463, RFC 5248 and every later registration).
//!
//! Transcribed on 2026-11-24 from the registry at
//! <https://www.iana.org/assignments/smtp-enhanced-status-codes>, complete through its latest
//! registrations: X.7.29 (RFC 8617, ARC) and X.7.30 (RFC 8689, REQUIRETLS), with X.6.10 marked
//! deprecated and X.7.28 (draft-levine-mailbomb-header). `REGISTRY_DATE` records that snapshot.
//! Descriptions are condensed from the registry's own text; `basic` is its "associated basic
//! status code" column, verbatim.

/// The date this table was checked against the IANA registry.
pub const REGISTRY_DATE: &str = "2026-11-24";

/// One enumerated code `X.subject.detail` of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryEntry {
    pub subject: u16,
    pub detail: u16,
    /// The registry's "sample text".
    pub title: &'static str,
    /// The registry's "associated basic status code" column.
    pub basic: &'static str,
    pub description: &'static str,
    pub reference: &'static str,
    /// The registry marks this entry deprecated.
    pub deprecated: bool,
}

/// A class sub-code (`2.XXX.YYY`, `4.XXX.YYY`, `5.XXX.YYY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassEntry {
    pub class: u8,
    pub title: &'static str,
    pub description: &'static str,
}

/// A subject sub-code (`X.N.YYY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectEntry {
    pub subject: u16,
    pub title: &'static str,
    pub description: &'static str,
}

pub const CLASSES: &[ClassEntry] = &[
    ClassEntry {
        class: 2,
        title: "Success",
        description: "The DSN reports a positive delivery action.",
    },
    ClassEntry {
        class: 4,
        title: "Persistent Transient Failure",
        description: "The message as sent is valid, but a temporary condition stopped or delayed delivery; sending again later may succeed.",
    },
    ClassEntry {
        class: 5,
        title: "Permanent Failure",
        description: "Resending the message in its current form will not succeed; the message or the destination must change.",
    },
];

pub const SUBJECTS: &[SubjectEntry] = &[
    SubjectEntry {
        subject: 0,
        title: "Other or Undefined Status",
        description: "No additional subject information is available.",
    },
    SubjectEntry {
        subject: 1,
        title: "Addressing Status",
        description: "Something about the originator or destination address: its syntax or validity. Usually correctable by the sender.",
    },
    SubjectEntry {
        subject: 2,
        title: "Mailbox Status",
        description: "The destination mailbox: it exists, but something about it (full, disabled, list expansion) caused this status.",
    },
    SubjectEntry {
        subject: 3,
        title: "Mail System Status",
        description: "The destination mail system: it exists and normally accepts mail, but something about the system caused this status.",
    },
    SubjectEntry {
        subject: 4,
        title: "Network and Routing Status",
        description: "The network or routing between sender and destination: connections, DNS, routing, congestion, timeouts.",
    },
    SubjectEntry {
        subject: 5,
        title: "Mail Delivery Protocol Status",
        description: "The SMTP conversation itself: commands, syntax, arguments, protocol versions.",
    },
    SubjectEntry {
        subject: 6,
        title: "Message Content or Media Status",
        description: "The message content or its media types, and conversions along the way.",
    },
    SubjectEntry {
        subject: 7,
        title: "Security or Policy Status",
        description: "Security or policy: authorisation, authentication (SPF, DKIM, DMARC, rDNS), encryption, reputation.",
    },
];

macro_rules! entries {
    ($( ($s:literal, $d:literal, $title:literal, $basic:literal, $reference:literal, $desc:literal $(, $dep:ident)?) ),* $(,)?) => {
        &[ $( RegistryEntry {
            subject: $s,
            detail: $d,
            title: $title,
            basic: $basic,
            description: $desc,
            reference: $reference,
            deprecated: entries!(@dep $($dep)?),
        } ),* ]
    };
    (@dep) => { false };
    (@dep deprecated) => { true };
}

/// Every enumerated code of the registry, in registry order.
pub const ENTRIES: &[RegistryEntry] = entries![
    (
        0,
        0,
        "Other undefined Status",
        "Any",
        "RFC 3463",
        "The only undefined error code; used for every error of which only the class is known."
    ),
    (
        1,
        0,
        "Other address status",
        "Not given",
        "RFC 3463",
        "Something about the address specified in the message caused this DSN."
    ),
    (
        1,
        1,
        "Bad destination mailbox address",
        "451, 550",
        "RFC 3463",
        "The mailbox specified in the address does not exist: the part left of the @ is invalid. Only useful for permanent failures."
    ),
    (
        1,
        2,
        "Bad destination system address",
        "Not given",
        "RFC 3463",
        "The destination system in the address does not exist or cannot accept mail: the part right of the @ is invalid for mail. Only useful for permanent failures."
    ),
    (
        1,
        3,
        "Bad destination mailbox address syntax",
        "501",
        "RFC 3463",
        "The destination address was syntactically invalid. Only useful for permanent failures."
    ),
    (
        1,
        4,
        "Destination mailbox address ambiguous",
        "Not given",
        "RFC 3463",
        "The mailbox address matches more than one recipient on the destination system."
    ),
    (
        1,
        5,
        "Destination address valid",
        "250",
        "RFC 3463",
        "The mailbox address was valid. Used for positive delivery reports."
    ),
    (
        1,
        6,
        "Destination mailbox has moved, No forwarding address",
        "Not given",
        "RFC 3463",
        "The address was once valid but mail is no longer accepted for it. Only useful for permanent failures."
    ),
    (
        1,
        7,
        "Bad sender's mailbox address syntax",
        "Not given",
        "RFC 3463",
        "The sender's address was syntactically invalid."
    ),
    (
        1,
        8,
        "Bad sender's system address",
        "451, 501",
        "RFC 3463",
        "The sender's domain does not exist or cannot accept return mail."
    ),
    (
        1,
        9,
        "Message relayed to non-compliant mailer",
        "Not given",
        "RFC 3886",
        "The mailbox was valid, but the message was relayed to a system that does not speak this protocol; no further information can be given."
    ),
    (
        1,
        10,
        "Recipient address has null MX",
        "556",
        "RFC 7505, RFC 7504",
        "The recipient's domain publishes a null MX: it accepts no mail at all."
    ),
    (
        2,
        0,
        "Other or undefined mailbox status",
        "Not given",
        "RFC 3463",
        "The mailbox exists, but something about it caused this DSN."
    ),
    (
        2,
        1,
        "Mailbox disabled, not accepting messages",
        "Not given",
        "RFC 3463",
        "The mailbox exists but is not accepting messages; permanent if it will never be re-enabled, transient if disabled temporarily."
    ),
    (
        2,
        2,
        "Mailbox full",
        "552",
        "RFC 3463",
        "The user exceeded a per-mailbox quota or physical capacity; the recipient can make room. Meant as a persistent transient failure."
    ),
    (
        2,
        3,
        "Message length exceeds administrative limit",
        "552",
        "RFC 3463",
        "A per-mailbox message size limit, lower than the system limit, was exceeded. A permanent failure."
    ),
    (
        2,
        4,
        "Mailing list expansion problem",
        "450, 452",
        "RFC 3463",
        "The mailbox is a mailing list that could not be expanded."
    ),
    (
        3,
        0,
        "Other or undefined mail system status",
        "221, 250, 421, 451, 550, 554",
        "RFC 3463",
        "The destination system exists and normally accepts mail, but something about the system caused this DSN."
    ),
    (
        3,
        1,
        "Mail system full",
        "452",
        "RFC 3463",
        "The mail system's storage is exhausted; the recipient cannot free it. A persistent transient error."
    ),
    (
        3,
        2,
        "System not accepting network messages",
        "453, 521",
        "RFC 3463, RFC 7504",
        "The host is not accepting messages: imminent shutdown, excessive load or maintenance."
    ),
    (
        3,
        3,
        "System not capable of selected features",
        "Not given",
        "RFC 3463",
        "Features requested for the message are not supported by the destination system."
    ),
    (
        3,
        4,
        "Message too big for system",
        "552, 554",
        "RFC 3463",
        "The message exceeds the per-message size limit. A permanent error."
    ),
    (
        3,
        5,
        "System incorrectly configured",
        "Not given",
        "RFC 3463",
        "The system is not configured in a way that permits it to accept this message."
    ),
    (
        3,
        6,
        "Requested priority was changed",
        "250, 251",
        "RFC 6710",
        "Accepted, but the requested priority was not honoured; the new priority follows the code."
    ),
    (
        4,
        0,
        "Other or undefined network or routing status",
        "Not given",
        "RFC 3463",
        "Something went wrong with networking or routing, and no more specific code says what."
    ),
    (
        4,
        1,
        "No answer from host",
        "451",
        "RFC 3463",
        "The outbound connection attempt was not answered: the remote system was busy or could not take the call. A persistent transient error."
    ),
    (
        4,
        2,
        "Bad connection",
        "421",
        "RFC 3463",
        "The connection was established but the transaction could not complete: a timeout or poor connection quality. A persistent transient error."
    ),
    (
        4,
        3,
        "Directory server failure",
        "451, 550",
        "RFC 3463",
        "The message could not be forwarded because a directory server (for example DNS) was unavailable. A persistent transient error."
    ),
    (
        4,
        4,
        "Unable to route",
        "Not given",
        "RFC 3463",
        "The next hop could not be determined because routing information was unavailable, for example a DNS answer with only an SOA record."
    ),
    (
        4,
        5,
        "Mail system congestion",
        "451",
        "RFC 3463",
        "The mail system was congested. A persistent transient error."
    ),
    (
        4,
        6,
        "Routing loop detected",
        "Not given",
        "RFC 3463",
        "A routing loop forwarded the message too many times: bad routing tables or a user forwarding loop."
    ),
    (
        4,
        7,
        "Delivery time expired",
        "Not given",
        "RFC 3463",
        "The message was too old: it stayed queued too long or its time-to-live ran out."
    ),
    (
        5,
        0,
        "Other or undefined protocol status",
        "220, 250, 251, 252, 253, 451, 452, 454, 458, 459, 501, 502, 503, 554",
        "RFC 3463",
        "Something was wrong with the protocol to the next hop, and no more specific code says what."
    ),
    (
        5,
        1,
        "Invalid command",
        "430, 500, 501, 503, 530, 550, 554, 555",
        "RFC 3463",
        "A command was out of sequence or unsupported. A permanent error."
    ),
    (
        5,
        2,
        "Syntax error",
        "500, 501, 502, 550, 555",
        "RFC 3463",
        "A command could not be interpreted: wrong syntax or unrecognised. A permanent error."
    ),
    (
        5,
        3,
        "Too many recipients",
        "451",
        "RFC 3463",
        "More recipients than the protocol could deliver in one transaction; the rest should be sent in a later transaction."
    ),
    (
        5,
        4,
        "Invalid command arguments",
        "451, 501, 502, 503, 504, 550, 555",
        "RFC 3463",
        "A valid command had invalid arguments: out of range or unrecognised features. A permanent error."
    ),
    (
        5,
        5,
        "Wrong protocol version",
        "Not given",
        "RFC 3463",
        "A protocol version mismatch could not be resolved automatically."
    ),
    (
        5,
        6,
        "Authentication Exchange line is too long",
        "500",
        "RFC 4954",
        "An AUTH response from the client was longer than the SASL mechanism's buffer."
    ),
    (
        6,
        0,
        "Other or undefined media error",
        "Not given",
        "RFC 3463",
        "Something about the content made the message undeliverable, and no more specific code says what."
    ),
    (
        6,
        1,
        "Media not supported",
        "Not given",
        "RFC 3463",
        "The message's media is not supported by the delivery protocol or the next system. A permanent error."
    ),
    (
        6,
        2,
        "Conversion required and prohibited",
        "Not given",
        "RFC 3463",
        "The content must be converted before delivery and conversion is not permitted."
    ),
    (
        6,
        3,
        "Conversion required but not supported",
        "554",
        "RFC 3463",
        "The content must be converted and no host on the path can do it, for example 8bit to 7bit."
    ),
    (
        6,
        4,
        "Conversion with loss performed",
        "250",
        "RFC 3463",
        "Delivered, but a conversion lost some data."
    ),
    (
        6,
        5,
        "Conversion Failed",
        "Not given",
        "RFC 3463",
        "A required conversion was attempted and failed."
    ),
    (
        6,
        6,
        "Message content not available",
        "554",
        "RFC 4468",
        "The message content could not be fetched from a remote system (BURL)."
    ),
    (
        6,
        7,
        "Non-ASCII addresses not permitted for that sender/recipient",
        "553, 550",
        "RFC 6531",
        "A MAIL or RCPT command used a non-ASCII address that is not permitted here."
    ),
    (
        6,
        8,
        "UTF-8 string reply is required, but not permitted by the SMTP client",
        "252, 553, 550",
        "RFC 6531",
        "A reply needs UTF-8 to show the mailbox name, but the client did not permit UTF-8 replies."
    ),
    (
        6,
        9,
        "UTF-8 header message cannot be transferred to one or more recipients, so the message must be rejected",
        "550",
        "RFC 6531",
        "The transaction failed after the final dot of DATA: a UTF-8 header message cannot reach some recipients."
    ),
    (
        6,
        10,
        "Duplicate of X.6.8 (deprecated)",
        "Not given",
        "RFC 6531",
        "A duplicate of X.6.8, deprecated by the registry.",
        deprecated
    ),
    (
        7,
        0,
        "Other or undefined security status",
        "220, 235, 450, 454, 500, 501, 503, 504, 530, 535, 550",
        "RFC 3463",
        "Something security-related caused the status, and no more specific code says what (or policy forbids saying more)."
    ),
    (
        7,
        1,
        "Delivery not authorized, message refused",
        "451, 454, 502, 503, 533, 550, 551",
        "RFC 3463",
        "The sender is not authorised to send to the destination: per-host or per-recipient filtering."
    ),
    (
        7,
        2,
        "Mailing list expansion prohibited",
        "550",
        "RFC 3463",
        "The sender is not authorised to send to this mailing list."
    ),
    (
        7,
        3,
        "Security conversion required but not possible",
        "Not given",
        "RFC 3463",
        "Delivery needed a conversion between secure messaging protocols that was not possible."
    ),
    (
        7,
        4,
        "Security features not supported",
        "504",
        "RFC 3463",
        "The message used security features (such as secure authentication) that the delivery protocol cannot support."
    ),
    (
        7,
        5,
        "Cryptographic failure",
        "Not given",
        "RFC 3463",
        "A system authorised to validate or decrypt the message could not: a key was missing or invalid."
    ),
    (
        7,
        6,
        "Cryptographic algorithm not supported",
        "Not given",
        "RFC 3463",
        "A system authorised to validate or decrypt the message does not support the algorithm."
    ),
    (
        7,
        7,
        "Message integrity failure",
        "Not given",
        "RFC 3463",
        "The message could not be validated because it was corrupted or altered."
    ),
    (
        7,
        8,
        "Authentication credentials invalid",
        "535, 554",
        "RFC 4954",
        "AUTH failed: invalid or insufficient credentials."
    ),
    (
        7,
        9,
        "Authentication mechanism is too weak",
        "534",
        "RFC 4954",
        "The AUTH mechanism chosen is weaker than the server's policy allows for this user."
    ),
    (
        7,
        10,
        "Encryption Needed",
        "523",
        "RFC 5248",
        "An external privacy layer such as TLS is needed to use the requested authentication mechanism."
    ),
    (
        7,
        11,
        "Encryption required for requested authentication mechanism",
        "524, 538",
        "RFC 4954",
        "The AUTH mechanism may only be used over an encrypted connection."
    ),
    (
        7,
        12,
        "A password transition is needed",
        "422, 432",
        "RFC 4954",
        "The user must authenticate once with PLAIN to transition to the selected mechanism."
    ),
    (
        7,
        13,
        "User Account Disabled",
        "525",
        "RFC 5248",
        "Authentication succeeded but the account is disabled (payment, abuse, break-in); permanent until an administrator re-enables it."
    ),
    (
        7,
        14,
        "Trust relationship required",
        "535, 554",
        "RFC 5248",
        "The submission server needs a configured trust relationship with a third-party server to fetch the content."
    ),
    (
        7,
        15,
        "Priority Level is too low",
        "450, 550 (other 4XX or 5XX codes are allowed)",
        "RFC 6710",
        "The message priority is below the lowest the server accepts now."
    ),
    (
        7,
        16,
        "Message is too big for the specified priority",
        "552 (other 4XX or 5XX codes are allowed)",
        "RFC 6710",
        "The message is too big for its priority level."
    ),
    (
        7,
        17,
        "Mailbox owner has changed",
        "5XX",
        "RFC 7293",
        "Require-Recipient-Valid-Since: the mailbox has not been continuously owned since the given date."
    ),
    (
        7,
        18,
        "Domain owner has changed",
        "5XX",
        "RFC 7293",
        "Require-Recipient-Valid-Since: the recipient's domain changed owner since the given date."
    ),
    (
        7,
        19,
        "RRVS test cannot be completed",
        "5XX",
        "RFC 7293",
        "Require-Recipient-Valid-Since could not be evaluated because the needed timestamp was not recorded."
    ),
    (
        7,
        20,
        "No passing DKIM signature found",
        "550",
        "RFC 7372, RFC 6376",
        "The message carried no passing DKIM signature."
    ),
    (
        7,
        21,
        "No acceptable DKIM signature found",
        "550",
        "RFC 7372, RFC 6376",
        "The message had passing DKIM signatures, but none acceptable to the receiver."
    ),
    (
        7,
        22,
        "No valid author-matched DKIM signature found",
        "550",
        "RFC 7372, RFC 6376",
        "No passing DKIM signature's domain matches the author (From:) domain."
    ),
    (
        7,
        23,
        "SPF validation failed",
        "550",
        "RFC 7372, RFC 7208",
        "SPF gave a fail result, contrary to local policy; used instead of 5.7.1."
    ),
    (
        7,
        24,
        "SPF validation error",
        "451, 550",
        "RFC 7372, RFC 7208",
        "SPF evaluation ended in an error (temperror or permerror); used instead of 4.4.3 or 5.5.2."
    ),
    (
        7,
        25,
        "Reverse DNS validation failed",
        "550",
        "RFC 7372, RFC 7601",
        "The client's IP address failed a reverse DNS check (missing PTR or PTR/A mismatch)."
    ),
    (
        7,
        26,
        "Multiple authentication checks failed",
        "550",
        "RFC 7372",
        "The message failed more than one authentication check (for example SPF and DKIM, hence DMARC)."
    ),
    (
        7,
        27,
        "Sender address has null MX",
        "550",
        "RFC 7505",
        "The sender's domain publishes a null MX, so it could not receive a bounce; the receiver refuses such senders."
    ),
    (
        7,
        28,
        "Mail flood detected",
        "Not given",
        "draft-levine-mailbomb-header",
        "The message appears to be part of a flood of similar abusive messages."
    ),
    (
        7,
        29,
        "ARC validation failure",
        "550",
        "RFC 8617",
        "The message failed ARC (Authenticated Received Chain) validation."
    ),
    (
        7,
        30,
        "REQUIRETLS support required",
        "550",
        "RFC 8689",
        "The message requires REQUIRETLS and no server it should be forwarded to supports it."
    ),
];

/// The registry entry for `X.subject.detail`, if the registry lists one.
pub fn lookup(subject: u16, detail: u16) -> Option<&'static RegistryEntry> {
    ENTRIES
        .iter()
        .find(|e| e.subject == subject && e.detail == detail)
}

pub fn class_entry(class: u8) -> Option<&'static ClassEntry> {
    CLASSES.iter().find(|c| c.class == class)
}

pub fn subject_entry(subject: u16) -> Option<&'static SubjectEntry> {
    SUBJECTS.iter().find(|s| s.subject == subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_complete_and_unique() {
        // Detail counts per subject as the registry lists them (X.0.0 .. X.7.30).
        let expected = [
            (0, 1),
            (1, 11),
            (2, 5),
            (3, 7),
            (4, 8),
            (5, 7),
            (6, 11),
            (7, 31),
        ];
        for (subject, count) in expected {
            let have = ENTRIES.iter().filter(|e| e.subject == subject).count();
            assert_eq!(have, count, "subject {subject}");
            for detail in 0..count as u16 {
                assert!(lookup(subject, detail).is_some(), "X.{subject}.{detail}");
            }
        }
        assert_eq!(ENTRIES.len(), 81);
    }
}
