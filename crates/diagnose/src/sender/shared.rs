//! Answers shared by every target of a run: the first target that needs one asks, the others
//! wait for it and reuse it, so a run sees one answer per question. Bounded, never evicting.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// Questions asked once per run, at most `max` of them; past the bound, each is asked
/// directly. Nothing is evicted: an answer handed out stays the run's answer (a target never
/// sees a fresher one than its neighbour), and a run is short. A long-lived caller (a monitor)
/// makes a fresh one per round.
pub struct OncePerRun<K, V> {
    map: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
    max: usize,
}

impl<K: Eq + Hash, V: Clone> OncePerRun<K, V> {
    pub fn new(max: usize) -> OncePerRun<K, V> {
        OncePerRun {
            map: Mutex::new(HashMap::new()),
            max,
        }
    }

    /// The run's answer to `key`, from `ask` the first time.
    pub async fn get<F: Future<Output = V>>(&self, key: K, ask: impl FnOnce() -> F) -> V {
        let cell = {
            // A panic elsewhere while the lock was held leaves the map whole: keep using it.
            let mut map = match self.map.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            match map.get(&key) {
                Some(c) => Some(c.clone()),
                None if map.len() < self.max => Some(map.entry(key).or_default().clone()),
                None => None,
            }
        };
        match cell {
            Some(c) => c.get_or_init(ask).await.clone(),
            None => ask().await,
        }
    }

    /// Questions kept so far.
    pub fn len(&self) -> usize {
        match self.map.lock() {
            Ok(m) => m.len(),
            Err(p) => p.into_inner().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn asked_once_then_bounded() {
        let cache: OncePerRun<&str, usize> = OncePerRun::new(1);
        let asked = AtomicUsize::new(0);
        let ask = || async {
            asked.fetch_add(1, Ordering::SeqCst);
            7
        };
        let (a, b) = tokio::join!(cache.get("x", ask), cache.get("x", ask));
        assert_eq!((a, b), (7, 7));
        assert_eq!(
            asked.load(Ordering::SeqCst),
            1,
            "the second waited for the first"
        );
        // Full: another question is asked each time, and not kept.
        cache.get("y", ask).await;
        cache.get("y", ask).await;
        assert_eq!(asked.load(Ordering::SeqCst), 3);
        assert_eq!(cache.len(), 1);
    }
}
