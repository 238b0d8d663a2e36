//! Opening the rollback pull request. Every part is idempotent, so a pass cut off
//! half-way (a crash, a timeout) carries on where it stopped and never opens a
//! second pull request: the branch is named after the application and the
//! candidate, an open pull request from it is adopted, and the change is only
//! written while the branch does not have it yet.

use super::Rollback;
use super::config::{AppConfig, PinMode};
use super::github::{Repo, short};
use super::message;
use super::poll::Step;
use super::state::{AppRow, Candidate, PullRequest, State};
use super::yaml_pin;
use crate::dispatch::Context;
use anyhow::Context as _;
use serde_json::json;

/// `opsmate/rollback-<app>-<short-sha>`.
pub fn branch_name(app: &str, revision: &str) -> String {
    format!("opsmate/rollback-{app}-{}", short(revision))
}

/// "Rollback: <app> to <sha>".
pub fn title(app: &str, revision: &str) -> String {
    format!("Rollback: {app} to {}", short(revision))
}

impl Rollback {
    pub(crate) async fn open_pull(
        &self,
        ctx: &Context,
        cfg: &AppConfig,
        row: &AppRow,
    ) -> anyhow::Result<Step> {
        let candidate = row
            .flow
            .candidate
            .clone()
            .context("the episode has no candidate")?;
        let repo = self.repo(cfg);
        let branch = branch_name(&cfg.name, &candidate.revision);
        let base_head = repo
            .branch_head(&cfg.base_branch)
            .await?
            .with_context(|| format!("{} has no branch {}", cfg.repo, cfg.base_branch))?;
        let compared = repo.compare(&candidate.revision, &base_head).await?;
        let files = match cfg.mode {
            PinMode::Pin => vec![cfg.path.clone().unwrap_or_default()],
            PinMode::Revert => compared.files.clone(),
        };
        let mut next = row.clone();
        next.flow.undoing = compared.commits.clone();
        next.flow.branch = Some(branch.clone());
        let pull = match repo.open_pull_from(&branch).await? {
            Some(existing) => existing,
            None => {
                if repo.branch_head(&branch).await?.is_none() {
                    repo.create_branch(&branch, &base_head).await?;
                }
                self.write_change(&repo, cfg, &candidate, &branch, &base_head)
                    .await?;
                let body = message::pull_body(self, cfg, &next, &[]);
                let title = title(&cfg.name, &candidate.revision);
                match repo
                    .open_pull(&branch, &cfg.base_branch, &title, &body)
                    .await
                {
                    Ok(p) => p,
                    // Opened by a pass that was cut off before it could say so.
                    Err(e) if e.status == Some(422) => {
                        repo.open_pull_from(&branch).await?.ok_or(e)?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        repo.add_labels(
            pull.number,
            &["opsmate", "rollback", cfg.environment.as_str()],
        )
        .await?;
        let now = ctx.clock.now();
        next.flow.pull = Some(PullRequest {
            number: pull.number,
            url: pull.html_url.clone(),
            branch: branch.clone(),
            head_sha: pull.head.sha.clone(),
            files,
            opened_at: now,
        });
        next.state = State::PrOpen;
        next.since = now;
        let details = json!({
            "pull_request": pull.number,
            "url": pull.html_url,
            "branch": branch,
            "head": pull.head.sha,
            "undoing": compared.commits.iter().map(|c| &c.sha).collect::<Vec<_>>(),
        });
        Ok(Step::by_opsmate(next, details))
    }

    /// Puts the rollback on the branch unless it is there already.
    async fn write_change(
        &self,
        repo: &Repo,
        cfg: &AppConfig,
        candidate: &Candidate,
        branch: &str,
        base_head: &str,
    ) -> anyhow::Result<()> {
        let message = format!(
            "Rollback {} to {}\n\nOpened by OpsMate Rollback Pilot: {} is degraded.",
            cfg.name,
            short(&candidate.revision),
            cfg.name
        );
        let head = repo
            .branch_head(branch)
            .await?
            .with_context(|| format!("branch {branch} vanished"))?;
        match cfg.mode {
            PinMode::Pin => {
                let (path, key) = (
                    cfg.path.as_deref().unwrap_or_default(),
                    cfg.yaml_key.as_deref().unwrap_or_default(),
                );
                let good = repo
                    .file(path, &candidate.revision)
                    .await?
                    .with_context(|| {
                        format!(
                            "{path} is not in {} at {}",
                            cfg.repo,
                            short(&candidate.revision)
                        )
                    })?;
                let good = yaml_pin::locate(&good.text, key).map_err(|why| {
                    anyhow::anyhow!("{path} at {}: {why}", short(&candidate.revision))
                })?;
                let now = repo
                    .file(path, branch)
                    .await?
                    .with_context(|| format!("{path} is not on {branch}"))?;
                let current = yaml_pin::locate(&now.text, key)
                    .map_err(|why| anyhow::anyhow!("{path} on {}: {why}", cfg.base_branch))?;
                if current.raw == good.raw {
                    if head == base_head {
                        anyhow::bail!(
                            "{key} in {path} is {} both now and at {}: rolling it back changes nothing",
                            current.raw,
                            short(&candidate.revision)
                        );
                    }
                    return Ok(());
                }
                let text = yaml_pin::rewrite(&now.text, key, &good.raw)
                    .map_err(|why| anyhow::anyhow!("{path}: {why}"))?;
                repo.write_file(path, branch, &text, &now.sha, &message)
                    .await?;
            }
            PinMode::Revert => {
                let good_tree = repo.tree_of(&candidate.revision).await?;
                if repo.tree_of(&head).await? == good_tree {
                    if head == base_head {
                        anyhow::bail!(
                            "{} has the same files as {}: reverting changes nothing",
                            cfg.base_branch,
                            short(&candidate.revision)
                        );
                    }
                    return Ok(());
                }
                let commit = repo.commit_tree(&good_tree, &head, &message).await?;
                repo.move_branch(branch, &commit).await?;
            }
        }
        Ok(())
    }
}
