//! The approved waiver: just before, GitHub is read again (the pull request must
//! still be open on the head the waiver was asked for); then the check run turns
//! green with "waived by X: reason", and the waiver is stored and audited.

use super::Sentinel;
use super::github::Repo;
use super::kinds::WaiveParams;
use super::store;
use crate::approvals::{
    ActionHandler, ActionReport, ActionRun, BoxFuture, Done, Precheck, Progress, Proposal,
};
use crate::audit::{Audit, events};
use crate::clock::SharedClock;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

/// What a waiver did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaiveReport {
    pub pull: String,
    pub rules: Vec<String>,
    /// False in a dry run.
    pub waived: bool,
}

impl ActionReport for WaiveReport {
    fn summary(&self) -> Vec<String> {
        vec![if self.waived {
            format!(
                "Waived {} on {}: its check is green",
                self.rules.join(", "),
                self.pull
            )
        } else {
            format!(
                "Dry run: would waive {} on {} and turn its check green",
                self.rules.join(", "),
                self.pull
            )
        }]
    }
}

pub struct Waive {
    pub sentinel: Arc<Sentinel>,
    pub store: Store,
    pub audit: Audit,
    pub clock: SharedClock,
}

impl ActionHandler for Waive {
    fn recheck<'a>(&'a self, proposal: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>> {
        Box::pin(async move {
            let params: WaiveParams = proposal.params_as()?;
            let pull = Repo::new(&self.sentinel.github, &params.repo)?
                .pull(params.number)
                .await?;
            if pull.state != "open" {
                return Ok(Precheck::NoLongerQualifies(format!(
                    "{}#{} is {} on GitHub",
                    params.repo,
                    params.number,
                    if pull.merged { "merged" } else { "closed" }
                )));
            }
            if pull.head.sha != params.head_sha {
                return Ok(Precheck::NoLongerQualifies(format!(
                    "{}#{} has a new commit ({}) since the waiver was asked for; it is checked afresh",
                    params.repo,
                    params.number,
                    super::github::short(&pull.head.sha)
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
            let params: WaiveParams = proposal.params_as()?;
            let key = format!("{}#{}", params.repo, params.number);
            let report = |waived| {
                Done::of(&WaiveReport {
                    pull: key.clone(),
                    rules: params.rules.clone(),
                    waived,
                })
            };
            if run.dry_run {
                return Ok(Progress::Done(report(false)?));
            }
            let _one = self.sentinel.publishing.lock().await;
            let (repo, number) = (params.repo.clone(), params.number);
            let Some(mut row) = self
                .store
                .call(move |c| store::get(c, &repo, number))
                .await?
            else {
                return Ok(Progress::Skipped(format!("{key} is not known to Sentinel")));
            };
            if row.head_sha != params.head_sha {
                return Ok(Progress::Skipped(format!(
                    "{key} has a new commit since the waiver was asked for"
                )));
            }
            let by = proposal
                .decided_by
                .clone()
                .unwrap_or_else(|| "someone".into());
            row.waived_by = Some(by.clone());
            row.waive_note = proposal.decision_note.clone();
            row.waived_at = Some(self.clock.now());
            let id = self.sentinel.write_check(&row).await?;
            row.check_run_id = Some(id);
            let saved = row.clone();
            self.store.call(move |c| store::put(c, &saved)).await?;
            self.audit
                .record(
                    &by,
                    events::SENTINEL_WAIVED,
                    &key,
                    json!({"head_sha": row.head_sha, "rules": params.rules,
                           "reason": row.waive_note, "approval": proposal.id}),
                )
                .await?;
            Ok(Progress::Done(report(true)?))
        })
    }

    fn locks(&self, proposal: &Proposal) -> Vec<String> {
        vec![format!("sentinel:{}", proposal.target)]
    }
}
