//! The one place a verdict is decided: a pure function from the facts the engine recorded about
//! an address to its `Verdict` and `Reason`. The engine records and calls; it never decides.
//!
//! `classify` says what one reply means; this module says what the address's story means,
//! with the run's context (catch-all domain, disposable provider). docs/verify.md has the table.

use crate::classify::Outcome;
use crate::model::{DecidingReply, Reason, Verdict};
use crate::providers::Provider;

/// Why DNS settled a domain before any SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainFailure {
    /// NXDOMAIN: the domain does not exist.
    NxDomain,
    /// RFC 7505 null MX: the domain takes no mail.
    NullMx,
    /// No MX host with an address, and no transient DNS failure on the way.
    NoMxHost,
    /// SERVFAIL, REFUSED, timeouts: the lookup did not complete.
    Transient,
}

/// What the engine knew when it stopped working on an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Facts {
    /// The input is not `user@domain`.
    BadSyntax,
    /// DNS settled the domain.
    Domain(DomainFailure),
    /// MAIL FROM was refused for good, with the reason `classify` gave the refusal: nothing
    /// can be learned about the address from this host.
    SenderRefused(Reason),
    /// A reply to RCPT TO, as `classify` read it.
    Rcpt(Outcome),
    /// The deadline passed (or every host went down) with the address unresolved: the last
    /// transient reason seen for it, and why the hosts were given up.
    Unresolved {
        last: Option<Reason>,
        hosts_down: Option<Reason>,
    },
}

/// What the run knows about the domain and the provider, beside the address's own facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Context {
    /// The domain accepted a random local part (`Some(true)`) or refused one (`Some(false)`).
    pub catch_all: Option<bool>,
    /// The domain is a disposable-address provider.
    pub disposable: bool,
}

/// The verdict and its reason. Transient facts are never `Undeliverable`.
pub fn decide(facts: &Facts, ctx: Context) -> (Verdict, Reason) {
    let (verdict, reason) = match facts {
        Facts::BadSyntax => (Verdict::Undeliverable, Reason::Syntax),
        Facts::Domain(DomainFailure::NxDomain) => (Verdict::Undeliverable, Reason::DomainNxdomain),
        Facts::Domain(DomainFailure::NullMx) => (Verdict::Undeliverable, Reason::NullMx),
        Facts::Domain(DomainFailure::NoMxHost) => (Verdict::Undeliverable, Reason::NoMx),
        Facts::Domain(DomainFailure::Transient) => (Verdict::Unknown, Reason::DnsFailure),
        Facts::SenderRefused(Reason::TlsRequired) => (Verdict::Unknown, Reason::TlsRequired),
        Facts::SenderRefused(_) => (Verdict::Unknown, Reason::SenderRejected),
        // Acceptance at a domain that accepts anything proves nothing about the mailbox.
        Facts::Rcpt(Outcome::Accepted) if ctx.catch_all == Some(true) => {
            (Verdict::Risky, Reason::CatchAll)
        }
        Facts::Rcpt(Outcome::Accepted) => (Verdict::Deliverable, Reason::MailboxExists),
        Facts::Rcpt(Outcome::Final(v, r)) => (*v, *r),
        Facts::Rcpt(Outcome::Retry(r, _) | Outcome::SessionClosing(r)) => (Verdict::Unknown, *r),
        Facts::Rcpt(Outcome::TooManyRecipients) => (Verdict::Unknown, Reason::Deferred),
        Facts::Unresolved { last, hosts_down } => (
            Verdict::Unknown,
            last.or(*hosts_down).unwrap_or(Reason::Timeout),
        ),
    };
    // A disposable address that works is still a throwaway.
    if verdict == Verdict::Deliverable && ctx.disposable {
        return (Verdict::Risky, Reason::Disposable);
    }
    (verdict, reason)
}

