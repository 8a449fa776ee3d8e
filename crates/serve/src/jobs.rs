//! Bulk verification jobs: the list is written to the data directory, the job queued (a bounded
//! queue), run by one worker through verify's runner and job store, and resumed after a restart
//! (kill -9 included) from that store, so every address gets exactly one result.

use crate::unix_now as now;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mxray_run::{Cancel, Ended, NoProgress};
use mxray_verify::input::Reader;
use mxray_verify::run::{BATCH, Resume};
use mxray_verify::store::StoreReader;
use mxray_verify::{Budgets, Config, Engine, VerifyResult};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::mpsc;

/// Jobs waiting to run at most by default (`--job-queue`); past it a new job is refused (429),
/// never an unbounded backlog.
pub const QUEUE: usize = 64;

/// Addresses in one job at most.
pub const MAX_ADDRESSES: u64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job store {path}: {error}")]
    Store { path: String, error: String },
    #[error("the job list is empty: give at least one address")]
    Empty,
    #[error("{0}")]
    Input(String),
    #[error("the job queue is full (--job-queue): submit again later")]
    Full,
    #[error(
        "{0} is in use by another mxray serve: one server per data directory (give this one another --data)"
    )]
    Busy(String),
}

/// What `GET /v1/jobs/{id}` answers.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct JobStatus {
    pub id: String,
    pub kind: String,
    /// `queued`, `running`, `done`, `cancelled` or `failed`.
    pub state: String,
    /// Addresses in the job.
    pub total: u64,
    /// Results stored so far (across restarts).
    pub done: u64,
    /// Results by verdict.
    pub counts: BTreeMap<String, u64>,
    /// Seconds left at the current rate, while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_s: Option<u64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix seconds.
    pub created: i64,
}

/// A job being run: how to stop it and how far it got in this process.
struct Running {
    cancel: Cancel,
    new_results: Arc<AtomicU64>,
    started: Instant,
}

/// A job's list as uploaded.
pub enum Upload {
    /// Addresses (a JSON array, or a text body with one per line).
    Addresses(Vec<String>),
    /// A CSV with a header row; `column` names the addresses (its other columns come back
    /// with each result, as `verify --output x.csv` gives them).
    Csv { body: String, column: String },
    /// Domains (or addresses) to diagnose, with what to check.
    Domains(Vec<String>, DiagnoseParams),
}

/// What a diagnose job checks: the query parameters of a diagnosis, kept with the job so a
/// resumed job asks the same.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DiagnoseParams {
    /// Area names; empty: all.
    #[serde(default)]
    pub only: Vec<String>,
    #[serde(default)]
    pub sender_ip: Option<std::net::IpAddr>,
    #[serde(default)]
    pub dkim_selectors: Vec<String>,
    /// Ask each MX host about the target address (RCPT TO, then RSET).
    #[serde(default)]
    pub probe: bool,
}

/// Where a job's list is and how to read it (`txt`, or `csv:COLUMN`).
fn reader_for(dir: &Path, source: &str) -> Result<Reader, String> {
    let f =
        std::fs::File::open(list_path(dir, source)).map_err(|e| format!("the job's list: {e}"))?;
    match source.strip_prefix("csv:") {
        Some(column) => Reader::csv(Box::new(f), column).map_err(|e| e.to_string()),
        None => Ok(Reader::lines(Box::new(f))),
    }
}

/// The file holding a job's list: `input.csv` for a CSV source, `input.txt` otherwise.
fn list_path(dir: &Path, source: &str) -> PathBuf {
    dir.join(if source.starts_with("csv:") {
        "input.csv"
    } else {
        "input.txt"
    })
}

/// The text columns of a job's row read one at a time (a closed set: no name from outside
/// reaches the SQL).
#[derive(Debug, Clone, Copy)]
enum Field {
    State,
    Kind,
    Source,
    Params,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::State => "state",
            Field::Kind => "kind",
            Field::Source => "source",
            Field::Params => "params",
        }
    }
}

