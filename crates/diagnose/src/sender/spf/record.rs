//! The SPF record grammar (RFC 7208 4.5, 4.6, 5, 6, 7.1 ABNF) as pure types: the one parser both
//! the evaluator and the `spf.syntax` findings use, the macro tokenizer, and the RFC's limits.

// Here, in diagnose, rather than in mxray-core: SPF is judged nowhere else, and core holds only
// what every verb shares (replies, findings, addresses).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// RFC 7208 4.6.4: at most 10 terms that cause DNS lookups per evaluation...
pub const MAX_LOOKUPS: usize = 10;
/// ...and (SHOULD, default 2) at most 2 lookups that come back empty or NXDOMAIN.
pub const MAX_VOID: usize = 2;
/// RFC 7208 4.6.4: an `mx` yielding more than 10 names is a permerror; `ptr` and `%{p}` look
/// at the first 10 names only.
pub const MAX_NAMES: usize = 10;
/// Longer than any record DNS carries in one answer that we would act on; the evaluator
/// refuses to walk a longer one (permerror).
pub const MAX_RECORD_BYTES: usize = 8192;
/// RFC 7208 7.3: an expansion used as a name is cut, from the left, to this many octets.
pub const MAX_NAME: usize = 253;

/// `+`, `-`, `~`, `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

impl Qualifier {
    pub fn sign(self) -> char {
        match self {
            Qualifier::Pass => '+',
            Qualifier::Fail => '-',
            Qualifier::SoftFail => '~',
            Qualifier::Neutral => '?',
        }
    }
}

/// One parsed term. The CIDR lengths of `a`/`mx` are not serialised: observations recorded
/// before they were kept had none, and reports must read the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Term {
    All {
        q: Qualifier,
    },
    Include {
        q: Qualifier,
        domain: String,
    },
    A {
        q: Qualifier,
        domain: Option<String>,
        #[serde(skip)]
        cidr4: u8,
        #[serde(skip)]
        cidr6: u8,
    },
    Mx {
        q: Qualifier,
        domain: Option<String>,
        #[serde(skip)]
        cidr4: u8,
        #[serde(skip)]
        cidr6: u8,
    },
    Ptr {
        q: Qualifier,
        domain: Option<String>,
    },
    Ip {
        q: Qualifier,
        addr: IpAddr,
        prefix: u8,
    },
    Exists {
        q: Qualifier,
        domain: String,
    },
    Redirect {
        domain: String,
    },
    Exp {
        domain: String,
    },
    /// An unknown modifier (`name=value`): ignored, as RFC 7208 6 says.
    Other {
        name: String,
    },
}

impl Term {
    /// Terms that count against the 10-lookup limit.
    pub fn counts_lookup(&self) -> bool {
        matches!(
            self,
            Term::Include { .. }
                | Term::A { .. }
                | Term::Mx { .. }
                | Term::Ptr { .. }
                | Term::Exists { .. }
                | Term::Redirect { .. }
        )
    }

    /// The qualifier of a mechanism; `None` for a modifier.
    pub fn qualifier(&self) -> Option<Qualifier> {
        match self {
            Term::All { q }
            | Term::Include { q, .. }
            | Term::A { q, .. }
            | Term::Mx { q, .. }
            | Term::Ptr { q, .. }
            | Term::Ip { q, .. }
            | Term::Exists { q, .. } => Some(*q),
            Term::Redirect { .. } | Term::Exp { .. } | Term::Other { .. } => None,
        }
    }
}

/// Why a record does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "term")]
pub enum SpfSyntaxError {
    #[error("the record is not 7-bit ASCII")]
    NotAscii,
    #[error("the record contains a control character")]
    Control,
    #[error("unknown mechanism or bad term {0:?}")]
    BadTerm(String),
    #[error("{0:?}: a bad domain-spec or macro")]
    BadDomain(String),
    #[error("{0:?}: a bad IP address or prefix length")]
    BadIp(String),
    #[error("{0:?} appears more than once")]
    DuplicateModifier(String),
}

