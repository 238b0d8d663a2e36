//! The executor: runs approved proposals beside the event queue, so a click, a
//! command or a job is never kept waiting by an action.
//!
//! - A bounded pool: at most `workers` actions do work at once.
//! - At most one action per target ([`locks`]): an execution holds the keys of what
//!   it touches for its whole life.
//! - Long waits hold no worker: an action that has to wait (a final snapshot
//!   completing) answers [`Progress::Wait`], gives its worker back, and is called
//!   again on the executor's own timer. Its steps are stored, so a restart resumes it
//!   ([`Executor::recover`]).
//! - Crash-safe: an execution that is not resumable and was cut off becomes
//!   `interrupted` at start-up and is never re-run.
//!
//! After an execution ends, and after a pass that finished a part, the change hook
//! rewrites the messages that show the proposal.

mod locks;

use crate::approvals::lapse::MODE_STEP;
use crate::approvals::{
    ActionRun, BoxFuture, DryRunMode, Gate, Outcome, PostedAt, Precheck, Progress, Proposal,
    ProposalState, Recovery, Steps,
};
use crate::domain::ApprovalId;
use crate::events::ReplyTo;
use locks::TargetLocks;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Actions doing work at once, unless `approvals.workers` says otherwise.
pub const DEFAULT_WORKERS: usize = 8;

/// Where the decision came from, so the outcome can replace the clicked message (or
/// answer through the click's `response_url`). Lost at a restart; the proposal's
/// recorded message is used then.
#[derive(Debug, Clone, Default)]
pub struct Hint {
    pub message: Option<PostedAt>,
    pub reply: Option<ReplyTo>,
}

/// Called with the proposal after its execution ended (or finished a part), to
/// rewrite the messages that show it.
pub type ChangeHook =
    Arc<dyn Fn(Proposal, Hint) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// The executor. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    gate: Gate,
    pool: Semaphore,
    locks: Arc<TargetLocks>,
    hook: Mutex<Option<ChangeHook>>,
    /// Executions submitted and not yet ended (waiting ones included).
    active: AtomicUsize,
    /// Passes doing work right now.
    working: AtomicUsize,
    changed: Notify,
    /// Bumped whenever an execution ends.
    ended: watch::Sender<u64>,
    /// Errors of the executor's own bookkeeping or of the change hook.
    errors: AtomicUsize,
    stop: CancellationToken,
}

/// Counts active/working while alive.
struct Counted<'a>(&'a AtomicUsize, &'a Notify);

impl<'a> Counted<'a> {
    fn new(n: &'a AtomicUsize, changed: &'a Notify) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Self(n, changed)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        self.1.notify_waiters();
    }
}

/// What one pass ended with.
enum Pass {
    Ended(Proposal),
    Wait {
        after: Duration,
        changed: Option<Proposal>,
    },
}

