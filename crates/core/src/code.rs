//! The two numbering schemes of an SMTP reply: the basic reply code of RFC 5321 (`421`) and the
//! enhanced status code of RFC 3463 (`4.4.2`), as validated value types with their meanings.

use std::fmt;

use serde::{Serialize, Serializer};

/// What a reply means for the transaction: RFC 5321 section 4.2.1, first digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// 2yz (and 3yz, intermediate success: the server waits for more).
    Success,
    /// 4yz: the command failed but the condition is temporary; the sender should retry.
    Transient,
    /// 5yz: the command failed and will fail again unchanged.
    Permanent,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Success => "success",
            Class::Transient => "transient",
            Class::Permanent => "permanent",
        }
    }

    /// Whether a sender should try the same thing again later.
    pub fn retry(self) -> bool {
        self == Class::Transient
    }

    fn from_digit(d: u16) -> Option<Class> {
        match d {
            2 | 3 => Some(Class::Success),
            4 => Some(Class::Transient),
            5 => Some(Class::Permanent),
            _ => None,
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A basic SMTP reply code, `2yz`..`5yz` with `y` in 0..=5 (RFC 5321 section 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// Accepts only codes RFC 5321's grammar allows: first digit 2-5, second 0-5.
    pub fn new(code: u16) -> Option<ReplyCode> {
        let (x, y) = (code / 100, (code / 10) % 10);
        ((2..=5).contains(&x) && y <= 5 && code < 600).then_some(ReplyCode(code))
    }

    /// Parses exactly three ASCII digits.
    pub fn parse(s: &str) -> Option<ReplyCode> {
        if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        ReplyCode::new(s.parse().ok()?)
    }

    pub fn value(self) -> u16 {
        self.0
    }

    pub fn class(self) -> Class {
        // new() guarantees the first digit is 2..=5.
        Class::from_digit(self.0 / 100).unwrap_or(Class::Permanent)
    }

    /// The first digit (2-5), which is also the class digit of a matching enhanced code.
    pub fn class_digit(self) -> u8 {
        (self.0 / 100) as u8
    }

    /// RFC 5321's meaning for this code, and whether RFC 5321 (or an extension RFC) defines it.
    pub fn meaning(self) -> (&'static str, bool) {
        let known = match self.0 {
            211 => "System status, or system help reply",
            214 => "Help message",
            220 => "Service ready",
            221 => "Service closing transmission channel",
            235 => "Authentication succeeded (RFC 4954)",
            250 => "Requested mail action okay, completed",
            251 => "User not local; will forward",
            252 => "Cannot VRFY user, but will accept message and attempt delivery",
            334 => "Server challenge during AUTH (RFC 4954)",
            354 => "Start mail input; end with <CRLF>.<CRLF>",
            421 => "Service not available, closing transmission channel",
            432 => "A password transition is needed (RFC 4954)",
            450 => {
                "Requested mail action not taken: mailbox unavailable (busy or temporarily blocked)"
            }
            451 => "Requested action aborted: local error in processing",
            452 => "Requested action not taken: insufficient system storage",
            454 => "Temporary authentication failure, or TLS not available (RFC 4954, RFC 3207)",
            455 => "Server unable to accommodate parameters",
            500 => "Syntax error, command unrecognized",
            501 => "Syntax error in parameters or arguments",
            502 => "Command not implemented",
            503 => "Bad sequence of commands",
            504 => "Command parameter not implemented",
            521 => "Server does not accept mail (RFC 7504)",
            523 => "Encryption needed (RFC 5248)",
            530 => "Authentication required, or must issue STARTTLS first (RFC 4954, RFC 3207)",
            534 => "Authentication mechanism is too weak (RFC 4954)",
            535 => "Authentication credentials invalid (RFC 4954)",
            538 => "Encryption required for requested authentication mechanism (RFC 4954)",
            550 => {
                "Requested action not taken: mailbox unavailable (not found, no access, or rejected by policy)"
            }
            551 => "User not local; please try the forward-path",
            552 => "Requested mail action aborted: exceeded storage allocation",
            553 => "Requested action not taken: mailbox name not allowed",
            554 => "Transaction failed (or, as a greeting, no SMTP service here)",
            555 => "MAIL FROM/RCPT TO parameters not recognized or not implemented",
            556 => "Domain does not accept mail (RFC 7504, null MX)",
            _ => "",
        };
        if !known.is_empty() {
            return (known, true);
        }
        // RFC 5321 4.2.1: the second digit says what area the reply is about.
        let generic = match (self.0 / 100, (self.0 / 10) % 10) {
            (2, _) => "Positive completion (code not defined by RFC 5321)",
            (3, _) => "Positive intermediate: more input expected (code not defined by RFC 5321)",
            (4, 0) | (5, 0) => "Syntax error (code not defined by RFC 5321)",
            (4, 1) | (5, 1) => "Information reply (code not defined by RFC 5321)",
            (4, 2) | (5, 2) => "Transmission channel problem (code not defined by RFC 5321)",
            (4, 5) | (5, 5) => "Mail system problem (code not defined by RFC 5321)",
            (4, _) => "Transient failure (code not defined by RFC 5321)",
            _ => "Permanent failure (code not defined by RFC 5321)",
        };
        (generic, false)
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ReplyCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

impl schemars::JsonSchema for ReplyCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ReplyCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A basic SMTP reply code (RFC 5321 4.2): 2xx, 3xx, 4xx or 5xx.",
            "type": "integer",
            "minimum": 200,
            "maximum": 599
        })
    }
}

