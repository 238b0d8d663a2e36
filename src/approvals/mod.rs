//! The approval gate: the only path to an action that changes cloud state.
//!
//! - A decision is one conditional UPDATE inside a write transaction, so a double
//!   click, a platform retry or two approvers at once execute an action at most once.
//! - Refused clicks are audited too: the audit row commits even though the decision
//!   does not.
//! - A decision only records itself: an approved proposal is handed to the executor
//!   (`crate::executor`), which runs it beside the queue.
//! - Just before executing, the action's precondition is checked again.

mod action;
mod decide;
mod execute;
pub mod kinds;
pub mod lapse;
mod outcome;
pub mod policy;
mod proposal;
mod sql;
mod steps;

pub use action::{ActionHandler, ActionRegistry, ActionRun, BoxFuture, Precheck, Progress};
pub use execute::Recovery;
pub use lapse::{DryRunMode, DryRunSwitch};
pub use outcome::{ActionReport, Done, Outcome, dry_run_notice};
pub use policy::Refusal;
pub use proposal::{MAX_NOTE_CHARS, NewProposal, PostedAt, Proposal, ProposalState, decision_note};
pub use steps::Steps;

use crate::audit;
use crate::clock::SharedClock;
use crate::config::ApprovalsConfig;
use crate::domain::{ActionKind, Actor, ApprovalId, TelegramUserId};
use crate::metrics::Metrics;
use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use decide::{Choice, Step, decide_tx};
use serde_json::json;
use std::sync::Arc;

/// What a person decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    Approve,
    Reject,
}

/// The result of [`Gate::propose`].
#[derive(Debug, Clone)]
pub enum Proposed {
    Created(Proposal),
    /// An open proposal for the same (kind, target) already exists; it is returned.
    AlreadyOpen(Proposal),
}

impl Proposed {
    pub fn proposal(&self) -> &Proposal {
        match self {
            Proposed::Created(p) | Proposed::AlreadyOpen(p) => p,
        }
    }
}

/// A decision that went through.
#[derive(Debug, Clone)]
pub enum Decided {
    /// Approved: the decision is recorded and the proposal is ready for the executor,
    /// which runs it beside the queue.
    Approved(Proposal),
    Rejected(Proposal),
    /// Approval recorded, more distinct approvers needed.
    NeedsMoreApprovals {
        proposal: Proposal,
        have: u32,
        need: u32,
    },
}

/// A decision that did not go through. Each variant becomes a private answer to the
/// person who clicked; each was audited.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("no proposal {0}")]
    NotFound(ApprovalId),
    #[error("you are not allowed to decide {kind} proposals ({})", refusal.code())]
    Refused { kind: ActionKind, refusal: Refusal },
    #[error("already {state} by {by} at {at}")]
    AlreadyDecided {
        state: ProposalState,
        by: String,
        at: String,
    },
    #[error("this proposal expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("you already approved this proposal; it needs another approver")]
    AlreadyVoted,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The gate. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    store: Store,
    clock: SharedClock,
    config: Arc<ApprovalsConfig>,
    actions: Arc<ActionRegistry>,
    metrics: Metrics,
    dry_run: bool,
    /// Dry run turned on while running (a lapsed subscription), with its reason.
    switch: DryRunSwitch,
    /// Who may decide anything from Telegram (`telegram.approver_user_ids`).
    telegram_approvers: Arc<Vec<TelegramUserId>>,
}

impl Gate {
    pub fn new(
        store: Store,
        clock: SharedClock,
        config: ApprovalsConfig,
        actions: ActionRegistry,
        metrics: Metrics,
        dry_run: bool,
    ) -> Self {
        Self {
            store,
            clock,
            config: Arc::new(config),
            actions: Arc::new(actions),
            metrics,
            dry_run,
            switch: DryRunSwitch::default(),
            telegram_approvers: Arc::default(),
        }
    }

    /// Shares `switch`, so whoever holds it can turn dry run on while running.
    pub fn with_dry_run_switch(mut self, switch: DryRunSwitch) -> Self {
        self.switch = switch;
        self
    }

    /// Sets who may decide anything from Telegram.
    pub fn with_telegram_approvers(mut self, ids: Vec<TelegramUserId>) -> Self {
        self.telegram_approvers = Arc::new(ids);
        self
    }

    /// Whether `decider` may decide `p` now, by the same rules as a click (without
    /// auditing: this only chooses what to show them).
    pub fn may_decide(&self, decider: &Actor, p: &Proposal) -> Result<(), Refusal> {
        let kinds = policy::policy_kinds(p.kind, &p.params);
        let config = policy::for_proposal(&self.config, p.kind, &p.params);
        policy::check_all(
            &config,
            &self.telegram_approvers,
            &kinds,
            &p.proposed_by,
            decider,
        )
    }

