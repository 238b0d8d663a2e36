//! Incidents' one action kind: running a remediation for an incident.

use crate::approvals::kinds::KindSpec;
use crate::domain::ActionKind;

impl ActionKind {
    pub const REMEDIATE: ActionKind = ActionKind::new("remediate");
}

pub const KINDS: &[KindSpec] = &[KindSpec::single(
    ActionKind::REMEDIATE,
    "Run a remediation",
    "🔧 Run it",
    "Leave it",
    "Run this remediation now?",
)];
