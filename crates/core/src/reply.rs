//! Finding the SMTP reply inside whatever the user pasted: a bare reply, a multi-line reply, a bare
//! code, or a Postfix / Exim / Sendmail log line or DSN fragment with the reply somewhere inside.
//!
//! Hand-rolled rather than a crate: no maintained crate parses replies out of MTA log prose.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::code::{EnhancedCode, ReplyCode};

/// Inputs longer than this are refused rather than scanned: a reply is at most a few KiB.
pub const MAX_INPUT: usize = 256 * 1024;

/// Where in the input the reply was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputForm {
    /// `421 4.4.2 Connection closed by the server`, possibly over several `421-` lines.
    Reply,
    /// `4.4.3` or `X.7.1` alone.
    EnhancedCode,
    /// `421` alone.
    BasicCode,
    /// A Postfix log line (`said:`, `refused to talk to me:`, `dsn=... status=... (...)`).
    Postfix,
    /// An Exim log line (`SMTP error from remote mail server after ...`).
    Exim,
    /// A Sendmail log line (`stat=Deferred: ...`).
    Sendmail,
    /// A DSN fragment (`Diagnostic-Code: smtp; ...`, `Status: 5.1.1`).
    Dsn,
    /// A reply found inside other text (an application log, an exception message...).
    Embedded,
}

/// What was extracted: the codes as the server sent them, its words, and any context the log
/// line gave (the SMTP stage, the remote host, the recipient domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Extracted {
    pub form: InputForm,
    pub code: Option<ReplyCode>,
    pub enhanced: Option<EnhancedCode>,
    /// The server's words, with codes and `421-` continuation markers removed.
    pub text: String,
    /// The command the reply answered (`RCPT TO`, `end of DATA`, `greeting`...), when a log says.
    pub stage: Option<String>,
    /// The remote host the log names (`mx1.example.com[192.0.2.1]`).
    pub host: Option<String>,
    /// The recipient domain the log names.
    pub domain: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error(
        "empty input: give an SMTP reply (\"421 4.4.2 Connection closed\"), a code (\"4.4.3\", \"X.7.1\", \"421\") or a log line containing one"
    )]
    Empty,
    #[error(
        "input is {0} bytes; the limit is {MAX_INPUT} bytes: paste only the reply or log lines"
    )]
    TooLong(usize),
    #[error(
        "\"{0}\" is not a valid SMTP code: expected a basic reply code 2yz-5yz with y in 0-5 (\"421\"), or an enhanced status code class.subject.detail with class 2, 4, 5 or X (\"4.4.2\", \"X.7.1\")"
    )]
    MalformedCode(String),
    #[error(
        "no SMTP reply found: expected a reply such as \"421 4.4.2 Connection closed by the server\", a code such as \"4.4.3\" or \"421\", or a Postfix/Exim/Sendmail log line or DSN containing one"
    )]
    NoReply,
}

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> =
            LazyLock::new(|| Regex::new($pat).expect(concat!("static regex ", stringify!($name))));
    };
}

