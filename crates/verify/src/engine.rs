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

use crate::budget::{BudgetLimits, Budgets};
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
fn waiting_of(run: &DomainRun, paused_until: Option<Instant>) -> Waiting {
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

struct DomainRun {
    domain: String,
    pending: VecDeque<Pending>,
    waiting: Vec<(Instant, Pending)>,
    catch_all: Option<bool>,
    catch_all_tries: u32,
    cap: Option<usize>,
    source: Option<IpAddr>,
    started: Instant,
}

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
        }
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
        let ctx = Context {
            catch_all: run.catch_all,
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
        base.catch_all = run.catch_all;
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
        self.remember(&p.target.normalized(), &base);
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
        let mut run = DomainRun {
            source: self.source_for(&domain),
            domain: domain.clone(),
            pending: pending.into(),
            waiting: Vec::new(),
            catch_all: None,
            catch_all_tries: 0,
            cap: None,
            started: Instant::now(),
        };
        let hosts = match &*self.resolve(&domain).await {
            DomainInfo::Fail(failure, text) => {
                while let Some(p) = run.pending.pop_front() {
                    let reply = Some(DecidingReply {
                        code: 0,
                        enhanced_code: None,
                        text: text.clone(),
                        mx_host: String::new(),
                        egress: None,
                    });
                    self.emit(&run, p, Facts::Domain(*failure), reply, out)
                        .await;
                }
                return;
            }
            DomainInfo::Hosts(h) => h.clone(),
        };
        let deadline = run.started + self.cfg.deadline;
        let row = self.waits.row();
        // Per host: consecutive failures, and why it is considered down.
        let mut strikes = vec![0u32; hosts.len()];
        let mut down: Vec<Option<(Reason, Option<DecidingReply>)>> = vec![None; hosts.len()];
        loop {
            let now = Instant::now();
            let (due, later): (Vec<_>, Vec<_>) =
                run.waiting.drain(..).partition(|(t, _)| *t <= now);
            run.waiting = later;
            run.pending.extend(due.into_iter().map(|(_, p)| p));
            row.set(waiting_of(&run, None));
            if run.pending.is_empty() {
                let Some(next) = run.waiting.iter().map(|(t, _)| *t).min() else {
                    break;
                };
                if next > deadline {
                    break;
                }
                tokio::time::sleep_until(next.into()).await;
                continue;
            }
            if now >= deadline {
                break;
            }
            // By preference, but a host that just throttled or dropped us yields to the next
            // one (RFC 5321 5.1: try the other MX hosts) until it has fewer strikes again.
            let Some(h) = (0..hosts.len())
                .filter(|i| down[*i].is_none())
                .min_by_key(|i| (strikes[*i], *i))
            else {
                break;
            };
            let host = &hosts[h];
            let budget = self.budgets.for_host(&host.name);
            row.set(waiting_of(&run, budget.paused_until()));
            // The budget may be paused for a throttling provider: never past the deadline.
            let Ok(permit) = tokio::time::timeout_at(deadline.into(), budget.acquire()).await
            else {
                // No slot before the deadline: the provider was throttling us (or busy).
                let why = if budget.stats().throttled > 0 {
                    Reason::RateLimited
                } else {
                    Reason::Timeout
                };
                for p in run.pending.iter_mut() {
                    p.last.get_or_insert((why, None));
                }
                break;
            };
            let end = self.session(host, &mut run, out).await;
            drop(permit);
            match end {
                SessionEnd::Done => {
                    budget.success();
                    strikes[h] = 0;
                }
                SessionEnd::Throttled(reason, hint) => {
                    budget.throttled(hint);
                    strikes[h] += 1;
                    for p in run.pending.iter_mut() {
                        p.last.get_or_insert((reason, None));
                    }
                    if strikes[h] >= 4 {
                        down[h] = Some((reason, None));
                    }
                }
                SessionEnd::Dropped => {
                    budget.throttled(None);
                    strikes[h] += 1;
                    for p in run.pending.iter_mut() {
                        p.last.get_or_insert((Reason::ServerUnavailable, None));
                    }
                    if strikes[h] >= 3 {
                        down[h] = Some((Reason::ServerUnavailable, None));
                    }
                }
                SessionEnd::HostDown(reason, reply) => down[h] = Some((reason, reply)),
                SessionEnd::ProxyFailed => {
                    run.pending.clear();
                    run.waiting.clear();
                    break;
                }
            }
        }
        // Whatever is left is unresolved: unknown, with the last reason seen.
        let hosts_down = down.iter().flatten().next().cloned();
        // A provider still throttling us: its queued addresses may be asked when it resumes.
        let paused = hosts
            .iter()
            .filter_map(|h| self.budgets.for_host(&h.name).paused_until())
            .max();
        let rest: Vec<Pending> = run
            .pending
            .drain(..)
            .map(|mut p| {
                p.retry_at = paused;
                p
            })
            .chain(run.waiting.drain(..).map(|(due, mut p)| {
                p.retry_at = Some(due);
                p
            }))
            .collect();
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
        run: &mut DomainRun,
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
        run: &mut DomainRun,
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
                for p in run.pending.iter_mut() {
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
                        while let Some(p) = run.pending.pop_front() {
                            let facts = Facts::SenderRefused(reason);
                            self.emit(run, p, facts, reply.clone(), out).await;
                        }
                        return SessionEnd::Done;
                    }
                    Outcome::SessionClosing(r) => return SessionEnd::Throttled(r, None),
                    Outcome::Retry(r, hint) => {
                        let reply = Some(self.deciding(&mail, host, s));
                        for p in run.pending.iter_mut() {
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
            if run.catch_all.is_none() && self.cfg.detect_catch_all && run.catch_all_tries < 2 {
                run.catch_all_tries += 1;
                let probe = format!("RCPT TO:<{}@{}>", random_local(&run.domain), run.domain);
                match s.command(&probe).await {
                    Ok(r) => {
                        self.rcpts.fetch_add(1, Ordering::Relaxed);
                        in_txn += 1;
                        match classify_rcpt(&r) {
                            Outcome::Accepted => run.catch_all = Some(true),
                            Outcome::Final(Verdict::Undeliverable, _) => {
                                run.catch_all = Some(false)
                            }
                            Outcome::SessionClosing(reason) => {
                                return SessionEnd::Throttled(reason, None);
                            }
                            _ => {}
                        }
                    }
                    Err(e) => return lost(&e),
                }
            }
            loop {
                let cap = run.cap.unwrap_or(self.cfg.rcpt_per_transaction).max(1);
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
                if run.pending.is_empty() {
                    return SessionEnd::Done;
                }
                // With PIPELINING (RFC 2920) a whole batch of RCPTs costs one round trip;
                // without it, one at a time.
                let room = cap.saturating_sub(in_txn).max(1);
                let n = if pipelining {
                    room.min(run.pending.len())
                } else {
                    1
                };
                let mut batch: VecDeque<Pending> = run.pending.drain(..n).collect();
                let cmds: Vec<String> = batch
                    .iter()
                    .map(|p| format!("RCPT TO:<{}>", p.target.normalized()))
                    .collect();
                if let Err(e) = s.send_all(&cmds).await {
                    for p in batch.into_iter().rev() {
                        run.pending.push_front(p);
                    }
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
                    for p in batch.into_iter().rev() {
                        run.pending.push_front(p);
                    }
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
                            if run.cap.is_none() || in_txn <= cap {
                                run.cap = Some(in_txn.saturating_sub(1).max(1));
                            }
                            p.attempts -= 1;
                            p.too_many += 1;
                            p.last = Some((Reason::Deferred, reply));
                            run.pending.push_front(p);
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
                            run.waiting.push((Instant::now() + delay, p));
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
                    for p in batch.into_iter().rev() {
                        run.pending.push_front(p);
                    }
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
