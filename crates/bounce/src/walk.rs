//! Walks a message as MIME (mail-parser) and sorts its parts: the human-readable text, the
//! delivery-status parts, the returned original's headers, and what kind of message it is.
//! Nothing inside the returned original is ever read for codes.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use crate::Original;

/// What a message holds, sorted for the readers.
#[derive(Debug, Default)]
pub struct Parts {
    /// Human-readable text (text/plain, or text/html stripped), the returned message cut away.
    pub human: String,
    /// Each `message/delivery-status` part (or `message/global-delivery-status`), as text.
    pub dsn: Vec<String>,
    pub original: Original,
    /// An ARF report (`multipart/report; report-type=feedback-report`).
    pub feedback: bool,
    /// RFC 3834 auto-reply headers (`Auto-Submitted: auto-replied` and kin) without a report.
    pub auto_reply: bool,
    /// `X-Failed-Recipients` (Exim), addresses.
    pub failed_recipients: Vec<String>,
    /// The bounce's own addresses (From first, then To): never taken for a failed recipient.
    pub own_addresses: Vec<String>,
    /// From names a mail system (`Mail Delivery System`, `MAILER-DAEMON`), not a person.
    pub from_system: bool,
    pub subject: String,
    /// The returned message when it is itself a bounce (a bounce of a bounce, or a gateway
    /// wrapping the real report): read in its place when the outer one says nothing.
    pub nested_report: Option<Vec<u8>>,
    /// Set by the reader: the message reports on one recipient only.
    pub single_recipient: bool,
}

/// Human text kept per message: enough for every recipient's paragraph, bounded.
const MAX_HUMAN: usize = 256 * 1024;

