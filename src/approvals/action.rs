//! The contract between the gate and a feature's destructive action.
//!
//! A feature registers one [`ActionHandler`] per [`ActionKind`] it owns. The executor
//! calls `recheck` just before the first `execute`, so a target that changed since the
//! proposal (the volume got attached, the person came back) is skipped rather than
//! acted on.
//!
//! An action that has to wait (a final snapshot completing) does not hold a worker:
//! `execute` stores where it is in its [`Steps`] and answers [`Progress::Wait`]; the
//! executor calls it again later, and after a restart too when the handler says it is
//! [`ActionHandler::resumable`].

use super::Gate;
use super::outcome::Done;
use super::proposal::Proposal;
use super::steps::Steps;
use crate::domain::ActionKind;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future, so handlers can live behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Result of the last-moment precondition check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    Qualifies,
    /// The target no longer qualifies; the text says why, for the report.
    NoLongerQualifies(String),
}

/// Where one call of [`ActionHandler::execute`] left the action.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Finished: the kind's report of what really happened ([`Done::of`]). A report
    /// with failed parts (a set where some failed) marks the proposal failed, keeping
    /// the report.
    Done(Done),
    /// Found while acting that the target no longer qualifies (the volume was
    /// attached while its final snapshot was taken): nothing was changed; the text
    /// says why.
    Skipped(String),
    /// Not finished: call again after `after`. `changed` says whether this call
    /// finished a part worth showing people now.
    Wait { after: Duration, changed: bool },
}

/// What one call of [`ActionHandler::execute`] is given besides the proposal.
pub struct ActionRun<'a> {
    /// Only say what would be done; change nothing.
    pub dry_run: bool,
    /// True when `recheck` ran just before this call (the first call of a fresh
    /// execution); false when the action is resumed after a wait or a restart, and
    /// must look at its target again itself before acting.
    pub rechecked: bool,
    /// The action's stored steps.
    pub steps: &'a Steps,
    /// The gate, for actions that decide other proposals as part of theirs (a set).
    pub gate: &'a Gate,
}

/// One kind of destructive action.
pub trait ActionHandler: Send + Sync + 'static {
    /// Looks at the target again, right now.
    fn recheck<'a>(&'a self, proposal: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>>;

    /// Does the work that can be done now (or, with `dry_run`, only describes it). An
    /// `Err` marks the proposal failed: its message is shown to people, so it says in
    /// words what failed; the whole chain goes to the audit row.
    fn execute<'a>(
        &'a self,
        proposal: &'a Proposal,
        run: &'a ActionRun<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Progress>>;

    /// True when `execute` can be called again after a restart and carries on from
    /// its steps (each step idempotent). Otherwise an execution cut off by a restart
    /// becomes `interrupted` and is never re-run.
    fn resumable(&self) -> bool {
        false
    }

    /// What the action touches: at most one action runs per key at a time.
    fn locks(&self, proposal: &Proposal) -> Vec<String> {
        vec![proposal.target.clone()]
    }
}

/// Handlers by kind.
#[derive(Clone, Default)]
pub struct ActionRegistry(HashMap<ActionKind, Arc<dyn ActionHandler>>);

impl ActionRegistry {
    pub fn register(&mut self, kind: ActionKind, handler: Arc<dyn ActionHandler>) {
        self.0.insert(kind, handler);
    }

    pub fn get(&self, kind: ActionKind) -> Option<Arc<dyn ActionHandler>> {
        self.0.get(&kind).cloned()
    }

    pub fn kinds(&self) -> impl Iterator<Item = ActionKind> + '_ {
        self.0.keys().copied()
    }
}