impl Executor {
    pub fn new(gate: Gate, workers: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                gate,
                pool: Semaphore::new(workers.max(1)),
                locks: Arc::new(TargetLocks::default()),
                hook: Mutex::new(None),
                active: AtomicUsize::new(0),
                working: AtomicUsize::new(0),
                changed: Notify::new(),
                ended: watch::Sender::new(0),
                errors: AtomicUsize::new(0),
                stop: CancellationToken::new(),
            }),
        }
    }

    /// Sets the hook that rewrites messages after a change (the app does, once).
    pub fn on_change(&self, hook: ChangeHook) {
        *self.inner.hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Hands an approved proposal over. Returns at once; the action runs in its own
    /// task.
    pub fn submit(&self, id: ApprovalId, hint: Hint) {
        self.spawn(id, hint, false);
    }

    fn spawn(&self, id: ApprovalId, hint: Hint, resuming: bool) {
        let inner = self.inner.clone();
        inner.active.fetch_add(1, Ordering::SeqCst);
        let span = tracing::info_span!("action", approval = %id, resuming);
        tokio::spawn(
            async move {
                let ended = drive(&inner, &id, &hint, resuming).await;
                if let Err(e) = &ended {
                    inner.errors.fetch_add(1, Ordering::SeqCst);
                    tracing::error!(error = %format!("{e:#}"), "execution bookkeeping failed");
                }
                inner.active.fetch_sub(1, Ordering::SeqCst);
                inner.ended.send_modify(|n| *n += 1);
                inner.changed.notify_waiters();
            }
            .instrument(span),
        );
    }

    /// At start-up: sorts what was decided but not finished, hands queued approvals
    /// and resumable actions to the pool, and returns what was found (the
    /// interrupted ones are for people to check).
    pub async fn recover(&self) -> anyhow::Result<Recovery> {
        let found = self.inner.gate.recover().await?;
        for p in &found.queued {
            self.audit_recovery(
                &p.id,
                crate::audit::events::ACTION_REQUEUED,
                "approved before the stop and not started: its target is checked again, then it runs",
            )
            .await?;
            self.spawn(p.id.clone(), Hint::default(), false);
        }
        for p in &found.resumed {
            self.audit_recovery(
                &p.id,
                crate::audit::events::ACTION_RESUMED,
                "resumed from its stored steps after a restart",
            )
            .await?;
            self.spawn(p.id.clone(), Hint::default(), true);
        }
        Ok(found)
    }

    async fn audit_recovery(
        &self,
        id: &ApprovalId,
        event: &'static str,
        note: &'static str,
    ) -> anyhow::Result<()> {
        let (id, now) = (id.clone(), self.inner.gate.now());
        self.inner
            .gate
            .store()
            .call(move |c| {
                crate::audit::append(c, now, "system", event, id.as_str(), &json!({"note": note}))
            })
            .await
            .map(drop)
    }

    /// Runs one approved proposal to its end and returns it. For one-off commands
    /// and tests.
    pub async fn run_to_end(&self, id: &ApprovalId) -> anyhow::Result<Proposal> {
        self.submit(id.clone(), Hint::default());
        self.ended(id).await
    }

    /// Waits until the proposal is no longer approved or executing.
    pub async fn ended(&self, id: &ApprovalId) -> anyhow::Result<Proposal> {
        let mut ended = self.inner.ended.subscribe();
        loop {
            let p = self
                .inner
                .gate
                .get(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no proposal {id}"))?;
            if !matches!(p.state, ProposalState::Approved | ProposalState::Executing) {
                return Ok(p);
            }
            ended.changed().await?;
        }
    }

    /// Executions submitted and not ended, waiting ones included.
    pub fn active(&self) -> usize {
        self.inner.active.load(Ordering::SeqCst)
    }

    /// Bookkeeping or hook errors since start.
    pub fn errors(&self) -> usize {
        self.inner.errors.load(Ordering::SeqCst)
    }

    /// Waits until nothing is submitted, running or waiting.
    pub async fn idle(&self) {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.active() == 0 {
                return;
            }
            changed.await;
        }
    }

    /// Stops: waiting actions stay where they are (stored; resumed at the next
    /// start), nothing new starts, and passes doing work are let finish for at most
    /// `grace`. Returns how many were still working when `grace` ran out.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        if self.inner.stop.is_cancelled() {
            return self.inner.working.load(Ordering::SeqCst);
        }
        self.inner.stop.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let working = self.inner.working.load(Ordering::SeqCst);
            if working == 0 || tokio::time::timeout_at(deadline, changed).await.is_err() {
                // The hook holds the app's context; letting it go ends the cycle.
                self.inner
                    .hook
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                return working;
            }
        }
    }
}

/// One execution, from the lock to its end (or to a shutdown during a wait).
async fn drive(inner: &Inner, id: &ApprovalId, hint: &Hint, resuming: bool) -> anyhow::Result<()> {
    let Some(p) = inner.gate.get(id).await? else {
        anyhow::bail!("no proposal {id}");
    };
    let keys = match inner.gate.handler_for(&p) {
        Some(h) => h.locks(&p),
        None => vec![p.target.clone()],
    };
    let _held = tokio::select! {
        held = inner.locks.acquire(keys) => held,
        _ = inner.stop.cancelled() => return Ok(()),
    };
    let mut first = !resuming;
    loop {
        let _permit = tokio::select! {
            permit = inner.pool.acquire() => permit?,
            _ = inner.stop.cancelled() => return Ok(()),
        };
        let pass = {
            let _working = Counted::new(&inner.working, &inner.changed);
            one_pass(inner, id, first).await?
        };
        drop(_permit);
        first = false;
        match pass {
            Pass::Ended(p) => {
                tracing::info!(state = %p.state, "action ended");
                call_hook(inner, p, hint).await;
                return Ok(());
            }
            Pass::Wait { after, changed } => {
                if let Some(p) = changed {
                    call_hook(inner, p, hint).await;
                }
                tokio::select! {
                    _ = tokio::time::sleep(after) => {}
                    _ = inner.stop.cancelled() => return Ok(()),
                }
            }
        }
    }
}

