//! Prometheus metrics for `GET /metrics` (prometheus-client's text format): requests by route
//! and status with latencies, verification and diagnosis outcomes, SMTP sessions per provider.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOnly {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    verdict: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictOnly {
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobState {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Provider {
    provider: String,
}

/// The server's metrics; the provider figures are read from the shared budgets at each scrape.
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteOnly, Histogram>,
    verified: Family<Outcome, Counter>,
    diagnosed: Family<VerdictOnly, Counter>,
    sessions: Family<Provider, Gauge>,
    throttled: Family<Provider, Gauge>,
    jobs: Family<JobState, Gauge>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mxray");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteOnly, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 18))
        });
        let verified = Family::<Outcome, Counter>::default();
        let diagnosed = Family::<VerdictOnly, Counter>::default();
        let sessions = Family::<Provider, Gauge>::default();
        let throttled = Family::<Provider, Gauge>::default();
        let jobs = Family::<JobState, Gauge>::default();
        registry.register("jobs", "Bulk jobs by state", jobs.clone());
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "verify_results",
            "Real-time verifications by verdict and reason",
            verified.clone(),
        );
        registry.register(
            "diagnoses",
            "Diagnoses by overall verdict",
            diagnosed.clone(),
        );
        registry.register(
            "smtp_sessions",
            "SMTP sessions opened by verification, per mailbox provider, since start",
            sessions.clone(),
        );
        registry.register(
            "smtp_throttled",
            "Throttling answers (421, 4.7.x, drops) seen per provider, since start",
            throttled.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            verified,
            diagnosed,
            sessions,
            throttled,
            jobs,
        }
    }

    pub fn request(&self, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RouteLabels {
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteOnly {
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn verified(&self, verdict: &str, reason: &str) {
        self.verified
            .get_or_create(&Outcome {
                verdict: verdict.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn diagnosed(&self, verdict: &str) {
        self.diagnosed
            .get_or_create(&VerdictOnly {
                verdict: verdict.to_string(),
            })
            .inc();
    }

    /// The text exposition, with the providers' figures and the jobs by state as they are now.
    pub fn render(&self, budgets: &mxray_verify::Budgets, jobs: &[(String, u64)]) -> String {
        for (state, n) in jobs {
            self.jobs
                .get_or_create(&JobState {
                    state: state.clone(),
                })
                .set((*n).min(i64::MAX as u64) as i64);
        }
        for (provider, st) in budgets.all_stats() {
            let p = Provider { provider };
            self.sessions
                .get_or_create(&p)
                .set(st.connections.min(i64::MAX as u64) as i64);
            self.throttled
                .get_or_create(&p)
                .set(st.throttled.min(i64::MAX as u64) as i64);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_routes_outcomes_and_providers() {
        let m = Metrics::new();
        m.request("/v1/verify", 200, Duration::from_millis(12));
        m.verified("unknown", "greylisted");
        m.diagnosed("deliverable_path");
        let budgets = mxray_verify::Budgets::new(mxray_verify::BudgetLimits {
            max_sessions: 2,
            connects_per_minute: 60,
        });
        let text = m.render(&budgets, &[("done".to_string(), 3)]);
        assert!(text.contains(r#"mxray_jobs{state="done"} 3"#), "{text}");
        assert!(
            text.contains(r#"mxray_http_requests_total{route="/v1/verify",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("mxray_http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains(r#"mxray_verify_results_total{verdict="unknown",reason="greylisted"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mxray_diagnoses_total{verdict="deliverable_path"} 1"#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
