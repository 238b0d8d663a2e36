//! The decision transaction and expiry: everything that moves a proposal out of
//! `pending`, each with its audit row in the same transaction.

use super::policy::{self, Refusal};
use super::proposal::{Proposal, ProposalState};
use super::sql;
use super::{Gate, Verdict};
use crate::audit;
use crate::config::ApprovalsConfig;
use crate::domain::{Actor, ApprovalId, TelegramUserId};
use crate::store;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Outcome of the decision transaction, before any execution.
pub(super) enum Step {
    Missing,
    Refused(Proposal, Refusal),
    AlreadyDecided(Proposal),
    Expired(Proposal),
    AlreadyVoted,
    Vote { proposal: Proposal, have: u32 },
    Rejected(Proposal),
    Approved(Proposal),
}

impl Gate {
    /// Expires pending proposals whose time is up. Returns those it expired.
    pub async fn expire_due(&self) -> anyhow::Result<Vec<Proposal>> {
        let now = self.clock.now();
        self.store
            .call(move |conn| {
                store::immediate(conn, |tx| {
                    let mut expired = Vec::new();
                    for p in sql::pending_expired_by(tx, now)? {
                        if expire_and_audit(tx, &p, now)? {
                            expired.extend(sql::get(tx, &p.id)?);
                        }
                    }
                    Ok(expired)
                })
            })
            .await
    }
}

/// Marks a pending proposal expired, with its audit row. Returns whether it moved.
fn expire_and_audit(
    tx: &rusqlite::Transaction<'_>,
    p: &Proposal,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let moved = sql::expire(tx, &p.id, now)?;
    if moved {
        audit::append(
            tx,
            now,
            "system",
            audit::events::APPROVAL_EXPIRED,
            p.id.as_str(),
            &json!({"kind": p.kind, "target": p.target}),
        )?;
    }
    Ok(moved)
}

/// What the decider chose, and why when they said.
pub(super) struct Choice<'a> {
    pub verdict: Verdict,
    pub note: Option<&'a str>,
}

pub(super) fn decide_tx(
    tx: &rusqlite::Transaction<'_>,
    config: &ApprovalsConfig,
    telegram_approvers: &[TelegramUserId],
    id: &ApprovalId,
    decider: &Actor,
    choice: Choice<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<Step> {
    let Choice { verdict, note } = choice;
    let who = decider.key();
    // Votes and the recorded decider are the person (a token's owner); the audit
    // rows name the actor exactly (a token with its name).
    let person = decider.person_key();
    let verb = match verdict {
        Verdict::Approve => "approve",
        Verdict::Reject => "reject",
    };
    // Every outcome of a click, accepted or not, is one audit row in this transaction.
    let record = |event: &str, details: Value| -> anyhow::Result<()> {
        audit::append(tx, now, &who, event, id.as_str(), &details)?;
        Ok(())
    };
    let refuse = |reason: &str, extra: Value| {
        record(
            audit::events::APPROVAL_REFUSED,
            json!({"verdict": verb, "reason": reason, "detail": extra}),
        )
    };

    let Some(p) = sql::get(tx, id)? else {
        refuse("not_found", Value::Null)?;
        return Ok(Step::Missing);
    };
    let kinds = policy::policy_kinds(p.kind, &p.params);
    let config = policy::for_proposal(config, p.kind, &p.params);
    if let Err(refusal) =
        policy::check_all(&config, telegram_approvers, &kinds, &p.proposed_by, decider)
    {
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
        expire_and_audit(tx, &p, now)?;
        refuse("expired", Value::Null)?;
        return Ok(Step::Expired(p));
    }
    if verdict == Verdict::Approve
        && note.is_none()
        && super::kinds::spec(p.kind).is_some_and(|s| s.approve_needs_reason)
    {
        refuse(Refusal::ReasonRequired.code(), json!({"kind": p.kind}))?;
        return Ok(Step::Refused(p, Refusal::ReasonRequired));
    }

    match verdict {
        Verdict::Reject => {
            if !sql::decide_pending(tx, id, ProposalState::Rejected, &person, now)? {
                refuse("lost_race", Value::Null)?;
                return Ok(Step::AlreadyDecided(sql::get(tx, id)?.unwrap_or(p)));
            }
            if let Some(note) = note {
                sql::note_decision(tx, id, note)?;
            }
            record(
                audit::events::APPROVAL_REJECTED,
                json!({"kind": p.kind, "target": p.target, "note": note}),
            )?;
            Ok(Step::Rejected(sql::get(tx, id)?.unwrap_or(p)))
        }
        Verdict::Approve => {
            if !sql::add_vote(tx, id, &person, now)? {
                refuse("already_voted", Value::Null)?;
                return Ok(Step::AlreadyVoted);
            }
            let voters = sql::voters(tx, id)?;
            let have = voters.len() as u32;
            if have < p.required_approvals {
                record(
                    audit::events::APPROVAL_VOTE,
                    json!({"have": have, "need": p.required_approvals, "note": note}),
                )?;
                return Ok(Step::Vote { proposal: p, have });
            }
            let decided_by = voters.join(",");
            if !sql::decide_pending(tx, id, ProposalState::Approved, &decided_by, now)? {
                refuse("lost_race", Value::Null)?;
                return Ok(Step::AlreadyDecided(sql::get(tx, id)?.unwrap_or(p)));
            }
            if let Some(note) = note {
                sql::note_decision(tx, id, note)?;
            }
            record(
                audit::events::APPROVAL_APPROVED,
                json!({"kind": p.kind, "target": p.target, "approvers": voters, "note": note}),
            )?;
            Ok(Step::Approved(sql::get(tx, id)?.unwrap_or(p)))
        }
    }
}
