//! The live detector behind `--follow`: pure (parsed events in, [`FollowEvent`]s out) and driven
//! by a clock its caller passes in, so tests control time; memory capped whatever the run time.
//!
//! Windows are rings of [`BUCKETS`] buckets that slide a tenth of the window at a time: a count
//! "over the window" covers between nine and ten tenths of it. Old buckets are reused in place,
//! idle domains swept away, and the domains and groups kept are capped (least recently seen
//! dropped first), so a week of following costs what a minute does.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use mxray_core::reply;

use crate::analyze::{
    MAX_GROUPS, MAX_SAMPLE, attempt_domain, cap, domain_matches, explain_reason, group_fields,
    is_command_safe_domain,
};
use crate::event::{Attempt, Event, Mta, Status};
use crate::follow::event::{
    FollowEvent, FollowKind, FollowSummary, GroupKey, RateNumbers, StormNumbers,
};
use crate::time::Timestamp;

/// Buckets per window.
pub const BUCKETS: usize = 10;
/// Destination domains whose windows are kept at once (least recently seen dropped past it).
pub const MAX_TRACKED_DOMAINS: usize = 10_000;
/// Domains named per storm bucket and in a storm event.
const STORM_NAMES: usize = 8;

/// The detector's thresholds and caps. [`Config::default`] is what the CLI uses besides
/// `--alert-rate` and `--domain`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Deferral rate (0-1] over the window that fires a domain's alert (`--alert-rate`: 20%).
    pub threshold: f64,
    /// The alert window in seconds (`--alert-rate`: 10 minutes).
    pub window_secs: i64,
    /// Attempts needed in the window before an alert can fire (5): two deferrals of two
    /// attempts are news, not an outage.
    pub min_attempts: u32,
    /// A firing alert clears below `threshold * clear_ratio` (0.5), or when the window holds no
    /// deferral: the gap between firing and clearing keeps a rate near the threshold from
    /// flapping.
    pub clear_ratio: f64,
    /// 421 replies in the storm window that start a storm (20)...
    pub storm_start: u32,
    /// ...coming for at least this many domains (3, at most 8): one domain's 421s are its own
    /// rate alert, several domains' at once point at the sender (its IP's reputation, its
    /// network).
    pub storm_domains: usize,
    /// The storm window in seconds (5 minutes).
    pub storm_window_secs: i64,
    /// A storm ends when the window holds fewer 421 replies than this (5).
    pub storm_end_below: u32,
    /// Domains tracked at once ([`MAX_TRACKED_DOMAINS`]).
    pub max_domains: usize,
    /// Groups remembered ([`MAX_GROUPS`], as `mxray logs`); one forgotten and seen again is
    /// new again.
    pub max_groups: usize,
    /// New groups reported per minute of log time (60); the rest are counted in the summary,
    /// so a log of ever-changing replies cannot flood the terminal or the webhook.
    pub new_groups_per_minute: u32,
    /// Only these destination domains and their subdomains (lowercase); empty: all.
    pub domains: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            threshold: 0.2,
            window_secs: 600,
            min_attempts: 5,
            clear_ratio: 0.5,
            storm_start: 20,
            storm_domains: 3,
            storm_window_secs: 300,
            storm_end_below: 5,
            max_domains: MAX_TRACKED_DOMAINS,
            max_groups: MAX_GROUPS,
            new_groups_per_minute: 60,
            domains: Vec::new(),
        }
    }
}

/// A window of [`BUCKETS`] buckets, each for one `width`-second slice of the clock (its epoch).
#[derive(Debug, Clone)]
struct Ring<T> {
    epochs: [i64; BUCKETS],
    slots: [T; BUCKETS],
}

impl<T: Default> Ring<T> {
    fn new() -> Ring<T> {
        Ring {
            epochs: [i64::MIN; BUCKETS],
            slots: Default::default(),
        }
    }

    /// The bucket of `epoch`, emptied first if it last held an older one.
    fn slot(&mut self, epoch: i64) -> &mut T {
        let i = epoch.rem_euclid(BUCKETS as i64) as usize;
        if self.epochs[i] != epoch {
            self.epochs[i] = epoch;
            self.slots[i] = T::default();
        }
        &mut self.slots[i]
    }

    /// The buckets inside the window that ends with `epoch`.
    fn live(&self, epoch: i64) -> impl Iterator<Item = &T> {
        let oldest = epoch.saturating_sub(BUCKETS as i64 - 1);
        self.epochs
            .iter()
            .zip(&self.slots)
            .filter(move |(e, _)| (oldest..=epoch).contains(*e))
            .map(|(_, s)| s)
    }
}

/// Attempts and deferrals in one bucket.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    attempts: u32,
    deferrals: u32,
}

