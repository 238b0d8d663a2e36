//! The revocation the approval gate runs. Just before it, the person is looked up
//! again (back in Slack or GitHub, or kept since, means skip). Then each configured
//! step runs in order; a step already done by an earlier, cut-off revocation is not
//! repeated, so approving the resume finishes exactly what is left.

use super::details::Details;
use super::detect::{self, Finding};
use super::identity::Identity;
use super::steps::{self, Recorder};
use super::{Guard, directories, store};
use crate::approvals::{
    ActionHandler, ActionRegistry, ActionReport, ActionRun, BoxFuture, Done, Precheck, Progress,
    Proposal,
};
use crate::audit::Audit;
use crate::clock::SharedClock;
use crate::cloud::iam;
use crate::cloud::ids::IamUserName;
use crate::domain::ActionKind;
use crate::features::guard::config::RevokeStep;
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

/// What a revocation proposal carries: who, why, what they have, and the steps
/// approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokeParams {
    pub user: IamUserName,
    pub email: Option<String>,
    pub github_login: Option<String>,
    pub missing_from: Vec<String>,
    pub since: Option<DateTime<Utc>>,
    pub steps: Vec<RevokeStep>,
    pub delete_user: bool,
    pub details: Details,
    /// Steps an earlier revocation finished before it was cut off (this one resumes it).
    #[serde(default)]
    pub done_before: Vec<RevokeStep>,
    /// The revocation this one resumes, and how it ended.
    #[serde(default)]
    pub resumes: Option<String>,
}

impl RevokeParams {
    pub fn of(p: &Proposal) -> anyhow::Result<Self> {
        p.params_as()
    }
}

/// What happened to one step of a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResult {
    /// An earlier, interrupted revocation did it.
    DoneEarlier,
    WouldRemove,
    Done,
    Failed,
}

/// One step's line of a revocation report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLine {
    pub step: String,
    pub result: StepResult,
    /// What it removed (access key ids, group names, …).
    pub removed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StepLine {
    fn new(step: &str, result: StepResult, removed: &[String]) -> Self {
        Self {
            step: step.to_owned(),
            result,
            removed: removed.to_vec(),
            error: None,
        }
    }
}

/// The report of a revocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokeReport {
    pub user: IamUserName,
    pub steps: Vec<StepLine>,
    /// Steps not tried because an earlier one failed.
    pub left: Vec<String>,
    pub failed: usize,
    /// The lines chat shows (the envelope's summary holds them).
    #[serde(skip)]
    pub lines: Vec<String>,
}

impl ActionReport for RevokeReport {
    fn summary(&self) -> Vec<String> {
        self.lines.clone()
    }

    fn failed(&self) -> usize {
        self.failed
    }
}

/// Registers the revocation handler unless one is registered already.
pub fn register(
    registry: &mut ActionRegistry,
    guard: Arc<Guard>,
    store: Store,
    audit: Audit,
    clock: SharedClock,
) {
    if registry.get(ActionKind::REVOKE_ACCESS).is_none() {
        registry.register(
            ActionKind::REVOKE_ACCESS,
            Arc::new(Revoker {
                guard,
                store,
                audit,
                clock,
            }),
        );
    }
}

struct Revoker {
    guard: Arc<Guard>,
    store: Store,
    audit: Audit,
    clock: SharedClock,
}

impl Revoker {
    async fn check(&self, p: &Proposal) -> anyhow::Result<Precheck> {
        let params = RevokeParams::of(p)?;
        let now = self.clock.now();
        let client = self.guard.aws.iam();
        if !iam::user_exists(&client, &params.user).await? {
            return Ok(Precheck::NoLongerQualifies(format!(
                "the IAM user {} no longer exists",
                params.user
            )));
        }
        let user = params.user.clone();
        if let Some(person) = self
            .store
            .call(move |c| store::get(c, user.as_str()))
            .await?
            && let (Some(until), Some(by)) = (person.kept_until, &person.kept_by)
            && until > now
        {
            return Ok(Precheck::NoLongerQualifies(format!(
                "access was kept by {by} until {}",
                crate::chat::answers::local(until, self.guard.tz)
            )));
        }
        let (dirs, _, _) = directories::people(&self.guard, &self.store, now).await;
        let id = Identity {
            email: params.email.clone(),
            login: params.github_login.clone(),
        };
        match detect::assess(&id, &dirs, self.guard.settings.rule) {
            Finding::Gone { .. } => Ok(Precheck::Qualifies),
            Finding::Present => Ok(Precheck::NoLongerQualifies(format!(
                "{} is back in the directories",
                params.email.as_deref().unwrap_or(params.user.as_str())
            ))),
            Finding::Unmapped(why) => Ok(Precheck::NoLongerQualifies(why)),
            Finding::Unverified(why) => anyhow::bail!(
                "could not confirm that {} is still gone: {}",
                params.user,
                why.join("; ")
            ),
        }
    }

