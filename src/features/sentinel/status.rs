//! `/opsmate sentinel [repo]` (open pull requests failing, and the week's bypasses),
//! `/opsmate sentinel waive OWNER/REPO#N <reason>`, and the digest's section.

use super::Sentinel;
use super::rules::rule_name;
use super::store::{self, PullRow};
use crate::approvals::{ProposalState, Verdict};
use crate::chat::command::{self, CommandError};
use crate::chat::message::{ChatMessage, Part};
use crate::dispatch::Context;
use crate::domain::{Actor, ApprovalId};
use crate::events::{DecisionRequest, ReplyTo};
use chrono::{DateTime, Utc};

/// What `sentinel …` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentinelCommand {
    List { repo: Option<String> },
    Waive { pull: String, reason: String },
}

/// Parses the words after `sentinel`.
pub fn parse(rest: &[String]) -> Result<SentinelCommand, CommandError> {
    match rest {
        [] => Ok(SentinelCommand::List { repo: None }),
        [w, pull, reason @ ..] if w.eq_ignore_ascii_case("waive") => {
            super::parse_pull_ref(pull).map_err(|e| command::error(e, None))?;
            let reason = reason.join(" ");
            if reason.trim().is_empty() {
                return Err(command::error(
                    "a waiver needs a reason, e.g. `sentinel waive acme/api#12 hotfix, ticket follows`",
                    None,
                ));
            }
            Ok(SentinelCommand::Waive {
                pull: pull.clone(),
                reason,
            })
        }
        [w] if w.eq_ignore_ascii_case("waive") => Err(command::error(
            "`sentinel waive` needs the pull request and a reason, e.g. `sentinel waive acme/api#12 hotfix, ticket follows`",
            None,
        )),
        [repo] if repo.contains('/') && !repo.contains('#') => Ok(SentinelCommand::List {
            repo: Some(repo.clone()),
        }),
        [w, ..] => Err(command::error(
            format!(
                "`sentinel` takes a repository (owner/name) or `waive OWNER/REPO#N <reason>`, not `{w}`"
            ),
            command::closest(&w.to_lowercase(), &["waive"]).map(|s| format!("sentinel {s}")),
        )),
    }
}

impl Sentinel {
    pub async fn command(
        &self,
        ctx: &Context,
        args: &[String],
        from: &Actor,
        reply: &ReplyTo,
    ) -> anyhow::Result<Vec<ChatMessage>> {
        match parse(args) {
            Ok(SentinelCommand::List { repo }) => Ok(vec![self.list(ctx, repo).await?]),
            Ok(SentinelCommand::Waive { pull, reason }) => {
                self.waive_typed(ctx, &pull, reason, from, reply).await
            }
            Err(e) => Ok(vec![ChatMessage::text("Not understood", e.message)]),
        }
    }

