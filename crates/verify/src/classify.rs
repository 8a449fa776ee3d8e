//! The verdict mapping, as one pure function over an SMTP reply: the knowledge base names the
//! situation; this module decides what it means for an address (docs/verify.md has the table).

use std::sync::LazyLock;
use std::time::Duration;

use mxray_core::{Class, SituationId as S, explain};
use mxray_net::Reply;
use regex::Regex;

use crate::model::{Reason, Verdict};

/// What a reply to RCPT TO (or MAIL FROM) means for the address and for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the server takes mail for the address.
    Accepted,
    /// A permanent answer that decides.
    Final(Verdict, Reason),
    /// A temporary answer: ask again later (after the server's hint, if it gave one).
    Retry(Reason, Option<Duration>),
    /// 452 4.5.3: too many recipients in this transaction; the address goes in the next one.
    TooManyRecipients,
    /// 421: the server is closing the session; the address waits for another one.
    SessionClosing(Reason),
}

static HINT_CLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{1,2}):(\d{2}):(\d{2})\b").expect("static regex"));
static HINT_UNITS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:in|after|wait|retry|for)\s+(\d{1,5})\s*(s|secs?|seconds?|m|mins?|minutes?|h|hours?)\b")
        .expect("static regex")
});

/// The delay a greylisting or throttling server asks for, when its text says one:
/// "come back in 00:05:00", "try again in 5 minutes", "after 300 seconds".
pub fn retry_hint(text: &str) -> Option<Duration> {
    if let Some(c) = HINT_CLOCK.captures(text) {
        let n = |i: usize| {
            c.get(i)
                .and_then(|m| m.as_str().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let secs = n(1) * 3600 + n(2) * 60 + n(3);
        if secs > 0 {
            return Some(Duration::from_secs(secs));
        }
    }
    let c = HINT_UNITS.captures(text)?;
    let n: u64 = c.get(1)?.as_str().parse().ok()?;
    let unit = c.get(2)?.as_str().to_ascii_lowercase();
    let secs = match unit.chars().next()? {
        's' => n,
        'm' => n * 60,
        'h' => n * 3600,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Classifies a reply to RCPT TO.
pub fn classify_rcpt(reply: &Reply) -> Outcome {
    let raw = reply.raw();
    let Ok(e) = explain(&raw) else {
        return Outcome::Retry(Reason::Deferred, None);
    };
    let permanent = e.class == Some(Class::Permanent);
    if e.class == Some(Class::Success) {
        return Outcome::Accepted;
    }
    let enhanced = e.enhanced_code.map(|c| (c.subject, c.detail));
    if reply.code == 452 && (enhanced == Some((5, 3)) || e.situation == S::TooManyRecipients) {
        return Outcome::TooManyRecipients;
    }
    let situation = e.situation;
    let throttled = matches!(
        situation,
        S::RateLimited | S::ConnectionLimit | S::ProviderDeferral
    );
    if reply.code == 421 {
        return Outcome::SessionClosing(if throttled {
            Reason::RateLimited
        } else {
            Reason::ServerUnavailable
        });
    }
    let hint = retry_hint(&e.text);
    if !permanent {
        let reason = match situation {
            S::Greylisted | S::TemporaryDeferral if reply.code == 450 || reply.code == 451 => {
                Reason::Greylisted
            }
            _ if throttled => Reason::RateLimited,
            S::MailboxFull | S::SystemStorage if enhanced != Some((3, 1)) => Reason::MailboxFull,
            S::Blocklisted | S::DmarcAuthFailure | S::ReverseDns | S::PolicyDeferral => {
                Reason::BlockedByRecipient
            }
            S::TlsRequired => Reason::TlsRequired,
            _ => Reason::Deferred,
        };
        return Outcome::Retry(reason, hint);
    }
    let (verdict, reason) = match situation {
        S::MailboxUnknown | S::BadDestinationDomain | S::MailboxMoved | S::BadAddressSyntax => {
            (Verdict::Undeliverable, Reason::MailboxUnknown)
        }
        S::MailboxDisabled => (Verdict::Undeliverable, Reason::MailboxDisabled),
        S::MailboxFull => (Verdict::Risky, Reason::MailboxFull),
        S::NullMxRecipient => (Verdict::Undeliverable, Reason::NullMx),
        S::TlsRequired => (Verdict::Unknown, Reason::TlsRequired),
        S::Blocklisted
        | S::PolicyRejection
        | S::DmarcAuthFailure
        | S::ReverseDns
        | S::SpamContent
        | S::SecurityOther
        | S::SmtpAuthFailure
        | S::NoSmtpService
        | S::RateLimited
        | S::NullMxSender => (Verdict::Unknown, Reason::BlockedByRecipient),
        S::RelayDenied => (Verdict::Unknown, Reason::Rejected),
        // A 5.1.x code always speaks about the address, whatever the text.
        _ if enhanced.is_some_and(|(s, _)| s == 1) => {
            (Verdict::Undeliverable, Reason::MailboxUnknown)
        }
        _ if enhanced.is_some_and(|(s, _)| s == 7) => {
            (Verdict::Unknown, Reason::BlockedByRecipient)
        }
        _ => (Verdict::Unknown, Reason::Rejected),
    };
    Outcome::Final(verdict, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![text.to_string()],
            elapsed_ms: 0,
        }
    }

    #[test]
    fn the_documented_mapping() {
        use Outcome::*;
        let cases = [
            (250, "2.1.5 Ok", Accepted),
            (
                550,
                "5.1.1 <x@y>: Recipient address rejected: User unknown",
                Final(Verdict::Undeliverable, Reason::MailboxUnknown),
            ),
            (
                550,
                "Requested action not taken: mailbox unavailable",
                Final(Verdict::Undeliverable, Reason::MailboxUnknown),
            ),
            (
                550,
                "5.2.1 Mailbox disabled, not accepting messages",
                Final(Verdict::Undeliverable, Reason::MailboxDisabled),
            ),
            (
                552,
                "5.2.2 Mailbox full",
                Final(Verdict::Risky, Reason::MailboxFull),
            ),
            (452, "4.2.2 Mailbox full", Retry(Reason::MailboxFull, None)),
            (
                550,
                "5.7.1 Service unavailable, Client host [1.2.3.4] blocked using Spamhaus",
                Final(Verdict::Unknown, Reason::BlockedByRecipient),
            ),
            (
                554,
                "5.7.1 Message rejected: policy",
                Final(Verdict::Unknown, Reason::BlockedByRecipient),
            ),
            (
                450,
                "4.2.0 Greylisted, please try again in 2 seconds",
                Retry(Reason::Greylisted, Some(Duration::from_secs(2))),
            ),
            (
                451,
                "4.7.1 Greylisting in action, please come back in 00:05:00",
                Retry(Reason::Greylisted, Some(Duration::from_secs(300))),
            ),
            (
                451,
                "4.7.1 Please try again later",
                Retry(Reason::Greylisted, None),
            ),
            (
                450,
                "4.7.1 Error: too much mail from 203.0.113.5",
                Retry(Reason::RateLimited, None),
            ),
            (452, "4.5.3 Too many recipients", TooManyRecipients),
            (
                421,
                "4.4.3 Routing failure, try again later",
                SessionClosing(Reason::ServerUnavailable),
            ),
            (
                421,
                "4.7.0 Too many connections",
                SessionClosing(Reason::RateLimited),
            ),
            (
                530,
                "5.7.0 Must issue a STARTTLS command first",
                Final(Verdict::Unknown, Reason::TlsRequired),
            ),
            (
                556,
                "5.1.10 Recipient address has null MX",
                Final(Verdict::Undeliverable, Reason::NullMx),
            ),
            (
                451,
                "4.3.0 Temporary lookup failure",
                Retry(Reason::Deferred, None),
            ),
        ];
        for (code, text, want) in cases {
            assert_eq!(classify_rcpt(&reply(code, text)), want, "{code} {text}");
        }
    }

    #[test]
    fn transient_answers_are_never_undeliverable() {
        for code in [421u16, 450, 451, 452] {
            for text in ["4.1.1 User unknown", "4.2.1 disabled", "4.0.0 whatever"] {
                let o = classify_rcpt(&reply(code, text));
                assert!(
                    !matches!(o, Outcome::Final(Verdict::Undeliverable, _)),
                    "{code} {text}: {o:?}"
                );
            }
        }
    }

    #[test]
    fn hints() {
        assert_eq!(
            retry_hint("try again in 5 minutes"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            retry_hint("come back in 00:00:45"),
            Some(Duration::from_secs(45))
        );
        assert_eq!(retry_hint("Greylisted, see http://x"), None);
    }
}
