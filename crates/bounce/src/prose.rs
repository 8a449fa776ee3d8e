//! The human-readable part of a bounce: which recipients it names and the lines about each
//! (Exim's indented list, qmail's `<addr>:` paragraphs, Sendmail's transcript, Exchange's
//! "did not reach", Gmail's and Postfix's prose), and whether its words say permanent or not.

use std::sync::LazyLock;

use mxray_core::Class;
use regex::Regex;

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+'=/!#$&*?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
        .expect("static regex")
});
/// An address that opens its line (after blanks, quotes, `<`, a bullet, or a Sendmail v5
/// status code: `554 <a@example.org>... Host unknown`), or follows
/// `RCPT TO:<`, is a recipient the text reports on.
static LEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)^(?:[ \t]*(?:[*>\-•]+[ \t]*)?(?:[245][0-9][0-9][ -])?["'<(]?|.*\bRCPT TO:[ \t]*<|.*\b(?:recipient|address|to)(?: address)?:[ \t]*<?)([A-Za-z0-9._%+'=/!#$&*?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"#)
        .expect("static regex")
});
static PERMANENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)permanent|fatal|given up|giving up|gave up|failed permanently|could not be delivered|couldn't be delivered|undeliverable|was not delivered|wasn't delivered|did not reach|has been rejected|was rejected|delivery (has )?failed|unable to deliver|not be delivered|returned to sender|cannot be delivered|can't be delivered|no longer|was aborted")
        .expect("static regex")
});
static TRANSIENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)temporar|has been delayed|is delayed|delivery delayed|will (be )?retr|still trying|will keep trying|will continue (to try|trying)|not yet been delivered|has not been delivered yet|deferred|will try again|warning: message")
        .expect("static regex")
});

/// Sendmail v5's summary of one recipient, closing the transcript about it:
/// `554 <a@example.org>... Remote protocol error`.
static V5_SUMMARY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[245][0-9][0-9] <([^<>\s]+@[^<>\s]+)>\.\.\. ").expect("static regex")
});

/// One recipient the prose reports on, and the lines about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProseRecipient {
    pub address: Option<String>,
    pub text: String,
}

/// Lines kept about one recipient: its paragraph, not the whole letter.
const MAX_LINES: usize = 24;

fn is_own(addr: &str, own: &[String]) -> bool {
    let a = addr.to_ascii_lowercase();
    let local = a.split('@').next().unwrap_or_default();
    own.contains(&a)
        || matches!(
            local,
            "postmaster" | "mailer-daemon" | "mail-daemon" | "noreply" | "no-reply"
        )
}

/// The recipients the text names and the text about each. With `known` (from DSN fields or
/// `X-Failed-Recipients`) only those are looked for; else addresses that open their lines.
pub fn recipients(human: &str, known: &[String], own: &[String]) -> Vec<ProseRecipient> {
    let lines: Vec<&str> = human.lines().collect();
    if known.is_empty()
        && let Some(v5) = sendmail_v5(&lines, own)
    {
        return v5;
    }
    // (line index, address) of each recipient line, first mention only.
    let mut marks: Vec<(usize, String)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let found = if known.is_empty() {
            LEADING
                .captures(line)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().trim_end_matches('.').to_string())
                .filter(|a| !is_own(a, own))
        } else {
            known
                .iter()
                .find(|k| line.to_ascii_lowercase().contains(&k.to_ascii_lowercase()))
                .cloned()
        };
        if let Some(a) = found {
            let key = a.to_ascii_lowercase();
            if !seen.contains(&key) {
                seen.push(key);
                marks.push((i, a));
            }
        }
    }
    if marks.is_empty() && known.is_empty() {
        // No list: the first address the prose names that is not the bounce's own.
        if let Some(a) = ADDRESS
            .find_iter(human)
            .map(|m| m.as_str().trim_end_matches('.').to_string())
            .find(|a| !is_own(a, own))
        {
            return vec![ProseRecipient {
                address: Some(a),
                text: bounded(&lines, 0, lines.len()),
            }];
        }
        return vec![ProseRecipient {
            address: None,
            text: bounded(&lines, 0, lines.len()),
        }];
    }
    let mut out = Vec::new();
    for (n, (i, a)) in marks.iter().enumerate() {
        let end = marks.get(n + 1).map_or(lines.len(), |(j, _)| *j);
        out.push(ProseRecipient {
            address: Some(a.clone()),
            text: bounded(&lines, *i, end),
        });
    }
    // A recipient the headers name (X-Failed-Recipients) but the letter does not: the whole
    // letter is about it.
    for k in known {
        if !out.iter().any(|p| {
            p.address
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(k))
        }) {
            out.push(ProseRecipient {
                address: Some(k.clone()),
                text: bounded(&lines, 0, lines.len()),
            });
        }
    }
    out
}

