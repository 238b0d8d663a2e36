//! Rollback Pilot: a degraded Argo CD application gets a pull request that rolls it
//! back to its last stable revision, merged by a click, or on its own in staging
//! when all eight invariants hold.
//!
//! - [`poll`] reads every application in one Argo CD call per poll, counts each
//!   deployed revision's healthy polls, and moves each application's stored state
//!   machine on ([`state`]);
//! - [`candidate`] picks the newest earlier revision that was healthy and green;
//! - [`pull`] opens the rollback pull request (a pinned value rewritten, or a
//!   revert), idempotently, so a restart never opens a second one;
//! - [`decide`] evaluates the [`invariants`] and either merges through the gate
//!   with the staging rule as the decider or asks people ([`merge`] is the action);
//! - [`announce`] posts each episode's message and rewrites it as it moves;
//!   [`message`] is what it and the pull request body say;
//! - [`argocd`] and [`github`] are the two APIs; [`yaml_pin`] edits the pinned value
//!   keeping every other byte; [`store`] holds the SQL; [`status`] the command and
//!   the CLI; [`plug`] plugs it in.

pub mod announce;
pub mod api;
pub mod argocd;
pub mod candidate;
pub mod cli;
pub mod config;
pub mod decide;
pub mod github;
pub mod invariants;
pub mod kinds;
pub mod merge;
pub mod message;
pub mod plug;
pub mod poll;
pub mod pull;
pub mod state;
pub mod status;
pub mod store;
pub mod yaml_pin;

pub use plug::PLUG;

use argocd::ArgoCd;
use config::{AppConfig, RollbackConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// Who the staging rule is, as the decider of a merge nobody clicked.
pub const STAGING_RULE: &str = "rule:rollback-staging-invariants";

/// Rollback Pilot's settings and clients, built once at start-up.
pub struct Rollback {
    pub settings: RollbackConfig,
    pub argo: ArgoCd,
    pub github: octocrab::Octocrab,
    pub tz: chrono_tz::Tz,
    pub(crate) metrics: crate::metrics::RollbackMetrics,
    /// Wakes the poller (a decision was made).
    pub(crate) wake: Arc<Notify>,
    /// One pass over the state machines at a time (the poller and a decision's
    /// refresh), so no step runs twice.
    pub(crate) passing: tokio::sync::Mutex<()>,
    /// One announcer pass at a time, so no message is posted twice.
    pub(crate) announcing: tokio::sync::Mutex<()>,
    /// A rewrite was put off until the message's first delivery: the poller runs
    /// the announcer again within a second instead of at the next poll.
    pub(crate) rewrite_waiting: std::sync::atomic::AtomicBool,
    /// Calls made, for the benchmark and `status`.
    pub(crate) argo_calls: AtomicU64,
    pub(crate) github_calls: Arc<AtomicU64>,
}

impl std::fmt::Debug for Rollback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollback")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Rollback {
    /// True while a message rewrite waits on the message's first delivery.
    pub fn rewrite_waiting(&self) -> bool {
        self.rewrite_waiting.load(Ordering::Relaxed)
    }

    pub fn app(&self, name: &str) -> Option<&AppConfig> {
        self.settings.apps.iter().find(|a| a.name == name)
    }

    pub fn repo(&self, app: &AppConfig) -> github::Repo {
        github::Repo::new(self.github.clone(), &app.repo, self.github_calls.clone())
    }

    /// (Argo CD calls, GitHub calls) made since start.
    pub fn calls(&self) -> (u64, u64) {
        (
            self.argo_calls.load(Ordering::Relaxed),
            self.github_calls.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn count_argo(&self, n: u64) {
        self.argo_calls.fetch_add(n, Ordering::Relaxed);
    }
}