/// A firing alert: what fired it, repeated when it clears.
#[derive(Debug)]
struct Firing {
    at: Timestamp,
    sample: String,
    mta: Mta,
    group: GroupKey,
}

#[derive(Debug)]
struct DomainState {
    ring: Ring<Counts>,
    last_seen: i64,
    firing: Option<Box<Firing>>,
}

#[derive(Debug, Default)]
struct StormBucket {
    replies: u32,
    domains: Vec<String>,
}

#[derive(Debug)]
struct Storm {
    since: Timestamp,
    peak: u64,
    sample: String,
    mta: Mta,
    group: GroupKey,
}

/// What the detector counted (the summary's numbers).
#[derive(Debug, Default, Clone)]
struct Totals {
    attempts: u64,
    delivered: u64,
    deferrals: u64,
    bounced: u64,
    rejected: u64,
    new_groups: u64,
    new_groups_suppressed: u64,
    rate_alerts: u64,
    rate_cleared: u64,
    storms: u64,
    evicted_domains: u64,
}

/// How much the detector holds now (the caps' witnesses in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    pub domains: usize,
    pub groups: usize,
    pub firing: usize,
    /// Domain names held by the storm window's buckets.
    pub storm_names: usize,
}

/// The detector's state.
pub struct Detector {
    cfg: Config,
    rate_width: i64,
    storm_width: i64,
    /// Keyed SipHash for group keys: a hostile log cannot make two groups collide.
    hasher: RandomState,
    now: Option<Timestamp>,
    last_tick: i64,
    next_sweep: i64,
    domains: HashMap<String, DomainState>,
    /// Group key hash -> last seen (clock seconds).
    groups: HashMap<u64, i64>,
    storm: Ring<StormBucket>,
    storm_on: Option<Storm>,
    /// (minute, new groups reported in it).
    minute: (i64, u32),
    totals: Totals,
}

/// A window's width split in [`BUCKETS`] (at least a second each).
fn bucket_width(window_secs: i64) -> i64 {
    (window_secs.max(1) + BUCKETS as i64 - 1) / BUCKETS as i64
}

/// A deferral whose reply's code is 421 (the extractor reads the reply as `mxray explain`
/// does: bare, Postfix `said:`, Exim).
fn is_421(reply: Option<&[u8]>) -> bool {
    let Some(r) = reply else { return false };
    if memchr::memmem::find(r, b"421").is_none() {
        return false;
    }
    reply::extract(&String::from_utf8_lossy(r))
        .ok()
        .and_then(|x| x.code)
        .is_some_and(|c| c.value() == 421)
}

fn rate_of(c: Counts) -> f64 {
    if c.attempts == 0 {
        0.0
    } else {
        f64::from(c.deferrals) / f64::from(c.attempts)
    }
}

fn next_command(domain: &str) -> Option<String> {
    is_command_safe_domain(domain).then(|| format!("mxray diagnose {domain}"))
}

fn explain(mta: Mta, sample: &str, g: &GroupKey) -> Option<mxray_core::Explanation> {
    let relay = (g.relay != "none").then_some(g.relay.as_str());
    explain_reason(sample, &g.template, g.dsn.as_deref(), &g.domain, relay, mta)
}

