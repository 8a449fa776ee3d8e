//! Whole bounce messages explained: a message (or an mbox of them, or a maildir) walked as
//! MIME, one result per failed recipient with the explain document, Sisimai's reason, the
//! DSN's fields and the returned original's headers.
//!
//! The pieces: [`walk`] sorts a message's parts, [`dsn`] reads RFC 3464 fields, [`prose`]
//! reads the human-readable text, [`mbox`] streams many messages; this module picks, per
//! recipient, the most specific code among them and explains it with `mxray-core`.

pub mod dsn;
pub mod mbox;
pub mod prose;
pub mod walk;

use mxray_core::reason::{self, Reason};
use mxray_core::{Class, EnhancedCode, Explanation, Extracted, InputForm, ReplyCode};
use serde::Serialize;

/// Bytes of one message read: the report comes first; what lies beyond is the returned
/// original's body, never read for codes.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// What the message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A delivery status notification: delivery failed, was delayed, or (rarely) succeeded.
    Bounce,
    /// An ARF feedback report (RFC 5965): a complaint, not a bounce.
    Feedback,
    /// An auto-reply (RFC 3834): out of office and kin, not a bounce.
    Vacation,
}

/// Headers of the returned original message, to tell which message bounced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Original {
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub date: Option<String>,
}

impl Original {
    pub fn is_empty(&self) -> bool {
        *self == Original::default()
    }
}

/// One recipient of one bounce, explained. The explain document, plus what the bounce says
/// about the recipient. Text fields come from the bounce: escape before display.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BounceResult {
    #[serde(flatten)]
    pub explanation: Explanation,
    pub kind: Kind,
    /// The recipient the result is about, when the bounce names one.
    pub recipient: Option<String>,
    /// RFC 3464 `Action` (`failed`, `delayed`, `delivered`, `relayed`, `expanded`).
    pub action: Option<String>,
    pub remote_mta: Option<String>,
    pub reporting_mta: Option<String>,
    /// `Arrival-Date`, as written.
    pub arrival: Option<String>,
    /// `Last-Attempt-Date`, as written.
    pub last_attempt: Option<String>,
    /// The line the codes were taken from (`Diagnostic-Code: smtp; 550 5.1.1 ...`), or the
    /// prose line the reason was read from.
    pub decided_by_line: Option<String>,
    pub original: Original,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BounceError {
    #[error(
        "not an email message: expected headers (From:, Subject:, ...), a blank line and a body"
    )]
    NotAMessage,
}

/// Whether `input` looks like a whole message (or an mbox), not a reply or a log line: it
/// opens with an mbox `From ` line or with a header block holding RFC 5322 fields.
pub fn looks_like_message(input: &[u8]) -> bool {
    let head = &input[..input.len().min(16 * 1024)];
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines();
    let Some(first) = lines.next() else {
        return false;
    };
    if first.starts_with("From ") {
        return true;
    }
    const MESSAGE_FIELDS: &[&str] = &[
        "from",
        "to",
        "subject",
        "date",
        "received",
        "return-path",
        "message-id",
        "mime-version",
        "content-type",
        "delivered-to",
        "envelope-to",
        "x-failed-recipients",
    ];
    let mut fields = 0;
    let mut message_fields = 0;
    for line in std::iter::once(first).chain(lines) {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            return false;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return false;
        }
        fields += 1;
        if MESSAGE_FIELDS.contains(&name.to_ascii_lowercase().as_str()) {
            message_fields += 1;
        }
    }
    fields >= 2 && message_fields >= 1
}

/// Reads one message: one result per recipient it reports on (at least one).
pub fn read(raw: &[u8]) -> Result<Vec<BounceResult>, BounceError> {
    read_at(raw, 0)
}

