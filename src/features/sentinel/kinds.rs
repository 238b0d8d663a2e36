//! Sentinel's one action kind: waiving the rules a pull request's head breaks.

use crate::approvals::kinds::KindSpec;
use crate::domain::ActionKind;
use serde::{Deserialize, Serialize};

impl ActionKind {
    pub const WAIVE_RULE: ActionKind = ActionKind::new("waive_rule");
}

pub const KINDS: &[KindSpec] = &[KindSpec::single(
    ActionKind::WAIVE_RULE,
    "Waive Sentinel rules",
    "Waive",
    "Keep blocked",
    "Waive these rules for this commit?",
)
.approved_with_reason()];

/// What a `waive_rule` proposal carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaiveParams {
    pub repo: String,
    pub number: u64,
    /// The head whose failing rules are waived: a later push is checked afresh.
    pub head_sha: String,
    pub rules: Vec<String>,
}

/// One proposal per pull request.
pub fn target(repo: &str, number: u64) -> String {
    format!("{repo}#{number}")
}
