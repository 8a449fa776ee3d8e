//! The lab's SMTP servers: one listener per host address, all on one port, each connection
//! handled by the scripted state machine in `session`.

mod conn;
mod session;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::LabError;
use crate::scenario::{Host, TlsMode};
use crate::stats::HostCounters;
use crate::tls::{ConfigCache, LabCa};

/// Greylist triplets remembered per host before the table is reset (a bound, not a policy).
const GREYLIST_MAX: usize = 100_000;

/// Messages a submission host keeps for the tests to read; past it the oldest goes.
pub const MAX_RECEIVED: usize = 1000;

/// One message a submission host accepted, as the tests read it back
/// ([`crate::Lab::received`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The client's address.
    pub client: IpAddr,
    /// The account that authenticated (AUTH PLAIN or LOGIN).
    pub user: String,
    /// Sent inside STARTTLS (always, since AUTH needs it; kept for the tests to assert).
    pub tls: bool,
    /// MAIL FROM's address, lower-cased.
    pub mail_from: String,
    /// Each accepted RCPT TO's address, lower-cased, in order.
    pub rcpt_to: Vec<String>,
    /// The message after DATA: lines ended by CRLF, dot-stuffing undone, at most
    /// `Limits::max_message` bytes (a bigger one is refused, not recorded).
    pub data: Vec<u8>,
}

impl Received {
    /// The message as text (invalid UTF-8 replaced), for assertions.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// Bounds every session obeys, whatever the scenario says.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest command line accepted (bytes, without CRLF).
    pub max_line: usize,
    /// How long a client may stay silent before `421 4.4.2` and close.
    pub idle_timeout: Duration,
    /// Longest a session may last in all.
    pub session_timeout: Duration,
    /// Commands per session before `421 4.7.0` and close.
    pub max_commands: u32,
    /// Largest message DATA reads (then discards).
    pub max_message: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 4096,
            idle_timeout: Duration::from_secs(60),
            session_timeout: Duration::from_secs(600),
            max_commands: 10_000,
            max_message: 10 * 1024 * 1024,
        }
    }
}

/// Everything the sessions of one host share.
pub struct HostRuntime {
    pub spec: Host,
    /// A behaviour set while the lab runs ([`crate::Lab::change_host`]): for every client,
    /// from the next session on, until restored.
    changed: Mutex<Option<Arc<crate::scenario::Behaviour>>>,
    pub counters: Mutex<HostCounters>,
    greylist: Mutex<HashMap<(IpAddr, String, String), Instant>>,
    tls: HashMap<TlsMode, Arc<ServerConfig>>,
    limits: Limits,
    /// Commands answered by a submission's `fail_first` so far (host-wide: a client's retry
    /// is a new session).
    failed_first: AtomicU32,
    received: Mutex<VecDeque<Received>>,
}

impl HostRuntime {
    pub fn new(
        spec: Host,
        ca: &LabCa,
        cache: &mut ConfigCache,
        limits: Limits,
    ) -> Result<HostRuntime, LabError> {
        let mut tls = HashMap::new();
        let modes = std::iter::once(spec.behaviour.starttls)
            .chain(spec.clients.iter().map(|c| c.behaviour.starttls));
        for mode in modes {
            if let Some(cfg) = cache.get(ca, mode, &spec.name, spec.address)? {
                tls.insert(mode, cfg);
            }
        }
        Ok(HostRuntime {
            counters: Mutex::new(HostCounters::new(spec.name.clone(), spec.address)),
            spec,
            greylist: Mutex::new(HashMap::new()),
            changed: Mutex::new(None),
            tls,
            limits,
            failed_first: AtomicU32::new(0),
            received: Mutex::new(VecDeque::new()),
        })
    }