fn read_at(raw: &[u8], depth: u8) -> Result<Vec<BounceResult>, BounceError> {
    let raw = &raw[..raw.len().min(MAX_MESSAGE)];
    let parts = walk::walk(raw).ok_or(BounceError::NotAMessage)?;
    let mut per_message = dsn::PerMessage::default();
    let mut dsn_recipients = Vec::new();
    for block in &parts.dsn {
        let (m, r) = dsn::parse(block);
        if per_message.reporting_mta.is_none() {
            per_message = m;
        }
        dsn_recipients.extend(r);
    }
    // DSN fields pasted into the text (Sendmail v5, some appliances), when no part holds them.
    if dsn_recipients.is_empty() {
        let (m, r) = dsn::parse(&parts.human);
        if r.iter()
            .any(|x| x.status.is_some() || x.diagnostic.is_some())
        {
            per_message = m;
            dsn_recipients = r;
        }
    }
    let feedback = parts.feedback || looks_like_feedback(&parts);
    if feedback || (dsn_recipients.is_empty() && looks_auto(&parts)) {
        let kind = if feedback {
            Kind::Feedback
        } else {
            Kind::Vacation
        };
        return Ok(vec![not_a_bounce(kind, &parts)]);
    }

    // A wrapper that says nothing itself around a returned bounce: read the inner report.
    if dsn_recipients.is_empty()
        && depth == 0
        && let Some(inner) = &parts.nested_report
        && candidates_in(&parts.human, None).is_empty()
        && let Ok(results) = read_at(inner, depth + 1)
        && !results.is_empty()
    {
        return Ok(results);
    }
    let known: Vec<String> = if dsn_recipients.iter().any(|r| r.recipient.is_some()) {
        dsn_recipients
            .iter()
            .filter_map(|r| r.recipient.clone())
            .collect()
    } else {
        parts.failed_recipients.clone()
    };
    let prose = prose::recipients(&parts.human, &known, &parts.own_addresses);
    // One recipient: the whole letter is about it, also what comes before its address
    // ("Could not be delivered because of 550 5.1.1 User unknown. The following recipients
    // were affected: ...").
    let alone = prose.len() <= 1 && dsn_recipients.len() <= 1;
    let parts = walk::Parts {
        single_recipient: alone,
        ..parts
    };
    let mut out = Vec::new();
    if dsn_recipients.is_empty() {
        for p in &prose {
            out.push(result_for(None, Some(p), &per_message, &parts));
        }
    } else {
        for d in &dsn_recipients {
            let p = prose.iter().find(|p| match (&p.address, &d.recipient) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            });
            // One recipient and one paragraph: they are about the same failure.
            let p = p.or_else(|| (dsn_recipients.len() == 1).then(|| prose.first()).flatten());
            out.push(result_for(Some(d), p, &per_message, &parts));
        }
    }
    Ok(out)
}

/// An auto-reply (RFC 3834): marked so, or titled so, and written by a person's mailbox, not
/// by a mail system reporting a failure (MTAs set Auto-Submitted on their bounces too).
fn looks_auto(p: &walk::Parts) -> bool {
    let s = p.subject.to_ascii_lowercase();
    let titled = [
        "automatic reply",
        "auto:",
        "autoreply",
        "auto-reply",
        "out of office",
        "out of the office",
        "vacation",
        "abwesenheit",
        "réponse automatique",
    ]
    .iter()
    .any(|w| s.contains(w));
    let failure = [
        "undeliver",
        "failure",
        "failed",
        "returned",
        "delivery status",
        "not delivered",
        "delayed",
        "warning",
        "error",
        "could not",
        "rejected",
    ]
    .iter()
    .any(|w| s.contains(w));
    let from_system = p.own_addresses.first().is_some_and(|a| {
        let local = a.split('@').next().unwrap_or_default();
        local.contains("mailer-daemon") || local.contains("postmaster")
    }) || p.from_system;
    (p.auto_reply || titled) && !failure && !from_system
}

/// A complaint that is not in ARF: Hotmail's ("complaint about message from"), Amazon SES's
/// JSON notification, and a one-click unsubscribe request (RFC 8058 by mail).
fn looks_like_feedback(p: &walk::Parts) -> bool {
    let s = p.subject.to_ascii_lowercase();
    s.starts_with("complaint about message")
        || p.human.contains("\"notificationType\":\"Complaint\"")
        || (p.auto_reply && s.trim() == "unsubscribe")
}

