//! A worker: pulls tasks (its own pinned retries first, then the shared queue), verifies each
//! with the engine, publishes every result and waits until the server has stored them, and
//! only then acknowledges the task. Addresses still waiting on greylisting or a rate limit when
//! the worker's hold ends go back as a task pinned to this worker (same egress, same MAIL
//! FROM), not to be taken before their retry time; other work goes on meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer};
use futures_util::StreamExt;
use mxray_verify::{Decided, Engine, Item, Verdict};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::submit::{confirm, publish_task};
use crate::wire::{self, ResultMsg, Task, TaskItem, now_ms};
use crate::{ClusterError, patiently};

/// The shared consumer every worker pulls new tasks from.
pub const SHARED_CONSUMER: &str = "mxray-workers";

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's name: its pinned retries' subject (the same name after a restart finds them).
    pub name: String,
    /// Tasks worked on at once.
    pub tasks: usize,
    /// A task not acknowledged (nor reported in progress) within this goes to another worker.
    pub ack_wait: Duration,
}

/// Why the worker's own egress cannot be used (a failed proxy), checked before each pull: a
/// worker that cannot probe stops taking tasks instead of failing them.
pub type EgressCheck = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// What a worker did, for its log lines.
#[derive(Debug, Clone)]
pub enum WorkerEvent {
    /// A task finished: results published, addresses sent back for a retry.
    Done {
        job: String,
        seq: u64,
        attempt: u32,
        results: usize,
        retried: usize,
    },
    /// A task came before its retry time and was put back with a delay.
    Early {
        job: String,
        seq: u64,
        wait: Duration,
    },
    /// A message that is not a task (dropped for good).
    Malformed(String),
    /// The server is away; work resumes when it is back.
    Outage(String),
    Recovered,
    /// Addresses the worker could not probe (its egress failed) went back to the shared queue.
    Returned {
        job: String,
        seq: u64,
        addresses: usize,
    },
    /// A task's results could not all be stored: it will be done again (the server keeps one
    /// result per line).
    Failed {
        job: String,
        seq: u64,
        detail: String,
    },
}

