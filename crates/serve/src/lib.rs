//! mxray-serve: the HTTP API in front of the same libraries as the CLI, with the same JSON
//! documents (`schema_version` and all), behind API keys and the public-only address policy.
//!
//! # Layout
//! - `keys.rs`: API keys, created and shown once, stored hashed in `DATA/mxray.db`.
//! - `jobs.rs`: bulk verification jobs: queued, run by one worker, resumed after a restart.
//! - `openapi.rs`: the OpenAPI 3.1 document, its schemas generated from the types.
//! - `metrics.rs`: the Prometheus metrics of `GET /metrics`.
//! - `monitors/`: domains diagnosed on an interval, their history, alerts (webhook, Slack,
//!   email) with digests; `monitor_routes.rs`: its `/v1/monitors` API.
//! - `web/`: the dashboard's pages (sign-in, tools; HTML from maud, a strict CSP), and the
//!   renderers other pages reuse (a diagnose report, charts).
//! - `app.rs`: the routes (`/healthz`, `/readyz`, `/v1/explain`, `/v1/domains/{d}/diagnosis`,
//!   `/v1/verify`), the key check, body limits and deadlines.
//!
//! The binary's `mxray serve` builds a [`Settings`] from its flags and calls [`serve`].

mod app;
pub mod jobs;
pub mod keys;
mod metrics;
mod monitor_routes;
pub mod monitors;
pub mod openapi;
pub mod web;

pub use app::{App, Settings, StartError, app, bind, router, serve};
pub use keys::{KeyError, KeyInfo, KeyStore};

/// Unix seconds now (0 on a clock before 1970): the time every store of the server records.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