    /// Failing open pull requests and this week's bypasses.
    pub async fn list(&self, ctx: &Context, repo: Option<String>) -> anyhow::Result<ChatMessage> {
        let now = ctx.clock.now();
        let week = now - chrono::Duration::days(7);
        let r = repo.clone();
        let (blocked, bypasses) = ctx
            .store
            .call(move |c| {
                Ok((
                    store::open_blocked(c, r.as_deref())?,
                    store::bypasses(c, r.as_deref(), week, now + chrono::Duration::seconds(1))?,
                ))
            })
            .await?;
        let scope = repo.unwrap_or_else(|| "every repository".into());
        let mut parts = Vec::new();
        parts.push(Part::Text(if blocked.is_empty() {
            format!("No open pull request in {scope} is failing.")
        } else {
            format!(
                "Failing ({}):\n{}",
                blocked.len(),
                blocked
                    .iter()
                    .map(|p| self.line(p))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        }));
        parts.push(Part::Text(if bypasses.is_empty() {
            "No bypass in the last 7 days.".into()
        } else {
            format!(
                "Bypasses in the last 7 days ({}):\n{}",
                bypasses.len(),
                bypasses
                    .iter()
                    .map(|b| format!(
                        "{}#{} merged by {} with {} broken: {}",
                        b.repo,
                        b.number,
                        b.merged_by.as_deref().unwrap_or("someone"),
                        b.failing
                            .iter()
                            .map(|r| rule_name(r))
                            .collect::<Vec<_>>()
                            .join(", "),
                        b.url
                    ))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        }));
        Ok(ChatMessage {
            title: format!("Sentinel: {scope}"),
            parts,
            footer: None,
        })
    }

    fn line(&self, p: &PullRow) -> String {
        format!(
            "{} {} by {}: {} ({})",
            p.key(),
            p.title,
            self.person(&p.author),
            p.failing()
                .iter()
                .map(|r| rule_name(&r.rule))
                .collect::<Vec<_>>()
                .join(", "),
            p.url
        )
    }

    /// `sentinel waive OWNER/REPO#N <reason>`: decides the pull request's waive
    /// proposal through the gate (offering a new one when the last expired or was
    /// declined), exactly as the button does.
    async fn waive_typed(
        &self,
        ctx: &Context,
        pull: &str,
        reason: String,
        from: &Actor,
        reply: &ReplyTo,
    ) -> anyhow::Result<Vec<ChatMessage>> {
        let (repo, number) = match self.parse_pull(pull) {
            Ok(p) => p,
            Err(e) => return Ok(vec![ChatMessage::text("Not waived", e)]),
        };
        let note = match crate::approvals::decision_note(&reason) {
            Ok(Some(n)) => n,
            Ok(None) => {
                return Ok(vec![ChatMessage::text(
                    "Not waived",
                    "A waiver needs a reason.",
                )]);
            }
            Err(e) => return Ok(vec![ChatMessage::text("Not waived", e)]),
        };
        let (r, n) = (repo.clone(), number);
        let Some(row) = ctx.store.call(move |c| store::get(c, &r, n)).await? else {
            return Ok(vec![ChatMessage::text(
                "Not waived",
                format!("Sentinel has not checked {repo}#{number} yet."),
            )]);
        };
        if !row.blocked() || row.state != "open" {
            return Ok(vec![ChatMessage::text(
                "Nothing to waive",
                format!(
                    "{} is {} and {}.",
                    row.key(),
                    row.state,
                    if row.passed {
                        "passes"
                    } else {
                        "already waived"
                    }
                ),
            )]);
        }
        let pending =
            match row.proposal.as_deref().map(ApprovalId::parse) {
                Some(Ok(id)) => ctx.gate.get(&id).await?.filter(|p| {
                    p.state == ProposalState::Pending && p.expires_at > ctx.clock.now()
                }),
                _ => None,
            };
        let id = match pending {
            Some(p) => p.id,
            None => {
                // The last offer expired or was declined: check again, which offers anew.
                let fresh = self.reoffer(ctx, &row).await?;
                match fresh {
                    Some(id) => id,
                    None => {
                        return Ok(vec![ChatMessage::text(
                            "Nothing to waive",
                            format!("{} passes now.", row.key()),
                        )]);
                    }
                }
            }
        };
        crate::chat::handle::decision(
            ctx,
            DecisionRequest {
                approval: id,
                decider: from.clone(),
                verdict: Verdict::Approve,
                reply: Some(reply.clone()),
                message: None,
                note: Some(note),
            },
        )
        .await?;
        Ok(Vec::new())
    }

    /// Drops the row's finished proposal and checks the pull request again, which
    /// offers a new waiver if it still fails. Returns the new proposal's id.
    async fn reoffer(&self, ctx: &Context, row: &PullRow) -> anyhow::Result<Option<ApprovalId>> {
        let (repo, number) = (row.repo.clone(), row.number);
        ctx.store
            .call(move |c| {
                c.execute(
                    "UPDATE sentinel_pulls SET proposal = NULL WHERE repo = ?1 AND number = ?2",
                    rusqlite::params![repo, number as i64],
                )?;
                Ok(())
            })
            .await?;
        let row = self.check_and_publish(ctx, &row.repo, row.number).await?;
        let blocked = row.blocked();
        Ok(row
            .proposal
            .filter(|_| blocked)
            .and_then(|id| ApprovalId::parse(&id).ok()))
    }

    /// The digest's lines for `[start, end)`.
    pub async fn digest(
        &self,
        ctx: &Context,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> anyhow::Result<Option<String>> {
        let (bypasses, blocked, (waived, checked)) = ctx
            .store
            .call(move |c| {
                Ok((
                    store::bypasses(c, None, start, end)?,
                    store::open_blocked(c, None)?,
                    store::counts(c, start, end)?,
                ))
            })
            .await?;
        let mut lines = vec![format!(
            "Sentinel: {} bypass(es), {waived} waiver(s), {} open pull request(s) failing; {checked} checked.",
            bypasses.len(),
            blocked.len()
        )];
        for b in bypasses.iter().take(10) {
            lines.push(format!(
                "⚠️ Bypass: {}#{} merged by {} with {} broken",
                b.repo,
                b.number,
                b.merged_by.as_deref().unwrap_or("someone"),
                b.failing
                    .iter()
                    .map(|r| rule_name(r))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(Some(lines.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_command_takes_a_repository_or_a_waiver_with_its_reason() {
        assert_eq!(parse(&[]), Ok(SentinelCommand::List { repo: None }));
        assert_eq!(
            parse(&words("acme/api")),
            Ok(SentinelCommand::List {
                repo: Some("acme/api".into())
            })
        );
        assert_eq!(
            parse(&words("waive acme/api#3 hotfix for the outage")),
            Ok(SentinelCommand::Waive {
                pull: "acme/api#3".into(),
                reason: "hotfix for the outage".into()
            })
        );
        assert!(parse(&words("waive acme/api#3")).is_err());
        assert!(parse(&words("waive acme/api hotfix")).is_err());
        assert!(
            parse(&words("wave acme/api#3 x"))
                .unwrap_err()
                .suggestion
                .is_some()
        );
    }
}