// A reply line: code, then '-' (more lines follow) or ' ' or end, then an optional enhanced code.
re!(REPLY_START, r"^([0-9]{3})(?:([ -])(.*))?$");
re!(CODE_LIKE, r"^[0-9xX]+(?:\.[0-9]*)*$");
re!(
    DIAG_CODE,
    r"(?im)^[ \t]*Diagnostic-Code:[ \t]*([A-Za-z0-9-]+)[ \t]*;[ \t]*(.*)$"
);
re!(
    DSN_STATUS,
    r"(?im)^[ \t]*Status:[ \t]*([245]\.[0-9]{1,3}\.[0-9]{1,3})\b"
);
re!(
    DSN_RECIPIENT,
    r"(?im)^[ \t]*(?:Final|Original)-Recipient:[ \t]*rfc822;[ \t]*<?[^@\s>]*@([A-Za-z0-9.-]+)"
);
re!(
    DSN_REMOTE_MTA,
    r"(?im)^[ \t]*Remote-MTA:[ \t]*dns;[ \t]*([A-Za-z0-9.-]+)"
);
re!(POSTFIX_SAID, r"host ([^\s\[]+)\[([^\]]*)\] said:\s*");
re!(
    POSTFIX_REFUSED,
    r"host ([^\s\[]+)\[([^\]]*)\] refused to talk to me:\s*"
);
re!(POSTFIX_IN_REPLY, r"\s*\(in reply to (.+?) command\)\)?\s*$");
re!(POSTFIX_STATUS, r"\bstatus=[a-z-]+ \((.*)\)\s*$");
re!(POSTFIX_TO, r"\bto=<[^@>\s]*@([A-Za-z0-9.-]+)>");
re!(POSTFIX_RELAY, r"\brelay=([^\s\[,]+)\[([^\]]*)\]");
re!(DSN_FIELD, r"\bdsn=([245]\.[0-9]{1,3}\.[0-9]{1,3})\b");
re!(
    EXIM_ERROR,
    r"SMTP error from remote (?:mail server|mailer) after (.+?):\s*(?:host (\S+) \[([^\]]*)\]:\s*)?([0-9]{3}[ -].*)$"
);
re!(EXIM_HOST, r"\bH=([^\s\[]+)(?: \[([^\]]*)\])?");
re!(
    EXIM_RCPT,
    r"^\S+ \S+ (?:\S+ )?(?:\*\*|==|->|=>) [^@\s]*@([A-Za-z0-9.-]+)"
);
re!(SENDMAIL_STAT, r"\bstat=(?:[A-Za-z ]+?: )?([0-9]{3}[ -].*)$");
re!(SENDMAIL_RELAY, r"\brelay=([^\s\[,]+)\.?(?: \[([^\]]*)\])?");
re!(
    EMBEDDED_REPLY,
    r"(?:^|[\s(\[:;,'\x22<>=])([2-5][0-5][0-9])[ -]([245xX]\.[0-9]{1,3}\.[0-9]{1,3})(?:$|[\s,;:)\]])"
);
re!(
    EMBEDDED_ENHANCED,
    r"(?:^|[\s(\[:;,'\x22<>=#])([245]\.[0-9]{1,3}\.[0-9]{1,3})(?:$|[\s,;:)\]])"
);
re!(
    RCPT_DOMAIN,
    r"(?i)\b(?:to|rcpt to):<[^@>\s]*@([A-Za-z0-9.-]+)>"
);
re!(POSTFIX_REJECT_TAIL, r";\s+from=<.*$");

/// Extracts the first reply from `input`. See [`extract_all`] for inputs holding several.
pub fn extract(input: &str) -> Result<Extracted, ExtractError> {
    if input.len() > MAX_INPUT {
        return Err(ExtractError::TooLong(input.len()));
    }
    let s = input.trim();
    if s.is_empty() {
        return Err(ExtractError::Empty);
    }
    // A lone token: a bare basic or enhanced code, or something that tried to be one.
    if !s.contains(char::is_whitespace) {
        if let Some(code) = ReplyCode::parse(s) {
            return Ok(bare(InputForm::BasicCode, Some(code), None));
        }
        if let Some(enh) = EnhancedCode::parse(s) {
            return Ok(bare(InputForm::EnhancedCode, None, Some(enh)));
        }
        if CODE_LIKE.is_match(s) {
            return Err(ExtractError::MalformedCode(s.to_string()));
        }
    }
    // The input itself is a reply, one line or several; a reply that quotes another server's
    // reply (Postfix's "unverified address: host ... said: 550 ...") is still the outer reply.
    if let Some(r) = parse_reply_block(s) {
        return Ok(r.into_extracted(InputForm::Reply));
    }
    if let Some(e) = from_dsn(s) {
        return Ok(e);
    }
    if let Some(e) = from_postfix(s) {
        return Ok(e);
    }
    if let Some(e) = from_exim(s) {
        return Ok(e);
    }
    if let Some(e) = from_sendmail(s) {
        return Ok(e);
    }
    // "699 text": it starts like a reply but the code is outside RFC 5321's grammar.
    if let Some(first) = s.split_whitespace().next()
        && first.len() == 3
        && first.bytes().all(|b| b.is_ascii_digit())
        && ReplyCode::parse(first).is_none()
    {
        return Err(ExtractError::MalformedCode(first.to_string()));
    }
    embedded(s).ok_or(ExtractError::NoReply)
}

