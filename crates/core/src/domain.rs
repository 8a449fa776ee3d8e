//! Domain names as mxray compares and queries them: ASCII (A-labels), lower case, no trailing
//! dot. One type instead of `trim_end_matches('.')` and `to_ascii_lowercase()` at every use.
//!
//! Two ways in: [`DomainName::parse`] for what a user typed (IDNA, RFC 1035 label rules,
//! refused with a reason), and [`DomainName::from_dns`] for names that came out of DNS or a
//! remote server (an MX exchange, a CNAME target, a banner's host name), which are recorded as
//! they are and judged elsewhere, so they are only normalised, never refused.

use std::fmt;

use serde::Serialize;

use crate::address::{AddressError, parse_domain};

/// A normalised domain name. The root (`.`, a null MX exchange) is the empty name.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    /// A domain name a user gave (`Bücher.example.`, `EXAMPLE.com`): IDNA to A-labels, lower
    /// case, label rules checked. The error says what is wrong with the text.
    pub fn parse(input: &str) -> Result<DomainName, AddressError> {
        parse_domain(input).map(|(_, ascii)| DomainName(ascii))
    }

    /// A name `parse_domain` has already checked and normalised.
    pub(crate) fn checked(ascii: String) -> DomainName {
        DomainName(ascii)
    }

    /// A name as DNS or a peer wrote it: surrounding space and trailing dots removed, ASCII
    /// lower-cased. Non-ASCII bytes are kept as they are (a hostile zone may hold anything,
    /// and evidence must show what was there).
    pub fn from_dns(name: &str) -> DomainName {
        DomainName(name.trim().trim_end_matches('.').to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The root name: what a null MX (RFC 7505) names as its exchange.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The fully qualified form with the trailing dot, for resolvers and zone files.
    pub fn to_fqdn(&self) -> String {
        format!("{}.", self.0)
    }

    /// The registrable ("organisational", RFC 7489 3.2) domain by the public suffix list:
    /// `mx1.mail.example.co.uk` -> `example.co.uk`. Names whose suffix the list does not
    /// know (`.test`) count their last label as the suffix.
    pub fn registrable(&self) -> DomainName {
        match psl::domain_str(&self.0) {
            Some(o) => DomainName(o.to_string()),
            None => self.clone(),
        }
    }

    /// Whether this name is `other` or below it (`a.b.example` is within `example`).
    pub fn is_within(&self, other: &DomainName) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.ends_with(&other.0)
                && self.0.as_bytes()[self.0.len() - other.0.len() - 1] == b'.')
    }

    /// Matching against a pattern as certificates (RFC 6125 6.4.3) and MTA-STS policies
    /// (RFC 8461 4.1) write them: exact, or a left-most `*.` standing for exactly one label.
    pub fn matches_pattern(&self, pattern: &str) -> bool {
        let p = DomainName::from_dns(pattern);
        match p.0.strip_prefix("*.") {
            Some(rest) => self
                .0
                .split_once('.')
                .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
            None => p.0 == self.0,
        }
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// A domain name is read as text everywhere (formatting, DNS queries, comparisons): deref to
// `str` rather than `as_str()` at every use. Only constructors normalise.
impl std::ops::Deref for DomainName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for DomainName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for DomainName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_and_refuses_with_a_reason() {
        assert_eq!(DomainName::parse("Example.COM.").unwrap(), "example.com");
        assert_eq!(
            DomainName::parse("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        let e = DomainName::parse("a..b").unwrap_err().to_string();
        assert!(e.contains("empty label"), "{e}");
        assert!(DomainName::parse("192.0.2.1").is_err());
    }

    #[test]
    fn names_from_dns_are_normalised_not_judged() {
        assert_eq!(DomainName::from_dns("MX1.Example.com."), "mx1.example.com");
        assert!(DomainName::from_dns(".").is_root());
        assert!(DomainName::from_dns("").is_root());
        assert_eq!(DomainName::from_dns("x.example").to_fqdn(), "x.example.");
        // Hostile data is kept for the evidence, not refused.
        assert_eq!(DomainName::from_dns("a b.example"), "a b.example");
    }

    #[test]
    fn registrable_domain() {
        let r = |s: &str| DomainName::from_dns(s).registrable().into_string();
        assert_eq!(r("mx1.mail.example.co.uk"), "example.co.uk");
        assert_eq!(r("gmail-smtp-in.l.google.com."), "google.com");
        assert_eq!(r("mx.ok.test"), "ok.test");
    }

    #[test]
    fn within_and_patterns() {
        let n = DomainName::from_dns("mx1.example.com");
        assert!(n.is_within(&DomainName::from_dns("example.com")));
        assert!(n.is_within(&n));
        assert!(!n.is_within(&DomainName::from_dns("le.com")));
        assert!(n.matches_pattern("*.example.com"));
        assert!(n.matches_pattern("MX1.example.com."));
        assert!(!n.matches_pattern("*.com"));
        assert!(!DomainName::from_dns("a.mx1.example.com").matches_pattern("*.example.com"));
        assert!(!DomainName::from_dns("example.com").matches_pattern("*.example.com"));
    }
}
