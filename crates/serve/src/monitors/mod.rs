//! Monitors: domains diagnosed on an interval with the CLI's own diagnosis, their history and
//! state changes kept, alerts sent after a failing streak and on recovery.
//!
//! # Layout
//! - `model.rs`: a monitor's settings and their checks (API JSON and file entries).
//! - `state.rs`: pure run-to-run transitions: events, failing streaks, alerts to raise.
//! - `store.rs`: SQLite (`DATA/monitors.db`): monitors, runs, events, the latest report,
//!   the schedule; retention with old runs folded per day.
//! - `alerts.rs`: webhook, Slack and email alerts, batched into digests.
//! - `config.rs`: `--monitors monitors.toml`, read at start and on reload (SIGHUP).
//!
//! # Scheduling
//! A monitor's runs fall on fixed slots of its interval shifted by a phase taken from its id,
//! so a thousand hourly monitors spread over the hour instead of starting together; a new
//! monitor's first run is due at once. At most `concurrency` diagnoses run at a time, and each
//! first takes a session slot of its MX provider's budget: the same [`Budgets`] that verify
//! jobs use, so monitors on one provider queue politely behind each other.

pub mod alerts;
pub mod config;
pub mod model;
pub mod state;
pub mod store;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mxray_core::{Document, Severity};
use mxray_net::{Dns, RType};
use mxray_verify::Budgets;
use serde::Serialize;
use tokio::sync::{Notify, Semaphore};

use self::alerts::{Alert, AlertSettings, Dispatcher};
use self::model::{Invalid, Request, Spec};
use self::state::{Outcome, Problem, Raise};
use self::store::{EventRow, Retention, RunRow, SOURCE_API, SOURCE_CONFIG, Store, StoreError};
use crate::jobs::DiagnoseParams;

/// Finding id of a run that did not finish within the monitor deadline.
pub const DEADLINE_ID: &str = "monitor.deadline";
/// How long one monitor run may take, whatever its hosts do.
pub const RUN_DEADLINE: Duration = Duration::from_secs(180);
/// How often old runs are folded and dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Blocklist and DANE answers are shared by the runs of this long: a listing or a TLSA
/// record lasts hours, and asking every list's self-test and each shared MX host's TLSA
/// records for each of thousands of domains would be most of the cost.
const SHARED_FOR: Duration = Duration::from_secs(600);

type SharedCaches = (
    Instant,
    Arc<mxray_diagnose::sender::dnsbl::DnsblCache>,
    Arc<mxray_diagnose::sender::dane::DaneCache>,
);

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("no monitor {0}")]
    NotFound(String),
    #[error(
        "monitor {0} comes from the monitors file (--monitors): edit the file and reload (SIGHUP) instead"
    )]
    FromFile(String),
    #[error("there are {0} monitors already, the most one server keeps")]
    Full(usize),
    #[error("emails: this server has no --smtp-relay to send them through")]
    NoRelay,
    #[error("{0}")]
    Internal(String),
}

/// What `mxray serve`'s flags say about monitors.
#[derive(Clone)]
pub struct MonitorOptions {
    /// `--monitors FILE`, read at start and on [`Monitors::reload`].
    pub file: Option<PathBuf>,
    pub retention: Retention,
    /// Diagnoses at once.
    pub concurrency: usize,
    /// Signs webhook alerts.
    pub alert_secret: Option<Vec<u8>>,
    pub digest_window: Duration,
    pub digest_after: usize,
    /// Email alerts (`--smtp-relay`).
    pub mailer: Option<Arc<dyn alerts::Mailer>>,
}

impl Default for MonitorOptions {
    fn default() -> MonitorOptions {
        MonitorOptions {
            file: None,
            retention: Retention::default(),
            concurrency: 8,
            alert_secret: None,
            digest_window: Duration::from_secs(30),
            digest_after: 5,
            mailer: None,
        }
    }
}

/// How monitors diagnose and what they keep.
pub struct MonitorSettings {
    /// `--monitors FILE`.
    pub file: Option<PathBuf>,
    pub retention: Retention,
    /// Diagnoses at once.
    pub concurrency: usize,
    pub alerts: AlertSettings,
}

/// What a monitor run is diagnosed with (the server's settings, as for diagnose jobs).
pub struct Runner {
    pub dns: Dns,
    pub diagnose: Arc<dyn Fn(&DiagnoseParams) -> mxray_diagnose::Job + Send + Sync>,
    pub budgets: Arc<Budgets>,
    pub deadline: Duration,
}

