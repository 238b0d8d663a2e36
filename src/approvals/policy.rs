//! Who may decide a proposal: a pure check of the clicker against the configured policy.

use crate::config::{ApprovalsConfig, KindPolicy};
use crate::domain::{ActionKind, Actor, TelegramUserId};

/// Why a decision was refused before it touched the proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No approver is configured for this kind: nobody can approve it.
    NoApproversConfigured,
    /// The clicker is not in the kind's approver list.
    NotAnApprover,
    /// `forbid_self_approval` is on and the clicker proposed it.
    OwnProposal,
    /// A Telegram user not in `telegram.approver_user_ids`: nobody else may decide
    /// anything from Telegram.
    NotATelegramApprover,
    /// The kind's approval needs a reason ([`super::kinds::KindSpec::approve_needs_reason`])
    /// and none was given.
    ReasonRequired,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoApproversConfigured => "no_approvers_configured",
            Refusal::NotAnApprover => "not_an_approver",
            Refusal::OwnProposal => "own_proposal",
            Refusal::NotATelegramApprover => "not_a_telegram_approver",
            Refusal::ReasonRequired => "reason_required",
        }
    }
}

pub use super::kinds::policy_kinds;

/// The key of a proposal's parameters under which a feature may name who decides
/// that one proposal (a remediation with its own approvers), as a [`KindPolicy`].
pub const OWN_APPROVERS: &str = "approvers";

/// The configuration that governs one proposal: its kind's `[approvals.<kind>]`,
/// unless its parameters name its own approvers ([`OWN_APPROVERS`]). Those are stored
/// with the proposal and in its audit row, so who could decide is on record.
pub fn for_proposal<'a>(
    config: &'a ApprovalsConfig,
    kind: ActionKind,
    params: &serde_json::Value,
) -> std::borrow::Cow<'a, ApprovalsConfig> {
    let own = params
        .get(OWN_APPROVERS)
        .and_then(|v| serde_json::from_value::<KindPolicy>(v.clone()).ok());
    match own {
        Some(policy) => {
            let mut config = config.clone();
            config.set_policy(kind, policy);
            std::borrow::Cow::Owned(config)
        }
        None => std::borrow::Cow::Borrowed(config),
    }
}

/// True when someone could approve a proposal governed by these kinds.
pub fn has_approvers(config: &ApprovalsConfig, kinds: &[ActionKind]) -> bool {
    !kinds.is_empty()
        && kinds
            .iter()
            .all(|k| config.policy(*k).is_some_and(|p| p.has_approvers()))
}

/// Checks that `decider` may decide a proposal governed by `kinds` (see
/// [`policy_kinds`]) made by `proposed_by`: a Telegram user must be one of
/// `telegram_approvers`, and everyone must pass every kind's policy. This is the one
/// approver check; every path to a decision goes through it.
pub fn check_all(
    config: &ApprovalsConfig,
    telegram_approvers: &[TelegramUserId],
    kinds: &[ActionKind],
    proposed_by: &str,
    decider: &Actor,
) -> Result<(), Refusal> {
    if let Actor::Telegram(id) = decider
        && !telegram_approvers.contains(id)
    {
        return Err(Refusal::NotATelegramApprover);
    }
    if kinds.is_empty() {
        return Err(Refusal::NoApproversConfigured);
    }
    kinds
        .iter()
        .try_for_each(|k| check(config, *k, proposed_by, decider))
}

/// Checks that `decider` may decide a proposal of `kind` made by `proposed_by`, by
/// that kind's policy alone.
fn check(
    config: &ApprovalsConfig,
    kind: ActionKind,
    proposed_by: &str,
    decider: &Actor,
) -> Result<(), Refusal> {
    let policy = config
        .policy(kind)
        .filter(|p| p.has_approvers())
        .ok_or(Refusal::NoApproversConfigured)?;
    if !is_listed(policy, decider) {
        return Err(Refusal::NotAnApprover);
    }
    if config.forbid_self_approval && decider.person_key() == proposed_by {
        return Err(Refusal::OwnProposal);
    }
    Ok(())
}

fn is_listed(policy: &KindPolicy, decider: &Actor) -> bool {
    match decider {
        Actor::Slack { user, groups } => {
            policy.slack_users.contains(user)
                || groups.iter().any(|g| policy.slack_groups.contains(g))
        }
        Actor::Telegram(id) => policy.telegram_users.contains(id),
        // A token decides as its owner, without the owner's user groups (a token
        // cannot show it is still in them).
        Actor::Token { owner, .. } => policy.slack_users.contains(owner),
        // Decisions are for people; jobs and the CLI never approve.
        Actor::Scheduler | Actor::Cli | Actor::System => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SlackGroupId, SlackUserId, TelegramUserId};

    fn slack(user: &str, groups: &[&str]) -> Actor {
        Actor::Slack {
            user: SlackUserId::parse(user).unwrap(),
            groups: groups
                .iter()
                .map(|g| SlackGroupId::parse(g).unwrap())
                .collect(),
        }
    }

    fn config() -> ApprovalsConfig {
        ApprovalsConfig {
            kinds: [(
                ActionKind::DELETE_VOLUME,
                KindPolicy {
                    slack_users: vec![SlackUserId::parse("UALICE").unwrap()],
                    slack_groups: vec![SlackGroupId::parse("SOPS").unwrap()],
                    telegram_users: vec![TelegramUserId(42)],
                    ..KindPolicy::default()
                },
            )]
            .into(),
            ..ApprovalsConfig::default()
        }
    }

    #[test]
    fn listed_users_groups_and_telegram_ids_may_decide() {
        let c = config();
        assert_eq!(
            check(
                &c,
                ActionKind::DELETE_VOLUME,
                "scheduler",
                &slack("UALICE", &[])
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &c,
                ActionKind::DELETE_VOLUME,
                "scheduler",
                &slack("UBOB", &["SOPS"])
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &c,
                ActionKind::DELETE_VOLUME,
                "scheduler",
                &Actor::Telegram(TelegramUserId(42))
            ),
            Ok(())
        );
    }

    #[test]
    fn strangers_and_machines_are_refused() {
        let c = config();
        assert_eq!(
            check(
                &c,
                ActionKind::DELETE_VOLUME,
                "scheduler",
                &slack("UMALLORY", &["SOTHER"])
            ),
            Err(Refusal::NotAnApprover)
        );
        assert_eq!(
            check(
                &c,
                ActionKind::DELETE_VOLUME,
                "scheduler",
                &Actor::Telegram(TelegramUserId(7))
            ),
            Err(Refusal::NotAnApprover)
        );
        assert_eq!(
            check(&c, ActionKind::DELETE_VOLUME, "scheduler", &Actor::Cli),
            Err(Refusal::NotAnApprover)
        );
    }

    #[test]
    fn unconfigured_kind_lets_nobody_through() {
        let c = config();
        assert_eq!(
            check(
                &c,
                ActionKind::REVOKE_ACCESS,
                "scheduler",
                &slack("UALICE", &[])
            ),
            Err(Refusal::NoApproversConfigured)
        );
    }

    #[test]
    fn own_proposal_is_refused_when_forbidden() {
        let mut c = config();
        assert_eq!(
            check(
                &c,
                ActionKind::DELETE_VOLUME,
                "slack:UALICE",
                &slack("UALICE", &[])
            ),
            Err(Refusal::OwnProposal)
        );
        c.forbid_self_approval = false;
        assert_eq!(
            check(
                &c,
                ActionKind::DELETE_VOLUME,
                "slack:UALICE",
                &slack("UALICE", &[])
            ),
            Ok(())
        );
    }
}
