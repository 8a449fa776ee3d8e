//! The `tag=value; ...` grammar that DKIM (RFC 6376 3.2), DMARC, BIMI, TLS-RPT and MTA-STS
//! records share: one parser, tag names lower-cased, duplicates refused.

use mxray_core::escape_text;

/// Tags of a `tag=value; ...` record (DKIM, DMARC, BIMI, TLS-RPT), names lower-cased.
pub fn tags(record: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in record.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("{:?} is not tag=value", escape_text(part)));
        };
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad tag name {:?}", escape_text(&k)));
        }
        if out.iter().any(|(x, _)| *x == k) {
            return Err(format!("tag {k} appears twice"));
        }
        out.push((k, v.trim().to_string()));
    }
    Ok(out)
}

pub fn tag<'a>(t: &'a [(String, String)], k: &str) -> Option<&'a str> {
    t.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lists() {
        let t = tags("v=DMARC1; p=reject; rua=mailto:a@x.example").unwrap_or_default();
        assert_eq!(tag(&t, "p"), Some("reject"));
        assert_eq!(tag(&t, "rua"), Some("mailto:a@x.example"));
        assert!(tags("v=DMARC1; p=none; p=reject").is_err());
        assert!(tags("v=DMARC1; novalue").is_err());
        assert!(tags("b@d=1").is_err());
    }
}
