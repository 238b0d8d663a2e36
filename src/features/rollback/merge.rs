//! Merging an approved rollback (by a person's click, or by the staging rule).
//! Just before, Argo CD is read again: an application that is no longer Degraded is
//! not rolled back (I2, read again just before merging), and a pull request that
//! was closed or merged meanwhile is left alone. The merge names the head the
//! invariants were evaluated on, so a push after the decision is refused by GitHub.

use super::Rollback;
use super::github::short;
use super::kinds::MergeParams;
use crate::approvals::{
    ActionHandler, ActionReport, ActionRun, BoxFuture, Done, Precheck, Progress, Proposal,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeReport {
    pub app: String,
    pub pull: u64,
    /// `None` in a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_sha: Option<String>,
}

impl ActionReport for MergeReport {
    fn summary(&self) -> Vec<String> {
        vec![match &self.merged_sha {
            Some(sha) => format!(
                "Merged pull request #{} for {} as {}",
                self.pull,
                self.app,
                short(sha)
            ),
            None => format!(
                "Dry run: would merge pull request #{} for {}",
                self.pull, self.app
            ),
        }]
    }
}

pub struct Merger {
    pub rollback: Arc<Rollback>,
}

impl ActionHandler for Merger {
    fn recheck<'a>(&'a self, proposal: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>> {
        Box::pin(async move {
            let params: MergeParams = proposal.params_as()?;
            let Some(cfg) = self.rollback.app(&params.app) else {
                return Ok(Precheck::NoLongerQualifies(format!(
                    "{} is no longer in [[rollback.apps]]",
                    params.app
                )));
            };
            self.rollback.count_argo(1);
            let app = self.rollback.argo.application(&params.app).await?;
            if !app.is_degraded() {
                return Ok(Precheck::NoLongerQualifies(format!(
                    "{} is {} now: nothing to roll back",
                    params.app, app.status.health.status
                )));
            }
            let pull = self.rollback.repo(cfg).pull(params.pull).await?;
            if pull.state != "open" {
                return Ok(Precheck::NoLongerQualifies(format!(
                    "pull request #{} is {} on GitHub",
                    params.pull,
                    if pull.merged {
                        "already merged"
                    } else {
                        "closed"
                    }
                )));
            }
            Ok(Precheck::Qualifies)
        })
    }

    fn execute<'a>(
        &'a self,
        proposal: &'a Proposal,
        run: &'a ActionRun<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Progress>> {
        Box::pin(async move {
            let params: MergeParams = proposal.params_as()?;
            let cfg = self
                .rollback
                .app(&params.app)
                .ok_or_else(|| anyhow::anyhow!("{} is no longer configured", params.app))?;
            if run.dry_run {
                return Ok(Progress::Done(Done::of(&MergeReport {
                    app: params.app,
                    pull: params.pull,
                    merged_sha: None,
                })?));
            }
            let title = format!(
                "Rollback: {} (#{}), decided by {}",
                params.app,
                params.pull,
                proposal.decided_by.as_deref().unwrap_or("nobody")
            );
            let sha = self
                .rollback
                .repo(cfg)
                .merge(
                    params.pull,
                    &params.head_sha,
                    self.rollback.settings.merge_method.as_str(),
                    &title,
                )
                .await?;
            Ok(Progress::Done(Done::of(&MergeReport {
                app: params.app,
                pull: params.pull,
                merged_sha: Some(sha),
            })?))
        })
    }

    fn locks(&self, proposal: &Proposal) -> Vec<String> {
        match proposal.params_as::<MergeParams>() {
            Ok(p) => vec![format!("rollback:{}", p.app)],
            Err(_) => vec![proposal.target.clone()],
        }
    }
}
