//! Deciding a rollback once its pull request is open and CI has spoken (or
//! `ci_timeout` passed): the eight invariants are evaluated from facts read now,
//! written into the pull request body, and then either the staging rule merges it
//! (all eight hold, recorded as the decider) or people are asked through the gate
//! (**Merge rollback** / **Close PR**, approvers under `[approvals.rollback]`).

use super::argocd::Application;
use super::config::AppConfig;
use super::github::Ci;
use super::invariants::{self, Facts};
use super::kinds::MergeParams;
use super::poll::Step;
use super::state::{AppRow, State};
use super::{Rollback, STAGING_RULE, message};
use crate::approvals::NewProposal;
use crate::dispatch::Context;
use crate::domain::ActionKind;
use crate::executor::Hint;
use crate::metrics::InvariantLabels;
use anyhow::Context as _;
use serde_json::json;

impl Rollback {
    pub(crate) async fn decide(
        &self,
        ctx: &Context,
        cfg: &AppConfig,
        row: &AppRow,
        _polled: &Application,
    ) -> anyhow::Result<Option<Step>> {
        let pull = row
            .flow
            .pull
            .clone()
            .context("the episode has no pull request")?;
        let repo = self.repo(cfg);
        let current = repo.pull(pull.number).await?;
        if current.state != "open" {
            if let (true, Some(sha)) = (current.merged, current.merge_commit_sha.clone()) {
                let mut next = row.clone();
                next.flow.decided_by = Some("someone on GitHub".into());
                return Ok(Some(self.merged(next, sha, ctx.clock.now())));
            }
            let why = format!("pull request #{} was closed on GitHub", pull.number);
            return Ok(Some(self.aborted(
                row,
                &why,
                json!({"pull_request": pull.number}),
                ctx.clock.now(),
            )));
        }
        let head = current.head.sha.clone();
        let ci = repo.ci(&head).await?;
        let now = ctx.clock.now();
        let waited = (now - pull.opened_at).to_std().unwrap_or_default();
        if matches!(ci, Ci::Pending { .. } | Ci::Nothing) && waited < self.settings.ci_timeout {
            return Ok(None);
        }
        let others = repo.others_touching(&pull.files, pull.number).await?;
        let protection = repo.protection(&cfg.base_branch, pull.number).await?;
        // I2 and I3 from Argo CD as it is now, the last thing read before deciding.
        self.count_argo(2);
        let fresh = self.argo.application(&cfg.name).await?;
        let replicas = self.argo.replicas(&cfg.name).await?;
        let candidate = row
            .flow
            .candidate
            .clone()
            .context("the episode has no candidate")?;
        let ci = match ci {
            Ci::Pending { waiting } => Ci::Pending {
                waiting: waiting
                    .into_iter()
                    .chain([format!(
                        "still running after {}",
                        humantime::format_duration(self.settings.ci_timeout)
                    )])
                    .collect(),
            },
            other => other,
        };
        let found = invariants::evaluate(&Facts {
            environment: cfg.environment,
            health_now: &fresh.status.health.status,
            available: replicas.available,
            desired: replicas.desired,
            degraded_polls: row.flow.degraded_polls,
            degraded_checks: self.settings.degraded_checks,
            uptime_percent: candidate.uptime_percent(),
            uptime_polls: candidate.counted_polls,
            min_uptime_percent: self.settings.min_uptime_percent,
            ci: &ci,
            others: &others,
            protection: &protection,
        });
        for broken in found.iter().filter(|i| !i.ok) {
            self.metrics
                .invariant_violations
                .get_or_create(&InvariantLabels {
                    invariant: broken.label(),
                })
                .inc();
        }
        let mut next = row.clone();
        next.flow.invariants = found.clone();
        next.flow.replicas = Some(replicas);
        if let Some(p) = next.flow.pull.as_mut() {
            p.head_sha = head.clone();
        }
        repo.set_body(pull.number, &message::pull_body(self, cfg, &next, &found))
            .await?;
        let params = MergeParams {
            app: cfg.name.clone(),
            repo: cfg.repo.clone(),
            pull: pull.number,
            head_sha: head.clone(),
            episode: row.episode,
            environment: cfg.environment,
        };
        let all_hold = invariants::all_hold(&found);
        let proposed = ctx
            .gate
            .propose(NewProposal {
                kind: ActionKind::ROLLBACK,
                target: super::kinds::target(&cfg.name, row.episode),
                params: serde_json::to_value(&params)?,
                reason: format!(
                    "{} is degraded: merge #{} ({}) to roll it back to {}",
                    cfg.name,
                    pull.number,
                    pull.url,
                    super::github::short(&candidate.revision)
                ),
                proposed_by: "rollback".into(),
            })
            .await?;
        let p = proposed.proposal().clone();
        next.flow.proposal = Some(p.id.to_string());
        next.since = now;
        let details = json!({
            "proposal": p.id.as_str(),
            "invariants": found.iter().map(|i| json!({"invariant": i.label(), "ok": i.ok, "evidence": i.evidence})).collect::<Vec<_>>(),
        });
        if all_hold {
            let why = found
                .iter()
                .map(|i| i.line())
                .collect::<Vec<_>>()
                .join("; ");
            if let Some(approved) = ctx
                .gate
                .approve_unattended(&p.id, STAGING_RULE, &why)
                .await?
            {
                ctx.executor.submit(approved.id, Hint::default());
                next.state = State::Merging;
                next.flow.decided_by = Some(STAGING_RULE.into());
                return Ok(Some(Step {
                    row: next,
                    actor: STAGING_RULE.into(),
                    details,
                }));
            }
        }
        next.state = State::AwaitingApproval;
        Ok(Some(Step::by_opsmate(next, details)))
    }
}