/// Extracts every reply in `input`. One multi-line reply or one DSN is one reply; otherwise each
/// line is its own input. Lines without a reply are returned as errors in place, so the caller
/// can report them without losing the others.
pub fn extract_all(input: &str) -> Vec<Result<Extracted, ExtractError>> {
    if input.len() > MAX_INPUT {
        return vec![Err(ExtractError::TooLong(input.len()))];
    }
    let lines: Vec<&str> = input.lines().filter(|l| !l.trim().is_empty()).collect();
    let single = lines.len() <= 1
        || DIAG_CODE.is_match(input)
        || DSN_STATUS.is_match(input)
        || is_one_multiline_reply(&lines);
    if single {
        return vec![extract(input)];
    }
    lines.into_iter().map(extract).collect()
}

/// True when every line carries the same reply code, all but the last with `-` (RFC 5321 4.2.1),
/// or when lines after the first are indented continuations.
fn is_one_multiline_reply(lines: &[&str]) -> bool {
    let Some(first) = lines.first().map(|l| l.trim()) else {
        return false;
    };
    let Some(code) = first.get(..3).filter(|c| ReplyCode::parse(c).is_some()) else {
        return false;
    };
    if first.as_bytes().get(3) != Some(&b'-') {
        return false;
    }
    lines.iter().all(|l| {
        let l = l.trim();
        l.starts_with(code) && matches!(l.as_bytes().get(3), Some(b'-' | b' ') | None)
    })
}

fn bare(form: InputForm, code: Option<ReplyCode>, enhanced: Option<EnhancedCode>) -> Extracted {
    Extracted {
        form,
        code,
        enhanced,
        text: String::new(),
        stage: None,
        host: None,
        domain: None,
    }
}

/// A reply parsed from the start of some text.
struct ParsedReply {
    code: ReplyCode,
    enhanced: Option<EnhancedCode>,
    text: String,
}

impl ParsedReply {
    fn into_extracted(self, form: InputForm) -> Extracted {
        Extracted {
            form,
            code: Some(self.code),
            enhanced: self.enhanced,
            text: self.text,
            stage: None,
            host: None,
            domain: None,
        }
    }
}

/// Parses a reply that starts at the beginning of `s`: `421 4.4.2 text`, `421-4.7.0 a 421-4.7.0 b`
/// (continuations joined on one line, as Postfix logs them) or several `421-` lines.
fn parse_reply_block(s: &str) -> Option<ParsedReply> {
    let mut lines = s.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?;
    let caps = REPLY_START.captures(first)?;
    let code = ReplyCode::parse(caps.get(1)?.as_str())?;
    let rest = caps.get(3).map_or("", |m| m.as_str());
    let (enhanced, first_text) = split_enhanced(rest);
    let mut parts = vec![first_text.to_string()];
    for line in lines {
        // Continuation lines repeat the code; anything else is folded prose and kept as is.
        let body = match REPLY_START.captures(line) {
            Some(c) if c.get(1).map(|m| m.as_str()) == Some(caps.get(1)?.as_str()) => {
                split_enhanced(c.get(3).map_or("", |m| m.as_str()))
                    .1
                    .to_string()
            }
            _ => line.to_string(),
        };
        parts.push(body);
    }
    let joined = parts.join(" ");
    let text = strip_inline_continuations(&joined, code, enhanced);
    Some(ParsedReply {
        code,
        enhanced,
        text,
    })
}

/// Splits a leading enhanced code off reply text.
fn split_enhanced(rest: &str) -> (Option<EnhancedCode>, &str) {
    let rest = rest.trim_start();
    let (tok, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    match EnhancedCode::parse(tok.trim_end_matches([',', ';', ':'])) {
        Some(e) => (Some(e), after.trim_start()),
        None => (None, rest),
    }
}

/// Removes the `421-4.7.0` / `550 5.1.1` continuation markers that a log joined into one line.
fn strip_inline_continuations(
    text: &str,
    code: ReplyCode,
    enhanced: Option<EnhancedCode>,
) -> String {
    let code_s = code.to_string();
    let dash = format!("{code_s}-");
    let enh_s = enhanced.map(|e| e.to_string());
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        // `421-4.7.0` glued, or `421-` / `421` followed by the enhanced code as the next word.
        let glued = w.strip_prefix(&dash);
        let is_marker = match glued {
            Some("") => true,
            Some(g) => Some(g) == enh_s.as_deref(),
            None => w == code_s && enh_s.is_some() && words.get(i + 1).copied() == enh_s.as_deref(),
        };
        if is_marker {
            i += 1;
            if matches!(glued, Some("") | None) && words.get(i).copied() == enh_s.as_deref() {
                i += 1;
            }
            continue;
        }
        out.push(w);
        i += 1;
    }
    out.join(" ")
}