impl Detector {
    pub fn new(mut cfg: Config) -> Detector {
        cfg.storm_domains = cfg.storm_domains.clamp(1, STORM_NAMES);
        cfg.max_domains = cfg.max_domains.max(1);
        cfg.max_groups = cfg.max_groups.max(1);
        Detector {
            rate_width: bucket_width(cfg.window_secs),
            storm_width: bucket_width(cfg.storm_window_secs),
            cfg,
            hasher: RandomState::new(),
            now: None,
            last_tick: i64::MIN,
            next_sweep: i64::MIN,
            domains: HashMap::new(),
            groups: HashMap::new(),
            storm: Ring::new(),
            storm_on: None,
            minute: (i64::MIN, 0),
            totals: Totals::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The clock never goes back: a line stamped earlier than one already seen (syslog writers
    /// race) counts at the present.
    fn advance(&mut self, now: Timestamp) -> Timestamp {
        let now = match self.now {
            Some(prev) if prev.secs > now.secs => prev,
            _ => now,
        };
        self.now = Some(now);
        now
    }

    /// Takes in one parsed line at `now`; what it changes is pushed to `out`. `line` is the
    /// whole log line (the sample).
    pub fn observe(
        &mut self,
        now: Timestamp,
        mta: Mta,
        event: Event<&[u8]>,
        line: &[u8],
        out: &mut Vec<FollowEvent>,
    ) {
        let now = self.advance(now);
        match event {
            Event::Attempt(a) => {
                // Sendmail logs several recipients on one line: one attempt each, as logs does.
                if mta == Mta::Sendmail && memchr::memchr(b',', a.rcpt).is_some() {
                    for r in a.rcpt.split(|&c| c == b',') {
                        let r = r.strip_prefix(b"<").unwrap_or(r);
                        let r = r.strip_suffix(b">").unwrap_or(r);
                        let mut one = a.clone();
                        one.rcpt = r;
                        self.attempt(now, mta, &one, line, out);
                    }
                } else {
                    self.attempt(now, mta, &a, line, out);
                }
            }
            Event::Rejected(_) => self.totals.rejected += 1,
            _ => {}
        }
        self.maybe_sweep(now);
    }

    /// Lets time pass without a line: alerts whose window emptied clear, a storm that calmed
    /// ends, idle domains are swept.
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<FollowEvent>) {
        let now = self.advance(now);
        if now.secs == self.last_tick {
            return;
        }
        self.last_tick = now.secs;
        let epoch = now.secs.div_euclid(self.rate_width);
        let cfg = &self.cfg;
        let totals = &mut self.totals;
        for (name, st) in self.domains.iter_mut() {
            if st.firing.is_none() {
                continue;
            }
            let c = window_counts(&st.ring, epoch);
            if clears(cfg, c)
                && let Some(f) = st.firing.take()
            {
                totals.rate_cleared += 1;
                out.push(cleared_event(cfg, now, name, c, &f));
            }
        }
        self.storm_check(now, None, out);
        self.maybe_sweep(now);
    }

    fn attempt(
        &mut self,
        now: Timestamp,
        mta: Mta,
        a: &Attempt<&[u8]>,
        line: &[u8],
        out: &mut Vec<FollowEvent>,
    ) {
        if a.status == Status::Forwarded {
            return;
        }
        let domain = attempt_domain(a);
        if !domain_matches(&domain, &self.cfg.domains) {
            return;
        }
        self.totals.attempts += 1;
        match a.status {
            Status::Sent => self.totals.delivered += 1,
            Status::Deferred => self.totals.deferrals += 1,
            Status::Bounced => self.totals.bounced += 1,
            Status::Forwarded => {}
        }
        let key = matches!(a.status, Status::Deferred | Status::Bounced).then(|| {
            let (dsn, relay, template) = group_fields(mta, a);
            GroupKey {
                status: a.status,
                dsn,
                domain: domain.clone(),
                relay,
                template,
            }
        });
        if let Some(k) = &key {
            self.new_group(now, mta, k, line, out);
        }
        if domain.is_empty() {
            return;
        }
        self.rate(now, mta, &domain, a.status, key.as_ref(), line, out);
        if a.status == Status::Deferred
            && is_421(a.reply)
            && let Some(k) = &key
        {
            let b = self.storm.slot(now.secs.div_euclid(self.storm_width));
            b.replies = b.replies.saturating_add(1);
            if b.domains.len() < STORM_NAMES && !b.domains.contains(&domain) {
                b.domains.push(domain.clone());
            }
            self.storm_check(now, Some((mta, line, k)), out);
        }
    }

    fn new_group(
        &mut self,
        now: Timestamp,
        mta: Mta,
        k: &GroupKey,
        line: &[u8],
        out: &mut Vec<FollowEvent>,
    ) {
        let h = self
            .hasher
            .hash_one((k.status.as_str(), &k.dsn, &k.domain, &k.relay, &k.template));
        if let Some(seen) = self.groups.get_mut(&h) {
            *seen = now.secs;
            return;
        }
        if self.groups.len() >= self.cfg.max_groups {
            evict_groups(&mut self.groups);
        }
        self.groups.insert(h, now.secs);
        let minute = now.secs.div_euclid(60);
        if self.minute.0 != minute {
            self.minute = (minute, 0);
        }
        if self.minute.1 >= self.cfg.new_groups_per_minute {
            self.totals.new_groups_suppressed += 1;
            return;
        }
        self.minute.1 += 1;
        self.totals.new_groups += 1;
        let sample = cap(line, MAX_SAMPLE);
        let mut e = FollowEvent::new(FollowKind::NewGroup, Some(now));
        e.domain = Some(k.domain.clone());
        e.explanation = explain(mta, &sample, k);
        e.next_command = next_command(&k.domain);
        e.sample = Some(sample);
        e.group = Some(k.clone());
        out.push(e);
    }

    #[allow(clippy::too_many_arguments)]
    fn rate(
        &mut self,
        now: Timestamp,
        mta: Mta,
        domain: &str,
        status: Status,
        key: Option<&GroupKey>,
        line: &[u8],
        out: &mut Vec<FollowEvent>,
    ) {
        if !self.domains.contains_key(domain) {
            if self.domains.len() >= self.cfg.max_domains {
                self.sweep(now);
            }
            if self.domains.len() >= self.cfg.max_domains {
                self.totals.evicted_domains += evict_domains(&mut self.domains) as u64;
            }
            self.domains.insert(
                domain.to_string(),
                DomainState {
                    ring: Ring::new(),
                    last_seen: now.secs,
                    firing: None,
                },
            );
        }
        let Some(st) = self.domains.get_mut(domain) else {
            return;
        };
        let epoch = now.secs.div_euclid(self.rate_width);
        st.last_seen = now.secs;
        let slot = st.ring.slot(epoch);
        slot.attempts = slot.attempts.saturating_add(1);
        if status == Status::Deferred {
            slot.deferrals = slot.deferrals.saturating_add(1);
        }
        let c = window_counts(&st.ring, epoch);
        let cfg = &self.cfg;
        match (&st.firing, key) {
            (None, Some(k)) if status == Status::Deferred && fires(cfg, c) => {
                let sample = cap(line, MAX_SAMPLE);
                let mut e = FollowEvent::new(FollowKind::RateAlert, Some(now));
                e.domain = Some(domain.to_string());
                e.rate = Some(rate_numbers(cfg, c, None));
                e.explanation = explain(mta, &sample, k);
                e.next_command = next_command(domain);
                e.sample = Some(sample.clone());
                e.group = Some(k.clone());
                out.push(e);
                self.totals.rate_alerts += 1;
                st.firing = Some(Box::new(Firing {
                    at: now,
                    sample,
                    mta,
                    group: k.clone(),
                }));
            }
            (Some(_), _) if clears(cfg, c) => {
                if let Some(f) = st.firing.take() {
                    self.totals.rate_cleared += 1;
                    out.push(cleared_event(cfg, now, domain, c, &f));
                }
            }
            _ => {}
        }
    }

    /// Starts a storm (only on a 421 line: it is the sample) or ends one.
    fn storm_check(
        &mut self,
        now: Timestamp,
        trigger: Option<(Mta, &[u8], &GroupKey)>,
        out: &mut Vec<FollowEvent>,
    ) {
        let epoch = now.secs.div_euclid(self.storm_width);
        let mut replies = 0u64;
        let mut names: Vec<&str> = Vec::new();
        for b in self.storm.live(epoch) {
            replies += u64::from(b.replies);
            for d in &b.domains {
                if names.len() < STORM_NAMES && !names.contains(&d.as_str()) {
                    names.push(d);
                }
            }
        }
        let cfg = &self.cfg;
        let numbers = |peak: u64, started_at| StormNumbers {
            window_secs: cfg.storm_window_secs,
            replies,
            domains: names.iter().map(|d| d.to_string()).collect(),
            start_at: cfg.storm_start,
            min_domains: cfg.storm_domains as u32,
            end_below: cfg.storm_end_below,
            peak_replies: peak,
            started_at,
        };
        match &mut self.storm_on {
            None => {
                let Some((mta, line, k)) = trigger else {
                    return;
                };
                if replies < u64::from(cfg.storm_start) || names.len() < cfg.storm_domains {
                    return;
                }
                let sample = cap(line, MAX_SAMPLE);
                let mut e = FollowEvent::new(FollowKind::StormStarted, Some(now));
                e.storm = Some(numbers(replies, None));
                e.explanation = explain(mta, &sample, k);
                e.sample = Some(sample.clone());
                e.group = Some(k.clone());
                out.push(e);
                self.totals.storms += 1;
                self.storm_on = Some(Storm {
                    since: now,
                    peak: replies,
                    sample,
                    mta,
                    group: k.clone(),
                });
            }
            Some(s) => {
                s.peak = s.peak.max(replies);
                if replies >= u64::from(cfg.storm_end_below) {
                    return;
                }
                let mut e = FollowEvent::new(FollowKind::StormEnded, Some(now));
                e.storm = Some(numbers(s.peak, Some(s.since)));
                e.explanation = explain(s.mta, &s.sample, &s.group);
                e.sample = Some(s.sample.clone());
                e.group = Some(s.group.clone());
                out.push(e);
                self.storm_on = None;
            }
        }
    }

    /// Every bucket width of clock time: drops domains whose window is empty.
    fn maybe_sweep(&mut self, now: Timestamp) {
        if now.secs >= self.next_sweep {
            self.sweep(now);
            self.next_sweep = now.secs.saturating_add(self.rate_width);
        }
    }

    fn sweep(&mut self, now: Timestamp) {
        let epoch = now.secs.div_euclid(self.rate_width);
        self.domains
            .retain(|_, st| st.firing.is_some() || st.ring.live(epoch).any(|c| c.attempts > 0));
        // A burst of new domains can leave the map's capacity far above its size.
        if self.domains.capacity() > 4 * self.domains.len().max(1024) {
            self.domains.shrink_to_fit();
        }
    }

    /// How much is held now.
    pub fn tracked(&self) -> Tracked {
        Tracked {
            domains: self.domains.len(),
            groups: self.groups.len(),
            firing: self.domains.values().filter(|s| s.firing.is_some()).count(),
            storm_names: self.storm.slots.iter().map(|b| b.domains.len()).sum(),
        }
    }

    /// The detector's part of the summary.
    pub fn fill_summary(&self, s: &mut FollowSummary) {
        let t = &self.totals;
        s.attempts = t.attempts;
        s.delivered = t.delivered;
        s.deferrals = t.deferrals;
        s.bounced = t.bounced;
        s.rejected = t.rejected;
        s.new_groups = t.new_groups;
        s.new_groups_suppressed = t.new_groups_suppressed;
        s.rate_alerts = t.rate_alerts;
        s.rate_cleared = t.rate_cleared;
        s.storms = t.storms;
        let mut firing: Vec<String> = self
            .domains
            .iter()
            .filter(|(_, s)| s.firing.is_some())
            .map(|(d, _)| d.clone())
            .collect();
        firing.sort();
        firing.truncate(20);
        s.still_firing = firing;
        s.storm_active = self.storm_on.is_some();
        s.tracked_domains = self.domains.len() as u64;
        s.tracked_groups = self.groups.len() as u64;
        s.evicted_domains = t.evicted_domains;
    }
}

fn window_counts(ring: &Ring<Counts>, epoch: i64) -> Counts {
    ring.live(epoch).fold(Counts::default(), |a, c| Counts {
        attempts: a.attempts.saturating_add(c.attempts),
        deferrals: a.deferrals.saturating_add(c.deferrals),
    })
}

fn fires(cfg: &Config, c: Counts) -> bool {
    c.attempts >= cfg.min_attempts.max(1) && rate_of(c) >= cfg.threshold
}

fn clears(cfg: &Config, c: Counts) -> bool {
    c.deferrals == 0 || rate_of(c) < cfg.threshold * cfg.clear_ratio
}

fn rate_numbers(cfg: &Config, c: Counts, fired_at: Option<Timestamp>) -> RateNumbers {
    RateNumbers {
        window_secs: cfg.window_secs,
        attempts: u64::from(c.attempts),
        deferrals: u64::from(c.deferrals),
        rate: rate_of(c),
        threshold: cfg.threshold,
        clear_below: cfg.threshold * cfg.clear_ratio,
        min_attempts: cfg.min_attempts,
        fired_at,
    }
}

fn cleared_event(cfg: &Config, now: Timestamp, domain: &str, c: Counts, f: &Firing) -> FollowEvent {
    let mut e = FollowEvent::new(FollowKind::RateCleared, Some(now));
    e.domain = Some(domain.to_string());
    e.rate = Some(rate_numbers(cfg, c, Some(f.at)));
    e.explanation = explain(f.mta, &f.sample, &f.group);
    e.sample = Some(f.sample.clone());
    e.group = Some(f.group.clone());
    e
}

/// Drops the least recently seen tenth of the groups: one pass, so the cost per new group stays
/// constant however many come.
fn evict_groups(groups: &mut HashMap<u64, i64>) {
    let mut seen: Vec<i64> = groups.values().copied().collect();
    let k = (seen.len() / 10).max(1).min(seen.len());
    if k == 0 {
        return;
    }
    let (_, cut, _) = seen.select_nth_unstable(k - 1);
    let cut = *cut;
    let mut dropped = 0;
    groups.retain(|_, &mut t| {
        if t <= cut && dropped < k {
            dropped += 1;
            false
        } else {
            true
        }
    });
}

/// Drops the least recently seen tenth of the domains, quiet ones before firing ones (a firing
/// alert dropped is never cleared; it is counted in `evicted_domains` with the rest). Returns
/// how many were dropped.
fn evict_domains(domains: &mut HashMap<String, DomainState>) -> usize {
    let k = (domains.len() / 10).max(1);
    let quiet: Vec<i64> = domains
        .values()
        .filter(|s| s.firing.is_none())
        .map(|s| s.last_seen)
        .collect();
    let (mut pool, only_quiet) = if quiet.len() >= k {
        (quiet, true)
    } else {
        (domains.values().map(|s| s.last_seen).collect(), false)
    };
    let k = k.min(pool.len());
    if k == 0 {
        return 0;
    }
    let (_, cut, _) = pool.select_nth_unstable(k - 1);
    let cut = *cut;
    let before = domains.len();
    let mut dropped = 0;
    domains.retain(|_, s| {
        let candidate = (!only_quiet || s.firing.is_none()) && s.last_seen <= cut;
        if candidate && dropped < k {
            dropped += 1;
            false
        } else {
            true
        }
    });
    before - domains.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{LineParser, Parsed};
    use crate::time::YearGuess;

    /// A Postfix line at `secs` seconds past 2026-11-24 10:00:00 (log time).
    fn line(secs: i64, id: u32, rcpt: &str, status: &str, dsn: &str, reason: &str) -> String {
        let t = 10 * 3600 + secs;
        format!(
            "Nov 24 {:02}:{:02}:{:02} mail postfix/smtp[27805]: {id:010X}: to=<{rcpt}>, relay=mx.{d}[192.0.2.7]:25, delay=1, delays=0/0/0/1, dsn={dsn}, status={status} ({reason})",
            (t / 3600) % 24,
            (t / 60) % 60,
            t % 60,
            d = rcpt.rsplit('@').next().unwrap_or("")
        )
    }

    const RATE_421: &str = "host mx.ratelimit.test[192.0.2.7] said: 421-4.7.0 [192.0.2.1 15] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail (in reply to RCPT TO command)";
    const OK: &str = "250 2.0.0 Ok: queued as 4Xlab1234Z";

    struct Run {
        parser: LineParser,
        det: Detector,
        out: Vec<FollowEvent>,
    }

    impl Run {
        fn new(cfg: Config) -> Run {
            Run {
                parser: LineParser::new(None, YearGuess::starting(2026)),
                det: Detector::new(cfg),
                out: Vec::new(),
            }
        }

        fn feed(&mut self, l: &str) -> Vec<FollowEvent> {
            let start = self.out.len();
            if let Parsed::Event { time, mta, event } = self.parser.parse(l.as_bytes()) {
                let now = time.expect("stamped");
                self.det
                    .observe(now, mta, event, l.as_bytes(), &mut self.out);
            }
            self.out[start..].to_vec()
        }

        fn tick(&mut self, secs: i64) -> Vec<FollowEvent> {
            let start = self.out.len();
            let now = Timestamp::from_civil(2026, 11, 24, 10, 0, 0, None).unwrap();
            let now = Timestamp {
                secs: now.secs + secs,
                utc: false,
            };
            self.det.tick(now, &mut self.out);
            self.out[start..].to_vec()
        }
    }

    fn kinds(es: &[FollowEvent]) -> Vec<FollowKind> {
        es.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_new_group_is_reported_once_with_its_explanation() {
        let mut r = Run::new(Config::default());
        let l = line(0, 1, "carol@ratelimit.test", "deferred", "4.7.0", RATE_421);
        let es = r.feed(&l);
        assert_eq!(kinds(&es), vec![FollowKind::NewGroup]);
        let e = &es[0];
        assert_eq!(e.sample.as_deref(), Some(l.as_str()), "the sample is exact");
        let g = e.group.as_ref().unwrap();
        assert_eq!(
            (
                g.status,
                g.dsn.as_deref(),
                g.domain.as_str(),
                g.relay.as_str()
            ),
            (
                Status::Deferred,
                Some("4.7.0"),
                "ratelimit.test",
                "mx.ratelimit.test"
            )
        );
        assert!(
            g.template
                .starts_with("host mx.ratelimit.test[<ip>] said: 421 4.7.0")
        );
        let x = e.explanation.as_ref().expect("explained");
        assert_eq!(x.situation, mxray_core::SituationId::RateLimited);
        assert_eq!(
            e.next_command.as_deref(),
            Some("mxray diagnose ratelimit.test")
        );
        // Same group, another message and address: nothing new.
        let l2 = line(5, 2, "dan@ratelimit.test", "deferred", "4.7.0", RATE_421);
        assert!(r.feed(&l2).is_empty());
        // Deliveries make no group.
        assert!(
            r.feed(&line(6, 3, "a@accept.test", "sent", "2.0.0", OK))
                .is_empty()
        );
    }

    #[test]
    fn rate_alert_fires_at_the_threshold_and_clears_with_hysteresis() {
        let cfg = Config {
            threshold: 0.5,
            window_secs: 600,
            ..Config::default()
        };
        let mut r = Run::new(cfg);
        let refused = "connect to mx.slow.test[192.0.2.7]:25: Connection refused";
        // 4 deferrals: 100%, but fewer than 5 attempts: no alert yet.
        for i in 0..4 {
            let es = r.feed(&line(
                i,
                i as u32,
                "x@slow.test",
                "deferred",
                "4.4.1",
                refused,
            ));
            assert!(!kinds(&es).contains(&FollowKind::RateAlert));
        }
        let es = r.feed(&line(10, 9, "x@slow.test", "deferred", "4.4.1", refused));
        assert_eq!(kinds(&es), vec![FollowKind::RateAlert]);
        let rate = es[0].rate.as_ref().unwrap();
        assert_eq!((rate.attempts, rate.deferrals), (5, 5));
        assert_eq!(es[0].domain.as_deref(), Some("slow.test"));
        assert!(
            es[0]
                .sample
                .as_deref()
                .unwrap()
                .contains("Connection refused")
        );
        // 6 deliveries: 5/11 = 45%, under the threshold but over half of it: still firing.
        for i in 0..6 {
            let es = r.feed(&line(
                20 + i,
                100 + i as u32,
                "y@slow.test",
                "sent",
                "2.0.0",
                OK,
            ));
            assert!(es.is_empty(), "{es:?}");
        }
        // More: 5/16 = 31%, 5/21 = 24% (< 25%): cleared.
        let mut cleared = Vec::new();
        for i in 0..10 {
            cleared.extend(r.feed(&line(
                40 + i,
                200 + i as u32,
                "y@slow.test",
                "sent",
                "2.0.0",
                OK,
            )));
        }
        assert_eq!(kinds(&cleared), vec![FollowKind::RateCleared]);
        let rate = cleared[0].rate.as_ref().unwrap();
        assert!(rate.rate < 0.25 && rate.fired_at.is_some(), "{rate:?}");
        assert_eq!(rate.attempts, 21);
        assert!(
            cleared[0]
                .sample
                .as_deref()
                .unwrap()
                .contains("Connection refused"),
            "the clearing event repeats what fired"
        );
    }

    #[test]
    fn an_alert_clears_when_the_window_passes_without_deferrals() {
        let mut r = Run::new(Config::default());
        let refused = "connect to mx.slow.test[192.0.2.7]:25: Connection refused";
        let mut es = Vec::new();
        for i in 0..5 {
            es.extend(r.feed(&line(
                i * 10,
                i as u32,
                "x@slow.test",
                "deferred",
                "4.4.1",
                refused,
            )));
        }
        assert!(kinds(&es).contains(&FollowKind::RateAlert));
        assert!(r.tick(300).is_empty(), "still in the window");
        let es = r.tick(700);
        assert_eq!(kinds(&es), vec![FollowKind::RateCleared]);
        assert_eq!(es[0].rate.as_ref().unwrap().attempts, 0);
        assert_eq!(r.det.tracked().firing, 0);
        // Swept once its window emptied.
        r.tick(1400);
        assert_eq!(r.det.tracked().domains, 0);
    }

    #[test]
    fn storm_starts_on_421s_across_domains_and_ends_when_they_stop() {
        let mut r = Run::new(Config::default());
        let mut es = Vec::new();
        // 19 replies from 3 domains: not yet.
        for i in 0..19u32 {
            let d = ["a.test", "b.test", "c.test"][i as usize % 3];
            es.extend(r.feed(&line(
                i64::from(i),
                i,
                &format!("u@{d}"),
                "deferred",
                "4.7.0",
                RATE_421,
            )));
        }
        assert!(!kinds(&es).contains(&FollowKind::StormStarted));
        let es = r.feed(&line(30, 99, "u@d.test", "deferred", "4.7.0", RATE_421));
        let started: Vec<_> = es
            .iter()
            .filter(|e| e.kind == FollowKind::StormStarted)
            .collect();
        assert_eq!(started.len(), 1, "{es:?}");
        let s = started[0].storm.as_ref().unwrap();
        assert_eq!(s.replies, 20);
        assert_eq!(s.domains.len(), 4);
        // Many 421s from one domain alone are that domain's alert, never a storm.
        let mut one = Run::new(Config::default());
        let mut es = Vec::new();
        for i in 0..50u32 {
            es.extend(one.feed(&line(
                i64::from(i),
                i,
                "u@a.test",
                "deferred",
                "4.7.0",
                RATE_421,
            )));
        }
        assert!(!kinds(&es).contains(&FollowKind::StormStarted));
        assert!(kinds(&es).contains(&FollowKind::RateAlert));
        // Other deferrals are not 421s.
        let refused = "connect to mx[192.0.2.7]:25: Connection refused";
        assert!(!is_421(Some(refused.as_bytes())));
        assert!(!is_421(Some(b"450 4.2.0 try again in 421 seconds")));
        // The storm ends once the window holds fewer than 5.
        assert!(r.tick(200).is_empty());
        let es = r.tick(400);
        assert_eq!(kinds(&es), vec![FollowKind::StormEnded]);
        let ended = es
            .iter()
            .find(|e| e.kind == FollowKind::StormEnded)
            .expect("storm ended");
        let s = ended.storm.as_ref().unwrap();
        assert_eq!(s.peak_replies, 20);
        assert!(s.started_at.is_some());
    }

    #[test]
    fn new_groups_past_the_minute_limit_are_counted_not_reported() {
        let mut r = Run::new(Config {
            new_groups_per_minute: 3,
            ..Config::default()
        });
        let mut es = Vec::new();
        for i in 0..10u32 {
            es.extend(r.feed(&line(
                0,
                i,
                &format!("u@d{i}.test"),
                "bounced",
                "5.1.1",
                "550 5.1.1 no",
            )));
        }
        assert_eq!(kinds(&es), vec![FollowKind::NewGroup; 3]);
        let mut s = FollowSummary::default();
        r.det.fill_summary(&mut s);
        assert_eq!((s.new_groups, s.new_groups_suppressed), (3, 7));
        // The next minute reports again.
        assert_eq!(
            kinds(&r.feed(&line(
                61,
                50,
                "u@d50.test",
                "bounced",
                "5.1.1",
                "550 5.1.1 no"
            ))),
            vec![FollowKind::NewGroup]
        );
    }

    /// Memory stays capped whatever is fed: a million failures across 100,000 domains (each its
    /// own group), 100 a second of log time, so far more domains are live in one window than
    /// the cap allows.
    #[test]
    fn memory_is_bounded_over_a_million_events() {
        let cfg = Config::default();
        let (max_domains, max_groups) = (cfg.max_domains, cfg.max_groups);
        let mut det = Detector::new(cfg);
        let mut out = Vec::new();
        let base = Timestamp::from_civil(2026, 11, 24, 0, 0, 0, None).unwrap();
        let rcpts: Vec<String> = (0..100_000).map(|i| format!("x@d{i}.test")).collect();
        let mut peak = Tracked {
            domains: 0,
            groups: 0,
            firing: 0,
            storm_names: 0,
        };
        for i in 0..1_000_000u32 {
            let a = Attempt {
                id: &b"4AB12C3D4E"[..],
                rcpt: rcpts[i as usize % rcpts.len()].as_bytes(),
                orig_to: None,
                agent: None,
                relay: Some(&b"none"[..]),
                relay_ip: None,
                dsn: Some(&b"4.4.1"[..]),
                status: Status::Deferred,
                delay: None,
                delays: None,
                conn_use: None,
                tls: None,
                // Every tenth a 421: the storm's buckets fill too.
                reply: Some(if i % 10 == 0 {
                    &b"421 4.7.0 Try later"[..]
                } else {
                    &b"connect refused"[..]
                }),
                expired: false,
            };
            let now = Timestamp {
                secs: base.secs + i64::from(i / 100),
                utc: false,
            };
            det.observe(now, Mta::Postfix, Event::Attempt(a), b"line", &mut out);
            if i % 100 == 0 {
                det.tick(now, &mut out);
                out.clear();
                let t = det.tracked();
                assert!(t.domains <= max_domains, "{t:?}");
                assert!(t.groups <= max_groups, "{t:?}");
                assert!(t.storm_names <= BUCKETS * STORM_NAMES, "{t:?}");
                peak.domains = peak.domains.max(t.domains);
                peak.groups = peak.groups.max(t.groups);
                peak.firing = peak.firing.max(t.firing);
                peak.storm_names = peak.storm_names.max(t.storm_names);
            }
        }
        let mut s = FollowSummary::default();
        det.fill_summary(&mut s);
        assert_eq!(s.attempts, 1_000_000);
        assert!(s.evicted_domains > 0, "the domain cap was reached");
        // Sampled every 100 events: near the caps, never past them.
        assert!(peak.domains >= max_domains * 9 / 10, "{peak:?}");
        assert!(peak.groups >= max_groups * 9 / 10, "{peak:?}");
        // What the caps cost, estimated from the sizes (hash tables at 7/8 load, names on the
        // heap); the process's peak resident size is printed beside it when Linux tells it.
        let per_domain = (size_of::<(String, DomainState)>() + 1) * 8 / 7 + "d99999.test".len();
        let per_group = (size_of::<(u64, i64)>() + 1) * 8 / 7;
        let firing = size_of::<Firing>() + MAX_SAMPLE;
        let hwm = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM"))
                    .map(str::to_string)
            })
            .unwrap_or_default();
        eprintln!(
            "peak tracked {peak:?}: domains ~{} KiB, groups ~{} KiB, worst case with every domain \
             firing +{} KiB; {hwm}",
            peak.domains * per_domain / 1024,
            peak.groups * per_group / 1024,
            max_domains * firing / 1024,
        );
    }

    #[test]
    fn rings_slide_by_buckets() {
        let mut ring: Ring<Counts> = Ring::new();
        ring.slot(100).attempts += 1;
        ring.slot(105).attempts += 2;
        assert_eq!(window_counts(&ring, 105).attempts, 3);
        assert_eq!(window_counts(&ring, 109).attempts, 3);
        assert_eq!(window_counts(&ring, 110).attempts, 2, "bucket 100 left");
        ring.slot(115).attempts += 4;
        assert_eq!(window_counts(&ring, 115).attempts, 4, "105 reused by 115");
        assert_eq!(bucket_width(600), 60);
        assert_eq!(bucket_width(5), 1);
    }
}
