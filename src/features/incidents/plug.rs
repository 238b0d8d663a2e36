//! Incidents plugged in: it listens to Observatory's notices, posts and rewrites
//! incident messages, answers their buttons and `/opsmate incidents`, and runs
//! `remediate` proposals.

use super::config::IncidentsConfig;
use super::remediate::{RemediateParams, Remediator};
use super::{Incidents, announce, store};
use crate::approvals::BoxFuture;
use crate::chat::command::{self, CommandHelp, CommandSpec, TelegramAlias};
use crate::chat::message::ChatMessage;
use crate::config::{Config, Secrets, SectionSpec};
use crate::dispatch::Context;
use crate::domain::{ActionKind, ApprovalId};
use crate::features::FeatureStatus;
use crate::features::observatory::Observatory;
use crate::features::observatory::config::ObservatoryConfig;
use crate::features::observatory::probes::Probes;
use crate::plugin::{Build, CommandCall, Feature, Features, Plug, PressAnswer, PressCall};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub const PLUG: Plug = Plug {
    name: NAME,
    section: Some(SectionSpec::of::<IncidentsConfig>()),
    status: incidents_status,
    build,
    commands: COMMANDS,
    kinds: super::kinds::KINDS,
    cli: &[],
    off: || {
        ChatMessage::text(
            "Incidents are off",
            "Add an [incidents] section (and an [observatory] section with checks) to the configuration to turn them on (see the README).",
        )
    },
    api: super::api::API,
    pages: &[],
    webhooks: &[],
};

const NAME: &str = "incidents";

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    word: "incidents",
    help: &[CommandHelp {
        usage: "incidents",
        does: "open incidents, with their buttons",
        example: "incidents",
    }],
    runs_job: None,
    check: command::no_arguments,
    telegram: &[TelegramAlias {
        name: "incidents",
        stands_for: "incidents",
        description: "open incidents, with their buttons",
    }],
}];

/// The shared Incidents, behind the feature (the remediation handler holds it too).
pub struct IncidentsFeature(pub Arc<Incidents>);

fn build(b: Build<'_>) -> BoxFuture<'_, anyhow::Result<Option<Arc<dyn Feature>>>> {
    Box::pin(async move {
        let Some(settings) = b.config.section::<IncidentsConfig>()? else {
            return Ok(None);
        };
        let Some(observatory) = b.config.section::<ObservatoryConfig>()? else {
            anyhow::bail!(
                "[incidents] needs an [observatory] section: incidents are opened by its alerts"
            );
        };
        let tz = observatory.timezone.unwrap_or(b.config.timezone);
        let incidents = Arc::new(Incidents::new(settings, &observatory, tz)?);
        if let Err((key, why)) = incidents.validate(&observatory) {
            anyhow::bail!("{key}: {why}");
        }
        b.actions.register(
            ActionKind::REMEDIATE,
            Arc::new(Remediator {
                incidents: incidents.clone(),
                probes: Probes::new(b.store.clone())?,
                aws: b.aws.clone(),
                audit: b.audit.clone(),
                clock: b.clock.clone(),
                http: reqwest::Client::builder()
                    .connect_timeout(std::time::Duration::from_secs(10))
                    .build()?,
                secrets: b.secrets.clone(),
            }),
        );
        Ok(Some(
            Arc::new(IncidentsFeature(incidents)) as Arc<dyn Feature>
        ))
    })
}

impl Feature for IncidentsFeature {
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
            self.0.list(ctx).await
        })
    }

    fn press<'a>(
        &'a self,
        ctx: &'a Context,
        call: PressCall<'a>,
    ) -> BoxFuture<'a, anyhow::Result<PressAnswer>> {
        Box::pin(self.0.on_press(ctx, call))
    }

    fn overview<'a>(
        &'a self,
        ctx: &'a Context,
    ) -> BoxFuture<'a, anyhow::Result<Option<ChatMessage>>> {
        Box::pin(async move { self.0.overview(ctx).await.map(Some) })
    }

    /// A remediation moved on: its incident's message shows it.
    fn refresh<'a>(
        &'a self,
        ctx: &'a Context,
        ids: &'a [ApprovalId],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for id in ids {
                let Some(p) = ctx.gate.get(id).await? else {
                    continue;
                };
                if p.kind != ActionKind::REMEDIATE {
                    continue;
                }
                let incident = p.params_as::<RemediateParams>()?.incident;
                ctx.store.call(move |c| store::bump(c, incident)).await?;
            }
            self.0.announce_once(ctx).await.map(|_| ())
        })
    }

    /// Listens to Observatory's results.
    fn connect(&self, features: &Features) {
        match features.get::<Observatory>() {
            Some(o) => o.listeners.add(self.0.clone()),
            None => tracing::warn!("incidents are on but Observatory is not running"),
        }
    }

    /// Runs the announcer.
    fn spawn(
        self: Arc<Self>,
        ctx: &Context,
        shutdown: &CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        vec![announce::spawn(
            ctx.clone(),
            self.0.clone(),
            shutdown.clone(),
        )]
    }
}

/// Incidents are on when `[incidents]` and `[observatory]` are present.
pub fn incidents_status(config: &Config, _secrets: &Secrets) -> FeatureStatus {
    let on = |why: String| FeatureStatus {
        name: NAME,
        on: true,
        why,
    };
    let off = |why: &str| FeatureStatus {
        name: NAME,
        on: false,
        why: why.into(),
    };
    match (
        config.section::<IncidentsConfig>(),
        config.section::<ObservatoryConfig>(),
    ) {
        (Ok(Some(i)), Ok(Some(o))) => {
            let offering = o
                .checks
                .iter()
                .filter(|c| !c.remediations.is_empty())
                .count();
            on(format!(
                "every alert opens an incident; {} remediation(s), offered by {offering} check(s)",
                i.remediations.len()
            ))
        }
        (Ok(Some(_)), _) => off("[incidents] needs an [observatory] section with checks"),
        _ => off("add an [incidents] section to turn them on"),
    }
}