/// A monitor as the API answers it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MonitorView {
    pub id: String,
    #[serde(flatten)]
    pub spec: Spec,
    /// The interval as written (`1h`).
    pub interval: String,
    /// `api` or `config` (the monitors file).
    pub source: String,
    /// Unix seconds.
    pub created: i64,
    /// `pending` (no run yet), `passing`, `failing` (not yet alerted), `alerting`, `paused`.
    pub state: String,
    /// Failing runs in a row.
    pub streak: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// Unix seconds of the next run.
    pub next_run: i64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LastRun {
    pub at: i64,
    pub score: u32,
    pub verdict: String,
    pub failing: bool,
    pub problems: Vec<Problem>,
}

impl MonitorView {
    fn of(m: store::MonitorRow) -> MonitorView {
        let state = if m.spec.paused {
            "paused"
        } else if m.health.alerting {
            "alerting"
        } else if m.health.streak > 0 {
            "failing"
        } else if m.last.is_some() {
            "passing"
        } else {
            "pending"
        };
        MonitorView {
            interval: model::show_interval(m.spec.interval_s),
            id: m.id,
            source: m.source,
            created: m.created,
            state: state.to_string(),
            streak: m.health.streak,
            last_run: m.last.map(|(at, o)| LastRun {
                at,
                failing: o.failing(),
                score: o.score,
                verdict: o.verdict,
                problems: o.problems,
            }),
            next_run: m.next_due,
            spec: m.spec,
        }
    }
}

/// What a reload of the monitors file changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reloaded {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
}

pub struct Monitors {
    store: Arc<Store>,
    runner: Runner,
    wake: Notify,
    alerts: Dispatcher,
    has_mailer: bool,
    file: Option<PathBuf>,
    retention: Retention,
    slots: Arc<Semaphore>,
    in_flight: Mutex<HashSet<String>>,
    shared: Mutex<SharedCaches>,
    runs_done: std::sync::atomic::AtomicU64,
}

pub use crate::unix_now;

/// The first slot of a monitor after `now`: slots are `interval` apart, shifted by a phase
/// from the id, so monitors of one interval spread evenly over it.
pub fn next_slot(id: &str, interval_s: u64, now: i64) -> i64 {
    let interval = interval_s.max(1) as i64;
    // FNV-1a: stable across runs and builds (the std hasher is seeded per process).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let phase = (h % interval as u64) as i64;
    let k = (now - phase).div_euclid(interval) + 1;
    k * interval + phase
}

/// A changed monitor's next run: on the new interval's slots when the interval changed or
/// the monitor was resumed (never later than it was due), else unchanged.
fn due_after_change(id: &str, old: &Spec, new: &Spec, due: i64, now: i64) -> i64 {
    if new.interval_s != old.interval_s || (old.paused && !new.paused) {
        next_slot(id, new.interval_s, now).min(due.max(now))
    } else {
        due
    }
}

