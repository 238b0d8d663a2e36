//! Access Guard plugged in: the directory scan, `/opsmate access`, the rewrite of its
//! revocation requests, and its digest section.

use super::config::GuardConfig;
use super::{Guard, revoke, run};
use crate::approvals::BoxFuture;
use crate::audit;
use crate::chat::command::{self, CommandError, CommandHelp, CommandSpec, TelegramAlias};
use crate::chat::message::ChatMessage;
use crate::config::{Config, Secrets, SectionSpec};
use crate::dispatch::Context;
use crate::domain::ApprovalId;
use crate::events::{JobKind, JobRun};
use crate::features::FeatureStatus;
use crate::plugin::{Build, CommandCall, Feature, JobSpec, Plug};
use chrono::{DateTime, Utc};
use std::sync::Arc;

impl JobKind {
    /// The daily directory scan.
    pub const GUARD_SCAN: JobKind = JobKind::new("guard_scan");
}

pub const PLUG: Plug = Plug {
    name: NAME,
    section: Some(SectionSpec::of::<GuardConfig>()),
    status: guard_status,
    build,
    commands: COMMANDS,
    kinds: super::kinds::KINDS,
    cli: super::cli::CLI,
    off: run::off,
    api: super::api::API,
    pages: super::page::PAGES,
    webhooks: &[],
};

const NAME: &str = "access_guard";

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    word: "access",
    help: &[
        CommandHelp {
            usage: "access [pending]",
            does: "people who left and still have AWS access",
            example: "access pending",
        },
        CommandHelp {
            usage: "access keep <iam-user> [reason]",
            does: "keep someone's AWS access and say why",
            example: "access keep alice contractor until March",
        },
    ],
    runs_job: None,
    check: |_, args| parse(args).map(|_| ()),
    telegram: &[TelegramAlias {
        name: "access",
        stands_for: "access",
        description: "people who left and still have AWS access; /access keep alice reason",
    }],
}];

/// What `access …` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessCommand {
    /// Departed, pending and unmapped users (only those waiting for a decision).
    List { pending_only: bool },
    /// Keep an IAM user's access, with an optional reason.
    Keep {
        user: String,
        reason: Option<String>,
    },
}

/// Parses the words after `access`.
pub fn parse(rest: &[String]) -> Result<AccessCommand, CommandError> {
    let list = |pending_only| Ok(AccessCommand::List { pending_only });
    match rest {
        [] => list(false),
        [w] if w.eq_ignore_ascii_case("pending") => list(true),
        [w, user, reason @ ..] if w.eq_ignore_ascii_case("keep") => {
            let reason = reason.join(" ");
            Ok(AccessCommand::Keep {
                user: user.clone(),
                reason: (!reason.is_empty()).then_some(reason),
            })
        }
        [w] if w.eq_ignore_ascii_case("keep") => Err(command::error(
            "`access keep` needs the IAM user, e.g. `access keep alice contractor until March`",
            None,
        )),
        [w, ..] => Err(command::error(
            format!("`access` takes `pending` or `keep <iam-user> [reason]`, not `{w}`"),
            command::closest(&w.to_lowercase(), &["pending", "keep"])
                .map(|s| format!("access {s}")),
        )),
    }
}

