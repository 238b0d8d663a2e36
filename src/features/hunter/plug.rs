//! Zombie Hunter plugged in: its scheduled hunt, `/opsmate zombies`, the rewrite of
//! its reports after a decision, and its digest section.

use super::config::HunterConfig;
use super::{Hunter, actions, report, run};
use crate::approvals::BoxFuture;
use crate::audit::{self, events};
use crate::chat::command::{self, CommandHelp, CommandSpec, TelegramAlias};
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
    /// The scheduled scan and report.
    pub const HUNT_ZOMBIES: JobKind = JobKind::new("hunt_zombies");
}

pub const PLUG: Plug = Plug {
    name: NAME,
    section: Some(SectionSpec::of::<HunterConfig>()),
    status: hunter_status,
    build,
    commands: COMMANDS,
    kinds: super::kinds::KINDS,
    cli: super::cli::CLI,
    off: || {
        ChatMessage::text(
            "Zombie Hunter is off",
            "Add a [hunter] section to the configuration to turn it on (see the README). `opsmate zombies` on the command line works without it.",
        )
    },
    api: super::api::API,
    pages: super::page::PAGES,
    webhooks: &[],
};

const NAME: &str = "zombie_hunter";

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    word: "zombies",
    help: &[CommandHelp {
        usage: "zombies",
        does: "idle EBS volumes, old snapshots and Elastic IPs, with their monthly cost",
        example: "zombies",
    }],
    runs_job: Some(JobKind::HUNT_ZOMBIES),
    check: command::no_arguments,
    telegram: &[TelegramAlias {
        name: "zombies",
        stands_for: "zombies",
        description: "idle EBS volumes, old snapshots and Elastic IPs",
    }],
}];

fn build(b: Build<'_>) -> BoxFuture<'_, anyhow::Result<Option<Arc<dyn Feature>>>> {
    Box::pin(async move {
        if b.config.section::<HunterConfig>()?.is_none() {
            return Ok(None);
        }
        let hunter = Arc::new(Hunter::new(b.config, b.aws).await?);
        actions::register(b.actions, hunter.clone(), b.audit.clone(), b.clock.clone());
        Ok(Some(hunter as Arc<dyn Feature>))
    })
}

impl Feature for Hunter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn jobs(&self, config: &Config) -> anyhow::Result<Vec<JobSpec>> {
        Ok(vec![JobSpec::new(
            JobKind::HUNT_ZOMBIES,
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
            tracing::info!(from = %call.from, "command zombies");
            run::on_demand(ctx, call.reply, &call.from.key()).await
        })
    }

    fn refresh<'a>(
        &'a self,
        ctx: &'a Context,
        ids: &'a [ApprovalId],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { report::refresh_for(ctx, ids).await.map(|_| ()) })
    }

    fn overview<'a>(
        &'a self,
        ctx: &'a Context,
    ) -> BoxFuture<'a, anyhow::Result<Option<ChatMessage>>> {
        Box::pin(async move {
            let w = super::api::waste(ctx).await?;
            Ok(Some(ChatMessage::text(
                format!(
                    "🧟 Zombie Hunter: ${:.2}/month of waste",
                    w.monthly_cost_usd
                ),
                format!(
                    "{} idle resource(s) as of the last scan. Deleted this month: {}, saving ${:.2}/month.",
                    w.count, w.deleted_this_month, w.saved_this_month_usd
                ),
            )))
        })
    }

    fn digest<'a>(
        &'a self,
        ctx: &'a Context,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async move {
            let (found, waste, deleted, savings) =
                ctx.store.call(move |c| numbers(c, start, end)).await?;
            Ok(Some(format!(
                "*Zombie Hunter*\n{}",
                if found == 0 && deleted == 0 {
                    "Nothing new found or deleted.".to_owned()
                } else {
                    format!(
                        "Found {found} idle resource(s), ${waste:.2}/month of waste; deleted {deleted}, saving ${savings:.2}/month."
                    )
                }
            )))
        })
    }
}

/// Found, their monthly waste, deleted, and the monthly savings of those deleted, in
/// `[start, end)`.
pub(super) fn numbers(
    c: &rusqlite::Connection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<(i64, f64, usize, f64)> {
    let (s, e) = (crate::clock::to_millis(start), crate::clock::to_millis(end));
    let (found, waste): (i64, f64) = c.query_row(
        "SELECT COUNT(*), COALESCE(SUM(monthly_cost_usd), 0) FROM hunter_findings
         WHERE first_seen >= ?1 AND first_seen < ?2",
        [s, e],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let deleted = audit::events_between(c, events::HUNTER_DELETED, start, end)?;
    let mut savings = 0.0;
    for row in &deleted {
        let id = row.subject.rsplit('/').next().unwrap_or_default();
        let cost: Option<f64> = c
            .query_row(
                "SELECT monthly_cost_usd FROM hunter_findings WHERE resource_id = ?1",
                [id],
                |r| r.get(0),
            )
            .ok();
        savings += cost.unwrap_or(0.0);
    }
    Ok((found, waste, deleted.len(), savings))
}

/// Zombie Hunter is on when `[hunter]` is present.
pub fn hunter_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let Ok(Some(h)) = config.section::<HunterConfig>() else {
        return FeatureStatus {
            name: "zombie_hunter",
            on: false,
            why: "add a [hunter] section to turn it on".into(),
        };
    };
    let regions = h.regions.as_ref().unwrap_or(&config.aws.regions);
    let to = crate::features::destinations_text(
        config,
        secrets,
        h.slack_channel.as_ref(),
        h.telegram_chat_id,
        ("hunter.slack_channel", "hunter.telegram_chat_id"),
    );
    FeatureStatus {
        name: "zombie_hunter",
        on: true,
        why: format!(
            "regions {regions:?}, {} extra account(s), schedule \"{}\"; reports go to {to}",
            h.assume_roles.len(),
            h.schedule
        ),
    }
}