impl Monitors {
    /// Opens the store, reads the monitors file, and starts the scheduler and the pruner on
    /// the current runtime.
    pub fn start(
        data: &std::path::Path,
        s: MonitorSettings,
        runner: Runner,
    ) -> Result<Arc<Monitors>, MonitorError> {
        let store = Arc::new(Store::open(data)?);
        let has_mailer = s.alerts.mailer.is_some();
        let m = Arc::new(Monitors {
            store,
            runner,
            wake: Notify::new(),
            alerts: Dispatcher::start(s.alerts),
            has_mailer,
            file: s.file,
            retention: s.retention,
            slots: Arc::new(Semaphore::new(s.concurrency.max(1))),
            in_flight: Mutex::new(HashSet::new()),
            shared: Mutex::new((Instant::now(), Arc::default(), Arc::default())),
            runs_done: 0.into(),
        });
        if m.file.is_some() {
            m.reload_now()?;
        }
        tokio::spawn(schedule(m.clone()));
        tokio::spawn(prune(m.clone()));
        Ok(m)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, MonitorError> + Send + 'static,
    ) -> Result<T, MonitorError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| MonitorError::Internal(e.to_string()))?
    }

    fn check_channels(&self, spec: &Spec) -> Result<(), MonitorError> {
        if !spec.emails.is_empty() && !self.has_mailer {
            return Err(MonitorError::NoRelay);
        }
        Ok(())
    }

    /// A new monitor from the API; its first run starts at once.
    pub async fn create(&self, owner: i64, req: Request) -> Result<MonitorView, MonitorError> {
        let spec = req.create()?;
        self.check_channels(&spec)?;
        let id = format!("m-{}", crate::jobs::random_hex(8));
        if id.len() < 4 {
            return Err(MonitorError::Internal(
                "no random numbers from the system".into(),
            ));
        }
        let now = unix_now();
        let view = self
            .blocking(move |st| {
                let n = st.count()?;
                if n >= model::MAX_MONITORS {
                    return Err(MonitorError::Full(n));
                }
                st.insert(&id, SOURCE_API, owner, now, &spec, now)?;
                st.get(&id)?
                    .map(MonitorView::of)
                    .ok_or_else(|| MonitorError::NotFound(id.clone()))
            })
            .await?;
        self.wake.notify_one();
        Ok(view)
    }

    pub async fn get(&self, id: &str) -> Result<MonitorView, MonitorError> {
        let id = id.to_string();
        self.blocking(move |st| {
            st.get(&id)?
                .map(MonitorView::of)
                .ok_or(MonitorError::NotFound(id))
        })
        .await
    }

    pub async fn list(&self) -> Result<Vec<MonitorView>, MonitorError> {
        self.blocking(|st| Ok(st.list()?.into_iter().map(MonitorView::of).collect()))
            .await
    }

    /// Changes an API monitor's settings; a new interval moves its next run to the new slots.
    pub async fn update(&self, id: &str, req: Request) -> Result<MonitorView, MonitorError> {
        let id = id.to_string();
        let row = self.row(&id).await?;
        if row.source == SOURCE_CONFIG {
            return Err(MonitorError::FromFile(id));
        }
        let spec = req.apply(row.spec.clone())?;
        self.check_channels(&spec)?;
        let next = due_after_change(&id, &row.spec, &spec, row.next_due, unix_now());
        let view = self
            .blocking(move |st| {
                if !st.update(&id, &spec, next)? {
                    return Err(MonitorError::NotFound(id));
                }
                st.get(&id)?
                    .map(MonitorView::of)
                    .ok_or(MonitorError::NotFound(id))
            })
            .await?;
        self.wake.notify_one();
        Ok(view)
    }

    pub async fn delete(&self, id: &str) -> Result<(), MonitorError> {
        let row = self.row(id).await?;
        if row.source == SOURCE_CONFIG {
            return Err(MonitorError::FromFile(id.to_string()));
        }
        let id = id.to_string();
        self.blocking(move |st| {
            if st.delete(&id)? {
                Ok(())
            } else {
                Err(MonitorError::NotFound(id))
            }
        })
        .await
    }

    /// Runs a monitor as soon as a slot is free (its schedule is unchanged after).
    pub async fn run_now(&self, id: &str) -> Result<MonitorView, MonitorError> {
        let id = id.to_string();
        let view = self
            .blocking(move |st| {
                st.set_next_due(&id, unix_now())?;
                st.get(&id)?
                    .map(MonitorView::of)
                    .ok_or(MonitorError::NotFound(id))
            })
            .await?;
        self.wake.notify_one();
        Ok(view)
    }

    async fn row(&self, id: &str) -> Result<store::MonitorRow, MonitorError> {
        let id = id.to_string();
        self.blocking(move |st| st.get(&id)?.ok_or(MonitorError::NotFound(id)))
            .await
    }

    /// Runs newest first (at most `limit`, none before `since`).
    pub async fn runs(
        &self,
        id: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<RunRow>, MonitorError> {
        self.row(id).await?;
        let id = id.to_string();
        self.blocking(move |st| Ok(st.runs(&id, since, limit)?))
            .await
    }

    pub async fn events(&self, id: &str, limit: usize) -> Result<Vec<EventRow>, MonitorError> {
        self.row(id).await?;
        let id = id.to_string();
        self.blocking(move |st| Ok(st.events(&id, limit)?)).await
    }

    /// The last run's `diagnose --json` document and when it ran.
    pub async fn latest_report(&self, id: &str) -> Result<Option<(i64, String)>, MonitorError> {
        let id = id.to_string();
        self.blocking(move |st| Ok(st.latest_report(&id)?)).await
    }

    /// Whether a run of the monitor is under way (the pages reload until it is done).
    pub fn running(&self, id: &str) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    /// Diagnoses run since the server started.
    pub fn runs_done(&self) -> u64 {
        self.runs_done.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn alerts_sent(&self) -> alerts::Sent {
        self.alerts.sent()
    }

    /// Reads the monitors file again (SIGHUP): its monitors are added, changed or removed to
    /// match; API monitors are left alone. A file with an error changes nothing.
    pub async fn reload(self: &Arc<Self>) -> Result<Reloaded, MonitorError> {
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || me.reload_now())
            .await
            .map_err(|e| MonitorError::Internal(e.to_string()))??;
        self.wake.notify_one();
        Ok(r)
    }

    fn reload_now(&self) -> Result<Reloaded, MonitorError> {
        let Some(path) = &self.file else {
            return Err(MonitorError::Invalid(Invalid(
                "no --monitors file to reload".into(),
            )));
        };
        let wanted = config::read(path)?;
        for (_, spec) in &wanted {
            self.check_channels(spec)?;
        }
        let st = &self.store;
        let have: Vec<store::MonitorRow> = st
            .list()?
            .into_iter()
            .filter(|m| m.source == SOURCE_CONFIG)
            .collect();
        let now = unix_now();
        let mut r = Reloaded::default();
        let api = st.count()? - have.len();
        if api + wanted.len() > model::MAX_MONITORS {
            return Err(MonitorError::Full(api + wanted.len()));
        }
        for (id, spec) in &wanted {
            match have.iter().find(|m| &m.id == id) {
                None => {
                    st.insert(id, SOURCE_CONFIG, 0, now, spec, now)?;
                    r.added += 1;
                }
                Some(m) if &m.spec == spec => r.unchanged += 1,
                Some(m) => {
                    let next = due_after_change(id, &m.spec, spec, m.next_due, now);
                    st.update(id, spec, next)?;
                    r.changed += 1;
                }
            }
        }
        for m in &have {
            if !wanted.iter().any(|(id, _)| id == &m.id) {
                st.delete(&m.id)?;
                r.removed += 1;
            }
        }
        Ok(r)
    }

    /// The blocklist and DANE caches shared by runs, renewed every [`SHARED_FOR`].
    fn shared_caches(&self) -> SharedCaches {
        let mut c = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if c.0.elapsed() > SHARED_FOR {
            *c = (Instant::now(), Arc::default(), Arc::default());
        }
        c.clone()
    }

    /// One run of one monitor: diagnose, judge against the last run, store, alert.
    async fn run_one(self: Arc<Self>, m: store::MonitorRow) {
        let at = unix_now();
        let started = Instant::now();
        let spec = &m.spec;
        let params = DiagnoseParams {
            only: Vec::new(),
            sender_ip: spec.sender_ip,
            dkim_selectors: spec.dkim_selectors.clone(),
            probe: spec.probe.is_some(),
        };
        let mut job = (self.runner.diagnose)(&params);
        if let Some(s) = job.sender.as_mut() {
            let (_, dnsbl, dane) = self.shared_caches();
            s.dnsbl_cache = dnsbl;
            s.dane_cache = dane;
        }
        let _permit = provider_slot(&job.dns, &self.runner.budgets, &spec.domain).await;
        let run =
            mxray_diagnose::diagnose_full(&job.dns, spec.target(), &job.opts, job.sender.as_ref());
        let (outcome, report) = match tokio::time::timeout(self.runner.deadline, run).await {
            Ok(Ok(report)) => (outcome_of(&report), Some(report)),
            Ok(Err(e)) => (failed_run(&e.to_string()), None),
            Err(_) => {
                let doing = job
                    .opts
                    .activity
                    .longest()
                    .map(|(what, _, _)| format!(" (still waiting for {what})"))
                    .unwrap_or_default();
                (
                    failed_run(&format!(
                        "the diagnosis did not finish within {}s{doing}",
                        self.runner.deadline.as_secs()
                    )),
                    None,
                )
            }
        };
        drop(_permit);
        let duration_ms = started.elapsed().as_millis() as u64;
        let (health, changes, raise) = state::step(
            m.last.as_ref().map(|(_, o)| o),
            m.health,
            &outcome,
            spec.alert_after,
        );
        let json = report
            .as_ref()
            .and_then(|r| serde_json::to_string(&Document::new(r)).ok());
        let id = m.id.clone();
        let (o, ch) = (outcome.clone(), changes.clone());
        let stored = self
            .blocking(move |st| {
                Ok(st.record(&id, at, duration_ms, &o, health, &ch, json.as_deref())?)
            })
            .await;
        self.runs_done
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !matches!(stored, Ok(true)) || !spec.has_destinations() {
            return;
        }
        if let Some(raise) = raise {
            let (state, streak) = match raise {
                Raise::Failing { streak } => ("failing", streak),
                Raise::Recovered => ("recovered", 0),
            };
            let findings = match &report {
                Some(r) => Alert::details(&r.findings),
                None => outcome
                    .problems
                    .iter()
                    .map(|p| alerts::Detail {
                        id: p.id.clone(),
                        severity: p.severity.clone(),
                        title: p.title.clone(),
                        host: p.host.clone(),
                        evidence: Vec::new(),
                        fix: None,
                    })
                    .collect(),
            };
            self.alerts.raise(Alert {
                state,
                monitor: m.id.clone(),
                domain: spec.domain.clone(),
                streak,
                verdict: outcome.verdict.clone(),
                score: outcome.score,
                summary: report
                    .as_ref()
                    .map(|r| r.verdict.summary.clone())
                    .unwrap_or_else(|| {
                        outcome
                            .problems
                            .first()
                            .map(|p| p.title.clone())
                            .unwrap_or_default()
                    }),
                at,
                changes,
                findings,
                webhooks: spec.webhooks.clone(),
                slack: spec.slack.clone(),
                emails: spec.emails.clone(),
            });
        }
    }
}

