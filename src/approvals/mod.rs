//! The approval gate: the only path to an action that changes cloud state.
//!
//! - A decision is one conditional UPDATE inside a write transaction, so a double
//!   click, a platform retry or two approvers at once execute an action at most once.
//! - Refused clicks are audited too: the audit row commits even though the decision
//!   does not.
//! - Just before executing, the action's precondition is checked again.

mod action;
pub mod policy;
mod proposal;
mod sql;

pub use action::{ActionHandler, ActionRegistry, BoxFuture, Precheck};
pub use policy::Refusal;
pub use proposal::{NewProposal, PostedAt, Proposal, ProposalState};

use crate::audit;
use crate::clock::SharedClock;
use crate::config::ApprovalsConfig;
use crate::domain::{ActionKind, Actor, ApprovalId};
use crate::metrics::Metrics;
use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

/// What a person decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Approved and run; the proposal carries the final state and outcome.
    Executed(Proposal),
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

/// Outcome of the decision transaction, before any execution.
enum Step {
    Missing,
    Refused(Proposal, Refusal),
    AlreadyDecided(Proposal),
    Expired(Proposal),
    AlreadyVoted,
    Vote { proposal: Proposal, have: u32 },
    Rejected(Proposal),
    Approved(Proposal),
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
        }
    }

    pub fn config(&self) -> &ApprovalsConfig {
        &self.config
    }

    /// True when someone could approve this kind. Messages say so when nobody can.
    pub fn has_approvers(&self, kind: ActionKind) -> bool {
        self.config.policy(kind).is_some_and(|p| p.has_approvers())
    }

    /// Puts an action up for decision. At most one open proposal exists per (kind, target).
    pub async fn propose(&self, new: NewProposal) -> anyhow::Result<Proposed> {
        if self.actions.get(new.kind).is_none() {
            anyhow::bail!("no handler is registered for {} actions", new.kind);
        }
        let now = self.clock.now();
        let ttl = chrono::Duration::from_std(self.config.ttl_for(new.kind))?;
        let required = self.config.policy(new.kind).map_or(1, |p| p.required()) as u32;
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
                        "approval.proposed",
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

    /// Open proposals waiting for people, oldest first.
    pub async fn pending(&self) -> anyhow::Result<Vec<Proposal>> {
        self.store
            .call(|c| sql::in_state(c, ProposalState::Pending))
            .await
    }

    /// Decides a proposal on behalf of `decider`, and runs the action if this decision
    /// completes the approval.
    pub async fn decide(
        &self,
        id: &ApprovalId,
        decider: &Actor,
        verdict: Verdict,
    ) -> Result<Decided, DecisionError> {
        let step = self
            .decide_in_db(id.clone(), decider.clone(), verdict)
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
            Step::Approved(p) => Ok(Decided::Executed(self.execute(p).await?)),
        }
    }

    async fn decide_in_db(
        &self,
        id: ApprovalId,
        decider: Actor,
        verdict: Verdict,
    ) -> anyhow::Result<Step> {
        let now = self.clock.now();
        let config = self.config.clone();
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    decide_tx(tx, &config, &id, &decider, verdict, now)
                })
            })
            .await
    }

    /// Runs an approved proposal: approved → executing → succeeded | failed | skipped.
    async fn execute(&self, p: Proposal) -> anyhow::Result<Proposal> {
        let now = self.clock.now();
        let id = p.id.clone();
        let dry_run = self.dry_run;
        let started = self
            .store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    let moved = sql::transition(
                        tx,
                        &id,
                        ProposalState::Approved,
                        ProposalState::Executing,
                    )?;
                    if moved {
                        audit::append(
                            tx,
                            now,
                            "system",
                            "action.started",
                            id.as_str(),
                            &json!({"dry_run": dry_run}),
                        )?;
                    }
                    Ok(moved)
                })
            })
            .await?;
        if !started {
            // Someone else is already running it; never twice.
            return self
                .get(&p.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("proposal vanished"));
        }

        let (state, outcome) = match self.actions.get(p.kind) {
            None => (
                ProposalState::Failed,
                json!({"error": format!("no handler is registered for {} actions", p.kind)}),
            ),
            Some(handler) => match handler.recheck(&p).await {
                Ok(Precheck::NoLongerQualifies(why)) => {
                    (ProposalState::Skipped, json!({"skipped": why}))
                }
                Err(e) => (
                    ProposalState::Failed,
                    json!({"error": format!("precondition check failed: {e:#}")}),
                ),
                Ok(Precheck::Qualifies) => match handler.execute(&p, self.dry_run).await {
                    Ok(report) => (
                        ProposalState::Succeeded,
                        json!({"dry_run": self.dry_run, "report": report}),
                    ),
                    Err(e) => (ProposalState::Failed, json!({"error": format!("{e:#}")})),
                },
            },
        };
        self.metrics.action(p.kind.as_str(), state.as_str());
        let now = self.clock.now();
        let id = p.id.clone();
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    sql::finish(tx, &id, state, &outcome, now)?;
                    audit::append(
                        tx,
                        now,
                        "system",
                        &format!("action.{state}"),
                        id.as_str(),
                        &outcome,
                    )?;
                    sql::get(tx, &id)?.ok_or_else(|| anyhow::anyhow!("proposal vanished"))
                })
            })
            .await
    }

    /// Expires pending proposals whose time is up. Returns those it expired.
    pub async fn expire_due(&self) -> anyhow::Result<Vec<Proposal>> {
        let now = self.clock.now();
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    let mut expired = Vec::new();
                    for p in sql::pending_expired_by(tx, now)? {
                        if sql::expire(tx, &p.id, now)? {
                            audit::append(
                                tx,
                                now,
                                "system",
                                "approval.expired",
                                p.id.as_str(),
                                &json!({"kind": p.kind, "target": p.target}),
                            )?;
                            expired.extend(sql::get(tx, &p.id)?);
                        }
                    }
                    Ok(expired)
                })
            })
            .await
    }

    /// At start-up: anything left `executing` was cut off mid-way. It becomes
    /// `interrupted`, is audited, and is returned to be surfaced. It is never re-run.
    pub async fn recover_interrupted(&self) -> anyhow::Result<Vec<Proposal>> {
        let now = self.clock.now();
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    let mut out = Vec::new();
                    for p in sql::in_state(tx, ProposalState::Executing)? {
                        if sql::transition(tx, &p.id, ProposalState::Executing, ProposalState::Interrupted)? {
                            audit::append(
                                tx,
                                now,
                                "system",
                                "action.interrupted",
                                p.id.as_str(),
                                &json!({"kind": p.kind, "target": p.target,
                                        "note": "the process stopped while this action ran; check the target by hand, it will not be re-run"}),
                            )?;
                            out.extend(sql::get(tx, &p.id)?);
                        }
                    }
                    Ok(out)
                })
            })
            .await
    }

    /// Counts per state, for `/metrics`.
    pub async fn count_by_state(&self) -> anyhow::Result<Vec<(String, i64)>> {
        self.store.call(|c| sql::count_by_state(c)).await
    }
}

