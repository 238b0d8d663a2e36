//! Rollback Pilot plugged in: it polls Argo CD, answers `/opsmate rollbacks`, runs
//! `rollback` proposals (the merge) and rewrites its messages after a decision.

use super::config::{RollbackConfig, TOKEN_VAR};
use super::merge::Merger;
use super::{Rollback, poll};
use crate::approvals::BoxFuture;
use crate::chat::command::{self, CommandHelp, CommandSpec, TelegramAlias};
use crate::chat::message::ChatMessage;
use crate::config::{Config, Secrets, SectionSpec};
use crate::dispatch::Context;
use crate::domain::{ActionKind, ApprovalId};
use crate::features::FeatureStatus;
use crate::plugin::{Build, CommandCall, Feature, Plug};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const PLUG: Plug = Plug {
    name: NAME,
    section: Some(SectionSpec::of::<RollbackConfig>()),
    status: rollback_status,
    build,
    commands: COMMANDS,
    kinds: super::kinds::KINDS,
    cli: super::cli::CLI,
    off: || {
        ChatMessage::text(
            "Rollback Pilot is off",
            "Add a [rollback] section with argocd_url and [[rollback.apps]], and set ARGOCD_TOKEN, to turn it on (see the README).",
        )
    },
    api: super::api::API,
    pages: &[],
    webhooks: &[],
};

const NAME: &str = "rollback";

/// Argo CD and GitHub calls time out after this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    word: "rollbacks",
    help: &[CommandHelp {
        usage: "rollbacks",
        does: "each Argo CD application's rollback state",
        example: "rollbacks",
    }],
    runs_job: None,
    check: command::no_arguments,
    telegram: &[TelegramAlias {
        name: "rollbacks",
        stands_for: "rollbacks",
        description: "each Argo CD application's rollback state",
    }],
}];

/// The shared Rollback Pilot, behind the feature (the merge handler holds it too).
pub struct RollbackFeature(pub Arc<Rollback>);

fn build(b: Build<'_>) -> BoxFuture<'_, anyhow::Result<Option<Arc<dyn Feature>>>> {
    Box::pin(async move {
        let Some(settings) = b.config.section::<RollbackConfig>()? else {
            return Ok(None);
        };
        let Some(token) = b.secrets.named(TOKEN_VAR).cloned() else {
            return Ok(None);
        };
        let argo = super::argocd::ArgoCd::new(&settings.argocd_url, Some(token), CALL_TIMEOUT)?;
        let github = crate::github::client(b.config, b.secrets, CALL_TIMEOUT)?;
        let rollback = Arc::new(Rollback {
            settings,
            argo,
            github,
            tz: b.config.timezone,
            metrics: b.metrics.rollback.clone(),
            wake: Default::default(),
            passing: Default::default(),
            announcing: Default::default(),
            rewrite_waiting: Default::default(),
            argo_calls: Default::default(),
            github_calls: Default::default(),
        });
        b.actions.register(
            ActionKind::ROLLBACK,
            Arc::new(Merger {
                rollback: rollback.clone(),
            }),
        );
        Ok(Some(Arc::new(RollbackFeature(rollback)) as Arc<dyn Feature>))
    })
}

impl Feature for RollbackFeature {
    fn name(&self) -> &'static str {
        NAME
    }

    fn command<'a>(
        &'a self,
        ctx: &'a Context,
        call: CommandCall<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Vec<ChatMessage>>> {
        Box::pin(async move {
            tracing::info!(from = %call.from, "command {}", call.word);
            Ok(vec![self.0.list(ctx).await?])
        })
    }

    /// A merge was decided or ended: the episode moves on and its message shows it.
    fn refresh<'a>(
        &'a self,
        ctx: &'a Context,
        ids: &'a [ApprovalId],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let mut ours = false;
            for id in ids {
                if let Some(p) = ctx.gate.get(id).await?
                    && p.kind == ActionKind::ROLLBACK
                {
                    ours = true;
                }
            }
            if ours {
                self.0.settle_decisions(ctx).await?;
                self.0.announce_once(ctx).await?;
            }
            Ok(())
        })
    }

    fn spawn(
        self: Arc<Self>,
        ctx: &Context,
        shutdown: &CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        vec![poll::spawn(ctx.clone(), self.0.clone(), shutdown.clone())]
    }
}

/// On when `[rollback]` is present and `ARGOCD_TOKEN` is set.
pub fn rollback_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let status = |on, why: String| FeatureStatus {
        name: NAME,
        on,
        why,
    };
    match config.section::<RollbackConfig>() {
        Ok(Some(r)) if secrets.named(TOKEN_VAR).is_some() => {
            let staging = r
                .apps
                .iter()
                .filter(|a| a.environment == super::config::Environment::Staging)
                .count();
            status(
                true,
                format!(
                    "watching {} Argo CD application(s) at {} every {} ({staging} in staging may merge on their own when all eight invariants hold); messages go to {}",
                    r.apps.len(),
                    r.argocd_url,
                    humantime::format_duration(r.poll_interval),
                    crate::features::destinations_text(
                        config,
                        secrets,
                        r.slack_channel.as_ref(),
                        r.telegram_chat_id,
                        ("rollback.slack_channel", "rollback.telegram_chat_id"),
                    )
                ),
            )
        }
        Ok(Some(_)) => status(
            false,
            format!(
                "[rollback] is present but {TOKEN_VAR} is not set: set it to an Argo CD API token"
            ),
        ),
        _ => status(false, "add a [rollback] section to turn it on".into()),
    }
}
