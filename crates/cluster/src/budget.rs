//! One politeness for the whole cluster: per provider, the sessions open and the connection
//! rate across every worker, and one AIMD state, kept in a JetStream key-value bucket and
//! changed only by compare-and-swap. A session slot is a lease with an expiry that its holder
//! renews, so a worker killed mid-session gives its slots back when they expire.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use mxray_verify::budget::{BoxFuture, provider_key, provider_limits};
use mxray_verify::{BudgetLimits, SharedBudget, SharedLease};
use serde::{Deserialize, Serialize};

use crate::wire::now_ms;
use crate::{ClusterError, patiently};

/// The bucket: one key per provider.
pub const BUDGETS_BUCKET: &str = "mxray_budgets";

/// A lease not renewed for this long is free again (its worker died or lost the server).
const LEASE_TTL_MS: u64 = 15_000;
/// Renewed this often while its session runs.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How long the coordinator may be unreachable before a worker gives up starting sessions.
const PATIENCE: Duration = Duration::from_secs(30);
/// Compare-and-swap attempts for a success or throttling note (they are advice; a lost one
/// costs nothing).
const NOTE_TRIES: usize = 8;

/// One provider's shared state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct State {
    /// Current session limit (AIMD), at most the configured maximum.
    limit: usize,
    /// Lease id -> expiry (unix ms).
    leases: BTreeMap<String, u64>,
    next_connect_ms: u64,
    paused_until_ms: u64,
    successes: usize,
    strikes: u32,
    /// Counters, for the benchmark and `nats kv get`.
    peak: usize,
    connections: u64,
    throttled: u64,
}

impl State {
    fn new(limits: BudgetLimits) -> State {
        State {
            limit: limits.max_sessions.max(1),
            leases: BTreeMap::new(),
            next_connect_ms: 0,
            paused_until_ms: 0,
            successes: 0,
            strikes: 0,
            peak: 0,
            connections: 0,
            throttled: 0,
        }
    }

    /// Takes a slot for `id` if one is free and the rate and any pause allow it; otherwise
    /// how long to wait before looking again.
    fn take(&mut self, id: &str, limits: BudgetLimits, now: u64) -> Result<(), Duration> {
        self.leases.retain(|_, exp| *exp > now);
        let limit = self.limit.min(limits.max_sessions).max(1);
        let gate = self.next_connect_ms.max(self.paused_until_ms);
        if gate > now {
            return Err(Duration::from_millis(gate - now));
        }
        if self.leases.len() >= limit {
            return Err(Duration::from_millis(150));
        }
        self.leases.insert(id.to_string(), now + LEASE_TTL_MS);
        self.next_connect_ms = now + 60_000 / u64::from(limits.connects_per_minute.max(1));
        self.peak = self.peak.max(self.leases.len());
        self.connections += 1;
        Ok(())
    }

    fn success(&mut self, limits: BudgetLimits) {
        self.strikes = 0;
        self.successes += 1;
        if self.limit < limits.max_sessions && self.successes >= self.limit * 4 {
            self.limit += 1;
            self.successes = 0;
        }
    }

    fn throttled(&mut self, hint: Option<Duration>, now: u64) {
        self.throttled += 1;
        self.limit = (self.limit / 2).max(1);
        self.successes = 0;
        self.strikes = (self.strikes + 1).min(8);
        let backoff = hint
            .unwrap_or_else(|| Duration::from_millis(250 << self.strikes))
            .min(Duration::from_secs(120));
        self.paused_until_ms = self.paused_until_ms.max(now + backoff.as_millis() as u64);
    }
}

/// The cluster's budgets, as this worker uses them (cheap to clone).
#[derive(Clone)]
pub struct KvBudget(Arc<Inner>);

struct Inner {
    kv: kv::Store,
    worker: String,
    /// The most any provider gets across the cluster (the provider table may say less).
    limits: BudgetLimits,
    seq: AtomicU64,
}

impl KvBudget {
    /// Opens (or creates) the bucket. `limits`: per provider across the whole cluster.
    pub async fn open(
        js: &jetstream::Context,
        worker: &str,
        limits: BudgetLimits,
    ) -> Result<KvBudget, ClusterError> {
        let config = kv::Config {
            bucket: BUDGETS_BUCKET.into(),
            history: 1,
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        };
        let kv = patiently("open the budgets bucket", PATIENCE, || {
            crate::bucket(js, config.clone())
        })
        .await?;
        Ok(KvBudget(Arc::new(Inner {
            kv,
            worker: worker.to_string(),
            limits,
            seq: AtomicU64::new(0),
        })))
    }
}

impl Inner {
    /// The provider's key in the bucket and its limits.
    fn key(&self, mx_host: &str) -> (String, BudgetLimits) {
        let key: String = provider_key(mx_host)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        (key, provider_limits(mx_host, self.limits))
    }

    /// Reads a provider's state and its revision (none yet: a fresh state).
    async fn read(&self, key: &str, limits: BudgetLimits) -> Result<(State, Option<u64>), String> {
        match self.kv.entry(key).await.map_err(|e| e.to_string())? {
            Some(e) if e.operation == kv::Operation::Put => {
                let st = serde_json::from_slice(&e.value).unwrap_or_else(|_| State::new(limits));
                Ok((st, Some(e.revision)))
            }
            _ => Ok((State::new(limits), None)),
        }
    }

