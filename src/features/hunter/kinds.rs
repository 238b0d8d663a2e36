//! Zombie Hunter's action kinds: one per kind of idle resource, and the set of them
//! decided as one ("Delete all").

use crate::approvals::kinds::KindSpec;
use crate::domain::ActionKind;

impl ActionKind {
    pub const DELETE_VOLUME: ActionKind = ActionKind::new("delete_volume");
    pub const DELETE_SNAPSHOT: ActionKind = ActionKind::new("delete_snapshot");
    pub const RELEASE_ADDRESS: ActionKind = ActionKind::new("release_address");
    /// A set of the three above decided as one. Whoever decides it must be allowed
    /// to approve every kind in the set.
    pub const DELETE_ZOMBIES: ActionKind = ActionKind::new("delete_zombies");
}

/// The kinds one "Delete all" may hold.
const DELETIONS: &[ActionKind] = &[
    ActionKind::DELETE_VOLUME,
    ActionKind::DELETE_SNAPSHOT,
    ActionKind::RELEASE_ADDRESS,
];

pub const KINDS: &[KindSpec] = &[
    KindSpec::single(
        ActionKind::DELETE_VOLUME,
        "Delete EBS volume",
        "Delete volume",
        "Keep",
        "Delete this volume? A final snapshot is taken first if configured.",
    ),
    KindSpec::single(
        ActionKind::DELETE_SNAPSHOT,
        "Delete EBS snapshot",
        "Delete snapshot",
        "Keep",
        "Delete this snapshot? This cannot be undone.",
    ),
    KindSpec::single(
        ActionKind::RELEASE_ADDRESS,
        "Release Elastic IP",
        "Release IP",
        "Keep",
        "Release this Elastic IP? The address may not come back.",
    ),
    KindSpec {
        set_of: Some(DELETIONS),
        ..KindSpec::single(
            ActionKind::DELETE_ZOMBIES,
            "Delete idle resources",
            "Delete all",
            "Keep",
            "Delete every listed resource? Each is checked again just before deletion.",
        )
    },
];
