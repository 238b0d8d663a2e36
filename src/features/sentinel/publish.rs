//! After each delivery: evaluate the pull request, write its check run, keep its
//! waive proposal and its message in step, and record a merge that bypassed a
//! failing check.
//!
//! A waiver covers the head it was given for: a push is checked afresh (the old
//! proposal is withdrawn and a new one offered), an edit of the same head keeps it.

use super::check_run::{self, Waiver};
use super::evaluate::Evaluation;
use super::github::Repo;
use super::kinds::{WaiveParams, target};
use super::store::{self, Bypass, PullRow};
use super::{RULE_ACTOR, Sentinel, message};
use crate::approvals::{NewProposal, ProposalState, Proposed};
use crate::audit::events;
use crate::chat::destinations::{Destinations, rewrite_tagged};
use crate::dispatch::Context;
use crate::domain::{ActionKind, ApprovalId};
use serde_json::json;

impl Sentinel {
    pub fn destinations(&self, ctx: &Context) -> Destinations {
        Destinations::configured(
            ctx,
            self.settings.slack_channel.as_ref(),
            self.settings.telegram_chat_id,
        )
    }

    /// Evaluates `repo#number` and publishes the result. Returns the stored row.
    pub async fn check_and_publish(
        &self,
        ctx: &Context,
        repo: &str,
        number: u64,
    ) -> anyhow::Result<PullRow> {
        let _one = self.publishing.lock().await;
        let ev = self.evaluate(repo, number).await?;
        let (r, n) = (repo.to_owned(), number);
        let old = ctx.store.call(move |c| store::get(c, &r, n)).await?;
        if ev.pull.state != "open" {
            return self.settle_closed(ctx, ev, old).await;
        }
        let head = ev.pull.head.sha.clone();
        let same_head = old.as_ref().is_some_and(|o| o.head_sha == head);
        let kept = old.clone().filter(|_| same_head);
        let mut row = PullRow {
            repo: repo.to_owned(),
            number,
            title: ev.pull.title.clone(),
            author: ev.pull.user.login.clone(),
            url: ev.pull.html_url.clone(),
            state: "open".into(),
            head_sha: head.clone(),
            passed: ev.passed(),
            results: ev.results.clone(),
            check_run_id: kept.as_ref().and_then(|k| k.check_run_id),
            waived_by: kept.as_ref().and_then(|k| k.waived_by.clone()),
            waive_note: kept.as_ref().and_then(|k| k.waive_note.clone()),
            waived_at: kept.as_ref().and_then(|k| k.waived_at),
            proposal: kept.as_ref().and_then(|k| k.proposal.clone()),
            announced: old.as_ref().is_some_and(|o| o.announced),
            evaluated_at: ctx.clock.now(),
        };
        if let Some(stale) = old
            .as_ref()
            .and_then(|o| o.proposal.clone())
            .filter(|_| !same_head)
        {
            withdraw(ctx, &stale, "a new commit was pushed; it is checked afresh").await?;
        }
        if row.passed
            && let Some(id) = row.proposal.clone()
        {
            withdraw(ctx, &id, "every rule passes now").await?;
        }
        self.write_check(&row)
            .await
            .map(|id| row.check_run_id = Some(id))?;
        if row.blocked() && row.proposal.is_none() {
            row.proposal = Some(self.propose(ctx, &row).await?);
        }
        let saved = row.clone();
        ctx.store.call(move |c| store::put(c, &saved)).await?;
        ctx.audit
            .record(
                RULE_ACTOR,
                events::SENTINEL_CHECKED,
                &row.key(),
                json!({"head_sha": row.head_sha, "passed": row.passed,
                       "failing": row.failing().iter().map(|r| &r.rule).collect::<Vec<_>>(),
                       "waived_by": row.waived_by}),
            )
            .await?;
        self.show(ctx, &mut row, !ev.pull.draft).await?;
        Ok(row)
    }

    /// Creates or rewrites the check run on the row's head; returns its id.
    pub(crate) async fn write_check(&self, row: &PullRow) -> anyhow::Result<u64> {
        let gh = Repo::new(&self.github, &row.repo)?;
        let by = row.waived_by.as_deref().map(|b| self.decider_name(b));
        let waiver = match (&by, &row.waive_note) {
            (Some(by), Some(note)) => Some(Waiver { by, note }),
            (Some(by), None) => Some(Waiver {
                by,
                note: "no reason given",
            }),
            _ => None,
        };
        let report = check_run::report(&row.results, waiver);
        match row.check_run_id {
            Some(id) => gh.update_check(id, report).await.map(|()| id),
            None => gh.create_check(&row.head_sha, report).await,
        }
    }

