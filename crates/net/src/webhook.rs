//! Webhook posts: a JSON body POSTed to an `http://` or `https://` URL, signed with HMAC-SHA256,
//! retried with backoff, and sent from a bounded queue so the caller never waits on the network.
//!
//! The guards of every connection this crate opens: the caller's [`AddressPolicy`] checked on the
//! very address connected to, a timeout on each step and on each try, a bounded read of the
//! answer (its status line is all that matters), no redirect followed, and over https only a
//! certificate the trust roots accept (checked before a byte of the body is sent).
//!
//! # The signed format
//! Each try carries `X-Mxray-Timestamp: UNIX_SECONDS` and `X-Mxray-Signature: sha256=HEX`, the
//! HMAC-SHA256, keyed with the shared secret, of `TIMESTAMP.BODY` (the timestamp header's
//! digits, a dot, the body's bytes): the receiver recomputes it, compares in constant time, and
//! refuses stale timestamps, so a captured post cannot be replayed later. `X-Mxray-Delivery`
//! is the same on every try of one post (to drop duplicates), `X-Mxray-Event` names the event.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ring::hmac;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::policy::{AddressPolicy, NotAllowed};
use crate::tls::{self, TlsSettings};
use crate::{Dns, RType};

/// Tries per post (the first and two retries).
pub const TRIES: u32 = 3;
/// The wait before the first retry; doubled before each next one.
pub const BACKOFF: Duration = Duration::from_secs(1);
/// Posts waiting at most; past it a post is dropped and counted.
pub const QUEUE: usize = 64;
/// Bytes of the answer read at most: its status line is what counts.
pub const MAX_ANSWER: usize = 8 * 1024;
/// Longest URL accepted.
pub const MAX_URL: usize = 2048;

pub const SIGNATURE_HEADER: &str = "X-Mxray-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Mxray-Timestamp";
pub const DELIVERY_HEADER: &str = "X-Mxray-Delivery";
pub const EVENT_HEADER: &str = "X-Mxray-Event";

/// A webhook URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook URL {url:?}: {why}")]
pub struct BadUrl {
    pub url: String,
    pub why: &'static str,
}

/// Why one try failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error(transparent)]
    NotAllowed(NotAllowed),
    #[error("{host} has no address: {why}")]
    Resolve { host: String, why: String },
    #[error("connect to {addr}: {why}")]
    Connect { addr: SocketAddr, why: String },
    #[error("TLS handshake with {host}: {why}")]
    Tls { host: String, why: String },
    #[error("the certificate of {host} is not trusted: {why}")]
    Untrusted { host: String, why: String },
    #[error("{0}")]
    Io(String),
    #[error("no answer within {0} ms")]
    Timeout(u128),
    #[error("the receiver answered HTTP {0}")]
    Status(u16),
    #[error("the answer is not HTTP/1.x")]
    NotHttp,
}

impl PostError {
    /// Worth another try: the network or the receiver's momentary state (5xx, 408, 429), not a
    /// refusal that would be the same next time.
    pub fn retryable(&self) -> bool {
        match self {
            PostError::NotAllowed(_) | PostError::Untrusted { .. } | PostError::NotHttp => false,
            PostError::Status(s) => *s == 408 || *s == 429 || *s >= 500,
            _ => true,
        }
    }
}

