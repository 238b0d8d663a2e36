//! Remediations that run with no click (`auto = true`, off by default). A plan runs
//! on its own only when all of these hold, checked on every pass:
//!
//! - the incident is at least `auto_after` old, and nobody has acked it (a person
//!   who owns it decides from then on);
//! - fewer than `max_auto_per_hour` auto runs of it happened in the last hour;
//! - its last run (pressed or auto) did not fail.
//!
//! The rule is recorded as the decider: the gate's unattended approval, audited with
//! the rule's numbers, then the same executor path as a press.

use super::Incidents;
use super::config::{AutoRule, Plan};
use super::store::{self, Incident};
use crate::approvals::{ProposalState, Proposed};
use crate::dispatch::Context;
use crate::domain::ApprovalId;

/// Who the rule is, as the decider.
pub fn rule_name(plan: &str) -> String {
    format!("rule:auto-remediate:{plan}")
}

impl Incidents {
    /// Starts every auto plan whose rule holds now. Returns how many started.
    pub async fn auto_once(&self, ctx: &Context) -> anyhow::Result<usize> {
        let now = ctx.clock.now();
        let mut started = 0;
        for incident in ctx.store.call(|c| store::open_all(c)).await? {
            if incident.acked_by.is_some() {
                continue;
            }
            for plan in self.plans_for(&incident.check) {
                let Some(rule) = plan.auto else {
                    continue;
                };
                if now - incident.opened_at < chrono::Duration::from_std(rule.after)? {
                    continue;
                }
                if let Some(why) = self.holds_back(ctx, &plan, rule).await? {
                    tracing::debug!(
                        plan = plan.name,
                        incident = incident.id,
                        "auto remediation held back: {why}"
                    );
                    continue;
                }
                if self.start_auto(ctx, &incident, &plan, rule).await? {
                    started += 1;
                }
            }
        }
        Ok(started)
    }

    /// Why the rule does not hold now, if it does not.
    async fn holds_back(
        &self,
        ctx: &Context,
        plan: &Plan<'_>,
        rule: AutoRule,
    ) -> anyhow::Result<Option<String>> {
        let (name, since) = (
            plan.name.to_owned(),
            ctx.clock.now() - chrono::Duration::hours(1),
        );
        let (runs, last) = ctx
            .store
            .call(move |c| {
                Ok((
                    store::auto_runs_since(c, &name, since)?,
                    store::last_run(c, &name)?,
                ))
            })
            .await?;
        if runs >= rule.max_per_hour {
            return Ok(Some(format!("{runs} auto run(s) in the last hour")));
        }
        if let Some(last) = last
            && let Ok(id) = ApprovalId::parse(&last)
            && let Some(p) = ctx.gate.get(&id).await?
        {
            if p.state == ProposalState::Failed {
                return Ok(Some("its last run failed".into()));
            }
            if p.state.is_open() {
                return Ok(Some("a run of it is still going".into()));
            }
        }
        Ok(None)
    }

    async fn start_auto(
        &self,
        ctx: &Context,
        incident: &Incident,
        plan: &Plan<'_>,
        rule: AutoRule,
    ) -> anyhow::Result<bool> {
        let by = rule_name(plan.name);
        let reason = format!(
            "{} for incident #{} ({} is {}), by its auto rule",
            plan.name, incident.id, incident.check, incident.severity
        );
        let proposed = self.propose_plan(ctx, incident, plan, &by, reason).await?;
        let Proposed::Created(p) = proposed else {
            return Ok(false);
        };
        let why = format!(
            "incident #{} open {} (auto_after {}), fewer than {} auto run(s) in the last hour, last run did not fail",
            incident.id,
            crate::features::observatory::runner::human(ctx.clock.now() - incident.opened_at),
            humantime::format_duration(rule.after),
            rule.max_per_hour
        );
        let Some(p) = ctx.gate.approve_unattended(&p.id, &by, &why).await? else {
            return Ok(false);
        };
        self.start_run(ctx, p, incident, plan.name, true, None)
            .await?;
        Ok(true)
    }
}
