//! Billing plugged in: it takes Lemon Squeezy's webhook, answers `/opsmate billing`,
//! counts executed actions after every decision and finished action, sends usage
//! reports on its timer, turns actions to dry runs while the subscription has lapsed,
//! and adds its section to the digest.

use super::config::{BillingConfig, SIGNING_SECRET_VAR};
use super::{Billing, plans, status, store};
use crate::approvals::BoxFuture;
use crate::chat::command::{self, CommandHelp, CommandSpec, TelegramAlias};
use crate::chat::message::ChatMessage;
use crate::config::{Config, Secrets, SectionSpec};
use crate::dispatch::Context;
use crate::domain::ApprovalId;
use crate::features::FeatureStatus;
use crate::http::webhooks::Delivery;
use crate::plugin::{Build, CommandCall, Feature, Features, Plug};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const PLUG: Plug = Plug {
    name: NAME,
    section: Some(SectionSpec::of::<BillingConfig>()),
    status: billing_status,
    build,
    commands: COMMANDS,
    kinds: &[],
    cli: super::cli::CLI,
    off: || {
        ChatMessage::text(
            "Billing is off",
            "Add a [billing] section and set LEMONSQUEEZY_SIGNING_SECRET to take Lemon Squeezy's subscription webhooks (see the README).",
        )
    },
    api: &[],
    pages: &[],
    webhooks: super::webhook::WEBHOOKS,
};

const NAME: &str = "billing";

/// How often the timer counts usage, sends due reports and looks at `ends_at`.
const EVERY: Duration = Duration::from_secs(1);

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    word: "billing",
    help: &[CommandHelp {
        usage: "billing",
        does: "the subscription, this month's usage, the plan's caps",
        example: "billing",
    }],
    runs_job: None,
    check: command::no_arguments,
    telegram: &[TelegramAlias {
        name: "billing",
        stands_for: "billing",
        description: "the subscription, usage and plan caps",
    }],
}];

/// The running billing feature.
pub struct BillingFeature(pub Arc<Billing>);

fn build(b: Build<'_>) -> BoxFuture<'_, anyhow::Result<Option<Arc<dyn Feature>>>> {
    Box::pin(async move {
        let Some(settings) = b.config.section::<BillingConfig>()? else {
            return Ok(None);
        };
        let now = b.clock.now();
        let counting_since = b.store.call(move |c| store::counting_since(c, now)).await?;
        let http = reqwest::Client::builder()
            .timeout(super::report::SEND_TIMEOUT)
            .build()?;
        let billing = Arc::new(Billing {
            settings,
            tz: b.config.timezone,
            http,
            switch: b.dry_run_switch.clone(),
            counting_since,
            configured: plans::Configured::of(b.config),
            config: b.config.clone(),
            jobs: Default::default(),
            wake: Default::default(),
            counting: Default::default(),
        });
        // Lapsed already (the state survives a restart): the gate starts in dry run.
        billing.sync_lapse(b.store, now).await?;
        Ok(Some(Arc::new(BillingFeature(billing)) as Arc<dyn Feature>))
    })
}

impl BillingFeature {
    pub async fn status(&self, ctx: &Context) -> anyhow::Result<status::BillingStatus> {
        let b = &self.0;
        status::read(
            &b.settings,
            &ctx.secrets,
            &ctx.store,
            b.configured,
            b.jobs.get().copied(),
            ctx.clock.now(),
            b.tz,
        )
        .await
    }
}

impl Feature for BillingFeature {
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
            Ok(vec![status::message(&self.status(ctx).await?, self.0.tz)])
        })
    }

    /// A decision was made or an action ended: what executed is counted now.
    fn refresh<'a>(
        &'a self,
        ctx: &'a Context,
        _ids: &'a [ApprovalId],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { self.0.count_usage(ctx).await.map(drop) })
    }

    fn webhook<'a>(
        &'a self,
        ctx: &'a Context,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { self.0.take(ctx, delivery).await })
    }

    fn digest<'a>(
        &'a self,
        ctx: &'a Context,
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async move {
            let s = self.status(ctx).await?;
            Ok(Some(format!(
                "*Billing*\n{}",
                status::lines(&s, self.0.tz).join("\n")
            )))
        })
    }

    /// Every feature is built: their scheduled jobs are known, for the plan's cap.
    fn connect(&self, features: &Features) {
        let jobs: usize = features
            .iter()
            .filter_map(|f| f.jobs(&self.0.config).ok())
            .map(|j| j.len())
            .sum();
        let _ = self.0.jobs.set(u32::try_from(jobs).unwrap_or(u32::MAX));
    }

    fn spawn(
        self: Arc<Self>,
        ctx: &Context,
        shutdown: &CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let (ctx, shutdown, billing) = (ctx.clone(), shutdown.clone(), self.0.clone());
        vec![tokio::spawn(async move {
            loop {
                let pass = async {
                    billing.sync_lapse(&ctx.store, ctx.clock.now()).await?;
                    billing.count_usage(&ctx).await?;
                    billing.report_once(&ctx).await
                };
                if let Err(e) = pass.await {
                    tracing::warn!(error = %format!("{e:#}"), "billing pass failed; trying again");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = billing.wake.notified() => {}
                    _ = tokio::time::sleep(EVERY) => {}
                }
            }
        })]
    }
}

/// On when `[billing]` is present; says what is missing for the webhook and the
/// usage reports.
pub fn billing_status(config: &Config, secrets: &Secrets) -> FeatureStatus {
    let status = |on, why: String| FeatureStatus {
        name: NAME,
        on,
        why,
    };
    match config.section::<BillingConfig>() {
        Ok(Some(b)) => {
            let door = if secrets.named(SIGNING_SECRET_VAR).is_some() {
                "Lemon Squeezy webhooks at POST /billing/lemonsqueezy".to_owned()
            } else {
                format!(
                    "{SIGNING_SECRET_VAR} is not set, so POST /billing/lemonsqueezy is not served"
                )
            };
            let usage = if b.report_usage {
                format!("executed actions are counted and reported to {}", b.api_url)
            } else {
                "executed actions are counted (report_usage = false: not sent)".to_owned()
            };
            let missing = status::missing(&b, secrets);
            let tail = if missing.is_empty() {
                String::new()
            } else {
                format!("; not set: {}", missing.join("; "))
            };
            status(
                true,
                format!(
                    "{door}; {usage}; destructive actions turn to dry run while the subscription has lapsed{tail}"
                ),
            )
        }
        Ok(None) => status(false, "add a [billing] section to turn it on".into()),
        Err(e) => status(false, format!("{e:#}")),
    }
}
