//! One poll: every application read in one Argo CD call, each deployed revision's
//! poll counted, and each application's state machine moved on by as many steps as
//! it can take now. Every step is stored (and audited when the state changes)
//! before the next one starts, so a restart resumes from the stored state.

use super::Rollback;
use super::argocd::Application;
use super::config::AppConfig;
use super::state::{AppRow, Flow, State};
use super::store;
use crate::approvals::ProposalState;
use crate::dispatch::Context;
use crate::domain::ApprovalId;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a poll did, for the loop's log and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollSummary {
    /// Configured applications Argo CD returned.
    pub seen: usize,
    /// Applications whose row changed.
    pub changed: usize,
    pub argo_calls: u64,
    pub github_calls: u64,
}

/// A step taken: the row after it, who took it, and what the audit row says.
pub(crate) struct Step {
    pub row: AppRow,
    pub actor: String,
    pub details: Value,
}

impl Step {
    pub fn by_opsmate(row: AppRow, details: Value) -> Self {
        Self {
            row,
            actor: "rollback".into(),
            details,
        }
    }
}

/// Steps taken in one pass for one application, at most (a chain of steps is
/// degraded → candidate → pull request → decision).
const MAX_STEPS: usize = 8;

impl Rollback {
    /// Reads Argo CD once and moves every application on.
    pub async fn poll_once(&self, ctx: &Context) -> anyhow::Result<PollSummary> {
        let _one_pass = self.passing.lock().await;
        let before = self.calls();
        let now = ctx.clock.now();
        self.count_argo(1);
        let apps = self.argo.applications().await?;
        let by_name: HashMap<&str, &Application> =
            apps.iter().map(|a| (a.metadata.name.as_str(), a)).collect();
        let polls: Vec<(String, String, bool)> = self
            .settings
            .apps
            .iter()
            .filter_map(|cfg| by_name.get(cfg.name.as_str()))
            .filter(|a| {
                a.status.health.status != "Progressing" && !a.status.sync.revision.is_empty()
            })
            .map(|a| {
                (
                    a.metadata.name.clone(),
                    a.status.sync.revision.clone(),
                    a.is_healthy(),
                )
            })
            .collect();
        let seen = polls.len();
        ctx.store
            .call(move |c| store::count_polls(c, &polls, now))
            .await?;
        let mut changed = 0;
        for cfg in &self.settings.apps {
            let observed = by_name.get(cfg.name.as_str()).copied();
            if observed.is_none() {
                continue;
            }
            if self.advance(ctx, cfg, observed).await? {
                changed += 1;
            }
        }
        let after = self.calls();
        Ok(PollSummary {
            seen,
            changed,
            argo_calls: after.0 - before.0,
            github_calls: after.1 - before.1,
        })
    }

