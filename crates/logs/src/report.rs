//! The report model: what `mxray logs` prints and its JSON contract (`totals`, `groups`, domains,
//! timeline, retries, pending messages, next commands). Plain data; built by the analyzer.
//!
//! Strings here come from logs (attacker-controlled): JSON keeps them exact, and whoever prints
//! them on a terminal must escape them (`mxray_core::escape_text`).

use mxray_core::Explanation;
use serde::Serialize;

use crate::event::Mta;
use crate::time::Timestamp;

/// Counts over everything read. Field names are the JSON contract.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Totals {
    /// Lines read, including unparsed and other programs' lines.
    pub lines: u64,
    /// Lines that match no known shape (including over-long ones).
    pub unparsed: u64,
    /// Lines longer than the 64 KiB limit (also counted in `unparsed`).
    pub overlong: u64,
    /// Well-formed lines from other programs (dovecot, cron...).
    pub other: u64,
    /// Lines outside `--since` / `--until`.
    pub out_of_range: u64,
    /// Messages that entered the queue (smtpd `client=`, pickup, Exim `<=`, Sendmail `from=`).
    pub received: u64,
    /// Recipients delivered.
    pub delivered: u64,
    /// Recipients forwarded to another address (Postfix `forwarded as`), not counted as delivered.
    pub forwarded: u64,
    /// Messages deferred at least once.
    pub deferred_messages: u64,
    /// Deferral events (one per recipient per attempt).
    pub deferrals: u64,
    /// Recipients bounced.
    pub bounced: u64,
    /// Messages that expired in the queue.
    pub expired: u64,
    /// Messages or recipients refused before queueing.
    pub rejected: u64,
    /// Exim's "retry time not reached": skipped, not attempted.
    pub not_attempted: u64,
    /// Delivery status notifications (bounces, delay notices) the MTA generated.
    pub notifications: u64,
    /// Messages still deferred in the queue at the end of the log.
    pub pending: u64,
}

/// One input as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FileSummary {
    pub name: String,
    /// The MTA most of its lines came from, `null` when none did.
    pub format: Option<Mta>,
    pub gzip: bool,
    pub lines: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// Lines outside --since/--until (read, dated, and left out).
    pub out_of_range: u64,
    /// Why reading stopped early (a truncated or corrupt .gz): the lines before it count, the
    /// other inputs are read as usual.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Deferrals or bounces with the same code, destination domain, relay and reply template.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Group {
    /// `deferred` or `bounced`.
    pub status: &'static str,
    /// The enhanced status code (logged, from the reply, or inferred for Exim), if any.
    pub dsn: Option<String>,
    pub domain: String,
    /// The next hop's name (`none` when no connection was made).
    pub relay: String,
    /// The reason with addresses, IDs and numbers masked.
    pub template: String,
    /// Events (one per recipient per attempt).
    pub count: u64,
    /// Distinct messages.
    pub messages: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// The first log line of the group, exactly as logged (up to 2 KiB).
    pub sample: String,
    /// The knowledge base's reading of the sample (`mxray explain`).
    pub explanation: Option<Explanation>,
    /// The command to run next, for the worst groups.
    pub next_command: Option<String>,
}

/// Rejections (before queueing) with the same stage and reply template.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Rejection {
    pub stage: String,
    pub dsn: Option<String>,
    pub template: String,
    pub count: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub sample: String,
}

/// A destination domain's attempts and failures.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DomainStats {
    pub domain: String,
    pub attempts: u64,
    pub delivered: u64,
    pub deferrals: u64,
    pub bounced: u64,
    pub deferred_messages: u64,
    /// deferrals / attempts.
    pub deferral_rate: f64,
}

/// Deferrals and bounces in one hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Hour {
    pub hour: Timestamp,
    pub deferrals: u64,
    pub bounces: u64,
    /// `[code, deferrals]`, most first: the enhanced code of each deferral (`none` when the
    /// line gave none); past 8 codes in an hour, the rest under `other`.
    pub deferrals_by_code: Vec<(String, u64)>,
}

/// A distribution of durations in seconds: count, mean, max and fixed buckets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Durations {
    pub count: u64,
    pub mean_secs: Option<f64>,
    pub max_secs: Option<i64>,
    /// `[label, count]`: `<=1m`, `<=5m`, `<=15m`, `<=1h`, `<=4h`, `<=1d`, `<=5d`, `>5d`.
    pub buckets: Vec<(&'static str, u64)>,
}

/// How messages that were deferred at least once ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Retries {
    /// Messages finished (removed from the queue) during the log.
    pub finished: u64,
    pub delivered_after_deferral: u64,
    pub bounced_after_deferral: u64,
    pub expired: u64,
    /// `[deferrals, messages]`: `1`, `2`, `3`, `4-5`, `6-10`, `11-20`, `>20`.
    pub deferrals_before_outcome: Vec<(&'static str, u64)>,
    pub max_deferrals: u32,
    /// From first sight to delivery, for messages delivered after a deferral.
    pub time_to_delivery: Durations,
    /// From first sight to expiry.
    pub time_to_expiry: Durations,
}

/// A message still deferred at the end of the log.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PendingMessage {
    pub queue_id: String,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub deferrals: u32,
    /// The template of its last deferral.
    pub last_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Pending {
    /// Messages still deferred (as in `totals.pending`).
    pub messages: u64,
    /// Messages seen but not finished, deferred or not (in flight, or the log was cut).
    pub open: u64,
    /// Messages dropped from tracking: nothing logged for them in 10 days, or the least
    /// recently seen when more than `MAX_OPEN` (100,000) were open at once.
    pub evicted: u64,
    pub oldest_first_seen: Option<Timestamp>,
    /// Up to 10, most deferrals first.
    pub sample: Vec<PendingMessage>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub files: Vec<FileSummary>,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub totals: Totals,
    /// Most events first.
    pub groups: Vec<Group>,
    /// Groups beyond the limit were folded into the last row with template `(other failures)`.
    pub groups_truncated: bool,
    pub rejections: Vec<Rejection>,
    /// Destination domains with deferrals, highest deferral rate first (top 20).
    pub domains: Vec<DomainStats>,
    pub timeline: Vec<Hour>,
    pub retries: Retries,
    pub pending: Pending,
    /// `mxray diagnose DOMAIN` for the domains of the worst groups.
    pub next_commands: Vec<String>,
}
