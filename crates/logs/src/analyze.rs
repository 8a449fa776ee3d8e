//! Message tracking and aggregation: follows each queued message across retries, folds finished
//! messages into the aggregates and drops them, and builds the [`Report`] at the end.
//!
//! Memory grows with the messages still open (at most [`MAX_OPEN`]) and with the (capped)
//! numbers of groups, domains and hours, never with the number of lines.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::io;

use mxray_core::reply::{self, Extracted, InputForm};
use mxray_core::{EnhancedCode, Explanation, explain_extracted};
use rustc_hash::{FxBuildHasher, FxHasher};
use serde::Serialize;

use crate::event::{Attempt, Event, Facts, Mta, Reject, Status};
use crate::report::{
    DomainStats, Durations, Group, Hour, Pending, PendingMessage, Rejection, Report, Retries,
    Totals,
};
use crate::template::template;
use crate::time::Timestamp;

/// Distinct groups kept; further ones are folded into one `(other failures)` row per status.
pub const MAX_GROUPS: usize = 5_000;
/// Distinct destination domains kept; further ones count under `(other domains)`.
pub const MAX_DOMAINS: usize = 100_000;
/// Hours kept in the timeline (about eleven years).
pub const MAX_HOURS: usize = 100_000;
/// Samples are cut here: enough for the reply, bounded per group.
pub const MAX_SAMPLE: usize = 2048;
/// A message with nothing logged for this long is dropped from tracking (queue lifetimes are
/// five days by default in Postfix and Exim).
pub const EVICT_AFTER_SECS: i64 = 10 * 86_400;
/// Messages followed at once at most. Past it the least recently seen tenth is dropped (and
/// counted in `pending.evicted`), so a log of millions of never-finished queue IDs (a hostile
/// or truncated log) costs the same memory as a busy queue.
pub const MAX_OPEN: usize = 100_000;

/// What the analysis should keep and filter.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Lowercase destination domains; subdomains match too. Empty: all.
    pub domains: Vec<String>,
    /// Keep senders and Message-IDs for per-attempt records (`--events`).
    pub events: bool,
}

/// One delivery attempt as `--events` prints it (JSON Lines). Strings are exact (lossily
/// decoded); escape them before showing them on a terminal.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AttemptRecord {
    pub time: Option<Timestamp>,
    pub mta: Mta,
    pub queue_id: String,
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub to: String,
    pub orig_to: Option<String>,
    pub domain: String,
    pub status: Status,
    pub dsn: Option<String>,
    pub relay: Option<String>,
    pub relay_ip: Option<String>,
    pub agent: Option<String>,
    pub delay: Option<f64>,
    pub delays: Option<String>,
    pub conn_use: Option<u32>,
    pub tls: Option<String>,
    pub reply: Option<String>,
    /// 1 for the first attempt this log shows for this recipient of this message.
    pub attempt: u32,
    pub input: String,
}