async fn call_hook(inner: &Inner, p: Proposal, hint: &Hint) {
    let hook = inner.hook.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(hook) = hook
        && let Err(e) = hook(p, hint.clone()).await
    {
        inner.errors.fetch_add(1, Ordering::SeqCst);
        tracing::error!(error = %format!("{e:#}"), "updating the proposal's messages failed");
    }
}

/// One call of the handler: the first also moves the proposal to `executing` and
/// re-checks the target.
async fn one_pass(inner: &Inner, id: &ApprovalId, first: bool) -> anyhow::Result<Pass> {
    let gate = &inner.gate;
    let Some(p) = gate.get(id).await? else {
        anyhow::bail!("no proposal {id}");
    };
    let Some(handler) = gate.handler_for(&p) else {
        let error = format!("no handler is registered for {} actions", p.kind);
        return if first && gate.begin_execution(id, false).await?.is_none() {
            Ok(Pass::Ended(p))
        } else {
            Ok(Pass::Ended(
                gate.finish_execution(id, ProposalState::Failed, Outcome::failed(error), None)
                    .await?,
            ))
        };
    };
    let p = if first {
        match gate.begin_execution(id, handler.resumable()).await? {
            Some(p) => p,
            // Not approved (any more): someone else runs it, or it ended. Never twice.
            None => return Ok(Pass::Ended(p)),
        }
    } else {
        p
    };
    if p.state != ProposalState::Executing {
        return Ok(Pass::Ended(p));
    }
    let finish =
        |state, outcome: Outcome, detail| gate.finish_execution(id, state, outcome, detail);
    if first {
        match handler.recheck(&p).await {
            Ok(Precheck::Qualifies) => {}
            Ok(Precheck::NoLongerQualifies(why)) => {
                return Ok(Pass::Ended(
                    finish(ProposalState::Skipped, Outcome::skipped(why), None).await?,
                ));
            }
            Err(e) => {
                return Ok(Pass::Ended(
                    finish(
                        ProposalState::Failed,
                        Outcome::failed(format!(
                            "could not check the target again before acting: {e}"
                        )),
                        Some(format!("{e:#}")),
                    )
                    .await?,
                ));
            }
        }
    }
    let steps = Steps::new(gate.store().clone(), id.clone());
    // Fixed when the action began (an action begun before this was kept reads the
    // gate now).
    let mode = match steps.get::<DryRunMode>(MODE_STEP).await? {
        Some(mode) => mode,
        None => gate.dry_run_mode(),
    };
    let run = ActionRun {
        dry_run: mode.dry_run,
        rechecked: first,
        steps: &steps,
        gate,
    };
    match handler.execute(&p, &run).await {
        Ok(Progress::Done(done)) => {
            let state = if done.failed > 0 {
                ProposalState::Failed
            } else {
                ProposalState::Succeeded
            };
            let outcome = Outcome::done(mode.dry_run, done);
            Ok(Pass::Ended(finish(state, outcome, None).await?))
        }
        Ok(Progress::Skipped(why)) => Ok(Pass::Ended(
            finish(ProposalState::Skipped, Outcome::skipped(why), None).await?,
        )),
        Ok(Progress::Wait { after, changed }) => {
            gate.note_pass(id, chrono::Duration::from_std(after)?)
                .await?;
            // The first wait shows people that it runs; later ones what changed.
            let changed = if changed || first {
                gate.get(id).await?
            } else {
                None
            };
            Ok(Pass::Wait { after, changed })
        }
        Err(e) => Ok(Pass::Ended(
            finish(
                ProposalState::Failed,
                Outcome::failed(e.to_string()),
                Some(format!("{e:#}")),
            )
            .await?,
        )),
    }
}