    /// Offers the waiver of the row's failing rules; returns the proposal's id.
    async fn propose(&self, ctx: &Context, row: &PullRow) -> anyhow::Result<String> {
        let rules: Vec<String> = row.failing().iter().map(|r| r.rule.clone()).collect();
        let params = WaiveParams {
            repo: row.repo.clone(),
            number: row.number,
            head_sha: row.head_sha.clone(),
            rules: rules.clone(),
        };
        let proposed = ctx
            .gate
            .propose(NewProposal {
                kind: ActionKind::WAIVE_RULE,
                target: target(&row.repo, row.number),
                params: serde_json::to_value(&params)?,
                reason: format!(
                    "{} by {} breaks {}: {}",
                    row.key(),
                    row.author,
                    rules.join(", "),
                    row.title
                ),
                // The author's key, so the gate refuses their own waiver.
                proposed_by: self.proposer_key(&row.author),
            })
            .await?;
        Ok(match proposed {
            Proposed::Created(p) | Proposed::AlreadyOpen(p) => p.id.to_string(),
        })
    }

    /// Posts the row's message when it first breaks a rule (and `announce`, i.e. not
    /// a draft), else rewrites the message posted before.
    pub(crate) async fn show(
        &self,
        ctx: &Context,
        row: &mut PullRow,
        announce: bool,
    ) -> anyhow::Result<()> {
        let proposal = match row.proposal.as_deref().map(ApprovalId::parse) {
            Some(Ok(id)) => ctx.gate.get(&id).await?,
            _ => None,
        };
        let can_decide = proposal.as_ref().is_some_and(|p| ctx.gate.has_approvers(p));
        let msg = message::pull(self, row, proposal.as_ref(), can_decide);
        if row.announced {
            return rewrite_tagged(ctx, &message::tag(row), |_| Some(msg.clone())).await;
        }
        if row.blocked() && announce && row.state == "open" {
            self.destinations(ctx)
                .post_tagged(ctx, &msg, &message::tag(row))
                .await?;
            row.announced = true;
            let (repo, number) = (row.repo.clone(), row.number);
            ctx.store
                .call(move |c| {
                    c.execute(
                        "UPDATE sentinel_pulls SET announced = 1 WHERE repo = ?1 AND number = ?2",
                        rusqlite::params![repo, number as i64],
                    )?;
                    Ok(())
                })
                .await?;
        }
        Ok(())
    }

    /// A closed or merged pull request: its proposal is withdrawn, and a merge while
    /// the head's check was failing and unwaived is a bypass, posted at once.
    async fn settle_closed(
        &self,
        ctx: &Context,
        ev: Evaluation,
        old: Option<PullRow>,
    ) -> anyhow::Result<PullRow> {
        let head = ev.pull.head.sha.clone();
        let merged = ev.pull.merged;
        // What the check said on this head, when Sentinel saw it; else what the rules
        // say now (a delivery missed while OpsMate was down).
        let mut row = match old.clone().filter(|o| o.head_sha == head) {
            Some(o) => o,
            None => PullRow {
                repo: ev.repo.clone(),
                number: ev.pull.number,
                title: ev.pull.title.clone(),
                author: ev.pull.user.login.clone(),
                url: ev.pull.html_url.clone(),
                state: String::new(),
                head_sha: head.clone(),
                passed: ev.passed(),
                results: ev.results.clone(),
                check_run_id: None,
                waived_by: None,
                waive_note: None,
                waived_at: None,
                proposal: None,
                announced: old.as_ref().is_some_and(|o| o.announced),
                evaluated_at: ctx.clock.now(),
            },
        };
        let was = row.state.clone();
        row.state = if merged { "merged" } else { "closed" }.into();
        for id in [
            old.as_ref().and_then(|o| o.proposal.clone()),
            row.proposal.clone(),
        ]
        .into_iter()
        .flatten()
        {
            withdraw(ctx, &id, &format!("the pull request was {}", row.state)).await?;
        }
        let saved = row.clone();
        ctx.store.call(move |c| store::put(c, &saved)).await?;
        if merged && row.blocked() && was != "merged" {
            let bypass = Bypass {
                repo: row.repo.clone(),
                number: row.number,
                title: row.title.clone(),
                author: row.author.clone(),
                merged_by: ev.pull.merged_by.as_ref().map(|m| m.login.clone()),
                url: row.url.clone(),
                head_sha: row.head_sha.clone(),
                failing: row.failing().iter().map(|r| r.rule.clone()).collect(),
                merged_at: ctx.clock.now(),
            };
            let b = bypass.clone();
            if ctx.store.call(move |c| store::add_bypass(c, &b)).await? {
                ctx.audit
                    .record(
                        RULE_ACTOR,
                        events::SENTINEL_BYPASS,
                        &row.key(),
                        json!({"head_sha": bypass.head_sha, "merged_by": bypass.merged_by,
                               "failing": bypass.failing}),
                    )
                    .await?;
                self.destinations(ctx)
                    .post(ctx, &message::bypass(self, &bypass))
                    .await?;
            }
        }
        self.show(ctx, &mut row, false).await?;
        Ok(row)
    }
}

/// Withdraws a waive proposal if it is still pending.
async fn withdraw(ctx: &Context, id: &str, why: &str) -> anyhow::Result<()> {
    let Ok(id) = ApprovalId::parse(id) else {
        return Ok(());
    };
    if let Some(p) = ctx.gate.get(&id).await?
        && p.state == ProposalState::Pending
    {
        ctx.gate.withdraw(&id, RULE_ACTOR, why).await?;
    }
    Ok(())
}