    /// Writes `st` if the key is still at `rev` (false: someone else changed it first).
    async fn write(&self, key: &str, st: &State, rev: Option<u64>) -> Result<bool, String> {
        let body: Bytes = serde_json::to_vec(st).map_err(|e| e.to_string())?.into();
        match rev {
            Some(r) => match self.kv.update(key, body, r).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
                Err(e) => Err(e.to_string()),
            },
            // Created meanwhile by another worker: a conflict, like a stale revision.
            None => match self.kv.create(key, body).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e.to_string()),
            },
        }
    }

    /// Applies `change` by compare-and-swap, a few times at most (advice, not a slot).
    async fn note(&self, mx_host: &str, change: impl Fn(&mut State, BudgetLimits)) {
        let (key, limits) = self.key(mx_host);
        self.note_raw(&key, limits, |st| change(st, limits)).await;
    }

    async fn take(self: Arc<Self>, mx_host: &str) -> Result<SharedLease, String> {
        let (key, limits) = self.key(mx_host);
        let id = format!(
            "{}-{}",
            self.worker,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let mut down_since: Option<tokio::time::Instant> = None;
        loop {
            let attempt = async {
                let (mut st, rev) = self.read(&key, limits).await?;
                match st.take(&id, limits, now_ms()) {
                    Ok(()) => Ok::<_, String>(self.write(&key, &st, rev).await?.then_some(())),
                    Err(wait) => {
                        tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
                        Ok(None)
                    }
                }
            };
            match attempt.await {
                Ok(Some(())) => break,
                Ok(None) => down_since = None,
                Err(e) => {
                    let since = *down_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() > PATIENCE {
                        return Err(format!("the cluster's budgets ({BUDGETS_BUCKET}): {e}"));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        // Renewed while held; given back when dropped.
        let me = self.clone();
        let (k, lease_id) = (key.clone(), id.clone());
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                me.note_raw(&k, limits, |st| {
                    if let Some(exp) = st.leases.get_mut(&lease_id) {
                        *exp = now_ms() + LEASE_TTL_MS;
                    }
                })
                .await;
            }
        });
        Ok(SharedLease(Box::new(Lease {
            budget: self.clone(),
            key,
            id,
            limits,
            renew,
        })))
    }

    async fn note_raw(&self, key: &str, limits: BudgetLimits, change: impl Fn(&mut State)) {
        for _ in 0..NOTE_TRIES {
            let Ok((mut st, rev)) = self.read(key, limits).await else {
                return;
            };
            change(&mut st);
            match self.write(key, &st, rev).await {
                Ok(true) | Err(_) => return,
                Ok(false) => continue,
            }
        }
    }
}

/// A held slot: renewed by its task, released when dropped.
struct Lease {
    budget: Arc<Inner>,
    key: String,
    id: String,
    limits: BudgetLimits,
    renew: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
        let (b, key, id, limits) = (
            self.budget.clone(),
            self.key.clone(),
            self.id.clone(),
            self.limits,
        );
        // Outside a runtime (a process ending) the lease simply expires.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                b.note_raw(&key, limits, |st| {
                    st.leases.remove(&id);
                })
                .await;
            });
        }
    }
}

impl SharedBudget for KvBudget {
    fn acquire<'a>(&'a self, mx_host: &'a str) -> BoxFuture<'a, Result<SharedLease, String>> {
        Box::pin(self.0.clone().take(mx_host))
    }

    fn success<'a>(&'a self, mx_host: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.0.note(mx_host, |st, limits| st.success(limits)))
    }

    fn throttled<'a>(&'a self, mx_host: &'a str, hint: Option<Duration>) -> BoxFuture<'a, ()> {
        Box::pin(
            self.0
                .note(mx_host, move |st, _| st.throttled(hint, now_ms())),
        )
    }
}

/// Peak simultaneous sessions the cluster held for a provider key (for tests and benchmarks).
pub async fn peak(js: &jetstream::Context, key: &str) -> Result<Option<usize>, ClusterError> {
    let kv = js
        .get_key_value(BUDGETS_BUCKET)
        .await
        .map_err(|e| ClusterError::js("open the budgets bucket", e))?;
    let raw = kv
        .get(key)
        .await
        .map_err(|e| ClusterError::js("read a budget", e))?;
    Ok(raw
        .and_then(|r| serde_json::from_slice::<State>(&r).ok())
        .map(|s| s.peak))
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: BudgetLimits = BudgetLimits {
        max_sessions: 2,
        connects_per_minute: 60_000,
    };

    #[test]
    fn slots_are_limited_and_expired_leases_return() {
        let mut st = State::new(L);
        assert!(st.take("a", L, 1_000).is_ok());
        assert!(st.take("b", L, 1_002).is_ok());
        assert!(st.take("c", L, 1_004).is_err(), "the limit is 2");
        // a's holder died: after the TTL its slot is free.
        assert!(st.take("c", L, 1_000 + LEASE_TTL_MS + 1).is_ok());
        assert_eq!(st.peak, 2);
    }

    #[test]
    fn the_connection_rate_spaces_new_sessions() {
        let slow = BudgetLimits {
            max_sessions: 5,
            connects_per_minute: 60,
        };
        let mut st = State::new(slow);
        assert!(st.take("a", slow, 10_000).is_ok());
        assert_eq!(
            st.take("b", slow, 10_100),
            Err(Duration::from_millis(900)),
            "one a second"
        );
        assert!(st.take("b", slow, 11_000).is_ok());
    }

    #[test]
    fn throttling_halves_and_pauses_for_everyone_then_grows_back() {
        let four = BudgetLimits {
            max_sessions: 4,
            connects_per_minute: 60_000,
        };
        let mut st = State::new(four);
        st.throttled(Some(Duration::from_secs(2)), 5_000);
        assert_eq!(st.limit, 2);
        assert!(st.take("a", four, 6_000).is_err(), "paused until 7,000");
        assert!(st.take("a", four, 7_000).is_ok());
        for _ in 0..8 {
            st.success(four);
        }
        assert_eq!(st.limit, 3);
    }
}
