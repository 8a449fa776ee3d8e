//! Monitors and their history in SQLite (`DATA/monitors.db`): settings, every run (score,
//! verdict, problems), state-change events, the latest full report, and the schedule.
//!
//! Old runs are folded into one row per monitor and day (`prune`) and the oldest dropped, so
//! a year of hourly checks stays small; events are few and kept for the whole retention.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::model::Spec;
use super::state::{Change, Health, Outcome, Problem};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("monitor store {path}: {error}")]
    Db { path: String, error: String },
}

/// Where a monitor came from: the API (and the dashboard) or `--monitors FILE`.
pub const SOURCE_API: &str = "api";
pub const SOURCE_CONFIG: &str = "config";

/// A monitor as listed.
#[derive(Debug, Clone)]
pub struct MonitorRow {
    pub id: String,
    pub source: String,
    pub created: i64,
    pub spec: Spec,
    pub health: Health,
    /// The last run's outcome and when it ran.
    pub last: Option<(i64, Outcome)>,
    /// Unix seconds of the next run.
    pub next_due: i64,
}

/// One stored run, or a day of runs folded into one (`samples` > 1).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunRow {
    /// Unix seconds (a folded day: its first run).
    pub at: i64,
    pub score: u32,
    /// The verdict (a folded day: its worst).
    pub verdict: String,
    /// Failing runs (0 or 1; a folded day: how many of its runs failed).
    pub failing: u32,
    pub problems: Vec<Problem>,
    pub duration_ms: u64,
    /// Runs this row stands for.
    pub samples: u32,
    pub score_min: u32,
    pub score_max: u32,
}

/// A stored state change.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EventRow {
    pub at: i64,
    /// What changed (`kind`: `verdict`, `appeared`, `cleared`, `alert`, `recovered`).
    pub change: Change,
}

/// What to keep: every run for `raw_s` seconds, folded days after that, nothing older than
/// `keep_s`.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub raw_s: i64,
    pub keep_s: i64,
}

impl Default for Retention {
    /// Every run for 30 days, a row per day for a year and a bit.
    fn default() -> Retention {
        Retention {
            raw_s: 30 * 86_400,
            keep_s: 400 * 86_400,
        }
    }
}

pub struct Store {
    db: Mutex<Connection>,
    path: String,
}

/// Verdicts as stored, from best to worst (a folded day keeps its worst, the largest code).
const VERDICTS: [&str; 4] = ["deliverable_path", "degraded", "inconclusive", "broken"];

fn verdict_code(verdict: &str) -> u8 {
    VERDICTS.iter().position(|v| *v == verdict).unwrap_or(2) as u8
}

fn verdict_name(code: u8) -> &'static str {
    VERDICTS
        .get(code as usize)
        .copied()
        .unwrap_or("inconclusive")
}

/// The key of a set of problems (JSON), added when new.
fn problem_set(tx: &rusqlite::Transaction<'_>, body: &str) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT OR IGNORE INTO problem_sets (body) VALUES (?1)",
        [body],
    )?;
    tx.query_row("SELECT n FROM problem_sets WHERE body = ?1", [body], |r| {
        r.get(0)
    })
}

