//! Alerts out of monitors: a failing streak and its recovery, as a signed JSON webhook, Slack
//! text or an email; many at once become one digest that names the likelier common cause.
//!
//! Alerts wait a short window (`digest_window`) so that a resolver or network outage, which
//! fails every monitor within minutes, sends one digest per destination instead of a storm.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mxray_core::escape_text;
use mxray_net::webhook::{Webhook, WebhookConfig, WebhookUrl};
use mxray_net::{AddressPolicy, Dns, TlsSettings};
use serde::Serialize;
use tokio::sync::mpsc;

use super::state::{Change, Problem};

/// Alerts waiting for the dispatcher at most; past it an alert is dropped and counted.
const QUEUE: usize = 4096;
/// Evidence lines per finding in an alert: the failing reply and its context, not a dump.
const EVIDENCE_LINES: usize = 6;
/// Findings detailed per alert.
const FINDINGS: usize = 5;

/// How alerts leave the server.
#[derive(Clone)]
pub struct AlertSettings {
    /// Signs webhook posts (`X-Mxray-Signature`); without one they go unsigned.
    pub secret: Option<Vec<u8>>,
    /// Alerts arriving within this window of the first are sent together.
    pub digest_window: Duration,
    /// A destination with at least this many alerts in one window gets a digest.
    pub digest_after: usize,
    pub policy: AddressPolicy,
    pub tls: Arc<TlsSettings>,
    pub dns: Dns,
    /// Email alerts go through this (the server's `--smtp-relay`).
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Each try's network steps.
    pub timeout: Duration,
}

/// Sends one plain-text email (the `--smtp-relay` submission client, retries included).
pub trait Mailer: Send + Sync {
    fn send<'a>(
        &'a self,
        to: &'a [String],
        subject: &'a str,
        body: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Email through a submission server (`--smtp-relay`): `relay::send` with its retries.
pub struct RelayMailer(pub mxray_net::relay::RelayConfig);

impl Mailer for RelayMailer {
    fn send<'a>(
        &'a self,
        to: &'a [String],
        subject: &'a str,
        body: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            mxray_net::relay::send(&self.0, to, subject, body)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// A failing finding as an alert shows it: what, the evidence, the fix.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub id: String,
    pub severity: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub evidence: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// One monitor's alert.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// `failing` or `recovered`.
    pub state: &'static str,
    pub monitor: String,
    pub domain: String,
    /// Failing runs in a row (0 on recovery).
    pub streak: u32,
    pub verdict: String,
    pub score: u32,
    /// The report's one-line summary.
    pub summary: String,
    /// Unix seconds of the run.
    pub at: i64,
    /// What changed since the previous run.
    pub changes: Vec<Change>,
    /// The failing (then warning) findings with their evidence and fix.
    pub findings: Vec<Detail>,
    #[serde(skip)]
    pub webhooks: Vec<String>,
    #[serde(skip)]
    pub slack: Vec<String>,
    #[serde(skip)]
    pub emails: Vec<String>,
}

impl Alert {
    /// The findings worth alerting on from a report's: failures first, then warnings, each
    /// with a few evidence lines.
    pub fn details(findings: &[mxray_core::Finding]) -> Vec<Detail> {
        let mut v: Vec<&mxray_core::Finding> = findings
            .iter()
            .filter(|f| f.severity >= mxray_core::Severity::Warn)
            .collect();
        v.sort_by_key(|f| std::cmp::Reverse(f.severity));
        v.into_iter()
            .take(FINDINGS)
            .map(|f| Detail {
                id: f.id.to_string(),
                severity: f.severity.as_str().to_string(),
                title: f.title.clone(),
                host: f.host.clone(),
                evidence: f.evidence.iter().take(EVIDENCE_LINES).cloned().collect(),
                fix: f.fix.clone(),
            })
            .collect()
    }

    fn headline(&self) -> String {
        match self.state {
            "recovered" => format!(
                "{} recovered: {} (score {})",
                self.domain, self.verdict, self.score
            ),
            _ => format!(
                "{} is failing ({} runs in a row): {} (score {})",
                self.domain, self.streak, self.verdict, self.score
            ),
        }
    }