/// A parsed record: its terms in the order written, each with its text as published (for
/// evidence: the term that decided an evaluation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub terms: Vec<Term>,
    pub written: Vec<String>,
}

impl Record {
    /// The mechanisms, in order, with their text as published.
    pub fn directives(&self) -> impl Iterator<Item = (&Term, &str)> {
        self.terms
            .iter()
            .zip(self.written.iter().map(String::as_str))
            .filter(|(t, _)| t.qualifier().is_some())
    }

    pub fn redirect(&self) -> Option<&str> {
        self.terms.iter().find_map(|t| match t {
            Term::Redirect { domain } => Some(domain.as_str()),
            _ => None,
        })
    }

    pub fn exp(&self) -> Option<&str> {
        self.terms.iter().find_map(|t| match t {
            Term::Exp { domain } => Some(domain.as_str()),
            _ => None,
        })
    }

    pub fn has_all(&self) -> bool {
        self.terms.iter().any(|t| matches!(t, Term::All { .. }))
    }
}

/// RFC 7208 4.5: the version section, case-insensitive, then a space or the end.
pub fn is_spf(txt: &str) -> bool {
    let b = txt.as_bytes();
    b.get(..6)
        .is_some_and(|v| v.eq_ignore_ascii_case(b"v=spf1"))
        && matches!(b.get(6), None | Some(b' '))
}

/// A syntax error, twice over: its class (what `spf.syntax` reports and observations record)
/// and the precise reason (what an evaluation's `decided_by` says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxFault {
    pub kind: SpfSyntaxError,
    pub why: String,
}

fn fault(kind: SpfSyntaxError, why: impl Into<String>) -> SyntaxFault {
    SyntaxFault {
        kind,
        why: why.into(),
    }
}

/// Parses a `v=spf1` record into its terms.
pub fn parse(record: &str) -> Result<Vec<Term>, SpfSyntaxError> {
    parse_record(record).map(|r| r.terms).map_err(|f| f.kind)
}

/// Parses a whole record (which [`is_spf`] accepted). Any syntax error anywhere makes the
/// whole record a permerror before evaluation starts (RFC 7208 4.6).
pub fn parse_record(record: &str) -> Result<Record, SyntaxFault> {
    // Terms are visible ASCII only (RFC 7208 3.1, 4.6.1); spaces separate them. A record
    // with anything else is classed by that first, whichever term the reason names.
    let class = if !record.is_ascii() {
        Some(SpfSyntaxError::NotAscii)
    } else if record.chars().any(|c| c.is_ascii_control()) {
        Some(SpfSyntaxError::Control)
    } else {
        None
    };
    let mut rec = Record::default();
    let body = record.get(6..).unwrap_or("");
    for term in body.split(' ').filter(|t| !t.is_empty()) {
        match parse_term(term, &rec) {
            Ok(t) => {
                rec.terms.push(t);
                rec.written.push(term.to_string());
            }
            Err(f) => {
                return Err(SyntaxFault {
                    kind: class.unwrap_or(f.kind),
                    why: f.why,
                });
            }
        }
    }
    match class {
        // Unreachable in practice (the offending character sits in some term), kept total.
        Some(kind) => Err(fault(kind, "a character outside visible ASCII")),
        None => Ok(rec),
    }
}

