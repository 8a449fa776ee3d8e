//! Mail address and domain syntax (RFC 5321 / 5322, IDNA for internationalised domains) and typo
//! suggestions for popular mail domains. Pure: no DNS here, only what the text itself says.

use serde::Serialize;

use crate::domain::DomainName;

/// A parsed target: a domain, or an address whose domain it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Target {
    /// The input, trimmed.
    pub input: String,
    /// The local part for an address (`None` for a bare domain).
    pub local: Option<String>,
    /// The domain as the user wrote it, lower-cased (may be Unicode).
    pub domain: String,
    /// The domain in ASCII (A-labels), for DNS.
    pub domain_ascii: DomainName,
}

impl Target {
    /// `local@domain_ascii`, or the domain.
    pub fn normalized(&self) -> String {
        match &self.local {
            Some(l) => format!("{l}@{}", self.domain_ascii),
            None => self.domain_ascii.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("empty input: expected a domain (example.com) or an address (user@example.com)")]
    Empty,
    // The input as given, quoted; whoever shows it escapes it (terminal) or keeps it (JSON).
    #[error("\"{input}\" is not a valid domain: {why}")]
    Domain { input: String, why: String },
    #[error("\"{input}\" is not a valid address: {why}")]
    Address { input: String, why: String },
}

/// Parses `example.com`, `user@example.com`, `<user@example.com>`, `"a b"@example.com`,
/// `user@bücher.example`. IP-literal domains (`user@[192.0.2.1]`) are refused: there is no MX
/// to diagnose.
pub fn parse_target(input: &str) -> Result<Target, AddressError> {
    let s = input.trim();
    let s = s
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(s);
    if s.is_empty() {
        return Err(AddressError::Empty);
    }
    let addr_err = |why: &str| AddressError::Address {
        input: s.to_string(),
        why: why.to_string(),
    };
    match s.rfind('@') {
        None => {
            let (domain, ascii) = parse_domain(s)?;
            Ok(Target {
                input: s.to_string(),
                local: None,
                domain,
                domain_ascii: DomainName::checked(ascii),
            })
        }
        Some(at) => {
            let (local, domain) = (&s[..at], &s[at + 1..]);
            if local.is_empty() {
                return Err(addr_err("nothing before the @"));
            }
            if domain.starts_with('[') {
                return Err(addr_err(
                    "the domain is an address literal ([...]): mxray needs a domain name with MX records",
                ));
            }
            check_local(local).map_err(|w| addr_err(&w))?;
            let (domain, ascii) = parse_domain(domain).map_err(|e| match e {
                AddressError::Domain { why, .. } => addr_err(&format!("domain: {why}")),
                other => other,
            })?;
            Ok(Target {
                input: s.to_string(),
                local: Some(local.to_string()),
                domain,
                domain_ascii: DomainName::checked(ascii),
            })
        }
    }
}

/// RFC 5321 4.1.2 Local-part: a dot-string of atext, or a quoted string; at most 64 octets.
/// Non-ASCII (SMTPUTF8, RFC 6531) is allowed in atoms.
fn check_local(local: &str) -> Result<(), String> {
    if local.len() > 64 {
        return Err(format!(
            "the local part is {} octets; the limit is 64",
            local.len()
        ));
    }
    if let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        // RFC 5321 4.1.2: qtextSMTP is printable ASCII but `"` and `\`, quoted-pairSMTP a
        // backslash before printable ASCII; RFC 6531 adds non-ASCII. Nothing else: a CR, LF
        // or NUL here would end up inside RCPT TO.
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    None => {
                        return Err("the quoted local part ends with a lone backslash".into());
                    }
                    Some(e) if !(' '..='~').contains(&e) => {
                        return Err(format!(
                            "a backslash before {e:?} in the quoted local part: only a printable ASCII character may be escaped"
                        ));
                    }
                    Some(_) => {}
                },
                '"' => return Err("an unescaped quote inside the quoted local part".into()),
                c if c.is_control() || c.is_ascii_control() => {
                    return Err(format!("a control character ({c:?}) in the local part"));
                }
                _ => {}
            }
        }
        return Ok(());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the local part starts or ends with a dot, or has two dots in a row".into());
    }
    let atext = |c: char| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~.".contains(c)
            || (!c.is_ascii() && !c.is_control())
    };
    if let Some(bad) = local.chars().find(|c| !atext(*c)) {
        return Err(format!(
            "{bad:?} is not allowed in an unquoted local part (quote it, as in \"a b\"@example.com)"
        ));
    }
    Ok(())
}