fn not_a_bounce(kind: Kind, parts: &walk::Parts) -> BounceResult {
    let e = Extracted {
        form: InputForm::Embedded,
        code: None,
        enhanced: None,
        text: String::new(),
        stage: None,
        host: None,
        domain: None,
    };
    let mut explanation = mxray_core::explain_extracted(&e);
    explanation.reason = if kind == Kind::Feedback {
        Reason::Feedback
    } else {
        Reason::Vacation
    };
    explanation.notes.push(match kind {
        Kind::Feedback => "not a bounce: an ARF feedback report (RFC 5965), a recipient's complaint about a message; remove the complainant from the list".into(),
        _ => "not a bounce: an automatic reply (RFC 3834), such as out of office; the message was delivered".into(),
    });
    BounceResult {
        explanation,
        kind,
        recipient: parts.own_addresses.first().cloned().filter(|_| false),
        action: None,
        remote_mta: None,
        reporting_mta: None,
        arrival: None,
        last_attempt: None,
        decided_by_line: None,
        original: parts.original.clone(),
    }
}

/// One reply found for a recipient, and the line it came from.
struct Candidate {
    code: Option<ReplyCode>,
    enhanced: Option<EnhancedCode>,
    text: String,
    stage: Option<String>,
    host: Option<String>,
    /// A line that quotes the remote server (`<<< 550 ...`, `... said: 550 ...`).
    remote: bool,
    line: String,
}