    /// Moves on the applications waiting on a decision, without reading Argo CD
    /// (a click was just decided).
    pub async fn settle_decisions(&self, ctx: &Context) -> anyhow::Result<usize> {
        let _one_pass = self.passing.lock().await;
        let rows = ctx.store.call(|c| store::all(c)).await?;
        let mut changed = 0;
        for row in rows {
            if !matches!(row.state, State::AwaitingApproval | State::Merging) {
                continue;
            }
            let Some(cfg) = self.app(&row.app) else {
                continue;
            };
            if self.advance(ctx, cfg, None).await? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Takes every step the application can take now. An error inside an episode
    /// aborts it and alerts; it never merges on doubt. Returns whether the row
    /// changed.
    async fn advance(
        &self,
        ctx: &Context,
        cfg: &AppConfig,
        observed: Option<&Application>,
    ) -> anyhow::Result<bool> {
        let name = cfg.name.clone();
        let now = ctx.clock.now();
        let mut row = ctx
            .store
            .call(move |c| store::get(c, &name))
            .await?
            .unwrap_or_else(|| AppRow::new(&cfg.name, now));
        let mut changed = false;
        for _ in 0..MAX_STEPS {
            let before = row.state;
            let step = match self.next_step(ctx, cfg, &row, observed).await {
                Ok(Some(step)) => step,
                Ok(None) => break,
                Err(e) if before.in_episode() && !before.is_final() => {
                    tracing::warn!(app = %cfg.name, error = %format!("{e:#}"), "rollback aborted");
                    let why = format!("{e:#}");
                    self.aborted(&row, &why, json!({"error": why}), ctx.clock.now())
                }
                Err(e) => return Err(e),
            };
            let Step {
                row: next,
                actor,
                details,
            } = step;
            let (saved, at) = (next.clone(), ctx.clock.now());
            ctx.store
                .call(move |c| store::save(c, &saved, before, at, &actor, details))
                .await?;
            changed = true;
            let entered = next.state != before;
            row = next;
            if !entered || !chains(row.state) {
                break;
            }
        }
        Ok(changed)
    }

    /// The step the application takes now, if any.
    async fn next_step(
        &self,
        ctx: &Context,
        cfg: &AppConfig,
        row: &AppRow,
        observed: Option<&Application>,
    ) -> anyhow::Result<Option<Step>> {
        let now = ctx.clock.now();
        match row.state {
            State::Healthy | State::Suspect | State::Recovered | State::Aborted | State::Failed => {
                Ok(observed.and_then(|app| self.watch(row, app, now)))
            }
            State::Degraded => match observed {
                Some(app) if app.is_degraded() => {
                    self.find_candidate(ctx, cfg, row, app).await.map(Some)
                }
                Some(app) => Ok(Some(self.recovered_early(row, app, now))),
                None => Ok(None),
            },
            State::CandidateFound => match observed {
                Some(app) if app.is_degraded() => self.open_pull(ctx, cfg, row).await.map(Some),
                Some(app) => Ok(Some(self.recovered_early(row, app, now))),
                None => Ok(None),
            },
            State::PrOpen => match observed {
                Some(app) if app.is_degraded() => self.decide(ctx, cfg, row, app).await,
                Some(app) => self.close_recovered(cfg, row, app, now).await.map(Some),
                None => Ok(None),
            },
            State::AwaitingApproval | State::Merging => {
                self.follow_proposal(ctx, cfg, row, observed).await
            }
            State::Merged => {
                let mut next = row.clone();
                next.state = State::Verifying;
                next.since = now;
                Ok(Some(Step::by_opsmate(
                    next,
                    json!({"waiting_for": row.flow.merged_sha}),
                )))
            }
            State::Verifying => Ok(observed.and_then(|app| self.verify(row, app, now))),
        }
    }

    /// Outside an episode: counts Degraded polls in a row, and starts an episode at
    /// `degraded_checks`. A finished episode waits for a healthy poll before another
    /// can start (one that recovered can degrade again at once).
    fn watch(&self, row: &AppRow, app: &Application, now: DateTime<Utc>) -> Option<Step> {
        let mut next = row.clone();
        if !app.is_degraded() {
            return match row.state {
                State::Suspect => {
                    next.state = State::Healthy;
                    next.since = now;
                    next.degraded_polls = 0;
                    Some(Step::by_opsmate(
                        next,
                        json!({"health": app.status.health.status, "after_degraded_polls": row.degraded_polls}),
                    ))
                }
                State::Aborted | State::Failed if app.is_healthy() => {
                    next.state = State::Healthy;
                    next.since = now;
                    next.degraded_polls = 0;
                    Some(Step::by_opsmate(next, json!({"health": "Healthy"})))
                }
                _ => None,
            };
        }
        if matches!(row.state, State::Aborted | State::Failed) {
            return None;
        }
        let polls = if row.state == State::Suspect {
            row.degraded_polls + 1
        } else {
            1
        };
        next.degraded_polls = polls;
        let details = json!({
            "health": app.status.health.status,
            "message": app.status.health.message,
            "revision": app.status.sync.revision,
            "degraded_polls": polls,
        });
        if polls < self.settings.degraded_checks {
            if row.state != State::Suspect {
                next.state = State::Suspect;
                next.since = now;
            }
            return Some(Step::by_opsmate(next, details));
        }
        next.state = State::Degraded;
        next.episode = row.episode + 1;
        next.flow = Flow {
            degraded_since: Some(if row.state == State::Suspect {
                row.since
            } else {
                now
            }),
            degraded_polls: polls,
            bad_revision: app.status.sync.revision.clone(),
            ..Flow::default()
        };
        next.since = now;
        self.metrics.degradations.inc();
        Some(Step::by_opsmate(next, details))
    }

    /// Healthy again before a pull request was opened: nothing to roll back.
    fn recovered_early(&self, row: &AppRow, app: &Application, now: DateTime<Utc>) -> Step {
        self.aborted(
            row,
            &format!(
                "{} turned {} on its own before a pull request was opened",
                row.app, app.status.health.status
            ),
            json!({"health": app.status.health.status}),
            now,
        )
    }

    /// Healthy again with the pull request open: it is closed, nothing is merged.
    async fn close_recovered(
        &self,
        cfg: &AppConfig,
        row: &AppRow,
        app: &Application,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Step> {
        let mut next = self.aborted(
            row,
            &format!(
                "{} turned {} on its own before the merge: the pull request was closed and nothing was merged",
                row.app, app.status.health.status
            ),
            json!({"health": app.status.health.status}),
            now,
        );
        self.close_pull(cfg, &mut next.row).await?;
        Ok(next)
    }

    /// Closes the episode's pull request (and deletes its branch).
    pub(crate) async fn close_pull(&self, cfg: &AppConfig, row: &mut AppRow) -> anyhow::Result<()> {
        if let Some(pull) = &row.flow.pull
            && !row.flow.closed
        {
            let repo = self.repo(cfg);
            repo.close_pull(pull.number).await?;
            repo.delete_branch(&pull.branch).await?;
            row.flow.closed = true;
        }
        Ok(())
    }

    /// The episode ends without a merge.
    pub(crate) fn aborted(
        &self,
        row: &AppRow,
        why: &str,
        mut details: Value,
        now: DateTime<Utc>,
    ) -> Step {
        let mut next = row.clone();
        next.state = State::Aborted;
        next.since = now;
        next.flow.outcome = Some(why.to_owned());
        next.flow.ended = Some(State::Aborted);
        if let Some(map) = details.as_object_mut() {
            map.insert("why".into(), json!(why));
        }
        Step::by_opsmate(next, details)
    }

    /// Where the merge proposal stands.
    async fn follow_proposal(
        &self,
        ctx: &Context,
        cfg: &AppConfig,
        row: &AppRow,
        observed: Option<&Application>,
    ) -> anyhow::Result<Option<Step>> {
        let now = ctx.clock.now();
        let Some(id) = row
            .flow
            .proposal
            .as_deref()
            .and_then(|id| ApprovalId::parse(id).ok())
        else {
            anyhow::bail!("the episode lost its merge proposal");
        };
        let Some(p) = ctx.gate.get(&id).await? else {
            anyhow::bail!("the merge proposal {id} is gone");
        };
        let mut next = row.clone();
        let by = p.decided_by.clone().unwrap_or_else(|| "nobody".into());
        match p.state {
            ProposalState::Pending => {
                let Some(app) = observed.filter(|a| !a.is_degraded()) else {
                    return Ok(None);
                };
                ctx.gate
                    .withdraw(
                        &id,
                        "rule:rollback-recovered",
                        &format!("{} is {} again", row.app, app.status.health.status),
                    )
                    .await?;
                self.close_recovered(cfg, row, app, now).await.map(Some)
            }
            ProposalState::Approved | ProposalState::Executing => {
                if row.state == State::Merging {
                    return Ok(None);
                }
                next.state = State::Merging;
                next.since = now;
                next.flow.decided_by = Some(by.clone());
                Ok(Some(Step {
                    row: next,
                    actor: by,
                    details: json!({"proposal": id.as_str()}),
                }))
            }
            ProposalState::Succeeded => {
                let merged = p
                    .outcome
                    .as_ref()
                    .and_then(|o| o.report_as::<super::merge::MergeReport>());
                next.flow.decided_by = Some(by);
                match merged.and_then(|m| m.merged_sha) {
                    Some(sha) => Ok(Some(self.merged(next, sha, now))),
                    // A dry run merged nothing.
                    None => {
                        let mut step = self.aborted(
                            row,
                            "dry run: the pull request was left open and nothing was merged",
                            json!({"dry_run": true}),
                            now,
                        );
                        step.row.flow.decided_by = next.flow.decided_by;
                        Ok(Some(step))
                    }
                }
            }
            ProposalState::Rejected | ProposalState::Expired => {
                let why = if p.state == ProposalState::Rejected {
                    format!("pull request closed by {by}")
                } else {
                    "nobody decided before the proposal expired: the pull request was closed".into()
                };
                let mut step = self.aborted(row, &why, json!({"proposal": id.as_str()}), now);
                step.row.flow.decided_by = p.decided_by.clone();
                self.close_pull(cfg, &mut step.row).await?;
                if p.state == ProposalState::Rejected && !by.starts_with("rule:") {
                    step.actor = by;
                }
                Ok(Some(step))
            }
            ProposalState::Skipped => {
                let why = p
                    .outcome
                    .as_ref()
                    .and_then(|o| o.skipped.clone())
                    .unwrap_or_else(|| "it no longer qualified".into());
                let mut step = self.aborted(
                    row,
                    &format!("not merged: {why}; the pull request was closed"),
                    json!({"proposal": id.as_str()}),
                    now,
                );
                self.close_pull(cfg, &mut step.row).await?;
                Ok(Some(step))
            }
            ProposalState::Failed => {
                let why = p
                    .outcome
                    .as_ref()
                    .and_then(|o| o.error.clone())
                    .unwrap_or_else(|| "the merge failed".into());
                Ok(Some(self.aborted(
                    row,
                    &format!("the merge failed: {why}"),
                    json!({"proposal": id.as_str()}),
                    now,
                )))
            }
            ProposalState::Interrupted => {
                // Cut off mid-merge by a restart: GitHub says whether it merged.
                let number = row.flow.pull.as_ref().map(|p| p.number).unwrap_or_default();
                let pull = self.repo(cfg).pull(number).await?;
                match (pull.merged, pull.merge_commit_sha) {
                    (true, Some(sha)) => Ok(Some(self.merged(next, sha, now))),
                    _ => Ok(Some(self.aborted(
                        row,
                        "OpsMate restarted while merging and the pull request is not merged; it was left open",
                        json!({"proposal": id.as_str()}),
                        now,
                    ))),
                }
            }
        }
    }

    pub(crate) fn merged(&self, mut next: AppRow, sha: String, now: DateTime<Utc>) -> Step {
        next.state = State::Merged;
        next.since = now;
        next.flow.merged_sha = Some(sha.clone());
        next.flow.merged_at = Some(now);
        let actor = next
            .flow
            .decided_by
            .clone()
            .unwrap_or_else(|| "rollback".into());
        self.metrics.merged.inc();
        Step {
            row: next,
            actor,
            details: json!({"merge_commit": sha}),
        }
    }

    /// After the merge: recovered once Argo CD runs the merge commit and is
    /// Healthy; still degraded once `verify_timeout` passed.
    fn verify(&self, row: &AppRow, app: &Application, now: DateTime<Utc>) -> Option<Step> {
        let merged_sha = row.flow.merged_sha.clone().unwrap_or_default();
        let merged_at = row.flow.merged_at.unwrap_or(row.since);
        let synced = app.status.sync.revision == merged_sha;
        let mut next = row.clone();
        next.since = now;
        if synced && app.is_healthy() {
            let since = row.flow.degraded_since.unwrap_or(merged_at);
            let took = (now - since).to_std().unwrap_or_default();
            next.state = State::Recovered;
            next.flow.recovered_at = Some(now);
            next.flow.ended = Some(State::Recovered);
            next.flow.outcome = Some(format!(
                "recovered {} after it degraded ({} after the merge), running {}",
                human(took),
                human((now - merged_at).to_std().unwrap_or_default()),
                super::github::short(&merged_sha)
            ));
            self.metrics.recovery_seconds.observe(took.as_secs_f64());
            return Some(Step::by_opsmate(
                next,
                json!({"recovery_seconds": took.as_secs(), "revision": merged_sha}),
            ));
        }
        let waited = (now - merged_at).to_std().unwrap_or_default();
        if waited < self.settings.verify_timeout {
            return None;
        }
        next.state = State::Failed;
        next.flow.ended = Some(State::Failed);
        next.flow.outcome = Some(format!(
            "still {} {} after the merge (Argo CD {} {})",
            app.status.health.status,
            human(waited),
            if synced { "runs" } else { "has not synced to" },
            super::github::short(&merged_sha)
        ));
        Some(Step::by_opsmate(
            next,
            json!({"health": app.status.health.status, "synced": synced, "revision": app.status.sync.revision}),
        ))
    }
}

/// States whose next step can be taken in the same pass.
fn chains(state: State) -> bool {
    matches!(
        state,
        State::Degraded | State::CandidateFound | State::PrOpen | State::Merged
    )
}

/// `2m 10s`, `45s`.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// How soon the announcer runs again when a rewrite waits on a first delivery.
const REWRITE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the poller every `poll_interval` (and at once when a decision wakes it)
/// until `shutdown`.
pub fn spawn(
    ctx: Context,
    rollback: std::sync::Arc<Rollback>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_error: Option<String> = None;
        loop {
            match rollback.poll_once(&ctx).await {
                Ok(_) => last_error = None,
                Err(e) => {
                    let text = format!("{e:#}");
                    // Said once per distinct error, not every 10 seconds.
                    if last_error.as_deref() != Some(&text) {
                        tracing::warn!(error = %text, "Argo CD could not be polled");
                    }
                    last_error = Some(text);
                }
            }
            if let Err(e) = rollback.announce_once(&ctx).await {
                tracing::warn!(error = %format!("{e:#}"), "rollback messages could not be sent");
            }
            let next_poll = tokio::time::Instant::now() + rollback.settings.poll_interval;
            loop {
                let waiting = rollback.rewrite_waiting.load(Ordering::Relaxed);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = rollback.wake.notified() => break,
                    _ = tokio::time::sleep_until(next_poll) => break,
                    // A message's first delivery lands within a second or so.
                    _ = tokio::time::sleep(REWRITE_RETRY), if waiting => {
                        if let Err(e) = rollback.announce_once(&ctx).await {
                            tracing::warn!(error = %format!("{e:#}"), "rollback messages could not be sent");
                        }
                    }
                }
            }
        }
    })
}
