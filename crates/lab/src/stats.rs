//! What clients did to the lab: counters per server and per client address, so tests can
//! assert politeness (connections, peak concurrency, commands, RCPTs, bytes, DNS queries).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use serde::Serialize;

/// A snapshot of every counter in the lab.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct LabStats {
    pub dns: DnsStats,
    pub smtp: Vec<HostStats>,
    pub https: HttpsStats,
}

impl LabStats {
    /// The counters of the SMTP host with this name.
    pub fn host(&self, name: &str) -> Option<&HostStats> {
        self.smtp.iter().find(|h| h.name == name)
    }
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct DnsStats {
    pub queries: u64,
    pub udp: u64,
    pub tcp: u64,
    /// Queries by record type (`A`, `MX`, ...).
    pub by_type: BTreeMap<String, u64>,
    /// Failures injected, by kind (`servfail`, `timeout`, ...).
    pub injected: BTreeMap<String, u64>,
    /// Queries by client address.
    pub clients: BTreeMap<IpAddr, u64>,
}

/// Live DNS counters (behind a mutex in the server).
#[derive(Debug, Default)]
pub struct DnsCounters {
    pub stats: DnsStats,
}

impl DnsCounters {
    pub fn record(&mut self, client: IpAddr, tcp: bool, qtype: &str, injected: Option<&str>) {
        let s = &mut self.stats;
        s.queries += 1;
        if tcp {
            s.tcp += 1;
        } else {
            s.udp += 1;
        }
        bump(&mut s.by_type, qtype);
        if let Some(kind) = injected {
            bump(&mut s.injected, kind);
        }
        *s.clients.entry(client).or_default() += 1;
    }
}

/// Counters of one SMTP host, overall and per client address.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HostStats {
    pub name: String,
    pub address: IpAddr,
    #[serde(flatten)]
    pub totals: ClientStats,
    pub clients: BTreeMap<IpAddr, ClientStats>,
}

/// The same counters, for one client address or summed over all.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ClientStats {
    /// TCP connections accepted (including the ones then refused by a limit).
    pub connections: u64,
    /// Connections open right now.
    pub concurrent: u64,
    /// Highest number of simultaneous connections seen.
    pub peak_concurrency: u64,
    /// Connections answered `421 4.7.0` by a rate limit or concurrency cap.
    pub limited: u64,
    /// Commands by verb (upper case; `UNKNOWN` for anything else).
    pub commands: BTreeMap<String, u64>,
    /// RCPT commands received, and those answered 250.
    pub rcpts: u64,
    pub rcpts_accepted: u64,
    /// Completed TLS handshakes after STARTTLS.
    pub tls_handshakes: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl ClientStats {
    pub fn command(&self, verb: &str) -> u64 {
        self.commands.get(verb).copied().unwrap_or(0)
    }
}

/// Live counters of one host plus the connection history its rate limit needs.
#[derive(Debug)]
pub struct HostCounters {
    pub stats: HostStats,
    /// Accept times per client, newest last, at most the rate limit's size.
    windows: HashMap<IpAddr, VecDeque<Instant>>,
}

/// What a new connection may do, decided under one lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Accepted,
    RateLimited,
    TooConcurrent,
}

impl HostCounters {
    pub fn new(name: String, address: IpAddr) -> HostCounters {
        HostCounters {
            stats: HostStats {
                name,
                address,
                totals: ClientStats::default(),
                clients: BTreeMap::new(),
            },
            windows: HashMap::new(),
        }
    }

    fn both(&mut self, client: IpAddr, f: impl Fn(&mut ClientStats)) {
        f(&mut self.stats.totals);
        f(self.stats.clients.entry(client).or_default());
    }

    /// Counts a new connection and applies the limits; `rate` is (connections, window).
    pub fn open(
        &mut self,
        client: IpAddr,
        rate: Option<(u32, std::time::Duration)>,
        per_client: Option<u32>,
        now: Instant,
    ) -> Admission {
        self.both(client, |c| {
            c.connections += 1;
            c.concurrent += 1;
            c.peak_concurrency = c.peak_concurrency.max(c.concurrent);
        });
        let concurrent = self.stats.clients.get(&client).map_or(0, |c| c.concurrent);
        if let Some(cap) = per_client
            && concurrent > u64::from(cap)
        {
            self.both(client, |c| c.limited += 1);
            return Admission::TooConcurrent;
        }
        if let Some((max, per)) = rate {
            let w = self.windows.entry(client).or_default();
            while w.front().is_some_and(|t| now.duration_since(*t) >= per) {
                w.pop_front();
            }
            if w.len() >= max as usize {
                self.both(client, |c| c.limited += 1);
                return Admission::RateLimited;
            }
            w.push_back(now);
        }
        Admission::Accepted
    }

