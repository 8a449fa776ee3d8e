//! The job store: results kept in SQLite (WAL) as they are decided, so a killed run resumes
//! where it stopped: nothing decided is lost and nothing decided is probed again.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, params};

use crate::model::VerifyResult;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state file {path}: {error}")]
    Sqlite { path: String, error: String },
    #[error(
        "state file {path} belongs to another job (input {found:?}, this run's is {expected:?}): use another --state file or delete it"
    )]
    OtherJob {
        path: String,
        found: String,
        expected: String,
    },
    /// Another run holds the state file: two runs on one file would probe everything twice
    /// or fail half-way with "database is locked".
    #[error(
        "state file {path} is in use by another mxray verify run: wait for it to finish, or use another --state file"
    )]
    Busy { path: String },
}

impl StoreError {
    /// The environment stopped the run (the file is busy or cannot be used), as opposed to
    /// a state file that belongs to another job (the user's input to fix).
    pub fn is_environment(&self) -> bool {
        matches!(self, StoreError::Busy { .. } | StoreError::Sqlite { .. })
    }
}

pub struct Store {
    conn: Connection,
    path: String,
    /// Held (an exclusive lock on the file) for as long as the store is open.
    _lock: std::fs::File,
}

impl Store {
    /// Opens (or creates) the store for a job identified by `job` (the input's name).
    pub fn open(path: &Path, job: &str) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let err = |e: rusqlite::Error| StoreError::Sqlite {
            path: shown.clone(),
            error: e.to_string(),
        };
        // One run per state file: an exclusive advisory lock (flock), released when the
        // process ends however it ends. SQLite's own locks are POSIX locks and do not mix.
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::Sqlite {
                path: shown.clone(),
                error: e.to_string(),
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Busy { path: shown });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::Sqlite {
                    path: shown,
                    error: format!("cannot lock: {e}"),
                });
            }
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        // WAL with NORMAL survives a process kill (not a power cut) without an fsync per row.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS results (idx INTEGER PRIMARY KEY, result TEXT NOT NULL);",
        )
        .map_err(err)?;
        let found: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'job'", [], |r| r.get(0))
            .ok();
        match found {
            Some(f) if f != job => {
                return Err(StoreError::OtherJob {
                    path: shown,
                    found: f,
                    expected: job.to_string(),
                });
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('job', ?1)",
                    params![job],
                )
                .map_err(err)?;
            }
        }
        Ok(Store {
            conn,
            path: shown,
            _lock: lock,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            error: e.to_string(),
        }
    }

    /// Every result decided so far, by input index.
    pub fn done(&self) -> Result<BTreeMap<u64, VerifyResult>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT idx, result FROM results ORDER BY idx")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (idx, json) = row.map_err(|e| self.err(e))?;
            let result: VerifyResult = serde_json::from_str(&json).map_err(|e| self.err(e))?;
            out.insert(idx as u64, result);
        }
        Ok(out)
    }

    pub fn put(&mut self, index: u64, result: &VerifyResult) -> Result<(), StoreError> {
        let json = serde_json::to_string(result).map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO results (idx, result) VALUES (?1, ?2)",
                params![index as i64, json],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// A store read while another handle may be writing it (a job in progress): read-only, no
/// lock (WAL lets readers in beside the writer). A store not created yet reads as empty.
pub struct StoreReader {
    conn: Option<Connection>,
    path: String,
}

impl StoreReader {
    pub fn open(path: &Path) -> Result<StoreReader, StoreError> {
        let shown = path.display().to_string();
        if !path.exists() {
            return Ok(StoreReader {
                conn: None,
                path: shown,
            });
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StoreError::Sqlite {
                path: shown.clone(),
                error: e.to_string(),
            })?;
        Ok(StoreReader {
            conn: Some(conn),
            path: shown,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            error: e.to_string(),
        }
    }

    /// The connection, once the writer has created the results table (the file exists a
    /// moment before: it is the writer's lock).
    fn ready(&self) -> Result<Option<&Connection>, StoreError> {
        let Some(conn) = &self.conn else {
            return Ok(None);
        };
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'results'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok((tables > 0).then_some(conn))
    }

    /// Results stored, by verdict.
    pub fn counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let Some(conn) = self.ready()? else {
            return Ok(BTreeMap::new());
        };
        let mut stmt = conn
            .prepare("SELECT json_extract(result, '$.verdict'), count(*) FROM results GROUP BY 1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (verdict, n) = row.map_err(|e| self.err(e))?;
            out.insert(verdict.unwrap_or_default(), n.max(0) as u64);
        }
        Ok(out)
    }

    /// Each stored result in input order, until `f` returns false (a reader went away).
    pub fn each(&self, mut f: impl FnMut(u64, VerifyResult) -> bool) -> Result<(), StoreError> {
        let Some(conn) = self.ready()? else {
            return Ok(());
        };
        let mut stmt = conn
            .prepare("SELECT idx, result FROM results ORDER BY idx")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let idx: i64 = row.get(0).map_err(|e| self.err(e))?;
            let json: String = row.get(1).map_err(|e| self.err(e))?;
            let result: VerifyResult = serde_json::from_str(&json).map_err(|e| self.err(e))?;
            if !f(idx.max(0) as u64, result) {
                break;
            }
        }
        Ok(())
    }
}
