//! The gate's side of running an approved proposal: the state moves and their audit
//! rows. The executor (`crate::executor`) decides when each happens.
//!
//! ```text
//! approved ─► executing ─┬─► succeeded | failed | skipped
//!                        └─► interrupted (cut off by a restart, not resumable)
//! ```

use super::proposal::{Proposal, ProposalState};
use super::sql;
use super::{ActionHandler, DryRunMode, Gate, Outcome};
use crate::audit;
use crate::clock::to_millis;
use crate::domain::ApprovalId;
use crate::store;
use rusqlite::params;
use serde_json::{Value, json};
use std::sync::Arc;

/// What start-up found of the actions that were decided but not finished.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Approved, never started: handed to the executor again (it re-checks first).
    pub queued: Vec<Proposal>,
    /// Resumable actions that were running or waiting: they carry on from their steps.
    pub resumed: Vec<Proposal>,
    /// Cut off mid-way and not resumable: never re-run; people check by hand.
    pub interrupted: Vec<Proposal>,
}

impl Gate {
    /// The handler registered for a proposal's kind.
    pub fn handler_for(&self, p: &Proposal) -> Option<Arc<dyn ActionHandler>> {
        self.actions.get(p.kind)
    }

    /// The gate's clock, now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// True when actions only say what they would do: the configuration says so,
    /// or the switch is on.
    pub fn dry_run(&self) -> bool {
        self.dry_run_mode().dry_run
    }

    /// How an action starting now runs, with the switch's reason when it is on.
    pub fn dry_run_mode(&self) -> DryRunMode {
        let reason = self.switch.reason();
        DryRunMode {
            dry_run: self.dry_run || reason.is_some(),
            reason,
        }
    }

    pub(crate) fn store(&self) -> &crate::store::Store {
        &self.store
    }

