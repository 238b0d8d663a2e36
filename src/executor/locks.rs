//! At most one action per target: an execution holds the keys of what it touches
//! (a volume, a user) for its whole life, waits included.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The keys in use.
#[derive(Default)]
pub struct TargetLocks {
    held: Mutex<HashSet<String>>,
    released: Notify,
}

/// Keys held until dropped.
pub struct Held {
    locks: Arc<TargetLocks>,
    keys: Vec<String>,
}

impl TargetLocks {
    /// Waits until none of `keys` is held, then holds them all at once (so two
    /// executions wanting overlapping keys can never deadlock).
    pub async fn acquire(self: &Arc<Self>, mut keys: Vec<String>) -> Held {
        keys.sort();
        keys.dedup();
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
                if keys.iter().all(|k| !held.contains(k)) {
                    held.extend(keys.iter().cloned());
                    return Held {
                        locks: self.clone(),
                        keys,
                    };
                }
            }
            released.await;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            held.remove(k);
        }
        drop(held);
        self.locks.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_overlapping_key_waits_until_the_first_holder_lets_go() {
        let locks = Arc::new(TargetLocks::default());
        let first = locks.acquire(vec!["vol-1".into(), "vol-2".into()]).await;
        let other = locks.clone();
        let waiting = tokio::spawn(async move { other.acquire(vec!["vol-2".into()]).await });
        let disjoint =
            tokio::time::timeout(Duration::from_secs(1), locks.acquire(vec!["vol-3".into()])).await;
        assert!(disjoint.is_ok(), "a key nobody holds is free at once");
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "vol-2 is still held");
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("released keys wake the waiter")
            .unwrap();
    }
}
