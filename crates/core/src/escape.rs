//! Escaping of text that came from outside (banners, replies, TXT records, log lines) before it
//! reaches a terminal: control characters and bidi overrides cannot move the cursor or hide text.

/// Returns `s` with control characters, DEL, and Unicode bidi/format controls written as escapes
/// (`\x1b`, `\u{202e}`), and backslashes doubled so the escaping is unambiguous.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s, true);
    out
}

/// A spreadsheet cell from outside text (a server's reply, an address from a list someone
/// else wrote): control and bidi characters escaped as in [`escape_text`] (backslashes are
/// kept: they are not dangerous in a cell), and a cell that a spreadsheet would run as a
/// formula (starting `=`, `+`, `-`, `@`, OWASP's rule) prefixed with `'`.
pub fn csv_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push('\'');
    }
    escape_into(&mut out, s, false);
    out
}

/// The one escaping loop: controls as `\xNN` (or `\t`, `\r`, `\n`), C1 and format controls
/// as `\u{NNNN}`; backslashes doubled when `backslash` (the terminal form is unambiguous).
fn escape_into(out: &mut String, s: &str, backslash: bool) {
    for c in s.chars() {
        match c {
            '\\' if backslash => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_format_control(c) || ('\u{80}'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
}

/// Bidi embeddings/overrides/isolates and zero-width characters that can disguise text.
fn is_format_control(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{061c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_cannot_run_or_hide() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("550 5.1.1 no\r\nsuch"), "550 5.1.1 no\\r\\nsuch");
        assert_eq!(csv_cell("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(csv_cell("\"a\\b\"@example.com"), "\"a\\b\"@example.com");
        assert_eq!(csv_cell("alice@example.com"), "alice@example.com");
    }

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(escape_text("ok \x1b[31mred"), "ok \\x1b[31mred");
        assert_eq!(escape_text("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(escape_text("c:\\path\r\n"), "c:\\\\path\\r\\n");
        assert_eq!(escape_text("héllo wörld"), "héllo wörld");
    }
}
