//! Reply templates: a failure's reason with what varies per message masked (IP addresses, queue
//! and tracking IDs, numbers, mail addresses) and `421-` continuation markers joined, so the same
//! failure from a thousand messages becomes one group.
//!
//! The reply code and the enhanced code are kept: they are what the group is about.

/// Templates are cut at this many bytes: enough to tell failures apart.
pub const MAX_TEMPLATE: usize = 400;

fn is_reply_code(w: &[u8]) -> bool {
    w.len() == 3 && (b'2'..=b'5').contains(&w[0]) && w[1..].iter().all(u8::is_ascii_digit)
}

fn is_enhanced(w: &[u8]) -> bool {
    let mut parts = w.split(|&c| c == b'.');
    let (Some(c), Some(s), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    matches!(c, b"2" | b"4" | b"5" | b"X" | b"x")
        && (1..=3).contains(&s.len())
        && (1..=3).contains(&d.len())
        && s.iter().chain(d).all(u8::is_ascii_digit)
}

/// Splits `421-4.7.0` / `421` / `421-` into the code and the enhanced code if glued to it.
fn code_marker(w: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let code = w.get(..3)?;
    if !is_reply_code(code) {
        return None;
    }
    match w.get(3) {
        None => Some((code, None)),
        Some(b'-') if w.len() == 4 => Some((code, None)),
        Some(b'-') if is_enhanced(&w[4..]) => Some((code, Some(&w[4..]))),
        _ => None,
    }
}

/// The template of a reason: words masked, continuation markers joined, whitespace collapsed.
pub fn template(reason: &[u8]) -> String {
    let mut out = String::with_capacity(reason.len().min(MAX_TEMPLATE) + 8);
    let mut first_code: Option<&[u8]> = None;
    let mut first_enh: Option<&[u8]> = None;
    // True right after a dropped continuation marker: its enhanced code goes too.
    let mut dropping_enh = false;
    // Exim writes the lines of a multi-line reply joined by a literal `\n`: a word break too.
    let mut words = reason
        .split(|c| c.is_ascii_whitespace())
        .flat_map(split_literal_newlines)
        .filter(|w| !w.is_empty())
        .peekable();
    // A bare repeat of the first code (`421`) is a line marker only in a multi-line reply (after a
    // `421-`) or before an enhanced code; otherwise it is a number (`try in 421 seconds`).
    let mut multi_line = false;
    while let Some(w) = words.next() {
        if out.len() >= MAX_TEMPLATE {
            out.push('…');
            break;
        }
        if let Some((code, enh)) = code_marker(w) {
            match first_code {
                None => {
                    first_code = Some(code);
                    first_enh = enh;
                    multi_line = w.len() > 3;
                    push_word(&mut out, code);
                    if let Some(e) = enh {
                        push_word(&mut out, e);
                    }
                    dropping_enh = false;
                    continue;
                }
                Some(c)
                    if c == code
                        && (w.len() > 3
                            || multi_line
                            || words.peek().is_some_and(|n| is_enhanced(n))) =>
                {
                    multi_line |= w.len() > 3;
                    dropping_enh = enh.is_none();
                    continue;
                }
                Some(_) => {}
            }
        }
        if is_enhanced(w) {
            if dropping_enh
                || (first_enh.is_none() && first_code.is_some() && out_ends_with_code(&out))
            {
                dropping_enh = false;
                if first_enh.is_none() {
                    first_enh = Some(w);
                    push_word(&mut out, w);
                }
                continue;
            }
            push_word(&mut out, w);
            continue;
        }
        dropping_enh = false;
        if !out.is_empty() {
            out.push(' ');
        }
        mask_word(&mut out, w);
    }
    out
}

/// Splits a word at literal `\n` (backslash, n) sequences.
fn split_literal_newlines(w: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(w);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memmem::find(r, b"\\n") {
            Some(i) => {
                rest = Some(&r[i + 2..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn out_ends_with_code(out: &str) -> bool {
    let b = out.as_bytes();
    b.len() >= 3 && is_reply_code(&b[b.len() - 3..]) && (b.len() == 3 || b[b.len() - 4] == b' ')
}

fn push_word(out: &mut String, w: &[u8]) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(&String::from_utf8_lossy(w));
}

fn is_addr_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'+' | b'=' | b'%' | b'\'' | b'"')
}

/// Masks one word: an address becomes `<addr>`, an IP `<ip>`, an ID-like run `<id>`, other
/// digit runs `<n>`; everything else is kept (lossily decoded).
fn mask_word(out: &mut String, w: &[u8]) {
    if let Some(at) = memchr::memchr(b'@', w) {
        let mut s = at;
        while s > 0 && is_addr_byte(w[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < w.len() && (w[e].is_ascii_alphanumeric() || matches!(w[e], b'.' | b'-')) {
            e += 1;
        }
        if s < at && e > at + 1 {
            // `<bob@example.org>` as a whole becomes `<addr>`.
            let (s, e) = if s > 0 && w[s - 1] == b'<' && w.get(e) == Some(&b'>') {
                (s - 1, e + 1)
            } else {
                (s, e)
            };
            mask_runs(out, &w[..s]);
            out.push_str("<addr>");
            mask_runs(out, &w[e..]);
            return;
        }
    }
    mask_runs(out, w)
}

/// Masks runs inside a word: IPv4/IPv6 addresses, ID-like alphanumeric runs, digit runs.
fn mask_runs(out: &mut String, w: &[u8]) {
    let mut i = 0;
    while i < w.len() {
        let c = w[i];
        if (c.is_ascii_hexdigit() || c == b':')
            && let Some(n) = ip_len(&w[i..])
        {
            out.push_str("<ip>");
            i += n;
            continue;
        }
        if c.is_ascii_alphanumeric() {
            let start = i;
            while i < w.len() && w[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let run = &w[start..i];
            let has_digit = run.iter().any(u8::is_ascii_digit);
            let has_alpha = run.iter().any(u8::is_ascii_alphabetic);
            if has_digit && has_alpha && run.len() >= 8 {
                out.push_str("<id>");
            } else if has_digit && !has_alpha {
                out.push_str("<n>");
            } else if has_digit {
                // `mx1`, `a640c`: keep the letters, mask the digits.
                let mut in_digits = false;
                for &b in run {
                    if b.is_ascii_digit() {
                        if !in_digits {
                            out.push_str("<n>");
                        }
                        in_digits = true;
                    } else {
                        in_digits = false;
                        out.push(b as char);
                    }
                }
            } else {
                // Letters only: ASCII, pushed as is.
                out.push_str(std::str::from_utf8(run).unwrap_or_default());
            }
            continue;
        }
        // Non-alphanumeric: copy one character (decoding UTF-8 where it is valid).
        let len = utf8_len(c).min(w.len() - i);
        out.push_str(&String::from_utf8_lossy(&w[i..i + len]));
        i += len;
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Length of an IPv4 (`192.0.2.1`) or IPv6 (`2001:db8::1`) address at the start of `b`.
fn ip_len(b: &[u8]) -> Option<usize> {
    // IPv4: four dot-separated decimal groups.
    let mut i = 0;
    let mut groups = 0;
    loop {
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() && i - s < 3 {
            i += 1;
        }
        if i == s {
            break;
        }
        groups += 1;
        if groups == 4 {
            if b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                break;
            }
            return Some(i);
        }
        if b.get(i) != Some(&b'.') {
            break;
        }
        i += 1;
    }
    // IPv6: hex groups and at least two colons.
    let mut j = 0;
    let mut colons = 0;
    while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b':' || (b[j] == b'.' && colons > 0))
    {
        if b[j] == b':' {
            colons += 1;
        }
        j += 1;
    }
    // Either compressed (`::`) or all eight groups; `12:34:56` (a time) is not an address.
    let compressed = memchr::memmem::find(&b[..j], b"::").is_some();
    if b.first() == Some(&b':') && !b.starts_with(b"::") {
        return None;
    }
    ((compressed || colons >= 7) && j >= 3 && b[..j].iter().any(u8::is_ascii_hexdigit)).then_some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> String {
        template(s.as_bytes())
    }

    #[test]
    fn masks_what_varies() {
        assert_eq!(
            t(
                "host gmail-smtp-in.l.google.com[142.250.102.27] said: 421-4.7.0 [192.0.2.1      15] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail originating from your IP address. 421 4.7.0 https://support.google.com/mail/answer/81126 a640c23a62f3a-4a6f8b4c9d2si123456ejc.300 - gsmtp (in reply to end of DATA command)"
            ),
            "host gmail-smtp-in.l.google.com[<ip>] said: 421 4.7.0 [<ip> <n>] Our system has detected an unusual rate of unsolicited mail originating from your IP address. https://support.google.com/mail/answer/<n> <id>-<id>.<n> - gsmtp (in reply to end of DATA command)"
        );
        assert_eq!(
            t("connect to mx1.example.org[2001:db8::25]:25: Connection refused"),
            "connect to mx<n>.example.org[<ip>]:<n>: Connection refused"
        );
        assert_eq!(
            t(
                "host mx.example.org[192.0.2.9] said: 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown (in reply to RCPT TO command)"
            ),
            "host mx.example.org[<ip>] said: 550 5.1.1 <addr>: Recipient address rejected: User unknown (in reply to RCPT TO command)"
        );
        assert_eq!(
            t("250 2.0.0 Ok: queued as 4AB12C3D4E"),
            "250 2.0.0 Ok: queued as <id>"
        );
    }

    #[test]
    fn separate_continuation_markers() {
        assert_eq!(
            t("450-4.2.0 one 450-4.2.0 two 450 4.2.0 three"),
            "450 4.2.0 one two three"
        );
        assert_eq!(t("421- one 421 two"), "421 one two");
        // The first code again, alone and not before an enhanced code: a number, not a marker.
        assert_eq!(
            t("421 4.7.0 try in 421 seconds"),
            "421 4.7.0 try in <n> seconds"
        );
        assert_eq!(t("421 4.7.0 one 421 4.7.0 two"), "421 4.7.0 one two");
    }

    #[test]
    fn hostile_bytes_do_not_panic() {
        let _ = template(b"\xff\xfe 421-\xc3 \xe2\x80 1.2.3.4.5.6 ::::: @@ <@> 9.9.9.9999");
        assert_eq!(t(""), "");
    }
}