/// A run's outcome from its report: score, verdict, and its fail and warn findings.
pub fn outcome_of(r: &mxray_diagnose::Report) -> Outcome {
    Outcome {
        score: r.score.overall,
        verdict: serde_json::to_value(r.verdict.overall)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "inconclusive".into()),
        problems: r
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warn)
            .map(|f| Problem {
                id: f.id.to_string(),
                severity: f.severity.as_str().to_string(),
                title: f.title.clone(),
                host: f.host.clone(),
            })
            .collect(),
    }
}

/// A run that produced no report (its deadline passed): inconclusive, with why.
fn failed_run(why: &str) -> Outcome {
    Outcome {
        score: 0,
        verdict: "inconclusive".into(),
        problems: vec![Problem {
            id: DEADLINE_ID.into(),
            severity: "fail".into(),
            title: why.to_string(),
            host: None,
        }],
    }
}

/// A session slot of the domain's MX provider (its first MX host's budget), held for the
/// whole diagnosis; none when the domain has no MX to talk to.
async fn provider_slot(
    dns: &Dns,
    budgets: &Budgets,
    domain: &str,
) -> Option<mxray_verify::budget::Permit> {
    let answer = dns.query(domain, RType::Mx).await;
    let host = match mxray_core::mx::MxPlan::from_answer(&answer) {
        mxray_core::mx::MxPlan::Exchanges { records } => records.first()?.exchange.to_string(),
        mxray_core::mx::MxPlan::Implicit => domain.to_string(),
        _ => return None,
    };
    Some(budgets.for_host(&host).acquire().await)
}

