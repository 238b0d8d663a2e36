//! A scriptable action handler that counts what the gate asked of it.

use opsmate::approvals::{ActionHandler, BoxFuture, Precheck, Proposal};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::Notify;

#[derive(Default)]
pub struct CountingAction {
    pub executions: AtomicUsize,
    pub rechecks: AtomicUsize,
    /// When set, the target no longer qualifies at recheck time.
    pub gone: AtomicBool,
    /// When set, execute fails with an error.
    pub fail: AtomicBool,
    /// When set, execute waits on this before returning (to freeze a run mid-way).
    pub hold: Mutex<Option<Arc<Notify>>>,
    pub dry_runs: Mutex<Vec<bool>>,
}

impl CountingAction {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn executions(&self) -> usize {
        self.executions.load(Ordering::SeqCst)
    }
}

impl ActionHandler for CountingAction {
    fn recheck<'a>(&'a self, proposal: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>> {
        Box::pin(async move {
            self.rechecks.fetch_add(1, Ordering::SeqCst);
            if self.gone.load(Ordering::SeqCst) {
                Ok(Precheck::NoLongerQualifies(format!(
                    "{} is attached again",
                    proposal.target
                )))
            } else {
                Ok(Precheck::Qualifies)
            }
        })
    }

    fn execute<'a>(
        &'a self,
        proposal: &'a Proposal,
        dry_run: bool,
    ) -> BoxFuture<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            self.executions.fetch_add(1, Ordering::SeqCst);
            self.dry_runs.lock().unwrap().push(dry_run);
            let hold = self.hold.lock().unwrap().clone();
            if let Some(n) = hold {
                n.notified().await;
            }
            if self.fail.load(Ordering::SeqCst) {
                anyhow::bail!("AWS said no: VolumeInUse");
            }
            Ok(json!({"deleted": proposal.target, "dry_run": dry_run}))
        })
    }
}
