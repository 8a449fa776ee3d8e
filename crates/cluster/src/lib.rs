//! mxray-cluster: bulk verification spread over machines on NATS JetStream. A submitter
//! publishes tasks (one domain's addresses each) to a work queue; workers verify them with
//! their own egress and publish results, deduplicated by message id; the submitter reads the
//! job's results back and writes them as a local run would.
//!
//! # Layout
//! - `wire`: names, the task and result messages, message ids.
//! - `budget`: one politeness per provider for the whole cluster (leases in a key-value
//!   bucket, compare-and-swap, one AIMD state).
//! - `submit`: publishing a job's tasks (once, whatever the reruns) and reading its results.
//! - `worker`: the worker loop: pull, verify, publish, then acknowledge; retries pinned to the
//!   worker that was greylisted.
//!
//! Mail traffic still leaves through `mxray-net` only (the worker runs `mxray-verify`'s
//! engine); this crate's one socket is the NATS client's, to the user's own server.
//!
//! Delivery: tasks are at-least-once (a worker acknowledges a task only after every result of
//! it is stored by the server; a dead worker's task comes back after its ack wait), results
//! exactly-once (each has the message id job + input index, and the submitter keeps the first
//! of any duplicate beyond the server's window).

pub mod budget;
pub mod submit;
pub mod wire;
pub mod worker;

use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// A connection to the cluster's JetStream server (from [`connect`]).
pub type Cluster = jetstream::Context;

/// What can go wrong talking to the cluster. Messages name the server and the step.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach the NATS server at {url}: {detail} (is nats-server -js running there?)")]
    Connect { url: String, detail: String },
    #[error("NATS JetStream: {step}: {detail}")]
    JetStream { step: String, detail: String },
    #[error("{0}")]
    Name(String),
    #[error("this worker's egress failed: {0}")]
    Egress(String),
    #[error("job {job}: {detail}")]
    Job { job: String, detail: String },
}

impl ClusterError {
    pub(crate) fn js(step: impl Into<String>, e: impl std::fmt::Display) -> ClusterError {
        ClusterError::JetStream {
            step: step.into(),
            detail: e.to_string(),
        }
    }
}

/// Connects to `url` (nats://host:port), trying again until `patience` has passed (a server
/// starting at the same time as its workers), each try within `timeout`. Later outages are
/// ridden out: the client reconnects on its own, and JetStream calls fail (and are retried)
/// meanwhile.
pub async fn connect(
    url: &str,
    name: &str,
    timeout: Duration,
    patience: Duration,
) -> Result<jetstream::Context, ClusterError> {
    let until = tokio::time::Instant::now() + patience;
    let client = loop {
        let opts = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(timeout)
            .request_timeout(Some(timeout));
        let detail = match tokio::time::timeout(timeout, opts.connect(url)).await {
            Ok(Ok(c)) => break c,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", timeout.as_millis()),
        };
        if tokio::time::Instant::now() >= until {
            return Err(ClusterError::Connect {
                url: url.to_string(),
                detail,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let js = jetstream::new(client);
    patiently("set up the streams", patience.max(timeout), || ensure(&js)).await?;
    Ok(js)
}

/// Creates the streams and the jobs bucket if missing (every party does; creation is
/// idempotent for the same configuration).
async fn ensure(js: &jetstream::Context) -> Result<(), ClusterError> {
    js.get_or_create_stream(stream::Config {
        name: wire::TASKS.into(),
        subjects: vec!["mxray.task.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        duplicate_window: wire::DEDUP_WINDOW,
        ..Default::default()
    })
    .await
    .map_err(|e| ClusterError::js(format!("stream {}", wire::TASKS), e))?;
    js.get_or_create_stream(stream::Config {
        name: wire::RESULTS.into(),
        subjects: vec!["mxray.result.>".into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: wire::RESULTS_MAX_AGE,
        duplicate_window: wire::DEDUP_WINDOW,
        ..Default::default()
    })
    .await
    .map_err(|e| ClusterError::js(format!("stream {}", wire::RESULTS), e))?;
    bucket(
        js,
        jetstream::kv::Config {
            bucket: wire::JOBS_BUCKET.into(),
            history: 1,
            storage: stream::StorageType::File,
            max_age: wire::RESULTS_MAX_AGE,
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// A key-value bucket, created with `config` when missing.
pub(crate) async fn bucket(
    js: &jetstream::Context,
    config: jetstream::kv::Config,
) -> Result<jetstream::kv::Store, ClusterError> {
    if let Ok(kv) = js.get_key_value(&config.bucket).await {
        return Ok(kv);
    }
    let name = config.bucket.clone();
    js.create_key_value(config)
        .await
        .map_err(|e| ClusterError::js(format!("bucket {name}"), e))
}

/// Retries a JetStream step through a server restart: up to `patience`, with backoff.
pub(crate) async fn patiently<T, E, F, Fut>(
    step: &str,
    patience: Duration,
    mut f: F,
) -> Result<T, ClusterError>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let until = tokio::time::Instant::now() + patience;
    let mut wait = Duration::from_millis(100);
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() + wait > until => {
                return Err(ClusterError::js(step, e));
            }
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
        }
    }
}
