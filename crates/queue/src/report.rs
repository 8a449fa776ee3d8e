//! The queue report: totals, the age distribution, the oldest messages, and the recipients
//! grouped by status x enhanced code x destination domain x reason template, each group
//! explained by the same knowledge base as `mxray logs` groups. Its JSON is the contract of
//! `mxray queue --json`.
//!
//! Strings come from the queue (attacker-controlled): JSON keeps them exact; whoever prints
//! them on a terminal or a page escapes them (`mxray_core::escape_text`).

use std::collections::HashMap;

use mxray_core::Explanation;
use mxray_logs::Timestamp;
use mxray_logs::analyze::{dsn_in_reply, explain_reason, infer_dsn, is_command_safe_domain};
use serde::Serialize;

use crate::model::{MAX_REASON, Message, Mta, Recipient, Snapshot, cut, domain_of};

/// Distinct groups kept; further ones are folded into one `(other reasons)` row per status.
pub const MAX_GROUPS: usize = 5_000;
/// Queue IDs named per group.
pub const IDS_PER_GROUP: usize = 5;
/// Oldest messages listed.
pub const OLDEST_SHOWN: usize = 10;
/// Suggested `mxray diagnose` commands at most.
pub const MAX_COMMANDS: usize = 5;

/// Age buckets, as `mxray logs` draws durations.
pub const AGE_LABELS: [&str; 8] = [
    "<=1m", "<=5m", "<=15m", "<=1h", "<=4h", "<=1d", "<=5d", ">5d",
];
const AGE_LIMITS: [i64; 7] = [60, 300, 900, 3600, 14_400, 86_400, 432_000];

/// Counts over the whole queue. Field names are the JSON contract.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Totals {
    /// Messages in the queue (including any past the reading limit).
    pub messages: u64,
    /// Recipients still to deliver (delivered ones of a waiting message not counted).
    pub recipients: u64,
    /// Age of the oldest message, seconds; `null` for an empty queue.
    pub oldest_age_s: Option<i64>,
    /// Recipients with a failed attempt the MTA will retry (or in Postfix's deferred queue).
    pub deferred: u64,
    /// Messages with at least one deferred recipient.
    pub deferred_messages: u64,
    /// Recipients not tried yet (arriving, in delivery, or waiting for their first attempt).
    pub pending: u64,
    /// Recipients of messages on hold (Postfix `hold`): not retried until released.
    pub held: u64,
    /// Recipients of frozen messages (Exim): not retried until thawed or timed out.
    pub frozen: u64,
    /// Recipients already delivered, of messages still queued for others (Exim `D`).
    pub delivered: u64,
    /// The messages' sizes added up, bytes.
    pub bytes: u64,
}

/// Recipients with the same status, enhanced code, destination domain and reason template.
/// The same shape as a `mxray logs` group, counted in recipients instead of events.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Group {
    /// `deferred` (a failed attempt, retried), `pending` (not tried yet), `held` or `frozen`.
    pub status: &'static str,
    /// The enhanced status code: from the reply, or inferred from the MTA's words.
    pub dsn: Option<String>,
    pub domain: String,
    /// The reason with addresses, IDs and numbers masked; `(no attempt yet)` and the like for
    /// recipients without one.
    pub template: String,
    /// Recipients.
    pub count: u64,
    /// Distinct messages.
    pub messages: u64,
    /// Arrival of the group's oldest message.
    pub oldest: Option<Timestamp>,
    /// Its age in seconds.
    pub oldest_age_s: Option<i64>,
    /// The earliest next retry of the group, where the MTA exposes it (Exim's retry data).
    pub next_retry: Option<Timestamp>,
    /// The first reason of the group, exactly as the MTA gave it (up to 2 KiB): Postfix's and
    /// Sendmail's reason, Exim's message-log line (recipient, router, transport, host, reason).
    pub sample: String,
    /// Queue IDs of the group's oldest messages (up to 5), for the MTA's own tools.
    pub queue_ids: Vec<String>,
    /// The knowledge base's reading of the sample (`mxray explain`).
    pub explanation: Option<Explanation>,
    /// The command to run next, for the deferred groups of the most recipients.
    pub next_command: Option<String>,
}