fn parse_term(term: &str, rec: &Record) -> Result<Term, SyntaxFault> {
    if let Some(c) = term.chars().find(|c| !('\x21'..='\x7e').contains(c)) {
        let kind = if c.is_ascii() {
            SpfSyntaxError::Control
        } else {
            SpfSyntaxError::NotAscii
        };
        return Err(fault(kind, format!("character {c:?} in term {term:?}")));
    }
    let bad_term = |why: String| fault(SpfSyntaxError::BadTerm(term.to_string()), why);
    let bad_domain = |why: String| fault(SpfSyntaxError::BadDomain(term.to_string()), why);
    let bad_ip = |why: String| fault(SpfSyntaxError::BadIp(term.to_string()), why);
    let b = term.as_bytes();
    let name_len = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        .count();
    if b.get(name_len) == Some(&b'=') {
        // modifier = name "=" macro-string; name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
        if name_len == 0 || !b[0].is_ascii_alphabetic() {
            return Err(bad_term(format!("bad modifier name in {term:?}")));
        }
        let name = term[..name_len].to_ascii_lowercase();
        let value = &term[name_len + 1..];
        let (seen, made) = match name.as_str() {
            "redirect" => (
                rec.redirect().is_some(),
                Term::Redirect {
                    domain: value.to_string(),
                },
            ),
            "exp" => (
                rec.exp().is_some(),
                Term::Exp {
                    domain: value.to_string(),
                },
            ),
            _ => {
                // Unknown modifiers are ignored, but must still be well formed (6).
                macro_tokens(value, false).map_err(bad_term)?;
                return Ok(Term::Other { name });
            }
        };
        if seen {
            let why = format!("{name}= appears twice");
            return Err(fault(SpfSyntaxError::DuplicateModifier(name), why));
        }
        check_domain_spec(value).map_err(bad_domain)?;
        return Ok(made);
    }
    let (q, body) = match b.first() {
        Some(b'+') => (Qualifier::Pass, &term[1..]),
        Some(b'-') => (Qualifier::Fail, &term[1..]),
        Some(b'~') => (Qualifier::SoftFail, &term[1..]),
        Some(b'?') => (Qualifier::Neutral, &term[1..]),
        _ => (Qualifier::Pass, term),
    };
    let n = body.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let (name, arg) = body.split_at(n);
    // ":" domain-spec, required.
    let spec = |arg: &str| -> Result<String, SyntaxFault> {
        let ds = arg
            .strip_prefix(':')
            .ok_or_else(|| bad_term(format!("{term:?} needs :domain")))?;
        check_domain_spec(ds).map_err(bad_domain)?;
        Ok(ds.to_string())
    };
    let term = match name.to_ascii_lowercase().as_str() {
        "all" if arg.is_empty() => Term::All { q },
        "include" => Term::Include {
            q,
            domain: spec(arg)?,
        },
        "exists" => Term::Exists {
            q,
            domain: spec(arg)?,
        },
        "ptr" if arg.is_empty() => Term::Ptr { q, domain: None },
        "ptr" => Term::Ptr {
            q,
            domain: Some(spec(arg)?),
        },
        m @ ("a" | "mx") => {
            let (rest, cidr4, cidr6) = split_dual_cidr(arg).map_err(bad_ip)?;
            let domain = if rest.is_empty() {
                None
            } else {
                Some(spec(rest)?)
            };
            if m == "a" {
                Term::A {
                    q,
                    domain,
                    cidr4,
                    cidr6,
                }
            } else {
                Term::Mx {
                    q,
                    domain,
                    cidr4,
                    cidr6,
                }
            }
        }
        v @ ("ip4" | "ip6") => {
            let text = arg
                .strip_prefix(':')
                .ok_or_else(|| bad_term(format!("{term:?} needs :address")))?;
            let max = if v == "ip4" { 32 } else { 128 };
            let (addr, prefix) = match text.split_once('/') {
                Some((a, l)) => (a, cidr(l, max).map_err(bad_ip)?),
                None => (text, max),
            };
            let addr: IpAddr = if v == "ip4" {
                addr.parse::<Ipv4Addr>()
                    .map(IpAddr::V4)
                    .map_err(|_| bad_ip(format!("bad IPv4 address in {term:?}")))?
            } else {
                addr.parse::<Ipv6Addr>()
                    .map(IpAddr::V6)
                    .map_err(|_| bad_ip(format!("bad IPv6 address in {term:?}")))?
            };
            Term::Ip { q, addr, prefix }
        }
        _ => return Err(bad_term(format!("unknown mechanism {term:?}"))),
    };
    Ok(term)
}

