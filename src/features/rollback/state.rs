//! Each application's state, and the episode it is in (what chat and the pull
//! request show), as stored in `rollback_apps`.
//!
//! healthy → suspect → degraded → candidate_found → pr_open → awaiting_approval or
//! merging → merged → verifying → recovered, failed or aborted.

use super::argocd::Replicas;
use super::github::{Ci, CommitLine};
use super::invariants::Invariant;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Healthy,
    /// Degraded for fewer than `degraded_checks` polls in a row.
    Suspect,
    Degraded,
    CandidateFound,
    PrOpen,
    AwaitingApproval,
    Merging,
    Merged,
    Verifying,
    Recovered,
    /// Merged, and still not healthy when the verification time ran out.
    Failed,
    /// Stopped without merging: an error, no candidate, recovered on its own, or
    /// closed by a person.
    Aborted,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Healthy => "healthy",
            State::Suspect => "suspect",
            State::Degraded => "degraded",
            State::CandidateFound => "candidate_found",
            State::PrOpen => "pr_open",
            State::AwaitingApproval => "awaiting_approval",
            State::Merging => "merging",
            State::Merged => "merged",
            State::Verifying => "verifying",
            State::Recovered => "recovered",
            State::Failed => "failed",
            State::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ALL.iter().copied().find(|state| state.as_str() == s)
    }

    /// An episode ended here; a new one starts at the next degradation.
    pub fn is_final(self) -> bool {
        matches!(self, State::Recovered | State::Failed | State::Aborted)
    }

    /// Within an episode (a message exists for it).
    pub fn in_episode(self) -> bool {
        !matches!(self, State::Healthy | State::Suspect)
    }
}

pub const ALL: [State; 12] = [
    State::Healthy,
    State::Suspect,
    State::Degraded,
    State::CandidateFound,
    State::PrOpen,
    State::AwaitingApproval,
    State::Merging,
    State::Merged,
    State::Verifying,
    State::Recovered,
    State::Failed,
    State::Aborted,
];

/// The revision to roll back to, and why it qualifies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub revision: String,
    pub deployed_at: DateTime<Utc>,
    /// Healthy polls out of the polls it was deployed for.
    pub healthy_polls: i64,
    pub counted_polls: i64,
    pub ci: Ci,
}

impl Candidate {
    pub fn uptime_percent(&self) -> f64 {
        uptime(self.healthy_polls, self.counted_polls)
    }
}

pub fn uptime(healthy: i64, counted: i64) -> f64 {
    if counted == 0 {
        0.0
    } else {
        healthy as f64 * 100.0 / counted as f64
    }
}

/// The pull request opened for the episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub url: String,
    pub branch: String,
    pub head_sha: String,
    /// The file it changes (for I7): the pinned file, or every file a revert touches.
    pub files: Vec<String>,
    pub opened_at: DateTime<Utc>,
}

/// One episode: from the degradation to its outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_since: Option<DateTime<Utc>>,
    /// Degraded polls in a row when it counted as degraded.
    #[serde(default)]
    pub degraded_polls: u32,
    /// The revision that is degraded.
    #[serde(default)]
    pub bad_revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Replicas>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Candidate>,
    /// Earlier revisions passed over, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed_over: Vec<String>,
    /// The commits the rollback undoes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undoing: Vec<CommitLine>,
    /// The branch, once created (so a restart finds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invariants: Vec<Invariant>,
    /// The `rollback` proposal putting the merge to the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<String>,
    /// Who decided the merge (a person, or the staging rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<DateTime<Utc>>,
    /// How it ended, in words (aborted, failed, recovered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Whether the pull request was closed by OpsMate.
    #[serde(default)]
    pub closed: bool,
    /// The state the episode ended in, kept once the application is healthy again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<State>,
}

/// One application's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppRow {
    pub app: String,
    pub state: State,
    pub since: DateTime<Utc>,
    pub degraded_polls: u32,
    pub episode: i64,
    pub flow: Flow,
    #[serde(skip)]
    pub version: i64,
    #[serde(skip)]
    pub shown: i64,
    #[serde(skip)]
    pub announced: i64,
}

impl AppRow {
    pub fn new(app: &str, now: DateTime<Utc>) -> Self {
        Self {
            app: app.to_owned(),
            state: State::Healthy,
            since: now,
            degraded_polls: 0,
            episode: 0,
            flow: Flow::default(),
            version: 0,
            shown: 0,
            announced: 0,
        }
    }
}
