//! A lab on its own tokio runtime, for callers that are not async: `lab serve`, `lab demo` and
//! the end-to-end tests start one and keep their own thread free to run blocking work against it.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use crate::{
    Lab, LabError, LabOptions, LabStats, ReadyInfo, Received, Scenario, ScenarioError, bundled,
};

/// How long stopping waits for the runtime's blocking threads (a `lab serve` reading stdin
/// may never return from its read).
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(500);

/// Why a lab handle could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The name, escaped for display.
    #[error("no bundled scenario named {0:?} (try seeds or world)")]
    UnknownBundled(String),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("lab: {0}")]
    Lab(#[source] LabError),
}

impl StartError {
    /// True when the environment, not the scenario, is at fault (no runtime, a port taken).
    pub fn is_environment(&self) -> bool {
        match self {
            StartError::Runtime(_) => true,
            StartError::Lab(e) => e.is_bind(),
            StartError::UnknownBundled(_) | StartError::Scenario(_) => false,
        }
    }
}

/// A running lab and the runtime it runs on. Dropping it stops both.
pub struct LabHandle {
    lab: Option<Lab>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LabHandle {
    /// Starts `scenario` on a new two-thread runtime and returns once every server listens.
    pub fn start(scenario: Scenario, options: LabOptions) -> Result<LabHandle, StartError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mxray-lab")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let lab = runtime
            .block_on(Lab::start(scenario, options))
            .map_err(StartError::Lab)?;
        Ok(LabHandle {
            lab: Some(lab),
            runtime: Some(runtime),
        })
    }

    /// Starts a scenario given as TOML text; `name` names it in errors and in the ready info.
    pub fn from_toml(text: &str, name: &str, options: LabOptions) -> Result<LabHandle, StartError> {
        LabHandle::start(Scenario::from_str_named(text, name)?, options)
    }

    /// Starts a bundled scenario by name (`seeds`, `world.toml`).
    pub fn bundled(name: &str, options: LabOptions) -> Result<LabHandle, StartError> {
        let text = bundled::get(name)
            .ok_or_else(|| StartError::UnknownBundled(name.escape_debug().to_string()))?;
        LabHandle::from_toml(text, name, options)
    }

    /// The running lab, for everything this handle does not repeat.
    pub fn lab(&self) -> &Lab {
        // Only `stop` and `drop` take the lab out, and both consume the handle.
        self.lab.as_ref().expect("lab runs until the handle stops")
    }

    /// What another program needs to use the lab (the `--ready-file` document).
    pub fn info(&self) -> ReadyInfo {
        self.lab().ready_info()
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> LabStats {
        self.lab().stats()
    }

    /// The DNS server (the `--resolver` for other verbs).
    pub fn resolver(&self) -> SocketAddr {
        self.lab().resolver()
    }

    /// The port every SMTP host listens on.
    pub fn smtp_port(&self) -> u16 {
        self.lab().smtp_port()
    }

    /// The messages submission host `name` accepted so far, oldest first.
    pub fn received(&self, name: &str) -> Result<Vec<Received>, LabError> {
        self.lab().received(name)
    }

    /// The lab CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        self.lab().ca_pem()
    }

    /// Runs `fut` on the lab's runtime until it completes (e.g. waiting for a signal).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        // Only `stop` and `drop` take the runtime out, and both consume the handle.
        self.runtime
            .as_ref()
            .expect("runtime lives until the handle stops")
            .block_on(fut)
    }

    /// Stops every server, then the runtime, and returns the final counters.
    pub fn stop(mut self) -> LabStats {
        let stats = self.stats();
        self.shut_down();
        stats
    }

    fn shut_down(&mut self) {
        if let (Some(lab), Some(rt)) = (self.lab.take(), self.runtime.as_ref()) {
            rt.block_on(lab.shutdown());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(RUNTIME_SHUTDOWN);
        }
    }
}

impl Drop for LabHandle {
    fn drop(&mut self) {
        self.shut_down();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_a_bundled_world_and_stops_it() {
        let lab = LabHandle::bundled("seeds", LabOptions::default()).expect("seeds start");
        assert!(lab.smtp_port() > 0);
        assert_eq!(lab.info().resolver, lab.resolver().to_string());
        let stats = lab.stop();
        assert_eq!(stats.dns.queries, 0);
    }

    #[test]
    fn unknown_names_and_bad_scenarios_are_not_the_environment() {
        let e = LabHandle::bundled("nope", LabOptions::default())
            .err()
            .expect("no such scenario");
        assert_eq!(
            e.to_string(),
            "no bundled scenario named \"nope\" (try seeds or world)"
        );
        assert!(!e.is_environment());
        let e = LabHandle::from_toml("[[nonsense", "bad.toml", LabOptions::default())
            .err()
            .expect("bad scenario");
        assert!(!e.is_environment());
    }
}