/// `[ ":" domain-spec ] [ dual-cidr-length ]`: peels `//N` then `/N` off the end, so a
/// domain-spec may itself hold `/` and `:` (the suite's `a:foo:bar/baz.example.com`).
fn split_dual_cidr(arg: &str) -> Result<(&str, u8, u8), String> {
    let mut rest = arg;
    let mut c6 = 128;
    let mut c4 = 32;
    if let Some((head, digits)) = rest.rsplit_once("//")
        && is_digits(digits)
    {
        c6 = cidr(digits, 128)?;
        rest = head;
    }
    if let Some((head, digits)) = rest.rsplit_once('/')
        && is_digits(digits)
    {
        c4 = cidr(digits, 32)?;
        rest = head;
    }
    Ok((rest, c4, c6))
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// ip4-cidr-length / ip6-cidr-length: `"0" / %x31-39 0*xDIGIT`, at most `max`.
fn cidr(s: &str, max: u8) -> Result<u8, String> {
    if !is_digits(s) || (s.len() > 1 && s.starts_with('0')) || s.len() > 3 {
        return Err(format!("bad CIDR length /{s}"));
    }
    match s.parse::<u8>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("CIDR length /{s} over {max}")),
    }
}

/// domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand.
pub fn check_domain_spec(s: &str) -> Result<(), String> {
    let toks = macro_tokens(s, false)?;
    match toks.last() {
        Some(Tok::Macro { .. }) | Some(Tok::Esc(_)) => Ok(()),
        Some(Tok::Lit(_)) => {
            // The literal tail (after the last macro) must end in "." toplabel [ "." ].
            let tail_start = toks
                .iter()
                .rposition(|t| !matches!(t, Tok::Lit(_)))
                .map_or(0, |i| i + 1);
            let tail: String = toks[tail_start..]
                .iter()
                .filter_map(|t| match t {
                    Tok::Lit(l) => Some(*l),
                    _ => None,
                })
                .collect();
            let t = tail.strip_suffix('.').unwrap_or(&tail);
            match t.rsplit_once('.') {
                Some((_, top)) if is_toplabel(top) => Ok(()),
                _ => Err(format!("{s:?} does not end in a valid top label")),
            }
        }
        None => Err("empty domain-spec".into()),
    }
}

/// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
fn is_toplabel(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
        && b.iter().any(|c| c.is_ascii_alphabetic() || *c == b'-')
}

/// RFC 7208 4.3: a name `check_host()` can start from: at most 253 octets, labels 1-63, more
/// than one label, a proper top label. Domain literals (`[192.0.2.1]`) fail the last test.
pub fn valid_name(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.is_empty() || d.len() > MAX_NAME {
        return false;
    }
    let labels: Vec<&str> = d.split('.').collect();
    labels.len() > 1
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| (0x20..0x7f).contains(&b)))
        && labels.last().is_some_and(|t| is_toplabel(t))
}

/// An expansion as a query name: cut from the left to 253 octets (RFC 7208 7.3), then
/// checked; `None` if DNS cannot carry it.
pub fn name_for_query(expanded: &str) -> Option<String> {
    let mut n = expanded.strip_suffix('.').unwrap_or(expanded);
    while n.len() > MAX_NAME {
        n = n.split_once('.')?.1;
    }
    valid_name(n).then(|| n.to_string())
}

/// True when a domain-spec holds a macro: it can only be expanded for a given sender.
pub fn has_macro(s: &str) -> bool {
    s.contains('%')
}