/// Sendmail v5's transcript: each recipient's lines come before its summary line
/// (`While talking to host:`, `>>> RCPT To:<a@...>`, `<<< 550 ...`, then `550 <a@...>...
/// User unknown`), so a recipient's text is what follows the previous summary (from the last
/// `While talking to` when there is one) up to its own.
fn sendmail_v5(lines: &[&str], own: &[String]) -> Option<Vec<ProseRecipient>> {
    if !lines.iter().any(|l| l.starts_with("While talking to ")) {
        return None;
    }
    let mut out: Vec<ProseRecipient> = Vec::new();
    let mut start = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(addr) = V5_SUMMARY
            .captures(line)
            .and_then(|c| Some(c.get(1)?.as_str().to_string()))
        else {
            continue;
        };
        let from = (start..i)
            .rev()
            .find(|&j| {
                lines
                    .get(j)
                    .is_some_and(|l| l.starts_with("While talking to "))
            })
            .unwrap_or(start);
        start = i + 1;
        if is_own(&addr, own)
            || out.iter().any(|p| {
                p.address
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(&addr))
            })
        {
            continue;
        }
        out.push(ProseRecipient {
            address: Some(addr),
            text: lines
                .get(from.max(i.saturating_sub(MAX_LINES))..=i)
                .unwrap_or_default()
                .join("\n"),
        });
    }
    (!out.is_empty()).then_some(out)
}

fn bounded(lines: &[&str], from: usize, to: usize) -> String {
    let to = to.min(from + MAX_LINES).min(lines.len());
    lines.get(from..to).unwrap_or_default().join("\n")
}

/// What the words say about the failure's class, when no code does.
pub fn class_from_words(text: &str) -> Option<Class> {
    if TRANSIENT.is_match(text) && !PERMANENT.is_match(text) {
        Some(Class::Transient)
    } else if PERMANENT.is_match(text) {
        Some(Class::Permanent)
    } else if TRANSIENT.is_match(text) {
        Some(Class::Transient)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qmail_paragraphs_one_per_recipient() {
        let t = "Hi. This is the qmail-send program at mx.example.jp.\n\n<a@example.jp>:\n192.0.2.1 does not like recipient.\nRemote host said: 550 5.1.1 <a@example.jp>... User Unknown\n\n<b@example.jp>:\nRemote host said: 550 5.2.1 full\n";
        let r = recipients(t, &[], &[]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].address.as_deref(), Some("a@example.jp"));
        assert!(r[0].text.contains("5.1.1"));
        assert!(!r[0].text.contains("5.2.1"));
    }

    #[test]
    fn the_bounce_own_addresses_are_not_recipients() {
        let t = "Please contact postmaster@example.org\n  kijitora@example.com\n    retry timeout exceeded\n";
        let r = recipients(t, &[], &["sender@example.org".into()]);
        assert_eq!(r[0].address.as_deref(), Some("kijitora@example.com"));
    }
}