/// The verdict corrected with what the provider table knows about the host that decided
/// (`providers::apply` calls it): the provider's own reading of its reply first; then an
/// acceptance from a provider that accepts every RCPT is never `deliverable`, and one from a
/// gateway counts only where the gateway refused a random address (`catch_all ==
/// Some(false)`). A transient reply is never made `undeliverable` (`Meaning::verdict`).
pub fn at_provider(
    p: &Provider,
    verdict: Verdict,
    reason: Reason,
    reply: &DecidingReply,
    catch_all: Option<bool>,
) -> (Verdict, Reason) {
    if let Some(rule) = p.rule_for(reply.code, reply.enhanced_code.as_deref(), &reply.text) {
        return rule.meaning.verdict(reply.code);
    }
    let accepted = (200..300).contains(&reply.code);
    if accepted && p.accepts_all_rcpt && verdict != Verdict::Undeliverable {
        return (Verdict::Risky, Reason::UnverifiableProvider);
    }
    if accepted && p.gateway && verdict == Verdict::Deliverable && catch_all != Some(false) {
        return (Verdict::Risky, Reason::UnverifiableProvider);
    }
    (verdict, reason)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn plain(f: Facts) -> (Verdict, Reason) {
        decide(&f, Context::default())
    }

    #[test]
    fn greylisted_until_the_deadline_is_unknown_greylisted() {
        let f = Facts::Unresolved {
            last: Some(Reason::Greylisted),
            hosts_down: None,
        };
        assert_eq!(plain(f), (Verdict::Unknown, Reason::Greylisted));
    }

    #[test]
    fn unresolved_falls_back_to_why_the_hosts_went_down_then_timeout() {
        let f = Facts::Unresolved {
            last: None,
            hosts_down: Some(Reason::ConnectionFailed),
        };
        assert_eq!(plain(f), (Verdict::Unknown, Reason::ConnectionFailed));
        let f = Facts::Unresolved {
            last: Some(Reason::RateLimited),
            hosts_down: Some(Reason::ConnectionFailed),
        };
        assert_eq!(plain(f), (Verdict::Unknown, Reason::RateLimited));
        let f = Facts::Unresolved {
            last: None,
            hosts_down: None,
        };
        assert_eq!(plain(f), (Verdict::Unknown, Reason::Timeout));
    }

    #[test]
    fn acceptance_depends_on_catch_all_and_disposable() {
        let accepted = Facts::Rcpt(Outcome::Accepted);
        assert_eq!(
            plain(accepted.clone()),
            (Verdict::Deliverable, Reason::MailboxExists)
        );
        let catch_all = Context {
            catch_all: Some(true),
            disposable: false,
        };
        assert_eq!(
            decide(&accepted, catch_all),
            (Verdict::Risky, Reason::CatchAll)
        );
        let disposable = Context {
            catch_all: Some(false),
            disposable: true,
        };
        assert_eq!(
            decide(&accepted, disposable),
            (Verdict::Risky, Reason::Disposable)
        );
        // Disposable changes nothing about a refusal.
        let unknown_user = Facts::Rcpt(Outcome::Final(
            Verdict::Undeliverable,
            Reason::MailboxUnknown,
        ));
        assert_eq!(
            decide(&unknown_user, disposable),
            (Verdict::Undeliverable, Reason::MailboxUnknown)
        );
    }

    #[test]
    fn domains_senders_and_syntax() {
        use DomainFailure::*;
        let cases = [
            (Facts::BadSyntax, Verdict::Undeliverable, Reason::Syntax),
            (
                Facts::Domain(NxDomain),
                Verdict::Undeliverable,
                Reason::DomainNxdomain,
            ),
            (
                Facts::Domain(NullMx),
                Verdict::Undeliverable,
                Reason::NullMx,
            ),
            (
                Facts::Domain(NoMxHost),
                Verdict::Undeliverable,
                Reason::NoMx,
            ),
            (
                Facts::Domain(Transient),
                Verdict::Unknown,
                Reason::DnsFailure,
            ),
            (
                Facts::SenderRefused(Reason::BlockedByRecipient),
                Verdict::Unknown,
                Reason::SenderRejected,
            ),
            (
                Facts::SenderRefused(Reason::TlsRequired),
                Verdict::Unknown,
                Reason::TlsRequired,
            ),
        ];
        for (facts, verdict, reason) in cases {
            assert_eq!(plain(facts.clone()), (verdict, reason), "{facts:?}");
        }
    }

    #[test]
    fn transient_replies_are_never_undeliverable() {
        for o in [
            Outcome::Retry(Reason::Greylisted, Some(Duration::from_secs(60))),
            Outcome::SessionClosing(Reason::RateLimited),
            Outcome::TooManyRecipients,
        ] {
            let (v, _) = plain(Facts::Rcpt(o.clone()));
            assert_eq!(v, Verdict::Unknown, "{o:?}");
        }
    }
}
