//! What one SMTP host does, once the scenario keys are checked: mailboxes, replies, delays.
//! Plain data shared (behind `Arc`) by every session of the host.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// An SMTP reply the scenario asked for: a code and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Text after the code, one entry per line (without the code or separator).
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![text.to_owned()],
        }
    }

    /// Parses `"421 4.4.0 text"`; `\n` separates lines, which may repeat the code.
    pub fn parse(s: &str) -> Result<Reply, String> {
        let mut lines = Vec::new();
        let mut code = None;
        for (i, line) in s.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(bad) = line.chars().find(|c| c.is_control()) {
                return Err(format!(
                    "reply text contains a control character ({:?})",
                    bad
                ));
            }
            let digits: String = line.chars().take(3).collect();
            let has_code = digits.len() == 3
                && digits.chars().all(|c| c.is_ascii_digit())
                && matches!(line.as_bytes().get(3), None | Some(b' ') | Some(b'-'));
            if i == 0 {
                if !has_code {
                    return Err(format!(
                        "reply {:?} must start with a three-digit code (e.g. \"421 4.4.0 try later\")",
                        s
                    ));
                }
                let n: u16 = digits.parse().map_err(|_| "bad reply code".to_owned())?;
                if !(200..=599).contains(&n) {
                    return Err(format!("reply code {n} is not between 200 and 599"));
                }
                code = Some(n);
            }
            let text = if has_code && code.is_some_and(|c| digits == c.to_string()) {
                line.get(4..).unwrap_or("")
            } else {
                line
            };
            lines.push(text.to_owned());
        }
        let code = code.ok_or_else(|| "empty reply".to_owned())?;
        Ok(Reply { code, lines })
    }

    /// The reply on the wire, each line ended by `eol`.
    pub fn render(&self, eol: &str) -> String {
        let mut out = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            if line.is_empty() && i == last {
                out.push_str(&format!("{}{}", self.code, eol));
            } else {
                out.push_str(&format!("{}{}{}{}", self.code, sep, line, eol));
            }
        }
        out
    }

    /// True for 421: RFC 5321 says the server closes the channel after sending it.
    pub fn closes(&self) -> bool {
        self.code == 421
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Scenario text is printable ASCII by construction; Debug-escape anyway for safety.
        let first = self.lines.first().map(String::as_str).unwrap_or("");
        write!(f, "{} {}", self.code, first.escape_debug())
    }
}

/// Mailboxes as entries: `local` matches that local part at any domain, `local@domain` exactly.
#[derive(Debug, Clone, Default)]
pub struct MailboxSet {
    locals: HashSet<String>,
    full: HashSet<String>,
}

impl MailboxSet {
    pub fn insert(&mut self, entry: &str) {
        let entry = entry.to_ascii_lowercase();
        if entry.contains('@') {
            self.full.insert(entry);
        } else {
            self.locals.insert(entry);
        }
    }

    pub fn contains(&self, address: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        let address = address.to_ascii_lowercase();
        if self.full.contains(&address) {
            return true;
        }
        let local = address
            .rsplit_once('@')
            .map_or(address.as_str(), |(l, _)| l);
        self.locals.contains(local)
    }

    pub fn len(&self) -> usize {
        self.locals.len() + self.full.len()
    }

    pub fn is_empty(&self) -> bool {
        self.locals.is_empty() && self.full.is_empty()
    }
}

/// Greylisting on the (client IP, MAIL FROM, RCPT TO) triplet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greylist {
    /// How long after the first attempt a retry of the same triplet passes.
    pub delay: Duration,
    pub reply: Reply,
}

/// At most `connections` accepted connections per client address within `per`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub connections: u32,
    pub per: Duration,
    pub reply: Reply,
}

/// At most `per_client` simultaneous connections from one client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concurrency {
    pub per_client: u32,
    pub reply: Reply,
}

/// After `commands` commands, the next one is answered with `reply` (or nothing) and closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseAfter {
    pub commands: u32,
    /// `None`: a bare TCP close with no reply.
    pub reply: Option<Reply>,
}

/// Slowness on purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tarpit {
    pub banner_delay: Duration,
    pub reply_delay: Duration,
}

