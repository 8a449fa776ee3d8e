//! The scheduler: addresses grouped by domain, DNS once per domain, one SMTP session carrying
//! many RCPT probes, per-provider budgets, greylisting retries, fallback between MX hosts, and
//! a deadline after which whatever is still transient is reported `unknown` with its reason.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow::{Break, Continue};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use mxray_core::DomainName;
use mxray_core::address::{Target, parse_target, suggest_domain};
use mxray_core::explain;
use mxray_core::mx::{MAX_EXCHANGES, MxPlan};
use mxray_net::smtp::capabilities;
use mxray_net::{
    ConnectError, Dns, DnsOutcome, Proxy, ProxyError, Reply, Session, SmtpError, TlsSettings,
    resolve_mx,
};
use tokio::sync::{OnceCell, Semaphore, mpsc};

use crate::budget::{BudgetLimits, Budgets, SharedBudget};
use crate::classify::{Outcome, classify_rcpt, retry_hint};
use crate::lists;
use crate::model::{DecidingReply, Reason, Verdict, VerifyResult};
use crate::verdict::{Context, DomainFailure, Facts, decide};

/// How the engine behaves; every field has a documented default in the CLI.
#[derive(Clone)]
pub struct Config {
    pub smtp_port: u16,
    /// Per network step.
    pub timeout: Duration,
    /// Wait for a greeting (tarpits greet late).
    pub greeting_wait: Duration,
    /// MAIL FROM (empty: the null sender).
    pub from: String,
    pub helo: String,
    /// First retry after greylisting without a hint; later retries double it.
    pub greylist_retry: Duration,
    /// The run's patience for a domain's transient failures, from its first attempt.
    pub deadline: Duration,
    /// RCPTs per transaction before RSET, until a 452 4.5.3 teaches a smaller cap.
    pub rcpt_per_transaction: usize,
    /// Local addresses to connect from; a domain always uses the same one.
    pub source_ips: Vec<IpAddr>,
    pub budget: BudgetLimits,
    /// Sessions one domain may have open at once (0: as many as its provider's budget).
    pub sessions_per_domain: usize,
    /// Domains verified at once.
    pub domain_concurrency: usize,
    /// Probe a random local part once per domain to detect catch-all.
    pub detect_catch_all: bool,
    /// Used only when a server insists on STARTTLS before MAIL.
    pub tls: Arc<TlsSettings>,
    /// Keep per-address transcripts (-v).
    pub transcript: bool,
    /// Which MX addresses may be contacted (public only under `serve` or --public-only).
    pub policy: mxray_net::AddressPolicy,
}

/// One input line to verify.
#[derive(Debug, Clone)]
pub struct Item {
    pub index: u64,
    pub input: String,
    /// The whole CSV row the address came from (empty for a line of text), handed back with
    /// the result so the output joins the user's list.
    pub row: Vec<String>,
}

/// A decided result for the input at `index`.
#[derive(Debug, Clone)]
pub struct Decided {
    pub index: u64,
    pub result: VerifyResult,
    /// Taken from the job store of an earlier run, not decided now (so not stored again).
    pub resumed: bool,
}

#[derive(Debug)]
enum DomainInfo {
    Hosts(Vec<MxHost>),
    Fail(DomainFailure, String),
}

#[derive(Debug, Clone)]
struct MxHost {
    name: String,
    addrs: Vec<IpAddr>,
}

/// Run-wide counters.
#[derive(Debug, Default, serde::Serialize, schemars::JsonSchema)]
pub struct EngineStats {
    pub sessions: u64,
    pub rcpts: u64,
    pub dns_domains: u64,
}

/// What a run's addresses are waiting on right now: the progress line's "12 greylisted, next
/// retry in 4m10s".
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// Greylisted, waiting to be asked again from the same address.
    pub greylisted: u64,
    /// Held back while their provider throttles us (421, 4.7.x, a rate-limit reply).
    pub rate_limited: u64,
    /// Another transient answer (4xx), to be asked again.
    pub deferred: u64,
    /// When the first of them is due again.
    pub next_retry: Option<Instant>,
}

impl Waiting {
    fn add(&mut self, other: &Waiting) {
        self.greylisted += other.greylisted;
        self.rate_limited += other.rate_limited;
        self.deferred += other.deferred;
        self.next_retry = match (self.next_retry, other.next_retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    pub fn is_empty(&self) -> bool {
        self.greylisted + self.rate_limited + self.deferred == 0
    }
}

/// Each domain run's [`Waiting`], while it runs.
#[derive(Debug, Default)]
struct WaitBoard {
    next_id: AtomicU64,
    runs: Mutex<HashMap<u64, Waiting>>,
}

/// A domain run's row on the board, removed when the run ends (however it ends).
struct WaitRow<'a> {
    board: &'a WaitBoard,
    id: u64,
}

impl WaitRow<'_> {
    fn set(&self, w: Waiting) {
        if let Ok(mut runs) = self.board.runs.lock() {
            runs.insert(self.id, w);
        }
    }
}

impl Drop for WaitRow<'_> {
    fn drop(&mut self) {
        if let Ok(mut runs) = self.board.runs.lock() {
            runs.remove(&self.id);
        }
    }
}

