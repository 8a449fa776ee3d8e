//! Politeness: one budget per provider (MX hosts under one registrable domain share it) that
//! caps concurrent sessions and new connections per minute, shrinking on throttling (AIMD).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mxray_core::DomainName;

use tokio::sync::Notify;

/// Limits every provider starts with.
#[derive(Debug, Clone, Copy)]
pub struct BudgetLimits {
    /// Simultaneous sessions per provider (the most AIMD may grow back to).
    pub max_sessions: usize,
    /// New connections per minute per provider.
    pub connects_per_minute: u32,
}

#[derive(Debug)]
struct State {
    /// Current session limit (1..=max_sessions).
    limit: usize,
    active: usize,
    /// Successful sessions since the last decrease: the limit grows back one step per
    /// `limit * 4` of them (additive increase, slowly).
    successes: usize,
    next_connect: Instant,
    /// Nobody connects before this (set on throttling).
    paused_until: Instant,
    /// Consecutive throttling signals, for exponential backoff.
    strikes: u32,
    peak: usize,
    connections: u64,
    throttled: u64,
}

/// One provider's budget.
#[derive(Debug)]
pub struct Budget {
    pub key: String,
    limits: BudgetLimits,
    state: Mutex<State>,
    notify: Notify,
}

/// A session slot; dropping it frees the slot.
pub struct Permit {
    budget: Arc<Budget>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut s) = self.budget.state.lock() {
            s.active = s.active.saturating_sub(1);
        }
        self.budget.notify.notify_waiters();
    }
}

/// Counters for the run summary and the benchmarks.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, schemars::JsonSchema)]
pub struct BudgetStats {
    pub connections: u64,
    pub peak_sessions: usize,
    pub throttled: u64,
    pub final_limit: usize,
}

impl Budget {
    fn new(key: String, limits: BudgetLimits) -> Budget {
        let now = Instant::now();
        Budget {
            key,
            limits,
            state: Mutex::new(State {
                limit: limits.max_sessions.max(1),
                active: 0,
                successes: 0,
                next_connect: now,
                paused_until: now,
                strikes: 0,
                peak: 0,
                connections: 0,
                throttled: 0,
            }),
            notify: Notify::new(),
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(60) / self.limits.connects_per_minute.max(1)
    }

    /// Waits for a session slot and for the connection rate to allow a new connection.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let notified = self.notify.notified();
            let wait = {
                let Ok(mut s) = self.state.lock() else {
                    // A poisoned lock only means another task panicked; carry on unthrottled.
                    return Permit {
                        budget: self.clone(),
                    };
                };
                let now = Instant::now();
                let gate = s.next_connect.max(s.paused_until);
                if s.active < s.limit && gate <= now {
                    s.active += 1;
                    s.peak = s.peak.max(s.active);
                    s.connections += 1;
                    s.next_connect = now + self.interval();
                    return Permit {
                        budget: self.clone(),
                    };
                }
                if s.active < s.limit {
                    Some(gate - now)
                } else {
                    None
                }
            };
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                // Full: wait for a release (or a limit change), re-checking now and then.
                None => {
                    let _ = tokio::time::timeout(Duration::from_millis(250), notified).await;
                }
            }
        }
    }

    /// A session went well: grow back slowly.
    pub fn success(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.strikes = 0;
            s.successes += 1;
            if s.limit < self.limits.max_sessions && s.successes >= s.limit * 4 {
                s.limit += 1;
                s.successes = 0;
            }
        }
        self.notify.notify_waiters();
    }

    /// 421, 4.7.x throttling or a drop: halve the limit and pause, longer each time.
    pub fn throttled(&self, hint: Option<Duration>) {
        if let Ok(mut s) = self.state.lock() {
            s.throttled += 1;
            s.limit = (s.limit / 2).max(1);
            s.successes = 0;
            s.strikes = (s.strikes + 1).min(8);
            let backoff = hint.unwrap_or_else(|| Duration::from_millis(250 << s.strikes));
            let until = Instant::now() + backoff.min(Duration::from_secs(120));
            s.paused_until = s.paused_until.max(until);
        }
    }

    /// The session limit now (the provider's maximum, less while it throttles us).
    pub fn limit(&self) -> usize {
        self.state.lock().map_or(1, |s| s.limit)
    }

    /// When a throttling pause ends, if one is on now.
    pub fn paused_until(&self) -> Option<Instant> {
        let s = self.state.lock().ok()?;
        (s.paused_until > Instant::now()).then_some(s.paused_until)
    }

    pub fn stats(&self) -> BudgetStats {
        self.state.lock().map_or_else(
            |_| BudgetStats::default(),
            |s| BudgetStats {
                connections: s.connections,
                peak_sessions: s.peak,
                throttled: s.throttled,
                final_limit: s.limit,
            },
        )
    }
}