/// A parsed webhook URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    pub https: bool,
    /// Lowercase name or IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl WebhookUrl {
    /// `http://HOST[:PORT][/PATH][?QUERY]` or `https://...`. No credentials in the URL (the
    /// secret signs instead), nothing that could break the request line.
    pub fn parse(url: &str) -> Result<WebhookUrl, BadUrl> {
        let bad = |why| BadUrl {
            url: url.chars().take(200).collect(),
            why,
        };
        if url.len() > MAX_URL {
            return Err(bad("longer than 2048 characters"));
        }
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        let (https, rest) = if lower.starts_with("https://") {
            (true, &url[8..])
        } else if lower.starts_with("http://") {
            (false, &url[7..])
        } else {
            return Err(bad("give an http:// or https:// URL"));
        };
        let rest = rest.split('#').next().unwrap_or("");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are not supported (the secret signs each post)",
            ));
        }
        let (host, port) =
            crate::authority::host_port(authority, if https { 443 } else { 80 }).map_err(bad)?;
        let path = if path.is_empty() {
            "/".to_string()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        if !path.bytes().all(|c| c.is_ascii_graphic()) {
            return Err(bad(
                "spaces, control or non-ASCII characters in the path (percent-encode them)",
            ));
        }
        Ok(WebhookUrl {
            https,
            host,
            port,
            path,
        })
    }

    /// The host as an address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// Whether reaching the host needs a DNS lookup (not an address, not `localhost`).
    pub fn needs_dns(&self) -> bool {
        self.ip().is_none() && self.host != "localhost"
    }

    fn default_port(&self) -> u16 {
        if self.https { 443 } else { 80 }
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.path)
    }
}

/// Where and how to post.
#[derive(Clone)]
pub struct WebhookConfig {
    pub url: WebhookUrl,
    /// The shared secret; without one, posts carry no signature.
    pub secret: Option<Vec<u8>>,
    /// Each step (resolve, connect, handshake, send, answer); a try as a whole gets four.
    pub timeout: Duration,
    pub policy: AddressPolicy,
    /// Trust roots for https.
    pub tls: Arc<TlsSettings>,
    /// For a host that is a name (`localhost` and addresses need none).
    pub dns: Option<Dns>,
    pub tries: u32,
    pub backoff: Duration,
    pub queue: usize,
}

impl WebhookConfig {
    /// The defaults: 10 s steps, [`TRIES`] tries, [`BACKOFF`], a queue of [`QUEUE`], every
    /// address allowed, no secret, no resolver.
    pub fn new(url: WebhookUrl, tls: Arc<TlsSettings>) -> WebhookConfig {
        WebhookConfig {
            url,
            secret: None,
            timeout: Duration::from_secs(10),
            policy: AddressPolicy::any(),
            tls,
            dns: None,
            tries: TRIES,
            backoff: BACKOFF,
            queue: QUEUE,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn signed_message(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(timestamp.len() + 1 + body.len());
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'.');
    m.extend_from_slice(body);
    m
}

/// The `X-Mxray-Signature` value for a body sent at `timestamp` (Unix seconds):
/// `sha256=` and the hex HMAC-SHA256 of `TIMESTAMP.BODY` keyed with `secret`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, &signed_message(&timestamp.to_string(), body));
    format!("sha256={}", hex(tag.as_ref()))
}

/// What a receiver does: true when `signature` (the header's value) is the HMAC of
/// `timestamp.body` under `secret`, compared in constant time. Checking the timestamp's age is
/// the receiver's part.
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(tag) = signature.strip_prefix("sha256=").and_then(unhex) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, &signed_message(timestamp, body), &tag).is_ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One try: resolve, check, connect, (TLS), send, read the status. The answer's status when it
/// is 2xx. Every step bounded by `cfg.timeout`; the caller bounds the whole.
pub async fn post_once(
    cfg: &WebhookConfig,
    body: &[u8],
    event: Option<&str>,
    delivery: &str,
) -> Result<u16, PostError> {
    let url = &cfg.url;
    let t = cfg.timeout;
    let ip = match (url.ip(), url.host.as_str()) {
        (Some(ip), _) => ip,
        (None, "localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (None, host) => resolve(cfg, host).await?,
    };
    cfg.policy.check(ip).map_err(PostError::NotAllowed)?;
    let addr = SocketAddr::new(ip, url.port);
    let stream = match tokio::time::timeout(t, TcpStream::connect(addr)).await {
        Err(_) => return Err(PostError::Timeout(t.as_millis())),
        Ok(Err(e)) => {
            return Err(PostError::Connect {
                addr,
                why: e.to_string(),
            });
        }
        Ok(Ok(s)) => s,
    };
    let timestamp = unix_now();
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mxray/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{TIMESTAMP_HEADER}: {timestamp}\r\n{DELIVERY_HEADER}: {delivery}\r\nConnection: close\r\n",
        url.path,
        url.host_header(),
        env!("CARGO_PKG_VERSION"),
        body.len(),
    );
    if let Some(e) = event.filter(|e| e.bytes().all(|c| c.is_ascii_graphic())) {
        head.push_str(&format!("{EVENT_HEADER}: {e}\r\n"));
    }
    if let Some(secret) = &cfg.secret {
        head.push_str(&format!(
            "{SIGNATURE_HEADER}: {}\r\n",
            sign(secret, timestamp, body)
        ));
    }
    head.push_str("\r\n");
    if !url.https {
        return exchange(stream, head.as_bytes(), body, t).await;
    }
    let (obs, tls_stream) = tls::handshake(stream, &url.host, &cfg.tls, t).await;
    let Some(s) = tls_stream else {
        return Err(PostError::Tls {
            host: url.host.clone(),
            why: obs.handshake_error.unwrap_or_default(),
        });
    };
    // The handshake records its verdict rather than failing: refuse here, before the body.
    if let Some(why) = obs.verify_error {
        return Err(PostError::Untrusted {
            host: url.host.clone(),
            why,
        });
    }
    exchange(s, head.as_bytes(), body, t).await
}

