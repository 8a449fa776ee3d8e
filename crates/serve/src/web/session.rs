//! Sessions of the dashboard: a random token in an HttpOnly, SameSite=Strict cookie, only its
//! SHA-256 stored (in `DATA/mxray.db`, beside the keys), with the key it was opened with, a
//! CSRF token, and an expiry. [`Viewer`] is the extractor every page takes.

use crate::unix_now as now;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use ring::digest::{SHA256, digest};
use rusqlite::{Connection, OptionalExtension, params};

use super::WebState;

/// The session cookie's name.
pub const COOKIE: &str = "mxray_session";
/// How long a session lasts after sign-in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store {path}: {source}")]
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
}

/// Who is looking at a page: the key's id (0 without keys) owns the jobs they start.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub owner: i64,
    /// The key's name; `None` under `--no-auth`.
    pub name: Option<String>,
    /// The session's form token (every form carries it, [`super::csrf`]).
    pub csrf: String,
    /// The session cookie's token (to end the session).
    pub(crate) token: String,
}

/// A session found by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub owner: i64,
    pub name: Option<String>,
    pub csrf: String,
}

/// The sessions of one data directory.
pub struct Sessions {
    path: PathBuf,
    db: Mutex<Connection>,
    /// Sessions belong to API keys (a session must name a live key); `false`: `--no-auth`,
    /// where sessions only carry the form token.
    keyed: bool,
}

