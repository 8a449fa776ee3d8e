//! The replies a bounce quotes, line by line: the reporting MTA's own status lines, the
//! remote server's words it quotes (`<<< 550 ...`, `... said: 550 ...`), and where each came from.

use mxray_core::{Class, EnhancedCode, InputForm, ReplyCode};

/// One reply found for a recipient, and the line it came from.
pub(crate) struct Candidate {
    pub code: Option<ReplyCode>,
    pub enhanced: Option<EnhancedCode>,
    pub text: String,
    pub stage: Option<String>,
    pub host: Option<String>,
    /// A line that quotes the remote server (`<<< 550 ...`, `... said: 550 ...`).
    pub remote: bool,
    pub line: String,
}

impl Candidate {
    /// Failures before successes; a detailed enhanced code (5.7.26) before a generic one
    /// (5.0.0), a code before none.
    pub fn rank(&self) -> (u8, u8, u8, u8) {
        let failure = match self
            .code
            .map(|c| c.class())
            .or_else(|| self.enhanced.and_then(|e| e.class()))
        {
            Some(Class::Permanent) | Some(Class::Transient) => 2,
            None => 1,
            Some(Class::Success) => 0,
        };
        let detail = match self.enhanced {
            Some(e) if e.detail != 0 => 3,
            Some(e) if e.subject != 0 => 2,
            Some(_) => 1,
            None => 0,
        };
        (
            failure,
            u8::from(self.remote),
            detail,
            u8::from(self.code.is_some()),
        )
    }
}

static ENHANCED_IN_TEXT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?:^|[\s(#\[:;,'])([245]\.[0-9]{1,3}\.[0-9]{1,3})(?:$|[\s,;:)\]])")
        .expect("static regex")
});

/// A reply code inside prose: after a blank, a colon, `<`, `(` or a quote, followed by its
/// enhanced code or by words (`<<< 550 : User unknown`, `ERROR_CODE :550, ...`,
/// `550-'5.2.2 ... Mailbox Full'`, `501: 5.1.8 Sender address rejected`).
static CODE_IN_LINE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"(?:^|[\s:<>(\['"=])([245][0-5][0-9])(?:-'?|\s*[:,-]?\s+)(?:([245]\.[0-9]{1,3}\.[0-9]{1,3})\b|[A-Za-z<'"(\[])"#)
        .expect("static regex")
});

/// Lines joined where a reply runs over several: a line that ends with `:` continues on the
/// next indented one (Exim's "SMTP error from remote mail server after end of data:\n
/// host ...: 550 :\n User unknown"), and so does one that leaves a parenthesis open
/// (Postfix's "... (in reply to end of DATA\n    command)").
fn logical_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let indented = line.starts_with([' ', '\t']);
        let open_paren = |l: &str| {
            l.rfind('(')
                .is_some_and(|at| !l[at..].contains(')') && l.len() - at < 80)
        };
        match out.last_mut() {
            Some(last)
                if indented
                    && (last.trim_end().ends_with(':')
                        || open_paren(last)
                        || postfix_paragraph(last))
                    && !line.trim().is_empty()
                    && last.len() < 2048 =>
            {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => out.push(line.to_string()),
        }
    }
    out
}

/// Postfix's `<a@example.org>: host mx.example.org[192.0.2.1] said: 550` opens a paragraph
/// whose indented lines continue the one reply, wrapped anywhere.
fn postfix_paragraph(first: &str) -> bool {
    first.starts_with('<') && first.contains(">: ") && first.contains(" said:")
}

/// The stage qmail-remote names in words, in the line before the remote's reply.
fn qmail_stage(line: &str) -> Option<&'static str> {
    let l = line.trim().to_ascii_lowercase();
    if !l.starts_with("connected to ") && !l.contains("does not like recipient") {
        return None;
    }
    if l.contains("my name was rejected") {
        Some("HELO")
    } else if l.contains("sender was rejected") {
        Some("MAIL FROM")
    } else if l.contains("does not like recipient") {
        Some("RCPT TO")
    } else if l.contains("failed after i sent the message") || l.contains("failed on data command")
    {
        Some("DATA")
    } else {
        None
    }
}

