//! Verify's job on the bulk runner (mxray-run): batches of input lines through the engine, one
//! result per address out, each kept in the job store (when there is one) before it is handed
//! out, so a run stopped at any point resumes without losing or re-probing a decided address.
//!
//! The runner takes one batch at a time: the engine already spreads a batch over domains with
//! its own per-domain and per-provider limits, and batches bound memory for inputs of any size.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use mxray_run::{Cancel, Ended, Limits, Progress, Run};

use crate::engine::{Decided, Engine, Item};
use crate::input::{InputError, Reader};
use crate::model::VerifyResult;
use crate::store::{Store, StoreError};

/// Addresses handed to the engine at a time.
pub const BATCH: usize = 5_000;

/// Decided results waiting for the consumer.
const BUFFER: usize = 1024;

/// A job store opened for resuming, with what it already holds.
pub struct Resume {
    store: Store,
    /// Results decided by earlier runs, by input index. One is reused only for the same input
    /// text at the same index: a different or edited list gets its changed rows verified.
    pub done: BTreeMap<u64, VerifyResult>,
}

impl Resume {
    /// Opens (or creates) the store at `path` for the job named `job` (the input's name).
    pub fn open(path: &Path, job: &str) -> Result<Resume, StoreError> {
        let store = Store::open(path, job)?;
        let done = store.done()?;
        Ok(Resume { store, done })
    }
}

/// A verification run in progress.
pub struct VerifyRun {
    run: Run<Decided, InputError>,
    store: Option<Store>,
}

/// Starts verifying `batches` (see [`Reader::into_batches`]) on the current runtime. With
/// `resume`, an input whose stored result is for the same text is answered from the store
/// (in input order with the rest), anything else is verified, and every new result stored.
pub fn start(
    engine: Arc<Engine>,
    batches: impl IntoIterator<Item = Result<Vec<Item>, InputError>, IntoIter: Send + 'static>,
    resume: Option<Resume>,
    cancel: Cancel,
    progress: Arc<dyn Progress>,
) -> VerifyRun {
    let mut resume = resume;
    let done: Arc<BTreeMap<u64, VerifyResult>> = Arc::new(
        resume
            .as_mut()
            .map(|r| std::mem::take(&mut r.done))
            .unwrap_or_default(),
    );
    let limits = Limits {
        concurrency: 1,
        buffer: BUFFER,
    };
    let run = mxray_run::spawn(
        batches,
        limits,
        cancel,
        progress,
        move |batch: Vec<Item>, out| {
            let (engine, done) = (engine.clone(), done.clone());
            async move {
                let sender = out.sender();
                let mut todo = Vec::with_capacity(batch.len());
                for item in batch {
                    match done.get(&item.index) {
                        Some(r) if r.address == item.input => {
                            let d = Decided {
                                index: item.index,
                                result: r.clone(),
                                resumed: true,
                            };
                            if sender.send(d).await.is_err() {
                                return;
                            }
                        }
                        _ => todo.push(item),
                    }
                }
                engine.verify_batch(todo, sender).await;
            }
        },
    );
    VerifyRun {
        run,
        store: resume.map(|r| r.store),
    }
}

impl VerifyRun {
    /// The next decided result, already stored; `None` once the run is over. A store that
    /// cannot be written is an error: the run cannot keep its promise to resume.
    pub async fn next(&mut self) -> Option<Result<Decided, StoreError>> {
        let d = self.run.next().await?;
        if !d.resumed
            && let Some(s) = self.store.as_mut()
            && let Err(e) = s.put(d.index, &d.result)
        {
            return Some(Err(e));
        }
        Some(Ok(d))
    }

    /// New results handed out so far (resumed ones not counted).
    pub fn done(&self) -> u64 {
        self.run.done()
    }

    /// How the run ended; an input that could not be read ends it as `Failed`.
    pub async fn finish(self) -> Ended<InputError> {
        self.run.finish().await
    }
}

/// Runs `items` to the end and returns their results in input order (for small fixed lists
/// such as `lab demo`'s).
pub async fn verify_all(engine: Arc<Engine>, items: Vec<Item>) -> Vec<VerifyResult> {
    let mut run = start(
        engine,
        std::iter::once(Ok(items)),
        None,
        Cancel::new(),
        Arc::new(mxray_run::NoProgress),
    );
    let mut got = Vec::new();
    while let Some(Ok(d)) = run.next().await {
        got.push(d);
    }
    got.sort_by_key(|d| d.index);
    got.into_iter().map(|d| d.result).collect()
}

impl Reader {
    /// The input as batches of up to `n` items, ending after the last one or the first error.
    pub fn into_batches(
        mut self,
        n: usize,
    ) -> impl Iterator<Item = Result<Vec<Item>, InputError>> + Send {
        let mut over = false;
        std::iter::from_fn(move || {
            if over {
                return None;
            }
            match self.batch(n) {
                Ok(b) if b.is_empty() => {
                    over = true;
                    None
                }
                Ok(b) => Some(Ok(b)),
                Err(e) => {
                    over = true;
                    Some(Err(e))
                }
            }
        })
    }
}