/// The STARTTLS offer and the certificate behind it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// Signed by the lab CA for the host name, currently valid.
    #[default]
    Valid,
    /// Signed by the lab CA, expired yesterday.
    Expired,
    /// Signed by the lab CA, valid, expiring in 5 days.
    Expiring,
    /// Self-signed for the host name.
    SelfSigned,
    /// Signed by the lab CA for another name.
    WrongName,
    /// `220` to STARTTLS, then bytes that are not TLS, then close.
    Broken,
    /// STARTTLS not offered (`502 5.5.1` if asked).
    None,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Valid => "valid",
            TlsMode::Expired => "expired",
            TlsMode::Expiring => "expiring",
            TlsMode::SelfSigned => "self-signed",
            TlsMode::WrongName => "wrong-name",
            TlsMode::Broken => "broken",
            TlsMode::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<TlsMode> {
        Some(match s {
            "valid" => TlsMode::Valid,
            "expired" => TlsMode::Expired,
            "expiring" => TlsMode::Expiring,
            "self-signed" => TlsMode::SelfSigned,
            "wrong-name" => TlsMode::WrongName,
            "broken" => TlsMode::Broken,
            "none" => TlsMode::None,
            _ => return None,
        })
    }
}

/// Protocol quirks: legal-but-unusual or sloppy server habits clients must survive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quirks {
    /// Replies end in a bare LF instead of CRLF.
    pub bare_lf: bool,
    /// The EHLO reply carries dozens of long extension lines.
    pub long_replies: bool,
    /// EHLO keywords and reply text in lower case (`250-starttls`).
    pub lowercase: bool,
    /// The banner is a multi-line `220-` reply.
    pub multiline_banner: bool,
    /// Hostile: an unsolicited `550 5.1.1` reply follows the greeting in the same write, as
    /// if answering a RCPT nobody sent (RFC 5321 4.3.1: a server speaks only in reply).
    pub early_talker: bool,
    /// Hostile: every RCPT reply is preceded by an extra `550 5.1.1` reply in the same write,
    /// so a client that trusts position gives each address the reply meant for another.
    pub extra_replies: bool,
}

impl Quirks {
    pub const NAMES: [&'static str; 6] = [
        "bare-lf",
        "long-replies",
        "lowercase",
        "multiline-banner",
        "early-talker",
        "extra-replies",
    ];

    pub fn set(&mut self, name: &str) -> bool {
        match name {
            "bare-lf" => self.bare_lf = true,
            "long-replies" => self.long_replies = true,
            "lowercase" => self.lowercase = true,
            "multiline-banner" => self.multiline_banner = true,
            "early-talker" => self.early_talker = true,
            "extra-replies" => self.extra_replies = true,
            _ => return false,
        }
        true
    }

    pub fn names(&self) -> Vec<&'static str> {
        let flags = [
            self.bare_lf,
            self.long_replies,
            self.lowercase,
            self.multiline_banner,
            self.early_talker,
            self.extra_replies,
        ];
        Self::NAMES
            .iter()
            .zip(flags)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// What DATA does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataMode {
    /// `354`, read the message (bounded), discard it, `250 2.0.0`.
    #[default]
    Accept,
    /// `554 5.7.0`: the lab takes no mail.
    Reject,
}

/// A submission server (RFC 6409): `AUTH PLAIN LOGIN` offered only after STARTTLS, one
/// account, every recipient relayed once authenticated, each message recorded for the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub user: String,
    pub password: String,
    pub fail_first: Option<FailFirst>,
}

/// The command a [`FailFirst`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailCommand {
    Mail,
    Data,
}

impl FailCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            FailCommand::Mail => "MAIL",
            FailCommand::Data => "DATA",
        }
    }
}

/// The first `count` attempts of `command` on the host, counted across sessions and clients,
/// get `reply` (a 421 also closes): a relay that recovers, to test a client's retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailFirst {
    pub command: FailCommand,
    pub count: u32,
    pub reply: Reply,
}

/// Everything one SMTP host does for one client. Defaults: an ordinary, polite server with
/// no mailboxes (every RCPT is `550 5.1.1`), STARTTLS with a valid certificate.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    pub mailboxes: Arc<MailboxSet>,
    pub catch_all: bool,
    /// `452 4.2.2`.
    pub mailbox_full: Arc<MailboxSet>,
    /// `552 5.2.2`.
    pub over_quota: Arc<MailboxSet>,
    /// `550 5.2.1`.
    pub disabled: Arc<MailboxSet>,
    pub greylist: Option<Greylist>,
    pub rate_limit: Option<RateLimit>,
    pub concurrency: Option<Concurrency>,
    /// A banner other than `220 NAME ESMTP`; 4xx/5xx banners refuse the session.
    pub banner: Option<Reply>,
    pub close_after: Option<CloseAfter>,
    /// Every RCPT gets this reply (a 421 also closes).
    pub rcpt_reply: Option<Reply>,
    /// Every EHLO gets this reply (HELO still works): a server without ESMTP.
    pub ehlo_reply: Option<Reply>,
    /// RCPTs accepted per session before `452 4.5.3`.
    pub rcpt_limit: Option<u32>,
    pub tarpit: Tarpit,
    /// Added before every reply, banner included.
    pub latency: Duration,
    /// Accept the connection and never send a banner.
    pub silent: bool,
    /// Host level: no listener. Client level: accept and reset at once.
    pub refuse: bool,
    pub starttls: TlsMode,
    pub quirks: Quirks,
    pub data: DataMode,
    pub submission: Option<Arc<Submission>>,
}

