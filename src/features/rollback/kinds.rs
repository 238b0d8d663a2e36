//! Rollback Pilot's one action kind: merging a rollback pull request.

use super::config::Environment;
use crate::approvals::kinds::KindSpec;
use crate::domain::ActionKind;
use serde::{Deserialize, Serialize};

impl ActionKind {
    pub const ROLLBACK: ActionKind = ActionKind::new("rollback");
}

pub const KINDS: &[KindSpec] = &[KindSpec::single(
    ActionKind::ROLLBACK,
    "Merge a rollback pull request",
    "Merge rollback",
    "Close PR",
    "Merge this rollback pull request now? Argo CD will deploy it.",
)];

/// What a `rollback` proposal carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeParams {
    pub app: String,
    pub repo: String,
    pub pull: u64,
    /// The head the invariants were evaluated on: the merge is refused if it moved.
    pub head_sha: String,
    pub episode: i64,
    pub environment: Environment,
}

/// One proposal per application and episode.
pub fn target(app: &str, episode: i64) -> String {
    format!("rollback:{app}:{episode}")
}
