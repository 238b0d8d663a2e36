//! The incident message's buttons.
//!
//! - **Ack** records who owns the incident (anyone who sees the alert may own it).
//! - **Mute** silences its reminders and changes for `incidents.mute_for`.
//! - **A remediation** is put to the gate as a `remediate` proposal and decided by
//!   the presser in the same step: an approver's press runs it; anyone else's is
//!   refused privately and audited, and nothing runs.

use super::Incidents;
use super::message::{ACK, FIX, MUTE};
use super::open::incident_subject;
use super::store::{self, Incident};
use crate::approvals::{Decided, DecisionError};
use crate::audit;
use crate::chat::answers;
use crate::chat::message::ChatMessage;
use crate::chat::slack::groups;
use crate::dispatch::Context;
use crate::domain::{ActionKind, Actor};
use crate::plugin::{PressAnswer, PressCall};
use serde_json::json;

fn private(title: &str, text: impl Into<String>) -> PressAnswer {
    PressAnswer::Private(ChatMessage::text(title, text))
}

impl Incidents {
    pub async fn on_press(
        &self,
        ctx: &Context,
        call: PressCall<'_>,
    ) -> anyhow::Result<PressAnswer> {
        let action = format!("incidents.{}", call.verb);
        let (id_text, rest) = call.value.split_once(':').unwrap_or((call.value, ""));
        let Ok(id) = id_text.parse::<i64>() else {
            return Ok(private(
                "Unknown incident",
                "That button names no incident.",
            ));
        };
        let Some(incident) = ctx.store.call(move |c| store::get(c, id)).await? else {
            return Ok(private(
                "Unknown incident",
                format!("There is no incident #{id}."),
            ));
        };
        if !incident.is_open() {
            return Ok(private(
                "Already recovered",
                format!("Incident #{id} ({}) has recovered.", incident.check),
            ));
        }
        let answer = match action.as_str() {
            ACK => self.ack(ctx, &incident, call.presser).await?,
            MUTE => self.mute(ctx, &incident, call.presser).await?,
            FIX => self.fix(ctx, &incident, rest, &call).await?,
            _ => private("Unknown button", format!("OpsMate has no button {action}.")),
        };
        self.wake.notify_one();
        Ok(answer)
    }

    /// Applies one change to the incident with its audit row, in one transaction.
    /// `change` returns false when the incident was not in a state to take it.
    async fn change(
        ctx: &Context,
        i: &Incident,
        by: &Actor,
        event: &'static str,
        details: serde_json::Value,
        change: impl FnOnce(&rusqlite::Transaction<'_>, &str) -> anyhow::Result<bool> + Send + 'static,
    ) -> anyhow::Result<bool> {
        let (id, who, now) = (i.id, by.key(), ctx.clock.now());
        ctx.store
            .call(move |c| {
                crate::store::immediate(c, |tx| {
                    if !change(tx, &who)? {
                        return Ok(false);
                    }
                    audit::append(tx, now, &who, event, &incident_subject(id), &details)?;
                    Ok(true)
                })
            })
            .await
    }

    async fn ack(&self, ctx: &Context, i: &Incident, by: &Actor) -> anyhow::Result<PressAnswer> {
        let (id, now) = (i.id, ctx.clock.now());
        let details = json!({"check": i.check});
        let acked = Self::change(
            ctx,
            i,
            by,
            audit::events::INCIDENT_ACKED,
            details,
            move |tx, who| {
                Ok(store::ack(tx, id, who, now)? && {
                    super::escalate::on_acked(tx, id, now)?;
                    true
                })
            },
        )
        .await?;
        if acked {
            return Ok(PressAnswer::Done(format!("You own incident #{id}")));
        }
        let by = ctx
            .store
            .call(move |c| store::get(c, id))
            .await?
            .and_then(|i| i.acked_by)
            .unwrap_or_else(|| "someone".into());
        Ok(private(
            "Already acked",
            format!("Incident #{id} is already owned by {by}."),
        ))
    }

    async fn mute(&self, ctx: &Context, i: &Incident, by: &Actor) -> anyhow::Result<PressAnswer> {
        let id = i.id;
        let until = ctx.clock.now() + chrono::Duration::from_std(self.settings.mute_for)?;
        let details = json!({"check": i.check, "until": until.to_rfc3339()});
        let muted = Self::change(
            ctx,
            i,
            by,
            audit::events::INCIDENT_MUTED,
            details,
            move |tx, who| store::mute(tx, id, who, until),
        )
        .await?;
        Ok(if muted {
            PressAnswer::Done(format!("Muted until {}", answers::local(until, self.tz)))
        } else {
            private(
                "Already recovered",
                format!("Incident #{id} has recovered."),
            )
        })
    }

    async fn fix(
        &self,
        ctx: &Context,
        i: &Incident,
        name: &str,
        call: &PressCall<'_>,
    ) -> anyhow::Result<PressAnswer> {
        let offered = self.plans_for(&i.check);
        let Some(r) = offered.iter().find(|r| r.name == name) else {
            return Ok(private(
                "Not offered",
                format!("{} offers no remediation named {name:?}.", i.check),
            ));
        };
        let reason = format!(
            "{} for incident #{} ({} is {})",
            r.name, i.id, i.check, i.severity
        );
        // The incident offers it; the press is the presser's approval.
        let proposed = self.propose_plan(ctx, i, r, "incidents", reason).await?;
        let p = proposed.proposal().clone();
        let decider = match r.approvers {
            Some(own) => {
                groups::with_memberships(ctx, call.presser, own.slack_groups.clone()).await
            }
            None => groups::resolve(ctx, call.presser, &[ActionKind::REMEDIATE]).await,
        };
        let answer = match ctx
            .gate
            .decide(&p.id, &decider, crate::approvals::Verdict::Approve)
            .await
        {
            Ok(Decided::Approved(p)) => {
                self.start_run(ctx, p, i, r.name, false, call.message.cloned())
                    .await?;
                PressAnswer::Done(format!("Running {}", r.name))
            }
            Ok(Decided::NeedsMoreApprovals { have, need, .. }) => private(
                "Approval recorded",
                format!(
                    "Your approval of {} is recorded ({have} of {need}). It runs once {need} different people have pressed it.",
                    r.name
                ),
            ),
            Ok(Decided::Rejected(_)) => private("Rejected", "Nothing runs."),
            Err(DecisionError::Internal(e)) => return Err(e),
            Err(refused) => PressAnswer::Private(answers::refusal(&refused, self.tz)),
        };
        Ok(answer)
    }
}
