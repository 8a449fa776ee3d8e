//! Whole bounce messages explained: a message (or an mbox of them, or a maildir) walked as
//! MIME, one result per failed recipient with the explain document, Sisimai's reason, the
//! DSN's fields and the returned original's headers.
//!
//! The pieces: [`walk`] sorts a message's parts, [`dsn`] reads RFC 3464 fields, [`prose`]
//! finds the recipients in the letter, `replies` the replies it quotes, `recipient` picks and
//! explains one recipient's reply with `mxray-core`, [`mbox`] streams many messages; this
//! module tells bounces from complaints and auto-replies and puts the pieces together.

pub mod dsn;
pub mod mbox;
pub mod prose;
mod recipient;
mod replies;
pub mod walk;

use mxray_core::reason::Reason;
use mxray_core::{Explanation, Extracted, InputForm};

use crate::recipient::result_for;
use crate::replies::candidates_in;
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
        // An auto-reply comes from the recipient it answers for; a complaint names no failed
        // recipient.
        recipient: match kind {
            Kind::Vacation => parts.own_addresses.first().cloned(),
            _ => None,
        },
        action: None,
        remote_mta: None,
        reporting_mta: None,
        arrival: None,
        last_attempt: None,
        decided_by_line: None,
        original: parts.original.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxray_core::Class;

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

    /// A session transcript: the failing 451 is the answer, not the 250 before it.
    #[test]
    fn the_failing_reply_of_a_transcript_wins_over_the_250_before_it() {
        let m = b"From: MAILER-DAEMON@mx.example.org\nTo: s@example.org\nSubject: Warning: could not send message for past 4 hours\n\n   ----- Transcript of session follows -----\n... while talking to mx.example.com.:\n>>> MAIL From:<s@example.org>\n<<< 250 2.1.0 Ok\n>>> RCPT To:<a@example.com>\n<<< 451 4.7.1 Greylisted, please try again later\n<a@example.com>... Deferred: 451 4.7.1 Greylisted, please try again later\n";
        let r = read(m).expect("a message");
        assert_eq!(r.len(), 1);
        let x = &r[0].explanation;
        assert_eq!(x.reply_code.map(|c| c.to_string()).as_deref(), Some("451"));
        assert_eq!(
            x.enhanced_code.map(|e| e.to_string()).as_deref(),
            Some("4.7.1")
        );
        assert_eq!(x.class, Some(Class::Transient));
        assert_eq!(r[0].recipient.as_deref(), Some("a@example.com"));
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

    /// The stage a refusal came at names what was refused: qmail says it in words, Postfix
    /// wraps "(in reply to end of DATA\n command)" over two lines.
    #[test]
    fn the_stage_of_a_vague_refusal_names_what_was_refused() {
        let qmail = b"From: MAILER-DAEMON@mx.example.jp\nSubject: failure notice\n\nHi. This is the qmail-send program at mx.example.jp.\nI'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n<a@example.org>:\nConnected to 192.0.2.1 but sender was rejected.\nRemote host said: 550 5.7.1 <s@example.jp>... Access denied\n";
        let r = read(qmail).expect("a message");
        assert_eq!(r[0].explanation.reason, Reason::Rejected);
        let helo = b"From: MAILER-DAEMON@mx.example.jp\nSubject: failure notice\n\nHi. This is the qmail-send program at mx.example.jp.\n\n<a@example.org>:\nConnected to 192.0.2.1 but my name was rejected.\nRemote host said: 501 5.0.0 Invalid domain name\n";
        let r = read(helo).expect("a message");
        assert_eq!(r[0].explanation.reason, Reason::Blocked);
        let postfix = b"From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail\n\n<a@example.net>: host mail.example.net[192.0.2.78] said:\n    550 Unknown user a@example.net (in reply to end of DATA\n    command)\n";
        let r = read(postfix).expect("a message");
        assert_eq!(r[0].explanation.reason, Reason::Filtered);
    }

    /// Sendmail v5: a recipient's transcript comes before its summary line.
    #[test]
    fn sendmail_v5_transcripts_belong_to_the_summary_after_them() {
        let m = b"From: MAILER-DAEMON@mx.example.com\nSubject: Returned mail: User unknown\n\n   ----- Transcript of session follows -----\nWhile talking to mx.example.org:\n>>> MAIL From:<s@example.com>\n<<< 501 <s@example.com>... no access from mail server [192.0.2.5] which is an open relay.\n554 <a@example.org>... Remote protocol error\n550 example.net (smtp)... 550 Host unknown\n554 <b@example.net>... 550 Host unknown (Authoritative answer from name server)\n";
        let r = read(m).expect("a message");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].recipient.as_deref(), Some("a@example.org"));
        assert_eq!(r[0].explanation.reason, Reason::Blocked);
        assert_eq!(r[1].recipient.as_deref(), Some("b@example.net"));
        assert_eq!(r[1].explanation.reason, Reason::HostUnknown);
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        for raw in [&b""[..], b"\xff\xfe\x00", b"From: \n\n"] {
            let _ = read(raw);
        }
    }
}