pub fn walk(raw: &[u8]) -> Option<Parts> {
    let msg = MessageParser::default().parse(raw)?;
    let mut p = Parts {
        subject: msg.subject().unwrap_or_default().to_string(),
        ..Parts::default()
    };
    for a in [msg.from(), msg.to()].into_iter().flatten() {
        for addr in a.iter() {
            if let Some(x) = addr.address() {
                p.own_addresses.push(x.to_ascii_lowercase());
            }
        }
    }
    p.from_system = msg.header_raw("From").is_some_and(|f| {
        let f = f.to_ascii_lowercase();
        [
            "mailer-daemon",
            "postmaster",
            "mail delivery",
            "mail administrator",
            "mail system",
        ]
        .iter()
        .any(|w| f.contains(w))
    });
    if let Some(v) = msg.header_raw("X-Failed-Recipients") {
        p.failed_recipients = v
            .split(',')
            .map(|a| a.trim().trim_matches(|c| c == '<' || c == '>').to_string())
            .filter(|a| a.contains('@'))
            .collect();
    }
    let auto = |name: &str| msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    p.auto_reply = auto("Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied"))
        || auto("X-Autoreply").is_some()
        || auto("X-Autorespond").is_some()
        || auto("Precedence").is_some_and(|v| v == "auto_reply");
    if let Some(ct) = msg.root_part().content_type()
        && ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .attribute("report-type")
            .is_some_and(|t| t.eq_ignore_ascii_case("feedback-report"))
    {
        p.feedback = true;
    }
    let mut original_text = String::new();
    for part in &msg.parts {
        let (ctype, subtype) = part
            .content_type()
            .map(|c| {
                (
                    c.ctype().to_ascii_lowercase(),
                    c.subtype().unwrap_or_default().to_ascii_lowercase(),
                )
            })
            .unwrap_or_else(|| ("text".into(), "plain".into()));
        match (ctype.as_str(), subtype.as_str(), &part.body) {
            ("message", "delivery-status" | "global-delivery-status", body) => {
                p.dsn.push(text_of(body));
            }
            ("message", "feedback-report", _) => p.feedback = true,
            (_, _, PartType::Message(inner)) => {
                if p.nested_report.is_none() && is_report(inner) {
                    p.nested_report = Some(inner.raw_message().to_vec());
                }
                keep_first(&mut p.original, || original_of(inner))
            }
            ("text" | "message", "rfc822-headers", body) => {
                keep_first(&mut p.original, || original_from_text(&text_of(body)))
            }
            (_, _, PartType::Text(t)) => {
                let (human, rest) = split_returned(t);
                push_bounded(&mut p.human, human);
                if original_text.is_empty() {
                    original_text = rest.to_string();
                }
            }
            (_, _, PartType::Html(h)) => {
                let text = strip_html(h);
                let (human, _) = split_returned(&text);
                push_bounded(&mut p.human, human);
            }
            _ => {}
        }
    }
    // MIME the parser could not follow (a boundary parameter folded without indentation, a
    // part without headers): read the raw body as text, boundary and part-header lines left
    // out, rather than nothing.
    if p.human.trim().is_empty() && p.dsn.is_empty() {
        let raw_text = String::from_utf8_lossy(raw);
        let body = raw_text
            .split_once("\n\n")
            .or_else(|| raw_text.split_once("\r\n\r\n"))
            .map_or("", |(_, b)| b);
        let plain: String = body
            .lines()
            .filter(|l| {
                !l.starts_with("--")
                    && !l.to_ascii_lowercase().starts_with("content-")
                    && !l.starts_with("boundary=")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let (human, rest) = split_returned(&plain);
        push_bounded(&mut p.human, human);
        if original_text.is_empty() {
            original_text = rest.to_string();
        }
    }
    if p.original.is_empty() && !original_text.is_empty() {
        p.original = original_from_text(&original_text);
    }
    Some(p)
}

/// The first returned original found is the one reported (a bounce of a bounce holds two).
fn keep_first(original: &mut Original, found: impl FnOnce() -> Original) {
    if original.is_empty() {
        *original = found();
    }
}

/// Whether a message is itself a delivery report.
fn is_report(m: &Message<'_>) -> bool {
    let report = m.root_part().content_type().is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case("multipart")
            && c.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    let from_system = m.header_raw("From").is_some_and(|f| {
        let f = f.to_ascii_lowercase();
        f.contains("mailer-daemon") || f.contains("postmaster") || f.contains("mail delivery")
    });
    report || from_system
}

fn push_bounded(into: &mut String, text: &str) {
    if into.len() >= MAX_HUMAN {
        return;
    }
    if !into.is_empty() {
        into.push_str("\n\n");
    }
    let mut end = text.len().min(MAX_HUMAN - into.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    into.push_str(&text[..end]);
}

fn text_of(body: &PartType<'_>) -> String {
    match body {
        PartType::Text(t) | PartType::Html(t) => t.to_string(),
        PartType::Binary(b) | PartType::InlineBinary(b) => String::from_utf8_lossy(b).into_owned(),
        PartType::Message(m) => String::from_utf8_lossy(m.raw_message()).into_owned(),
        PartType::Multipart(_) => String::new(),
    }
}

fn original_of(m: &Message<'_>) -> Original {
    let list = |a: Option<&mail_parser::Address<'_>>| -> Option<String> {
        let v: Vec<String> = a?
            .iter()
            .filter_map(|x| x.address().map(str::to_string))
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    };
    Original {
        message_id: m.message_id().map(str::to_string),
        subject: m.subject().map(str::to_string),
        from: list(m.from()),
        to: list(m.to()),
        date: m.date().map(|d| d.to_rfc3339()),
    }
}

/// The original's headers from text that starts with them (a text/rfc822-headers part, or
/// what follows "a copy of the message" in a plain bounce).
fn original_from_text(text: &str) -> Original {
    let start = text.trim_start_matches(['\r', '\n', ' ', '\t']);
    match MessageParser::default().parse_headers(start.as_bytes()) {
        Some(m) => original_of(&m),
        None => Original::default(),
    }
}

/// Lines that introduce the returned original in a plain-text bounce; everything after them
/// is the original message, never read for codes.
fn is_separator(line: &str) -> bool {
    let l = line.trim().to_ascii_lowercase();
    if l.is_empty() {
        return false;
    }
    let dashed = l.starts_with("--") || l.starts_with("==") || l.starts_with("__");
    let says = |words: &[&str]| words.iter().any(|w| l.contains(w));
    (dashed
        && says(&[
            "original message",
            "copy of the message",
            "copy of your message",
            "returned message",
            "message header",
            "header of the original",
            "headers of the original",
            "unsent message",
            "original mail",
            "rfc822",
            "the message follows",
            "message text follows",
            "your message follows",
            "included message",
        ]))
        || l.starts_with("original message follows")
        || l.starts_with("------ original message")
        || l == "content-type: message/rfc822"
        || l.starts_with("--- below this line is a copy")
        || l.starts_with("below is a copy of the original message")
        || l.starts_with("-----original message-----")
        || l.starts_with("the original message was:")
        || l.starts_with("unsent message below")
        || l.starts_with("original message headers:")
        || l.starts_with("the header of the original message is following")
        || RETURNED.is_match(&l)
}

/// Undashed introductions: "Message headers follow.", "The original message headers are
/// below", "Below is a copy of the original message:".
static RETURNED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^(?:the )?(?:original |returned |undelivered )?message(?:'s)? (?:headers?|text|body)? ?(?:follows?|are below|is below)[.:]?$|^(?:below|following) (?:is|are) (?:a copy of )?(?:the )?(?:headers? of )?(?:the |your )?(?:original|returned|undelivered) (?:message|mail|headers)|^original message (?:headers|text)[.:]?$")
        .expect("static regex")
});

/// The human part and the returned original after it.
pub fn split_returned(text: &str) -> (&str, &str) {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if is_separator(line) {
            return (&text[..at], &text[at + line.len()..]);
        }
        at += line.len();
    }
    (text, "")
}

/// Tags dropped, entities for the few characters bounces use, line breaks kept.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    let mut tag = String::new();
    for c in html.chars() {
        if in_tag {
            if c == '>' {
                in_tag = false;
                let t = tag.to_ascii_lowercase();
                if t.starts_with("br")
                    || t.starts_with("/p")
                    || t.starts_with("/div")
                    || t.starts_with("/tr")
                    || t.starts_with("/li")
                {
                    out.push('\n');
                }
                tag.clear();
            } else if tag.len() < 16 {
                tag.push(c);
            }
        } else if c == '<' {
            in_tag = true;
        } else {
            out.push(c);
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_returned_message_is_cut_away() {
        let (h, rest) = split_returned(
            "failed:\n  a@b.test\n\n------ This is a copy of the message, including all the headers. ------\nX-Mailer: Apple Mail (2.753.1)\n",
        );
        assert_eq!(h, "failed:\n  a@b.test\n\n");
        assert!(rest.starts_with("X-Mailer"));
    }

    #[test]
    fn html_is_read_as_text() {
        assert_eq!(
            strip_html("<p>550 5.1.1&nbsp;<b>no</b></p>"),
            "550 5.1.1 no\n"
        );
    }
}
