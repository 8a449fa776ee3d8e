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

/// Reads DSN fields out of `text`. Blank lines separate blocks (RFC 3464: one per-message
/// block, then one per recipient), in whatever order their fields come; within a block a
/// second `Final-Recipient`, `Status`, `Action` or `Diagnostic-Code` starts the next
/// recipient (writers that forget the blank lines). Unknown fields are ignored.
pub fn parse(text: &str) -> (PerMessage, Vec<DsnRecipient>) {
    let mut msg = PerMessage::default();
    let mut out: Vec<DsnRecipient> = Vec::new();
    let mut cur: Option<(DsnRecipient, bool)> = None;
    let mut block = usize::MAX;
    for (name, value, in_block) in fields(text) {
        if in_block != block {
            block = in_block;
            if let Some((r, _)) = cur.take() {
                out.push(r);
            }
        }
        let value = cut(value);
        let field = name.to_ascii_lowercase();
        match field.as_str() {
            "reporting-mta" => msg.reporting_mta = Some(after_type(&value)),
            "arrival-date" => msg.arrival_date = Some(value),
            "final-recipient" | "original-recipient" | "x-actual-recipient" => {
                let addr = address(&after_type(&value));
                let is_final = field == "final-recipient";
                let (r, has_final) = cur.get_or_insert_with(|| (DsnRecipient::default(), false));
                if is_final && *has_final {
                    let done = std::mem::take(r);
                    out.push(done);
                }
                let (r, has_final) = cur.get_or_insert_with(|| (DsnRecipient::default(), false));
                // Final-Recipient names the address; Original-Recipient only when it is alone.
                if is_final || r.recipient.is_none() {
                    r.recipient = Some(addr);
                }
                *has_final |= is_final;
            }
            "action" | "status" | "remote-mta" | "diagnostic-code" | "last-attempt-date" => {
                let (r, _) = cur.get_or_insert_with(|| (DsnRecipient::default(), false));
                let repeat = match field.as_str() {
                    "action" => r.action.is_some(),
                    "status" => r.status.is_some(),
                    "diagnostic-code" => r.diagnostic.is_some(),
                    _ => false,
                };
                if repeat {
                    let done = std::mem::take(r);
                    out.push(done);
                }
                let (r, _) = cur.get_or_insert_with(|| (DsnRecipient::default(), false));
                match field.as_str() {
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
                    _ => r.last_attempt = Some(value),
                }
            }
            _ => {}
        }
    }
    if let Some((r, _)) = cur {
        out.push(r);
    }
    out.retain(|r| *r != DsnRecipient::default());
    (msg, out)
}

/// `name: value` fields with folded continuation lines unfolded, each with the number of the
/// blank-line-separated block it is in; other lines are skipped.
fn fields(text: &str) -> Vec<(String, String, usize)> {
    let mut out: Vec<(String, String, usize)> = Vec::new();
    let mut open = false;
    let mut block = 0;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if open || out.last().is_some_and(|f| f.2 == block) {
                block += 1;
            }
            open = false;
            continue;
        }
        if (line.starts_with(' ') || line.starts_with('\t')) && open {
            if let Some((_, v, _)) = out.last_mut()
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
                out.push((name.to_string(), value.trim().to_string(), block));
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
