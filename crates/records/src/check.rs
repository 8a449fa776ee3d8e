//! Input checks the generators share: report addresses as `mailto:` URIs, https URLs,
//! selectors, and record names within DNS limits. Each refusal says what to give instead.

use mxray_core::DomainName;
use mxray_core::address::parse_target;

use crate::RecordsError;

/// RFC 1035 2.3.4: a name is at most 255 octets on the wire, 253 characters written out.
const MAX_NAME: usize = 253;

/// A report address as a `mailto:` URI, and its domain. Takes `mailto:user@example.com` and
/// `user@example.com`; with `size_ok`, also DMARC's size limit (`mailto:user@example.com!10m`),
/// which TLS-RPT does not have.
pub(crate) fn mailto(input: &str, size_ok: bool) -> Result<(String, DomainName), RecordsError> {
    let err = |why: &str| RecordsError::Mailto {
        input: input.to_string(),
        why: why.to_string(),
    };
    let s = input.trim();
    let s = match s.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("mailto:") => &s[7..],
        _ => s,
    };
    if s.contains(':') && !s.contains('@') {
        return Err(err(
            "only mailto: URIs (or bare addresses) are report addresses",
        ));
    }
    // RFC 7489 6.2: `!` followed by a size (`10m`) caps report size; any other `!` belongs
    // to the address and is encoded below.
    let (addr, size) = match s.rsplit_once('!') {
        Some((a, z)) if size_ok && is_size(z) => (a, Some(z.to_ascii_lowercase())),
        _ => (s, None),
    };
    if addr.contains(['?', '<', '>']) || addr.chars().any(char::is_whitespace) {
        return Err(err("it holds spaces, angle brackets or a query (?)"));
    }
    let t = parse_target(addr).map_err(|e| err(&e.to_string()))?;
    let Some(local) = t.local else {
        return Err(err("it has no @: reports go to a mailbox"));
    };
    if local.starts_with('"') {
        return Err(err("a quoted local part cannot be written in a report URI"));
    }
    // An unquoted local part has no `,` nor `;` (not atext), but may hold `!`, which DMARC
    // reads as the size limit, and `#`, which ends a URI: both are percent-encoded.
    let uri = format!(
        "mailto:{}@{}{}",
        encode(&local, "!#"),
        t.domain_ascii,
        size.map(|z| format!("!{z}")).unwrap_or_default()
    );
    Ok((uri, t.domain_ascii))
}

