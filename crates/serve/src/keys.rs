//! API keys: created once and shown once, stored only as a SHA-256 hash in the data directory's
//! SQLite file; listed and revoked by id. Keys are 256 random bits, so a fast hash is enough.

use crate::unix_now as now;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OptionalExtension, params};

/// What a key looks like to its holder: `mxr_` and 64 hex digits.
const PREFIX: &str = "mxr_";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key store {path}: {source}")]
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create the data directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no random numbers from the system")]
    Random,
    #[error("no key with id {0}")]
    NoSuchKey(i64),
}

/// A key as listed: never the key itself.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct KeyInfo {
    pub id: i64,
    pub name: String,
    /// Unix seconds.
    pub created: i64,
    pub revoked: bool,
}

/// The keys of one data directory.
pub struct KeyStore {
    path: PathBuf,
    db: Mutex<Connection>,
}

impl KeyStore {
    /// Opens (creating when needed) `DATA/mxray.db`.
    pub fn open(data: &Path) -> Result<KeyStore, KeyError> {
        std::fs::create_dir_all(data).map_err(|source| KeyError::Dir {
            path: data.to_path_buf(),
            source,
        })?;
        let path = data.join("mxray.db");
        let db = Connection::open(&path).map_err(|source| KeyError::Db {
            path: path.clone(),
            source,
        })?;
        // The server and `serve keys` may write the file at once: wait for each other a while.
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|source| KeyError::Db {
                path: path.clone(),
                source,
            })?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS api_keys (
                 id INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 hash TEXT NOT NULL UNIQUE,
                 created INTEGER NOT NULL,
                 revoked INTEGER NOT NULL DEFAULT 0
             );",
        )
        .map_err(|source| KeyError::Db {
            path: path.clone(),
            source,
        })?;
        Ok(KeyStore {
            path,
            db: Mutex::new(db),
        })
    }

    fn err(&self, source: rusqlite::Error) -> KeyError {
        KeyError::Db {
            path: self.path.clone(),
            source,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, KeyError> {
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        f(&db).map_err(|e| self.err(e))
    }

    /// A new key named `name`: the key itself is returned once and never stored.
    pub fn create(&self, name: &str) -> Result<(KeyInfo, String), KeyError> {
        let mut raw = [0u8; 32];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| KeyError::Random)?;
        let key = format!("{PREFIX}{}", hex(&raw));
        let created = now();
        let id = self.with(|db| {
            db.execute(
                "INSERT INTO api_keys (name, hash, created) VALUES (?1, ?2, ?3)",
                params![name, hash(&key), created],
            )?;
            Ok(db.last_insert_rowid())
        })?;
        let info = KeyInfo {
            id,
            name: name.to_string(),
            created,
            revoked: false,
        };
        Ok((info, key))
    }

    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        self.with(|db| {
            let mut st =
                db.prepare("SELECT id, name, created, revoked FROM api_keys ORDER BY id")?;
            let rows = st.query_map([], |r| {
                Ok(KeyInfo {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created: r.get(2)?,
                    revoked: r.get::<_, i64>(3)? != 0,
                })
            })?;
            rows.collect()
        })
    }

    pub fn revoke(&self, id: i64) -> Result<(), KeyError> {
        let n =
            self.with(|db| db.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?1", [id]))?;
        if n == 0 {
            return Err(KeyError::NoSuchKey(id));
        }
        Ok(())
    }

    /// The key's entry if `key` is a live key. Looked up by hash: the key is never compared
    /// as text, and a wrong key costs one indexed lookup.
    pub fn check(&self, key: &str) -> Result<Option<KeyInfo>, KeyError> {
        if !key.starts_with(PREFIX) || key.len() != PREFIX.len() + 64 {
            return Ok(None);
        }
        self.with(|db| {
            db.query_row(
                "SELECT id, name, created FROM api_keys WHERE hash = ?1 AND revoked = 0",
                [hash(key)],
                |r| {
                    Ok(KeyInfo {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        created: r.get(2)?,
                        revoked: false,
                    })
                },
            )
            .optional()
        })
    }
}

fn hash(key: &str) -> String {
    hex(digest(&SHA256, key.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_shown_once_stored_hashed_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        let (info, key) = store.create("ci").unwrap();
        assert!(key.starts_with("mxr_") && key.len() == 68, "{key}");
        assert_eq!(store.check(&key).unwrap().map(|k| k.id), Some(info.id));
        // Only the hash is on disk.
        let raw = std::fs::read(dir.path().join("mxray.db")).unwrap();
        assert!(!raw.windows(key.len()).any(|w| w == key.as_bytes()));
        assert!(store.check("mxr_wrong").unwrap().is_none());
        let mut other = key.clone();
        other.replace_range(10..11, if &key[10..11] == "0" { "1" } else { "0" });
        assert!(store.check(&other).unwrap().is_none());
        store.revoke(info.id).unwrap();
        assert!(store.check(&key).unwrap().is_none());
        assert!(store.list().unwrap()[0].revoked);
        assert!(matches!(store.revoke(99), Err(KeyError::NoSuchKey(99))));
        // A second store on the same directory sees the same keys.
        let again = KeyStore::open(dir.path()).unwrap();
        assert_eq!(again.list().unwrap().len(), 1);
    }
}