    /// Whether this attempt is one of the first `count` to fail; counts it if so.
    fn take_failure(&self, count: u32) -> bool {
        self.failed_first
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < count).then_some(n + 1)
            })
            .is_ok()
    }

    fn record(&self, message: Received) {
        if let Ok(mut r) = self.received.lock() {
            if r.len() >= MAX_RECEIVED {
                r.pop_front();
            }
            r.push_back(message);
        }
    }

    /// The messages received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// What this host does for `client` in a session starting now: a behaviour set at run
    /// time, else the scenario's (per client).
    pub fn behaviour_for(&self, client: IpAddr) -> Arc<crate::scenario::Behaviour> {
        if let Ok(c) = self.changed.lock()
            && let Some(b) = c.as_ref()
        {
            return b.clone();
        }
        self.spec.behaviour_for(client).clone()
    }

    /// Sets (or, with `None`, removes) the run-time behaviour.
    pub(crate) fn set_changed(&self, b: Option<crate::scenario::Behaviour>) {
        if let Ok(mut c) = self.changed.lock() {
            *c = b.map(Arc::new);
        }
    }

    /// Greylisting decision for a triplet: `true` when it may pass now.
    fn greylist_pass(&self, key: (IpAddr, String, String), delay: Duration) -> bool {
        let now = Instant::now();
        let Ok(mut table) = self.greylist.lock() else {
            return true;
        };
        if table.len() >= GREYLIST_MAX && !table.contains_key(&key) {
            table.clear();
        }
        match table.entry(key) {
            // The first attempt is always deferred, whatever the delay.
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(now);
                false
            }
            std::collections::hash_map::Entry::Occupied(o) => now.duration_since(*o.get()) >= delay,
        }
    }
}

/// Binds one listener per listening host on one port. With `port` `None` the OS picks a free
/// port for the first host and the others reuse it; a clash there retries with a new port.
pub async fn bind_all(
    hosts: &[Arc<HostRuntime>],
    port: Option<u16>,
) -> Result<(u16, Vec<(Arc<HostRuntime>, TcpListener)>), LabError> {
    let listening: Vec<&Arc<HostRuntime>> = hosts.iter().filter(|h| h.spec.listens()).collect();
    let attempts = if port.is_some() { 1 } else { 20 };
    let mut last_err = None;
    for _ in 0..attempts {
        let mut chosen = port.unwrap_or(0);
        let mut out = Vec::new();
        let mut failed = None;
        for h in &listening {
            let addr = SocketAddr::new(h.spec.address, chosen);
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    if chosen == 0 {
                        chosen = l
                            .local_addr()
                            .map_err(|e| LabError::bind("SMTP", addr, e))?
                            .port();
                    }
                    out.push(((*h).clone(), l));
                }
                Err(e) => {
                    failed = Some(LabError::bind(
                        &format!("SMTP host {}", h.spec.name),
                        addr,
                        e,
                    ));
                    break;
                }
            }
        }
        match failed {
            None => {
                if chosen == 0 {
                    // No host listens: still report a port nobody uses, for "refused" hosts.
                    chosen = free_port(hosts).await?;
                }
                return Ok((chosen, out));
            }
            Some(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        LabError::bind(
            "SMTP",
            SocketAddr::from(([127, 0, 0, 1], 0)),
            std::io::Error::other("no port"),
        )
    }))
}

async fn free_port(hosts: &[Arc<HostRuntime>]) -> Result<u16, LabError> {
    let ip = hosts
        .first()
        .map_or(IpAddr::from([127, 0, 0, 1]), |h| h.spec.address);
    let addr = SocketAddr::new(ip, 0);
    let l = TcpListener::bind(addr)
        .await
        .map_err(|e| LabError::bind("SMTP", addr, e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| LabError::bind("SMTP", addr, e))
}

/// Accepts connections until the task is aborted; aborting drops (and so aborts) the sessions.
pub async fn serve(listener: TcpListener, host: Arc<HostRuntime>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let _ = sock.set_nodelay(true);
                    sessions.spawn(session::run(host.clone(), sock, peer));
                }
                // Out of descriptors or similar: back off briefly rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}
