//! Dry run switched on while the process runs, with the reason people are shown.
//!
//! `dry_run = true` in the configuration is fixed for the process's life. Some
//! reasons to stop changing cloud state come and go while it runs (the hosted plan's
//! subscription lapsed, then was paid): the feature that knows sets this switch, the
//! gate reads it when an action starts, and every outcome says why nothing was
//! changed. Pending proposals are left alone: the switch only decides how an action
//! runs, never whether a proposal stays open.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

/// The switch. Cheap to clone; every clone is the same switch.
#[derive(Debug, Clone, Default)]
pub struct DryRunSwitch(Arc<RwLock<Option<String>>>);

impl DryRunSwitch {
    /// Turns dry run on with `reason` (a sentence people read), or off with `None`.
    pub fn set(&self, reason: Option<String>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = reason;
    }

    /// Why dry run is on, if this switch turned it on.
    pub fn reason(&self) -> Option<String> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The step under which an action's [`DryRunMode`] is kept from its start.
pub const MODE_STEP: &str = "core:dry_run";

/// How one action runs, fixed when it starts so that a switch flipped while it runs
/// (or waits, or is resumed after a restart) never changes it half-way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRunMode {
    pub dry_run: bool,
    /// Set when the switch (not the configuration) made it a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clone_is_the_same_switch() {
        let a = DryRunSwitch::default();
        let b = a.clone();
        assert_eq!(b.reason(), None);
        a.set(Some("the subscription expired".into()));
        assert_eq!(b.reason().as_deref(), Some("the subscription expired"));
        b.set(None);
        assert_eq!(a.reason(), None);
    }
}
