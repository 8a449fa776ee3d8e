//! One recipient's result: the reply chosen among the DSN's diagnostic, its Status field and
//! the letter's quoted replies, explained by core, with the reason and the class a bounce implies.

use mxray_core::reason::{self, Reason};
use mxray_core::{Class, EnhancedCode, Explanation, Extracted, InputForm};

use crate::replies::{Candidate, candidates_in};
use crate::{BounceResult, Kind, dsn, prose, walk};

pub(crate) fn result_for(
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
    let own_words = format!("{}\n{}", explanation.text, all_words);
    explanation.reason = reason::reason(
        explanation.enhanced_code,
        explanation.class,
        explanation.situation,
        &own_words,
    );
    // One recipient, and nothing about it gave a reason: the letter's other lines are about
    // it too ("The user(s) account is disabled." above the address list).
    if parts.single_recipient && explanation.reason == Reason::Undefined {
        explanation.reason = reason::reason(
            explanation.enhanced_code,
            explanation.class,
            explanation.situation,
            &format!("{own_words}\n{}", head(&parts.human, 8 * 1024)),
        );
    }
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
    // `Diagnostic-Code: X-Unix; 71`: a local delivery program (a pipe, procmail) failed;
    // what it printed ("Operating system error") is its own trouble, not the network's.
    if d.and_then(|d| d.diagnostic_type.as_deref())
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("x-unix"))
        && matches!(
            explanation.reason,
            Reason::Undefined | Reason::SystemError | Reason::Expired | Reason::NetworkError
        )
    {
        explanation.reason = Reason::MailerError;
    }
    explanation.reason = by_stage(explanation.reason, e.stage.as_deref(), &explanation.text);
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

/// The SMTP stage a refusal came at says what was refused when the words are vague: the
/// session (connection, greeting, HELO: `blocked`), the sender (MAIL FROM: `rejected`), the
/// recipient (RCPT TO: its mailbox), or the message (after DATA: `filtered`).
fn by_stage(reason: Reason, stage: Option<&str>, text: &str) -> Reason {
    let Some(stage) = stage.map(str::to_ascii_lowercase) else {
        return reason;
    };
    let session = stage.contains("connect")
        || stage.contains("greeting")
        || stage.contains("banner")
        || stage.starts_with("helo")
        || stage.starts_with("ehlo");
    match reason {
        // Turned away before any address was given: the client host itself was refused
        // ("Access denied", "Invalid domain name" for the HELO name).
        Reason::Filtered | Reason::PolicyViolation | Reason::HostUnknown | Reason::Undefined
            if session =>
        {
            Reason::Blocked
        }
        // "553 5.1.0 ... does not exist", "Access denied" in reply to MAIL FROM: the sender.
        Reason::UserUnknown | Reason::HostUnknown | Reason::Filtered | Reason::Undefined
            if stage.starts_with("mail") =>
        {
            Reason::Rejected
        }
        // An unknown user in reply to RCPT TO is an unknown user, whatever policy code
        // (X.7.x) came with it.
        Reason::Filtered
            if stage.starts_with("rcpt")
                && reason::from_text(text) == Some(Reason::UserUnknown) =>
        {
            Reason::UserUnknown
        }
        // An unknown user reported only after DATA: the server accepted the recipient at
        // RCPT, so a filter refused the message, not a missing mailbox (Sisimai reads it the
        // same way).
        Reason::UserUnknown if stage.contains("data") => Reason::Filtered,
        r => r,
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

/// At most `max` bytes of `text`, cut at a character boundary.
fn head(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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