    async fn revoke(&self, p: &Proposal, dry_run: bool) -> anyhow::Result<RevokeReport> {
        let params = RevokeParams::of(p)?;
        let user = params.user.clone();
        let approval = p.id.to_string();
        let client = self.guard.aws.iam();
        let lookup = user.clone();
        let done = self
            .store
            .call(move |c| store::done_steps(c, lookup.as_str()))
            .await?;
        let mut lines = Vec::new();
        let mut results = Vec::new();
        let mut failed = 0;
        let mut left = Vec::new();
        for step in &params.steps {
            let name = step.as_str();
            if failed > 0 {
                left.push(name);
                continue;
            }
            if let Some(removed) = done.get(name) {
                lines.push(format!("✓ {name}: done earlier ({})", listed(removed)));
                results.push(StepLine::new(name, StepResult::DoneEarlier, removed));
                continue;
            }
            let rec = Recorder::new(&self.audit, &user, &approval, name, dry_run);
            let outcome = steps::run(&client, *step, &rec).await;
            let items = rec.items();
            match outcome {
                Ok(()) if dry_run => {
                    lines.push(format!("• {name}: would remove {}", listed(&items)));
                    results.push(StepLine::new(name, StepResult::WouldRemove, &items));
                }
                Ok(()) => {
                    self.step_done(user.as_str(), name, &approval, &items)
                        .await?;
                    lines.push(format!("✓ {name}: removed {}", listed(&items)));
                    results.push(StepLine::new(name, StepResult::Done, &items));
                }
                Err(e) => {
                    // Chat says what failed in words; the audit row keeps the chain.
                    let error = e.to_string();
                    self.audit
                        .record(
                            "system",
                            crate::audit::events::GUARD_STEP_FAILED,
                            &user,
                            json!({"step": name, "approval": approval, "error": error,
                                   "detail": format!("{e:#}"), "removed_before_error": items}),
                        )
                        .await?;
                    lines.push(format!(
                        "✗ {name}: failed: {error}{}",
                        if items.is_empty() {
                            String::new()
                        } else {
                            format!(" (removed before the error: {})", items.join(", "))
                        }
                    ));
                    results.push(StepLine {
                        error: Some(error),
                        ..StepLine::new(name, StepResult::Failed, &items)
                    });
                    failed += 1;
                }
            }
        }
        if failed == 0 && params.delete_user {
            let rec = Recorder::new(&self.audit, &user, &approval, "delete_user", dry_run);
            match steps::delete_user(&client, &rec).await {
                Ok(()) => lines.push(format!(
                    "{} delete_user: {}",
                    if dry_run { "•" } else { "✓" },
                    if dry_run {
                        "would delete the IAM user"
                    } else {
                        "IAM user deleted"
                    }
                )),
                Err(e) => {
                    self.audit
                        .record(
                            "system",
                            crate::audit::events::GUARD_STEP_FAILED,
                            &user,
                            json!({"step": "delete_user", "approval": approval,
                                   "error": e.to_string(), "detail": format!("{e:#}")}),
                        )
                        .await?;
                    lines.push(format!("✗ delete_user: failed: {e}"));
                    failed += 1;
                }
            }
        }
        if failed == 0 && !dry_run {
            let now = self.clock.now();
            let who = user.clone();
            self.store
                .call(move |c| store::set_revoked(c, who.as_str(), now))
                .await?;
            self.audit
                .record(
                    "system",
                    crate::audit::events::GUARD_REVOKED,
                    &user,
                    json!({"approval": approval, "steps": params.steps, "deleted_user": params.delete_user}),
                )
                .await?;
        }
        if failed > 0 {
            lines.push(format!(
                "Left to do: {}. A new request to finish them is posted; nothing done is repeated.",
                left.join(", ")
            ));
        }
        Ok(RevokeReport {
            user,
            steps: results,
            left: left.into_iter().map(str::to_owned).collect(),
            failed,
            lines,
        })
    }

    /// Records a finished step and its audit row in one transaction.
    async fn step_done(
        &self,
        user: &str,
        step: &'static str,
        approval: &str,
        removed: &[String],
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let (user, approval, removed) = (user.to_owned(), approval.to_owned(), removed.to_vec());
        self.store
            .call(move |c| {
                crate::store::immediate(c, |tx| {
                    store::step_done(tx, &user, step, &approval, &removed, now)?;
                    crate::audit::append(
                        tx,
                        now,
                        "system",
                        crate::audit::events::GUARD_STEP_DONE,
                        &user,
                        &json!({"step": step, "approval": approval, "removed": removed}),
                    )?;
                    Ok(())
                })
            })
            .await
    }
}

fn listed(items: &[String]) -> String {
    if items.is_empty() {
        "nothing (none left)".into()
    } else {
        items.join(", ")
    }
}

impl ActionHandler for Revoker {
    fn recheck<'a>(&'a self, proposal: &'a Proposal) -> BoxFuture<'a, anyhow::Result<Precheck>> {
        Box::pin(self.check(proposal))
    }

    fn execute<'a>(
        &'a self,
        proposal: &'a Proposal,
        run: &'a ActionRun<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Progress>> {
        Box::pin(async move {
            let report = self.revoke(proposal, run.dry_run).await?;
            Ok(Progress::Done(Done::of(&report)?))
        })
    }
}