    pub fn close(&mut self, client: IpAddr) {
        self.both(client, |c| c.concurrent = c.concurrent.saturating_sub(1));
    }

    pub fn command(&mut self, client: IpAddr, verb: &str) {
        f_bump(&mut self.stats.totals, verb);
        f_bump(self.stats.clients.entry(client).or_default(), verb);
    }

    pub fn rcpt(&mut self, client: IpAddr, accepted: bool) {
        self.both(client, |c| {
            c.rcpts += 1;
            if accepted {
                c.rcpts_accepted += 1;
            }
        });
    }

    pub fn tls(&mut self, client: IpAddr) {
        self.both(client, |c| c.tls_handshakes += 1);
    }

    pub fn bytes(&mut self, client: IpAddr, inbound: u64, outbound: u64) {
        if inbound == 0 && outbound == 0 {
            return;
        }
        self.both(client, |c| {
            c.bytes_in += inbound;
            c.bytes_out += outbound;
        });
    }
}

fn f_bump(c: &mut ClientStats, verb: &str) {
    bump(&mut c.commands, verb);
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

/// Requests served by the MTA-STS HTTPS server.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct HttpsStats {
    pub connections: u64,
    pub requests: u64,
    /// Policies served (200).
    pub policies: u64,
    pub not_found: u64,
    pub tls_failures: u64,
}

impl fmt::Display for LabStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.dns;
        writeln!(
            f,
            "dns: {} queries ({} udp, {} tcp)",
            d.queries, d.udp, d.tcp
        )?;
        if !d.by_type.is_empty() {
            writeln!(f, "  by type: {}", join_counts(&d.by_type))?;
        }
        if !d.injected.is_empty() {
            writeln!(f, "  injected failures: {}", join_counts(&d.injected))?;
        }
        let idle = self
            .smtp
            .iter()
            .filter(|h| h.totals.connections == 0)
            .count();
        writeln!(
            f,
            "smtp: {} hosts, {idle} without connections",
            self.smtp.len()
        )?;
        for h in self.smtp.iter().filter(|h| h.totals.connections > 0) {
            let t = &h.totals;
            writeln!(
                f,
                "  {} {}: {} connections, peak {}, limited {}, {} rcpts ({} accepted), {} B in, {} B out",
                h.name,
                h.address,
                t.connections,
                t.peak_concurrency,
                t.limited,
                t.rcpts,
                t.rcpts_accepted,
                t.bytes_in,
                t.bytes_out
            )?;
            if !t.commands.is_empty() {
                writeln!(f, "    commands: {}", join_counts(&t.commands))?;
            }
            for (ip, c) in &h.clients {
                writeln!(
                    f,
                    "    client {ip}: {} connections, peak {}, limited {}, {} rcpts",
                    c.connections, c.peak_concurrency, c.limited, c.rcpts
                )?;
            }
        }
        let s = &self.https;
        write!(
            f,
            "https: {} connections, {} requests, {} policies served, {} not found",
            s.connections, s.requests, s.policies, s.not_found
        )
    }
}

fn join_counts(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{} {v}", k.escape_debug()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limits() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut h = HostCounters::new("mx.test".into(), ip);
        let now = Instant::now();
        let rate = Some((2, Duration::from_secs(10)));
        assert_eq!(h.open(ip, rate, None, now), Admission::Accepted);
        h.close(ip);
        assert_eq!(h.open(ip, rate, None, now), Admission::Accepted);
        h.close(ip);
        assert_eq!(h.open(ip, rate, None, now), Admission::RateLimited);
        h.close(ip);
        let later = now + Duration::from_secs(11);
        assert_eq!(h.open(ip, rate, None, later), Admission::Accepted);
        assert_eq!(h.open(ip, None, Some(1), later), Admission::TooConcurrent);
        assert_eq!(h.stats.totals.peak_concurrency, 2);
        assert_eq!(h.stats.totals.limited, 2);
    }
}