/// Receives what is streamed during the analysis.
pub trait Sink {
    fn attempt(&mut self, _rec: &AttemptRecord) -> io::Result<()> {
        Ok(())
    }
    fn unparsed(&mut self, _input: &str, _line_no: u64, _line: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that keeps nothing.
pub struct NoSink;
impl Sink for NoSink {}

/// FxHash (rustc-hash): queue IDs are short and not chosen to collide (a hostile log can only
/// slow itself).
type Fx = FxBuildHasher;

/// A queue ID, stored inline (IDs are at most 31 bytes; longer ones are not IDs).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Qid {
    len: u8,
    bytes: [u8; 31],
}

impl Qid {
    fn new(b: &[u8]) -> Option<Qid> {
        let mut bytes = [0u8; 31];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(Qid {
            len: b.len() as u8,
            bytes,
        })
    }
    fn as_str(&self) -> String {
        String::from_utf8_lossy(&self.bytes[..usize::from(self.len)]).into_owned()
    }
}

/// Extra per-message facts, kept only for `--events`.
#[derive(Default)]
struct MsgInfo {
    from: Option<String>,
    message_id: Option<String>,
    /// (recipient hash, attempts so far)
    attempts: Vec<(u64, u32)>,
}

/// Distinct deferral codes kept per hour; the rest count under `other`.
const CODES_PER_HOUR: usize = 8;

/// One hour of the timeline.
#[derive(Default)]
struct HourAcc {
    deferrals: u64,
    bounces: u64,
    utc: bool,
    /// Deferrals by enhanced code (`none` when the line gave none), most first once built.
    codes: Vec<(String, u64)>,
}

/// A message still in the queue.
struct Msg {
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    deferrals: u32,
    delivered: u32,
    bounced: u32,
    finals: u32,
    nrcpt: Option<u32>,
    expired: bool,
    /// Counted in `deferred_messages` because Exim skipped it for its retry time (it was
    /// waiting on a host in retry state, as eximstats counts it) before any deferral of its own.
    waited: bool,
    /// Groups and domains this message already counted in (for distinct-message counts).
    groups: Vec<u32>,
    domains: Vec<u32>,
    last_group: Option<u32>,
    info: Option<Box<MsgInfo>>,
}

impl Msg {
    fn new(time: Option<Timestamp>, events: bool) -> Msg {
        Msg {
            first_seen: time,
            last_seen: time,
            deferrals: 0,
            delivered: 0,
            bounced: 0,
            finals: 0,
            nrcpt: None,
            expired: false,
            waited: false,
            groups: Vec::new(),
            domains: Vec::new(),
            last_group: None,
            info: events.then(Box::default),
        }
    }
}

struct GroupAcc {
    status: Status,
    dsn: Option<String>,
    domain: String,
    relay: String,
    template: String,
    count: u64,
    messages: u64,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    sample: String,
    mta: Mta,
}

#[derive(Default)]
struct DomainAcc {
    attempts: u64,
    delivered: u64,
    deferrals: u64,
    bounced: u64,
    deferred_messages: u64,
}

#[derive(Default)]
struct DurationAcc {
    count: u64,
    sum: f64,
    max: i64,
    buckets: [u64; 8],
}

const DURATION_LABELS: [&str; 8] = [
    "<=1m", "<=5m", "<=15m", "<=1h", "<=4h", "<=1d", "<=5d", ">5d",
];
const DURATION_LIMITS: [i64; 7] = [60, 300, 900, 3600, 14_400, 86_400, 432_000];
const RETRY_LABELS: [&str; 7] = ["1", "2", "3", "4-5", "6-10", "11-20", ">20"];

impl DurationAcc {
    fn add(&mut self, secs: i64) {
        let secs = secs.max(0);
        self.count += 1;
        self.sum += secs as f64;
        self.max = self.max.max(secs);
        let i = DURATION_LIMITS.iter().position(|&l| secs <= l).unwrap_or(7);
        self.buckets[i] += 1;
    }
    fn report(&self) -> Durations {
        Durations {
            count: self.count,
            mean_secs: (self.count > 0).then(|| (self.sum / self.count as f64).round()),
            max_secs: (self.count > 0).then_some(self.max),
            buckets: DURATION_LABELS.iter().copied().zip(self.buckets).collect(),
        }
    }
}

/// The state of one analysis.
pub struct Analyzer {
    opts: Options,
    open: HashMap<Qid, Msg, Fx>,
    totals: Totals,
    group_index: HashMap<String, u32>,
    groups: Vec<GroupAcc>,
    groups_truncated: bool,
    reject_index: HashMap<String, u32>,
    rejections: Vec<Rejection>,
    domain_index: HashMap<String, u32>,
    domains: Vec<(String, DomainAcc)>,
    timeline: BTreeMap<i64, HourAcc>,
    retries: [u64; 7],
    max_deferrals: u32,
    finished: u64,
    delivered_after: u64,
    bounced_after: u64,
    expired_msgs: u64,
    to_delivery: DurationAcc,
    to_expiry: DurationAcc,
    evicted: u64,
    pub(crate) first_seen: Option<Timestamp>,
    pub(crate) last_seen: Option<Timestamp>,
    key: String,
    since_sweep: u64,
}

/// The lowercase domain of an address, or empty.
fn domain_of(rcpt: &[u8]) -> String {
    let d = match memchr::memrchr(b'@', rcpt) {
        Some(i) => &rcpt[i + 1..],
        None => return String::new(),
    };
    let d = d.strip_suffix(b".").unwrap_or(d);
    let mut s = String::from_utf8_lossy(&d[..d.len().min(255)]).into_owned();
    s.make_ascii_lowercase();
    s
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hash(b: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(b);
    h.finish()
}

pub(crate) fn cap(s: &[u8], max: usize) -> String {
    let mut end = s.len().min(max);
    // Do not split a UTF-8 sequence: back off to a character boundary.
    while end < s.len() && end > 0 && (s[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    lossy(&s[..end])
}

/// The enhanced code of an attempt: as logged, else the one in the reply ([`dsn_in_reply`]),
/// else inferred from Exim's error text ([`infer_dsn`]; Exim logs no DSN).
fn dsn_of(mta: Mta, a: &Attempt<&[u8]>) -> Option<String> {
    if let Some(d) = a.dsn {
        return Some(lossy(d));
    }
    let text = lossy(a.reply?);
    if let Some(d) = dsn_in_reply(&text) {
        return Some(d);
    }
    if mta != Mta::Exim {
        return None;
    }
    infer_dsn(&text).map(str::to_string)
}

/// The enhanced code a reason carries: the one in its reply (read by the knowledge base's
/// extractor), else the class of the basic code as Postfix does (`451` -> `4.0.0`).
pub fn dsn_in_reply(reason: &str) -> Option<String> {
    let x = reply::extract(reason).ok()?;
    if let Some(e) = x.enhanced {
        return Some(e.to_string());
    }
    x.code.map(|c| format!("{}.0.0", c.class_digit()))
}

/// The enhanced code an MTA gives a failure it words without a reply (a refused connection, a
/// failed lookup, an expiry), from those words: what Exim's log and every queue listing lack.
pub fn infer_dsn(reason: &str) -> Option<&'static str> {
    let t = reason.to_ascii_lowercase();
    let code = if t.contains("retry timeout exceeded") {
        "5.4.7"
    } else if t.contains("indicated no smtp service") || t.contains("null mx") {
        // Exim's words for a null MX (RFC 7505 section 4.2 suggests X.1.10).
        "5.1.10"
    } else if t.contains("unrouteable address")
        || t.contains("all relevant mx records point to non-existent hosts")
    {
        "5.4.4"
    } else if t.contains("lost connection with")
        || (t.contains("conversation with") && t.contains("timed out"))
    {
        // Postfix's words for a session that broke after connecting (it codes them 4.4.2).
        "4.4.2"
    } else if t.contains("connection refused")
        || t.contains("timed out")
        || t.contains("no route to host")
        || t.contains("network is unreachable")
        || t.contains("all hosts")
    {
        "4.4.1"
    } else if t.contains("host lookup did not complete")
        || t.contains("lookup")
        || t.contains("host or domain name not found")
    {
        "4.4.3"
    } else {
        return None;
    };
    Some(code)
}

fn rejection_dsn(reply: &[u8]) -> Option<String> {
    let mut words = reply.split(|&c| c == b' ');
    let _code = words.next()?;
    let w = words.next()?;
    EnhancedCode::parse(std::str::from_utf8(w).ok()?).map(|e| e.to_string())
}

impl Analyzer {
    pub fn new(opts: Options) -> Analyzer {
        Analyzer {
            opts,
            open: HashMap::default(),
            totals: Totals::default(),
            group_index: HashMap::new(),
            groups: Vec::new(),
            groups_truncated: false,
            reject_index: HashMap::new(),
            rejections: Vec::new(),
            domain_index: HashMap::new(),
            domains: Vec::new(),
            timeline: BTreeMap::new(),
            retries: [0; 7],
            max_deferrals: 0,
            finished: 0,
            delivered_after: 0,
            bounced_after: 0,
            expired_msgs: 0,
            to_delivery: DurationAcc::default(),
            to_expiry: DurationAcc::default(),
            evicted: 0,
            first_seen: None,
            last_seen: None,
            key: String::new(),
            since_sweep: 0,
        }
    }

    pub fn totals_mut(&mut self) -> &mut Totals {
        &mut self.totals
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Number of messages currently tracked.
    pub fn open_messages(&self) -> usize {
        self.open.len()
    }

    fn wanted_domain(&self, domain: &str) -> bool {
        domain_matches(domain, &self.opts.domains)
    }

    fn msg(&mut self, id: &[u8], time: Option<Timestamp>) -> Option<&mut Msg> {
        let q = Qid::new(id)?;
        let events = self.opts.events;
        if self.open.len() >= MAX_OPEN && !self.open.contains_key(&q) {
            self.evict_oldest();
        }
        let m = self.open.entry(q).or_insert_with(|| Msg::new(time, events));
        if time.is_some() {
            if m.first_seen.is_none() {
                m.first_seen = time;
            }
            m.last_seen = time;
        }
        Some(m)
    }

    /// Applies one event. `line` is the whole log line (for samples), `input` its file's name.
    pub fn apply(
        &mut self,
        time: Option<Timestamp>,
        mta: Mta,
        event: Event<&[u8]>,
        line: &[u8],
        input: &str,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        self.since_sweep += 1;
        if self.since_sweep >= 200_000 {
            self.since_sweep = 0;
            self.sweep(time);
        }
        match event {
            Event::Received(f) => {
                self.totals.received += 1;
                self.facts(time, f);
            }
            Event::Info(f) => self.facts(time, f),
            Event::Attempt(a) => {
                if mta == Mta::Sendmail && memchr::memchr(b',', a.rcpt).is_some() {
                    let list = a.rcpt;
                    for r in list.split(|&c| c == b',') {
                        let r = r.strip_prefix(b"<").unwrap_or(r);
                        let r = r.strip_suffix(b">").unwrap_or(r);
                        let mut one = a.clone();
                        one.rcpt = r;
                        self.attempt(time, mta, one, line, input, sink)?;
                    }
                } else {
                    self.attempt(time, mta, a, line, input, sink)?;
                }
            }
            Event::NotAttempted { id, rcpt } => {
                self.totals.not_attempted += 1;
                // Not an attempt, but the message is held back: deferred, as eximstats says.
                let domain = lossy(rcpt.rsplit(|&c| c == b'@').next().unwrap_or_default());
                if self.wanted_domain(&domain.to_ascii_lowercase())
                    && let Some(m) = self.msg(id, time)
                    && m.deferrals == 0
                    && !m.waited
                {
                    m.waited = true;
                    self.totals.deferred_messages += 1;
                }
            }
            Event::Expired { id } => {
                // With --domain, only a message with attempts to a wanted domain counts.
                let filtered = !self.opts.domains.is_empty();
                if let Some(m) = self.msg(id, time)
                    && !m.expired
                    && (!filtered || !m.domains.is_empty())
                {
                    m.expired = true;
                    self.totals.expired += 1;
                }
            }
            Event::Removed { id } => {
                if let Some(q) = Qid::new(id)
                    && let Some(mut m) = self.open.remove(&q)
                {
                    if time.is_some() {
                        m.last_seen = time;
                    }
                    self.finish_msg(&m);
                }
            }
            Event::Notification { .. } => self.totals.notifications += 1,
            Event::Rejected(r) => self.reject(time, r, line),
            Event::Noise => {}
        }
        Ok(())
    }

    fn facts(&mut self, time: Option<Timestamp>, f: Facts<&[u8]>) {
        let Some(m) = self.msg(f.id, time) else {
            return;
        };
        if let Some(n) = f.nrcpt {
            m.nrcpt = Some(n);
        }
        if let Some(info) = m.info.as_mut() {
            if let Some(from) = f.from {
                info.from = Some(cap(from, 512));
            }
            if let Some(mid) = f.message_id {
                info.message_id = Some(cap(mid, 512));
            }
        }
    }

    fn domain_id(&mut self, domain: &str) -> u32 {
        if let Some(&id) = self.domain_index.get(domain) {
            return id;
        }
        let name = if self.domains.len() >= MAX_DOMAINS {
            "(other domains)"
        } else {
            domain
        };
        if let Some(&id) = self.domain_index.get(name) {
            return id;
        }
        let id = self.domains.len() as u32;
        self.domains.push((name.to_string(), DomainAcc::default()));
        self.domain_index.insert(name.to_string(), id);
        id
    }

    fn attempt(
        &mut self,
        time: Option<Timestamp>,
        mta: Mta,
        a: Attempt<&[u8]>,
        line: &[u8],
        input: &str,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        let domain = attempt_domain(&a);
        if !self.wanted_domain(&domain) {
            return Ok(());
        }
        let did = self.domain_id(&domain);
        let group = match a.status {
            Status::Deferred | Status::Bounced => Some(self.group_id(time, mta, &a, &domain, line)),
            _ => None,
        };
        let Some(m) = self.msg(a.id, time) else {
            return Ok(());
        };
        // `delay=` is the message's age: it dates arrival even when the log starts later.
        if let (Some(t), Some(d)) = (time, a.delay)
            && d.is_finite()
            && (0.0..1e10).contains(&d)
        {
            let arrived = Timestamp {
                secs: t.secs - d as i64,
                utc: t.utc,
            };
            if m.first_seen.is_none_or(|f| arrived < f) {
                m.first_seen = Some(arrived);
            }
        }
        let mut attempt_no = 1;
        if let Some(info) = m.info.as_mut() {
            let h = hash(a.rcpt);
            match info.attempts.iter_mut().find(|(k, _)| *k == h) {
                Some((_, n)) => {
                    *n += 1;
                    attempt_no = *n;
                }
                None => info.attempts.push((h, 1)),
            }
        }
        let mut new_deferred_msg = false;
        let mut new_domain_msg = false;
        let mut new_group_msg = false;
        let mut newly_expired = false;
        match a.status {
            Status::Sent => {
                m.delivered += 1;
                m.finals += 1;
            }
            Status::Forwarded => m.finals += 1,
            Status::Deferred => {
                new_deferred_msg = m.deferrals == 0 && !m.waited;
                m.deferrals += 1;
                if !m.domains.contains(&did) {
                    m.domains.push(did);
                    new_domain_msg = true;
                }
            }
            Status::Bounced => {
                m.bounced += 1;
                m.finals += 1;
                if a.expired && !m.expired {
                    m.expired = true;
                    newly_expired = true;
                }
            }
        }
        if let Some(g) = group {
            m.last_group = Some(g);
            if !m.groups.contains(&g) {
                m.groups.push(g);
                new_group_msg = true;
            }
        }
        let (from, message_id) = match &m.info {
            Some(i) => (i.from.clone(), i.message_id.clone()),
            None => (None, None),
        };
        let done = mta == Mta::Sendmail && m.nrcpt.is_some_and(|n| m.finals >= n);
        if let Some(g) = group
            && new_group_msg
        {
            self.groups[g as usize].messages += 1;
        }
        if newly_expired {
            self.totals.expired += 1;
        }
        let d = &mut self.domains[did as usize].1;
        if a.status != Status::Forwarded {
            d.attempts += 1;
        }
        match a.status {
            Status::Sent => {
                self.totals.delivered += 1;
                d.delivered += 1;
            }
            Status::Forwarded => self.totals.forwarded += 1,
            Status::Deferred => {
                self.totals.deferrals += 1;
                d.deferrals += 1;
                if new_domain_msg {
                    d.deferred_messages += 1;
                }
                if new_deferred_msg {
                    self.totals.deferred_messages += 1;
                }
                let code = group
                    .and_then(|g| self.groups.get(g as usize))
                    .and_then(|g| g.dsn.clone())
                    .unwrap_or_else(|| "none".to_string());
                self.hour(time, Some(&code));
            }
            Status::Bounced => {
                self.totals.bounced += 1;
                d.bounced += 1;
                self.hour(time, None);
            }
        }
        if self.opts.events {
            let rec = AttemptRecord {
                time,
                mta,
                queue_id: lossy(a.id),
                message_id,
                from,
                to: lossy(a.rcpt),
                orig_to: a.orig_to.map(lossy),
                domain,
                status: a.status,
                dsn: a.dsn.map(lossy),
                relay: a.relay.map(lossy),
                relay_ip: a.relay_ip.map(lossy),
                agent: a.agent.map(lossy),
                delay: a.delay,
                delays: a.delays.map(lossy),
                conn_use: a.conn_use,
                tls: a.tls.map(lossy),
                reply: a.reply.map(|r| cap(r, 4096)),
                attempt: attempt_no,
                input: input.to_string(),
            };
            sink.attempt(&rec)?;
        }
        if done
            && let Some(q) = Qid::new(a.id)
            && let Some(m) = self.open.remove(&q)
        {
            self.finish_msg(&m);
        }
        Ok(())
    }

    /// Counts a deferral (with its code) or a bounce (`code` `None`) in its hour.
    fn hour(&mut self, time: Option<Timestamp>, deferral: Option<&str>) {
        let Some(t) = time else { return };
        let h = t.hour();
        if self.timeline.len() >= MAX_HOURS && !self.timeline.contains_key(&h.secs) {
            return;
        }
        let e = self.timeline.entry(h.secs).or_insert_with(|| HourAcc {
            utc: h.utc,
            ..HourAcc::default()
        });
        let Some(code) = deferral else {
            e.bounces += 1;
            return;
        };
        e.deferrals += 1;
        let code = if e.codes.len() >= CODES_PER_HOUR && !e.codes.iter().any(|(c, _)| c == code) {
            "other"
        } else {
            code
        };
        match e.codes.iter_mut().find(|(c, _)| c == code) {
            Some((_, n)) => *n += 1,
            None => e.codes.push((code.to_string(), 1)),
        }
    }

    fn group_id(
        &mut self,
        time: Option<Timestamp>,
        mta: Mta,
        a: &Attempt<&[u8]>,
        domain: &str,
        line: &[u8],
    ) -> u32 {
        let (dsn, relay, tpl) = group_fields(mta, a);
        let k = &mut self.key;
        k.clear();
        k.push_str(a.status.as_str());
        for part in [dsn.as_deref().unwrap_or(""), domain, &relay, &tpl] {
            k.push('\0');
            k.push_str(part);
        }
        let id = match self.group_index.get(k.as_str()) {
            Some(&id) => id,
            None => {
                let (dsn, domain, relay, tpl, key) = if self.groups.len() >= MAX_GROUPS {
                    // Folded: one row per status, so hostile variety cannot grow memory.
                    self.groups_truncated = true;
                    let key = format!("{}\0(other)", a.status.as_str());
                    (
                        None,
                        "*".to_string(),
                        "*".to_string(),
                        "(other failures)".to_string(),
                        key,
                    )
                } else {
                    (dsn, domain.to_string(), relay, tpl, k.clone())
                };
                match self.group_index.get(&key) {
                    Some(&id) => id,
                    None => {
                        let id = self.groups.len() as u32;
                        self.groups.push(GroupAcc {
                            status: a.status,
                            dsn,
                            domain,
                            relay,
                            template: tpl,
                            count: 0,
                            messages: 0,
                            first_seen: time,
                            last_seen: time,
                            sample: cap(line, MAX_SAMPLE),
                            mta,
                        });
                        self.group_index.insert(key, id);
                        id
                    }
                }
            }
        };
        let g = &mut self.groups[id as usize];
        g.count += 1;
        if let Some(t) = time {
            g.first_seen = Some(g.first_seen.map_or(t, |f| f.min(t)));
            g.last_seen = Some(g.last_seen.map_or(t, |l| l.max(t)));
        }
        id
    }

    fn reject(&mut self, time: Option<Timestamp>, r: Reject<&[u8]>, line: &[u8]) {
        if !self.opts.domains.is_empty() {
            let d = r.to.map(domain_of).unwrap_or_default();
            if !self.wanted_domain(&d) {
                return;
            }
        }
        self.totals.rejected += 1;
        let stage = r.stage.map(lossy).unwrap_or_default();
        let tpl = template(r.reply);
        let key = format!("{stage}\0{tpl}");
        let id = match self.reject_index.get(&key) {
            Some(&id) => id as usize,
            None if self.rejections.len() >= MAX_GROUPS => return,
            None => {
                self.rejections.push(Rejection {
                    stage,
                    dsn: rejection_dsn(r.reply),
                    template: tpl,
                    count: 0,
                    first_seen: time,
                    last_seen: time,
                    sample: cap(line, MAX_SAMPLE),
                });
                self.reject_index
                    .insert(key, (self.rejections.len() - 1) as u32);
                self.rejections.len() - 1
            }
        };
        let g = &mut self.rejections[id];
        g.count += 1;
        if let Some(t) = time {
            g.first_seen = Some(g.first_seen.map_or(t, |f| f.min(t)));
            g.last_seen = Some(g.last_seen.map_or(t, |l| l.max(t)));
        }
    }

    /// Folds a message that left the queue into the retry and delay statistics.
    fn finish_msg(&mut self, m: &Msg) {
        self.finished += 1;
        let span = match (m.first_seen, m.last_seen) {
            (Some(f), Some(l)) => Some(l.secs - f.secs),
            _ => None,
        };
        if m.expired {
            self.expired_msgs += 1;
            if let Some(s) = span {
                self.to_expiry.add(s);
            }
        }
        if m.deferrals == 0 {
            return;
        }
        let i = match m.deferrals {
            1 => 0,
            2 => 1,
            3 => 2,
            4..=5 => 3,
            6..=10 => 4,
            11..=20 => 5,
            _ => 6,
        };
        self.retries[i] += 1;
        self.max_deferrals = self.max_deferrals.max(m.deferrals);
        if m.expired {
            return;
        }
        if m.bounced > 0 {
            self.bounced_after += 1;
        } else if m.delivered > 0 {
            self.delivered_after += 1;
            if let Some(s) = span {
                self.to_delivery.add(s);
            }
        }
    }

    /// Drops messages with nothing logged for [`EVICT_AFTER_SECS`]: their end is not in this log
    /// (or was never logged), and keeping them would let memory grow with the file.
    fn sweep(&mut self, now: Option<Timestamp>) {
        let Some(now) = now else { return };
        if self.open.len() < 50_000 {
            return;
        }
        let before = self.open.len();
        self.open.retain(|_, m| {
            m.last_seen
                .is_none_or(|l| now.secs - l.secs <= EVICT_AFTER_SECS)
        });
        self.evicted += (before - self.open.len()) as u64;
    }

    /// Drops the least recently seen tenth of the open messages: one pass, so the cost per
    /// message stays constant however many the log holds.
    fn evict_oldest(&mut self) {
        let mut seen: Vec<i64> = self
            .open
            .values()
            .map(|m| m.last_seen.map_or(i64::MIN, |t| t.secs))
            .collect();
        let k = seen.len() / 10;
        let (_, cut, _) = seen.select_nth_unstable(k);
        let cut = *cut;
        let before = self.open.len();
        let mut dropped = 0usize;
        self.open.retain(|_, m| {
            let old = m.last_seen.map_or(i64::MIN, |t| t.secs) <= cut;
            // Ties at the cut: keep dropping only up to the tenth.
            if old && dropped <= k {
                dropped += 1;
                false
            } else {
                true
            }
        });
        self.evicted += (before - self.open.len()) as u64;
    }

    /// Builds the report. `files` are the inputs' summaries.
    pub fn finish(mut self, files: Vec<crate::report::FileSummary>) -> Report {
        // Messages still open at the end: pending if their last news was a deferral.
        let mut pending = Pending {
            evicted: self.evicted,
            open: self.open.len() as u64,
            ..Pending::default()
        };
        let mut still: Vec<(&Qid, &Msg)> = self
            .open
            .iter()
            .filter(|(_, m)| m.deferrals > 0 && m.finals == 0 && !m.expired)
            .collect();
        pending.messages = still.len() as u64;
        pending.oldest_first_seen = still.iter().filter_map(|(_, m)| m.first_seen).min();
        still.sort_by(|a, b| {
            b.1.deferrals
                .cmp(&a.1.deferrals)
                .then(a.1.first_seen.cmp(&b.1.first_seen))
        });
        pending.sample = still
            .iter()
            .take(10)
            .map(|(q, m)| PendingMessage {
                queue_id: q.as_str(),
                first_seen: m.first_seen,
                last_seen: m.last_seen,
                deferrals: m.deferrals,
                last_reason: m
                    .last_group
                    .map(|g| self.groups[g as usize].template.clone()),
            })
            .collect();
        self.totals.pending = pending.messages;

        let retries = Retries {
            finished: self.finished,
            delivered_after_deferral: self.delivered_after,
            bounced_after_deferral: self.bounced_after,
            expired: self.expired_msgs,
            deferrals_before_outcome: RETRY_LABELS.iter().copied().zip(self.retries).collect(),
            max_deferrals: self.max_deferrals,
            time_to_delivery: self.to_delivery.report(),
            time_to_expiry: self.to_expiry.report(),
        };

        let mut groups: Vec<Group> = self
            .groups
            .into_iter()
            .map(|g| Group {
                status: g.status.as_str(),
                explanation: explain_group(&g),
                dsn: g.dsn,
                domain: g.domain,
                relay: g.relay,
                template: g.template,
                count: g.count,
                messages: g.messages,
                first_seen: g.first_seen,
                last_seen: g.last_seen,
                sample: g.sample,
                next_command: None,
            })
            .collect();
        groups.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.messages.cmp(&a.messages))
                .then(a.first_seen.cmp(&b.first_seen))
        });
        let mut next_commands: Vec<String> = Vec::new();
        for g in groups.iter_mut() {
            if next_commands.len() >= 5 {
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

        let mut rejections = self.rejections;
        rejections.sort_by_key(|r| std::cmp::Reverse(r.count));

        let mut domains: Vec<DomainStats> = self
            .domains
            .into_iter()
            .filter(|(_, d)| d.deferrals > 0)
            .map(|(name, d)| DomainStats {
                domain: name,
                deferral_rate: d.deferrals as f64 / d.attempts.max(1) as f64,
                attempts: d.attempts,
                delivered: d.delivered,
                deferrals: d.deferrals,
                bounced: d.bounced,
                deferred_messages: d.deferred_messages,
            })
            .collect();
        domains.sort_by(|a, b| {
            b.deferral_rate
                .total_cmp(&a.deferral_rate)
                .then(b.deferrals.cmp(&a.deferrals))
                .then(a.domain.cmp(&b.domain))
        });
        domains.truncate(20);

        let timeline = self
            .timeline
            .into_iter()
            .map(|(secs, mut h)| {
                h.codes
                    .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                Hour {
                    hour: Timestamp { secs, utc: h.utc },
                    deferrals: h.deferrals,
                    bounces: h.bounces,
                    deferrals_by_code: h.codes,
                }
            })
            .collect();

        Report {
            files,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            totals: self.totals,
            groups,
            groups_truncated: self.groups_truncated,
            rejections,
            domains,
            timeline,
            retries,
            pending,
            next_commands,
        }
    }
}

/// Only plain DNS names go into a suggested command: the domain comes from the log, and a user
/// may paste the command into a shell.
pub fn is_command_safe_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && !d.starts_with(['-', '.'])
        && d.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
}

/// The knowledge base's reading of a group: its sample and what the log line said around it.
fn explain_group(g: &GroupAcc) -> Option<Explanation> {
    let relay = (g.relay != "none").then_some(g.relay.as_str());
    explain_reason(
        &g.sample,
        &g.template,
        g.dsn.as_deref(),
        &g.domain,
        relay,
        g.mta,
    )
}

/// The knowledge base's reading of a failure: `sample` (a log line or a queue's reason) through
/// `mxray_core`'s extractor, completed with what was known around the reply (its enhanced code,
/// domain, relay). `None` when neither a reply code nor an enhanced code is known.
pub fn explain_reason(
    sample: &str,
    template: &str,
    dsn: Option<&str>,
    domain: &str,
    relay: Option<&str>,
    mta: Mta,
) -> Option<Explanation> {
    let enhanced = dsn.and_then(EnhancedCode::parse);
    // Exim joins multi-line replies with a literal `\n`; the extractor wants them as lines.
    let sample = sample.replace("\\n", "\n");
    let mut x = match reply::extract(&sample) {
        Ok(x) => x,
        Err(_) => Extracted {
            form: match mta {
                Mta::Postfix => InputForm::Postfix,
                Mta::Exim => InputForm::Exim,
                Mta::Sendmail => InputForm::Sendmail,
            },
            code: None,
            enhanced: None,
            text: template.to_string(),
            stage: None,
            host: None,
            domain: None,
        },
    };
    if x.enhanced.is_none() {
        x.enhanced = enhanced;
    }
    if x.code.is_none() && x.enhanced.is_none() {
        return None;
    }
    if x.domain.is_none() && !domain.is_empty() {
        x.domain = Some(domain.to_string());
    }
    if x.host.is_none()
        && let Some(r) = relay
    {
        x.host = Some(r.to_string());
    }
    Some(explain_extracted(&x))
}

/// Whether `domain` is one of `filters` or a subdomain of one (`--domain`); every domain when
/// `filters` is empty. Filters are lowercase.
pub fn domain_matches(domain: &str, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|d| {
            domain == d
                || (domain.len() > d.len()
                    && domain.ends_with(d.as_str())
                    && domain.as_bytes()[domain.len() - d.len() - 1] == b'.')
        })
}

/// The destination domain of an attempt, lowercase (empty when the recipient has none). Exim
/// logs local deliveries as `=> root <root@localhost>`: the domain is then in the original.
pub fn attempt_domain(a: &Attempt<&[u8]>) -> String {
    match (memchr::memchr(b'@', a.rcpt), a.orig_to) {
        (None, Some(orig)) => domain_of(orig),
        _ => domain_of(a.rcpt),
    }
}

/// What a failure is grouped by besides its status and domain: the enhanced code (logged, from
/// the reply, or inferred), the relay (lowercase, `none` when no connection was made) and the
/// reply's template. `mxray logs` and `--follow` group by the same key.
pub fn group_fields(mta: Mta, a: &Attempt<&[u8]>) -> (Option<String>, String, String) {
    let dsn = dsn_of(mta, a);
    let mut relay = a.relay.map_or_else(|| "none".to_string(), lossy);
    relay.make_ascii_lowercase();
    let tpl = a.reply.map(template).unwrap_or_default();
    (dsn, relay, tpl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{LineParser, Parsed};
    use crate::time::YearGuess;

    fn run(lines: &str, opts: Options) -> Report {
        let mut p = LineParser::new(None, YearGuess::starting(2026));
        let mut a = Analyzer::new(opts);
        for l in lines.lines() {
            if let Parsed::Event { time, mta, event } = p.parse(l.as_bytes()) {
                a.apply(time, mta, event, l.as_bytes(), "test", &mut NoSink)
                    .unwrap();
            }
        }
        a.finish(Vec::new())
    }

    const RETRIED: &str = "\
Nov 20 10:00:00 mail postfix/smtpd[1]: 4AB12C3D4E: client=unknown[192.0.2.7]
Nov 20 10:00:00 mail postfix/qmgr[2]: 4AB12C3D4E: from=<a@b.test>, size=100, nrcpt=1 (queue active)
Nov 20 10:00:01 mail postfix/smtp[3]: 4AB12C3D4E: to=<x@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.27]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.7.0, status=deferred (host gmail-smtp-in.l.google.com[142.250.1.27] said: 421-4.7.0 [192.0.2.1 15] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail (in reply to end of DATA command))
Nov 20 10:30:01 mail postfix/smtp[3]: 4AB12C3D4E: to=<x@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.28]:25, delay=1801, delays=1800/0/0.5/0.5, dsn=4.7.0, status=deferred (host gmail-smtp-in.l.google.com[142.250.1.28] said: 421-4.7.0 [192.0.2.1 16] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail (in reply to end of DATA command))
Nov 20 11:30:01 mail postfix/smtp[3]: 4AB12C3D4E: to=<x@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.27]:25, delay=5401, delays=5400/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK 1700000000 a1si123456ejc.300 - gsmtp)
Nov 20 11:30:01 mail postfix/qmgr[2]: 4AB12C3D4E: removed
Nov 20 11:31:00 mail postfix/smtpd[1]: 5BC12C3D4E: client=unknown[192.0.2.7]
Nov 20 11:31:01 mail postfix/smtp[3]: 5BC12C3D4E: to=<y@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.27]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.7.0, status=deferred (host gmail-smtp-in.l.google.com[142.250.1.29] said: 421-4.7.0 [192.0.2.1 17] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail (in reply to end of DATA command))
";

    #[test]
    fn follows_a_message_across_retries() {
        let r = run(RETRIED, Options::default());
        assert_eq!(r.totals.received, 2);
        assert_eq!(r.totals.delivered, 1);
        assert_eq!(r.totals.deferrals, 3);
        assert_eq!(r.totals.deferred_messages, 2);
        assert_eq!(r.totals.pending, 1);
        assert_eq!(r.groups.len(), 1, "{:#?}", r.groups);
        let g = &r.groups[0];
        assert_eq!((g.count, g.messages), (3, 2));
        assert_eq!(g.dsn.as_deref(), Some("4.7.0"));
        assert_eq!(g.domain, "gmail.com");
        assert_eq!(g.relay, "gmail-smtp-in.l.google.com");
        assert!(
            g.template.starts_with(
                "host gmail-smtp-in.l.google.com[<ip>] said: 421 4.7.0 [<ip> <n>] Our system"
            ),
            "{}",
            g.template
        );
        let e = g.explanation.as_ref().expect("explained");
        assert_eq!(e.situation, mxray_core::SituationId::RateLimited);
        assert_eq!(g.next_command.as_deref(), Some("mxray diagnose gmail.com"));
        assert_eq!(r.retries.delivered_after_deferral, 1);
        assert_eq!(r.retries.deferrals_before_outcome[1], ("2", 1));
        assert_eq!(r.retries.time_to_delivery.max_secs, Some(5401));
        assert_eq!(r.timeline.len(), 2);
        assert_eq!(r.domains[0].domain, "gmail.com");
    }

    #[test]
    fn domain_filter() {
        let r = run(
            RETRIED,
            Options {
                domains: vec!["example.org".into()],
                ..Options::default()
            },
        );
        assert_eq!(r.totals.deferrals, 0);
        assert!(r.groups.is_empty());
    }

    #[test]
    fn groups_are_capped() {
        let mut s = String::new();
        for i in 0..(MAX_GROUPS + 50) {
            s.push_str(&format!("Nov 20 10:00:01 mail postfix/smtp[3]: 4AB{i:07}: to=<x@d{i}.test>, relay=none, delay=1, dsn=4.4.1, status=deferred (x)\n"));
        }
        let r = run(&s, Options::default());
        assert!(r.groups_truncated);
        assert_eq!(r.groups.len(), MAX_GROUPS + 1);
        assert_eq!(r.totals.deferrals, (MAX_GROUPS + 50) as u64);
    }

    #[test]
    fn never_finished_messages_stay_bounded() {
        // A log of queue IDs that are deferred and never seen again, all within minutes (so the
        // 10-day eviction never applies): tracking stays at MAX_OPEN, the rest is counted.
        let mut p = LineParser::new(None, YearGuess::starting(2026));
        let mut a = Analyzer::new(Options::default());
        let n = MAX_OPEN * 3;
        for i in 0..n {
            let l = format!(
                "Nov 20 10:{:02}:{:02} mail postfix/smtp[3]: {i:010X}: to=<x@d.test>, relay=none, delay=1, dsn=4.4.1, status=deferred (connect to mx[192.0.2.1]:25: Connection refused)",
                (i / 60_000) % 60,
                (i / 1000) % 60
            );
            if let Parsed::Event { time, mta, event } = p.parse(l.as_bytes()) {
                a.apply(time, mta, event, l.as_bytes(), "t", &mut NoSink)
                    .unwrap();
            }
            assert!(a.open_messages() <= MAX_OPEN);
        }
        let r = a.finish(Vec::new());
        assert_eq!(r.pending.open + r.pending.evicted, n as u64);
        assert!(r.pending.evicted >= (n - MAX_OPEN) as u64);
        assert_eq!(
            r.totals.deferrals, n as u64,
            "every deferral is still counted"
        );
    }

    #[test]
    fn finished_messages_are_dropped() {
        // Memory follows open messages: 20,000 messages that each finish leave nothing behind.
        let mut p = LineParser::new(None, YearGuess::starting(2026));
        let mut a = Analyzer::new(Options::default());
        for i in 0..20_000 {
            let id = format!("{i:010X}");
            for l in [
                format!("Nov 20 10:00:00 mail postfix/smtpd[1]: {id}: client=unknown[192.0.2.7]"),
                format!(
                    "Nov 20 10:00:01 mail postfix/smtp[3]: {id}: to=<x@d{}.test>, relay=none, delay=1, dsn=4.4.1, status=deferred (connect to mx[192.0.2.{}]:25: Connection refused)",
                    i % 7,
                    i % 250
                ),
                format!(
                    "Nov 20 10:05:01 mail postfix/smtp[3]: {id}: to=<x@d{}.test>, relay=mx[192.0.2.1]:25, delay=301, dsn=2.0.0, status=sent (250 ok)",
                    i % 7
                ),
                format!("Nov 20 10:05:01 mail postfix/qmgr[2]: {id}: removed"),
            ] {
                if let Parsed::Event { time, mta, event } = p.parse(l.as_bytes()) {
                    a.apply(time, mta, event, l.as_bytes(), "t", &mut NoSink)
                        .unwrap();
                }
            }
            assert!(a.open_messages() <= 1);
        }
        let r = a.finish(Vec::new());
        assert_eq!(r.retries.delivered_after_deferral, 20_000);
        assert_eq!(r.groups.len(), 7, "IPs are masked: one group per domain");
        assert_eq!(r.retries.time_to_delivery.max_secs, Some(301));
    }

    #[test]
    fn unsafe_domains_get_no_command() {
        assert!(is_command_safe_domain("gmail.com"));
        assert!(!is_command_safe_domain("x.com;rm -rf"));
        assert!(!is_command_safe_domain("$(id).test"));
        assert!(!is_command_safe_domain("localhost"));
    }
}
