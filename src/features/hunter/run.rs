//! The scheduled hunt and `/opsmate zombies`: hunt, propose, post the report.

use super::hunt::{self, HuntResult};
use super::report;
use super::{Hunter, ZombieKind};
use crate::chat::destinations::Destinations;
use crate::chat::message::ChatMessage;
use crate::dispatch::Context;
use crate::events::ReplyTo;
use crate::metrics::KindLabels;
use std::sync::Arc;

fn hunter(ctx: &Context) -> Option<Arc<Hunter>> {
    ctx.features.get::<Hunter>()
}

async fn hunt_now(ctx: &Context, hunter: &Hunter, actor: &str) -> anyhow::Result<HuntResult> {
    let result = hunt::hunt(hunter, &ctx.store, &ctx.audit, ctx.clock.now(), &[], actor).await?;
    for kind in ZombieKind::ALL {
        let of_kind = result.findings.iter().filter(|f| f.kind == kind);
        let labels = KindLabels {
            kind: kind.as_str().to_owned(),
        };
        ctx.metrics
            .hunter_findings
            .get_or_create(&labels)
            .set(of_kind.clone().count() as i64);
        ctx.metrics
            .hunter_monthly_usd
            .get_or_create(&labels)
            .set(of_kind.map(|f| f.monthly_cost_usd).sum());
    }
    Ok(result)
}

/// Where the scheduled report goes: `hunter.slack_channel` (else the alert channel)
/// and `hunter.telegram_chat_id` (else the alert chat), where those platforms are on.
pub fn scheduled_destinations(ctx: &Context, hunter: &Hunter) -> Destinations {
    Destinations::configured(
        ctx,
        hunter.settings.slack_channel.as_ref(),
        hunter.settings.telegram_chat_id,
    )
}

/// The weekday-morning job.
pub async fn scheduled(ctx: &Context) -> anyhow::Result<()> {
    let Some(hunter) = hunter(ctx) else {
        return Ok(());
    };
    let hunter = &*hunter;
    let result = hunt_now(ctx, hunter, "scheduler").await?;
    let to = scheduled_destinations(ctx, hunter);
    if to.is_empty() {
        tracing::warn!(
            found = result.findings.len(),
            "Zombie Hunter has nowhere to post: set hunter.slack_channel or slack.alert_channel, or a Telegram chat"
        );
        return Ok(());
    }
    let stored = report::propose(ctx, &result).await?;
    report::post(ctx, &stored, &to).await
}

/// `/opsmate zombies`: the report is posted where it was asked (so its buttons can
/// be updated), and the asker gets a short answer.
pub async fn on_demand(
    ctx: &Context,
    reply: &ReplyTo,
    asked_by: &str,
) -> anyhow::Result<Vec<ChatMessage>> {
    let Some(hunter) = hunter(ctx) else {
        return Ok(vec![ChatMessage::text(
            "Zombie Hunter is off",
            "Add a [hunter] section to the configuration to turn it on (see the README). `opsmate zombies` on the command line works without it.",
        )]);
    };
    let hunter = &*hunter;
    let result = hunt_now(ctx, hunter, asked_by).await?;
    let to = match reply {
        ReplyTo::SlackResponseUrl { channel, .. } => Destinations {
            slack_channel: Some(channel.clone()),
            telegram_chat: None,
        },
        ReplyTo::TelegramChat { chat_id } | ReplyTo::TelegramCallback { chat_id, .. } => {
            Destinations {
                slack_channel: None,
                telegram_chat: Some(*chat_id),
            }
        }
        // Commands are not typed on the Home tab; its report goes where reports go.
        ReplyTo::SlackHome { .. } => Destinations {
            slack_channel: ctx.config.slack.alert_channel.clone(),
            telegram_chat: None,
        },
    };
    let stored = report::propose(ctx, &result).await?;
    report::post(ctx, &stored, &to).await?;
    Ok(match reply {
        ReplyTo::SlackResponseUrl { .. } => vec![ChatMessage::text(
            "Zombie Hunter",
            format!(
                "Found {} idle resource(s) costing ${:.2}/month{}. The report with its Delete buttons is posted in this channel.",
                result.findings.len(),
                result.total_usd(),
                match result.failed_regions().count() {
                    0 => String::new(),
                    n => format!("; {n} region(s) could not be scanned"),
                }
            ),
        )],
        // On Telegram the report itself is the answer.
        _ => Vec::new(),
    })
}