// ---- macros (RFC 7208 7) ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok<'a> {
    Lit(&'a str),
    /// `%%`, `%_`, `%-`.
    Esc(&'static str),
    Macro {
        letter: u8,
        upper: bool,
        keep: Option<usize>,
        reverse: bool,
        delims: &'a str,
    },
}

/// Splits a macro-string (or, with `exp`, an explain-string, which may also hold spaces and
/// the `c`, `r`, `t` letters) into tokens, or says what is wrong with it.
pub fn macro_tokens(s: &str, exp: bool) -> Result<Vec<Tok<'_>>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        let c = b[i];
        if c != b'%' {
            let ok = (0x21..=0x7e).contains(&c) || (exp && c == b' ');
            if !ok {
                return Err(format!("character {:?} in {s:?}", c as char));
            }
            i += 1;
            continue;
        }
        if lit < i {
            out.push(Tok::Lit(&s[lit..i]));
        }
        match b.get(i + 1) {
            Some(b'%') => out.push(Tok::Esc("%")),
            Some(b'_') => out.push(Tok::Esc(" ")),
            Some(b'-') => out.push(Tok::Esc("%20")),
            Some(b'{') => {
                let close = s[i..]
                    .find('}')
                    .map(|j| i + j)
                    .ok_or_else(|| format!("unclosed macro in {s:?}"))?;
                let inner = &s[i + 2..close];
                let ib = inner.as_bytes();
                let letter = *ib.first().ok_or_else(|| format!("empty macro in {s:?}"))?;
                let lower = letter.to_ascii_lowercase();
                let allowed: &[u8] = if exp { b"slodiphvcrt" } else { b"slodiphv" };
                if !allowed.contains(&lower) {
                    return Err(format!("bad macro letter {:?} in {s:?}", letter as char));
                }
                let rest = &inner[1..];
                let nd = rest.bytes().take_while(u8::is_ascii_digit).count();
                let keep = if nd == 0 {
                    None
                } else {
                    // More parts than any name has is the same as all of them.
                    let n = rest[..nd].parse::<usize>().unwrap_or(usize::MAX);
                    if n == 0 {
                        return Err(format!("zero transformer in {s:?}"));
                    }
                    Some(n)
                };
                let rest = &rest[nd..];
                let (reverse, delims) = match rest.as_bytes().first() {
                    Some(b'r' | b'R') => (true, &rest[1..]),
                    _ => (false, rest),
                };
                if !delims.bytes().all(|d| b".-+,/_=".contains(&d)) {
                    return Err(format!("bad macro delimiter in {s:?}"));
                }
                out.push(Tok::Macro {
                    letter: lower,
                    upper: letter.is_ascii_uppercase(),
                    keep,
                    reverse,
                    delims,
                });
                i = close + 1;
                lit = i;
                continue;
            }
            _ => return Err(format!("bad % escape in {s:?}")),
        }
        i += 2;
        lit = i;
    }
    if lit < b.len() {
        out.push(Tok::Lit(&s[lit..]));
    }
    Ok(out)
}

/// RFC 7208 7.3: split on the delimiters (default "."), optionally reverse, keep the
/// rightmost `keep` parts, join with ".".
pub fn transform(value: &str, keep: Option<usize>, reverse: bool, delims: &str) -> String {
    if keep.is_none() && !reverse && delims.is_empty() {
        return value.to_string();
    }
    let delims = if delims.is_empty() { "." } else { delims };
    let mut parts: Vec<&str> = value.split(|c| delims.contains(c)).collect();
    if reverse {
        parts.reverse();
    }
    let skip = keep.map_or(0, |k| parts.len().saturating_sub(k));
    parts[skip..].join(".")
}

/// `%{i}`: dotted quad, or 32 dot-separated nibbles for IPv6.
pub fn dotted(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6
            .octets()
            .iter()
            .flat_map(|b| [b >> 4, b & 0xf])
            .map(|n| format!("{n:x}"))
            .collect::<Vec<_>>()
            .join("."),
    }
}

