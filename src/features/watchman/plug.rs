//! Night Watchman plugged in: the evening check, the notice deadlines and the morning
//! start; `/opsmate watchman`; the rewrite of its notices; its digest section.

use super::config::WatchmanConfig;
use super::{NIGHT_CATCH_UP, Watchman, actions, run};
use crate::approvals::BoxFuture;
use crate::audit::{self};
use crate::chat::command::{self, CommandError, CommandHelp, CommandSpec, TelegramAlias};
use crate::chat::message::ChatMessage;
use crate::config::{Config, Secrets, SectionSpec};
use crate::dispatch::Context;
use crate::domain::ApprovalId;
use crate::events::{JobKind, JobRun};
use crate::features::FeatureStatus;
use crate::plugin::{Build, CommandCall, Feature, JobSpec, Plug};
use crate::scheduler::CronSchedule;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

impl JobKind {
    /// The evening check (and stop, if nobody is working).
    pub const WATCHMAN_SHUTDOWN: JobKind = JobKind::new("watchman_shutdown");
    /// The morning start of what it stopped.
    pub const WATCHMAN_START: JobKind = JobKind::new("watchman_start");
    /// Stops whose notice ran out without a Keep online click.
    pub const WATCHMAN_DEADLINE: JobKind = JobKind::new("watchman_deadline");
}

/// Notices are checked for their deadline every minute.
const DEADLINE_CHECKS: &str = "* * * * *";

pub const PLUG: Plug = Plug {
    name: NAME,
    section: Some(SectionSpec::of::<WatchmanConfig>()),
    status: watchman_status,
    build,
    commands: COMMANDS,
    kinds: super::kinds::KINDS,
    cli: super::cli::CLI,
    off: run::off,
    api: super::api::API,
    pages: super::page::PAGES,
    webhooks: &[],
};

const NAME: &str = "night_watchman";

/// Longest hold `watchman keep-online` accepts.
pub const KEEP_ONLINE_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    word: "watchman",
    help: &[
        CommandHelp {
            usage: "watchman [status]",
            does: "tonight's staging shutdown: decision and reasons",
            example: "watchman status",
        },
        CommandHelp {
            usage: "watchman keep-online <duration> [reason]",
            does: "keep staging up for a while",
            example: "watchman keep-online 2h release testing",
        },
    ],
    runs_job: None,
    check: |_, args| parse(args).map(|_| ()),
    telegram: &[
        TelegramAlias {
            name: "watchman",
            stands_for: "watchman status",
            description: "tonight's staging shutdown: decision and reasons",
        },
        TelegramAlias {
            name: "keeponline",
            stands_for: "watchman keep-online",
            description: "keep staging up, e.g. /keeponline 2h release testing",
        },
    ],
}];

const WORDS: &[&str] = &["status", "keep-online"];

/// What `watchman …` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchmanCommand {
    Status,
    KeepOnline {
        duration: Duration,
        reason: Option<String>,
    },
}

/// Parses the words after `watchman`.
pub fn parse(rest: &[String]) -> Result<WatchmanCommand, CommandError> {
    let Some(sub) = rest.first() else {
        return Ok(WatchmanCommand::Status);
    };
    let sub = sub.to_lowercase();
    match sub.as_str() {
        "status" if rest.len() == 1 => Ok(WatchmanCommand::Status),
        "status" => Err(command::error("`watchman status` takes no arguments", None)),
        "keep-online" | "keeponline" | "keep_online" => {
            let Some(raw) = rest.get(1) else {
                return Err(command::error(
                    "`watchman keep-online` needs a duration, e.g. `2h` or `90m`",
                    None,
                ));
            };
            let duration = humantime::parse_duration(raw).map_err(|_| {
                command::error(
                    format!("`{raw}` is not a duration; use e.g. `2h`, `90m` or `1d`"),
                    None,
                )
            })?;
            if duration.is_zero() || duration > KEEP_ONLINE_MAX {
                return Err(command::error(
                    "the duration must be between 1 minute and 7 days",
                    None,
                ));
            }
            let reason = rest[2..].join(" ");
            Ok(WatchmanCommand::KeepOnline {
                duration,
                reason: (!reason.is_empty()).then_some(reason),
            })
        }
        other => Err(command::error(
            format!("unknown `watchman` command `{other}`"),
            command::closest(other, WORDS).map(|s| format!("watchman {s}")),
        )),
    }
}