fn from_dsn(s: &str) -> Option<Extracted> {
    let diag = DIAG_CODE.captures(s);
    let status = DSN_STATUS
        .captures(s)
        .and_then(|c| EnhancedCode::parse(c.get(1)?.as_str()));
    if diag.is_none() && status.is_none() {
        return None;
    }
    let domain = DSN_RECIPIENT
        .captures(s)
        .and_then(|c| Some(c.get(1)?.as_str().to_string()));
    let host = DSN_REMOTE_MTA
        .captures(s)
        .and_then(|c| Some(c.get(1)?.as_str().to_string()));
    let mut out = match diag {
        Some(c) => {
            // Folded header: following lines that start with whitespace continue it.
            let mut payload = c.get(2)?.as_str().to_string();
            let after = &s[c.get(0)?.end()..];
            for line in after.lines().skip_while(|l| l.is_empty()) {
                if line.starts_with([' ', '\t']) {
                    payload.push(' ');
                    payload.push_str(line.trim());
                } else {
                    break;
                }
            }
            match parse_reply_block(payload.trim()) {
                Some(r) => r.into_extracted(InputForm::Dsn),
                None => Extracted {
                    text: payload.trim().to_string(),
                    ..bare(InputForm::Dsn, None, status)
                },
            }
        }
        None => bare(InputForm::Dsn, None, status),
    };
    if out.enhanced.is_none() {
        out.enhanced = status;
    }
    out.domain = domain;
    out.host = host;
    Some(out)
}

fn from_postfix(s: &str) -> Option<Extracted> {
    let said = POSTFIX_SAID
        .captures(s)
        .map(|c| (c, None))
        .or_else(|| POSTFIX_REFUSED.captures(s).map(|c| (c, Some("greeting"))));
    let domain = POSTFIX_TO
        .captures(s)
        .and_then(|c| Some(c.get(1)?.as_str().to_string()));
    let dsn = DSN_FIELD
        .captures(s)
        .and_then(|c| EnhancedCode::parse(c.get(1)?.as_str()));
    if let Some((c, stage)) = said {
        let host = format!("{}[{}]", c.get(1)?.as_str(), c.get(2)?.as_str());
        let mut payload = &s[c.get(0)?.end()..];
        let mut stage = stage.map(str::to_string);
        if let Some(m) = POSTFIX_IN_REPLY.captures(payload) {
            stage = m.get(1).map(|x| x.as_str().to_string());
            payload = &payload[..m.get(0)?.start()];
        }
        let payload = payload.trim_end_matches(')').trim();
        let mut e = parse_reply_block(payload)?.into_extracted(InputForm::Postfix);
        if e.enhanced.is_none() {
            e.enhanced = dsn;
        }
        e.stage = stage;
        e.host = Some(host);
        e.domain = domain;
        return Some(e);
    }
    // `dsn=4.4.1, status=deferred (connect to mx[1.2.3.4]:25: Connection refused)`, or a reply
    // directly inside the parentheses.
    let status = POSTFIX_STATUS.captures(s)?;
    let inner = status.get(1)?.as_str().trim();
    let host = POSTFIX_RELAY
        .captures(s)
        .and_then(|c| Some(format!("{}[{}]", c.get(1)?.as_str(), c.get(2)?.as_str())));
    let mut e = match parse_reply_block(inner) {
        Some(r) => r.into_extracted(InputForm::Postfix),
        None => Extracted {
            text: inner.to_string(),
            ..bare(InputForm::Postfix, None, dsn)
        },
    };
    if e.enhanced.is_none() {
        e.enhanced = dsn;
    }
    if e.code.is_none() && e.enhanced.is_none() {
        return None;
    }
    e.host = host;
    e.domain = domain;
    Some(e)
}