/// Every provider's budget, created on first use.
pub struct Budgets {
    limits: BudgetLimits,
    map: Mutex<HashMap<String, Arc<Budget>>>,
}

impl Budgets {
    pub fn new(limits: BudgetLimits) -> Budgets {
        Budgets {
            limits,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The budget for an MX host, keyed by `provider_key` (aspmx.l.google.com and
    /// alt1.aspmx.l.google.com share Gmail's; other hosts their registrable domain's).
    pub fn for_host(&self, mx_host: &str) -> Arc<Budget> {
        let key = provider_key(mx_host);
        let limits = provider_limits(mx_host, self.limits);
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.entry(key.clone())
            .or_insert_with(|| Arc::new(Budget::new(key, limits)))
            .clone()
    }

    pub fn all_stats(&self) -> Vec<(String, BudgetStats)> {
        let map = match self.map.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let mut v: Vec<_> = map.iter().map(|(k, b)| (k.clone(), b.stats())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// The limits for `mx_host`'s provider: the provider table's default budget when it knows the
/// provider, never more than `base` (the run's).
pub fn provider_limits(mx_host: &str, base: BudgetLimits) -> BudgetLimits {
    crate::providers::global()
        .recognise(mx_host)
        .map_or(base, |p| BudgetLimits {
            max_sessions: p.max_sessions.min(base.max_sessions),
            connects_per_minute: p.connects_per_minute.min(base.connects_per_minute),
        })
}

/// A budget shared with other processes (a cluster's workers): per provider, the sessions
/// open and the connection rate across all of them, and one AIMD state, so a provider sees
/// the cluster as one polite client. It comes on top of this process's own [`Budgets`] (the
/// egress's own limits).
pub trait SharedBudget: Send + Sync {
    /// Waits for a session slot of `mx_host`'s provider across the cluster. `Err`: the
    /// coordinator cannot be reached, so no session may start (the caller stops).
    fn acquire<'a>(&'a self, mx_host: &'a str) -> BoxFuture<'a, Result<SharedLease, String>>;
    /// A session went well (the limit grows back slowly).
    fn success<'a>(&'a self, mx_host: &'a str) -> BoxFuture<'a, ()>;
    /// 421, 4.7.x or a drop: halve the provider's limit for everyone and pause.
    fn throttled<'a>(&'a self, mx_host: &'a str, hint: Option<Duration>) -> BoxFuture<'a, ()>;
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A session slot held across the cluster; dropping it gives the slot back (and a holder that
/// dies without dropping it loses it when its lease expires).
pub struct SharedLease(pub Box<dyn Send + Sync>);

/// The provider an MX host belongs to: its id in the provider table (so Yahoo's and AOL's
/// hosts share one budget), else its registrable domain (`mx1.mail.example.com` ->
/// `example.com`), so every host of one provider shares one budget.
pub fn provider_key(mx_host: &str) -> String {
    if let Some(p) = crate::providers::global().recognise(mx_host) {
        return p.id.to_string();
    }
    DomainName::from_dns(mx_host).registrable().into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_share_budgets() {
        assert_eq!(provider_key("alt1.aspmx.l.google.com"), "gmail");
        assert_eq!(provider_key("mailin-01.mx.aol.com"), "yahoo");
        assert_eq!(provider_key("mx.other.example.com"), "example.com");
        assert_eq!(provider_key("mx.bulk01.test"), "bulk01.test");
    }

    #[tokio::test]
    async fn limit_halves_on_throttling_and_grows_back() {
        let b = Arc::new(Budget::new(
            "x".into(),
            BudgetLimits {
                max_sessions: 4,
                connects_per_minute: 60_000,
            },
        ));
        let p1 = b.acquire().await;
        b.throttled(Some(Duration::from_millis(1)));
        assert_eq!(b.stats().final_limit, 2);
        b.throttled(Some(Duration::from_millis(1)));
        assert_eq!(b.stats().final_limit, 1);
        drop(p1);
        for _ in 0..4 {
            let _p = b.acquire().await;
            b.success();
        }
        assert_eq!(b.stats().final_limit, 2);
    }
}