impl WaitBoard {
    fn row(&self) -> WaitRow<'_> {
        WaitRow {
            board: self,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// The addresses of `run` waiting for a retry, by why; `paused_until`: the provider's budget
/// is paused, so the queued ones wait on a rate limit too.
fn waiting_of(run: &RunState, paused_until: Option<Instant>) -> Waiting {
    let mut w = Waiting::default();
    for (at, p) in &run.waiting {
        match p.last.as_ref().map(|(r, _)| *r) {
            Some(Reason::Greylisted) => w.greylisted += 1,
            Some(Reason::RateLimited) => w.rate_limited += 1,
            _ => w.deferred += 1,
        }
        w.next_retry = Some(w.next_retry.map_or(*at, |n| n.min(*at)));
    }
    if let Some(until) = paused_until {
        w.rate_limited += run.pending.len() as u64;
        w.next_retry = Some(w.next_retry.map_or(until, |n| n.min(until)));
    }
    w
}

pub struct Engine {
    dns: Dns,
    waits: WaitBoard,
    cfg: Config,
    pub budgets: Arc<Budgets>,
    domains: Mutex<HashMap<String, Arc<OnceCell<Arc<DomainInfo>>>>>,
    /// Results already decided in this run, by normalised address: a duplicate in a later
    /// batch is answered from here, not probed again (at most [`MAX_REMEMBERED`]).
    decided: Mutex<HashMap<String, Arc<VerifyResult>>>,
    domain_slots: Arc<Semaphore>,
    sessions: AtomicU64,
    rcpts: AtomicU64,
    dns_domains: AtomicU64,
    /// Every SMTP connection goes through this SOCKS5 proxy (`--proxy`): the run's one egress.
    proxy: Option<Proxy>,
    /// The proxy's first failure: the egress is broken, so the addresses it kept from their
    /// servers are not decided (never blamed on the recipient); the caller stops the run.
    proxy_failure: Mutex<Option<ProxyError>>,
    /// A politeness budget shared with other processes (a cluster), on top of `budgets`.
    shared: Option<Arc<dyn SharedBudget>>,
    /// The shared budget's coordinator could not be reached: like a proxy failure, the
    /// addresses waiting are left undecided and the caller stops.
    shared_failure: Mutex<Option<String>>,
}

/// An address waiting for a verdict, with every input line that normalised to it.
#[derive(Debug, Clone)]
struct Pending {
    target: Target,
    inputs: Vec<(u64, String, Vec<String>)>,
    attempts: u32,
    /// Times a `452 4.5.3` (too many recipients) sent it back to the queue.
    too_many: u32,
    last: Option<(Reason, Option<DecidingReply>)>,
    transcript: Vec<String>,
    /// Left unresolved at the deadline while waiting for a retry (greylisting) or for a
    /// throttling provider: when asking again makes sense (the result's `retry_after_s`).
    retry_at: Option<Instant>,
}

/// Decided results remembered for duplicates in later batches: enough for most lists, and a
/// bound on memory for the rest (a duplicate beyond it is probed again, never wrong).
const MAX_REMEMBERED: usize = 200_000;

/// `452 4.5.3` requeues per address before it is given up as unknown: a server that takes
/// no recipient at all would otherwise be asked forever (RSET, MAIL, RCPT, 452, ...).
const MAX_TOO_MANY_REQUEUES: u32 = 2;

/// How a session ended, for the budget and the host choice.
enum SessionEnd {
    /// Worked through the queue (or stopped to wait for retries).
    Done,
    /// 421 or 4.7.x throttling: slow down, try again.
    Throttled(Reason, Option<Duration>),
    /// The connection broke mid-session.
    Dropped,
    /// This host cannot be used now (refused, unreachable, silent, 5xx greeting).
    HostDown(Reason, Option<DecidingReply>),
    /// The SOCKS5 proxy failed: nothing is known about the host; the domain's addresses are
    /// dropped undecided (see [`Engine::proxy_failure`]).
    ProxyFailed,
}

/// One domain being verified: what never changes during the run, and the state its lanes
/// (concurrent sessions) share.
struct DomainRun {
    domain: String,
    hosts: Vec<MxHost>,
    source: Option<IpAddr>,
    started: Instant,
    deadline: Instant,
    st: Mutex<RunState>,
    /// Wakes the driver: catch-all settled or a session ended (another lane may be due).
    wake: tokio::sync::Notify,
}

/// The shared part, locked briefly (never across an await).
struct RunState {
    pending: VecDeque<Pending>,
    waiting: Vec<(Instant, Pending)>,
    catch_all: Option<bool>,
    catch_all_tries: u32,
    cap: Option<usize>,
    /// Per host: consecutive failures, and why it is considered down.
    strikes: Vec<u32>,
    down: Vec<Option<(Reason, Option<DecidingReply>)>>,
    /// No more sessions: every host down, the deadline reached or the proxy failed.
    over: bool,
    /// A lane was added and no session has been greeted since: the next waits (slow start,
    /// so a server that takes fewer sessions than the budget refuses one, not several).
    opening: bool,
}

impl DomainRun {
    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        match self.st.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// The host to use next: by preference order, fewest recent strikes, not down.
fn preferred_host(st: &RunState) -> Option<usize> {
    (0..st.down.len())
        .filter(|i| st.down[*i].is_none())
        .min_by_key(|i| (st.strikes[*i], *i))
}

/// Queued addresses that justify one more session for a domain: fewer ride along in the
/// sessions already open (one pipelined transaction's worth).
const LANE_MIN_ADDRESSES: usize = 25;

impl Engine {
    pub fn new(dns: Dns, cfg: Config) -> Engine {
        let budgets = Arc::new(Budgets::new(cfg.budget));
        Engine::sharing(dns, cfg, budgets)
    }

    /// An engine whose providers' budgets are shared with other engines: `serve` runs one
    /// per request (each with its own deadline) under one politeness for the whole server.
    pub fn sharing(dns: Dns, cfg: Config, budgets: Arc<Budgets>) -> Engine {
        Engine {
            dns,
            budgets,
            domain_slots: Arc::new(Semaphore::new(cfg.domain_concurrency.max(1))),
            cfg,
            domains: Mutex::new(HashMap::new()),
            decided: Mutex::new(HashMap::new()),
            waits: WaitBoard::default(),
            sessions: AtomicU64::new(0),
            rcpts: AtomicU64::new(0),
            dns_domains: AtomicU64::new(0),
            proxy: None,
            proxy_failure: Mutex::new(None),
            shared: None,
            shared_failure: Mutex::new(None),
        }
    }

    /// Takes every session slot from `shared` too (a cluster's one politeness per provider).
    pub fn with_shared_budget(mut self, shared: Arc<dyn SharedBudget>) -> Engine {
        self.shared = Some(shared);
        self
    }

    /// Why the shared budget could not be used, once that happened.
    pub fn shared_failure(&self) -> Option<String> {
        self.shared_failure.lock().ok().and_then(|f| f.clone())
    }

    /// Connects through a SOCKS5 proxy. Budgets need no other key: they are per provider for
    /// this engine, and all its connections leave through the proxy, so each budget is the
    /// politeness of that one egress towards that provider (what the provider sees).
    pub fn with_proxy(mut self, proxy: Proxy) -> Engine {
        self.proxy = Some(proxy);
        self
    }

    /// The proxy's failure, once one happened: the run's remaining addresses were left
    /// undecided and the run should end as an environment error.
    pub fn proxy_failure(&self) -> Option<ProxyError> {
        self.proxy_failure.lock().ok().and_then(|f| f.clone())
    }

    /// What the addresses in flight are waiting on, summed over every domain.
    pub fn waiting(&self) -> Waiting {
        let mut total = Waiting::default();
        if let Ok(runs) = self.waits.runs.lock() {
            for w in runs.values() {
                total.add(w);
            }
        }
        total
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            sessions: self.sessions.load(Ordering::Relaxed),
            rcpts: self.rcpts.load(Ordering::Relaxed),
            dns_domains: self.dns_domains.load(Ordering::Relaxed),
        }
    }

    /// Verifies a batch; results go to `out` as they are decided. Duplicates (after
    /// normalisation) are probed once and reported for every input line.
    pub async fn verify_batch(self: &Arc<Self>, items: Vec<Item>, out: mpsc::Sender<Decided>) {
        let mut by_domain: HashMap<String, Vec<Pending>> = HashMap::new();
        // Normalised address -> its place in its domain's list: linear de-duplication.
        let mut seen: HashMap<String, usize> = HashMap::new();
        for item in items {
            // Answered without a probe: not an address, or decided earlier in this run.
            let early = match parse_target(&item.input).and_then(require_local) {
                Err(e) => {
                    let (verdict, reason) = decide(&Facts::BadSyntax, Context::default());
                    Break(self.immediate(&item.input, None, verdict, reason, Some(e.to_string())))
                }
                Ok(t) => {
                    let key = t.normalized();
                    match self.remembered(&key) {
                        Some(done) => {
                            let mut r = (*done).clone();
                            r.address = item.input.clone();
                            Break(r)
                        }
                        None => Continue((t, key)),
                    }
                }
            };
            let (target, key) = match early {
                Continue(found) => found,
                Break(mut r) => {
                    r.input_row = item.row;
                    let _ = out
                        .send(Decided {
                            index: item.index,
                            result: r,
                            resumed: false,
                        })
                        .await;
                    continue;
                }
            };
            let list = by_domain
                .entry(target.domain_ascii.to_string())
                .or_default();
            match seen.get(&key) {
                Some(&i) => list[i].inputs.push((item.index, item.input, item.row)),
                None => {
                    seen.insert(key, list.len());
                    list.push(Pending {
                        target,
                        inputs: vec![(item.index, item.input, item.row)],
                        attempts: 0,
                        too_many: 0,
                        last: None,
                        transcript: Vec::new(),
                        retry_at: None,
                    });
                }
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (domain, pending) in by_domain {
            let Ok(slot) = self.domain_slots.clone().acquire_owned().await else {
                break;
            };
            let (me, out) = (self.clone(), out.clone());
            tasks.spawn(async move {
                me.run_domain(domain, pending, &out).await;
                drop(slot);
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    fn immediate(
        &self,
        input: &str,
        target: Option<&Target>,
        verdict: Verdict,
        reason: Reason,
        text: Option<String>,
    ) -> VerifyResult {
        VerifyResult {
            address: input.to_string(),
            normalized: target.map_or_else(|| input.trim().to_string(), Target::normalized),
            verdict,
            reason,
            reply: text.map(|t| DecidingReply {
                code: 0,
                enhanced_code: None,
                text: t,
                mx_host: String::new(),
                egress: None,
            }),
            catch_all: None,
            retry_after_s: None,
            provider: None,
            disposable: target.is_some_and(|t| lists::is_disposable(&t.domain_ascii)),
            role_account: target
                .and_then(|t| t.local.as_deref())
                .is_some_and(lists::is_role),
            free_provider: target.is_some_and(|t| lists::is_free_provider(&t.domain_ascii)),
            suggestion: target
                .and_then(|t| suggest_domain(&t.domain_ascii))
                .map(|d| {
                    format!(
                        "{}@{d}",
                        target.and_then(|t| t.local.clone()).unwrap_or_default()
                    )
                }),
            attempts: 0,
            elapsed_ms: 0,
            transcript: Vec::new(),
            input_row: Vec::new(),
        }
    }

    /// Reports `p` (every input line that normalised to it) with the verdict its facts decide.
    async fn emit(
        &self,
        run: &DomainRun,
        p: Pending,
        facts: Facts,
        reply: Option<DecidingReply>,
        out: &mpsc::Sender<Decided>,
    ) {
        let catch_all = run.lock().catch_all;
        let ctx = Context {
            catch_all,
            disposable: lists::is_disposable(&p.target.domain_ascii),
        };
        let (verdict, reason) = decide(&facts, ctx);
        let mut base = self.immediate("", Some(&p.target), verdict, reason, None);
        // No reply decided it (a timeout, a refused connection): the reason in words.
        base.reply = reply.or_else(|| {
            Some(DecidingReply {
                code: 0,
                enhanced_code: None,
                text: reason.describe().to_string(),
                mx_host: String::new(),
                egress: None,
            })
        });
        base.catch_all = catch_all;
        base.attempts = p.attempts;
        if verdict == Verdict::Unknown {
            base.retry_after_s = p.retry_at.map(|t| {
                t.saturating_duration_since(Instant::now())
                    .as_millis()
                    .div_ceil(1000)
                    .max(1) as u64
            });
        }
        base.elapsed_ms = run.started.elapsed().as_millis() as u64;
        if self.cfg.transcript {
            base.transcript = p.transcript.clone();
        }
        // What the provider table knows about the deciding host (docs/providers.md).
        crate::providers::apply(crate::providers::global(), &mut base);
        // A result that says "ask again later" is not an answer for a later duplicate (nor for
        // a cluster worker asking again at the retry time).
        if base.retry_after_s.is_none() {
            self.remember(&p.target.normalized(), &base);
        }
        for (index, input, row) in p.inputs {
            let mut r = base.clone();
            r.address = input;
            r.input_row = row;
            let _ = out
                .send(Decided {
                    index,
                    result: r,
                    resumed: false,
                })
                .await;
        }
    }

    fn remembered(&self, key: &str) -> Option<Arc<VerifyResult>> {
        let map = match self.decided.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.get(key).cloned()
    }

    fn remember(&self, key: &str, r: &VerifyResult) {
        let mut map = match self.decided.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if map.len() < MAX_REMEMBERED {
            map.insert(key.to_string(), Arc::new(r.clone()));
        }
    }

    async fn resolve(&self, domain: &str) -> Arc<DomainInfo> {
        let cell = {
            let mut map = match self.domains.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            map.entry(domain.to_string()).or_default().clone()
        };
        cell.get_or_init(|| async {
            self.dns_domains.fetch_add(1, Ordering::Relaxed);
            Arc::new(self.lookup(domain).await)
        })
        .await
        .clone()
    }

    async fn lookup(&self, domain: &str) -> DomainInfo {
        let res = resolve_mx(&self.dns, &DomainName::from_dns(domain), MAX_EXCHANGES).await;
        let dns_fail = |what: &str| {
            DomainInfo::Fail(
                DomainFailure::Transient,
                format!("MX lookup for {domain}: {what}"),
            )
        };
        match &res.plan {
            MxPlan::NxDomain => {
                return DomainInfo::Fail(
                    DomainFailure::NxDomain,
                    format!("{domain} does not exist (NXDOMAIN)"),
                );
            }
            MxPlan::Failed { outcome } => {
                return dns_fail(match outcome {
                    DnsOutcome::ServFail => "SERVFAIL",
                    DnsOutcome::Refused => "REFUSED",
                    DnsOutcome::Timeout => "timeout",
                    DnsOutcome::Error(e) => e.as_str(),
                    DnsOutcome::Answer | DnsOutcome::NoData | DnsOutcome::NxDomain => "failed",
                });
            }
            MxPlan::Null => {
                return DomainInfo::Fail(
                    DomainFailure::NullMx,
                    format!("{domain} publishes a null MX (RFC 7505)"),
                );
            }
            MxPlan::Exchanges { .. } | MxPlan::Implicit => {}
        }
        let hosts: Vec<MxHost> = res
            .targets
            .iter()
            .map(|t| MxHost {
                name: t.name.to_string(),
                addrs: t.addrs(),
            })
            .filter(|h| !h.addrs.is_empty())
            .collect();
        if hosts.is_empty() {
            return if res.addr_lookup_failed() {
                dns_fail("the MX hosts' addresses could not be resolved")
            } else {
                DomainInfo::Fail(
                    DomainFailure::NoMxHost,
                    format!("{domain} has no MX host with an address"),
                )
            };
        }
        DomainInfo::Hosts(hosts)
    }

    async fn run_domain(&self, domain: String, pending: Vec<Pending>, out: &mpsc::Sender<Decided>) {
        let started = Instant::now();
        let (hosts, failure) = match &*self.resolve(&domain).await {
            DomainInfo::Fail(failure, text) => (Vec::new(), Some((*failure, text.clone()))),
            DomainInfo::Hosts(h) => (h.clone(), None),
        };
        let run = DomainRun {
            source: self.source_for(&domain),
            domain,
            started,
            deadline: started + self.cfg.deadline,
            wake: tokio::sync::Notify::new(),
            st: Mutex::new(RunState {
                pending: pending.into(),
                waiting: Vec::new(),
                catch_all: None,
                catch_all_tries: 0,
                cap: None,
                strikes: vec![0; hosts.len()],
                down: vec![None; hosts.len()],
                over: false,
                opening: false,
            }),
            hosts,
        };
        if let Some((failure, text)) = failure {
            let all: Vec<Pending> = run.lock().pending.drain(..).collect();
            for p in all {
                let reply = Some(DecidingReply {
                    code: 0,
                    enhanced_code: None,
                    text: text.clone(),
                    mx_host: String::new(),
                    egress: None,
                });
                self.emit(&run, p, Facts::Domain(failure), reply, out).await;
            }
            return;
        }
        let row = self.waits.row();
        // Sessions of this domain running at once (lanes), each taking addresses from the
        // shared queue; more are opened while the queue is long and the provider's budget
        // has room (see `lanes_wanted`).
        let mut lanes = FuturesUnordered::new();
        loop {
            let (spawn, next_due, over) = {
                let mut st = run.lock();
                let now = Instant::now();
                let (due, later): (Vec<_>, Vec<_>) =
                    st.waiting.drain(..).partition(|(t, _)| *t <= now);
                st.waiting = later;
                st.pending.extend(due.into_iter().map(|(_, p)| p));
                row.set(waiting_of(&st, None));
                let next_due = st.waiting.iter().map(|(t, _)| *t).min();
                // One lane more at a time, each once the last was greeted.
                let spawn =
                    self.lanes_wanted(&run, &st) > lanes.len() && (lanes.is_empty() || !st.opening);
                if spawn {
                    st.opening = true;
                }
                (spawn, next_due, st.over)
            };
            if over {
                break;
            }
            if spawn {
                lanes.push(self.lane(&run, &row, out));
            }
            if lanes.is_empty() {
                // Nothing queued: wait for the next retry, unless it comes after the deadline.
                match next_due {
                    Some(t) if t <= run.deadline => {
                        tokio::time::sleep_until(t.into()).await;
                        continue;
                    }
                    _ => break,
                }
            }
            // Look again when a lane ends, a retry falls due, or a lane signals (catch-all
            // settled, a session ended: the budget may allow another lane).
            let retry = next_due.unwrap_or(run.deadline).min(run.deadline);
            tokio::select! {
                _ = lanes.next() => {}
                _ = tokio::time::sleep_until(retry.into()), if next_due.is_some() => {}
                _ = run.wake.notified() => {}
            }
        }
        while lanes.next().await.is_some() {}
        // Whatever is left is unresolved: unknown, with the last reason seen.
        let paused = run
            .hosts
            .iter()
            .filter_map(|h| self.budgets.for_host(&h.name).paused_until())
            .max();
        let (rest, hosts_down) = {
            let mut st = run.lock();
            let hosts_down = st.down.iter().flatten().next().cloned();
            // A provider still throttling us: its queued addresses may be asked when it resumes.
            let mut rest: Vec<Pending> = st
                .pending
                .drain(..)
                .map(|mut p| {
                    p.retry_at = paused;
                    p
                })
                .collect();
            rest.extend(st.waiting.drain(..).map(|(due, mut p)| {
                p.retry_at = Some(due);
                p
            }));
            (rest, hosts_down)
        };
        if self.proxy_failure().is_some() || self.shared_failure().is_some() {
            // The egress broke: nothing is known about these addresses (the run ends as an
            // environment error; a rerun through a working proxy asks them).
            return;
        }
        for p in rest {
            // The reply shown is the one behind the reason `decide` picks: the address's
            // last, else the one that took the hosts down.
            let reply = match &p.last {
                Some((_, reply)) => reply.clone(),
                None => hosts_down.as_ref().and_then(|(_, reply)| reply.clone()),
            };
            let facts = Facts::Unresolved {
                last: p.last.as_ref().map(|(r, _)| *r),
                hosts_down: hosts_down.as_ref().map(|(r, _)| *r),
            };
            self.emit(&run, p, facts, reply, out).await;
        }
    }

    /// How many sessions the domain should have open: one until catch-all detection has
    /// settled (an accepted RCPT means nothing before it), then one per
    /// [`LANE_MIN_ADDRESSES`] queued addresses, at most the provider budget's current limit
    /// (it shrinks under throttling) and `--sessions-per-domain`.
    fn lanes_wanted(&self, run: &DomainRun, st: &RunState) -> usize {
        if st.over || st.pending.is_empty() {
            return 0;
        }
        let settled =
            !self.cfg.detect_catch_all || st.catch_all.is_some() || st.catch_all_tries >= 2;
        let Some(h) = preferred_host(st) else {
            return 1;
        };
        if !settled {
            return 1;
        }
        let limit = self.budgets.for_host(&run.hosts[h].name).limit();
        let per_domain = match self.cfg.sessions_per_domain {
            0 => usize::MAX,
            n => n,
        };
        st.pending
            .len()
            .div_ceil(LANE_MIN_ADDRESSES)
            .min(limit)
            .min(per_domain)
            .max(1)
    }

    /// One lane: sessions, one after another, while the domain's queue holds addresses.
    async fn lane(&self, run: &DomainRun, row: &WaitRow<'_>, out: &mpsc::Sender<Decided>) {
        loop {
            let h = {
                let mut st = run.lock();
                if st.over || st.pending.is_empty() {
                    return;
                }
                if Instant::now() >= run.deadline {
                    st.over = true;
                    return;
                }
                // By preference, but a host that just throttled or dropped us yields to the
                // next one (RFC 5321 5.1: try the other MX hosts) until it has fewer strikes.
                match preferred_host(&st) {
                    Some(h) => h,
                    None => {
                        st.over = true;
                        return;
                    }
                }
            };
            let host = &run.hosts[h];
            let budget = self.budgets.for_host(&host.name);
            row.set(waiting_of(&run.lock(), budget.paused_until()));
            // The budget may be paused for a throttling provider: never past the deadline.
            let Ok(permit) = tokio::time::timeout_at(run.deadline.into(), budget.acquire()).await
            else {
                // No slot before the deadline: the provider was throttling us (or busy).
                let why = if budget.stats().throttled > 0 {
                    Reason::RateLimited
                } else {
                    Reason::Timeout
                };
                let mut st = run.lock();
                for p in st.pending.iter_mut() {
                    p.last.get_or_insert((why, None));
                }
                st.over = true;
                return;
            };
            // The cluster's slot for this provider, on top of this egress's own.
            let lease = match &self.shared {
                None => None,
                Some(shared) => {
                    match tokio::time::timeout_at(run.deadline.into(), shared.acquire(&host.name))
                        .await
                    {
                        Ok(Ok(lease)) => Some(lease),
                        Ok(Err(why)) => {
                            if let Ok(mut f) = self.shared_failure.lock() {
                                f.get_or_insert(why);
                            }
                            run.lock().over = true;
                            return;
                        }
                        Err(_) => {
                            let mut st = run.lock();
                            for p in st.pending.iter_mut() {
                                p.last.get_or_insert((Reason::RateLimited, None));
                            }
                            st.over = true;
                            return;
                        }
                    }
                }
            };
            // Other lanes may have emptied the queue while this one waited for its slot.
            if run.lock().pending.is_empty() {
                return;
            }
            let end = self.session(host, run, out).await;
            drop(permit);
            drop(lease);
            if let Some(shared) = &self.shared {
                match &end {
                    SessionEnd::Done => shared.success(&host.name).await,
                    SessionEnd::Throttled(_, hint) => shared.throttled(&host.name, *hint).await,
                    SessionEnd::Dropped => shared.throttled(&host.name, None).await,
                    SessionEnd::HostDown(..) | SessionEnd::ProxyFailed => {}
                }
            }
            {
                let mut st = run.lock();
                st.opening = false;
                match end {
                    SessionEnd::Done => {
                        budget.success();
                        st.strikes[h] = 0;
                    }
                    SessionEnd::Throttled(reason, hint) => {
                        budget.throttled(hint);
                        st.strikes[h] += 1;
                        for p in st.pending.iter_mut() {
                            p.last.get_or_insert((reason, None));
                        }
                        if st.strikes[h] >= 4 {
                            st.down[h] = Some((reason, None));
                        }
                    }
                    SessionEnd::Dropped => {
                        budget.throttled(None);
                        st.strikes[h] += 1;
                        for p in st.pending.iter_mut() {
                            p.last.get_or_insert((Reason::ServerUnavailable, None));
                        }
                        if st.strikes[h] >= 3 {
                            st.down[h] = Some((Reason::ServerUnavailable, None));
                        }
                    }
                    SessionEnd::HostDown(reason, reply) => st.down[h] = Some((reason, reply)),
                    SessionEnd::ProxyFailed => {
                        st.over = true;
                    }
                }
            }
            run.wake.notify_one();
        }
    }

    fn source_for(&self, domain: &str) -> Option<IpAddr> {
        if self.cfg.source_ips.is_empty() {
            return None;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        domain.hash(&mut h);
        Some(self.cfg.source_ips[(h.finish() % self.cfg.source_ips.len() as u64) as usize])
    }

    /// One SMTP session with `host`: as many queued addresses as it will take.
    async fn session(
        &self,
        host: &MxHost,
        run: &DomainRun,
        out: &mpsc::Sender<Decided>,
    ) -> SessionEnd {
        let mut last_err = SessionEnd::HostDown(Reason::ConnectionFailed, None);
        let mut session = None;
        for addr in &host.addrs {
            if self.proxy_failure().is_some() {
                return SessionEnd::ProxyFailed;
            }
            let peer = SocketAddr::new(*addr, self.cfg.smtp_port);
            let connect = Session::connect_via(
                peer,
                Some(&host.name),
                run.source,
                self.proxy.as_ref(),
                self.cfg.timeout,
                &self.cfg.policy,
            );
            match connect.await {
                Ok(s) => {
                    session = Some(s);
                    break;
                }
                Err(ConnectError::Proxy(e)) => {
                    if let Ok(mut f) = self.proxy_failure.lock() {
                        f.get_or_insert(e);
                    }
                    return SessionEnd::ProxyFailed;
                }
                Err(ConnectError::Target(SmtpError::Timeout(_))) => {
                    last_err = SessionEnd::HostDown(Reason::Timeout, None)
                }
                Err(ConnectError::Target(SmtpError::NotAllowed(_))) => {
                    last_err = SessionEnd::HostDown(Reason::PrivateAddress, None)
                }
                Err(_) => last_err = SessionEnd::HostDown(Reason::ConnectionFailed, None),
            }
        }
        let Some(mut s) = session else {
            return last_err;
        };
        self.sessions.fetch_add(1, Ordering::Relaxed);
        let end = self.converse(&mut s, host, run, out).await;
        s.quit().await;
        end
    }

    fn deciding(&self, r: &Reply, host: &MxHost, s: &Session) -> DecidingReply {
        let e = explain(&r.raw()).ok();
        let egress = match &self.proxy {
            Some(p) => Some(p.to_string()),
            None => s.local_addr().map(|a| a.ip().to_string()),
        };
        DecidingReply {
            code: r.code,
            enhanced_code: e
                .as_ref()
                .and_then(|e| e.enhanced_code)
                .map(|c| c.to_string()),
            text: e.map_or_else(|| r.lines.join(" "), |e| e.text),
            mx_host: host.name.clone(),
            egress,
        }
    }

    async fn converse(
        &self,
        s: &mut Session,
        host: &MxHost,
        run: &DomainRun,
        out: &mpsc::Sender<Decided>,
    ) -> SessionEnd {
        let deadline = run.started + self.cfg.deadline;
        let banner = match s.read_reply(self.cfg.greeting_wait).await {
            Ok(r) => r,
            Err(SmtpError::Timeout(_)) => return SessionEnd::HostDown(Reason::Timeout, None),
            Err(e) => return lost(&e),
        };
        if banner.code >= 400 {
            let reply = Some(self.deciding(&banner, host, s));
            if banner.code < 500 {
                let hint = retry_hint(&banner.lines.join(" "));
                let throttled = matches!(
                    classify_rcpt(&banner),
                    Outcome::SessionClosing(Reason::RateLimited)
                );
                for p in run.lock().pending.iter_mut() {
                    p.last = Some((
                        if throttled {
                            Reason::RateLimited
                        } else {
                            Reason::ServerUnavailable
                        },
                        reply.clone(),
                    ));
                }
                return SessionEnd::Throttled(
                    if throttled {
                        Reason::RateLimited
                    } else {
                        Reason::ServerUnavailable
                    },
                    hint,
                );
            }
            return SessionEnd::HostDown(Reason::BlockedByRecipient, reply);
        }
        // Greeted: the driver may add the next lane (slow start).
        run.lock().opening = false;
        run.wake.notify_one();
        let ehlo = match s.command(&format!("EHLO {}", self.cfg.helo)).await {
            Ok(r) => r,
            Err(e) => return lost(&e),
        };
        let mut tls_offered = false;
        let mut pipelining = false;
        if ehlo.code == 421 {
            return SessionEnd::Throttled(Reason::ServerUnavailable, None);
        }
        if ehlo.is_positive() {
            let caps = capabilities(&ehlo);
            tls_offered = caps.iter().any(|(k, _)| k == "STARTTLS");
            pipelining = caps.iter().any(|(k, _)| k == "PIPELINING");
        } else {
            match s.command(&format!("HELO {}", self.cfg.helo)).await {
                Ok(r) if r.is_positive() => {}
                Ok(r) if r.code == 421 => {
                    return SessionEnd::Throttled(Reason::ServerUnavailable, None);
                }
                Ok(r) => {
                    return SessionEnd::HostDown(
                        Reason::Rejected,
                        Some(self.deciding(&r, host, s)),
                    );
                }
                Err(e) => return lost(&e),
            }
        }
        let mut tls_done = false;
        'transaction: loop {
            // The deadline holds inside a session too: checked before every command.
            if Instant::now() >= deadline {
                return SessionEnd::Done;
            }
            // MAIL FROM opens a transaction; a server that insists on TLS gets it once.
            let mail = match s.command(&format!("MAIL FROM:<{}>", self.cfg.from)).await {
                Ok(r) => r,
                Err(e) => return lost(&e),
            };
            if !mail.is_positive() {
                let outcome = classify_rcpt(&mail);
                match outcome {
                    Outcome::Final(_, Reason::TlsRequired)
                    | Outcome::Retry(Reason::TlsRequired, _)
                        if tls_offered && !tls_done =>
                    {
                        tls_done = true;
                        match s.command("STARTTLS").await {
                            Ok(r) if r.code == 220 => {}
                            _ => {
                                return SessionEnd::HostDown(
                                    Reason::TlsRequired,
                                    Some(self.deciding(&mail, host, s)),
                                );
                            }
                        }
                        let obs = s.upgrade_tls(&host.name, &self.cfg.tls).await;
                        if obs.handshake_error.is_some() {
                            return SessionEnd::HostDown(
                                Reason::TlsRequired,
                                Some(self.deciding(&mail, host, s)),
                            );
                        }
                        match s.command(&format!("EHLO {}", self.cfg.helo)).await {
                            Ok(r) if r.is_positive() => continue 'transaction,
                            Err(e) => return lost(&e),
                            Ok(_) => return SessionEnd::Dropped,
                        }
                    }
                    Outcome::Final(_, reason) => {
                        // The sender is refused: nothing can be learned about any address here.
                        let reply = Some(self.deciding(&mail, host, s));
                        let all: Vec<Pending> = run.lock().pending.drain(..).collect();
                        for p in all {
                            let facts = Facts::SenderRefused(reason);
                            self.emit(run, p, facts, reply.clone(), out).await;
                        }
                        return SessionEnd::Done;
                    }
                    Outcome::SessionClosing(r) => return SessionEnd::Throttled(r, None),
                    Outcome::Retry(r, hint) => {
                        let reply = Some(self.deciding(&mail, host, s));
                        for p in run.lock().pending.iter_mut() {
                            p.last = Some((r, reply.clone()));
                        }
                        return SessionEnd::Throttled(r, hint);
                    }
                    _ => return SessionEnd::Dropped,
                }
            }
            let mut in_txn = 0usize;
            // RCPTs of this transaction the server answered other than `452 4.5.3`.
            let mut answered = 0usize;
            let probe_catch_all = {
                let mut st = run.lock();
                let due = st.catch_all.is_none() && st.catch_all_tries < 2;
                if due && self.cfg.detect_catch_all {
                    st.catch_all_tries += 1;
                }
                due && self.cfg.detect_catch_all
            };
            if probe_catch_all {
                let probe = format!("RCPT TO:<{}@{}>", random_local(&run.domain), run.domain);
                match s.command(&probe).await {
                    Ok(r) => {
                        self.rcpts.fetch_add(1, Ordering::Relaxed);
                        in_txn += 1;
                        match classify_rcpt(&r) {
                            Outcome::Accepted => run.lock().catch_all = Some(true),
                            Outcome::Final(Verdict::Undeliverable, _) => {
                                run.lock().catch_all = Some(false)
                            }
                            Outcome::SessionClosing(reason) => {
                                return SessionEnd::Throttled(reason, None);
                            }
                            _ => {}
                        }
                    }
                    Err(e) => return lost(&e),
                }
                // Settled or not, the driver may now open more lanes.
                run.wake.notify_one();
            }
            loop {
                let cap = run
                    .lock()
                    .cap
                    .unwrap_or(self.cfg.rcpt_per_transaction)
                    .max(1);
                if Instant::now() >= deadline {
                    return SessionEnd::Done;
                }
                if in_txn >= cap {
                    match s.command("RSET").await {
                        Ok(r) if r.is_positive() => continue 'transaction,
                        Err(e) => return lost(&e),
                        Ok(_) => return SessionEnd::Dropped,
                    }
                }
                // With PIPELINING (RFC 2920) a whole batch of RCPTs costs one round trip;
                // without it, one at a time.
                let room = cap.saturating_sub(in_txn).max(1);
                let mut batch: VecDeque<Pending> = {
                    let mut st = run.lock();
                    let n = (if pipelining { room } else { 1 }).min(st.pending.len());
                    st.pending.drain(..n).collect()
                };
                if batch.is_empty() {
                    return SessionEnd::Done;
                }
                let cmds: Vec<String> = batch
                    .iter()
                    .map(|p| format!("RCPT TO:<{}>", p.target.normalized()))
                    .collect();
                if let Err(e) = s.send_all(&cmds).await {
                    requeue(run, batch);
                    return lost(&e);
                }
                // Every reply of the batch is read before any is believed: a server that sent
                // more replies than commands has shifted them onto the wrong addresses.
                let mut results = Vec::with_capacity(batch.len());
                for _ in 0..batch.len() {
                    // A slow server cannot stretch the run past its deadline.
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    let before = s.transcript.len();
                    let result = s.read_reply(self.cfg.timeout.min(left)).await;
                    let failed = result.is_err();
                    results.push((result, before..s.transcript.len()));
                    if failed {
                        break;
                    }
                }
                if let Some(extra) = s.unsolicited() {
                    for p in batch.iter_mut() {
                        p.last = Some((Reason::ProtocolError, None));
                    }
                    requeue(run, batch);
                    return lost(&SmtpError::Unsolicited(extra));
                }
                let mut results = results.into_iter();
                let mut ending: Option<SessionEnd> = None;
                while let Some(mut p) = batch.pop_front() {
                    let Some((result, lines)) = results.next() else {
                        // The deadline came before its reply: unresolved, for the run to end.
                        p.last.get_or_insert((Reason::Timeout, None));
                        batch.push_front(p);
                        ending.get_or_insert(SessionEnd::Done);
                        break;
                    };
                    p.attempts += 1;
                    if self.cfg.transcript {
                        p.transcript.push(format!(
                            "{} C: RCPT TO:<{}>",
                            host.name,
                            p.target.normalized()
                        ));
                        p.transcript.extend(
                            s.transcript[lines]
                                .iter()
                                .map(|t| format!("{} {}: {}", host.name, t.dir, t.line)),
                        );
                    }
                    let r = match result {
                        Ok(r) => r,
                        Err(_) => {
                            p.last.get_or_insert((Reason::ServerUnavailable, None));
                            batch.push_front(p);
                            ending = Some(SessionEnd::Dropped);
                            break;
                        }
                    };
                    self.rcpts.fetch_add(1, Ordering::Relaxed);
                    in_txn += 1;
                    let reply = Some(self.deciding(&r, host, s));
                    let outcome = classify_rcpt(&r);
                    if outcome != Outcome::TooManyRecipients {
                        answered += 1;
                    }
                    match outcome {
                        decided @ (Outcome::Accepted | Outcome::Final(..)) => {
                            self.emit(run, p, Facts::Rcpt(decided), reply, out).await;
                        }
                        Outcome::TooManyRecipients if p.too_many >= MAX_TOO_MANY_REQUEUES => {
                            let facts = Facts::Rcpt(Outcome::TooManyRecipients);
                            self.emit(run, p, facts, reply, out).await;
                            in_txn = usize::MAX / 2;
                        }
                        Outcome::TooManyRecipients => {
                            // Learn the server's cap: what it took in this transaction.
                            let mut st = run.lock();
                            if st.cap.is_none() || in_txn <= cap {
                                st.cap = Some(in_txn.saturating_sub(1).max(1));
                            }
                            p.attempts -= 1;
                            p.too_many += 1;
                            p.last = Some((Reason::Deferred, reply));
                            st.pending.push_front(p);
                            in_txn = usize::MAX / 2;
                            if answered == 0 && ending.is_none() {
                                // Not one recipient taken in this transaction: the session
                                // is spent (a per-session cap); a new one may take more.
                                ending = Some(SessionEnd::Done);
                            }
                        }
                        Outcome::SessionClosing(why) => {
                            p.last = Some((why, reply));
                            batch.push_front(p);
                            ending = Some(SessionEnd::Throttled(why, None));
                            break;
                        }
                        Outcome::Retry(why, hint) => {
                            let delay = hint.unwrap_or_else(|| {
                                self.cfg.greylist_retry
                                    * 2u32.saturating_pow(p.attempts.saturating_sub(1).min(6))
                            });
                            p.last = Some((why, reply));
                            run.lock().waiting.push((Instant::now() + delay, p));
                            if why == Reason::RateLimited && ending.is_none() {
                                // The server throttles us: finish reading this batch, then
                                // stop the session and let the budget slow down.
                                ending = Some(SessionEnd::Throttled(why, hint));
                            }
                        }
                    }
                }
                if let Some(end) = ending {
                    // Addresses whose replies were never read wait for another session.
                    requeue(run, batch);
                    return end;
                }
            }
        }
    }
}

/// How a session ends on a failed step: a server out of step with our commands (extra or
/// unsolicited replies) cannot be believed about any address, so the host is given up;
/// anything else is a dropped connection, retried.
fn lost(e: &SmtpError) -> SessionEnd {
    match e {
        SmtpError::Unsolicited(_) => SessionEnd::HostDown(Reason::ProtocolError, None),
        _ => SessionEnd::Dropped,
    }
}

/// Puts addresses taken for a batch back at the head of the domain's queue, in order.
fn requeue(run: &DomainRun, batch: VecDeque<Pending>) {
    let mut st = run.lock();
    for p in batch.into_iter().rev() {
        st.pending.push_front(p);
    }
}

/// The engine verifies mailboxes, not bare domains.
fn require_local(t: Target) -> Result<Target, mxray_core::address::AddressError> {
    if t.local.is_some() {
        Ok(t)
    } else {
        Err(mxray_core::address::AddressError::Address {
            input: t.input.clone(),
            why: "no local part: expected user@domain".into(),
        })
    }
}

/// An improbable local part for the catch-all probe, different per domain and per run.
fn random_local(domain: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    domain.hash(&mut h);
    std::time::SystemTime::now().hash(&mut h);
    std::process::id().hash(&mut h);
    format!("mxray-nx-{:016x}", h.finish())
}
