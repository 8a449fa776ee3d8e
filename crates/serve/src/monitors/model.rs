//! What a monitor is: the domain it watches, how often, whom it alerts; parsed and checked
//! from the API's JSON and from `monitors.toml`, with errors that say what to write instead.

use std::net::IpAddr;
use std::time::Duration;

use mxray_diagnose::request;
use serde::{Deserialize, Serialize};

/// Without an `interval`: hourly.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// Shorter intervals would make a monitor a load generator against the domain's hosts.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// A monthly check is the longest that still watches anything.
pub const MAX_INTERVAL: Duration = Duration::from_secs(31 * 86_400);
/// Without `alert_after`: two failing runs in a row (one can be a blip).
pub const DEFAULT_ALERT_AFTER: u32 = 2;
/// Alert destinations per monitor and channel at most.
pub const MAX_DESTINATIONS: usize = 8;
/// Monitors one server keeps at most (each runs a whole diagnosis every interval).
pub const MAX_MONITORS: usize = 100_000;

/// A monitor's settings, as stored and answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Spec {
    /// The domain diagnosed (recipient and sender side), as given, lower case.
    pub domain: String,
    /// An address at the domain that each MX host is asked about (RCPT TO, then RSET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// The sending IP whose reverse DNS and blocklist listings are checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_ip: Option<IpAddr>,
    /// DKIM selectors asked beside the common ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dkim_selectors: Vec<String>,
    /// Seconds between runs.
    pub interval_s: u64,
    /// Consecutive failing runs before an alert.
    pub alert_after: u32,
    /// JSON POSTs signed with an HMAC header (`X-Mxray-Signature`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<String>,
    /// Slack-compatible incoming webhooks (`{"text": ...}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack: Vec<String>,
    /// Addresses mailed through the server's `--smtp-relay`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// A paused monitor keeps its history and runs no more until resumed.
    #[serde(default)]
    pub paused: bool,
}

/// The fields a client sends to create (`POST`) or change (`PATCH`) a monitor; in `PATCH` every
/// field is optional and an absent one is left as it was.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub domain: Option<String>,
    /// An address at the domain; `""` in a PATCH removes it.
    pub probe: Option<String>,
    pub sender_ip: Option<IpAddr>,
    pub dkim_selectors: Option<Vec<String>>,
    /// `30m`, `1h`, `1d`: at least 1m. Default 1h.
    pub interval: Option<String>,
    /// Default 2.
    pub alert_after: Option<u32>,
    pub webhooks: Option<Vec<String>>,
    pub slack: Option<Vec<String>>,
    pub emails: Option<Vec<String>>,
    pub paused: Option<bool>,
}

/// A request that cannot become a monitor: the message names the field and what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn bad(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

impl Request {
    /// A new monitor's settings: `domain` is required, the rest defaults.
    pub fn create(self) -> Result<Spec, Invalid> {
        let Some(domain) = self.domain.clone() else {
            return Err(bad(
                "domain is required: {\"domain\": \"example.com\", \"interval\": \"1h\"}",
            ));
        };
        let spec = Spec {
            domain,
            probe: None,
            sender_ip: None,
            dkim_selectors: Vec::new(),
            interval_s: DEFAULT_INTERVAL.as_secs(),
            alert_after: DEFAULT_ALERT_AFTER,
            webhooks: Vec::new(),
            slack: Vec::new(),
            emails: Vec::new(),
            paused: false,
        };
        self.apply(spec)
    }

    /// `spec` with this request's fields over it, checked as a whole.
    pub fn apply(self, mut spec: Spec) -> Result<Spec, Invalid> {
        if let Some(d) = self.domain {
            spec.domain = d;
        }
        if let Some(p) = self.probe {
            spec.probe = (!p.trim().is_empty()).then(|| p.trim().to_string());
        }
        if let Some(ip) = self.sender_ip {
            spec.sender_ip = Some(ip);
        }
        if let Some(s) = self.dkim_selectors {
            spec.dkim_selectors = s;
        }
        if let Some(i) = self.interval {
            spec.interval_s = parse_interval(&i)?.as_secs();
        }
        if let Some(n) = self.alert_after {
            spec.alert_after = n;
        }
        if let Some(w) = self.webhooks {
            spec.webhooks = w;
        }
        if let Some(w) = self.slack {
            spec.slack = w;
        }
        if let Some(e) = self.emails {
            spec.emails = e;
        }
        if let Some(p) = self.paused {
            spec.paused = p;
        }
        spec.check()
    }
}

/// `1h`, `30m`: between [`MIN_INTERVAL`] and [`MAX_INTERVAL`].
pub fn parse_interval(text: &str) -> Result<Duration, Invalid> {
    let d = mxray_core::duration::parse(text).map_err(|e| bad(format!("interval: {e}")))?;
    if d < MIN_INTERVAL || d > MAX_INTERVAL {
        return Err(bad(format!(
            "interval {:?}: at least 1m and at most 31d (1h is the default)",
            mxray_core::escape_text(text)
        )));
    }
    Ok(Duration::from_secs(d.as_secs()))
}

