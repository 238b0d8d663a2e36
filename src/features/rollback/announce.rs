//! Posting each episode's message once, rewriting it until it shows the episode as
//! it is, and announcing how it ended (recovered, still degraded, aborted) with a
//! message of its own, so an ending is seen and not only edited in.

use super::Rollback;
use super::message;
use super::poll::human;
use super::state::{AppRow, State};
use super::store;
use crate::approvals::Proposal;
use crate::chat::destinations::{Destinations, rewrite_tagged};
use crate::chat::message::ChatMessage;
use crate::dispatch::Context;
use crate::domain::ApprovalId;
use std::sync::atomic::Ordering;

/// A rewrite waits for every copy's first delivery, at most this long.
const DELIVERY_WAIT: chrono::Duration = chrono::Duration::minutes(15);

/// The tag of an episode's message.
pub fn tag(app: &str, episode: i64) -> String {
    format!("rollback:{app}:{episode}:")
}

impl Rollback {
    pub fn destinations(&self, ctx: &Context) -> Destinations {
        Destinations::configured(
            ctx,
            self.settings.slack_channel.as_ref(),
            self.settings.telegram_chat_id,
        )
    }

    async fn proposal_of(&self, ctx: &Context, row: &AppRow) -> anyhow::Result<Option<Proposal>> {
        match row.flow.proposal.as_deref().map(ApprovalId::parse) {
            Some(Ok(id)) => ctx.gate.get(&id).await,
            _ => Ok(None),
        }
    }

    /// The episode's message as it stands.
    pub async fn render(&self, ctx: &Context, row: &AppRow) -> anyhow::Result<Option<ChatMessage>> {
        let Some(cfg) = self.app(&row.app) else {
            return Ok(None);
        };
        let proposal = self.proposal_of(ctx, row).await?;
        let can_decide = proposal.as_ref().is_some_and(|p| ctx.gate.has_approvers(p));
        Ok(Some(message::render(
            self,
            cfg,
            row,
            proposal.as_ref(),
            can_decide,
        )))
    }

    /// Posts new episodes, rewrites changed ones and announces endings. Returns how
    /// many messages it posted or rewrote.
    pub async fn announce_once(&self, ctx: &Context) -> anyhow::Result<usize> {
        let _one_pass = self.announcing.lock().await;
        let to = self.destinations(ctx);
        let mut n = 0;
        for row in ctx.store.call(|c| store::unannounced(c)).await? {
            if let Some(msg) = self.render(ctx, &row).await? {
                to.post_tagged(ctx, &msg, &tag(&row.app, row.episode))
                    .await?;
                n += 1;
            }
            let (app, episode, version) = (row.app.clone(), row.episode, row.version);
            ctx.store
                .call(move |c| store::mark_announced(c, &app, episode, version))
                .await?;
        }
        let copies =
            usize::from(to.slack_channel.is_some()) + usize::from(to.telegram_chat.is_some());
        let mut waiting = false;
        for row in ctx.store.call(|c| store::behind(c)).await? {
            let t = tag(&row.app, row.episode);
            let delivered = ctx.outbox.tagged(&t).await?.len();
            let waited = ctx.clock.now() - row.since > DELIVERY_WAIT;
            if delivered < copies && !waited {
                waiting = true;
                continue;
            }
            if let Some(msg) = self.render(ctx, &row).await? {
                rewrite_tagged(ctx, &t, |_| Some(msg.clone())).await?;
                n += 1;
            }
            let (app, version) = (row.app.clone(), row.version);
            ctx.store
                .call(move |c| store::mark_shown(c, &app, version))
                .await?;
        }
        for row in ctx.store.call(|c| store::ended_unannounced(c)).await? {
            to.post(ctx, &ending(&row)).await?;
            n += 1;
            let (app, episode) = (row.app.clone(), row.episode);
            ctx.store
                .call(move |c| store::mark_followed(c, &app, episode))
                .await?;
        }
        self.rewrite_waiting.store(waiting, Ordering::Relaxed);
        Ok(n)
    }
}

/// The message saying how an episode ended.
pub fn ending(row: &AppRow) -> ChatMessage {
    let f = &row.flow;
    let pr = f
        .pull
        .as_ref()
        .map(|p| format!(" Pull request #{}: {}", p.number, p.url))
        .unwrap_or_default();
    let outcome = f.outcome.clone().unwrap_or_default();
    let (title, text) = match f.ended {
        Some(State::Recovered) => {
            let took = f
                .recovered_at
                .zip(f.degraded_since)
                .map(|(r, d)| human((r - d).to_std().unwrap_or_default()))
                .unwrap_or_default();
            (
                format!(
                    "✅ {} recovered after its rollback, {took} after it degraded",
                    row.app
                ),
                format!("{}: {outcome}.{pr}", row.app),
            )
        }
        Some(State::Failed) => (
            format!("❌ {} is still degraded after its rollback", row.app),
            format!("{}: {outcome}. Look at it now.{pr}", row.app),
        ),
        _ => (
            format!("⚠️ Rollback Pilot aborted for {}", row.app),
            format!("{}: {outcome}.{pr}", row.app),
        ),
    };
    ChatMessage::text(title, text)
}