/// The jobs of one data directory.
pub struct Jobs {
    /// An exclusive lock on `DATA/serve.lock`, held while the server runs: two servers on
    /// one directory would both resume the same jobs.
    _lock: std::fs::File,
    dir: PathBuf,
    db: Mutex<Connection>,
    queue: mpsc::Sender<String>,
    running: Mutex<HashMap<String, Running>>,
}

/// How the worker verifies: the server's engine settings and its one politeness.
pub struct Worker {
    pub dns: mxray_net::Dns,
    pub config: Config,
    pub budgets: Arc<Budgets>,
    /// What the targets of a diagnose job are diagnosed with, from its parameters.
    pub diagnose: Arc<dyn Fn(&DiagnoseParams) -> mxray_diagnose::Job + Send + Sync>,
    /// Jobs that may wait at once.
    pub queue: usize,
    /// Verify jobs go to this cluster's workers instead of the server's own engine.
    pub cluster: Option<mxray_cluster::Cluster>,
}

/// Targets of a diagnose job diagnosed at once.
const DIAGNOSE_CONCURRENCY: usize = 8;

impl Jobs {
    /// Opens the jobs of `data` and starts the worker on the current runtime; jobs that were
    /// queued or running when the server last stopped are queued again, oldest first.
    pub fn start(data: &Path, worker: Worker) -> Result<Arc<Jobs>, JobError> {
        let path = data.join("mxray.db");
        let err = |e: rusqlite::Error| JobError::Store {
            path: path.display().to_string(),
            error: e.to_string(),
        };
        std::fs::create_dir_all(data.join("jobs")).map_err(|e| JobError::Store {
            path: data.join("jobs").display().to_string(),
            error: e.to_string(),
        })?;
        let lock_path = data.join("serve.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| JobError::Store {
                path: lock_path.display().to_string(),
                error: e.to_string(),
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JobError::Busy(data.display().to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(JobError::Store {
                    path: lock_path.display().to_string(),
                    error: e.to_string(),
                });
            }
        }
        let db = Connection::open(&path).map_err(err)?;
        // `serve keys create` writes the same file from another process: wait for it a while.
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs (
                 id TEXT PRIMARY KEY,
                 kind TEXT NOT NULL,
                 owner INTEGER NOT NULL,
                 state TEXT NOT NULL,
                 total INTEGER NOT NULL,
                 error TEXT,
                 created INTEGER NOT NULL,
                 source TEXT NOT NULL DEFAULT 'txt',
                 params TEXT NOT NULL DEFAULT ''
             );",
        )
        .map_err(err)?;
        let pending: Vec<String> = {
            let mut st = db
                .prepare(
                    "SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY created, id",
                )
                .map_err(err)?;
            st.query_map([], |r| r.get(0))
                .map_err(err)?
                .collect::<Result<_, _>>()
                .map_err(err)?
        };
        // Room for every job to resume, and the usual queue on top.
        let (tx, rx) = mpsc::channel(worker.queue.max(1) + pending.len());
        let jobs = Arc::new(Jobs {
            _lock: lock,
            dir: data.join("jobs"),
            db: Mutex::new(db),
            queue: tx,
            running: Mutex::new(HashMap::new()),
        });
        for id in pending {
            let _ = jobs.queue.try_send(id);
        }
        tokio::spawn(run_worker(jobs.clone(), worker, rx));
        Ok(jobs)
    }

    fn db_err(&self, e: impl std::fmt::Display) -> JobError {
        JobError::Store {
            path: self.dir.display().to_string(),
            error: e.to_string(),
        }
    }

    fn set_state(&self, id: &str, state: &str, error: Option<&str>) {
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let _ = db.execute(
            "UPDATE jobs SET state = ?2, error = ?3 WHERE id = ?1",
            params![id, state, error],
        );
    }

    /// How many jobs are in each state (queued, running, done, cancelled, failed).
    pub fn by_state(&self) -> Vec<(String, u64)> {
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(mut st) = db.prepare("SELECT state, count(*) FROM jobs GROUP BY state") else {
            return Vec::new();
        };
        st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map(|rows| rows.flatten().map(|(s, n)| (s, n.max(0) as u64)).collect())
            .unwrap_or_default()
    }

    /// Marks `id` running in this process: the token that cancels it, and its new results.
    fn register(&self, id: &str) -> (Cancel, Arc<AtomicU64>) {
        let cancel = Cancel::new();
        let new_results = Arc::new(AtomicU64::new(0));
        if let Ok(mut m) = self.running.lock() {
            m.insert(
                id.to_string(),
                Running {
                    cancel: cancel.clone(),
                    new_results: new_results.clone(),
                    started: Instant::now(),
                },
            );
        }
        (cancel, new_results)
    }

    /// One text column of the job's row (`None`: no such job, or the store cannot be read).
    fn field(&self, id: &str, column: Field) -> Option<String> {
        let sql = format!("SELECT {} FROM jobs WHERE id = ?1", column.name());
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        db.query_row(&sql, [id], |r| r.get(0))
            .optional()
            .ok()
            .flatten()
    }

    /// The job's state as stored.
    fn state(&self, id: &str) -> Option<String> {
        self.field(id, Field::State)
    }

    fn job_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// A verify job over `upload`, owned by key `owner`; its id.
    pub fn submit(&self, owner: i64, upload: Upload) -> Result<String, JobError> {
        if self.queue.capacity() == 0 {
            return Err(JobError::Full);
        }
        let id = new_id().map_err(|e| self.db_err(e))?;
        let dir = self.job_dir(&id);
        std::fs::create_dir_all(&dir).map_err(|e| self.db_err(e))?;
        let (kind, params) = match &upload {
            Upload::Domains(_, p) => (
                "diagnose",
                serde_json::to_string(p).map_err(|e| self.db_err(e))?,
            ),
            _ => ("verify", String::new()),
        };
        let written = match upload {
            Upload::Addresses(list) => self.write_list(&dir, &list).map(|n| (n, "txt".to_string())),
            Upload::Csv { body, column } => self.write_csv(&dir, &body, &column),
            Upload::Domains(list, _) => self
                .write_targets(&dir, &list)
                .map(|n| (n, "txt".to_string())),
        };
        let (total, source) = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        {
            let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
            db.execute(
                "INSERT INTO jobs (id, kind, owner, state, total, created, source, params) VALUES (?1, ?6, ?2, 'queued', ?3, ?4, ?5, ?7)",
                params![id, owner, total as i64, now(), source, kind, params],
            )
            .map_err(|e| self.db_err(e))?;
        }
        if self.queue.try_send(id.clone()).is_err() {
            self.set_state(&id, "failed", Some("the queue was full"));
            return Err(JobError::Full);
        }
        Ok(id)
    }

    /// A CSV upload, checked whole (a stray quote is an error naming its line, as in the CLI).
    fn write_csv(&self, dir: &Path, body: &str, column: &str) -> Result<(u64, String), JobError> {
        let path = dir.join("input.csv");
        std::fs::write(&path, body).map_err(|e| self.db_err(e))?;
        let n = mxray_verify::input::check_csv(&path, column)
            .map_err(|e| JobError::Input(format!("the CSV: {e}")))?;
        if n == 0 {
            return Err(JobError::Empty);
        }
        if n > MAX_ADDRESSES {
            return Err(JobError::Input(format!(
                "{n} rows: a job takes at most {MAX_ADDRESSES}; split the list"
            )));
        }
        Ok((n, format!("csv:{column}")))
    }

    /// Targets to diagnose, checked as `diagnose --input` checks its list.
    fn write_targets(&self, dir: &Path, targets: &[String]) -> Result<u64, JobError> {
        let text = targets.join("\n");
        let list =
            mxray_diagnose::run::read_targets(text.as_bytes(), "the list").map_err(
                |e| match e {
                    mxray_diagnose::run::TargetsError::Empty { .. } => JobError::Empty,
                    e => JobError::Input(e.to_string()),
                },
            )?;
        let mut body = list.join("\n");
        body.push('\n');
        std::fs::write(dir.join("input.txt"), body).map_err(|e| self.db_err(e))?;
        Ok(list.len() as u64)
    }

    /// A list of addresses, one per line of `input.txt`.
    fn write_list(&self, dir: &Path, addresses: &[String]) -> Result<u64, JobError> {
        let list: Vec<&str> = addresses
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .collect();
        if list.is_empty() {
            return Err(JobError::Empty);
        }
        if list.len() as u64 > MAX_ADDRESSES {
            return Err(JobError::Input(format!(
                "{} addresses: a job takes at most {MAX_ADDRESSES}; split the list",
                list.len()
            )));
        }
        if let Some(bad) = list.iter().find(|a| a.contains(['\n', '\r'])) {
            return Err(JobError::Input(format!(
                "address {:?} holds a line break",
                mxray_core::escape_text(bad)
            )));
        }
        let mut text = list.join("\n");
        text.push('\n');
        std::fs::write(dir.join("input.txt"), text).map_err(|e| self.db_err(e))?;
        Ok(list.len() as u64)
    }

    /// How the job's list is read (`txt`, `csv:COLUMN`).
    fn source(&self, id: &str) -> String {
        self.field(id, Field::Source)
            .unwrap_or_else(|| "txt".to_string())
    }

    /// The job's status, if it exists and belongs to `owner`.
    pub fn status(&self, owner: i64, id: &str) -> Result<Option<JobStatus>, JobError> {
        let row = {
            let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
            db.query_row(
                "SELECT kind, state, total, error, created FROM jobs WHERE id = ?1 AND owner = ?2",
                params![id, owner],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.db_err(e))?
        };
        let Some((kind, state, total, error, created)) = row else {
            return Ok(None);
        };
        let results = self.job_dir(id).join("results.db");
        let counts = if kind == "diagnose" {
            Reports::counts(&results).map_err(|e| self.db_err(e))?
        } else {
            StoreReader::open(&results)
                .and_then(|r| r.counts())
                .map_err(|e| self.db_err(e))?
        };
        let done: u64 = counts.values().sum();
        let total = total.max(0) as u64;
        let eta_s = self.running.lock().ok().and_then(|m| {
            let r = m.get(id)?;
            let n = r.new_results.load(Ordering::Relaxed);
            let secs = r.started.elapsed().as_secs_f64();
            (n > 0 && secs > 0.0)
                .then(|| (total.saturating_sub(done) as f64 / (n as f64 / secs)).ceil() as u64)
        });
        Ok(Some(JobStatus {
            id: id.to_string(),
            kind,
            state,
            total,
            done,
            counts,
            eta_s,
            error,
            created,
        }))
    }

    /// Stops a queued or running job; its stored results stay readable.
    pub fn cancel(&self, owner: i64, id: &str) -> Result<Option<JobStatus>, JobError> {
        let Some(st) = self.status(owner, id)? else {
            return Ok(None);
        };
        if st.state == "queued" || st.state == "running" {
            self.set_state(id, "cancelled", None);
            if let Some(r) = self
                .running
                .lock()
                .ok()
                .and_then(|m| m.get(id).map(|r| r.cancel.clone()))
            {
                r.cancel();
            }
        }
        self.status(owner, id)
    }

    /// Where the results of a job `owner` may read are, its kind, and the header row of its
    /// CSV list (whose columns lead each CSV result row).
    pub fn results_of(
        &self,
        owner: i64,
        id: &str,
    ) -> Result<Option<(PathBuf, String, Vec<String>)>, JobError> {
        let Some(st) = self.status(owner, id)? else {
            return Ok(None);
        };
        let dir = self.job_dir(id);
        let headers = reader_for(&dir, &self.source(id))
            .ok()
            .and_then(|r| r.headers().map(<[String]>::to_vec))
            .unwrap_or_default();
        Ok(Some((dir.join("results.db"), st.kind, headers)))
    }
}