/// An enhanced status code `class.subject.detail` (RFC 3463 section 2). The class may be unknown
/// (`X.7.1`, as the registry writes codes that exist in every class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// 2, 4 or 5; `None` for the registry's `X`.
    pub class: Option<u8>,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedCode {
    /// Parses `4.4.2`, `5.1.10`, `X.7.1` (or `x.7.1`). Subject and detail are 1-3 digits without
    /// leading zeros (RFC 3463's grammar); class is 2, 4, 5 or X.
    pub fn parse(s: &str) -> Option<EnhancedCode> {
        let mut parts = s.split('.');
        let (c, sub, det) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let class = match c {
            "2" => Some(2),
            "4" => Some(4),
            "5" => Some(5),
            "X" | "x" => None,
            _ => return None,
        };
        Some(EnhancedCode {
            class,
            subject: parse_sub_code(sub)?,
            detail: parse_sub_code(det)?,
        })
    }

    pub fn class(self) -> Option<Class> {
        self.class.and_then(|c| Class::from_digit(c as u16))
    }

    /// The same code with its class made concrete (used when a basic code supplies it).
    pub fn with_class(self, class: u8) -> EnhancedCode {
        EnhancedCode {
            class: Some(class),
            ..self
        }
    }
}

fn parse_sub_code(s: &str) -> Option<u16> {
    let ok = !s.is_empty()
        && s.len() <= 3
        && s.bytes().all(|b| b.is_ascii_digit())
        && !(s.len() > 1 && s.starts_with('0'));
    if ok { s.parse().ok() } else { None }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            Some(c) => write!(f, "{c}.{}.{}", self.subject, self.detail),
            None => write!(f, "X.{}.{}", self.subject, self.detail),
        }
    }
}

impl Serialize for EnhancedCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl schemars::JsonSchema for EnhancedCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EnhancedCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An enhanced status code class.subject.detail (RFC 3463); class X when unknown.",
            "type": "string",
            "pattern": "^[245X]\\.(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_follow_rfc5321_grammar() {
        assert!(ReplyCode::parse("421").is_some());
        assert!(ReplyCode::parse("556").is_some());
        assert!(ReplyCode::parse("199").is_none());
        assert!(ReplyCode::parse("460").is_none());
        assert!(ReplyCode::parse("600").is_none());
        assert!(ReplyCode::parse("42").is_none());
        assert!(ReplyCode::parse("4210").is_none());
        assert_eq!(
            ReplyCode::parse("451").map(|c| c.class()),
            Some(Class::Transient)
        );
    }

    #[test]
    fn unknown_reply_codes_get_generic_meanings() {
        let (m, known) = ReplyCode::parse("429")
            .map(|c| c.meaning())
            .unwrap_or_default();
        assert!(!known);
        assert!(m.contains("Transmission channel"));
        assert!(
            ReplyCode::parse("421")
                .map(|c| c.meaning().1)
                .unwrap_or(false)
        );
    }

    #[test]
    fn enhanced_codes_parse_and_print() {
        let c = EnhancedCode::parse("4.4.2");
        assert_eq!(c.map(|c| c.to_string()).as_deref(), Some("4.4.2"));
        assert_eq!(EnhancedCode::parse("X.7.1").map(|c| c.class), Some(None));
        assert_eq!(EnhancedCode::parse("5.1.10").map(|c| c.detail), Some(10));
        for bad in [
            "3.1.1", "4.4", "4.4.2.1", "4.04.2", "4.1234.1", "4..1", "a.b.c", "",
        ] {
            assert!(EnhancedCode::parse(bad).is_none(), "{bad}");
        }
    }
}
