//! Night Watchman's one action kind: stopping staging for the night.

use crate::approvals::kinds::KindSpec;
use crate::domain::ActionKind;

impl ActionKind {
    pub const STOP_INSTANCES: ActionKind = ActionKind::new("stop_instances");
}

pub const KINDS: &[KindSpec] = &[KindSpec::single(
    ActionKind::STOP_INSTANCES,
    "Stop instances",
    "Stop now",
    "Keep online",
    "Stop these instances now?",
)];
