//! The submitting side: a job's tasks published once (a rerun finds the job and publishes
//! nothing; a rerun after dying mid-way publishes again and the server drops what it has), and
//! the job's results read back, each input line once.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use mxray_verify::input::InputError;
use mxray_verify::{Item, VerifyResult};

use crate::wire::{self, JobMeta, ResultMsg, Task, TaskItem};
use crate::{ClusterError, patiently};

/// Addresses per task: a domain with more is split, and its parts may run on several workers.
pub const TASK_SIZE: usize = 500;

/// Input lines grouped by domain at a time (the tasks of one window are dealt round-robin
/// across its domains): wide, so a sorted list does not queue one provider's tasks first.
pub const GROUPING: usize = 100_000;

/// Publish acknowledgements awaited at a time.
const IN_FLIGHT: usize = 256;

/// How long a step may wait for a restarting server before the run gives up.
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// A job on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub name: String,
    pub meta: JobMeta,
    /// Found already submitted: this run only reads its results.
    pub attached: bool,
}

/// What a job was submitted with; a rerun under the same name must have the same input.
pub struct Submission {
    pub job: String,
    /// A digest of the input, kept with the job.
    pub digest: String,
    /// The job's patience per address, from its first probe.
    pub deadline: Duration,
}

/// Publishes the job's tasks unless the job already exists (then its results are only read).
/// `batches` is read only when publishing.
pub async fn submit<I>(
    js: &jetstream::Context,
    sub: &Submission,
    batches: I,
) -> Result<Job, SubmitError>
where
    I: IntoIterator<Item = Result<Vec<Item>, InputError>>,
{
    wire::check_name("job", &sub.job)?;
    let kv = patiently("open the jobs bucket", PATIENCE, || {
        js.get_key_value(wire::JOBS_BUCKET)
    })
    .await?;
    let existing = patiently("read the job", PATIENCE, || kv.get(&sub.job)).await?;
    if let Some(raw) = existing {
        let meta: JobMeta = serde_json::from_slice(&raw).map_err(|e| ClusterError::Job {
            job: sub.job.clone(),
            detail: format!("its entry in {} is unreadable: {e}", wire::JOBS_BUCKET),
        })?;
        if meta.digest != sub.digest {
            return Err(ClusterError::Job {
                job: sub.job.clone(),
                detail: "it exists for another input list: give this list another --job name"
                    .into(),
            }
            .into());
        }
        return Ok(Job {
            name: sub.job.clone(),
            meta,
            attached: true,
        });
    }
    let deadline_ms = sub.deadline.as_millis() as u64;
    let mut seq = 0u64;
    let mut lines = 0u64;
    let mut acks = Vec::new();
    for batch in batches {
        let batch = batch?;
        lines += batch.len() as u64;
        // One task per domain (per TASK_SIZE addresses of it), in first-seen order.
        let mut order: Vec<String> = Vec::new();
        let mut by_domain: HashMap<String, Vec<TaskItem>> = HashMap::new();
        for it in batch {
            let domain = domain_of(&it.input);
            let list = by_domain.entry(domain.clone()).or_insert_with(|| {
                order.push(domain);
                Vec::new()
            });
            list.push(TaskItem {
                index: it.index,
                input: it.input,
                row: it.row,
                attempts: 0,
                first_ms: None,
            });
        }
        // Chunks of TASK_SIZE, dealt round-robin across domains: the first tasks in the queue
        // are of different domains (and likely providers), so workers start them all at once.
        let mut chunks: Vec<std::collections::VecDeque<Vec<TaskItem>>> = order
            .iter()
            .filter_map(|d| by_domain.remove(d))
            .map(|mut items| {
                let mut q = std::collections::VecDeque::new();
                while !items.is_empty() {
                    let rest = items.split_off(items.len().min(TASK_SIZE));
                    q.push_back(std::mem::replace(&mut items, rest));
                }
                q
            })
            .collect();
        while !chunks.is_empty() {
            for q in chunks.iter_mut() {
                let Some(items) = q.pop_front() else {
                    continue;
                };
                let task = Task {
                    job: sub.job.clone(),
                    seq,
                    attempt: 0,
                    not_before_ms: None,
                    deadline_ms,
                    items,
                };
                acks.push(publish_task(js, &wire::task_subject(&sub.job), &task).await?);
                seq += 1;
                if acks.len() >= IN_FLIGHT {
                    confirm(std::mem::take(&mut acks)).await?;
                }
            }
            chunks.retain(|q| !q.is_empty());
        }
    }
    confirm(acks).await?;
    let meta = JobMeta {
        lines,
        tasks: seq,
        digest: sub.digest.clone(),
    };
    let raw = serde_json::to_vec(&meta).map_err(|e| ClusterError::js("encode the job", e))?;
    patiently("record the job", PATIENCE, || {
        kv.put(&sub.job, raw.clone().into())
    })
    .await?;
    Ok(Job {
        name: sub.job.clone(),
        meta,
        attached: false,
    })
}

