//! Running an approved proposal, and recovering from a stop in the middle of one.

use super::proposal::{Proposal, ProposalState};
use super::sql;
use super::{Gate, Precheck};
use crate::audit;
use crate::store;
use serde_json::json;

impl Gate {
    /// Runs an approved proposal: approved → executing → succeeded | failed | skipped.
    pub(super) async fn execute(&self, p: Proposal) -> anyhow::Result<Proposal> {
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
                    // A set whose report counts failures failed, with the report kept.
                    Ok(report) if report.get("failed").and_then(|n| n.as_u64()) > Some(0) => (
                        ProposalState::Failed,
                        json!({"dry_run": self.dry_run, "report": report,
                               "error": format!("{} of the actions failed", report["failed"])}),
                    ),
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
}
