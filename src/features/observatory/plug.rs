//! Observatory plugged in: the digest and pruning jobs, its check timers,
//! `/opsmate health` and `/opsmate digest`.

use super::config::ObservatoryConfig;
use super::{Observatory, digest, report, runner};
use crate::approvals::BoxFuture;
use crate::chat::command::{self, CommandHelp, CommandSpec, TelegramAlias};
use crate::chat::message::ChatMessage;
use crate::config::{Config, Secrets, SectionSpec};
use crate::dispatch::Context;
use crate::events::{JobKind, JobRun};
use crate::features::FeatureStatus;
use crate::plugin::{Build, CommandCall, Feature, JobSpec, Plug};
use crate::scheduler::CronSchedule;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub const PLUG: Plug = Plug {
    name: NAME,
    section: Some(SectionSpec::of::<ObservatoryConfig>()),
    status: observatory_status,
    build,
    commands: COMMANDS,
    kinds: &[],
    cli: super::cli::CLI,
    off: || {
        ChatMessage::text(
            "Observatory is off",
            "Add an [observatory] section with [[observatory.checks]] to the configuration to turn it on (see the README).",
        )
    },
    api: super::api::API,
    pages: super::page::PAGES,
    webhooks: &[],
};

const NAME: &str = "observatory";

impl JobKind {
    /// The daily digest.
    pub const OBSERVATORY_DIGEST: JobKind = JobKind::new("observatory_digest");
    /// Pruning of old check results.
    pub const OBSERVATORY_PRUNE: JobKind = JobKind::new("observatory_prune");
}

/// Old check results are pruned hourly.
const PRUNE_SCHEDULE: &str = "41 * * * *";

fn own_jobs(settings: &ObservatoryConfig, config: &Config) -> anyhow::Result<Vec<JobSpec>> {
    Ok(vec![
        JobSpec::new(
            JobKind::OBSERVATORY_DIGEST,
            settings.digest_schedule(config.timezone)?,
        ),
        JobSpec::new(
            JobKind::OBSERVATORY_PRUNE,
            CronSchedule::parse(PRUNE_SCHEDULE, config.timezone)?,
        ),
    ])
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        word: "health",
        help: &[CommandHelp {
            usage: "health",
            does: "current health-check status",
            example: "health",
        }],
        runs_job: None,
        check: command::no_arguments,
        telegram: &[TelegramAlias {
            name: "health",
            stands_for: "health",
            description: "current health-check status",
        }],
    },
    CommandSpec {
        word: "digest",
        help: &[CommandHelp {
            usage: "digest",
            does: "the daily digest, now",
            example: "digest",
        }],
        runs_job: None,
        check: command::no_arguments,
        telegram: &[TelegramAlias {
            name: "digest",
            stands_for: "digest",
            description: "the daily digest, now",
        }],
    },
];

fn build(b: Build<'_>) -> BoxFuture<'_, anyhow::Result<Option<Arc<dyn Feature>>>> {
    Box::pin(async move {
        let Some(settings) = b.config.section::<ObservatoryConfig>()? else {
            return Ok(None);
        };
        // Its self-checks watch every job's last run, its own included.
        let mut jobs: Vec<_> = b
            .jobs
            .iter()
            .map(|j| (j.kind, j.schedule.clone()))
            .collect();
        jobs.extend(
            own_jobs(&settings, b.config)?
                .into_iter()
                .map(|j| (j.kind, j.schedule)),
        );
        let observatory = Observatory::new(b.config, b.store.clone(), jobs, b.clock.now())?;
        // The primary rolls up; a read-only app reads what it rolled up.
        if !b.read_only {
            observatory.backfill_rollups(b.store).await?;
        }
        Ok(Some(Arc::new(observatory) as Arc<dyn Feature>))
    })
}

impl Feature for Observatory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn jobs(&self, config: &Config) -> anyhow::Result<Vec<JobSpec>> {
        own_jobs(&self.settings, config)
    }

    fn run_job<'a>(
        &'a self,
        ctx: &'a Context,
        job: &'a JobRun,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            match job.job {
                JobKind::OBSERVATORY_DIGEST => runner::digest_job(ctx, self).await,
                JobKind::OBSERVATORY_PRUNE => runner::prune_job(ctx, self).await.map(|_| ()),
                other => anyhow::bail!("Observatory has no job {}", other.as_str()),
            }
        })
    }

    fn command<'a>(
        &'a self,
        ctx: &'a Context,
        call: CommandCall<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Vec<ChatMessage>>> {
        Box::pin(async move {
            tracing::info!(from = %call.from, "command {}", call.word);
            Ok(vec![if call.word == "health" {
                report::health(ctx, self).await?
            } else {
                let digest = digest::build(ctx, self, ctx.clock.now()).await?;
                digest
                    .posted(ctx, format!("digest asked for by {}", call.from))
                    .await?;
                digest.message
            }])
        })
    }

    fn overview<'a>(
        &'a self,
        ctx: &'a Context,
    ) -> BoxFuture<'a, anyhow::Result<Option<ChatMessage>>> {
        Box::pin(async move { report::health(ctx, self).await.map(Some) })
    }

    fn spawn(
        self: Arc<Self>,
        ctx: &Context,
        shutdown: &CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        runner::spawn(ctx.clone(), self, shutdown.clone())
    }
}

/// Observatory is on when `[observatory]` is present.
pub fn observatory_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let Ok(Some(o)) = config.section::<ObservatoryConfig>() else {
        return FeatureStatus {
            name: "observatory",
            on: false,
            why: "add an [observatory] section with [[observatory.checks]] to turn it on".into(),
        };
    };
    FeatureStatus {
        name: "observatory",
        on: true,
        why: format!(
            "{} check(s){}; digest \"{}\"; alerts and the digest go to {}",
            o.checks.len(),
            if o.self_checks.enabled {
                " plus self-checks"
            } else {
                ""
            },
            o.digest_schedule,
            crate::features::destinations_text(
                config,
                secrets,
                o.slack_channel.as_ref(),
                o.telegram_chat_id,
                ("observatory.slack_channel", "observatory.telegram_chat_id")
            )
        ),
    }
}