    /// Checks, outside any proposal, that `decider` may decide `kind` proposals made
    /// by `proposed_by` (a keep typed as a command); a refusal is audited against
    /// `subject`, as a refused click is.
    pub async fn check_decider(
        &self,
        decider: &Actor,
        kind: ActionKind,
        proposed_by: &str,
        subject: &str,
    ) -> anyhow::Result<Result<(), Refusal>> {
        let checked = policy::check_all(
            &self.config,
            &self.telegram_approvers,
            &[kind],
            proposed_by,
            decider,
        );
        if let Err(refusal) = &checked {
            let (now, who, subject) = (self.clock.now(), decider.key(), subject.to_owned());
            let details = json!({"verdict": "keep", "reason": refusal.code(), "kind": kind});
            self.store
                .call(move |c| {
                    audit::append(
                        c,
                        now,
                        &who,
                        audit::events::APPROVAL_REFUSED,
                        &subject,
                        &details,
                    )
                    .map(|_| ())
                })
                .await?;
        }
        Ok(checked)
    }

    pub fn config(&self) -> &ApprovalsConfig {
        &self.config
    }

    /// True when someone could approve this proposal. Messages say so when nobody can.
    pub fn has_approvers(&self, p: &Proposal) -> bool {
        let config = policy::for_proposal(&self.config, p.kind, &p.params);
        policy::has_approvers(&config, &policy::policy_kinds(p.kind, &p.params))
    }

