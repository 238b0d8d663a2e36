//! One way from a plan (a remediation or a runbook) to a running `remediate`
//! proposal, shared by a press and by an auto rule: put it to the gate, and once it
//! is approved, record the run and hand it to the executor.

use super::Incidents;
use super::config::Plan;
use super::remediate::{self, RemediateParams};
use super::store::{self, Incident};
use crate::approvals::{NewProposal, PostedAt, Proposal, Proposed};
use crate::dispatch::Context;
use crate::domain::ActionKind;
use crate::executor::Hint;

impl Incidents {
    /// The `remediate` proposal of `plan` for `incident` (the open one, if there is).
    pub async fn propose_plan(
        &self,
        ctx: &Context,
        incident: &Incident,
        plan: &Plan<'_>,
        proposed_by: &str,
        reason: String,
    ) -> anyhow::Result<Proposed> {
        let params = RemediateParams {
            incident: incident.id,
            check: incident.check.clone(),
            remediation: plan.name.to_owned(),
            steps: plan.steps.iter().map(|s| s.name.clone()).collect(),
            approvers: plan.approvers.cloned(),
        };
        ctx.gate
            .propose(NewProposal {
                kind: ActionKind::REMEDIATE,
                target: remediate::target(incident.id, plan.name),
                params: serde_json::to_value(&params)?,
                reason,
                proposed_by: proposed_by.to_owned(),
            })
            .await
    }

    /// Records an approved run (for the auto rules' cap and "last run") and hands it
    /// to the executor, which rewrites the incident's message as it goes.
    pub async fn start_run(
        &self,
        ctx: &Context,
        approved: Proposal,
        incident: &Incident,
        plan: &str,
        auto: bool,
        message: Option<PostedAt>,
    ) -> anyhow::Result<()> {
        let (id, incident, plan, now) = (
            approved.id.to_string(),
            incident.id,
            plan.to_owned(),
            ctx.clock.now(),
        );
        ctx.store
            .call(move |c| store::record_run(c, &id, incident, &plan, auto, now))
            .await?;
        ctx.executor.submit(
            approved.id,
            Hint {
                message,
                reply: None,
            },
        );
        Ok(())
    }
}