impl Behaviour {
    /// Short tags for the ready file and `lab serve` output, one per non-default behaviour.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.mailboxes.is_empty() {
            out.push(format!("mailboxes({})", self.mailboxes.len()));
        }
        if self.catch_all {
            out.push("catch-all".into());
        }
        if !self.mailbox_full.is_empty() {
            out.push(format!("mailbox-full({})", self.mailbox_full.len()));
        }
        if !self.over_quota.is_empty() {
            out.push(format!("over-quota({})", self.over_quota.len()));
        }
        if !self.disabled.is_empty() {
            out.push(format!("disabled({})", self.disabled.len()));
        }
        if let Some(g) = &self.greylist {
            out.push(format!("greylist({}, {})", fmt_duration(g.delay), g.reply));
        }
        if let Some(r) = &self.rate_limit {
            out.push(format!(
                "rate-limit({}/{})",
                r.connections,
                fmt_duration(r.per)
            ));
        }
        if let Some(c) = &self.concurrency {
            out.push(format!("concurrency({} per client)", c.per_client));
        }
        if let Some(b) = &self.banner {
            out.push(format!("banner({b})"));
        }
        if let Some(c) = &self.close_after {
            match &c.reply {
                Some(r) => out.push(format!("close-after({}, {r})", c.commands)),
                None => out.push(format!("close-after({}, bare)", c.commands)),
            }
        }
        if let Some(r) = &self.rcpt_reply {
            out.push(format!("rcpt-reply({r})"));
        }
        if let Some(r) = &self.ehlo_reply {
            out.push(format!("ehlo-reply({r})"));
        }
        if let Some(n) = self.rcpt_limit {
            out.push(format!("rcpt-limit({n})"));
        }
        if self.tarpit != Tarpit::default() {
            out.push(format!(
                "tarpit(banner {}, reply {})",
                fmt_duration(self.tarpit.banner_delay),
                fmt_duration(self.tarpit.reply_delay)
            ));
        }
        if !self.latency.is_zero() {
            out.push(format!("latency({})", fmt_duration(self.latency)));
        }
        if self.silent {
            out.push("silent".into());
        }
        if self.refuse {
            out.push("refuse".into());
        }
        if self.starttls != TlsMode::Valid {
            out.push(format!("starttls({})", self.starttls.as_str()));
        }
        for q in self.quirks.names() {
            out.push(format!("quirk({q})"));
        }
        if self.data == DataMode::Reject {
            out.push("data(reject)".into());
        }
        if let Some(sub) = &self.submission {
            out.push(format!("submission({})", sub.user.escape_debug()));
            if let Some(f) = &sub.fail_first {
                out.push(format!(
                    "fail-first({} x{}, {})",
                    f.command.as_str(),
                    f.count,
                    f.reply
                ));
            }
        }
        out
    }
}

/// `1500ms`, `2s`, `3m`: the shortest exact form.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".into()
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_parse_and_render() {
        let r = Reply::parse("421 4.4.0 try later").unwrap();
        assert_eq!(r.code, 421);
        assert_eq!(r.render("\r\n"), "421 4.4.0 try later\r\n");
        let r = Reply::parse("554 5.7.1 no\n554 really not\nthird").unwrap();
        assert_eq!(r.render("\n"), "554-5.7.1 no\n554-really not\n554 third\n");
        assert!(Reply::parse("hello").is_err());
        assert!(Reply::parse("999 x").is_err());
        assert!(Reply::parse("250 a\u{7}").is_err());
    }

    #[test]
    fn mailbox_matching() {
        let mut m = MailboxSet::default();
        m.insert("Alice");
        m.insert("bob@one.test");
        assert!(m.contains("alice@any.test"));
        assert!(m.contains("ALICE@x.test"));
        assert!(m.contains("bob@one.test"));
        assert!(!m.contains("bob@two.test"));
        assert!(m.contains("alice"));
    }
}
