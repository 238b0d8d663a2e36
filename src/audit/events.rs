//! Every audit event name, in one place: the code that writes a row and the code that
//! reads rows back (the digest, reports, tests) use these constants, so a renamed
//! event cannot leave a reader counting nothing.

use crate::approvals::ProposalState;

// The approval gate.
pub const APPROVAL_PROPOSED: &str = "approval.proposed";
pub const APPROVAL_APPROVED: &str = "approval.approved";
pub const APPROVAL_APPROVED_UNATTENDED: &str = "approval.approved_unattended";
pub const APPROVAL_REJECTED: &str = "approval.rejected";
pub const APPROVAL_EXPIRED: &str = "approval.expired";
pub const APPROVAL_VOTE: &str = "approval.vote";
pub const APPROVAL_REFUSED: &str = "approval.refused";

// The executor.
pub const ACTION_STARTED: &str = "action.started";
pub const ACTION_SUCCEEDED: &str = "action.succeeded";
pub const ACTION_FAILED: &str = "action.failed";
pub const ACTION_SKIPPED: &str = "action.skipped";
pub const ACTION_INTERRUPTED: &str = "action.interrupted";
pub const ACTION_RESUMED: &str = "action.resumed";

// Zombie Hunter.
pub const HUNTER_SCANNED: &str = "hunter.scanned";
pub const HUNTER_DELETED: &str = "hunter.deleted";
pub const HUNTER_ALREADY_DELETED: &str = "hunter.already_deleted";
pub const HUNTER_WOULD_DELETE: &str = "hunter.would_delete";
pub const HUNTER_SKIPPED: &str = "hunter.skipped";
pub const HUNTER_FAILED: &str = "hunter.failed";
pub const HUNTER_FINAL_SNAPSHOT_REQUESTED: &str = "hunter.final_snapshot_requested";
pub const HUNTER_FINAL_SNAPSHOT: &str = "hunter.final_snapshot";

/// The event that records how an execution ended.
pub fn action_finished(state: ProposalState) -> &'static str {
    match state {
        ProposalState::Succeeded => ACTION_SUCCEEDED,
        ProposalState::Skipped => ACTION_SKIPPED,
        ProposalState::Interrupted => ACTION_INTERRUPTED,
        _ => ACTION_FAILED,
    }
}