fn from_exim(s: &str) -> Option<Extracted> {
    let c = EXIM_ERROR.captures(s)?;
    let stage = c.get(1)?.as_str();
    // "RCPT TO:<a@b.test>" -> stage "RCPT TO", domain "b.test".
    let domain = RCPT_DOMAIN
        .captures(stage)
        .or_else(|| EXIM_RCPT.captures(s))
        .and_then(|d| Some(d.get(1)?.as_str().to_string()));
    let stage = stage.split(":<").next().unwrap_or(stage).trim().to_string();
    let host = match (c.get(2), c.get(3)) {
        (Some(h), Some(ip)) => Some(format!("{}[{}]", h.as_str(), ip.as_str())),
        _ => EXIM_HOST.captures(s).and_then(|h| {
            let name = h.get(1)?.as_str();
            Some(match h.get(2) {
                Some(ip) => format!("{name}[{}]", ip.as_str()),
                None => name.to_string(),
            })
        }),
    };
    let mut e = parse_reply_block(c.get(4)?.as_str())?.into_extracted(InputForm::Exim);
    e.stage = Some(stage);
    e.host = host;
    e.domain = domain;
    Some(e)
}

fn from_sendmail(s: &str) -> Option<Extracted> {
    let c = SENDMAIL_STAT.captures(s)?;
    let mut e = parse_reply_block(c.get(1)?.as_str())?.into_extracted(InputForm::Sendmail);
    if e.enhanced.is_none() {
        e.enhanced = DSN_FIELD
            .captures(s)
            .and_then(|d| EnhancedCode::parse(d.get(1)?.as_str()));
    }
    e.host = SENDMAIL_RELAY.captures(s).and_then(|r| {
        let name = r.get(1)?.as_str().trim_end_matches('.');
        Some(match r.get(2) {
            Some(ip) => format!("{name}[{}]", ip.as_str()),
            None => name.to_string(),
        })
    });
    e.domain = RCPT_DOMAIN
        .captures(s)
        .and_then(|d| Some(d.get(1)?.as_str().to_string()));
    Some(e)
}