fn decide_tx(
    tx: &rusqlite::Transaction<'_>,
    config: &ApprovalsConfig,
    id: &ApprovalId,
    decider: &Actor,
    verdict: Verdict,
    now: DateTime<Utc>,
) -> anyhow::Result<Step> {
    let who = decider.key();
    let verb = match verdict {
        Verdict::Approve => "approve",
        Verdict::Reject => "reject",
    };
    let refuse = |reason: &str, extra: Value| -> anyhow::Result<()> {
        audit::append(
            tx,
            now,
            &who,
            "approval.refused",
            id.as_str(),
            &json!({"verdict": verb, "reason": reason, "detail": extra}),
        )?;
        Ok(())
    };

    let Some(p) = sql::get(tx, id)? else {
        refuse("not_found", Value::Null)?;
        return Ok(Step::Missing);
    };
    if let Err(refusal) = policy::check(config, p.kind, &p.proposed_by, decider) {
        refuse(refusal.code(), json!({"kind": p.kind}))?;
        return Ok(Step::Refused(p, refusal));
    }
    if p.state != ProposalState::Pending {
        refuse(
            "already_decided",
            json!({"state": p.state, "decided_by": p.decided_by}),
        )?;
        return Ok(Step::AlreadyDecided(p));
    }
    if p.expires_at <= now {
        if sql::expire(tx, id, now)? {
            audit::append(
                tx,
                now,
                "system",
                "approval.expired",
                id.as_str(),
                &json!({"kind": p.kind, "target": p.target}),
            )?;
        }
        refuse("expired", Value::Null)?;
        return Ok(Step::Expired(p));
    }

    match verdict {
        Verdict::Reject => {
            if !sql::decide_pending(tx, id, ProposalState::Rejected, &who, now)? {
                refuse("lost_race", Value::Null)?;
                return Ok(Step::AlreadyDecided(sql::get(tx, id)?.unwrap_or(p)));
            }
            audit::append(
                tx,
                now,
                &who,
                "approval.rejected",
                id.as_str(),
                &json!({"kind": p.kind, "target": p.target}),
            )?;
            Ok(Step::Rejected(sql::get(tx, id)?.unwrap_or(p)))
        }
        Verdict::Approve => {
            if !sql::add_vote(tx, id, &who, now)? {
                refuse("already_voted", Value::Null)?;
                return Ok(Step::AlreadyVoted);
            }
            let voters = sql::voters(tx, id)?;
            let have = voters.len() as u32;
            if have < p.required_approvals {
                audit::append(
                    tx,
                    now,
                    &who,
                    "approval.vote",
                    id.as_str(),
                    &json!({"have": have, "need": p.required_approvals}),
                )?;
                return Ok(Step::Vote { proposal: p, have });
            }
            let decided_by = voters.join(",");
            if !sql::decide_pending(tx, id, ProposalState::Approved, &decided_by, now)? {
                refuse("lost_race", Value::Null)?;
                return Ok(Step::AlreadyDecided(sql::get(tx, id)?.unwrap_or(p)));
            }
            audit::append(
                tx,
                now,
                &who,
                "approval.approved",
                id.as_str(),
                &json!({"kind": p.kind, "target": p.target, "approvers": voters}),
            )?;
            Ok(Step::Approved(sql::get(tx, id)?.unwrap_or(p)))
        }
    }
}