impl Store {
    pub fn open(data: &Path) -> Result<Store, StoreError> {
        let path = data.join("monitors.db");
        let shown = path.display().to_string();
        let err = |e: rusqlite::Error| StoreError::Db {
            path: shown.clone(),
            error: e.to_string(),
        };
        let db = Connection::open(&path).map_err(err)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        db.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        db.execute_batch(
            // History rows name their monitor by its integer key and their problems by a
            // shared set (most runs repeat the last run's): a year of hourly runs stays small.
            "CREATE TABLE IF NOT EXISTS monitors (
                n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source TEXT NOT NULL, owner INTEGER NOT NULL,
                created INTEGER NOT NULL, spec TEXT NOT NULL,
                streak INTEGER NOT NULL DEFAULT 0, alerting INTEGER NOT NULL DEFAULT 0,
                last_at INTEGER, last TEXT, next_due INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS monitors_due ON monitors(next_due);
             CREATE TABLE IF NOT EXISTS runs (
                monitor INTEGER NOT NULL, at INTEGER NOT NULL, score INTEGER NOT NULL,
                verdict INTEGER NOT NULL, failing INTEGER NOT NULL, problems INTEGER NOT NULL,
                duration_ms INTEGER NOT NULL, samples INTEGER NOT NULL DEFAULT 1,
                score_min INTEGER NOT NULL, score_max INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS runs_by_monitor ON runs(monitor, at);
             CREATE TABLE IF NOT EXISTS events (
                monitor INTEGER NOT NULL, at INTEGER NOT NULL, change TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS events_by_monitor ON events(monitor, at);
             CREATE TABLE IF NOT EXISTS latest (
                monitor INTEGER PRIMARY KEY, at INTEGER NOT NULL, report TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS problem_sets (
                n INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE);",
        )
        .map_err(err)?;
        Ok(Store {
            db: Mutex::new(db),
            path: shown,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            error: e.to_string(),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(
        &self,
        id: &str,
        source: &str,
        owner: i64,
        created: i64,
        spec: &Spec,
        next_due: i64,
    ) -> Result<(), StoreError> {
        let spec = serde_json::to_string(spec).map_err(|e| self.err(e))?;
        self.conn()
            .execute(
                "INSERT INTO monitors (id, source, owner, created, spec, next_due) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, source, owner, created, spec, next_due],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// New settings; `next_due` moves when the interval changed.
    pub fn update(&self, id: &str, spec: &Spec, next_due: i64) -> Result<bool, StoreError> {
        let spec = serde_json::to_string(spec).map_err(|e| self.err(e))?;
        let n = self
            .conn()
            .execute(
                "UPDATE monitors SET spec = ?2, next_due = ?3 WHERE id = ?1",
                params![id, spec, next_due],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// The monitor and its whole history.
    pub fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut db = self.conn();
        let tx = db.transaction().map_err(|e| self.err(e))?;
        for table in ["runs", "events", "latest"] {
            tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE monitor = (SELECT n FROM monitors WHERE id = ?1)"
                ),
                [id],
            )
            .map_err(|e| self.err(e))?;
        }
        let n = tx
            .execute("DELETE FROM monitors WHERE id = ?1", [id])
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<MonitorRow>> {
        let spec: String = r.get(3)?;
        let Ok(spec) = serde_json::from_str::<Spec>(&spec) else {
            return Ok(None);
        };
        let last_at: Option<i64> = r.get(6)?;
        let last: Option<String> = r.get(7)?;
        let last = match (last_at, last.and_then(|l| serde_json::from_str(&l).ok())) {
            (Some(at), Some(o)) => Some((at, o)),
            _ => None,
        };
        Ok(Some(MonitorRow {
            id: r.get(0)?,
            source: r.get(1)?,
            created: r.get(2)?,
            spec,
            health: Health {
                streak: r.get(4)?,
                alerting: r.get::<_, i64>(5)? != 0,
            },
            last,
            next_due: r.get(8)?,
        }))
    }

    const COLUMNS: &'static str =
        "id, source, created, spec, streak, alerting, last_at, last, next_due";

    pub fn get(&self, id: &str) -> Result<Option<MonitorRow>, StoreError> {
        let db = self.conn();
        let r = db
            .query_row(
                &format!("SELECT {} FROM monitors WHERE id = ?1", Self::COLUMNS),
                [id],
                Self::row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(r.flatten())
    }

    /// Every monitor, in creation order.
    pub fn list(&self) -> Result<Vec<MonitorRow>, StoreError> {
        let db = self.conn();
        let mut st = db
            .prepare(&format!(
                "SELECT {} FROM monitors ORDER BY created, id",
                Self::COLUMNS
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], Self::row)
            .map_err(|e| self.err(e))?
            .filter_map(|r| r.ok().flatten())
            .collect();
        Ok(rows)
    }

    pub fn count(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM monitors", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(n as usize)
    }

    /// Up to `limit` monitors due by `now`, earliest first (paused ones are skipped by the
    /// caller, which moves their due time on).
    pub fn due(&self, now: i64, limit: usize) -> Result<Vec<MonitorRow>, StoreError> {
        let db = self.conn();
        let mut st = db
            .prepare(&format!(
                "SELECT {} FROM monitors WHERE next_due <= ?1 ORDER BY next_due LIMIT ?2",
                Self::COLUMNS
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![now, limit as i64], Self::row)
            .map_err(|e| self.err(e))?
            .filter_map(|r| r.ok().flatten())
            .collect();
        Ok(rows)
    }

    /// The earliest due time of any monitor.
    pub fn next_due(&self) -> Result<Option<i64>, StoreError> {
        self.conn()
            .query_row("SELECT MIN(next_due) FROM monitors", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    pub fn set_next_due(&self, id: &str, at: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE monitors SET next_due = ?2 WHERE id = ?1",
                params![id, at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One finished run: the run row, its events, the monitor's new state and (when given)
    /// its full report, in one transaction. False when the monitor was deleted meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        id: &str,
        at: i64,
        duration_ms: u64,
        outcome: &Outcome,
        health: Health,
        changes: &[Change],
        report: Option<&str>,
    ) -> Result<bool, StoreError> {
        let problems = serde_json::to_string(&outcome.problems).map_err(|e| self.err(e))?;
        let last = serde_json::to_string(outcome).map_err(|e| self.err(e))?;
        let mut db = self.conn();
        let tx = db.transaction().map_err(|e| self.err(e))?;
        let n = tx
            .execute(
                "UPDATE monitors SET streak = ?2, alerting = ?3, last_at = ?4, last = ?5 WHERE id = ?1",
                params![id, health.streak, health.alerting as i64, at, last],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Ok(false);
        }
        let set = problem_set(&tx, &problems).map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO runs (monitor, at, score, verdict, failing, problems, duration_ms, score_min, score_max)
             VALUES ((SELECT n FROM monitors WHERE id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?3, ?3)",
            params![
                id,
                at,
                outcome.score,
                verdict_code(&outcome.verdict),
                outcome.failing() as i64,
                set,
                duration_ms as i64
            ],
        )
        .map_err(|e| self.err(e))?;
        for c in changes {
            let c = serde_json::to_string(c).map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO events (monitor, at, change) VALUES ((SELECT n FROM monitors WHERE id = ?1), ?2, ?3)",
                params![id, at, c],
            )
            .map_err(|e| self.err(e))?;
        }
        if let Some(report) = report {
            tx.execute(
                "INSERT INTO latest (monitor, at, report) VALUES ((SELECT n FROM monitors WHERE id = ?1), ?2, ?3)
                 ON CONFLICT(monitor) DO UPDATE SET at = excluded.at, report = excluded.report",
                params![id, at, report],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(true)
    }

    /// Runs newest first, at most `limit`, only those at or after `since`.
    pub fn runs(&self, id: &str, since: i64, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        let db = self.conn();
        let mut st = db
            .prepare(
                "SELECT r.at, r.score, r.verdict, r.failing, p.body, r.duration_ms, r.samples, r.score_min, r.score_max
                 FROM runs r JOIN problem_sets p ON p.n = r.problems
                 WHERE r.monitor = (SELECT n FROM monitors WHERE id = ?1) AND r.at >= ?2
                 ORDER BY r.at DESC LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![id, since, limit as i64], |r| {
                let problems: String = r.get(4)?;
                Ok(RunRow {
                    at: r.get(0)?,
                    score: r.get(1)?,
                    verdict: verdict_name(r.get(2)?).to_string(),
                    failing: r.get(3)?,
                    problems: serde_json::from_str(&problems).unwrap_or_default(),
                    duration_ms: r.get::<_, i64>(5)?.max(0) as u64,
                    samples: r.get(6)?,
                    score_min: r.get(7)?,
                    score_max: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?
            .filter_map(Result::ok)
            .collect();
        Ok(rows)
    }

    /// Events newest first, at most `limit`.
    pub fn events(&self, id: &str, limit: usize) -> Result<Vec<EventRow>, StoreError> {
        let db = self.conn();
        let mut st = db
            .prepare(
                "SELECT at, change FROM events WHERE monitor = (SELECT n FROM monitors WHERE id = ?1)
                 ORDER BY at DESC, rowid DESC LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![id, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.err(e))?
            .filter_map(Result::ok)
            .filter_map(|(at, c)| {
                serde_json::from_str(&c)
                    .ok()
                    .map(|change| EventRow { at, change })
            })
            .collect();
        Ok(rows)
    }

    /// The last run's full report (the `diagnose --json` document) and when it ran.
    pub fn latest_report(&self, id: &str) -> Result<Option<(i64, String)>, StoreError> {
        self.conn()
            .query_row(
                "SELECT at, report FROM latest WHERE monitor = (SELECT n FROM monitors WHERE id = ?1)",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Folds runs older than `raw_s` into one row per monitor and day and drops what is older
    /// than `keep_s` (events too). The rows folded and dropped.
    pub fn prune(&self, now: i64, keep: Retention) -> Result<(usize, usize), StoreError> {
        let fold_before = now - keep.raw_s;
        let drop_before = now - keep.keep_s;
        let mut db = self.conn();
        let tx = db.transaction().map_err(|e| self.err(e))?;
        let dropped = tx
            .execute("DELETE FROM runs WHERE at < ?1", [drop_before])
            .map_err(|e| self.err(e))?;
        tx.execute("DELETE FROM events WHERE at < ?1", [drop_before])
            .map_err(|e| self.err(e))?;
        // Raw rows (samples = 1) of whole days before the cut, per monitor and day.
        let day_cut = fold_before.div_euclid(86_400) * 86_400;
        let groups: Vec<(i64, i64)> = {
            let mut st = tx
                .prepare(
                    "SELECT DISTINCT monitor, at / 86400 FROM runs WHERE samples = 1 AND at < ?1",
                )
                .map_err(|e| self.err(e))?;
            st.query_map([day_cut], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.err(e))?
                .filter_map(Result::ok)
                .collect()
        };
        let mut folded = 0;
        for (monitor, day) in groups {
            let rows: Vec<(i64, u32, u8, u32, String, i64)> = {
                let mut st = tx
                    .prepare(
                        "SELECT r.at, r.score, r.verdict, r.failing, p.body, r.duration_ms
                         FROM runs r JOIN problem_sets p ON p.n = r.problems
                         WHERE r.monitor = ?1 AND r.samples = 1 AND r.at >= ?2 AND r.at < ?3 ORDER BY r.at",
                    )
                    .map_err(|e| self.err(e))?;
                st.query_map(params![monitor, day * 86_400, (day + 1) * 86_400], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .map_err(|e| self.err(e))?
                .filter_map(Result::ok)
                .collect()
            };
            if rows.len() < 2 {
                // A lone run is its own day's summary.
                continue;
            }
            let n = rows.len() as u32;
            let avg = rows.iter().map(|r| u64::from(r.1)).sum::<u64>() / u64::from(n.max(1));
            let min = rows.iter().map(|r| r.1).min().unwrap_or(0);
            let max = rows.iter().map(|r| r.1).max().unwrap_or(0);
            // Codes rank from best to worst.
            let worst = rows.iter().map(|r| r.2).max().unwrap_or(2);
            let failing: u32 = rows.iter().map(|r| r.3).sum();
            let duration = rows.iter().map(|r| r.5).sum::<i64>() / i64::from(n.max(1));
            // The day's problems, each once (the first run's title).
            let mut problems: Vec<Problem> = Vec::new();
            for r in &rows {
                for p in serde_json::from_str::<Vec<Problem>>(&r.4).unwrap_or_default() {
                    if !problems.iter().any(|q| q.id == p.id && q.host == p.host) {
                        problems.push(p);
                    }
                }
            }
            let problems = serde_json::to_string(&problems).map_err(|e| self.err(e))?;
            let set = problem_set(&tx, &problems).map_err(|e| self.err(e))?;
            tx.execute(
                "DELETE FROM runs WHERE monitor = ?1 AND samples = 1 AND at >= ?2 AND at < ?3",
                params![monitor, day * 86_400, (day + 1) * 86_400],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO runs (monitor, at, score, verdict, failing, problems, duration_ms, samples, score_min, score_max)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![monitor, rows[0].0, avg, worst, failing, set, duration, n, min, max],
            )
            .map_err(|e| self.err(e))?;
            folded += rows.len();
        }
        if folded > 0 || dropped > 0 {
            tx.execute(
                "DELETE FROM problem_sets WHERE n NOT IN (SELECT DISTINCT problems FROM runs)",
                [],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok((folded, dropped))
    }

    /// Reclaims the space pruning freed (a checkpoint of the write-ahead log, then VACUUM).
    pub fn compact(&self) -> Result<(), StoreError> {
        self.conn()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitors::model::Request;

    fn spec() -> Spec {
        Request {
            domain: Some("example.com".into()),
            ..Request::default()
        }
        .create()
        .unwrap()
    }

    fn outcome(score: u32, verdict: &str) -> Outcome {
        Outcome {
            score,
            verdict: verdict.into(),
            problems: if verdict == "broken" {
                vec![Problem {
                    id: "smtp.transient".into(),
                    severity: "fail".into(),
                    title: "421".into(),
                    host: Some("mx.example.com".into()),
                }]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn runs_events_and_latest_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        st.insert("m1", SOURCE_API, 0, 100, &spec(), 100).unwrap();
        let h = Health {
            streak: 1,
            alerting: false,
        };
        let ch = vec![Change::Verdict {
            from: None,
            to: "broken".into(),
        }];
        assert!(
            st.record("m1", 200, 50, &outcome(40, "broken"), h, &ch, Some("{}"))
                .unwrap()
        );
        st.record(
            "m1",
            300,
            50,
            &outcome(90, "deliverable_path"),
            Health::default(),
            &[],
            None,
        )
        .unwrap();
        let runs = st.runs("m1", 0, 10).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].at, 300, "newest first");
        assert_eq!(runs[1].problems.len(), 1);
        assert_eq!(st.events("m1", 10).unwrap().len(), 1);
        assert_eq!(st.latest_report("m1").unwrap(), Some((200, "{}".into())));
        let m = st.get("m1").unwrap().unwrap();
        assert_eq!(m.last.unwrap().0, 300);
        assert!(st.delete("m1").unwrap());
        assert!(st.runs("m1", 0, 10).unwrap().is_empty());
        assert!(
            !st.record("m1", 400, 1, &outcome(1, "broken"), h, &[], None)
                .unwrap(),
            "a deleted monitor records nothing"
        );
    }

    #[test]
    fn prune_folds_old_days_and_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        st.insert("m1", SOURCE_API, 0, 0, &spec(), 0).unwrap();
        let day = 86_400;
        // Ten days of hourly runs; day 3 has one broken hour.
        for h in 0..240 {
            let v = if h == 3 * 24 + 5 {
                "broken"
            } else {
                "deliverable_path"
            };
            let score = if v == "broken" { 20 } else { 90 };
            st.record(
                "m1",
                h * 3600,
                10,
                &outcome(score, v),
                Health::default(),
                &[],
                None,
            )
            .unwrap();
        }
        let keep = Retention {
            raw_s: 3 * day,
            keep_s: 8 * day,
        };
        let now = 10 * day;
        let (folded, dropped) = st.prune(now, keep).unwrap();
        assert_eq!(dropped, 2 * 24, "days 0 and 1 are past the retention");
        assert_eq!(folded, 5 * 24, "days 2-6 folded");
        let runs = st.runs("m1", 0, 10_000).unwrap();
        assert_eq!(runs.len(), 3 * 24 + 5);
        let d3 = runs.iter().find(|r| r.at == 3 * day).unwrap();
        assert_eq!(
            (d3.samples, d3.failing, d3.verdict.as_str()),
            (24, 1, "broken")
        );
        assert_eq!((d3.score_min, d3.score_max), (20, 90));
        assert_eq!(d3.problems.len(), 1);
        // Pruning again changes nothing.
        assert_eq!(st.prune(now, keep).unwrap(), (0, 0));
    }
}