/// Lower-cases, applies IDNA (UTS 46) and checks RFC 1035 label rules on the A-label form.
pub fn parse_domain(input: &str) -> Result<(String, String), AddressError> {
    let err = |why: String| AddressError::Domain {
        input: input.to_string(),
        why,
    };
    let d = input.trim().trim_end_matches('.').to_lowercase();
    if d.is_empty() {
        return Err(err("it is empty".into()));
    }
    if d.parse::<std::net::IpAddr>().is_ok() {
        return Err(err("it is an IP address, not a domain name".into()));
    }
    let ascii = idna::domain_to_ascii(&d)
        .map_err(|_| err("IDNA conversion failed (invalid Unicode for a domain)".into()))?;
    if ascii.len() > 253 {
        return Err(err(format!(
            "it is {} characters; the limit is 253",
            ascii.len()
        )));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(err(
            "it has a single label; a mail domain needs at least two (example.com)".into(),
        ));
    }
    for l in &labels {
        if l.is_empty() {
            return Err(err("it has an empty label (two dots in a row)".into()));
        }
        if l.len() > 63 {
            return Err(err(format!("the label {l:?} is over 63 characters")));
        }
        if !l
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(err(format!(
                "the label {l:?} has characters other than letters, digits and hyphens"
            )));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err(err(format!("the label {l:?} starts or ends with a hyphen")));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(err("the top-level label is all digits".into()));
    }
    Ok((d, ascii))
}

/// The special-purpose range an IP address belongs to (RFC 6890 and friends), when it is not
/// a global unicast address: mail exchangers there cannot be reached from the internet, and
/// a prober sent there would probe its own network.
pub fn special_range(ip: std::net::IpAddr) -> Option<&'static str> {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(match o {
                [0, 0, 0, 0] => "unspecified (0.0.0.0)",
                [0, ..] => "\"this network\" (0.0.0.0/8)",
                [127, ..] => "loopback (127.0.0.0/8)",
                [10, ..] => "private (RFC 1918, 10.0.0.0/8)",
                [172, b, ..] if (16..32).contains(&b) => "private (RFC 1918, 172.16.0.0/12)",
                [192, 168, ..] => "private (RFC 1918, 192.168.0.0/16)",
                [169, 254, ..] => "link-local (169.254.0.0/16)",
                [100, b, ..] if (64..128).contains(&b) => {
                    "shared address space (CGNAT, RFC 6598, 100.64.0.0/10)"
                }
                [192, 0, 0, _] => "IETF protocol assignments (192.0.0.0/24)",
                [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation (RFC 5737)",
                [198, b, ..] if b == 18 || b == 19 => "benchmarking (198.18.0.0/15)",
                [a, ..] if (224..240).contains(&a) => "multicast (224.0.0.0/4)",
                [a, ..] if a >= 240 => "reserved (240.0.0.0/4)",
                _ => return None,
            })
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return special_range(IpAddr::V4(v4));
            }
            let s = v6.segments();
            Some(if v6.is_unspecified() {
                "unspecified (::)"
            } else if v6.is_loopback() {
                "loopback (::1)"
            } else if s[0] & 0xfe00 == 0xfc00 {
                "unique local (fc00::/7)"
            } else if s[0] & 0xffc0 == 0xfe80 {
                "link-local (fe80::/10)"
            } else if s[0] & 0xff00 == 0xff00 {
                "multicast (ff00::/8)"
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                "documentation (2001:db8::/32)"
            } else {
                return None;
            })
        }
    }
}

/// Consumer mailbox providers anyone can sign up to: flagged by `verify` as free providers,
/// and the names typo suggestions point to (the ones people mistype most).
pub const FREE_PROVIDERS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "ymail.com",
    "rocketmail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "protonmail.com",
    "proton.me",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "t-online.de",
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "zoho.com",
    "fastmail.com",
    "tutanota.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "qq.com",
    "163.com",
    "126.com",
    "naver.com",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
];