    /// approved → executing, audited. A resumable action gets its progress row in
    /// the same transaction, so a restart from here on resumes it. Returns the
    /// proposal if this call moved it (never twice).
    pub async fn begin_execution(
        &self,
        id: &ApprovalId,
        resumable: bool,
    ) -> anyhow::Result<Option<Proposal>> {
        let now = self.clock.now();
        let id = id.clone();
        let mode = self.dry_run_mode();
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    if !sql::transition(tx, &id, ProposalState::Approved, ProposalState::Executing)?
                    {
                        return Ok(None);
                    }
                    if resumable {
                        insert_progress(tx, &id, None, now)?;
                    }
                    // Kept with the action, so a switch flipped later (or a restart)
                    // never turns a running action into a dry run half-way.
                    super::steps::put(
                        tx,
                        &id,
                        super::lapse::MODE_STEP,
                        &serde_json::to_string(&mode)?,
                        now,
                    )?;
                    audit::append(
                        tx,
                        now,
                        "system",
                        audit::events::ACTION_STARTED,
                        id.as_str(),
                        &json!({"dry_run": mode.dry_run, "dry_run_reason": mode.reason, "resumable": resumable}),
                    )?;
                    sql::get(tx, &id)
                })
            })
            .await
    }

    /// A set (`delete_zombies`) takes over one of its members: pending → executing in
    /// one conditional UPDATE, decided by whoever approved the set, audited. Returns
    /// false when the member was no longer pending (its own decision stands).
    pub async fn claim_for_set(&self, member: &ApprovalId, set: &Proposal) -> anyhow::Result<bool> {
        let now = self.clock.now();
        let (member, set_id) = (member.clone(), set.id.clone());
        let by = set.decided_by.clone().unwrap_or_else(|| "system".into());
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    if !sql::decide_pending(tx, &member, ProposalState::Executing, &by, now)? {
                        return Ok(false);
                    }
                    insert_progress(tx, &member, Some(&set_id), now)?;
                    audit::append(
                        tx,
                        now,
                        &by,
                        audit::events::APPROVAL_APPROVED,
                        member.as_str(),
                        &json!({"via_set": set_id, "approvers": by.split(',').collect::<Vec<_>>()}),
                    )?;
                    Ok(true)
                })
            })
            .await
    }

    /// executing → `state`, with the outcome and its audit row. `detail` (an internal
    /// error chain) goes to the audit row only, never into what chat shows.
    pub async fn finish_execution(
        &self,
        id: &ApprovalId,
        state: ProposalState,
        outcome: Outcome,
        detail: Option<String>,
    ) -> anyhow::Result<Proposal> {
        let now = self.clock.now();
        let id = id.clone();
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    // A dry run the switch forced says why, in every report of it.
                    let outcome = if outcome.dry_run && outcome.dry_run_reason.is_none() {
                        let reason = kept_mode(tx, &id)?.and_then(|m| m.reason);
                        outcome.with_dry_run_reason(reason)
                    } else {
                        outcome
                    };
                    if sql::finish(tx, &id, state, &outcome, now)? {
                        tx.execute(
                            "DELETE FROM action_progress WHERE proposal_id = ?1",
                            [id.as_str()],
                        )?;
                        let mut details = serde_json::to_value(&outcome)?;
                        if let (Some(obj), Some(d)) = (details.as_object_mut(), detail) {
                            obj.insert("detail".into(), Value::String(d));
                        }
                        audit::append(
                            tx,
                            now,
                            "system",
                            audit::events::action_finished(state),
                            id.as_str(),
                            &details,
                        )?;
                    }
                    sql::get(tx, &id)?.ok_or_else(|| anyhow::anyhow!("proposal vanished"))
                })
            })
            .await
            .inspect(|p| self.metrics.action(p.kind.as_str(), state.as_str()))
    }

    /// Notes that a resumable action finished one pass and will be called again.
    pub async fn note_pass(&self, id: &ApprovalId, next: chrono::Duration) -> anyhow::Result<()> {
        let next_at = to_millis(self.clock.now() + next);
        let id = id.clone();
        self.store
            .call(move |c| {
                c.execute(
                    "UPDATE action_progress SET passes = passes + 1, next_pass_at = ?2
                     WHERE proposal_id = ?1",
                    params![id.as_str(), next_at],
                )?;
                Ok(())
            })
            .await
    }

    /// At start-up: sorts every decided but unfinished proposal. `executing` without a
    /// progress row, or whose set is not resuming, becomes `interrupted` (audited,
    /// never re-run); resumable ones and queued approvals are returned to be handed to
    /// the executor. Members claimed by a resuming set are left to the set.
    pub async fn recover(&self) -> anyhow::Result<Recovery> {
        let now = self.clock.now();
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    let mut out = Recovery {
                        queued: sql::in_state(tx, ProposalState::Approved)?,
                        ..Recovery::default()
                    };
                    let executing = sql::in_state(tx, ProposalState::Executing)?;
                    let progress = progress_rows(tx)?;
                    let resuming = |id: &ApprovalId| {
                        progress.get(id.as_str()).is_some_and(|parent| parent.is_none())
                    };
                    for p in executing {
                        match progress.get(p.id.as_str()) {
                            Some(None) => out.resumed.push(p),
                            Some(Some(parent))
                                if ApprovalId::parse(parent).is_ok_and(|s| resuming(&s)) => {}
                            _ => {
                                if sql::transition(tx, &p.id, ProposalState::Executing, ProposalState::Interrupted)? {
                                    tx.execute("DELETE FROM action_progress WHERE proposal_id = ?1", [p.id.as_str()])?;
                                    audit::append(
                                        tx,
                                        now,
                                        "system",
                                        audit::events::ACTION_INTERRUPTED,
                                        p.id.as_str(),
                                        &json!({"kind": p.kind, "target": p.target,
                                                "note": "the process stopped while this action ran; check the target by hand, it will not be re-run"}),
                                    )?;
                                    out.interrupted.extend(sql::get(tx, &p.id)?);
                                }
                            }
                        }
                    }
                    Ok(out)
                })
            })
            .await
    }
}

fn insert_progress(
    tx: &rusqlite::Transaction<'_>,
    id: &ApprovalId,
    parent: Option<&ApprovalId>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    tx.execute(
        "INSERT INTO action_progress (proposal_id, parent_id, started_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (proposal_id) DO NOTHING",
        params![id.as_str(), parent.map(|p| p.as_str()), to_millis(now)],
    )?;
    Ok(())
}

/// Progress rows: proposal id → the set that claimed it, if any.
fn progress_rows(
    tx: &rusqlite::Transaction<'_>,
) -> anyhow::Result<std::collections::HashMap<String, Option<String>>> {
    let mut stmt = tx.prepare("SELECT proposal_id, parent_id FROM action_progress")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The dry-run mode kept when the action (or the set that claimed it) began.
fn kept_mode(
    tx: &rusqlite::Transaction<'_>,
    id: &ApprovalId,
) -> anyhow::Result<Option<DryRunMode>> {
    use rusqlite::OptionalExtension;
    let raw: Option<String> = tx
        .query_row(
            "SELECT value FROM action_steps WHERE key = ?2 AND proposal_id IN
               (?1, (SELECT parent_id FROM action_progress WHERE proposal_id = ?1))
             ORDER BY proposal_id = ?1 DESC LIMIT 1",
            params![id.as_str(), super::lapse::MODE_STEP],
            |r| r.get(0),
        )
        .optional()?;
    Ok(raw.and_then(|v| serde_json::from_str(&v).ok()))
}