/// Runs queued jobs one at a time (each already spreads over domains and providers).
async fn run_worker(jobs: Arc<Jobs>, w: Worker, mut rx: mpsc::Receiver<String>) {
    while let Some(id) = rx.recv().await {
        let state: Option<String> = jobs.state(&id);
        if !matches!(state.as_deref(), Some("queued" | "running")) {
            continue; // cancelled while it waited
        }
        jobs.set_state(&id, "running", None);
        let (end, error) = run_job(&jobs, &w, &id).await;
        // A cancel may have landed while it ran: that state stays.
        let now: Option<String> = jobs.state(&id);
        if now.as_deref() == Some("running") {
            jobs.set_state(&id, end, error.as_deref());
        }
        if let Ok(mut m) = jobs.running.lock() {
            m.remove(&id);
        }
    }
}

/// One job to its end: `done`, `cancelled` or `failed` with why.
async fn run_job(jobs: &Jobs, w: &Worker, id: &str) -> (&'static str, Option<String>) {
    if jobs.field(id, Field::Kind).as_deref() == Some("diagnose") {
        return run_diagnose_job(jobs, w, id).await;
    }
    if let Some(js) = &w.cluster {
        return run_cluster_job(jobs, w, id, js).await;
    }
    let dir = jobs.job_dir(id);
    let resume = match Resume::open(&dir.join("results.db"), id) {
        Ok(r) => r,
        Err(e) => return ("failed", Some(e.to_string())),
    };
    let reader = match reader_for(&dir, &jobs.source(id)) {
        Ok(r) => r,
        Err(e) => return ("failed", Some(e)),
    };
    let (cancel, new_results) = jobs.register(id);
    let engine = Arc::new(Engine::sharing(
        w.dns.clone(),
        w.config.clone(),
        w.budgets.clone(),
    ));
    let batches = reader.into_batches(BATCH);
    let mut run =
        mxray_verify::run::start(engine, batches, Some(resume), cancel, Arc::new(NoProgress));
    while let Some(got) = run.next().await {
        match got {
            Ok(d) if !d.resumed => {
                new_results.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => return ("failed", Some(e.to_string())),
        }
    }
    match run.finish().await {
        Ended::Completed => ("done", None),
        Ended::Cancelled => ("cancelled", None),
        Ended::Failed(e) => ("failed", Some(e.to_string())),
        Ended::Crashed(e) => ("failed", Some(format!("the verification task failed: {e}"))),
    }
}

/// A verify job on the cluster (`serve --nats`): submitted as the cluster job `serve-ID` (a
/// restarted server finds it again), its results stored as they come, each line once.
async fn run_cluster_job(
    jobs: &Jobs,
    w: &Worker,
    id: &str,
    js: &mxray_cluster::Cluster,
) -> (&'static str, Option<String>) {
    use mxray_cluster::submit::{self, Results, Submission};
    let dir = jobs.job_dir(id);
    let mut store = match mxray_verify::store::Store::open(&dir.join("results.db"), id) {
        Ok(s) => s,
        Err(e) => return ("failed", Some(e.to_string())),
    };
    let done = match store.done() {
        Ok(d) => d,
        Err(e) => return ("failed", Some(e.to_string())),
    };
    let source = jobs.source(id);
    let digest = match submit::digest_file(&list_path(&dir, &source)) {
        Ok(d) => d,
        Err(e) => return ("failed", Some(format!("the job's list: {e}"))),
    };
    let reader = match reader_for(&dir, &source) {
        Ok(r) => r,
        Err(e) => return ("failed", Some(e)),
    };
    let sub = Submission {
        job: format!("serve-{id}"),
        digest: format!("{digest:016x}"),
        deadline: w.config.deadline,
    };
    let (cancel, new_results) = jobs.register(id);
    let job = match submit::submit(js, &sub, reader.into_batches(submit::GROUPING)).await {
        Ok(j) => j,
        Err(e) => return ("failed", Some(e.to_string())),
    };
    let mut results = match Results::open(js, &job).await {
        Ok(r) => r,
        Err(e) => return ("failed", Some(e.to_string())),
    };
    loop {
        let next = tokio::select! {
            next = results.next() => next,
            _ = cancel.cancelled() => return ("cancelled", None),
        };
        match next {
            None => return ("done", None),
            Some(Err(e)) => return ("failed", Some(e.to_string())),
            // Stored by an earlier run of this job (before a restart): kept as it is.
            Some(Ok((index, _, _))) if done.contains_key(&index) => {}
            Some(Ok((index, result, _))) => {
                if let Err(e) = store.put(index, &result) {
                    return ("failed", Some(e.to_string()));
                }
                new_results.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A diagnose job: the targets not yet in its report store, under their original positions,
/// each report stored as it finishes.
async fn run_diagnose_job(jobs: &Jobs, w: &Worker, id: &str) -> (&'static str, Option<String>) {
    let dir = jobs.job_dir(id);
    let targets: Vec<String> = match std::fs::read_to_string(dir.join("input.txt")) {
        Ok(t) => t.lines().map(str::to_string).collect(),
        Err(e) => return ("failed", Some(format!("the job's list: {e}"))),
    };
    let mut store = match Reports::open(&dir.join("results.db")) {
        Ok(s) => s,
        Err(e) => return ("failed", Some(e)),
    };
    let done = match store.done() {
        Ok(d) => d,
        Err(e) => return ("failed", Some(e)),
    };
    let left: Vec<(u64, String)> = targets
        .into_iter()
        .enumerate()
        .map(|(i, t)| (i as u64, t))
        .filter(|(i, _)| !done.contains(i))
        .collect();
    let (cancel, new_results) = jobs.register(id);
    let params: DiagnoseParams = jobs
        .field(id, Field::Params)
        .and_then(|p| serde_json::from_str(&p).ok())
        .unwrap_or_default();
    let mut run = mxray_diagnose::run::run_indexed(
        (w.diagnose)(&params),
        left,
        DIAGNOSE_CONCURRENCY,
        cancel,
        Arc::new(NoProgress),
    );
    while let Some(d) = run.next().await {
        if let Err(e) = store.put(d.index, &d.report) {
            return ("failed", Some(e));
        }
        new_results.fetch_add(1, Ordering::Relaxed);
    }
    match run.finish().await {
        Ended::Completed => ("done", None),
        Ended::Cancelled => ("cancelled", None),
        Ended::Failed(never) => match never {},
        Ended::Crashed(e) => ("failed", Some(format!("the diagnosis task failed: {e}"))),
    }
}

/// A diagnose job's reports: one row per target, the document as printed.
struct Reports {
    db: Connection,
}

impl Reports {
    fn open(path: &Path) -> Result<Reports, String> {
        let show = |e: rusqlite::Error| format!("{}: {e}", path.display());
        let db = Connection::open(path).map_err(show)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(show)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS reports (idx INTEGER PRIMARY KEY, verdict TEXT NOT NULL, report TEXT NOT NULL);",
        )
        .map_err(show)?;
        Ok(Reports { db })
    }

    fn done(&self) -> Result<std::collections::HashSet<u64>, String> {
        let mut st = self
            .db
            .prepare("SELECT idx FROM reports")
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([], |r| r.get::<_, i64>(0))
            .map_err(|e| e.to_string())?;
        rows.map(|r| r.map(|i| i.max(0) as u64).map_err(|e| e.to_string()))
            .collect()
    }

    fn put(&mut self, index: u64, report: &mxray_diagnose::Report) -> Result<(), String> {
        let json =
            serde_json::to_string(&mxray_core::Document::new(report)).map_err(|e| e.to_string())?;
        let verdict = serde_json::to_value(report.verdict.overall)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.db
            .execute(
                "INSERT OR REPLACE INTO reports (idx, verdict, report) VALUES (?1, ?2, ?3)",
                params![index as i64, verdict, json],
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// A read-only connection once the table exists (`None` before the job started).
    fn reader(path: &Path) -> Result<Option<Connection>, String> {
        if !path.exists() {
            return Ok(None);
        }
        let db = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| e.to_string())?;
        let tables: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'reports'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        Ok((tables > 0).then_some(db))
    }

    fn counts(path: &Path) -> Result<BTreeMap<String, u64>, String> {
        let Some(db) = Reports::reader(path)? else {
            return Ok(BTreeMap::new());
        };
        let mut st = db
            .prepare("SELECT verdict, count(*) FROM reports GROUP BY verdict")
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| e.to_string())?;
        rows.map(|r| {
            r.map(|(v, n)| (v, n.max(0) as u64))
                .map_err(|e| e.to_string())
        })
        .collect()
    }
}

/// Streams a diagnose job's reports (JSON Lines) in input order.
pub fn stream_reports(path: PathBuf, send: mpsc::Sender<Result<Vec<u8>, std::io::Error>>) {
    let fail = |e: String| std::io::Error::other(e);
    let db = match Reports::reader(&path) {
        Ok(Some(db)) => db,
        Ok(None) => return,
        Err(e) => {
            let _ = send.blocking_send(Err(fail(e)));
            return;
        }
    };
    let Ok(mut st) = db.prepare("SELECT report FROM reports ORDER BY idx") else {
        return;
    };
    let Ok(mut rows) = st.query([]) else {
        return;
    };
    while let Ok(Some(row)) = rows.next() {
        let Ok(mut line): Result<String, _> = row.get(0) else {
            continue;
        };
        line.push('\n');
        if send.blocking_send(Ok(line.into_bytes())).is_err() {
            return;
        }
    }
}

/// Streams a job's stored results in input order to `send` (JSON Lines documents or CSV rows),
/// on a blocking thread; stops when the receiver goes away.
/// `lead`: the uploaded CSV's header row, whose columns come first in CSV output.
pub fn stream_results(
    path: PathBuf,
    csv: bool,
    lead: Vec<String>,
    send: mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
) {
    let reader = match StoreReader::open(&path) {
        Ok(r) => r,
        Err(e) => {
            let _ = send.blocking_send(Err(std::io::Error::other(e.to_string())));
            return;
        }
    };
    if csv {
        let mut w = ::csv::Writer::from_writer(Vec::new());
        let header: Vec<String> = lead
            .iter()
            .map(|h| mxray_core::csv_cell(h))
            .chain(VerifyResult::CSV_HEADER.iter().map(|h| h.to_string()))
            .collect();
        let _ = w.write_record(&header);
        let head = w.into_inner().unwrap_or_default();
        if send.blocking_send(Ok(head)).is_err() {
            return;
        }
    }
    let outcome = reader.each(|_, r| {
        let chunk = if csv {
            let mut w = ::csv::Writer::from_writer(Vec::new());
            // The list's own columns first (padded: a flexible CSV has short rows).
            let row: Vec<String> = (0..lead.len())
                .map(|i| {
                    r.input_row
                        .get(i)
                        .map_or(String::new(), |c| mxray_core::csv_cell(c))
                })
                .chain(r.csv_row())
                .collect();
            let _ = w.write_record(&row);
            w.into_inner().unwrap_or_default()
        } else {
            let mut line = serde_json::to_vec(&mxray_core::Document::new(&r)).unwrap_or_default();
            line.push(b'\n');
            line
        };
        send.blocking_send(Ok(chunk)).is_ok()
    });
    if let Err(e) = outcome {
        let _ = send.blocking_send(Err(std::io::Error::other(e.to_string())));
    }
}

/// 128 random bits as hex: job ids cannot be guessed from one another.
fn new_id() -> Result<String, &'static str> {
    let id = random_hex(16);
    if id.is_empty() {
        return Err("no random numbers from the system");
    }
    Ok(id)
}

/// `n` random bytes as hex (empty when the system gives none).
pub(crate) fn random_hex(n: usize) -> String {
    use ring::rand::SecureRandom;
    let mut raw = vec![0u8; n];
    if ring::rand::SystemRandom::new().fill(&mut raw).is_err() {
        return String::new();
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}