/// A popular domain `domain` is probably a typo of (`gmial.com` -> `gmail.com`).
pub fn suggest_domain(domain: &str) -> Option<&'static str> {
    let d = domain.to_ascii_lowercase();
    if FREE_PROVIDERS.contains(&d.as_str()) {
        return None;
    }
    let max = if d.len() <= 7 { 1 } else { 2 };
    FREE_PROVIDERS
        .iter()
        .map(|p| (strsim::damerau_levenshtein(&d, p), *p))
        .filter(|(dist, _)| *dist > 0 && *dist <= max)
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_addresses() {
        let t = parse_target("User@Example.COM").unwrap();
        assert_eq!(t.local.as_deref(), Some("User"));
        assert_eq!(t.domain_ascii, "example.com");
        let t = parse_target("bücher.example").unwrap();
        assert_eq!(t.domain_ascii, "xn--bcher-kva.example");
        assert!(parse_target("\"john doe\"@example.com").is_ok());
        assert!(parse_target("<a@example.com>").is_ok());
        for bad in [
            "",
            "a@",
            "@example.com",
            "a..b@example.com",
            "a b@example.com",
            "example",
            "ex_ample..com",
            "-a.com",
            "a@[192.0.2.1]",
            "192.0.2.1",
            "a@b.123",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nothing_that_could_split_an_smtp_command() {
        // Allowed: RFC 5321 quoted-pairs of printable ASCII, SMTPUTF8 local parts.
        assert!(parse_target(r#""a\"b"@example.com"#).is_ok());
        assert!(parse_target(r#""a\ b"@example.com"#).is_ok());
        assert!(parse_target("josé@example.com").is_ok());
        // Refused: a backslash before a control character, controls anywhere.
        for bad in [
            "\"a\\\r\nDATA\"@example.com",
            "\"a\\\nRSET\"@example.com",
            "\"a\\\0\"@example.com",
            "\"a\rb\"@example.com",
            "\"a\u{7f}\"@example.com",
            "a\u{85}b@example.com",
            "a\rb@example.com",
        ] {
            let e = parse_target(bad).expect_err(bad).to_string();
            assert!(e.contains("not a valid address"), "{bad}: {e}");
        }
    }

    #[test]
    fn special_ranges_are_named() {
        let r = |s: &str| special_range(s.parse().unwrap());
        assert_eq!(r("127.0.0.10"), Some("loopback (127.0.0.0/8)"));
        assert_eq!(r("10.1.2.3"), Some("private (RFC 1918, 10.0.0.0/8)"));
        assert_eq!(r("172.31.0.1"), Some("private (RFC 1918, 172.16.0.0/12)"));
        assert_eq!(r("172.32.0.1"), None);
        assert_eq!(r("169.254.169.254"), Some("link-local (169.254.0.0/16)"));
        assert_eq!(
            r("100.64.0.1"),
            Some("shared address space (CGNAT, RFC 6598, 100.64.0.0/10)")
        );
        assert_eq!(r("0.0.0.0"), Some("unspecified (0.0.0.0)"));
        assert_eq!(
            r("::ffff:192.168.1.1"),
            Some("private (RFC 1918, 192.168.0.0/16)")
        );
        assert_eq!(r("fd00::1"), Some("unique local (fc00::/7)"));
        assert_eq!(r("::1"), Some("loopback (::1)"));
        assert_eq!(r("8.8.8.8"), None);
        assert_eq!(r("2a00:1450:4001::1b"), None);
    }

    #[test]
    fn typos_of_popular_domains() {
        assert_eq!(suggest_domain("gmial.com"), Some("gmail.com"));
        assert_eq!(suggest_domain("gmail.con"), Some("gmail.com"));
        assert_eq!(suggest_domain("hotmial.com"), Some("hotmail.com"));
        assert_eq!(suggest_domain("gmail.com"), None);
        assert_eq!(suggest_domain("example.com"), None);
    }
}