impl Sessions {
    /// Opens (creating when needed) the sessions table in `DATA/mxray.db`.
    pub fn open(data: &Path, keyed: bool) -> Result<Sessions, SessionError> {
        let path = data.join("mxray.db");
        let err = |source| SessionError::Db {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data).map_err(|source| SessionError::Dir {
            path: data.to_path_buf(),
            source,
        })?;
        let db = Connection::open(&path).map_err(err)?;
        db.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        // key_id 0: a --no-auth session. The keys' table is made by the key store; with keys
        // it is always there before sessions are asked for.
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS web_sessions (
                 hash TEXT PRIMARY KEY,
                 key_id INTEGER NOT NULL,
                 csrf TEXT NOT NULL,
                 created INTEGER NOT NULL,
                 expires INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS web_sessions_expires ON web_sessions (expires);",
        )
        .map_err(err)?;
        Ok(Sessions {
            path,
            db: Mutex::new(db),
            keyed,
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, SessionError> {
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        f(&db).map_err(|source| SessionError::Db {
            path: self.path.clone(),
            source,
        })
    }

    /// A new session for key `owner` (0 without keys): its cookie token, shown only here.
    /// Expired sessions are removed on the way.
    pub fn create(&self, owner: i64) -> Result<String, SessionError> {
        let token = crate::jobs::random_hex(32);
        let csrf = crate::jobs::random_hex(32);
        if token.is_empty() || csrf.is_empty() {
            return Err(SessionError::Random);
        }
        let now = now();
        self.with(|db| {
            db.execute("DELETE FROM web_sessions WHERE expires <= ?1", [now])?;
            db.execute(
                "INSERT INTO web_sessions (hash, key_id, csrf, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash(&token), owner, csrf, now, now + LIFETIME.as_secs() as i64],
            )
        })?;
        Ok(token)
    }

    /// The live session of `token`: not expired, and with keys, its key not revoked.
    pub fn find(&self, token: &str) -> Result<Option<Session>, SessionError> {
        // Our tokens are 64 hex digits: anything else is not looked up at all.
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let now = now();
        self.with(|db| {
            if self.keyed {
                db.query_row(
                    "SELECT s.key_id, k.name, s.csrf FROM web_sessions s JOIN api_keys k ON k.id = s.key_id
                     WHERE s.hash = ?1 AND s.expires > ?2 AND k.revoked = 0",
                    params![hash(token), now],
                    |r| Ok(Session { owner: r.get(0)?, name: Some(r.get(1)?), csrf: r.get(2)? }),
                )
                .optional()
            } else {
                db.query_row(
                    "SELECT csrf FROM web_sessions WHERE hash = ?1 AND expires > ?2 AND key_id = 0",
                    params![hash(token), now],
                    |r| Ok(Session { owner: 0, name: None, csrf: r.get(0)? }),
                )
                .optional()
            }
        })
    }

    /// Ends the session of `token` (sign-out).
    pub fn end(&self, token: &str) -> Result<(), SessionError> {
        self.with(|db| db.execute("DELETE FROM web_sessions WHERE hash = ?1", [hash(token)]))?;
        Ok(())
    }
}

/// The `Set-Cookie` value of a session: HttpOnly (no script reads it), SameSite=Strict (no
/// other site's request carries it), Secure behind HTTPS (`--secure-cookies`).
pub fn cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let v = format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    // Our names and values are ASCII letters, digits and '_': always a valid header.
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// A local path to come back to after sign-in: only our own absolute paths (`/tools`), never
/// `//other.site` or a scheme.
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains(['\\', '\r', '\n'])
        && next.len() <= 512;
    ok.then_some(next)
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = Response;

    /// The signed-in viewer; otherwise /signin (with the page to come back to). Without keys,
    /// a first visit gets a session at once (it carries the form token), by a redirect to
    /// the same page with the cookie set.
    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<Viewer, Response> {
        let token = read_cookie(&parts.headers, COOKIE);
        if let Some(token) = token {
            let store = st.sessions.clone();
            let t = token.clone();
            let found = tokio::task::spawn_blocking(move || store.find(&t))
                .await
                .map_err(|e| super::PageError::internal(e.to_string()).into_response())?
                .map_err(|e| super::PageError::internal(e.to_string()).into_response())?;
            if let Some(s) = found {
                return Ok(Viewer {
                    owner: s.owner,
                    name: s.name,
                    csrf: s.csrf,
                    token,
                });
            }
        }
        let here = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        // A form sent without a session cannot be trusted or replayed: back to a page.
        let back = if parts.method == Method::GET {
            here
        } else {
            "/tools".to_string()
        };
        if st.s.keys.is_some() {
            let to = format!("/signin?next={}", percent(&back));
            return Err(Redirect::to(&to).into_response());
        }
        let store = st.sessions.clone();
        let token = tokio::task::spawn_blocking(move || store.create(0))
            .await
            .map_err(|e| super::PageError::internal(e.to_string()).into_response())?
            .map_err(|e| super::PageError::internal(e.to_string()).into_response())?;
        let mut r = Redirect::to(&back).into_response();
        r.headers_mut().insert(
            header::SET_COOKIE,
            cookie(COOKIE, &token, LIFETIME, st.s.secure_cookies),
        );
        Err(r)
    }
}

/// `s` for a query value: everything but unreserved characters percent-encoded.
pub fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hash(token: &str) -> String {
    digest(&SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_stored_hashed_follow_their_key_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::KeyStore::open(dir.path()).unwrap();
        let (info, _key) = keys.create("web").unwrap();
        let s = Sessions::open(dir.path(), true).unwrap();
        let token = s.create(info.id).unwrap();
        let found = s.find(&token).unwrap().unwrap();
        assert_eq!((found.owner, found.name.as_deref()), (info.id, Some("web")));
        assert_eq!(found.csrf.len(), 64);
        // Only the hash is on disk.
        let raw = std::fs::read(dir.path().join("mxray.db")).unwrap();
        assert!(!raw.windows(64).any(|w| w == token.as_bytes()));
        // A --no-auth session is no session when keys are required.
        let anon = s.create(0).unwrap();
        assert_eq!(s.find(&anon).unwrap(), None);
        assert_eq!(s.find("not-a-token").unwrap(), None);
        // Revoking the key ends its sessions.
        keys.revoke(info.id).unwrap();
        assert_eq!(s.find(&token).unwrap(), None);
        let (other, _) = keys.create("again").unwrap();
        let t2 = s.create(other.id).unwrap();
        assert!(s.find(&t2).unwrap().is_some());
        s.end(&t2).unwrap();
        assert_eq!(s.find(&t2).unwrap(), None);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_on_request() {
        let c = cookie(COOKIE, "abc", LIFETIME, false);
        assert_eq!(
            c.to_str().unwrap(),
            "mxray_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"
        );
        assert!(
            cookie(COOKIE, "abc", LIFETIME, true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; mxray_session=xyz; b=2"),
        );
        assert_eq!(read_cookie(&h, COOKIE).as_deref(), Some("xyz"));
        assert_eq!(read_cookie(&h, "mxray"), None);
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path("/tools?x=1"), Some("/tools?x=1"));
        for bad in [
            "//evil.test/",
            "https://evil.test/",
            "/\\evil.test",
            "tools",
        ] {
            assert_eq!(local_path(bad), None, "{bad}");
        }
        assert_eq!(percent("/tools?a=b c"), "/tools%3Fa%3Db%20c");
    }
}
