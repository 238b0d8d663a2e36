//! What a proposal is and the states it moves through.

use super::outcome::Outcome;
use crate::domain::{ActionKind, ApprovalId};
use crate::outbox::Platform;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// ```text
/// pending ─┬─► approved ─► executing ─┬─► succeeded
///          ├─► rejected               ├─► failed
///          └─► expired                ├─► skipped      (precondition no longer holds)
///                                     └─► interrupted  (process died mid-way; never re-run blindly)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    Pending,
    Approved,
    Rejected,
    Expired,
    Executing,
    Succeeded,
    Failed,
    Skipped,
    Interrupted,
}

impl ProposalState {
    pub const ALL: [ProposalState; 9] = [
        ProposalState::Pending,
        ProposalState::Approved,
        ProposalState::Rejected,
        ProposalState::Expired,
        ProposalState::Executing,
        ProposalState::Succeeded,
        ProposalState::Failed,
        ProposalState::Skipped,
        ProposalState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProposalState::Pending => "pending",
            ProposalState::Approved => "approved",
            ProposalState::Rejected => "rejected",
            ProposalState::Expired => "expired",
            ProposalState::Executing => "executing",
            ProposalState::Succeeded => "succeeded",
            ProposalState::Failed => "failed",
            ProposalState::Skipped => "skipped",
            ProposalState::Interrupted => "interrupted",
        }
    }

    /// Still waiting for people or for the action to finish.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ProposalState::Pending | ProposalState::Approved | ProposalState::Executing
        )
    }
}

impl fmt::Display for ProposalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProposalState {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProposalState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown proposal state {s:?}"))
    }
}

/// Where the proposal's message was posted, so a decision can update it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PostedAt {
    pub platform: Platform,
    pub channel: String,
    pub message_id: String,
}

/// A proposal as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    pub id: ApprovalId,
    pub kind: ActionKind,
    pub target: String,
    pub params: Value,
    pub reason: String,
    pub proposed_by: String,
    pub state: ProposalState,
    pub required_approvals: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Comma-separated actor keys of whoever decided (several under a two-approver rule).
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    pub posted: Option<PostedAt>,
    /// Why the decider decided so, when they said (Slack's reason dialog, a typed
    /// reason, an API decision's `reason`).
    pub decision_note: Option<String>,
}

impl Proposal {
    /// The parameters as its kind's type.
    pub fn params_as<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_value(self.params.clone()).map_err(|e| {
            anyhow::anyhow!(
                "the parameters of this {} proposal are unreadable: {e}",
                self.kind
            )
        })
    }
}

/// What a feature asks the gate to put up for a decision.
#[derive(Debug, Clone)]
pub struct NewProposal {
    pub kind: ActionKind,
    /// The resource acted on, e.g. `us-east-1/vol-0abc`. One open proposal per (kind, target).
    pub target: String,
    /// Everything the action needs to run, e.g. the region and the snapshot flag.
    pub params: Value,
    pub reason: String,
    /// Actor key of who or what proposed it.
    pub proposed_by: String,
}

/// Longest reason a decider may give, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

/// A decider's reason, trimmed: `None` when blank, an error naming the limit when
/// too long.
pub fn decision_note(text: &str) -> Result<Option<String>, String> {
    let text = text.trim();
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(format!(
            "the reason is longer than {MAX_NOTE_CHARS} characters"
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}
