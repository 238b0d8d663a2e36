//! The contract between the gate and a feature's destructive action.
//!
//! A feature registers one [`ActionHandler`] per [`ActionKind`] it owns. The gate calls
//! `recheck` just before `execute`, so a target that changed since the proposal (the
//! volume got attached, the person came back) is skipped rather than acted on.

use super::proposal::Proposal;
use crate::domain::ActionKind;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, so handlers can live behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Result of the last-moment precondition check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    Qualifies,
    /// The target no longer qualifies; the text says why, for the report.
    NoLongerQualifies(String),
}

/// One kind of destructive action.
pub trait ActionHandler: Send + Sync + 'static {
    /// Looks at the target again, right now.
    fn recheck<'a>(&'a self, proposal: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>>;

    /// Does the work (or, with `dry_run`, only describes it) and returns a JSON report
    /// of what really happened. An `Err` marks the proposal failed with that error; so
    /// does a report whose `failed` count is above zero (a set where some parts
    /// failed), keeping the report.
    fn execute<'a>(
        &'a self,
        proposal: &'a Proposal,
        dry_run: bool,
    ) -> BoxFuture<'a, anyhow::Result<Value>>;
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