    /// Plain text for email and Slack; every piece of outside text escaped.
    pub fn text(&self) -> String {
        let mut t = format!(
            "{}\n{}\n",
            escape_text(&self.headline()),
            escape_text(&self.summary)
        );
        let changed: Vec<String> = self.changes.iter().filter_map(describe).collect();
        if !changed.is_empty() {
            t.push_str("\nWhat changed:\n");
            for c in changed {
                t.push_str(&format!("  - {}\n", escape_text(&c)));
            }
        }
        if self.state == "failing" {
            for d in &self.findings {
                t.push_str(&format!(
                    "\n[{}] {} ({}{})\n",
                    d.severity,
                    escape_text(&d.title),
                    d.id,
                    d.host
                        .as_deref()
                        .map(|h| format!(", {}", escape_text(h)))
                        .unwrap_or_default()
                ));
                for e in &d.evidence {
                    t.push_str(&format!("    > {}\n", escape_text(e)));
                }
                if let Some(fix) = &d.fix {
                    t.push_str(&format!("  Fix: {}\n", escape_text(fix)));
                }
            }
        }
        t
    }
}

/// A change in words, for the alert's "what changed".
pub fn describe(c: &Change) -> Option<String> {
    let p = |p: &Problem| {
        format!(
            "{} ({}{})",
            p.title,
            p.id,
            p.host
                .as_deref()
                .map(|h| format!(", {h}"))
                .unwrap_or_default()
        )
    };
    match c {
        Change::Verdict { from: Some(f), to } => Some(format!("verdict {f} -> {to}")),
        Change::Verdict { from: None, to } => Some(format!("first run: {to}")),
        Change::Appeared { problem } => Some(format!("new {}: {}", problem.severity, p(problem))),
        Change::Cleared { problem } => Some(format!("cleared: {}", p(problem))),
        Change::Alert { .. } | Change::Recovered => None,
    }
}

/// Several alerts for one destination in one window.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub failing: usize,
    pub recovered: usize,
    pub window_s: u64,
    /// Why so many at once: the shared cause it points to.
    pub likely_cause: String,
    /// The failing findings shared by the alerts, with how many alerts have each.
    pub common: BTreeMap<String, usize>,
    pub alerts: Vec<Alert>,
}

impl Digest {
    pub fn of(alerts: Vec<Alert>, window: Duration) -> Digest {
        let failing = alerts.iter().filter(|a| a.state == "failing").count();
        let recovered = alerts.len() - failing;
        let mut common: BTreeMap<String, usize> = BTreeMap::new();
        for a in alerts.iter().filter(|a| a.state == "failing") {
            let mut ids: Vec<&str> = a
                .findings
                .iter()
                .filter(|d| d.severity == "fail")
                .map(|d| d.id.as_str())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                *common.entry(id.to_string()).or_default() += 1;
            }
        }
        let top = common.iter().max_by_key(|(_, n)| **n);
        let likely_cause = if failing >= 2 {
            let shared = top
                .filter(|(_, n)| **n * 2 >= failing)
                .map(|(id, n)| format!(" {n} of them report {id}."))
                .unwrap_or_default();
            format!(
                "{failing} monitors started failing within {}s. Many domains rarely break at once: the resolver this server uses or its own network (a blocked port 25, a listed address) is the likelier cause.{shared} Check a domain known to be good with mxray diagnose from this server before contacting the domains' owners.",
                window.as_secs()
            )
        } else {
            "The changes arrived together; each is listed below.".to_string()
        };
        Digest {
            failing,
            recovered,
            window_s: window.as_secs(),
            likely_cause,
            common,
            alerts,
        }
    }

    pub fn text(&self) -> String {
        let mut t = format!(
            "mxray digest: {} failing, {} recovered\n{}\n",
            self.failing, self.recovered, self.likely_cause
        );
        for a in &self.alerts {
            let first = a
                .findings
                .first()
                .map(|d| format!(": {}", d.title))
                .unwrap_or_default();
            // Each line escaped on its own: outside text cannot add lines of its own.
            let line = format!("  - {}{}\n", a.headline(), first).replace('\n', " ");
            t.push_str(&escape_text(&line));
            t.push('\n');
        }
        t
    }
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup: escaped as Slack asks.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The webhook body: `{"schema_version": 1, "event": ..., ...}`.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    schema_version: u32,
    event: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// Where alerts go: one destination's kind and address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Dest {
    Webhook(String),
    Slack(String),
    Email(String),
}