/// One message, as the oldest are listed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MessageSummary {
    pub queue_id: String,
    /// The MTA's queue (`deferred`, `active`, `hold`... for Postfix; `queue` otherwise).
    pub queue: String,
    pub arrival: Option<Timestamp>,
    /// False when the arrival is known only to the listing's rounding (Exim's `-bp` ages).
    pub arrival_exact: bool,
    pub age_s: Option<i64>,
    /// The envelope sender; empty for the null sender (bounces).
    pub sender: String,
    pub size: Option<u64>,
    /// Recipients still to deliver.
    pub recipients: u64,
    /// The worst status of its recipients (`frozen`, `held`, `deferred`, `pending`).
    pub status: &'static str,
    /// The template of its first recipient's reason.
    pub reason: Option<String>,
    pub next_retry: Option<Timestamp>,
}

/// The whole report (`mxray queue --json`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// The MTA whose queue it is; `null` for an empty listing of unknown origin.
    pub mta: Option<Mta>,
    /// What was read: the command (`postqueue -j`) or the file (`file queue.json`).
    pub source: String,
    /// The time the listing describes: ages count to it.
    pub taken_at: Timestamp,
    pub totals: Totals,
    /// `[label, messages]`: `<=1m`, `<=5m`, `<=15m`, `<=1h`, `<=4h`, `<=1d`, `<=5d`, `>5d`.
    pub ages: Vec<(&'static str, u64)>,
    /// The oldest messages, oldest first (up to 10).
    pub oldest: Vec<MessageSummary>,
    /// Deferred and frozen groups first, then by recipients.
    pub groups: Vec<Group>,
    /// Groups past the limit were folded into one row per status, template `(other reasons)`.
    pub groups_truncated: bool,
    /// Whether the listing gives next retry times (Exim's retry data); Postfix's `-j` and
    /// `mailq` do not.
    pub retry_times: bool,
    /// The earliest next retry of a deferred recipient, when known.
    pub next_retry: Option<Timestamp>,
    /// `mxray diagnose DOMAIN` for the domains of the largest deferred groups.
    pub next_commands: Vec<String>,
    /// Messages past the reading limit (100,000), counted only.
    pub messages_not_read: u64,
    /// Lines of the listing that matched no known shape.
    pub unparsed_lines: u64,
    /// What the listing lacks or what was guessed (a missing next retry, a zone assumed...).
    pub notes: Vec<String>,
}

impl Report {
    /// Whether mail waits on a failure: deferred or frozen recipients (the exit status 1).
    pub fn has_deferred(&self) -> bool {
        self.totals.deferred + self.totals.frozen > 0
    }
}

fn ts(secs: i64) -> Timestamp {
    Timestamp { secs, utc: true }
}

fn status_of(m: &Message, r: &Recipient) -> &'static str {
    if m.frozen {
        "frozen"
    } else if m.held {
        "held"
    } else if r.reason.is_some() || m.queue == "deferred" {
        "deferred"
    } else {
        "pending"
    }
}

/// Deferred and frozen first: they are what the report is about.
fn status_rank(s: &str) -> u8 {
    match s {
        "deferred" | "frozen" => 0,
        "held" => 1,
        _ => 2,
    }
}

/// The template of a recipient without a reason.
fn no_reason(status: &str) -> &'static str {
    match status {
        "frozen" => "(frozen, no reason recorded)",
        "held" => "(on hold)",
        "deferred" => "(deferred, no reason recorded)",
        _ => "(no attempt yet)",
    }
}

struct Acc {
    status: &'static str,
    dsn: Option<String>,
    domain: String,
    template: String,
    count: u64,
    messages: u64,
    last_message: usize,
    oldest: Option<i64>,
    next_retry: Option<i64>,
    sample: String,
    host: Option<String>,
    /// (arrival, queue ID) of the oldest messages, oldest first.
    ids: Vec<(i64, String)>,
}