/// Publishes one task with its message id (a duplicate is dropped by the server).
pub(crate) async fn publish_task(
    js: &jetstream::Context,
    subject: &str,
    task: &Task,
) -> Result<jetstream::context::PublishAckFuture, ClusterError> {
    let body = serde_json::to_vec(task).map_err(|e| ClusterError::js("encode a task", e))?;
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", wire::task_id(task).as_str());
    let subject = subject.to_string();
    patiently("publish a task", PATIENCE, || {
        js.publish_with_headers(subject.clone(), headers.clone(), body.clone().into())
    })
    .await
}

/// Waits until the server has stored every publication.
pub(crate) async fn confirm(
    acks: Vec<jetstream::context::PublishAckFuture>,
) -> Result<(), ClusterError> {
    for a in acks {
        a.await
            .map_err(|e| ClusterError::js("store a publication", e))?;
    }
    Ok(())
}

/// The domain part, for grouping tasks and for a worker's one task per domain (the engine
/// judges the syntax itself).
pub(crate) fn domain_of(input: &str) -> String {
    input
        .trim()
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase())
        .unwrap_or_default()
}

/// A job's results as they arrive, each input line once.
pub struct Results {
    messages: consumer::pull::Ordered,
    seen: Vec<u64>,
    left: u64,
}

impl Results {
    /// Reads `job`'s results from the beginning (a re-attached submitter rewrites its output
    /// whole, each line once).
    pub async fn open(js: &jetstream::Context, job: &Job) -> Result<Results, ClusterError> {
        let stream = patiently("open the results stream", PATIENCE, || {
            js.get_stream(wire::RESULTS)
        })
        .await?;
        let subject = wire::result_subject(&job.name);
        let consumer = patiently("read the results", PATIENCE, || {
            stream.create_consumer(consumer::pull::OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
        })
        .await?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| ClusterError::js("read the results", e))?;
        Ok(Results {
            messages,
            seen: vec![0; job.meta.lines.div_ceil(64) as usize],
            left: job.meta.lines,
        })
    }

    /// Results still expected.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// The next new result (input index, result, the worker that decided it); `None` once
    /// every line has one.
    pub async fn next(&mut self) -> Option<Result<(u64, VerifyResult, String), ClusterError>> {
        let mut outage: Option<tokio::time::Instant> = None;
        while self.left > 0 {
            let msg = match self.messages.next().await {
                Some(Ok(m)) => m,
                // The ordered consumer recreates itself after a server restart; give up only
                // when the server stays away.
                Some(Err(e)) => {
                    let since = *outage.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() > PATIENCE {
                        return Some(Err(ClusterError::js("read the results", e)));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                None => {
                    return Some(Err(ClusterError::js(
                        "read the results",
                        "the results stream ended",
                    )));
                }
            };
            outage = None;
            let Ok(r) = serde_json::from_slice::<ResultMsg>(&msg.payload) else {
                continue;
            };
            let (word, bit) = ((r.index / 64) as usize, r.index % 64);
            let Some(w) = self.seen.get_mut(word) else {
                continue;
            };
            if *w & (1 << bit) != 0 {
                continue;
            }
            *w |= 1 << bit;
            self.left -= 1;
            return Some(Ok((r.index, r.result, r.worker)));
        }
        None
    }
}

/// Result messages the server holds for `job` (duplicates dropped by message id are not
/// there): for checks that results are exactly-once.
pub async fn stored_results(js: &jetstream::Context, job: &str) -> Result<u64, ClusterError> {
    let stream = js
        .get_stream(wire::RESULTS)
        .await
        .map_err(|e| ClusterError::js("open the results stream", e))?;
    let subject = wire::result_subject(job);
    let info = stream
        .info_with_subjects(subject.clone())
        .await
        .map_err(|e| ClusterError::js("count the results", e))?;
    let mut n = 0;
    futures_util::pin_mut!(info);
    while let Some(item) = info.next().await {
        let (s, count) = item.map_err(|e| ClusterError::js("count the results", e))?;
        if s == subject {
            n += count as u64;
        }
    }
    Ok(n)
}

/// The digest of a list file, read in bounded chunks.
pub fn digest_file(path: &std::path::Path) -> std::io::Result<u64> {
    digest_reader(std::fs::File::open(path)?)
}

/// The digest of everything `f` gives, read in bounded chunks.
pub fn digest_reader(mut f: impl std::io::Read) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut h = None;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.unwrap_or_else(|| digest(&[], None)));
        }
        h = Some(digest(&buf[..n], h));
    }
}

/// FNV-1a over the input's bytes: a job name is tied to one list. Hand-rolled: eight lines,
/// stable across builds and machines (std's hasher is neither).
pub fn digest(bytes: &[u8], state: Option<u64>) -> u64 {
    let mut h = state.unwrap_or(0xcbf2_9ce4_8422_2325);
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_group_case_insensitively() {
        assert_eq!(domain_of("A@Example.ORG"), "example.org");
        assert_eq!(domain_of(" <a@b.example> "), "b.example");
        assert_eq!(domain_of("not an address"), "");
    }

    #[test]
    fn digest_is_fnv1a_and_streams() {
        assert_eq!(digest(b"", None), 0xcbf2_9ce4_8422_2325);
        assert_eq!(digest(b"a", None), 0xaf63_dc4c_8601_ec8c);
        let whole = digest(b"hello world", None);
        assert_eq!(digest(b" world", Some(digest(b"hello", None))), whole);
    }
}
