//! `--monitors monitors.toml`: monitors kept in a file (reviewed, versioned), read at start and
//! on SIGHUP; each entry's id comes from its domain and probe, so a reload keeps its history.
//!
//! ```toml
//! [defaults]                 # optional: for every [[monitor]] that does not say otherwise
//! interval = "1h"
//! alert_after = 2
//! webhooks = ["https://hooks.example.com/mxray"]
//!
//! [[monitor]]
//! domain = "example.com"
//! probe = "postmaster@example.com"
//! interval = "15m"
//! ```

use serde::Deserialize;

use super::model::{Invalid, MAX_MONITORS, Request, Spec};

/// Bytes of the file read at most: 100,000 monitors of ordinary length.
pub const MAX_FILE: u64 = 32 * 1024 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    interval: Option<String>,
    alert_after: Option<u32>,
    #[serde(default)]
    webhooks: Option<Vec<String>>,
    #[serde(default)]
    slack: Option<Vec<String>>,
    #[serde(default)]
    emails: Option<Vec<String>>,
    #[serde(default)]
    dkim_selectors: Option<Vec<String>>,
    sender_ip: Option<std::net::IpAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    monitor: Vec<Request>,
}

/// The file's monitors, each with its id (`cfg-` and a hash of domain and probe).
pub fn parse(text: &str) -> Result<Vec<(String, Spec)>, Invalid> {
    let file: File = toml::from_str(text).map_err(|e| Invalid(e.to_string()))?;
    if file.monitor.len() > MAX_MONITORS {
        return Err(Invalid(format!(
            "{} monitors: at most {MAX_MONITORS}",
            file.monitor.len()
        )));
    }
    let d = file.defaults;
    let mut out: Vec<(String, Spec)> = Vec::with_capacity(file.monitor.len());
    let mut seen = std::collections::HashSet::new();
    for (i, mut m) in file.monitor.into_iter().enumerate() {
        let n = i + 1;
        m.interval = m.interval.or_else(|| d.interval.clone());
        m.alert_after = m.alert_after.or(d.alert_after);
        m.webhooks = m.webhooks.or_else(|| d.webhooks.clone());
        m.slack = m.slack.or_else(|| d.slack.clone());
        m.emails = m.emails.or_else(|| d.emails.clone());
        m.dkim_selectors = m.dkim_selectors.or_else(|| d.dkim_selectors.clone());
        m.sender_ip = m.sender_ip.or(d.sender_ip);
        let spec = m
            .create()
            .map_err(|e| Invalid(format!("monitor {n} ([[monitor]] number {n}): {e}")))?;
        let id = id_of(&spec);
        if !seen.insert(id.clone()) {
            return Err(Invalid(format!(
                "monitor {n}: {} (probe {}) is listed twice",
                spec.domain,
                spec.probe.as_deref().unwrap_or("none")
            )));
        }
        out.push((id, spec));
    }
    Ok(out)
}

/// A config monitor's id: stable across reloads and edits of everything but what it watches.
pub fn id_of(spec: &Spec) -> String {
    let key = format!("{}\n{}", spec.domain, spec.probe.as_deref().unwrap_or(""));
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("cfg-{hex}")
}

/// Reads the file, bounded.
pub fn read(path: &std::path::Path) -> Result<Vec<(String, Spec)>, Invalid> {
    use std::io::Read;
    let shown = path.display();
    let f = std::fs::File::open(path).map_err(|e| Invalid(format!("{shown}: {e}")))?;
    let mut text = String::new();
    f.take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| Invalid(format!("{shown}: {e} (the file must be UTF-8 TOML)")))?;
    if text.len() as u64 > MAX_FILE {
        return Err(Invalid(format!("{shown}: larger than {MAX_FILE} bytes")));
    }
    parse(&text).map_err(|e| Invalid(format!("{shown}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_ids_are_stable() {
        let v = parse(
            r#"
            [defaults]
            interval = "15m"
            webhooks = ["http://127.0.0.1:9/hook"]
            [[monitor]]
            domain = "a.example"
            [[monitor]]
            domain = "b.example"
            interval = "1h"
            webhooks = []
            "#,
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].1.interval_s, 900);
        assert_eq!(v[0].1.webhooks.len(), 1);
        assert_eq!(v[1].1.interval_s, 3600);
        assert!(v[1].1.webhooks.is_empty());
        assert_eq!(v[0].0, id_of(&v[0].1));
        assert!(v[0].0.starts_with("cfg-"));
        assert_ne!(v[0].0, v[1].0);
    }

    #[test]
    fn errors_name_the_entry() {
        let e = parse("[[monitor]]\ndomain = \"a.example\"\ninterval = \"5s\"\n").unwrap_err();
        assert!(e.0.starts_with("monitor 1"), "{e}");
        let e =
            parse("[[monitor]]\ndomain = \"a.example\"\n[[monitor]]\ndomain = \"A.example.\"\n")
                .unwrap_err();
        assert!(e.0.contains("listed twice"), "{e}");
        let e = parse("[[monitr]]\ndomain = \"a.example\"\n").unwrap_err();
        assert!(e.0.contains("monitr"), "{e}");
    }
}