/// `3600` -> `1h`, `90` -> `90s`: the shortest exact spelling.
pub fn show_interval(secs: u64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= n && secs.is_multiple_of(n) {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

impl Spec {
    /// Checks every field (the domain, the probe at that domain, selectors, destinations) and
    /// normalises the domain to lower case without a trailing dot.
    pub fn check(mut self) -> Result<Spec, Invalid> {
        request::check_target(&self.domain, false).map_err(|e| bad(format!("domain: {}", e.0)))?;
        if self.domain.contains('@') {
            return Err(bad(
                "domain: give the domain; an address to ask about goes in \"probe\"",
            ));
        }
        self.domain = self
            .domain
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if let Some(p) = &self.probe {
            request::check_target(p, true).map_err(|e| bad(format!("probe: {}", e.0)))?;
            let at = p.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if !at.trim_end_matches('.').eq_ignore_ascii_case(&self.domain) {
                return Err(bad(format!(
                    "probe {}: the address must be at {}",
                    mxray_core::escape_text(p),
                    self.domain
                )));
            }
        }
        for s in &self.dkim_selectors {
            request::check_selector(s).map_err(|e| bad(e.0))?;
        }
        if !(1..=100).contains(&self.alert_after) {
            return Err(bad("alert_after: from 1 to 100 failing runs in a row"));
        }
        if !(MIN_INTERVAL.as_secs()..=MAX_INTERVAL.as_secs()).contains(&self.interval_s) {
            return Err(bad("interval: at least 1m and at most 31d"));
        }
        for (field, urls) in [("webhooks", &self.webhooks), ("slack", &self.slack)] {
            if urls.len() > MAX_DESTINATIONS {
                return Err(bad(format!("{field}: at most {MAX_DESTINATIONS} URLs")));
            }
            for u in urls {
                mxray_net::webhook::WebhookUrl::parse(u).map_err(|e| {
                    bad(format!(
                        "{field}: {}",
                        mxray_core::escape_text(&e.to_string())
                    ))
                })?;
            }
        }
        if self.emails.len() > MAX_DESTINATIONS {
            return Err(bad(format!("emails: at most {MAX_DESTINATIONS} addresses")));
        }
        for e in &self.emails {
            request::check_target(e, true).map_err(|x| bad(format!("emails: {}", x.0)))?;
        }
        Ok(self)
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_s)
    }

    /// What the diagnosis is run on: the probe address when there is one, else the domain.
    pub fn target(&self) -> &str {
        self.probe.as_deref().unwrap_or(&self.domain)
    }

    pub fn has_destinations(&self) -> bool {
        !(self.webhooks.is_empty() && self.slack.is_empty() && self.emails.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> Request {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_and_normalisation() {
        let s = req(r#"{"domain": "Example.COM."}"#).create().unwrap();
        assert_eq!(s.domain, "example.com");
        assert_eq!(s.interval_s, 3600);
        assert_eq!(s.alert_after, 2);
        assert_eq!(s.target(), "example.com");
    }

    #[test]
    fn bad_fields_are_named() {
        let e = req(r#"{"interval": "1m"}"#).create().unwrap_err();
        assert!(e.0.contains("domain is required"), "{e}");
        let e = req(r#"{"domain": "example.com", "interval": "30s"}"#)
            .create()
            .unwrap_err();
        assert!(e.0.contains("at least 1m"), "{e}");
        let e = req(r#"{"domain": "example.com", "probe": "a@other.com"}"#)
            .create()
            .unwrap_err();
        assert!(e.0.contains("must be at example.com"), "{e}");
        let e = req(r#"{"domain": "example.com", "webhooks": ["ftp://x"]}"#)
            .create()
            .unwrap_err();
        assert!(e.0.starts_with("webhooks:"), "{e}");
        let e = req(r#"{"domain": "example.com", "alert_after": 0}"#)
            .create()
            .unwrap_err();
        assert!(e.0.contains("alert_after"), "{e}");
        let e = req(r#"{"domain": "a@example.com"}"#).create().unwrap_err();
        assert!(e.0.contains("probe"), "{e}");
        assert!(serde_json::from_str::<Request>(r#"{"domian": "x"}"#).is_err());
    }

    #[test]
    fn patch_keeps_what_it_does_not_name() {
        let s = req(r#"{"domain": "example.com", "probe": "pm@example.com", "interval": "5m"}"#)
            .create()
            .unwrap();
        let t = req(r#"{"alert_after": 3}"#).apply(s.clone()).unwrap();
        assert_eq!(t.probe.as_deref(), Some("pm@example.com"));
        assert_eq!(t.interval_s, 300);
        assert_eq!(t.alert_after, 3);
        let u = req(r#"{"probe": ""}"#).apply(t).unwrap();
        assert_eq!(u.probe, None);
    }

    #[test]
    fn intervals_print_back() {
        assert_eq!(show_interval(3600), "1h");
        assert_eq!(show_interval(300), "5m");
        assert_eq!(show_interval(86_400 * 2), "2d");
        assert_eq!(show_interval(90), "90s");
        assert_eq!(parse_interval("1h").unwrap().as_secs(), 3600);
    }
}
