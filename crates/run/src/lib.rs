//! mxray-run: the one bulk runner behind `diagnose --input`, `verify`, `lab demo`, and later
//! `serve` jobs and cluster workers: an input stream, bounded concurrency, a results stream.
//!
//! # Layout
//! - `lib.rs`: [`spawn`] starts a run; [`Run`] is its results stream and its end ([`Ended`]).
//! - `cancel.rs`: [`Cancel`], the token a caller trips to stop a run (the binary maps Ctrl-C
//!   to it; `serve` will map a DELETE, a worker a shutdown). No signal handling in here.
//! - `progress.rs`: [`Progress`], told of every result handed out (progress bars, job rows).
//! - `activity.rs`: [`Activity`], the steps in flight and how long each has waited (what a
//!   slow run is waiting on).
//!
//! A job is an async function of one input that may emit any number of results: `diagnose`
//! emits one report per target, `verify` feeds whole batches to its engine (which keeps its own
//! per-domain concurrency) and emits one result per address. Results already handed out when
//! a run is cancelled stay handed out; what was still running is dropped.

mod activity;
mod cancel;
mod progress;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

pub use activity::{Activity, Doing};
pub use cancel::Cancel;
pub use progress::{NoProgress, Progress};

/// How many jobs run at once, and how many finished results may wait for the consumer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub concurrency: usize,
    pub buffer: usize,
}

impl Limits {
    /// `concurrency` jobs at once, with room for two results per job in flight.
    pub fn concurrency(concurrency: usize) -> Limits {
        let concurrency = concurrency.max(1);
        Limits {
            concurrency,
            buffer: concurrency.saturating_mul(2),
        }
    }
}

/// Where a job sends its results.
pub struct Emitter<O> {
    tx: mpsc::Sender<O>,
}

impl<O> Clone for Emitter<O> {
    fn clone(&self) -> Self {
        Emitter {
            tx: self.tx.clone(),
        }
    }
}

impl<O> Emitter<O> {
    /// Hands a result to the consumer, waiting while its buffer is full. False once nobody
    /// listens any more (the run was cancelled or dropped): the job may stop early.
    pub async fn emit(&self, output: O) -> bool {
        self.tx.send(output).await.is_ok()
    }

    /// The raw channel, for engines that already speak `mpsc`.
    pub fn sender(&self) -> mpsc::Sender<O> {
        self.tx.clone()
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum Ended<E> {
    /// Every input was read and every job finished.
    Completed,
    /// The cancel token was tripped; what was handed out before stays valid.
    Cancelled,
    /// Reading the input failed; jobs already started finished first.
    Failed(E),
    /// The run's task panicked or was torn down.
    Crashed(String),
}

/// A run in progress: its results, in the order jobs emit them.
pub struct Run<O, E> {
    rx: mpsc::Receiver<O>,
    feeder: JoinHandle<Result<(), E>>,
    cancel: Cancel,
    progress: Arc<dyn Progress>,
    done: u64,
    cancelled: bool,
}

/// Starts a run on the current tokio runtime: reads `inputs` lazily (one more only when a job
/// slot is free, so inputs of any size take bounded memory) and runs `job` on each.
pub fn spawn<I, O, E, Inputs, F, Fut>(
    inputs: Inputs,
    limits: Limits,
    cancel: Cancel,
    progress: Arc<dyn Progress>,
    job: F,
) -> Run<O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
    Inputs: IntoIterator<Item = Result<I, E>>,
    Inputs::IntoIter: Send + 'static,
    F: Fn(I, Emitter<O>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(limits.buffer.max(1));
    let mut inputs = inputs.into_iter();
    let job = Arc::new(job);
    let slots = Arc::new(Semaphore::new(limits.concurrency.max(1)));
    let feeder = tokio::spawn(async move {
        // Dropping this set (when the feeder is aborted on cancel) aborts every running job.
        let mut tasks = JoinSet::new();
        let mut failed = None;
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let input = match inputs.next() {
                None => break,
                Some(Err(e)) => {
                    failed = Some(e);
                    break;
                }
                Some(Ok(i)) => i,
            };
            let (job, out) = (job.clone(), Emitter { tx: tx.clone() });
            tasks.spawn(async move {
                job(input, out).await;
                drop(slot);
            });
        }
        drop(tx);
        while tasks.join_next().await.is_some() {}
        failed.map_or(Ok(()), Err)
    });
    Run {
        rx,
        feeder,
        cancel,
        progress,
        done: 0,
        cancelled: false,
    }
}

impl<O, E> Run<O, E> {
    /// The next result; `None` once the run is over (all done, input failed, or cancelled).
    pub async fn next(&mut self) -> Option<O> {
        if self.cancelled {
            return None;
        }
        let got = tokio::select! {
            got = self.rx.recv() => got,
            () = self.cancel.cancelled() => {
                self.cancelled = true;
                self.feeder.abort();
                None
            }
        };
        if got.is_some() {
            self.done += 1;
            self.progress.advanced(self.done);
        }
        got
    }

