//! Progress reporting: the runner tells an observer of each result it hands out, so the CLI
//! can move a progress bar and `serve` can update a job's row, without the runner knowing.

/// Told of the run's progress. Called on the consumer's task: keep it quick.
pub trait Progress: Send + Sync {
    /// `done` results have been handed out so far.
    fn advanced(&self, done: u64) {
        let _ = done;
    }
}

/// For runs nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
