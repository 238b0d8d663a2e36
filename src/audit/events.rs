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
/// A pending proposal withdrawn by a rule (what it proposed no longer made sense).
pub const APPROVAL_WITHDRAWN: &str = "approval.withdrawn";

// The executor.
pub const ACTION_STARTED: &str = "action.started";
pub const ACTION_SUCCEEDED: &str = "action.succeeded";
pub const ACTION_FAILED: &str = "action.failed";
pub const ACTION_SKIPPED: &str = "action.skipped";
pub const ACTION_INTERRUPTED: &str = "action.interrupted";
pub const ACTION_RESUMED: &str = "action.resumed";
/// An approval found not started at start-up, handed to the executor (which
/// re-checks its target before acting).
pub const ACTION_REQUEUED: &str = "action.requeued";

// Zombie Hunter.
pub const HUNTER_SCANNED: &str = "hunter.scanned";
pub const HUNTER_DELETED: &str = "hunter.deleted";
pub const HUNTER_ALREADY_DELETED: &str = "hunter.already_deleted";
pub const HUNTER_WOULD_DELETE: &str = "hunter.would_delete";
pub const HUNTER_SKIPPED: &str = "hunter.skipped";
pub const HUNTER_FAILED: &str = "hunter.failed";
pub const HUNTER_FINAL_SNAPSHOT_REQUESTED: &str = "hunter.final_snapshot_requested";
pub const HUNTER_FINAL_SNAPSHOT: &str = "hunter.final_snapshot";

// Night Watchman.
pub const WATCHMAN_CHECKED: &str = "watchman.checked";
pub const WATCHMAN_HOLD: &str = "watchman.hold";
pub const WATCHMAN_STOPPED: &str = "watchman.stopped";
pub const WATCHMAN_STOP_FAILED: &str = "watchman.stop_failed";
pub const WATCHMAN_STARTED: &str = "watchman.started";
pub const WATCHMAN_START_FAILED: &str = "watchman.start_failed";

// Access Guard.
pub const GUARD_SCANNED: &str = "guard.scanned";
pub const GUARD_MISSING: &str = "guard.missing";
pub const GUARD_RETURNED: &str = "guard.returned";
pub const GUARD_KEPT: &str = "guard.kept";
pub const GUARD_REMOVED: &str = "guard.removed";
pub const GUARD_STEP_DONE: &str = "guard.step_done";
pub const GUARD_STEP_FAILED: &str = "guard.step_failed";
pub const GUARD_REVOKED: &str = "guard.revoked";

// The chat doors and the member directory.
// Incidents.
pub const INCIDENT_OPENED: &str = "incident.opened";
pub const INCIDENT_JOINED: &str = "incident.joined";
pub const INCIDENT_ACKED: &str = "incident.acked";
pub const INCIDENT_MUTED: &str = "incident.muted";
pub const INCIDENT_RESOLVED: &str = "incident.resolved";
pub const INCIDENT_REMEDIATION_RAN: &str = "incident.remediation_ran";
pub const INCIDENT_REMEDIATION_VERIFIED: &str = "incident.remediation_verified";
pub const INCIDENT_ESCALATED: &str = "incident.escalated";
pub const INCIDENT_DELIVERY_FAILED: &str = "incident.delivery_failed";

// Rollback Pilot: each transition is `rollback.<state>` (see
// `features::rollback::state::State`); these are the ones readers count.
pub const ROLLBACK_DEGRADED: &str = "rollback.degraded";
pub const ROLLBACK_PR_OPEN: &str = "rollback.pr_open";
pub const ROLLBACK_MERGED: &str = "rollback.merged";
pub const ROLLBACK_RECOVERED: &str = "rollback.recovered";
pub const ROLLBACK_ABORTED: &str = "rollback.aborted";

// Sentinel.
pub const SENTINEL_CHECKED: &str = "sentinel.checked";
pub const SENTINEL_WAIVED: &str = "sentinel.waived";
/// A pull request merged while its check was failing and unwaived.
pub const SENTINEL_BYPASS: &str = "sentinel.bypass";
pub const GITHUB_REQUEST_REJECTED: &str = "github.request_rejected";

// Billing (Lemon Squeezy).
pub const BILLING_REQUEST_REJECTED: &str = "billing.request_rejected";
/// A subscription row changed (created, status, plan, dates), from a webhook.
pub const BILLING_SUBSCRIPTION_CHANGED: &str = "billing.subscription_changed";
/// Destructive actions turned to dry run because the subscription lapsed, or back.
pub const BILLING_LAPSED: &str = "billing.lapsed";
pub const BILLING_RESTORED: &str = "billing.restored";
pub const BILLING_USAGE_REPORTED: &str = "billing.usage_reported";
pub const BILLING_USAGE_REPORT_FAILED: &str = "billing.usage_report_failed";

pub const SLACK_REQUEST_REJECTED: &str = "slack.request_rejected";
pub const TELEGRAM_REQUEST_REJECTED: &str = "telegram.request_rejected";
pub const TELEGRAM_CHAT_IGNORED: &str = "telegram.chat_ignored";
pub const DIRECTORY_JOINED: &str = "directory.joined";
pub const DIRECTORY_DEACTIVATED: &str = "directory.deactivated";
pub const DIRECTORY_REACTIVATED: &str = "directory.reactivated";

// The process and delivery.
pub const OPSMATE_STARTED: &str = "opsmate.started";
/// The chain's head went out (in a digest); details say where.
pub const AUDIT_HEAD_POSTED: &str = "audit.head_posted";
pub const OPSMATE_STOPPED: &str = "opsmate.stopped";
pub const OUTBOX_FAILED: &str = "outbox.failed";

// The REST API's bearer tokens.
pub const TOKEN_CREATED: &str = "token.created";
pub const TOKEN_REVOKED: &str = "token.revoked";
/// A request with a token was refused for its scope (details say what it asked).
pub const TOKEN_REFUSED: &str = "token.refused";

// The web console.
pub const WEB_SIGNED_IN: &str = "web.signed_in";
/// Slack confirmed who they are, but they are not on the console's list.
pub const WEB_SIGNIN_REFUSED: &str = "web.signin_refused";
pub const WEB_SIGNED_OUT: &str = "web.signed_out";
/// A console POST without a valid CSRF token.
pub const WEB_CSRF_REFUSED: &str = "web.csrf_refused";

/// The event that records how an execution ended.
pub fn action_finished(state: ProposalState) -> &'static str {
    match state {
        ProposalState::Succeeded => ACTION_SUCCEEDED,
        ProposalState::Skipped => ACTION_SKIPPED,
        ProposalState::Interrupted => ACTION_INTERRUPTED,
        _ => ACTION_FAILED,
    }
}
