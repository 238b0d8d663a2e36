//! What the core knows of each action kind: its words in chat, and whose approval it
//! needs. Every feature lists its kinds in its plug ([`crate::plugin::Plug::kinds`]);
//! this is where a kind's name read back from the database or the configuration is
//! recognised, so an unknown name is refused instead of guessed at.

use crate::domain::{ActionKind, InvalidId, invalid};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::str::FromStr;

/// One action kind as chat shows it.
#[derive(Debug)]
pub struct KindSpec {
    pub kind: ActionKind,
    /// Human name, e.g. "Delete EBS volume".
    pub label: &'static str,
    /// The destructive button.
    pub approve: &'static str,
    /// The button that keeps things as they are.
    pub reject: &'static str,
    /// The confirmation the destructive button asks for.
    pub confirm: &'static str,
    /// `Some` for a set of actions decided as one (Zombie Hunter's "Delete all"): the
    /// kinds such a set may hold. Its parameters name the kinds it holds in
    /// `params.kinds`; whoever decides it must pass every one of their policies, and
    /// it has no `[approvals.<kind>]` section of its own.
    pub set_of: Option<&'static [ActionKind]>,
    /// The destructive button asks why, like Reject, and the gate refuses an
    /// approval without a reason (a waived rule must say why it was waived).
    pub approve_needs_reason: bool,
}

impl KindSpec {
    /// A kind with its own policy.
    pub const fn single(
        kind: ActionKind,
        label: &'static str,
        approve: &'static str,
        reject: &'static str,
        confirm: &'static str,
    ) -> Self {
        Self {
            kind,
            label,
            approve,
            reject,
            confirm,
            set_of: None,
            approve_needs_reason: false,
        }
    }

    /// The same kind, whose approval needs a reason.
    pub const fn approved_with_reason(self) -> Self {
        Self {
            approve_needs_reason: true,
            ..self
        }
    }
}

/// Every registered kind, in the features' order.
pub fn all() -> impl Iterator<Item = &'static KindSpec> {
    crate::features::ALL
        .iter()
        .flat_map(|plug| plug.kinds.iter())
}

/// The spec of a kind, if a feature declares it.
pub fn spec(kind: ActionKind) -> Option<&'static KindSpec> {
    all().find(|s| s.kind == kind)
}

/// The spec of the kind called `name`.
pub fn spec_named(name: &str) -> Option<&'static KindSpec> {
    all().find(|s| s.kind.as_str() == name)
}

/// The human name of a kind (its name if no feature declares it).
pub fn label(kind: ActionKind) -> &'static str {
    spec(kind).map_or(kind.as_str(), |s| s.label)
}

/// The kinds whose policies govern a proposal: its own kind, or for a set every
/// single kind its `params.kinds` lists. An empty list (a malformed set) means nobody
/// can approve it.
pub fn policy_kinds(kind: ActionKind, params: &Value) -> Vec<ActionKind> {
    let Some(allowed) = spec(kind).and_then(|s| s.set_of) else {
        return vec![kind];
    };
    params
        .get("kinds")
        .cloned()
        .and_then(|k| serde_json::from_value::<Vec<ActionKind>>(k).ok())
        .filter(|kinds| !kinds.is_empty() && kinds.iter().all(|k| allowed.contains(k)))
        .unwrap_or_default()
}

impl FromStr for ActionKind {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        spec_named(s)
            .map(|spec| spec.kind)
            .ok_or_else(|| invalid("action kind", s))
    }
}

impl<'de> Deserialize<'de> for ActionKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_kind_parses_back_and_others_are_refused() {
        for spec in all() {
            assert_eq!(spec.kind.as_str().parse(), Ok(spec.kind));
        }
        assert!("drop_database".parse::<ActionKind>().is_err());
    }

    #[test]
    fn kind_names_are_unique() {
        let mut names: Vec<_> = all().map(|s| s.kind.as_str()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