/// Builds the report of a snapshot.
pub fn summarize(snap: &Snapshot) -> Report {
    let now = snap.taken_at;
    let mta = snap.mta.unwrap_or(Mta::Postfix);
    let mut totals = Totals {
        messages: snap.messages.len() as u64 + snap.more_messages,
        ..Totals::default()
    };
    let mut ages = [0u64; 8];
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Acc> = Vec::new();
    let mut truncated = false;
    let mut next_retry: Option<i64> = None;
    let mut key = String::new();

    for (mi, m) in snap.messages.iter().enumerate() {
        let age = m.arrival.map(|a| (now - a).max(0));
        if let Some(a) = age {
            let i = AGE_LIMITS.iter().position(|&l| a <= l).unwrap_or(7);
            ages[i] += 1;
            totals.oldest_age_s = Some(totals.oldest_age_s.map_or(a, |o| o.max(a)));
        }
        totals.bytes += m.size.unwrap_or(0);
        totals.recipients += m.more_recipients;
        let mut deferred_here = false;
        for r in &m.recipients {
            if r.delivered {
                totals.delivered += 1;
                continue;
            }
            totals.recipients += 1;
            let status = status_of(m, r);
            match status {
                "frozen" => totals.frozen += 1,
                "held" => totals.held += 1,
                "deferred" => {
                    totals.deferred += 1;
                    deferred_here = true;
                    if let Some(n) = r.next_retry {
                        next_retry = Some(next_retry.map_or(n, |x| x.min(n)));
                    }
                }
                _ => totals.pending += 1,
            }
            let domain = domain_of(&r.address);
            let (dsn, template) = match r.reason.as_deref().map(underlying) {
                Some(reason) => (
                    dsn_in_reply(reason).or_else(|| infer_dsn(reason).map(str::to_string)),
                    mxray_logs::template(reason.as_bytes()),
                ),
                None => (None, no_reason(status).to_string()),
            };
            key.clear();
            for part in [status, dsn.as_deref().unwrap_or(""), &domain, &template] {
                key.push_str(part);
                key.push('\0');
            }
            let gi = match index.get(key.as_str()) {
                Some(&i) => i,
                None => {
                    let (k, acc) = if groups.len() >= MAX_GROUPS {
                        // Folded: hostile variety cannot grow memory.
                        truncated = true;
                        let t = "(other reasons)".to_string();
                        (
                            format!("{status}\0(other)"),
                            new_acc(status, None, "*".into(), t, "", r),
                        )
                    } else {
                        let sample = r
                            .line
                            .as_ref()
                            .or(r.reason.as_ref())
                            .cloned()
                            .unwrap_or_default();
                        (
                            key.clone(),
                            new_acc(status, dsn, domain, template, &sample, r),
                        )
                    };
                    match index.get(&k) {
                        Some(&i) => i,
                        None => {
                            groups.push(acc);
                            index.insert(k, groups.len() - 1);
                            groups.len() - 1
                        }
                    }
                }
            };
            let g = &mut groups[gi];
            g.count += 1;
            if g.messages == 0 || g.last_message != mi {
                g.messages += 1;
                g.last_message = mi;
                if let Some(a) = m.arrival {
                    g.oldest = Some(g.oldest.map_or(a, |o| o.min(a)));
                    // Keep the oldest few IDs, oldest first.
                    let at = g.ids.partition_point(|(t, _)| *t <= a);
                    if at < IDS_PER_GROUP {
                        g.ids.insert(at, (a, m.id.clone()));
                        g.ids.truncate(IDS_PER_GROUP);
                    }
                } else if g.ids.len() < IDS_PER_GROUP {
                    g.ids.push((i64::MAX, m.id.clone()));
                }
            }
            if let Some(n) = r.next_retry {
                g.next_retry = Some(g.next_retry.map_or(n, |x| x.min(n)));
            }
        }
        totals.deferred_messages += u64::from(deferred_here);
    }

    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(|g| Group {
            explanation: (!g.sample.is_empty())
                .then(|| {
                    explain_reason(
                        &g.sample,
                        &g.template,
                        g.dsn.as_deref(),
                        &g.domain,
                        g.host.as_deref(),
                        mta,
                    )
                })
                .flatten(),
            status: g.status,
            dsn: g.dsn,
            domain: g.domain,
            template: g.template,
            count: g.count,
            messages: g.messages,
            oldest: g.oldest.map(ts),
            oldest_age_s: g.oldest.map(|o| (now - o).max(0)),
            next_retry: g.next_retry.map(ts),
            sample: g.sample,
            queue_ids: g.ids.into_iter().map(|(_, id)| id).collect(),
            next_command: None,
        })
        .collect();
    groups.sort_by(|a, b| {
        status_rank(a.status)
            .cmp(&status_rank(b.status))
            .then(b.count.cmp(&a.count))
            .then(b.messages.cmp(&a.messages))
            .then(a.oldest.cmp(&b.oldest))
            .then(a.domain.cmp(&b.domain))
            .then(a.template.cmp(&b.template))
    });
    let mut next_commands: Vec<String> = Vec::new();
    for g in groups.iter_mut().filter(|g| status_rank(g.status) == 0) {
        if next_commands.len() >= MAX_COMMANDS {
            break;
        }
        if is_command_safe_domain(&g.domain) {
            let cmd = format!("mxray diagnose {}", g.domain);
            g.next_command = Some(cmd.clone());
            if !next_commands.contains(&cmd) {
                next_commands.push(cmd);
            }
        }
    }

    Report {
        mta: snap.mta,
        source: snap.source.clone(),
        taken_at: ts(now),
        totals,
        ages: AGE_LABELS.iter().copied().zip(ages).collect(),
        oldest: oldest(snap),
        groups,
        groups_truncated: truncated,
        retry_times: snap.retry_times,
        next_retry: next_retry.map(ts),
        next_commands,
        messages_not_read: snap.more_messages,
        unparsed_lines: snap.unparsed,
        notes: snap.notes.clone(),
    }
}

