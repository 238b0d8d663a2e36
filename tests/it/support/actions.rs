//! A scriptable action handler that counts what the gate asked of it.

use opsmate::approvals::{ActionHandler, ActionRun, BoxFuture, Precheck, Progress, Proposal};
use serde_json::json;
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
        run: &'a ActionRun<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Progress>> {
        let dry_run = run.dry_run;
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
            Ok(Progress::Done(done(
                json!({"deleted": proposal.target, "dry_run": dry_run}),
            )))
        })
    }
}

/// An action in resumable steps, like a deletion that waits for a snapshot: the first
/// pass "requests" (counted, stored as a step) and waits; each later pass checks
/// whether `ready` is set, and finishes once it is.
#[derive(Default)]
pub struct WaitingAction {
    pub requests: AtomicUsize,
    pub passes: AtomicUsize,
    pub ready: AtomicBool,
}

impl WaitingAction {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl ActionHandler for WaitingAction {
    fn recheck<'a>(&'a self, _: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>> {
        Box::pin(async { Ok(Precheck::Qualifies) })
    }

    fn execute<'a>(
        &'a self,
        proposal: &'a Proposal,
        run: &'a ActionRun<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Progress>> {
        Box::pin(async move {
            self.passes.fetch_add(1, Ordering::SeqCst);
            let requested: Option<String> = run.steps.get("requested").await?;
            let Some(request) = requested else {
                let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
                run.steps
                    .put("requested", &format!("request-{n}"), chrono::Utc::now())
                    .await?;
                return Ok(Progress::Wait {
                    after: std::time::Duration::from_millis(20),
                    changed: false,
                });
            };
            if !self.ready.load(Ordering::SeqCst) {
                return Ok(Progress::Wait {
                    after: std::time::Duration::from_millis(20),
                    changed: false,
                });
            }
            Ok(Progress::Done(done(
                json!({"deleted": proposal.target, "after": request}),
            )))
        })
    }

    fn resumable(&self) -> bool {
        true
    }
}

/// A finished test action whose report is `report`.
fn done(report: serde_json::Value) -> opsmate::approvals::Done {
    opsmate::approvals::Done {
        report,
        summary: Vec::new(),
        failed: 0,
    }
}
