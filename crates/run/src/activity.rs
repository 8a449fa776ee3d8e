//! What a run is waiting on right now: each network step registers itself while it waits and
//! its guard removes it, so a progress line can say "12s: the greeting of mx.example.com".

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The steps in flight. Cheap to clone (one shared board); a board nobody reads costs a lock
/// per step.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    board: Arc<Board>,
}

#[derive(Debug, Default)]
struct Board {
    next: AtomicU64,
    steps: Mutex<BTreeMap<u64, (Instant, String)>>,
}

/// A step on the board; dropping it takes the step off.
#[derive(Debug)]
pub struct Doing {
    board: Arc<Board>,
    id: u64,
}

impl Drop for Doing {
    fn drop(&mut self) {
        if let Ok(mut steps) = self.board.steps.lock() {
            steps.remove(&self.id);
        }
    }
}

impl Activity {
    pub fn new() -> Activity {
        Activity::default()
    }

    /// Puts `what` ("the greeting of mx.example.com [192.0.2.1]") on the board until the
    /// returned guard is dropped.
    pub fn begin(&self, what: impl Into<String>) -> Doing {
        let id = self.board.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut steps) = self.board.steps.lock() {
            steps.insert(id, (Instant::now(), what.into()));
        }
        Doing {
            board: self.board.clone(),
            id,
        }
    }

    /// Runs `fut` with `what` on the board.
    pub async fn during<F: Future>(&self, what: impl Into<String>, fut: F) -> F::Output {
        let _doing = self.begin(what);
        fut.await
    }

    /// The step that has waited longest, how long, and how many are in flight.
    pub fn longest(&self) -> Option<(String, Duration, usize)> {
        let steps = self.board.steps.lock().ok()?;
        let n = steps.len();
        steps
            .values()
            .min_by_key(|(since, _)| *since)
            .map(|(since, what)| (what.clone(), since.elapsed(), n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_leave_the_board_when_their_guard_drops() {
        let a = Activity::new();
        assert!(a.longest().is_none());
        let first = a.begin("the greeting of mx.a.test");
        std::thread::sleep(Duration::from_millis(5));
        let second = a.begin("the MX of b.test");
        let (what, waited, n) = a.longest().expect("two steps");
        assert_eq!(what, "the greeting of mx.a.test");
        assert!(waited >= Duration::from_millis(5));
        assert_eq!(n, 2);
        drop(first);
        assert_eq!(
            a.longest().map(|l| l.0),
            Some("the MX of b.test".to_string())
        );
        drop(second);
        assert!(a.longest().is_none());
    }
}
