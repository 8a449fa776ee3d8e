//! The generators' output: DNS records with their zone-file form (split into 255-byte
//! character-strings, escaped), files to serve over HTTPS, and notes for the person publishing.

use serde::Serialize;

/// A TTL for printed zone lines when the caller has no preference: an hour is short enough
/// to correct a mistake the same day and long enough not to load the name servers.
pub const DEFAULT_TTL: u32 = 3600;

/// A DNS character-string holds at most 255 bytes (RFC 1035 3.3): longer TXT values are
/// published as several strings, which receivers concatenate (RFC 7208 3.3, RFC 6376 3.6.2.2).
const MAX_STRING: usize = 255;

/// One record to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DnsRecord {
    /// The owner name: fully qualified, lower case, without the trailing dot.
    pub name: String,
    /// The record type (`TXT`).
    pub rtype: String,
    /// The whole value, unquoted and unsplit (what a DNS provider's web form takes).
    pub value: String,
}

impl DnsRecord {
    /// A TXT record at `name` (normalised: lower case, no trailing dot).
    pub fn txt(name: &str, value: String) -> DnsRecord {
        DnsRecord {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            rtype: "TXT".to_string(),
            value,
        }
    }

    /// The value as character-strings of at most 255 bytes, cut on character boundaries so
    /// no string holds half a UTF-8 sequence. An empty value is one empty string.
    pub fn strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.value.as_str();
        while rest.len() > MAX_STRING {
            let mut cut = MAX_STRING;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push(rest[..cut].to_string());
            rest = &rest[cut..];
        }
        out.push(rest.to_string());
        out
    }

    /// The BIND zone-file line: `name. TTL IN TXT "part1" "part2"`, with `"` and `\` escaped
    /// and bytes outside printable ASCII written `\DDD` (RFC 1035 5.1), so the line survives
    /// any editor and any zone parser.
    pub fn zone_line(&self, ttl: u32) -> String {
        let parts: Vec<String> = self.strings().iter().map(|s| quote(s)).collect();
        format!("{}. {ttl} IN {} {}", self.name, self.rtype, parts.join(" "))
    }
}

/// One character-string in zone-file quoting.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// A file to serve over HTTPS (the MTA-STS policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ServedFile {
    /// Where senders fetch it.
    pub url: String,
    /// The Content-Type to serve it with.
    pub content_type: String,
    /// The exact body.
    pub body: String,
}

/// What one generator produced: records, files, and notes on publishing them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, schemars::JsonSchema)]
pub struct Generated {
    /// The records to publish, the domain's own first.
    pub records: Vec<DnsRecord>,
    /// Files to serve beside the records.
    pub files: Vec<ServedFile>,
    /// What to know before and after publishing (who publishes what, what must hold).
    pub notes: Vec<String>,
}

impl Generated {
    /// Every record as a zone-file line, one a line.
    pub fn zone(&self, ttl: u32) -> String {
        self.records
            .iter()
            .map(|r| r.zone_line(ttl) + "\n")
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_split_into_255_byte_strings() {
        let r = DnsRecord::txt("X.Example.com.", "a".repeat(600));
        assert_eq!(r.name, "x.example.com");
        let s = r.strings();
        assert_eq!(
            s.iter().map(String::len).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(s.concat(), r.value);
        let line = r.zone_line(300);
        assert!(
            line.starts_with("x.example.com. 300 IN TXT \"aaa"),
            "{line}"
        );
        assert_eq!(line.matches('"').count(), 6, "{line}");
        // Exactly 255 stays one string; an empty value is one empty string.
        assert_eq!(
            DnsRecord::txt("x.example.com", "b".repeat(255))
                .strings()
                .len(),
            1
        );
        assert_eq!(
            DnsRecord::txt("x.example.com", String::new()).strings(),
            [""]
        );
    }

    #[test]
    fn splitting_keeps_characters_whole() {
        // 254 ASCII bytes then a 2-byte character: the cut falls before it, not inside.
        let v = format!("{}é{}", "a".repeat(254), "b".repeat(10));
        let s = DnsRecord::txt("x.example.com", v.clone()).strings();
        assert_eq!(s[0].len(), 254);
        assert_eq!(s[1], format!("é{}", "b".repeat(10)));
        assert_eq!(s.concat(), v);
    }

    #[test]
    fn zone_lines_escape_quotes_backslashes_and_controls() {
        let r = DnsRecord::txt("x.example.com", "say \"hi\" \\ now\té".to_string());
        assert_eq!(
            r.zone_line(3600),
            "x.example.com. 3600 IN TXT \"say \\\"hi\\\" \\\\ now\\009\\195\\169\""
        );
        let g = Generated {
            records: vec![r.clone(), r],
            ..Generated::default()
        };
        assert_eq!(g.zone(60).lines().count(), 2);
    }
}