/// Replies in `text`, one per line that holds one: the last reply of a line, since an MTA
/// that quotes the remote server puts the remote's words after its own (`554 4.4.7 Message
/// expired ... <421 4.4.2 Connection timed out>`).
pub(crate) fn candidates_in(text: &str, dsn_type: Option<&str>) -> Vec<Candidate> {
    let bare_number_ok = dsn_type.is_none_or(|t| t.eq_ignore_ascii_case("smtp"));
    let mut out: Vec<Candidate> = Vec::new();
    // The command a Sendmail transcript last sent (`>>> DATA`): the stage of the `<<<` reply.
    let mut sent: Option<String> = None;
    // The candidate that answered `sent`, while it is the only one.
    let mut after_sent: Option<usize> = None;
    // qmail says the stage in words before quoting the reply ("Connected to 192.0.2.1 but
    // sender was rejected.\nRemote host said: 550 ...").
    let mut said_stage: Option<&str> = None;
    for line in &logical_lines(text) {
        let line = line.as_str();
        if let Some(st) = qmail_stage(line) {
            said_stage = Some(st);
            continue;
        }
        if let Some(cmd) = line.trim_start().strip_prefix(">>> ") {
            let verb: String = cmd
                .chars()
                .take_while(|c| c.is_ascii_alphabetic() || *c == ' ')
                .collect();
            sent = Some(verb.trim().to_ascii_uppercase()).filter(|v| !v.is_empty());
            after_sent = None;
            continue;
        }
        let found = mxray_core::extract(line).ok();
        // `Diagnostic-Code: X-Unix; 255` is an exit status, not a reply code.
        let found = found.filter(|e| bare_number_ok || e.form != InputForm::BasicCode);
        let inner = CODE_IN_LINE.captures_iter(line).last().and_then(|c| {
            let code = ReplyCode::parse(c.get(1)?.as_str())?;
            let enhanced = c.get(2).and_then(|m| EnhancedCode::parse(m.as_str()));
            Some((c.get(1)?.start(), code, enhanced))
        });
        // `554 4.4.7 Message expired ... <421 4.4.2 Connection timed out>`: the remote's reply,
        // quoted whole in angle brackets, is the specific one.
        let quoted_whole = inner.is_some_and(|(at, _, x)| {
            x.is_some() && at > 0 && line.as_bytes().get(at - 1) == Some(&b'<')
        });
        let (mut code, mut enhanced, mut words, stage, host) = match &found {
            Some(e) => (
                e.code,
                e.enhanced,
                e.text.clone(),
                e.stage.clone(),
                e.host.clone(),
            ),
            None => (None, None, String::new(), None, None),
        };
        if let Some((at, c, x)) = inner
            && (code.is_none()
                || code != Some(c)
                    && at > 0
                    && (found.as_ref().is_some_and(|e| e.form != InputForm::Reply)
                        // "220-laposte 421 4.2.1 Service refused": a greeting's code before
                        // the failure it announces.
                        || code.is_some_and(|k| k.class() == Class::Success)
                        || quoted_whole
                        // Sendmail: `554 <a@example.org>... 550 Host unknown`, its own code,
                        // the address, then the remote's reply.
                        || line[..at].contains("...")))
        {
            // The quoted remote reply: its code, its enhanced code (or the line's when it
            // gave none of its own and the classes agree), its words.
            code = Some(c);
            enhanced = x.or(enhanced.filter(|e| e.class == Some(c.class_digit())));
            words = line[at..].trim().to_string();
        }
        if code.is_none() && enhanced.is_none() {
            continue;
        }
        // "550 sorry, no mailbox here by that name (#5.1.1 - chkusr)": the enhanced code
        // inside the text, when it agrees with the reply's class.
        let enhanced = enhanced.or_else(|| {
            let code = code?;
            ENHANCED_IN_TEXT
                .captures_iter(line)
                .filter_map(|c| EnhancedCode::parse(c.get(1)?.as_str()))
                .find(|x| x.class == Some(code.class_digit()))
        });
        let quoted = line.trim_start().starts_with("<<<");
        if quoted && let Some(first) = after_sent.take() {
            // A second reply to one command: the first answered a pipelined RCPT TO (Sendmail
            // writes `>>> DATA`, `<<< 550 User unknown`, `<<< 503 Need RCPT`).
            if let Some(c) = out.get_mut(first) {
                c.stage = Some("RCPT TO".into());
            }
        }
        let stage = stage
            .or_else(|| quoted.then(|| sent.clone()).flatten())
            .or_else(|| said_stage.take().map(str::to_string));
        if quoted && sent.is_some() {
            after_sent = Some(out.len());
        }
        out.push(Candidate {
            code,
            enhanced,
            text: words,
            stage,
            host,
            remote: line.trim_start().starts_with("<<<")
                || line.contains(" said:")
                || line.contains("Remote host said"),
            line: line.trim().to_string(),
        });
    }
    out
}
