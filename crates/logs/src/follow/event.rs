//! What `mxray logs --follow` reports: one [`FollowEvent`] per meaningful change (a new group, a
//! domain's deferral rate crossing the threshold and back, a 421 storm starting and ending) and a
//! last `summary`. The JSON contract of `--follow --json` and of the webhook's bodies.
//!
//! Strings come from the log (attacker-controlled): JSON keeps them exact; whoever prints them
//! on a terminal escapes them (`mxray_core::escape_text`).

use mxray_core::Explanation;
use serde::Serialize;

use crate::event::Status;
use crate::follow::tail::TailStats;
use crate::time::Timestamp;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowKind {
    /// A failure group (status x code x domain x relay x reply template, as `mxray logs` groups)
    /// seen for the first time since the follow began.
    NewGroup,
    /// A domain's deferral rate over the window reached the threshold (with enough attempts).
    RateAlert,
    /// That domain's rate fell below the clearing level, or the window passed without deferrals.
    RateCleared,
    /// Many 421 replies across several domains in a short window.
    StormStarted,
    /// The 421 replies fell below the storm's end level.
    StormEnded,
    /// The last line of a follow: what was read and what happened.
    Summary,
}

impl FollowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowKind::NewGroup => "new_group",
            FollowKind::RateAlert => "rate_alert",
            FollowKind::RateCleared => "rate_cleared",
            FollowKind::StormStarted => "storm_started",
            FollowKind::StormEnded => "storm_ended",
            FollowKind::Summary => "summary",
        }
    }
}

/// A failure group's key, as `mxray logs` groups failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct GroupKey {
    /// `deferred` or `bounced`.
    pub status: Status,
    /// The enhanced status code (logged, from the reply, or inferred for Exim), if any.
    pub dsn: Option<String>,
    pub domain: String,
    /// The next hop's name (`none` when no connection was made).
    pub relay: String,
    /// The reason with addresses, IDs and numbers masked.
    pub template: String,
}

/// A domain's numbers over the alert window, when the alert fired or cleared.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RateNumbers {
    /// The alert window (`--alert-rate RATE/WINDOW`), in seconds.
    pub window_secs: i64,
    /// Delivery attempts to the domain in the window (delivered, deferred or bounced).
    pub attempts: u64,
    /// Deferrals among them.
    pub deferrals: u64,
    /// deferrals / attempts (0 when there was no attempt).
    pub rate: f64,
    /// The rate that fires the alert (`--alert-rate`), 0-1.
    pub threshold: f64,
    /// The rate under which a firing alert clears (half the threshold).
    pub clear_below: f64,
    /// Attempts needed in the window before the alert can fire.
    pub min_attempts: u32,
    /// For `rate_cleared`: when the alert fired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<Timestamp>,
}

/// The 421 replies over the storm window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StormNumbers {
    /// The storm window, in seconds.
    pub window_secs: i64,
    /// Deferrals with a 421 reply in the window.
    pub replies: u64,
    /// Domains those replies came for (up to 8 named).
    pub domains: Vec<String>,
    /// Replies in the window that start a storm (from at least `min_domains` domains).
    pub start_at: u32,
    pub min_domains: u32,
    /// A storm ends when the window holds fewer replies than this.
    pub end_below: u32,
    /// Most replies in one window during the storm.
    pub peak_replies: u64,
    /// For `storm_ended`: when the storm started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
}

/// Webhook deliveries, filled by the caller that posts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WebhookCounts {
    /// Events the receiver accepted (a 2xx answer).
    pub sent: u64,
    /// Events given up after every try, or refused by the receiver (4xx).
    pub failed: u64,
    /// Events not posted because the queue was full or time ran out at the end.
    pub dropped: u64,
}

/// What a follow read and reported, in its last line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FollowSummary {
    /// The followed path.
    pub file: String,
    /// Seconds from start to stop (wall clock).
    pub elapsed_secs: u64,
    /// Lines, bytes, over-long lines, rotations and truncations of the followed path.
    pub read: TailStats,
    /// Lines that match no known shape.
    pub unparsed: u64,
    /// Lines outside `--since`.
    pub out_of_range: u64,
    /// Delivery attempts (one per recipient per attempt; forwarded ones are not).
    pub attempts: u64,
    pub delivered: u64,
    pub deferrals: u64,
    pub bounced: u64,
    /// Messages or recipients refused before queueing.
    pub rejected: u64,
    pub new_groups: u64,
    /// New groups past the per-minute limit: counted, not reported one by one.
    pub new_groups_suppressed: u64,
    pub rate_alerts: u64,
    pub rate_cleared: u64,
    pub storms: u64,
    /// Domains whose rate alert is still firing (up to 20 named).
    pub still_firing: Vec<String>,
    /// A 421 storm is still going on.
    pub storm_active: bool,
    /// Domains and groups in memory at the end (both capped).
    pub tracked_domains: u64,
    pub tracked_groups: u64,
    /// Domains dropped from the windows because more than the cap were tracked at once.
    pub evicted_domains: u64,
    /// Present when events were posted to a webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookCounts>,
}

/// One meaningful change, or the last summary. Kind-specific parts are present only for their
/// kinds.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FollowEvent {
    pub kind: FollowKind,
    /// When, by the log's clock: the stamp of the line that caused it; for changes found when
    /// no line came (an alert cleared by time), the last stamp plus the time since it was read.
    pub time: Option<Timestamp>,
    /// The destination domain (new groups and rate alerts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The group of the sample line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateNumbers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storm: Option<StormNumbers>,
    /// The log line behind the event, exactly as logged (up to 2 KiB): the line that created
    /// the group, fired the alert or started the storm (cleared and ended events repeat it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    /// The knowledge base's reading of the sample (`mxray explain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
    /// The command to run next (`mxray diagnose DOMAIN`), for plain domain names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<FollowSummary>,
}

impl FollowEvent {
    /// An event of `kind` at `time` with no parts yet.
    pub fn new(kind: FollowKind, time: Option<Timestamp>) -> FollowEvent {
        FollowEvent {
            kind,
            time,
            domain: None,
            group: None,
            rate: None,
            storm: None,
            sample: None,
            explanation: None,
            next_command: None,
            summary: None,
        }
    }
}
