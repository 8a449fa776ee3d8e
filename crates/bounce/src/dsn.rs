//! RFC 3464 delivery-status fields: the per-message block and one block per recipient, read
//! from a `message/delivery-status` part or from DSN fields pasted into a text body.
//!
//! Hand-rolled: mail-parser hands the part back as raw bytes, and its grammar is a few header
//! blocks separated by blank lines.

/// The per-message fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerMessage {
    pub reporting_mta: Option<String>,
    pub arrival_date: Option<String>,
}

/// One recipient's fields, as written (values unfolded, trimmed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DsnRecipient {
    /// `Final-Recipient` (else `Original-Recipient`), the address only.
    pub recipient: Option<String>,
    pub action: Option<String>,
    /// `Status` as written (`5.1.1`).
    pub status: Option<String>,
    pub remote_mta: Option<String>,
    /// `Diagnostic-Code`'s type (`smtp`, `X-Postfix`, `X-Unix`).
    pub diagnostic_type: Option<String>,
    /// `Diagnostic-Code`'s text, continuation lines joined by spaces.
    pub diagnostic: Option<String>,
    pub last_attempt: Option<String>,
}

/// Fields longer than this are cut: a diagnostic is a few lines, never kilobytes.
const MAX_FIELD: usize = 4096;

/// Reads DSN fields out of `text`. A `Final-Recipient` or `Original-Recipient` opens a recipient
/// block (one that repeats the address it already has keeps it open, as both often appear);
/// fields before any recipient are per-message. Unknown fields are ignored.
pub fn parse(text: &str) -> (PerMessage, Vec<DsnRecipient>) {
    let mut msg = PerMessage::default();
    let mut out: Vec<DsnRecipient> = Vec::new();
    for (name, value) in fields(text) {
        let value = cut(value);
        match name.to_ascii_lowercase().as_str() {
            "reporting-mta" => msg.reporting_mta = Some(after_type(&value)),
            "arrival-date" => msg.arrival_date = Some(value),
            "final-recipient" | "original-recipient" | "x-actual-recipient" => {
                let addr = address(&after_type(&value));
                let is_final = name.eq_ignore_ascii_case("final-recipient");
                match out.last_mut() {
                    // Original- and Final-Recipient of the same block: Final wins.
                    Some(last) if !last_complete(last) => {
                        if is_final || last.recipient.is_none() {
                            last.recipient = Some(addr);
                        }
                    }
                    _ => out.push(DsnRecipient {
                        recipient: Some(addr),
                        ..DsnRecipient::default()
                    }),
                }
            }
            field => {
                let Some(r) = current(&mut out, field) else {
                    continue;
                };
                match field {
                    "action" => r.action = Some(value.to_ascii_lowercase()),
                    "status" => r.status = Some(value),
                    "remote-mta" => r.remote_mta = Some(after_type(&value)),
                    "diagnostic-code" => {
                        let (kind, rest) = match value.split_once(';') {
                            Some((k, rest)) => (Some(k.trim().to_string()), rest.trim()),
                            None => (None, value.as_str()),
                        };
                        r.diagnostic_type = kind;
                        r.diagnostic = Some(rest.to_string());
                    }
                    "last-attempt-date" => r.last_attempt = Some(value),
                    _ => {}
                }
            }
        }
    }
    (msg, out)
}

/// A block is complete once it has its status: a further recipient field starts a new one.
fn last_complete(r: &DsnRecipient) -> bool {
    r.status.is_some() || r.action.is_some() || r.diagnostic.is_some()
}

/// The recipient block a field belongs to; per-recipient fields before any recipient open an
/// anonymous block (some MTAs put Status before Final-Recipient).
fn current<'a>(out: &'a mut Vec<DsnRecipient>, field: &str) -> Option<&'a mut DsnRecipient> {
    const PER_RECIPIENT: &[&str] = &[
        "action",
        "status",
        "remote-mta",
        "diagnostic-code",
        "last-attempt-date",
    ];
    if !PER_RECIPIENT.contains(&field) {
        return None;
    }
    let repeat = out.last().is_some_and(|r| match field {
        "action" => r.action.is_some(),
        "status" => r.status.is_some(),
        "diagnostic-code" => r.diagnostic.is_some(),
        _ => false,
    });
    if out.is_empty() || repeat {
        out.push(DsnRecipient::default());
    }
    out.last_mut()
}

/// `name: value` fields with folded continuation lines unfolded; other lines are skipped.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            open = false;
            continue;
        }
        if (line.starts_with(' ') || line.starts_with('\t')) && open {
            if let Some((_, v)) = out.last_mut()
                && v.len() < MAX_FIELD
            {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        let trimmed = line.trim_start();
        match trimmed.split_once(':') {
            Some((name, value))
                if !name.is_empty()
                    && name.len() <= 40
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                out.push((name.to_string(), value.trim().to_string()));
                open = true;
            }
            _ => open = false,
        }
    }
    out
}

fn cut(mut v: String) -> String {
    if v.len() > MAX_FIELD {
        let mut end = MAX_FIELD;
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        v.truncate(end);
    }
    v
}

/// `rfc822; a@b` -> `a@b`, `dns; mx.example.com` -> `mx.example.com`.
fn after_type(v: &str) -> String {
    match v.split_once(';') {
        Some((_, rest)) => rest.trim().to_string(),
        None => v.trim().to_string(),
    }
}

/// The bare address from `<a@b>` or `"Name" <a@b>`.
fn address(v: &str) -> String {
    let v = v.trim();
    if let (Some(a), Some(b)) = (v.find('<'), v.rfind('>'))
        && a < b
    {
        return v[a + 1..b].trim().to_string();
    }
    v.trim_matches(|c| c == '<' || c == '>').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_message_and_per_recipient_blocks() {
        let text = "Reporting-MTA: dns; mx.example.org\nArrival-Date: Mon, 1 Dec 2025 10:00:00 +0000\n\nFinal-Recipient: rfc822; a@example.com\nOriginal-Recipient: rfc822;a@example.com\nAction: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.example.com\nDiagnostic-Code: smtp; 550 5.1.1 <a@example.com>: Recipient address\n    rejected: User unknown\n\nFinal-Recipient: rfc822; b@example.com\nAction: delayed\nStatus: 4.4.1\n";
        let (m, r) = parse(text);
        assert_eq!(m.reporting_mta.as_deref(), Some("mx.example.org"));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].recipient.as_deref(), Some("a@example.com"));
        assert_eq!(r[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(r[0].diagnostic_type.as_deref(), Some("smtp"));
        assert_eq!(
            r[0].diagnostic.as_deref(),
            Some("550 5.1.1 <a@example.com>: Recipient address rejected: User unknown")
        );
        assert_eq!(r[0].remote_mta.as_deref(), Some("mx.example.com"));
        assert_eq!(r[1].action.as_deref(), Some("delayed"));
    }

    #[test]
    fn garbage_gives_nothing() {
        let (m, r) = parse("hello\n: \n\u{0}\u{1}:x\n");
        assert_eq!(m, PerMessage::default());
        assert!(r.is_empty());
    }
}