/// Uppercase macro letters: URL-escape everything outside RFC 3986 "unreserved".
pub fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_section() {
        assert!(is_spf("v=spf1"));
        assert!(is_spf("V=SPF1 -all"));
        assert!(!is_spf("v=spf10 -all"));
        assert!(!is_spf("v=spf"));
    }

    #[test]
    fn syntax_the_rfc_rejects() {
        for bad in [
            "v=spf1 ip4:1.2.3.4/33",
            "v=spf1 ip4:1.2.3.4/032",
            "v=spf1 ip6:::1/129",
            "v=spf1 a/33",
            "v=spf1 a//129",
            "v=spf1 a:111.222.33.44",
            "v=spf1 a:museum",
            "v=spf1 =all",
            "v=spf1 exp=%{x}.example.com",
            "v=spf1 redirect=a redirect=b.example.com",
            "v=spf1 foo=%",
            "v=spf1 -all\tx",
            "v=spf1 a:foo.example.com\0",
            "v=spf1 -all:foo",
            "v=spf1 exists:%{l0}.example.com",
            "v=spf1 ip4:192.0.2.300 -all",
            "v=spf1 foo:bar -all",
            "v=spf1 include:%{z}.example.com",
            "v=spf1 redirect=a.example.com redirect=b.example.com",
            "v=spf1 a:example -all",
            "v=spf1 ip4:2001:db8::1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(
            parse("v=spf1 redirect=a.example.com redirect=b.example.com"),
            Err(SpfSyntaxError::DuplicateModifier("redirect".into()))
        );
        assert_eq!(
            parse("v=spf1 ip4:1.2.3.4/33"),
            Err(SpfSyntaxError::BadIp("ip4:1.2.3.4/33".into()))
        );
        assert_eq!(parse("v=spf1 a:é.example"), Err(SpfSyntaxError::NotAscii));
    }

    #[test]
    fn syntax_the_rfc_accepts() {
        for good in [
            "v=spf1",
            "v=spf1 a mx ptr -all ",
            "v=spf1 a:foo:bar/baz.example.com",
            "v=spf1 a:example.com/24//64 ip6:::1/0 ip4:0.0.0.0/0",
            "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} ?all",
            "v=spf1 moo.cow-far_out=man:dog/cat ~all",
            "v=spf1 include:%{d}",
            "v=spf1 redirect=_spf.example.com.",
            "v=spf1 a//64 mx/24//96 -all",
        ] {
            assert!(
                parse(good).is_ok(),
                "{good:?} should parse: {:?}",
                parse(good)
            );
        }
        // The domain-spec keeps its "/" and ":": only a trailing CIDR length is peeled off.
        let r = parse("v=spf1 a:foo:bar/baz.example.com/24").unwrap_or_default();
        assert_eq!(
            r[0],
            Term::A {
                q: Qualifier::Pass,
                domain: Some("foo:bar/baz.example.com".into()),
                cidr4: 24,
                cidr6: 128
            }
        );
    }

    #[test]
    fn the_usual_records() {
        let t =
            parse("v=spf1 ip4:192.0.2.0/24 include:_spf.example.com mx a:x.example.com/24 -all")
                .unwrap_or_default();
        assert_eq!(t.len(), 5);
        assert!(matches!(t[4], Term::All { q: Qualifier::Fail }));
        assert_eq!(t.iter().filter(|t| t.counts_lookup()).count(), 3);
        let r = parse_record("v=spf1 mx include:a.example ~all exp=e.example").unwrap_or_default();
        let f = parse_record("v=spf1 mx ip4:127.0.1.300 -all").err();
        assert_eq!(
            f.map(|f| f.why),
            Some("bad IPv4 address in \"ip4:127.0.1.300\"".to_string())
        );
        assert_eq!(r.directives().count(), 3);
        assert_eq!(r.exp(), Some("e.example"));
        assert_eq!(
            r.directives().nth(1).map(|d| d.1),
            Some("include:a.example")
        );
    }

    #[test]
    fn macro_transformers() {
        assert_eq!(transform("1.2.3.4", None, true, ""), "4.3.2.1");
        assert_eq!(transform("a.b.c.d", Some(2), false, ""), "c.d");
        assert_eq!(transform("strong-bad", None, false, "-"), "strong.bad");
        assert_eq!(transform("a.b", Some(9), false, ""), "a.b");
        assert_eq!(url_escape("a b/c"), "a%20b%2Fc");
        let v6: IpAddr = "2001:db8::cb01"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(dotted(v6).starts_with("2.0.0.1.0.d.b.8."));
    }

    #[test]
    fn names() {
        assert!(valid_name("example.com"));
        assert!(valid_name("example.com."));
        assert!(!valid_name("[192.0.2.1]"));
        assert!(!valid_name("a..example.com"));
        assert!(!valid_name("localhost"));
        assert!(!valid_name(&format!("{}.com", "x".repeat(64))));
        let long = format!("{}example.com", "abcdefghi.".repeat(30));
        assert_eq!(name_for_query(&long).map(|n| n.len() <= 253), Some(true));
    }
}