fn build(b: Build<'_>) -> BoxFuture<'_, anyhow::Result<Option<Arc<dyn Feature>>>> {
    Box::pin(async move {
        if b.config.section::<GuardConfig>()?.is_none() {
            return Ok(None);
        }
        let guard = Arc::new(Guard::new(b.config, b.secrets, b.aws)?);
        revoke::register(
            b.actions,
            guard.clone(),
            b.store.clone(),
            b.audit.clone(),
            b.clock.clone(),
        );
        Ok(Some(guard as Arc<dyn Feature>))
    })
}

impl Feature for Guard {
    fn name(&self) -> &'static str {
        NAME
    }

    fn jobs(&self, config: &Config) -> anyhow::Result<Vec<JobSpec>> {
        Ok(vec![JobSpec::new(
            JobKind::GUARD_SCAN,
            self.settings.schedule(config.timezone)?,
        )])
    }

    fn run_job<'a>(&'a self, ctx: &'a Context, _: &'a JobRun) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(run::scheduled(ctx))
    }

    fn command<'a>(
        &'a self,
        ctx: &'a Context,
        call: CommandCall<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Vec<ChatMessage>>> {
        Box::pin(async move {
            // The arguments were checked before the call (`CommandSpec::check`).
            match parse(call.args)? {
                AccessCommand::List { pending_only } => {
                    tracing::info!(from = %call.from, pending_only, "command access");
                    Ok(vec![run::list(ctx, pending_only).await?])
                }
                AccessCommand::Keep { user, reason } => {
                    tracing::info!(from = %call.from, user, "command access keep");
                    Ok(vec![run::keep(ctx, call.from, &user, reason).await?])
                }
            }
        })
    }

    fn refresh<'a>(
        &'a self,
        ctx: &'a Context,
        ids: &'a [ApprovalId],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(run::refresh_for(ctx, ids))
    }

    fn digest<'a>(
        &'a self,
        ctx: &'a Context,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async move {
            let (revoked, unmapped) = ctx.store.call(move |c| numbers(c, start, end)).await?;
            let mut lines = vec![if revoked.is_empty() {
                "No access revoked.".to_owned()
            } else {
                format!("Revoked the AWS access of {}.", revoked.join(", "))
            }];
            lines.push(match unmapped {
                None => "Unmapped IAM users: no scan yet.".into(),
                Some(u) if u.is_empty() => "No unmapped IAM users.".into(),
                Some(u) => format!("Unmapped IAM users ({}): {}", u.len(), u.join(", ")),
            });
            Ok(Some(format!("*Access Guard*\n{}", lines.join("\n"))))
        })
    }
}

/// People whose access was revoked in `[start, end)`, and the unmapped IAM users of
/// the last scan (`None` before the first).
fn numbers(
    c: &rusqlite::Connection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<(Vec<String>, Option<Vec<String>>)> {
    let revoked = audit::events_between(c, crate::audit::events::GUARD_REVOKED, start, end)?
        .into_iter()
        .map(|r| r.subject)
        .collect();
    let last_scan: Option<String> = c
        .query_row(
            "SELECT details FROM audit_log WHERE event = ?1 ORDER BY seq DESC LIMIT 1",
            [crate::audit::events::GUARD_SCANNED],
            |r| r.get(0),
        )
        .ok();
    let unmapped = last_scan
        .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
        .map(|d| {
            d["unmapped"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        });
    Ok((revoked, unmapped))
}

/// Access Guard is on when `[guard]` is present.
pub fn guard_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let Ok(Some(g)) = config.section::<GuardConfig>() else {
        return FeatureStatus {
            name: "access_guard",
            on: false,
            why: "add a [guard] section to turn it on".into(),
        };
    };
    let directories = [
        secrets
            .slack_bot_token
            .is_some()
            .then(|| "Slack (users.list and member events)".to_owned()),
        g.github_org.as_ref().map(|org| format!("GitHub org {org}")),
    ];
    let directories: Vec<String> = directories.into_iter().flatten().collect();
    FeatureStatus {
        name: "access_guard",
        on: true,
        why: format!(
            "directories: {}; rule \"{}\", grace {} days, keep {} days, schedule \"{}\"; requests go to {}",
            if directories.is_empty() {
                "none (set SLACK_BOT_TOKEN or guard.github_org: until then every user is unmapped)"
                    .to_owned()
            } else {
                directories.join(" and ")
            },
            match g.rule {
                crate::features::guard::config::DepartureRule::Any => "any",
                crate::features::guard::config::DepartureRule::All => "all",
            },
            g.grace_period_days,
            g.keep_days,
            g.schedule,
            crate::features::destinations_text(
                config,
                secrets,
                config.slack.security_channel.as_ref(),
                g.telegram_chat_id,
                ("slack.security_channel", "guard.telegram_chat_id")
            )
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn every_access_command_parses() {
        assert_eq!(
            parse(&words("")),
            Ok(AccessCommand::List {
                pending_only: false
            })
        );
        assert_eq!(
            parse(&words("pending")),
            Ok(AccessCommand::List { pending_only: true })
        );
        assert_eq!(
            parse(&words("keep alice on parental leave")),
            Ok(AccessCommand::Keep {
                user: "alice".into(),
                reason: Some("on parental leave".into())
            })
        );
        assert_eq!(
            parse(&words("keep bob")),
            Ok(AccessCommand::Keep {
                user: "bob".into(),
                reason: None
            })
        );
    }

    #[test]
    fn bad_access_arguments_are_explained() {
        assert!(
            parse(&words("keep"))
                .unwrap_err()
                .message
                .contains("IAM user")
        );
        assert_eq!(
            parse(&words("pendng")).unwrap_err().suggestion.as_deref(),
            Some("access pending")
        );
    }
}