/// DMARC's size limit: digits, then an optional unit k, m, g or t.
fn is_size(s: &str) -> bool {
    let digits = s.trim_end_matches(['k', 'm', 'g', 't', 'K', 'M', 'G', 'T']);
    !digits.is_empty() && digits.len() + 1 >= s.len() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// An `https://` URL with a domain name as host, normalised (scheme and host lower case,
/// host in A-labels), with `,` and `;` percent-encoded: they separate URIs and tags in the
/// records that carry it (RFC 8460 3, BIMI's tag list).
pub(crate) fn https(what: &'static str, input: &str) -> Result<String, RecordsError> {
    let err = |why: &str| RecordsError::Https {
        what,
        input: input.to_string(),
        why: why.to_string(),
    };
    let s = input.trim();
    let rest = match s.get(..8) {
        Some(p) if p.eq_ignore_ascii_case("https://") => &s[8..],
        _ => return Err(err("it does not start with https://")),
    };
    if let Some(c) = rest
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(err(&format!(
            "it holds {c:?} (percent-encode spaces and non-ASCII characters)"
        )));
    }
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(cut);
    if authority.contains('@') {
        return Err(err("it carries a user name (user@host)"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(n) if n > 0 => (h, Some(n)),
            _ => return Err(err(&format!("port {p:?} is not 1-65535"))),
        },
        None => (authority, None),
    };
    if host.starts_with('[') {
        return Err(err("the host is an IP literal; a certificate needs a name"));
    }
    let host = DomainName::parse(host).map_err(|e| err(&e.to_string()))?;
    Ok(format!(
        "https://{host}{}{}",
        port.map(|p| format!(":{p}")).unwrap_or_default(),
        encode(tail, ",;")
    ))
}

/// `s` with the characters of `special` and every non-ASCII byte percent-encoded
/// (RFC 3986 2.1, upper-case hex).
fn encode(s: &str, special: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if special.contains(c) || !c.is_ascii() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A DKIM or BIMI selector: dot-separated labels of letters, digits and hyphens (RFC 6376
/// 3.1 makes it a sub-domain), lower-cased.
pub(crate) fn selector(input: &str) -> Result<String, RecordsError> {
    let err = |why: String| RecordsError::Selector {
        input: input.to_string(),
        why,
    };
    let s = input.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Err(err("it is empty".into()));
    }
    for label in s.split('.') {
        if label.is_empty() {
            return Err(err(
                "it has an empty label (a leading, trailing or double dot)".into(),
            ));
        }
        if label.len() > 63 {
            return Err(err(format!("the label {label:?} is over 63 characters")));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
        {
            return Err(err(format!("{c:?} is not a letter, digit or hyphen")));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(err(format!(
                "the label {label:?} starts or ends with a hyphen"
            )));
        }
    }
    Ok(s)
}

/// A record name made of `parts`, refused when DNS could not carry it.
pub(crate) fn name(parts: &[&str]) -> Result<String, RecordsError> {
    let name = parts.join(".");
    if name.len() > MAX_NAME {
        return Err(RecordsError::NameTooLong {
            len: name.len(),
            name,
        });
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_addresses_become_mailto_uris() {
        let ok = |s: &str| mailto(s, true).map(|(u, d)| (u, d.into_string()));
        assert_eq!(
            ok("dmarc@Example.COM"),
            Ok(("mailto:dmarc@example.com".into(), "example.com".into()))
        );
        assert_eq!(
            ok(" MAILTO:r@reports.example.net!10M ").map(|x| x.0),
            Ok("mailto:r@reports.example.net!10m".into())
        );
        // A `!` of the address itself is encoded: it would start a size limit.
        assert_eq!(
            ok("a!b#c@example.org").map(|x| x.0),
            Ok("mailto:a%21b%23c@example.org".into())
        );
        assert_eq!(
            ok("x@bücher.example").map(|x| x.1),
            Ok("xn--bcher-kva.example".into())
        );
        for bad in [
            "example.com",
            "mailto:",
            "https://r.example.com",
            "a b@example.com",
            "a@b",
        ] {
            assert!(
                matches!(mailto(bad, true), Err(RecordsError::Mailto { .. })),
                "{bad}"
            );
        }
        assert!(mailto("r@example.com!10m", false).is_err());
        let e = mailto("nobody", true).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("give mailto:USER@DOMAIN"), "{e}");
    }

    #[test]
    fn https_urls_are_checked_and_normalised() {
        assert_eq!(
            https("logo", "HTTPS://Img.Example.com:8443/a;b,c.svg"),
            Ok("https://img.example.com:8443/a%3Bb%2Cc.svg".into())
        );
        assert_eq!(
            https("report", "https://r.example.net"),
            Ok("https://r.example.net".into())
        );
        for bad in [
            "http://example.com/x",
            "https://user@example.com/",
            "https://192.0.2.1/",
            "https://[2001:db8::1]/",
            "https://example.com:0/",
            "https://example.com/a b",
            "https://localhost/",
        ] {
            assert!(
                matches!(https("logo", bad), Err(RecordsError::Https { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn selectors_and_names() {
        assert_eq!(selector(" S2025.Mail "), Ok("s2025.mail".into()));
        for bad in ["", "a..b", "-x", "x_y", "a/b", &"x".repeat(64)] {
            assert!(
                matches!(selector(bad), Err(RecordsError::Selector { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            name(&["_dmarc", "example.com"]),
            Ok("_dmarc.example.com".into())
        );
        let long = "a".repeat(250);
        assert!(matches!(
            name(&["_dmarc", &long]),
            Err(RecordsError::NameTooLong { len: 257, .. })
        ));
    }
}