/// Runs until `stop` resolves, then finishes the tasks in hand.
pub async fn run(
    js: jetstream::Context,
    engine: Arc<Engine>,
    cfg: WorkerConfig,
    events: mpsc::UnboundedSender<WorkerEvent>,
    egress: EgressCheck,
    stop: impl Future<Output = ()>,
) -> Result<(), ClusterError> {
    wire::check_name("worker", &cfg.name)?;
    let stream = patiently("open the tasks stream", Duration::from_secs(60), || {
        js.get_stream(wire::TASKS)
    })
    .await?;
    let config = |name: String, filter: String| consumer::pull::Config {
        durable_name: Some(name),
        filter_subject: filter,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: cfg.ack_wait,
        ..Default::default()
    };
    let shared: consumer::PullConsumer =
        patiently("join the workers", Duration::from_secs(60), || {
            stream.get_or_create_consumer(
                SHARED_CONSUMER,
                config(SHARED_CONSUMER.into(), wire::ANY_TASKS.into()),
            )
        })
        .await?;
    let pin_name = format!("mxray-pin-{}", cfg.name);
    let pinned: consumer::PullConsumer =
        patiently("open the pinned retries", Duration::from_secs(60), || {
            stream.get_or_create_consumer(
                &pin_name,
                config(pin_name.clone(), wire::pinned_filter(&cfg.name)),
            )
        })
        .await?;
    let mut running = JoinSet::new();
    let busy = Busy::default();
    let mut down = false;
    tokio::pin!(stop);
    let mut broken = None;
    loop {
        while running.try_join_next().is_some() {}
        if let Some(why) = egress() {
            broken = Some(why);
            break;
        }
        let free = cfg.tasks.max(1).saturating_sub(running.len());
        if free == 0 {
            tokio::select! {
                _ = running.join_next() => continue,
                _ = &mut stop => break,
            }
        }
        // Retries pinned to this worker first: they are due work for this egress only.
        let got = tokio::select! {
            got = pull(&pinned, free, &shared) => got,
            _ = &mut stop => break,
        };
        match got {
            Ok(messages) => {
                if down {
                    down = false;
                    let _ = events.send(WorkerEvent::Recovered);
                }
                for m in messages {
                    let (js, engine, cfg, events, busy) = (
                        js.clone(),
                        engine.clone(),
                        cfg.clone(),
                        events.clone(),
                        busy.clone(),
                    );
                    running.spawn(async move { work(&js, &engine, &cfg, &events, &busy, m).await });
                }
            }
            Err(e) => {
                if !down {
                    down = true;
                    let _ = events.send(WorkerEvent::Outage(e));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    while running.join_next().await.is_some() {}
    match broken {
        Some(why) => Err(ClusterError::Egress(why)),
        None => Ok(()),
    }
}

/// Up to `n` messages: pinned ones first, then from the shared queue (waiting up to a second).
async fn pull(
    pinned: &consumer::PullConsumer,
    n: usize,
    shared: &consumer::PullConsumer,
) -> Result<Vec<jetstream::Message>, String> {
    let mut out = fetch(pinned, n, Duration::from_millis(100)).await?;
    if out.len() < n {
        out.extend(fetch(shared, n - out.len(), Duration::from_secs(1)).await?);
    }
    Ok(out)
}

async fn fetch(
    c: &consumer::PullConsumer,
    n: usize,
    wait: Duration,
) -> Result<Vec<jetstream::Message>, String> {
    let mut batch = c
        .fetch()
        .max_messages(n)
        .expires(wait)
        .messages()
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(m) = batch.next().await {
        out.push(m.map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// The domains this worker has a task of in hand. A second task of the same domain goes back
/// for a moment: this worker's sessions to it are already as many as its egress may open (the
/// engine gives one task all of them), and another worker, or another domain, can use the time.
#[derive(Clone, Default)]
struct Busy(Arc<std::sync::Mutex<std::collections::HashSet<String>>>);

impl Busy {
    fn take(&self, key: &str) -> bool {
        self.0
            .lock()
            .map_or(true, |mut s| s.insert(key.to_string()))
    }

    fn free(&self, key: &str) {
        if let Ok(mut s) = self.0.lock() {
            s.remove(key);
        }
    }
}

/// How long a task of a domain already in hand waits before it is offered again.
const BUSY_DELAY: Duration = Duration::from_millis(100);

/// One task, from pull to acknowledgement.
async fn work(
    js: &jetstream::Context,
    engine: &Arc<Engine>,
    cfg: &WorkerConfig,
    events: &mpsc::UnboundedSender<WorkerEvent>,
    busy: &Busy,
    m: jetstream::Message,
) {
    let task: Task = match serde_json::from_slice(&m.payload) {
        Ok(t) => t,
        Err(e) => {
            let _ = m.ack_with(AckKind::Term).await;
            let _ = events.send(WorkerEvent::Malformed(e.to_string()));
            return;
        }
    };
    let now = now_ms();
    if let Some(nb) = task.not_before_ms.filter(|nb| *nb > now) {
        // Too early: the server delivers it again after the wait (a delayed NAK).
        let wait = Duration::from_millis(nb - now);
        let _ = m.ack_with(AckKind::Nak(Some(wait))).await;
        let _ = events.send(WorkerEvent::Early {
            job: task.job,
            seq: task.seq,
            wait,
        });
        return;
    }
    let domain = task
        .items
        .first()
        .map(|i| crate::submit::domain_of(&i.input))
        .unwrap_or_default();
    let key = format!("{} {domain}", task.job);
    if !busy.take(&key) {
        let _ = m.ack_with(AckKind::Nak(Some(BUSY_DELAY))).await;
        return;
    }
    work_on(js, engine, cfg, events, &m, task).await;
    busy.free(&key);
}

async fn work_on(
    js: &jetstream::Context,
    engine: &Arc<Engine>,
    cfg: &WorkerConfig,
    events: &mpsc::UnboundedSender<WorkerEvent>,
    m: &jetstream::Message,
    task: Task,
) {
    // Tell the server the task is in hand while the engine works on it.
    let verifying = verify(engine, &task);
    tokio::pin!(verifying);
    let decided = loop {
        tokio::select! {
            d = &mut verifying => break d,
            _ = tokio::time::sleep(cfg.ack_wait / 3) => {
                let _ = m.ack_with(AckKind::Progress).await;
            }
        }
    };
    match publish(js, cfg, &task, decided).await {
        Ok((results, retried, returned)) => {
            if returned > 0 {
                let _ = events.send(WorkerEvent::Returned {
                    job: task.job.clone(),
                    seq: task.seq,
                    addresses: returned,
                });
            }
            // Stored: now the task may go. A lost acknowledgement means the task is done
            // again, and its results dropped as duplicates.
            let _ = m.double_ack().await;
            let _ = events.send(WorkerEvent::Done {
                job: task.job.clone(),
                seq: task.seq,
                attempt: task.attempt,
                results,
                retried,
            });
        }
        Err(e) => {
            let _ = m.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
            let _ = events.send(WorkerEvent::Failed {
                job: task.job.clone(),
                seq: task.seq,
                detail: e.to_string(),
            });
        }
    }
}

async fn verify(engine: &Arc<Engine>, task: &Task) -> Vec<Decided> {
    let items: Vec<Item> = task
        .items
        .iter()
        .map(|t| Item {
            index: t.index,
            input: t.input.clone(),
            row: t.row.clone(),
        })
        .collect();
    let (tx, mut rx) = mpsc::channel(256);
    let run = engine.verify_batch(items, tx);
    let collect = async {
        let mut got = Vec::new();
        while let Some(d) = rx.recv().await {
            got.push(d);
        }
        got
    };
    let ((), got) = tokio::join!(run, collect);
    got
}

/// Publishes the decided results, a pinned retry task for the ones still waiting, and the
/// undecided rest (the engine gives none when this worker's egress failed) back to the shared
/// queue; returns (results published, addresses sent back, addresses returned).
async fn publish(
    js: &jetstream::Context,
    cfg: &WorkerConfig,
    task: &Task,
    decided: Vec<Decided>,
) -> Result<(usize, usize, usize), ClusterError> {
    let now = now_ms();
    let items: HashMap<u64, &TaskItem> = task.items.iter().map(|t| (t.index, t)).collect();
    let mut acks = Vec::new();
    let mut retry: Vec<TaskItem> = Vec::new();
    let mut next_due: Option<u64> = None;
    let subject = wire::result_subject(&task.job);
    let mut undecided: std::collections::HashSet<u64> = items.keys().copied().collect();
    for mut d in decided {
        undecided.remove(&d.index);
        let Some(item) = items.get(&d.index) else {
            continue;
        };
        let first = item
            .first_ms
            .unwrap_or(now.saturating_sub(d.result.elapsed_ms));
        d.result.attempts += item.attempts;
        d.result.elapsed_ms = now.saturating_sub(first);
        // Waiting on greylisting or a rate limit, and due again within the job's patience:
        // back to the queue, for this worker's egress.
        if let (Verdict::Unknown, Some(after)) = (d.result.verdict, d.result.retry_after_s) {
            let due = now + after * 1000;
            if due < first + task.deadline_ms {
                next_due = Some(next_due.map_or(due, |n| n.min(due)));
                retry.push(TaskItem {
                    index: item.index,
                    input: item.input.clone(),
                    row: item.row.clone(),
                    attempts: d.result.attempts,
                    first_ms: Some(first),
                });
                continue;
            }
        }
        let msg = ResultMsg {
            index: d.index,
            result: d.result,
            worker: cfg.name.clone(),
        };
        let body = serde_json::to_vec(&msg).map_err(|e| ClusterError::js("encode a result", e))?;
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", wire::result_id(&task.job, d.index).as_str());
        acks.push(
            js.publish_with_headers(subject.clone(), headers, body.into())
                .await
                .map_err(|e| ClusterError::js("publish a result", e))?,
        );
    }
    let results = acks.len();
    confirm(acks).await?;
    let retried = retry.len();
    if !retry.is_empty() {
        let again = task.again(retry, next_due);
        let subject = wire::pinned_subject(&cfg.name, &task.job);
        confirm(vec![publish_task(js, &subject, &again).await?]).await?;
    }
    let returned = undecided.len();
    if returned > 0 {
        let rest = task.again(
            task.items
                .iter()
                .filter(|t| undecided.contains(&t.index))
                .cloned()
                .collect(),
            None,
        );
        let subject = wire::task_subject(&task.job);
        confirm(vec![publish_task(js, &subject, &rest).await?]).await?;
    }
    Ok((results, retried, returned))
}