async fn resolve(cfg: &WebhookConfig, host: &str) -> Result<IpAddr, PostError> {
    let Some(dns) = &cfg.dns else {
        return Err(PostError::Resolve {
            host: host.to_string(),
            why: "no resolver given".into(),
        });
    };
    let mut answer = dns.query(host, RType::A).await;
    if answer.addrs().next().is_none() {
        answer = dns.query(host, RType::Aaaa).await;
    }
    answer.addrs().next().ok_or_else(|| PostError::Resolve {
        host: host.to_string(),
        why: "no A or AAAA record".into(),
    })
}

/// Sends the request and reads the answer's status line (at most [`MAX_ANSWER`] bytes).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    head: &[u8],
    body: &[u8],
    t: Duration,
) -> Result<u16, PostError> {
    let send = async {
        s.write_all(head).await?;
        s.write_all(body).await?;
        s.flush().await
    };
    match tokio::time::timeout(t, send).await {
        Err(_) => return Err(PostError::Timeout(t.as_millis())),
        Ok(Err(e)) => return Err(PostError::Io(format!("sending the post: {e}"))),
        Ok(Ok(())) => {}
    }
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let line_end = loop {
        if let Some(i) = buf.iter().position(|&c| c == b'\n') {
            break i;
        }
        if buf.len() >= MAX_ANSWER {
            return Err(PostError::NotHttp);
        }
        let n = match tokio::time::timeout(t, s.read(&mut chunk)).await {
            Err(_) => return Err(PostError::Timeout(t.as_millis())),
            Ok(Err(e)) => return Err(PostError::Io(format!("reading the answer: {e}"))),
            Ok(Ok(0)) => {
                return Err(PostError::Io(
                    "the receiver closed the connection without an answer".into(),
                ));
            }
            Ok(Ok(n)) => n,
        };
        let room = MAX_ANSWER - buf.len();
        buf.extend_from_slice(&chunk[..n.min(room)]);
    };
    let line = String::from_utf8_lossy(&buf[..line_end]);
    let mut words = line.split_whitespace();
    let status = match (words.next(), words.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => {
            code.parse::<u16>().map_err(|_| PostError::NotHttp)?
        }
        _ => return Err(PostError::NotHttp),
    };
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(PostError::Status(status))
    }
}