/// A reply somewhere inside other text: a code followed by an enhanced code, else a lone
/// enhanced code (`dsn=4.4.0`), with the surrounding text kept as the server's words.
fn embedded(s: &str) -> Option<Extracted> {
    let domain = RCPT_DOMAIN
        .captures(s)
        .and_then(|d| Some(d.get(1)?.as_str().to_string()));
    if let Some(c) = EMBEDDED_REPLY.captures(s) {
        let start = c.get(1)?.start();
        let tail = &s[start..];
        let tail = POSTFIX_REJECT_TAIL.replace(tail, "");
        let mut e = parse_reply_block(&tail)?.into_extracted(InputForm::Embedded);
        e.domain = domain;
        return Some(e);
    }
    let c = EMBEDDED_ENHANCED.captures(s)?;
    let enh = EnhancedCode::parse(c.get(1)?.as_str())?;
    let mut e = bare(InputForm::Embedded, None, Some(enh));
    e.text = s.lines().next().unwrap_or(s).trim().to_string();
    e.domain = domain;
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(s: &str) -> Extracted {
        match extract(s) {
            Ok(e) => e,
            Err(err) => panic!("{s:?}: {err}"),
        }
    }

    #[test]
    fn bare_reply() {
        let e = ex("421 4.4.2 Connection closed by the server");
        assert_eq!(e.form, InputForm::Reply);
        assert_eq!(e.code.map(|c| c.value()), Some(421));
        assert_eq!(e.enhanced.map(|c| c.to_string()).as_deref(), Some("4.4.2"));
        assert_eq!(e.text, "Connection closed by the server");
    }

    #[test]
    fn multiline_reply_on_separate_lines() {
        let e = ex(
            "550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Learn more at https://support.google.com/mail/?p=NoSuchUser\r\n",
        );
        assert_eq!(e.code.map(|c| c.value()), Some(550));
        assert_eq!(
            e.text,
            "The email account that you tried to reach does not exist. Learn more at https://support.google.com/mail/?p=NoSuchUser"
        );
    }

    #[test]
    fn postfix_joined_continuations() {
        let e = ex(
            "status=deferred (host mx1.example.com[192.0.2.1] said: 421-4.7.0 [1.2.3.4 15] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail (in reply to RCPT TO command))",
        );
        assert_eq!(e.form, InputForm::Postfix);
        assert_eq!(e.code.map(|c| c.value()), Some(421));
        assert_eq!(e.enhanced.map(|c| c.to_string()).as_deref(), Some("4.7.0"));
        assert_eq!(
            e.text,
            "[1.2.3.4 15] Our system has detected an unusual rate of unsolicited mail"
        );
        assert_eq!(e.stage.as_deref(), Some("RCPT TO"));
        assert_eq!(e.host.as_deref(), Some("mx1.example.com[192.0.2.1]"));
    }

    #[test]
    fn bare_codes_and_malformed_ones() {
        assert_eq!(ex("4.4.3").form, InputForm::EnhancedCode);
        assert_eq!(ex("X.7.1").enhanced.map(|e| e.class), Some(None));
        assert_eq!(ex("421").form, InputForm::BasicCode);
        assert!(matches!(
            extract("699"),
            Err(ExtractError::MalformedCode(_))
        ));
        assert!(matches!(
            extract("4.4"),
            Err(ExtractError::MalformedCode(_))
        ));
        assert!(matches!(
            extract("7.1.1"),
            Err(ExtractError::MalformedCode(_))
        ));
        assert!(matches!(extract("   "), Err(ExtractError::Empty)));
        assert!(matches!(extract("hello world"), Err(ExtractError::NoReply)));
        assert!(matches!(
            extract("999 Weird"),
            Err(ExtractError::MalformedCode(_))
        ));
    }

    #[test]
    fn exim_line() {
        let e = ex(
            "2026-11-20 10:00:01 1rABCD-000123-AB ** bob@example.org R=dnslookup T=remote_smtp H=mx.example.org [192.0.2.9]: SMTP error from remote mail server after RCPT TO:<bob@example.org>: 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown",
        );
        assert_eq!(e.form, InputForm::Exim);
        assert_eq!(e.stage.as_deref(), Some("RCPT TO"));
        assert_eq!(e.domain.as_deref(), Some("example.org"));
        assert_eq!(e.host.as_deref(), Some("mx.example.org[192.0.2.9]"));
        assert_eq!(e.enhanced.map(|c| c.to_string()).as_deref(), Some("5.1.1"));
    }

    #[test]
    fn dsn_fragment_with_folded_header() {
        let e = ex(
            "Final-Recipient: rfc822; carol@example.net\nAction: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.example.net\nDiagnostic-Code: smtp; 550 5.1.1 <carol@example.net>:\n    Recipient address rejected: User unknown in virtual mailbox table\n",
        );
        assert_eq!(e.form, InputForm::Dsn);
        assert_eq!(e.code.map(|c| c.value()), Some(550));
        assert_eq!(e.domain.as_deref(), Some("example.net"));
        assert!(
            e.text.ends_with("User unknown in virtual mailbox table"),
            "{}",
            e.text
        );
    }

    #[test]
    fn postfix_dsn_without_reply_keeps_the_reason() {
        let e = ex(
            "Nov 20 10:00:01 mail postfix/smtp[123]: 4AB12C3D4E: to=<dan@example.com>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.com[192.0.2.1]:25: Connection timed out)",
        );
        assert_eq!(e.code, None);
        assert_eq!(e.enhanced.map(|c| c.to_string()).as_deref(), Some("4.4.1"));
        assert!(e.text.contains("Connection timed out"));
        assert_eq!(e.domain.as_deref(), Some("example.com"));
    }

    #[test]
    fn extract_all_splits_lines_but_not_one_reply() {
        assert_eq!(
            extract_all("421-4.7.0 a\n421-4.7.0 b\n421 4.7.0 c").len(),
            1
        );
        let many = extract_all("421 4.4.2 closed\nnothing here\n550 5.1.1 unknown");
        assert_eq!(many.len(), 3);
        assert!(many[1].is_err());
    }
}