    /// Results handed out so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Trips the run's cancel token (the same one the caller holds).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// How the run ended. Call after [`Run::next`] returned `None`; earlier, it waits for the
    /// remaining jobs and drops their results.
    pub async fn finish(mut self) -> Ended<E> {
        if self.cancelled {
            return Ended::Cancelled;
        }
        self.rx.close();
        while self.rx.recv().await.is_some() {}
        match (&mut self.feeder).await {
            Ok(Ok(())) => Ended::Completed,
            Ok(Err(e)) => Ended::Failed(e),
            Err(e) if e.is_cancelled() => Ended::Cancelled,
            Err(e) => Ended::Crashed(e.to_string()),
        }
    }
}

impl<O, E> Drop for Run<O, E> {
    fn drop(&mut self) {
        // Nobody reads the results any more: stop producing them.
        self.feeder.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn ok(n: u64) -> impl Iterator<Item = Result<u64, String>> + Send {
        (0..n).map(Ok)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_input_once_and_never_more_than_the_limit_at_once() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (r, p) = (running.clone(), peak.clone());
        let mut run = spawn(
            ok(40),
            Limits::concurrency(3),
            Cancel::new(),
            Arc::new(NoProgress),
            move |i, out: Emitter<u64>| {
                let (r, p) = (r.clone(), p.clone());
                async move {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    r.fetch_sub(1, Ordering::SeqCst);
                    out.emit(i).await;
                }
            },
        );
        let mut got = Vec::new();
        while let Some(i) = run.next().await {
            got.push(i);
        }
        got.sort_unstable();
        assert_eq!(got, (0..40).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(matches!(run.finish().await, Ended::Completed));
    }

    #[tokio::test]
    async fn cancel_stops_and_keeps_what_was_handed_out() {
        struct Count(AtomicU64);
        impl Progress for Count {
            fn advanced(&self, done: u64) {
                self.0.store(done, Ordering::SeqCst);
            }
        }
        let cancel = Cancel::new();
        let count = Arc::new(Count(AtomicU64::new(0)));
        let mut run = spawn(
            ok(1000),
            Limits::concurrency(1),
            cancel.clone(),
            count.clone(),
            |i, out: Emitter<u64>| async move {
                if i >= 2 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                out.emit(i).await;
            },
        );
        assert_eq!(run.next().await, Some(0));
        assert_eq!(run.next().await, Some(1));
        cancel.cancel();
        assert_eq!(run.next().await, None);
        assert_eq!(run.done(), 2);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(matches!(run.finish().await, Ended::Cancelled));
    }

    #[tokio::test]
    async fn an_input_error_ends_the_run_after_the_started_jobs() {
        let inputs = vec![Ok(1u64), Ok(2), Err("line 3 is bad".to_string()), Ok(4)];
        let mut run = spawn(
            inputs,
            Limits::concurrency(1),
            Cancel::new(),
            Arc::new(NoProgress),
            |i, out: Emitter<u64>| async move {
                out.emit(i).await;
            },
        );
        let mut got = Vec::new();
        while let Some(i) = run.next().await {
            got.push(i);
        }
        assert_eq!(got, vec![1, 2]);
        assert!(matches!(run.finish().await, Ended::Failed(e) if e == "line 3 is bad"));
    }
}
