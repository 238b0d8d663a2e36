//! Sentinel plugged in: it takes GitHub's pull-request deliveries, answers
//! `/opsmate sentinel`, runs `waive_rule` proposals, rewrites its messages after a
//! decision and writes a digest section.

use super::config::{SentinelConfig, WEBHOOK_SECRET_VAR};
use super::waive::Waive;
use super::webhook::PullEvent;
use super::{Sentinel, store};
use crate::approvals::BoxFuture;
use crate::chat::command::{CommandHelp, CommandSpec, TelegramAlias};
use crate::chat::message::ChatMessage;
use crate::config::{Config, Secrets, SectionSpec};
use crate::dispatch::Context;
use crate::domain::{ActionKind, ApprovalId};
use crate::features::FeatureStatus;
use crate::http::webhooks::Delivery;
use crate::plugin::{Build, CommandCall, Feature, Plug};
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub const PLUG: Plug = Plug {
    name: NAME,
    section: Some(SectionSpec::of::<SentinelConfig>()),
    status: sentinel_status,
    build,
    commands: COMMANDS,
    kinds: super::kinds::KINDS,
    cli: super::cli::CLI,
    off: || {
        ChatMessage::text(
            "Sentinel is off",
            "Add a [sentinel] section with [[sentinel.repos]], set GITHUB_WEBHOOK_SECRET and GITHUB_TOKEN, and point the repository's webhook at /github/webhook (see the README).",
        )
    },
    api: &[],
    pages: &[],
    webhooks: super::webhook::WEBHOOKS,
};

const NAME: &str = "sentinel";

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    word: "sentinel",
    help: &[
        CommandHelp {
            usage: "sentinel [owner/repo]",
            does: "open pull requests breaking Sentinel's rules, and the week's bypasses",
            example: "sentinel acme/api",
        },
        CommandHelp {
            usage: "sentinel waive <owner/repo#N> <reason>",
            does: "waive a pull request's broken rules, saying why",
            example: "sentinel waive acme/api#12 hotfix for the outage, ticket follows",
        },
    ],
    runs_job: None,
    check: |_, args| super::status::parse(args).map(|_| ()),
    telegram: &[TelegramAlias {
        name: "sentinel",
        stands_for: "sentinel",
        description: "pull requests breaking the rules; /sentinel waive acme/api#12 reason",
    }],
}];

pub struct SentinelFeature(pub Arc<Sentinel>);

fn build(b: Build<'_>) -> BoxFuture<'_, anyhow::Result<Option<Arc<dyn Feature>>>> {
    Box::pin(async move {
        let Some(settings) = b.config.section::<SentinelConfig>()? else {
            return Ok(None);
        };
        // Without the secret no delivery can be verified: off, and the report says so.
        if b.secrets.named(WEBHOOK_SECRET_VAR).is_none() || b.secrets.github_token.is_none() {
            return Ok(None);
        }
        let sentinel = Arc::new(Sentinel::new(settings, b.config, b.secrets)?);
        b.actions.register(
            ActionKind::WAIVE_RULE,
            Arc::new(Waive {
                sentinel: sentinel.clone(),
                store: b.store.clone(),
                audit: b.audit.clone(),
                clock: b.clock.clone(),
            }),
        );
        Ok(Some(Arc::new(SentinelFeature(sentinel)) as Arc<dyn Feature>))
    })
}

impl Feature for SentinelFeature {
    fn name(&self) -> &'static str {
        NAME
    }

    fn command<'a>(
        &'a self,
        ctx: &'a Context,
        call: CommandCall<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Vec<ChatMessage>>> {
        Box::pin(async move { self.0.command(ctx, call.args, call.from, call.reply).await })
    }

    fn webhook<'a>(
        &'a self,
        ctx: &'a Context,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let event: PullEvent = serde_json::from_slice(&delivery.body)?;
            let Some(repo) = self.0.settings.repo_named(&event.repository.full_name) else {
                tracing::info!(repo = %event.repository.full_name, "a delivery from a repository not in [[sentinel.repos]] is ignored");
                return Ok(());
            };
            let repo = repo.to_owned();
            tracing::info!(%repo, number = event.pull_request.number, event = %delivery.event, merged = event.pull_request.merged, "checking a pull request");
            self.0
                .check_and_publish(ctx, &repo, event.pull_request.number)
                .await
                .map(|_| ())
        })
    }

    /// A waiver was decided or done: the pull request's message shows it.
    fn refresh<'a>(
        &'a self,
        ctx: &'a Context,
        ids: &'a [ApprovalId],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for id in ids {
                let key = id.to_string();
                let Some(mut row) = ctx.store.call(move |c| store::by_proposal(c, &key)).await?
                else {
                    continue;
                };
                self.0.show(ctx, &mut row, false).await?;
            }
            Ok(())
        })
    }

    fn digest<'a>(
        &'a self,
        ctx: &'a Context,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async move { self.0.digest(ctx, start, end).await })
    }
}

/// On when `[sentinel]` is present; the door needs `GITHUB_WEBHOOK_SECRET`.
pub fn sentinel_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let status = |on, why: String| FeatureStatus {
        name: NAME,
        on,
        why,
    };
    match config.section::<SentinelConfig>() {
        Ok(Some(s)) => {
            let mut missing = Vec::new();
            if secrets.named(WEBHOOK_SECRET_VAR).is_none() {
                missing.push(WEBHOOK_SECRET_VAR);
            }
            if secrets.github_token.is_none() {
                missing.push("GITHUB_TOKEN");
            }
            let repos: Vec<&str> = s.repos.iter().map(|r| r.name.as_str()).collect();
            if missing.is_empty() {
                status(
                    true,
                    format!(
                        "checking pull requests of {} from {}; broken rules go to {}",
                        repos.join(", "),
                        super::webhook::PATH,
                        crate::features::destinations_text(
                            config,
                            secrets,
                            s.slack_channel.as_ref(),
                            s.telegram_chat_id,
                            ("sentinel.slack_channel", "sentinel.telegram_chat_id"),
                        )
                    ),
                )
            } else {
                status(
                    false,
                    format!(
                        "[sentinel] is present but {} {} not set: {WEBHOOK_SECRET_VAR} is the secret GitHub signs its deliveries with, GITHUB_TOKEN reads pull requests and writes check runs",
                        missing.join(" and "),
                        if missing.len() == 1 { "is" } else { "are" },
                    ),
                )
            }
        }
        _ => status(false, "add a [sentinel] section to turn it on".into()),
    }
}