/// The scheduler: takes due monitors earliest first, moves each to its next slot before
/// running it (so it never runs twice at once), and sleeps until the next is due.
async fn schedule(m: Arc<Monitors>) {
    loop {
        let now = unix_now();
        let due = m
            .blocking(move |st| Ok(st.due(now, 256)?))
            .await
            .unwrap_or_default();
        let mut started = 0usize;
        for row in due {
            let id = row.id.clone();
            let next = next_slot(&id, row.spec.interval_s, now);
            let moved = {
                let id = id.clone();
                m.blocking(move |st| Ok(st.set_next_due(&id, next)?)).await
            };
            if moved.is_err() || row.spec.paused {
                continue;
            }
            {
                let mut f = m.in_flight.lock().unwrap_or_else(|e| e.into_inner());
                if !f.insert(id.clone()) {
                    continue;
                }
            }
            let Ok(slot) = m.slots.clone().acquire_owned().await else {
                return;
            };
            started += 1;
            let me = m.clone();
            tokio::spawn(async move {
                me.clone().run_one(row).await;
                me.in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                drop(slot);
            });
        }
        if started > 0 {
            continue;
        }
        let next = m.blocking(|st| Ok(st.next_due()?)).await.ok().flatten();
        let wait = next.map_or(60, |t| (t - unix_now()).clamp(0, 60)) as u64;
        let _ = tokio::time::timeout(Duration::from_secs(wait.max(1)), m.wake.notified()).await;
    }
}

/// Folds and drops old runs every [`PRUNE_EVERY`].
async fn prune(m: Arc<Monitors>) {
    loop {
        let keep = m.retention;
        let _ = m.blocking(move |st| Ok(st.prune(unix_now(), keep)?)).await;
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_spread_and_follow_the_interval() {
        let now = 1_000_000;
        let mut phases = HashSet::new();
        for i in 0..1000 {
            let id = format!("m-{i:04}");
            let t = next_slot(&id, 3600, now);
            assert!(t > now && t <= now + 3600, "{t}");
            assert_eq!(next_slot(&id, 3600, t), t + 3600);
            phases.insert(t / 60);
        }
        // 1,000 hourly monitors land in most of the hour's 60 minutes, not in one.
        assert!(phases.len() >= 55, "{}", phases.len());
    }
}