impl Candidate {
    /// Failures before successes; a detailed enhanced code (5.7.26) before a generic one
    /// (5.0.0), a code before none.
    fn rank(&self) -> (u8, u8, u8, u8) {
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
/// host ...: 550 :\n User unknown").
fn logical_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let indented = line.starts_with([' ', '\t']);
        match out.last_mut() {
            Some(last)
                if indented
                    && last.trim_end().ends_with(':')
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

/// Replies in `text`, one per line that holds one: the last reply of a line, since an MTA
/// that quotes the remote server puts the remote's words after its own (`554 4.4.7 Message
/// expired ... <421 4.4.2 Connection timed out>`).
fn candidates_in(text: &str, dsn_type: Option<&str>) -> Vec<Candidate> {
    let bare_number_ok = dsn_type.is_none_or(|t| t.eq_ignore_ascii_case("smtp"));
    let mut out: Vec<Candidate> = Vec::new();
    // The command a Sendmail transcript last sent (`>>> DATA`): the stage of the `<<<` reply.
    let mut sent: Option<String> = None;
    // The candidate that answered `sent`, while it is the only one.
    let mut after_sent: Option<usize> = None;
    for line in &logical_lines(text) {
        let line = line.as_str();
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
        let stage = stage.or_else(|| quoted.then(|| sent.clone()).flatten());
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

fn result_for(
    d: Option<&dsn::DsnRecipient>,
    p: Option<&prose::ProseRecipient>,
    per_message: &dsn::PerMessage,
    parts: &walk::Parts,
) -> BounceResult {
    let mut from_diag: Vec<Candidate> = Vec::new();
    if let Some(diag) = d.and_then(|d| d.diagnostic.as_deref()) {
        let dsn_type = d.and_then(|d| d.diagnostic_type.as_deref());
        for mut c in candidates_in(diag, dsn_type) {
            c.line = format!("Diagnostic-Code: {}; {}", dsn_type.unwrap_or("smtp"), diag);
            from_diag.push(c);
        }
    }
    let mut from_prose = p.map(|p| candidates_in(&p.text, None)).unwrap_or_default();
    if from_prose.iter().all(|c| c.code.is_none()) && parts.single_recipient {
        let whole = candidates_in(&parts.human, None);
        if whole.iter().any(|c| c.code.is_some()) {
            from_prose = whole;
        }
    }
    let status = d
        .and_then(|d| d.status.as_deref())
        .and_then(|s| s.split_whitespace().next())
        .and_then(EnhancedCode::parse);
    let top = |cs: &[Candidate]| -> Option<usize> {
        cs.iter()
            .enumerate()
            .filter(|(_, c)| c.code.is_some())
            .max_by_key(|(i, c)| (c.rank(), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
    };
    // The reply code is the remote server's as the DSN recorded it; the prose's when the
    // DSN has none (the remote's quoted words before the reporting MTA's own summary).
    let best: Option<&Candidate> = match top(&from_diag) {
        Some(i) => from_diag.get(i),
        None => top(&from_prose).and_then(|i| from_prose.get(i)),
    };
    let code = best.and_then(|b| b.code);
    // The enhanced code: the most specific of the DSN's diagnostic, its Status field and the
    // prose's replies with that same reply code (Status: 5.0.0 gives way to 5.7.26).
    let specificity = |e: &EnhancedCode| match (e.subject, e.detail) {
        (0, 0) => 0,
        (_, 0) => 1,
        _ => 2,
    };
    let mut options: Vec<(EnhancedCode, String)> = Vec::new();
    // Where the prose quotes the remote server (`<<< 550 5.0.0 ...`), the reporting MTA's own
    // summary lines (`550 5.1.1 ... User unknown`) are its reading, not the server's words.
    let quotes_remote = from_prose.iter().any(|c| c.remote);
    let prose = from_prose.iter().filter(|c| c.remote || !quotes_remote);
    for c in from_diag.iter().chain(prose) {
        if let Some(x) = c.enhanced
            && (code.is_none() || c.code.is_none() || c.code == code)
            && (code.is_none() || x.class == code.map(|c| c.class_digit()))
        {
            options.push((x, c.line.clone()));
        }
    }
    if let Some(s) = status {
        // The Status field ranks right after the diagnostic's own code.
        let at = from_diag
            .iter()
            .filter(|c| c.enhanced.is_some())
            .count()
            .min(options.len());
        options.insert(at, (s, format!("Status: {s}")));
    }
    let chosen = options
        .iter()
        .enumerate()
        .max_by_key(|(i, (x, _))| (specificity(x), std::cmp::Reverse(*i)))
        .map(|(_, o)| o.clone());
    let enhanced = chosen.as_ref().map(|(x, _)| *x);
    let decided_by_line = best
        .map(|b| b.line.clone())
        .or_else(|| chosen.map(|(_, line)| line));
    let diag_text = d.and_then(|d| d.diagnostic.clone()).unwrap_or_default();
    let prose_text = p.map(|p| p.text.clone()).unwrap_or_default();
    let text = match best {
        Some(b) if !b.text.is_empty() => b.text.clone(),
        _ if !diag_text.is_empty() => diag_text.clone(),
        _ => first_words(&prose_text),
    };
    let recipient = d
        .and_then(|d| d.recipient.clone())
        .or_else(|| p.and_then(|p| p.address.clone()));
    let domain = recipient
        .as_deref()
        .and_then(|r| r.rsplit_once('@'))
        .map(|(_, dom)| dom.to_ascii_lowercase());
    let e = Extracted {
        form: if d.is_some() {
            InputForm::Dsn
        } else {
            InputForm::Embedded
        },
        code,
        enhanced,
        text,
        // The stage: the best reply's, else a quoted reply's with the same code (Sendmail's
        // transcript says `>>> DATA` where the DSN says only `550 User unknown`).
        stage: best.and_then(|b| b.stage.clone()).or_else(|| {
            from_prose
                .iter()
                .find(|c| c.code.is_some() && c.code == code && c.stage.is_some())
                .and_then(|c| c.stage.clone())
        }),
        host: d
            .and_then(|d| d.remote_mta.clone())
            .or_else(|| best.and_then(|b| b.host.clone())),
        domain,
    };
    let mut explanation = mxray_core::explain_extracted(&e);
    // Everything the bounce says about this recipient decides the reason.
    let all_words = format!("{}\n{}", diag_text, prose_text);
    let action = d.and_then(|d| d.action.clone());
    if explanation.class.is_none() {
        let by_action = match action.as_deref() {
            Some("failed") => Some(Class::Permanent),
            Some("delayed") => Some(Class::Transient),
            Some("delivered" | "relayed" | "expanded") => Some(Class::Success),
            _ => None,
        };
        // A bounce reports a failure: permanent unless its words, its subject or its letter
        // say the message is only delayed.
        let class = by_action
            .or_else(|| prose::class_from_words(&all_words))
            .or_else(|| prose::class_from_words(&format!("{}\n{}", parts.subject, parts.human)))
            .unwrap_or(Class::Permanent);
        explanation = inferred(&e, class, &all_words);
    }
    explanation.reason = reason::reason(
        explanation.enhanced_code,
        explanation.class,
        explanation.situation,
        &format!("{}\n{}", explanation.text, all_words),
    );
    // Some MTAs write the non-standard `Action: expired`.
    if action.as_deref() == Some("expired")
        && matches!(
            explanation.reason,
            Reason::NetworkError | Reason::Undefined | Reason::SystemError
        )
    {
        explanation.reason = Reason::Expired;
    }
    // A transient network failure in a final bounce: the queue retried until it gave up.
    let final_report = action.as_deref() == Some("failed")
        || (action.is_none() && prose::class_from_words(&parts.human) == Some(Class::Permanent));
    // DNS trouble stays DNS trouble: the name did not resolve, whatever the queue did after.
    let dns_words = {
        let w = all_words.to_ascii_lowercase();
        w.contains("dns") || w.contains("name server") || w.contains("name service")
    };
    if final_report
        && explanation.class == Some(Class::Transient)
        && matches!(explanation.reason, Reason::NetworkError | Reason::Undefined)
        && explanation.situation != mxray_core::SituationId::DnsRoutingFailure
        && !dns_words
    {
        explanation.reason = Reason::Expired;
    }
    // An unknown user reported only after DATA: the server accepted the recipient at RCPT,
    // so a filter refused the message, not a missing mailbox (Sisimai reads it the same way).
    if explanation.reason == Reason::UserUnknown
        && e.stage
            .as_deref()
            .is_some_and(|s| s.to_ascii_lowercase().contains("data"))
    {
        explanation.reason = Reason::Filtered;
    }
    BounceResult {
        explanation,
        kind: Kind::Bounce,
        recipient,
        action,
        remote_mta: d.and_then(|d| d.remote_mta.clone()),
        reporting_mta: per_message.reporting_mta.clone(),
        arrival: per_message.arrival_date.clone(),
        last_attempt: d.and_then(|d| d.last_attempt.clone()),
        decided_by_line,
        original: parts.original.clone(),
    }
}

/// A bounce without any code: the class from its Action or words, an enhanced code inferred
/// from the reason its words give (said in the notes), then explained as usual.
fn inferred(e: &Extracted, class: Class, words: &str) -> Explanation {
    let from_words = reason::from_text(words);
    // A queue that gave up retried a temporary failure: said as 4.4.7, retry later, unless
    // the words about this recipient call it permanent.
    let class = if from_words == Some(Reason::Expired)
        && prose::class_from_words(words) != Some(Class::Permanent)
    {
        Class::Transient
    } else {
        class
    };
    let digit = match class {
        Class::Success => 2,
        Class::Transient => 4,
        Class::Permanent => 5,
    };
    let (subject, detail) = from_words.and_then(subject_detail).unwrap_or((0, 0));
    let guess = Some(EnhancedCode {
        class: Some(digit),
        subject,
        detail,
    });
    let mut with = e.clone();
    with.enhanced = guess;
    if with.text.is_empty() {
        with.text = first_words(words);
    }
    let mut x = mxray_core::explain_extracted(&with);
    if let Some(g) = guess {
        x.notes.push(format!(
            "the bounce carries no code: {g} is inferred from its words, not sent by a server"
        ));
    }
    x
}

/// The enhanced code that names a reason best, for bounces that give none.
fn subject_detail(r: Reason) -> Option<(u16, u16)> {
    Some(match r {
        Reason::UserUnknown => (1, 1),
        Reason::HostUnknown => (1, 2),
        Reason::HasMoved => (1, 6),
        Reason::Rejected => (1, 8),
        Reason::Suspend => (2, 1),
        Reason::MailboxFull => (2, 2),
        Reason::ExceedLimit => (2, 3),
        Reason::SystemFull => (3, 1),
        Reason::MesgTooBig => (3, 4),
        Reason::NetworkError => (4, 0),
        Reason::Expired => (4, 7),
        Reason::SyntaxError => (5, 2),
        Reason::ContentError => (6, 0),
        Reason::Blocked | Reason::Filtered | Reason::PolicyViolation => (7, 1),
        Reason::AuthFailure => (7, 26),
        Reason::SecurityError => (7, 0),
        Reason::NoRelaying => (7, 1),
        Reason::SpamDetected | Reason::VirusDetected => (7, 1),
        Reason::RequirePtr => (7, 25),
        _ => return None,
    })
}

/// The first meaningful lines of a paragraph, as the "server's words" of a prose bounce.
fn first_words(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(line);
        if out.len() > 300 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_told_from_replies_and_dsn_fragments() {
        assert!(looks_like_message(
            b"From MAILER-DAEMON Mon Dec  1 10:00:00 2025\nFrom: x\n"
        ));
        assert!(looks_like_message(
            b"Return-Path: <>\nFrom: Mail Delivery System <m@x.test>\nSubject: fail\n\nbody"
        ));
        assert!(!looks_like_message(
            b"421 4.4.2 Connection closed by the server"
        ));
        assert!(!looks_like_message(
            b"Final-Recipient: rfc822; a@b.test\nStatus: 5.1.1\n"
        ));
        assert!(!looks_like_message(
            b"Nov 20 10:00:00 mx postfix/smtp[1]: 4A1B: to=<a@b.test>"
        ));
    }

    #[test]
    fn a_vague_status_gives_way_to_the_specific_reply() {
        let m = b"From: MAILER-DAEMON@mx.example.org\nTo: s@example.org\nSubject: Undelivered Mail\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\n<a@example.com>: host mx.example.com[192.0.2.1] said: 550 5.7.26 Unauthenticated email is not accepted (in reply to end of DATA command)\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; a@example.com\nAction: failed\nStatus: 5.0.0\n\n--B\nContent-Type: text/rfc822-headers\n\nFrom: s@example.org\nTo: a@example.com\nSubject: hello\nX-Mailer: Apple Mail (2.753.1)\nMessage-ID: <m1@example.org>\n\n--B--\n";
        let r = read(m).expect("a message");
        assert_eq!(r.len(), 1);
        let x = &r[0];
        assert_eq!(x.recipient.as_deref(), Some("a@example.com"));
        assert_eq!(
            x.explanation
                .enhanced_code
                .map(|e| e.to_string())
                .as_deref(),
            Some("5.7.26")
        );
        assert_eq!(
            x.explanation.reply_code.map(|c| c.to_string()).as_deref(),
            Some("550")
        );
        assert_eq!(x.explanation.reason, Reason::AuthFailure);
        assert_eq!(x.original.message_id.as_deref(), Some("m1@example.org"));
        assert_eq!(x.original.subject.as_deref(), Some("hello"));
    }

    #[test]
    fn an_exit_status_is_not_a_reply_code() {
        let m = b"From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.com\nAction: failed\nStatus: 5.3.0\nDiagnostic-Code: X-Unix; 255\n\n--B--\n";
        let r = read(m).expect("a message");
        assert_eq!(r[0].explanation.reply_code, None);
        assert_eq!(
            r[0].explanation
                .enhanced_code
                .map(|e| e.to_string())
                .as_deref(),
            Some("5.3.0")
        );
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        for raw in [&b""[..], b"\xff\xfe\x00", b"From: \n\n"] {
            let _ = read(raw);
        }
    }
}