fn build(b: Build<'_>) -> BoxFuture<'_, anyhow::Result<Option<Arc<dyn Feature>>>> {
    Box::pin(async move {
        if b.config.section::<WatchmanConfig>()?.is_none() {
            return Ok(None);
        }
        let watchman = Arc::new(Watchman::new(b.config, b.secrets, b.aws)?);
        actions::register(
            b.actions,
            watchman.clone(),
            b.store.clone(),
            b.audit.clone(),
            b.clock.clone(),
        );
        Ok(Some(watchman as Arc<dyn Feature>))
    })
}

impl Feature for Watchman {
    fn name(&self) -> &'static str {
        NAME
    }

    fn jobs(&self, config: &Config) -> anyhow::Result<Vec<JobSpec>> {
        let mut jobs = vec![
            // A missed evening check still runs if OpsMate is back during the night;
            // the check itself stops once morning has come.
            JobSpec {
                catch_up_window: Some(NIGHT_CATCH_UP),
                ..JobSpec::new(
                    JobKind::WATCHMAN_SHUTDOWN,
                    self.settings.shutdown_schedule(config.timezone)?,
                )
            },
            JobSpec::new(
                JobKind::WATCHMAN_DEADLINE,
                CronSchedule::parse(DEADLINE_CHECKS, config.timezone)?,
            ),
        ];
        if let Some(start) = self.settings.start_schedule(config.timezone)? {
            jobs.push(JobSpec::new(JobKind::WATCHMAN_START, start));
        }
        Ok(jobs)
    }

    fn run_job<'a>(
        &'a self,
        ctx: &'a Context,
        job: &'a JobRun,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            match job.job {
                JobKind::WATCHMAN_SHUTDOWN => run::evening(ctx, job).await,
                JobKind::WATCHMAN_START => run::morning(ctx).await,
                JobKind::WATCHMAN_DEADLINE => run::deadlines(ctx).await,
                other => anyhow::bail!("Night Watchman has no job {}", other.as_str()),
            }
        })
    }

    fn command<'a>(
        &'a self,
        ctx: &'a Context,
        call: CommandCall<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Vec<ChatMessage>>> {
        Box::pin(async move {
            // The arguments were checked before the call (`CommandSpec::check`).
            match parse(call.args)? {
                WatchmanCommand::Status => {
                    tracing::info!(from = %call.from, "command watchman status");
                    Ok(vec![run::status(ctx).await?])
                }
                WatchmanCommand::KeepOnline { duration, reason } => {
                    tracing::info!(from = %call.from, ?duration, "command watchman keep-online");
                    Ok(vec![
                        run::keep_online(ctx, &call.from.key(), duration, reason).await?,
                    ])
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
            let (stopped, savings) = ctx.store.call(move |c| numbers(c, start, end)).await?;
            Ok(Some(format!(
                "*Night Watchman*\n{}",
                if stopped == 0 {
                    "No instances stopped.".to_owned()
                } else {
                    format!("Stopped {stopped} instance(s), saving about ${savings:.2}.")
                }
            )))
        })
    }
}

/// Instances stopped in `[start, end)` and the savings their stops estimated.
fn numbers(
    c: &rusqlite::Connection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<(usize, f64)> {
    let stopped = audit::events_between(c, crate::audit::events::WATCHMAN_STOPPED, start, end)?;
    let mut approvals: Vec<String> = stopped
        .iter()
        .filter_map(|r| r.details["approval"].as_str().map(str::to_owned))
        .collect();
    approvals.sort();
    approvals.dedup();
    let mut savings = 0.0;
    for id in &approvals {
        let params: Option<String> = c
            .query_row("SELECT params FROM proposals WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .ok();
        savings += params
            .and_then(|p| serde_json::from_str::<super::actions::StopParams>(&p).ok())
            .and_then(|p| p.estimated_savings_usd)
            .unwrap_or(0.0);
    }
    Ok((stopped.len(), savings))
}

/// Night Watchman is on when `[watchman]` is present.
pub fn watchman_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let Ok(Some(w)) = config.section::<WatchmanConfig>() else {
        return FeatureStatus {
            name: "night_watchman",
            on: false,
            why: "add a [watchman] section to turn it on".into(),
        };
    };
    let signals = [
        (w.github_org.is_some() || !w.github_repos.is_empty()).then_some("GitHub"),
        (!w.linear_team_keys.is_empty()).then_some("Linear"),
        Some("holds"),
    ];
    let signals: Vec<&str> = signals.into_iter().flatten().collect();
    FeatureStatus {
        name: "night_watchman",
        on: true,
        why: format!(
            "instances tagged {:?}; check \"{}\", morning start \"{}\", {} mode; signals: {}; messages go to {}",
            w.tag_filters,
            w.shutdown_schedule,
            w.start_schedule,
            match w.mode {
                crate::features::watchman::config::WatchmanMode::Notice => "notice",
                crate::features::watchman::config::WatchmanMode::Approve => "approve",
            },
            signals.join(", "),
            crate::features::destinations_text(
                config,
                secrets,
                w.slack_channel.as_ref(),
                w.telegram_chat_id,
                ("watchman.slack_channel", "watchman.telegram_chat_id")
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
    fn every_watchman_command_parses() {
        assert_eq!(parse(&words("")), Ok(WatchmanCommand::Status));
        assert_eq!(parse(&words("status")), Ok(WatchmanCommand::Status));
        assert_eq!(
            parse(&words("keep-online 2h release testing")),
            Ok(WatchmanCommand::KeepOnline {
                duration: Duration::from_secs(7200),
                reason: Some("release testing".into())
            })
        );
        assert_eq!(
            parse(&words("keep-online 90m")),
            Ok(WatchmanCommand::KeepOnline {
                duration: Duration::from_secs(5400),
                reason: None
            })
        );
    }

    #[test]
    fn bad_watchman_arguments_are_explained() {
        assert_eq!(
            parse(&words("stauts")).unwrap_err().suggestion.as_deref(),
            Some("watchman status")
        );
        assert!(
            parse(&words("keep-online"))
                .unwrap_err()
                .message
                .contains("duration")
        );
        assert!(
            parse(&words("keep-online soon"))
                .unwrap_err()
                .message
                .contains("not a duration")
        );
        assert!(
            parse(&words("keep-online 30d"))
                .unwrap_err()
                .message
                .contains("7 days")
        );
    }
}