/// What a [`Webhook`] did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Posts the receiver accepted (2xx).
    pub sent: u64,
    /// Posts given up: every try failed, or a refusal not worth retrying.
    pub failed: u64,
    /// Posts not made: the queue was full, or time ran out at the end.
    pub dropped: u64,
    /// The last failure, for the user.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    /// Queued or being posted.
    pending: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    fn stats(&self) -> WebhookStats {
        WebhookStats {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// Reads a [`Webhook`]'s counts.
#[derive(Clone)]
pub struct WebhookMonitor(Arc<Counters>);

impl WebhookMonitor {
    pub fn stats(&self) -> WebhookStats {
        self.0.stats()
    }
}

struct Job {
    body: Vec<u8>,
    event: Option<String>,
}

/// A webhook with its sending task: [`Webhook::post`] queues and returns at once.
pub struct Webhook {
    tx: Option<mpsc::Sender<Job>>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Webhook {
    /// Starts the sending task on `rt`.
    pub fn start(cfg: WebhookConfig, rt: &tokio::runtime::Handle) -> Webhook {
        let (tx, mut rx) = mpsc::channel::<Job>(cfg.queue.max(1));
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let task = rt.spawn(async move {
            let mut n: u64 = 0;
            let run = unix_now();
            while let Some(job) = rx.recv().await {
                n += 1;
                // Unique per post, the same for its retries: receivers drop duplicates by it.
                let delivery = format!("{run:x}-{}-{n}", std::process::id());
                deliver(&cfg, &job, &delivery, &c).await;
                c.pending.fetch_sub(1, Ordering::Relaxed);
            }
        });
        Webhook {
            tx: Some(tx),
            counters,
            task,
        }
    }

    /// Queues `body`; false (and counted as dropped) when the queue is full. `event` goes in
    /// the `X-Mxray-Event` header.
    pub fn post(&self, body: Vec<u8>, event: Option<&str>) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        self.counters.pending.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            body,
            event: event.map(str::to_string),
        };
        if tx.try_send(job).is_ok() {
            true
        } else {
            self.counters.pending.fetch_sub(1, Ordering::Relaxed);
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    pub fn stats(&self) -> WebhookStats {
        self.counters.stats()
    }

    /// A handle that reads the counts from elsewhere (a task that reports failures).
    pub fn monitor(&self) -> WebhookMonitor {
        WebhookMonitor(self.counters.clone())
    }

    /// Stops taking posts and lets the queued ones go out for at most `grace`; what is left
    /// then is dropped (and counted).
    pub async fn close(mut self, grace: Duration) -> WebhookStats {
        drop(self.tx.take());
        if tokio::time::timeout(grace, &mut self.task).await.is_err() {
            self.task.abort();
            let left = self.counters.pending.swap(0, Ordering::Relaxed);
            self.counters.dropped.fetch_add(left, Ordering::Relaxed);
        }
        self.counters.stats()
    }
}

async fn deliver(cfg: &WebhookConfig, job: &Job, delivery: &str, c: &Counters) {
    let whole = cfg.timeout.saturating_mul(4);
    let mut wait = cfg.backoff;
    let tries = cfg.tries.max(1);
    for attempt in 1..=tries {
        let r = tokio::time::timeout(
            whole,
            post_once(cfg, &job.body, job.event.as_deref(), delivery),
        )
        .await
        .unwrap_or(Err(PostError::Timeout(whole.as_millis())));
        let e = match r {
            Ok(_) => {
                c.sent.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => e,
        };
        let give_up = !e.retryable() || attempt == tries;
        if let Ok(mut last) = c.last_error.lock() {
            *last = Some(format!("{} (try {attempt} of {tries}): {e}", cfg.url));
        }
        if give_up {
            break;
        }
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2);
    }
    c.failed.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2: the signature is this HMAC over `TIMESTAMP.BODY`.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let tag = hmac::sign(&key, b"what do ya want for nothing?");
        assert_eq!(
            hex(tag.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let s = sign(b"Jefe", 1_764_000_000, b"{\"kind\":\"rate_alert\"}");
        let direct = hmac::sign(&key, b"1764000000.{\"kind\":\"rate_alert\"}");
        assert_eq!(s, format!("sha256={}", hex(direct.as_ref())));
        assert!(verify(
            b"Jefe",
            "1764000000",
            b"{\"kind\":\"rate_alert\"}",
            &s
        ));
        assert!(!verify(
            b"Jefe",
            "1764000001",
            b"{\"kind\":\"rate_alert\"}",
            &s
        ));
        assert!(!verify(
            b"other",
            "1764000000",
            b"{\"kind\":\"rate_alert\"}",
            &s
        ));
        assert!(!verify(b"Jefe", "1764000000", b"{}", "sha256=zz"));
    }

    #[test]
    fn urls() {
        let u = WebhookUrl::parse("https://Hooks.Example.com/a/b?x=1#frag").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (true, "hooks.example.com", 443, "/a/b?x=1")
        );
        assert_eq!(u.to_string(), "https://hooks.example.com/a/b?x=1");
        let u = WebhookUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((u.port, u.path.as_str(), u.needs_dns()), (8080, "/", false));
        let u = WebhookUrl::parse("http://[::1]:9/h").unwrap();
        assert_eq!(
            (u.host.as_str(), u.host_header()),
            ("::1", "[::1]:9".to_string())
        );
        for bad in [
            "ftp://x.test/",
            "x.test/hook",
            "http://user:pw@x.test/",
            "http://x.test:0/",
            "http://x.test:99999/",
            "http:///path",
            "http://x.test/a b",
            "http://x.test/a\r\nX-Evil: 1",
            "http://[::1/",
            "http://x y.test/",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
    }

    /// One request as the test receiver saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        head: String,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<String> {
            self.head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        }
    }

    /// A receiver answering `statuses` in turn (the last one from then on).
    async fn receiver(statuses: Vec<u16>) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        tokio::spawn(async move {
            let mut i = 0;
            while let Ok((mut c, _)) = l.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let req = loop {
                    let n = c.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break Some(Seen {
                            head,
                            body: buf[end + 4..end + 4 + len].to_vec(),
                        });
                    }
                };
                if let Some(r) = req {
                    s.lock().unwrap().push(r);
                }
                let status = statuses[i.min(statuses.len() - 1)];
                i += 1;
                let _ = c
                    .write_all(
                        format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                    )
                    .await;
            }
        });
        (addr, seen)
    }

    fn config(addr: SocketAddr) -> WebhookConfig {
        let url = WebhookUrl::parse(&format!("http://{addr}/hook?x=1")).unwrap();
        let mut cfg = WebhookConfig::new(url, Arc::new(TlsSettings::web_pki()));
        cfg.secret = Some(b"s3cret".to_vec());
        cfg.timeout = Duration::from_millis(500);
        cfg.backoff = Duration::from_millis(10);
        cfg
    }

    #[tokio::test]
    async fn posts_signed_json_and_retries_a_server_error() {
        let (addr, seen) = receiver(vec![503, 200]).await;
        let hook = Webhook::start(config(addr), &tokio::runtime::Handle::current());
        assert!(hook.post(b"{\"kind\":\"rate_alert\"}".to_vec(), Some("rate_alert")));
        let stats = hook.close(Duration::from_secs(5)).await;
        assert_eq!((stats.sent, stats.failed, stats.dropped), (1, 0, 0));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "one retry after the 503");
        for r in &seen {
            assert!(
                r.head.starts_with("POST /hook?x=1 HTTP/1.1\r\n"),
                "{}",
                r.head
            );
            assert_eq!(r.header("Host").as_deref(), Some(addr.to_string().as_str()));
            assert_eq!(
                r.header("Content-Type").as_deref(),
                Some("application/json")
            );
            assert_eq!(r.header(EVENT_HEADER).as_deref(), Some("rate_alert"));
            assert_eq!(r.body, b"{\"kind\":\"rate_alert\"}");
            let ts = r.header(TIMESTAMP_HEADER).expect("timestamp");
            let sig = r.header(SIGNATURE_HEADER).expect("signature");
            assert!(verify(b"s3cret", &ts, &r.body, &sig), "{sig}");
            assert!(ts.parse::<u64>().unwrap().abs_diff(unix_now()) < 60);
        }
        assert_eq!(
            seen[0].header(DELIVERY_HEADER),
            seen[1].header(DELIVERY_HEADER),
            "retries keep the delivery id"
        );
    }

    #[tokio::test]
    async fn gives_up_after_three_tries_and_never_retries_a_refusal() {
        let (addr, seen) = receiver(vec![500]).await;
        let hook = Webhook::start(config(addr), &tokio::runtime::Handle::current());
        hook.post(b"{}".to_vec(), None);
        let stats = hook.close(Duration::from_secs(5)).await;
        assert_eq!((stats.sent, stats.failed), (0, 1));
        assert_eq!(seen.lock().unwrap().len(), 3);
        assert!(stats.last_error.unwrap().contains("HTTP 500"));

        let (addr, seen) = receiver(vec![401]).await;
        let hook = Webhook::start(config(addr), &tokio::runtime::Handle::current());
        hook.post(b"{}".to_vec(), None);
        let stats = hook.close(Duration::from_secs(5)).await;
        assert_eq!((stats.sent, stats.failed), (0, 1));
        assert_eq!(seen.lock().unwrap().len(), 1, "a 401 is not retried");
    }

    #[tokio::test]
    async fn the_policy_is_checked_on_the_address_connected_to() {
        let (addr, seen) = receiver(vec![200]).await;
        let mut cfg = config(addr);
        cfg.policy = AddressPolicy::public_only(vec![]);
        let e = post_once(&cfg, b"{}", None, "1").await.unwrap_err();
        assert!(matches!(e, PostError::NotAllowed(_)), "{e}");
        assert!(!e.retryable());
        // `localhost` is loopback too.
        cfg.url = WebhookUrl::parse(&format!("http://localhost:{}/", addr.port())).unwrap();
        assert!(matches!(
            post_once(&cfg, b"{}", None, "1").await,
            Err(PostError::NotAllowed(_))
        ));
        assert!(seen.lock().unwrap().is_empty(), "never connected");
        cfg.policy = AddressPolicy::public_only(vec!["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(post_once(&cfg, b"{}", None, "1").await, Ok(200));
    }

    #[tokio::test]
    async fn a_silent_receiver_times_out_and_a_full_queue_drops() {
        // Accepts (the kernel's backlog) and never answers.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut cfg = config(addr);
        cfg.timeout = Duration::from_millis(100);
        cfg.tries = 1;
        cfg.queue = 2;
        let e = post_once(&cfg, b"{}", None, "1").await.unwrap_err();
        assert_eq!(e, PostError::Timeout(100));
        let hook = Webhook::start(cfg, &tokio::runtime::Handle::current());
        let queued = (0..20).filter(|_| hook.post(b"{}".to_vec(), None)).count();
        assert!(queued <= 3, "{queued} queued");
        let stats = hook.close(Duration::from_millis(50)).await;
        assert_eq!(stats.sent, 0);
        assert_eq!(stats.failed + stats.dropped, 20, "{stats:?}");
        assert!(stats.dropped >= 17, "{stats:?}");
        drop(l);
    }

    #[tokio::test]
    async fn an_answer_that_is_not_http_is_refused_and_bounded() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let _ = c.write_all(&vec![b'x'; 64 * 1024]).await;
            }
        });
        let e = post_once(&config(addr), b"{}", None, "1")
            .await
            .unwrap_err();
        assert_eq!(e, PostError::NotHttp);
    }
}
