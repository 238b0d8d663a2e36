//! Access Guard's one action kind: revoking a departed person's IAM access.

use crate::approvals::kinds::KindSpec;
use crate::domain::ActionKind;

impl ActionKind {
    pub const REVOKE_ACCESS: ActionKind = ActionKind::new("revoke_access");
}

pub const KINDS: &[KindSpec] = &[KindSpec::single(
    ActionKind::REVOKE_ACCESS,
    "Revoke AWS access",
    "✅ Approve revocation",
    "❌ Keep access",
    "Remove every access key, password, group, policy and MFA device of this IAM user?",
)];