/// Counts of what the dispatcher did, for tests and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sent {
    pub alerts: u64,
    pub digests: u64,
    pub dropped: u64,
    pub email_failures: u64,
}

/// Queues alerts and sends them, batched per window.
pub struct Dispatcher {
    tx: mpsc::Sender<Alert>,
    sent: Arc<Mutex<Sent>>,
}

impl Dispatcher {
    pub fn start(s: AlertSettings) -> Dispatcher {
        let (tx, rx) = mpsc::channel(QUEUE);
        let sent = Arc::new(Mutex::new(Sent::default()));
        tokio::spawn(run(s, rx, sent.clone()));
        Dispatcher { tx, sent }
    }

    /// Queues an alert; a full queue drops it (counted).
    pub fn raise(&self, a: Alert) {
        if self.tx.try_send(a).is_err() {
            self.count(|s| s.dropped += 1);
        }
    }

    pub fn sent(&self) -> Sent {
        *self.sent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut Sent)) {
        f(&mut self.sent.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

async fn run(s: AlertSettings, mut rx: mpsc::Receiver<Alert>, sent: Arc<Mutex<Sent>>) {
    let mut hooks: HashMap<String, Webhook> = HashMap::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + s.digest_window;
        while let Ok(Some(a)) = tokio::time::timeout_at(until, rx.recv()).await {
            batch.push(a);
        }
        let mut per: BTreeMap<Dest, Vec<Alert>> = BTreeMap::new();
        for a in batch {
            let dests = a
                .webhooks
                .iter()
                .map(|u| Dest::Webhook(u.clone()))
                .chain(a.slack.iter().map(|u| Dest::Slack(u.clone())))
                .chain(a.emails.iter().map(|e| Dest::Email(e.clone())));
            for d in dests.collect::<Vec<_>>() {
                per.entry(d).or_default().push(a.clone());
            }
        }
        for (dest, alerts) in per {
            let digest = alerts.len() >= s.digest_after.max(2);
            let (event, json, text, subject) = if digest {
                let d = Digest::of(alerts, s.digest_window);
                let subject = format!(
                    "mxray: {} monitors failing, {} recovered",
                    d.failing, d.recovered
                );
                let json = serde_json::to_vec(&Envelope {
                    schema_version: 1,
                    event: "monitor.digest",
                    body: &d,
                });
                ("monitor.digest", json, d.text(), subject)
            } else {
                for a in alerts {
                    send_one(&s, &mut hooks, &dest, &a, &sent).await;
                }
                continue;
            };
            if let Ok(json) = json {
                deliver(&s, &mut hooks, &dest, event, json, &text, &subject, &sent).await;
            }
            if let Ok(mut c) = sent.lock() {
                c.digests += 1;
            }
        }
    }
    for (_, h) in hooks {
        h.close(Duration::from_secs(5)).await;
    }
}

async fn send_one(
    s: &AlertSettings,
    hooks: &mut HashMap<String, Webhook>,
    dest: &Dest,
    a: &Alert,
    sent: &Arc<Mutex<Sent>>,
) {
    let event = if a.state == "recovered" {
        "monitor.recovered"
    } else {
        "monitor.failing"
    };
    let Ok(json) = serde_json::to_vec(&Envelope {
        schema_version: 1,
        event,
        body: a,
    }) else {
        return;
    };
    let subject = format!("mxray: {}", a.headline());
    deliver(s, hooks, dest, event, json, &a.text(), &subject, sent).await;
    if let Ok(mut c) = sent.lock() {
        c.alerts += 1;
    }
}

#[allow(clippy::too_many_arguments)]
async fn deliver(
    s: &AlertSettings,
    hooks: &mut HashMap<String, Webhook>,
    dest: &Dest,
    event: &str,
    json: Vec<u8>,
    text: &str,
    subject: &str,
    sent: &Arc<Mutex<Sent>>,
) {
    match dest {
        Dest::Webhook(url) => {
            if let Some(h) = hook(s, hooks, url, true) {
                h.post(json, Some(event));
            }
        }
        Dest::Slack(url) => {
            let body = serde_json::json!({ "text": slack_escape(text) });
            if let (Some(h), Ok(body)) = (hook(s, hooks, url, false), serde_json::to_vec(&body)) {
                h.post(body, Some(event));
            }
        }
        Dest::Email(to) => {
            let Some(mailer) = s.mailer.clone() else {
                return;
            };
            // The relay retries on its own; sending in a task keeps a slow relay from holding
            // the webhooks of the same batch.
            let to = vec![to.clone()];
            let (subject, text) = (escape_text(subject), text.to_string());
            let sent = sent.clone();
            tokio::spawn(async move {
                if mailer.send(&to, &subject, &text).await.is_err()
                    && let Ok(mut c) = sent.lock()
                {
                    c.email_failures += 1;
                }
            });
        }
    }
}

/// The sender for `url`, started on first use (retries and backoff are the webhook's).
fn hook<'a>(
    s: &AlertSettings,
    hooks: &'a mut HashMap<String, Webhook>,
    url: &str,
    signed: bool,
) -> Option<&'a Webhook> {
    let key = format!("{signed}:{url}");
    if !hooks.contains_key(&key) {
        let parsed = WebhookUrl::parse(url).ok()?;
        let mut cfg = WebhookConfig::new(parsed, s.tls.clone());
        cfg.secret = if signed { s.secret.clone() } else { None };
        cfg.policy = s.policy.clone();
        cfg.dns = Some(s.dns.clone());
        cfg.timeout = s.timeout;
        hooks.insert(
            key.clone(),
            Webhook::start(cfg, &tokio::runtime::Handle::current()),
        );
    }
    hooks.get(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(domain: &str, state: &'static str, fail_id: &str) -> Alert {
        Alert {
            state,
            monitor: format!("m-{domain}"),
            domain: domain.into(),
            streak: 2,
            verdict: "broken".into(),
            score: 10,
            summary: "The MX hosts answer 421".into(),
            at: 0,
            changes: vec![Change::Appeared {
                problem: Problem {
                    id: fail_id.into(),
                    severity: "fail".into(),
                    title: "421 <script>".into(),
                    host: Some("mx.example".into()),
                },
            }],
            findings: vec![Detail {
                id: fail_id.into(),
                severity: "fail".into(),
                title: "Transient failure\u{202e} at greeting".into(),
                host: Some("mx.example".into()),
                evidence: vec!["S: 421 4.3.2 Service not available\r\nX-Injected: 1".into()],
                fix: Some("Ask the host's operator".into()),
            }],
            webhooks: vec![],
            slack: vec![],
            emails: vec![],
        }
    }

    #[test]
    fn text_carries_change_evidence_and_fix_escaped() {
        let t = alert("a.example", "failing", "smtp.greeting_transient").text();
        assert!(t.contains("a.example is failing (2 runs in a row)"), "{t}");
        assert!(t.contains("new fail: 421 <script>"), "{t}");
        assert!(t.contains("> S: 421 4.3.2 Service not available"), "{t}");
        assert!(t.contains("Fix: Ask the host's operator"), "{t}");
        assert!(
            !t.contains('\u{202e}') && !t.contains('\r'),
            "controls escaped: {t}"
        );
        assert_eq!(slack_escape("<a&b>"), "&lt;a&amp;b&gt;");
    }

    #[test]
    fn digest_names_the_common_cause() {
        let mut v: Vec<Alert> = (0..6)
            .map(|i| alert(&format!("d{i}.example"), "failing", "dns.timeout"))
            .collect();
        v.push(alert("r.example", "recovered", "x"));
        let d = Digest::of(v, Duration::from_secs(30));
        assert_eq!((d.failing, d.recovered), (6, 1));
        assert!(d.likely_cause.contains("resolver"), "{}", d.likely_cause);
        assert!(
            d.likely_cause.contains("6 of them report dns.timeout"),
            "{}",
            d.likely_cause
        );
        assert_eq!(d.common.get("dns.timeout"), Some(&6));
        let t = d.text();
        assert!(t.contains("d5.example is failing"), "{t}");
        assert!(!t.contains('\u{202e}'), "outside text escaped: {t}");
        assert_eq!(
            t.lines().filter(|l| l.starts_with("  - ")).count(),
            7,
            "{t}"
        );
    }
}