/// The failure behind a reason: Postfix's queue manager defers mail for a destination it has
/// just seen fail as `delivery temporarily suspended: FAILURE` without trying; it groups with
/// FAILURE (as Exim's "retry time not reached" takes the host's failure).
fn underlying(reason: &str) -> &str {
    reason
        .strip_prefix("delivery temporarily suspended: ")
        .unwrap_or(reason)
}

fn new_acc(
    status: &'static str,
    dsn: Option<String>,
    domain: String,
    template: String,
    sample: &str,
    r: &Recipient,
) -> Acc {
    Acc {
        status,
        dsn,
        domain,
        template,
        count: 0,
        messages: 0,
        last_message: 0,
        oldest: None,
        next_retry: None,
        sample: cut(sample, MAX_REASON),
        host: r.host.clone(),
        ids: Vec::new(),
    }
}

/// The oldest messages, oldest first (unknown arrivals last).
fn oldest(snap: &Snapshot) -> Vec<MessageSummary> {
    let now = snap.taken_at;
    let mut order: Vec<&Message> = snap.messages.iter().collect();
    order.sort_by_key(|m| (m.arrival.unwrap_or(i64::MAX), m.id.clone()));
    order
        .into_iter()
        .take(OLDEST_SHOWN)
        .map(|m| {
            let waiting: Vec<&Recipient> = m.recipients.iter().filter(|r| !r.delivered).collect();
            let status = waiting
                .iter()
                .map(|r| status_of(m, r))
                .min_by_key(|s| match *s {
                    "frozen" => 0,
                    "held" => 1,
                    "deferred" => 2,
                    _ => 3,
                })
                .unwrap_or("pending");
            MessageSummary {
                queue_id: m.id.clone(),
                queue: m.queue.clone(),
                arrival: m.arrival.map(ts),
                arrival_exact: m.arrival_exact,
                age_s: m.arrival.map(|a| (now - a).max(0)),
                sender: m.sender.clone(),
                size: m.size,
                recipients: waiting.len() as u64 + m.more_recipients,
                status,
                reason: waiting
                    .iter()
                    .find_map(|r| r.reason.as_deref())
                    .map(|r| mxray_logs::template(r.as_bytes())),
                next_retry: waiting.iter().filter_map(|r| r.next_retry).min().map(ts),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ParseOptions, parse_listing};

    const DUMP: &str = r#"{"queue_name": "deferred", "queue_id": "A1", "arrival_time": 1796000000, "message_size": 1000, "sender": "s@q.test", "recipients": [{"address": "bob@greylist.test", "delay_reason": "host 127.0.0.2[127.0.0.2] said: 451 4.7.1 Greylisted, please try again later (in reply to RCPT TO command)"}, {"address": "erin@greylist.test", "delay_reason": "host 127.0.0.2[127.0.0.2] said: 451 4.7.1 Greylisted, please try again later (in reply to RCPT TO command)"}, {"address": "dave@refused.test", "delay_reason": "connect to 127.0.0.4[127.0.0.4]:2600: Connection refused"}]}
{"queue_name": "deferred", "queue_id": "A2", "arrival_time": 1796140000, "message_size": 500, "sender": "s@q.test", "recipients": [{"address": "carl@greylist.test", "delay_reason": "host 127.0.0.9[127.0.0.9] said: 451 4.7.1 Greylisted, please try again later (in reply to RCPT TO command)"}]}
{"queue_name": "active", "queue_id": "A3", "arrival_time": 1796143990, "message_size": 100, "sender": "s@q.test", "recipients": [{"address": "x@new.test"}]}
{"queue_name": "deferred", "queue_id": "A5", "arrival_time": 1796143995, "message_size": 100, "sender": "s@q.test", "recipients": [{"address": "eve@refused.test", "delay_reason": "delivery temporarily suspended: connect to 127.0.0.4[127.0.0.4]:2600: Connection refused"}]}
{"queue_name": "hold", "queue_id": "A4", "arrival_time": 1796143000, "message_size": 100, "sender": "", "recipients": [{"address": "y@$(id).test", "delay_reason": "connect to 127.0.0.4[127.0.0.4]:2600: Connection refused"}]}
"#;

    fn report() -> Report {
        let o = ParseOptions {
            now: 1_796_144_000,
            local_offset: 0,
        };
        summarize(&parse_listing(DUMP, None, "q.json", &o).unwrap())
    }

    #[test]
    fn groups_by_code_domain_and_template_and_explains() {
        let r = report();
        let t = &r.totals;
        assert_eq!((t.messages, t.recipients), (5, 7));
        assert_eq!(
            (t.deferred, t.deferred_messages, t.pending, t.held),
            (5, 3, 1, 1)
        );
        assert_eq!(t.oldest_age_s, Some(144_000));
        assert_eq!(t.bytes, 1800);
        assert!(r.has_deferred());
        let g = &r.groups[0];
        assert_eq!(
            (g.status, g.dsn.as_deref(), g.domain.as_str()),
            ("deferred", Some("4.7.1"), "greylist.test")
        );
        // Three recipients in two messages: the IPs are masked in the template.
        assert_eq!((g.count, g.messages), (3, 2));
        assert_eq!(g.queue_ids, ["A1", "A2"]);
        assert_eq!(g.oldest_age_s, Some(144_000));
        assert!(g.template.contains("[<ip>]"), "{}", g.template);
        let e = g.explanation.as_ref().expect("explained");
        assert_eq!(e.situation, mxray_core::SituationId::Greylisted);
        assert_eq!(
            g.next_command.as_deref(),
            Some("mxray diagnose greylist.test")
        );
        let refused = &r.groups[1];
        assert_eq!(
            (refused.dsn.as_deref(), refused.domain.as_str()),
            (Some("4.4.1"), "refused.test")
        );
        assert!(refused.explanation.is_some(), "inferred 4.4.1 is explained");
        // Postfix's "delivery temporarily suspended" groups with the failure behind it.
        assert_eq!((refused.count, refused.messages), (2, 2));
        // Held and pending come after, and a hostile domain gets no command.
        assert_eq!(r.groups[2].status, "held");
        assert_eq!(r.groups[2].next_command, None);
        assert_eq!(r.groups[3].status, "pending");
        assert_eq!(r.groups[3].template, "(no attempt yet)");
        assert_eq!(
            r.next_commands,
            [
                "mxray diagnose greylist.test",
                "mxray diagnose refused.test"
            ]
        );
        assert_eq!(r.ages.iter().map(|(_, n)| n).sum::<u64>(), 5);
        assert_eq!(r.ages[0], ("<=1m", 2));
        assert_eq!(r.oldest[0].queue_id, "A1");
        assert_eq!(r.oldest[0].recipients, 3);
        assert!(!r.retry_times);
    }

    #[test]
    fn groups_are_capped() {
        let mut s = String::new();
        for i in 0..(MAX_GROUPS + 20) {
            s.push_str(&format!("{{\"queue_name\": \"deferred\", \"queue_id\": \"B{i}\", \"arrival_time\": 1796000000, \"recipients\": [{{\"address\": \"a@d{i}.test\", \"delay_reason\": \"x\"}}]}}\n"));
        }
        let o = ParseOptions {
            now: 1_796_144_000,
            local_offset: 0,
        };
        let r = summarize(&parse_listing(&s, None, "q", &o).unwrap());
        assert!(r.groups_truncated);
        assert_eq!(r.groups.len(), MAX_GROUPS + 1);
        assert_eq!(
            r.groups.iter().map(|g| g.count).sum::<u64>(),
            (MAX_GROUPS + 20) as u64
        );
    }

    #[test]
    fn an_empty_queue() {
        let o = ParseOptions {
            now: 1_796_144_000,
            local_offset: 0,
        };
        let r = summarize(&parse_listing("", None, "q", &o).unwrap());
        assert_eq!(r.totals, Totals::default());
        assert!(r.groups.is_empty() && !r.has_deferred());
    }
}