    /// Puts an action up for decision. At most one open proposal exists per (kind, target).
    pub async fn propose(&self, new: NewProposal) -> anyhow::Result<Proposed> {
        if self.actions.get(new.kind).is_none() {
            anyhow::bail!("no handler is registered for {} actions", new.kind);
        }
        let now = self.clock.now();
        let kinds = policy::policy_kinds(new.kind, &new.params);
        let config = policy::for_proposal(&self.config, new.kind, &new.params);
        let ttl = kinds
            .iter()
            .map(|k| config.ttl_for(*k))
            .min()
            .unwrap_or(config.ttl);
        let ttl = chrono::Duration::from_std(ttl)?;
        // A set needs as many approvers as its strictest member.
        let required = kinds
            .iter()
            .map(|k| config.policy(*k).map_or(1, |p| p.required()))
            .max()
            .unwrap_or(1) as u32;
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    if let Some(open) = sql::open_for_target(tx, new.kind.as_str(), &new.target)? {
                        return Ok(Proposed::AlreadyOpen(open));
                    }
                    let id = ApprovalId::generate();
                    if !sql::insert(tx, &id, &new, required, now, now + ttl)? {
                        anyhow::bail!(
                            "proposal id collision or concurrent proposal for {}",
                            new.target
                        );
                    }
                    audit::append(
                        tx,
                        now,
                        &new.proposed_by,
                        audit::events::APPROVAL_PROPOSED,
                        id.as_str(),
                        &json!({
                            "kind": new.kind,
                            "target": new.target,
                            "reason": new.reason,
                            "params": new.params,
                            "required_approvals": required,
                            "expires_at": (now + ttl).to_rfc3339(),
                        }),
                    )?;
                    let p =
                        sql::get(tx, &id)?.ok_or_else(|| anyhow::anyhow!("proposal vanished"))?;
                    Ok(Proposed::Created(p))
                })
            })
            .await
    }

    /// Remembers where the proposal's message went, so a decision can update it.
    pub async fn set_posted(&self, id: &ApprovalId, posted: PostedAt) -> anyhow::Result<()> {
        let id = id.clone();
        self.store
            .call(move |c| sql::set_posted(c, &id, &posted))
            .await
    }

    pub async fn get(&self, id: &ApprovalId) -> anyhow::Result<Option<Proposal>> {
        let id = id.clone();
        self.store.call(move |c| sql::get(c, &id)).await
    }

    /// The newest proposal of `kind` for each target (a feature's history).
    pub async fn latest_by_target(
        &self,
        kind: ActionKind,
    ) -> anyhow::Result<std::collections::HashMap<String, Proposal>> {
        self.store
            .call(move |c| sql::latest_by_target(c, kind.as_str()))
            .await
    }

    /// Open proposals waiting for people, oldest first.
    pub async fn pending(&self) -> anyhow::Result<Vec<Proposal>> {
        self.store
            .call(|c| sql::in_state(c, ProposalState::Pending))
            .await
    }

    /// One page of proposals, newest first (see [`sql::page`]).
    pub async fn page(
        &self,
        state: Option<ProposalState>,
        before: Option<i64>,
        limit: usize,
    ) -> anyhow::Result<Vec<(i64, Proposal)>> {
        self.store
            .call(move |c| sql::page(c, state, before, limit))
            .await
    }

    /// Decides a proposal on behalf of `decider`. An approval that completes the
    /// proposal leaves it `approved`, for the executor; nothing runs here.
    pub async fn decide(
        &self,
        id: &ApprovalId,
        decider: &Actor,
        verdict: Verdict,
    ) -> Result<Decided, DecisionError> {
        self.decide_noted(id, decider, verdict, None).await
    }

    /// [`Gate::decide`] with the reason the decider gave, recorded on the proposal
    /// and in the decision's audit row.
    pub async fn decide_noted(
        &self,
        id: &ApprovalId,
        decider: &Actor,
        verdict: Verdict,
        note: Option<String>,
    ) -> Result<Decided, DecisionError> {
        let step = self
            .decide_in_db(id.clone(), decider.clone(), verdict, note)
            .await?;
        match step {
            Step::Missing => Err(DecisionError::NotFound(id.clone())),
            Step::Refused(p, refusal) => Err(DecisionError::Refused {
                kind: p.kind,
                refusal,
            }),
            Step::AlreadyDecided(p) => Err(DecisionError::AlreadyDecided {
                state: p.state,
                by: p
                    .decided_by
                    .clone()
                    .unwrap_or_else(|| "nobody (expired)".into()),
                at: p
                    .decided_at
                    .or(p.finished_at)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
            }),
            Step::Expired(p) => Err(DecisionError::Expired(p.expires_at)),
            Step::AlreadyVoted => Err(DecisionError::AlreadyVoted),
            Step::Vote { proposal, have } => Ok(Decided::NeedsMoreApprovals {
                need: proposal.required_approvals,
                proposal,
                have,
            }),
            Step::Rejected(p) => Ok(Decided::Rejected(p)),
            Step::Approved(p) => Ok(Decided::Approved(p)),
        }
    }

    /// Approves a pending proposal on behalf of a rule rather than a person, for the
    /// executor to run. Night Watchman's notice uses this (nobody clicked Keep online before
    /// the announced deadline, which the notice told everyone would mean a stop), and so
    /// does a remediation's auto rule, which its configuration turned on. The
    /// rule is recorded as the decider (`by`), and audited as such. Returns `None`
    /// when the proposal was no longer pending (kept, stopped early, expired).
    pub async fn approve_unattended(
        &self,
        id: &ApprovalId,
        by: &str,
        why: &str,
    ) -> anyhow::Result<Option<Proposal>> {
        let now = self.clock.now();
        let (id, by, why) = (id.clone(), by.to_owned(), why.to_owned());
        let approved = self
            .store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    if !sql::decide_pending(tx, &id, ProposalState::Approved, &by, now)? {
                        return Ok(None);
                    }
                    let p =
                        sql::get(tx, &id)?.ok_or_else(|| anyhow::anyhow!("proposal vanished"))?;
                    audit::append(
                        tx,
                        now,
                        &by,
                        audit::events::APPROVAL_APPROVED_UNATTENDED,
                        id.as_str(),
                        &json!({"kind": p.kind, "target": p.target, "why": why}),
                    )?;
                    Ok(Some(p))
                })
            })
            .await?;
        Ok(approved)
    }

    /// Withdraws a pending proposal that no longer makes sense (the rollback's
    /// application recovered on its own): it becomes rejected, with `by` (a rule) as
    /// the decider, audited with the reason. Returns `false` when it was no longer
    /// pending.
    pub async fn withdraw(&self, id: &ApprovalId, by: &str, why: &str) -> anyhow::Result<bool> {
        let now = self.clock.now();
        let (id, by, why) = (id.clone(), by.to_owned(), why.to_owned());
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    if !sql::decide_pending(tx, &id, ProposalState::Rejected, &by, now)? {
                        return Ok(false);
                    }
                    audit::append(
                        tx,
                        now,
                        &by,
                        audit::events::APPROVAL_WITHDRAWN,
                        id.as_str(),
                        &json!({"why": why}),
                    )?;
                    Ok(true)
                })
            })
            .await
    }

    async fn decide_in_db(
        &self,
        id: ApprovalId,
        decider: Actor,
        verdict: Verdict,
        note: Option<String>,
    ) -> anyhow::Result<Step> {
        let now = self.clock.now();
        let (config, telegram) = (self.config.clone(), self.telegram_approvers.clone());
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    decide_tx(
                        tx,
                        &config,
                        &telegram,
                        &id,
                        &decider,
                        Choice {
                            verdict,
                            note: note.as_deref(),
                        },
                        now,
                    )
                })
            })
            .await
    }

    /// Counts per state, for `/metrics`.
    pub async fn count_by_state(&self) -> anyhow::Result<Vec<(String, i64)>> {
        self.store.call(|c| sql::count_by_state(c)).await
    }
}
