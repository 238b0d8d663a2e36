//! Posting each incident's message once, and rewriting it until it shows the
//! incident as it is. Woken as soon as a recorded result or a button changed an
//! incident, and every second besides, so a restart picks up where it stopped.

use super::Incidents;
use super::escalate::queue;
use super::message::{self, View};
use super::remediate;
use super::store::{self, Incident};
use crate::chat::answers::local;
use crate::chat::destinations::{Destinations, rewrite_tagged};
use crate::chat::message::{ChatMessage, Part, Press};
use crate::dispatch::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A rewrite waits for every copy's first delivery, at most this long after the
/// incident opened; after that the copies that did arrive are rewritten anyway.
const DELIVERY_WAIT: chrono::Duration = chrono::Duration::minutes(15);
const EVERY: Duration = Duration::from_secs(1);

/// The tag of an incident's message (the colon keeps #1 apart from #12).
pub fn tag(id: i64) -> String {
    format!("incident:{id}:")
}

impl Incidents {
    pub fn destinations(&self, ctx: &Context) -> Destinations {
        Destinations::configured(ctx, self.slack_channel.as_ref(), self.telegram_chat_id)
    }

    /// The message of `incident` as it stands.
    pub async fn render(&self, ctx: &Context, incident: &Incident) -> anyhow::Result<ChatMessage> {
        let id = incident.id;
        let members = ctx.store.call(move |c| store::members(c, id)).await?;
        let fixes = remediate::fixes_of(ctx, id).await?;
        let sent = ctx.store.call(move |c| queue::of_incident(c, id)).await?;
        let offered = self.plans_for(&incident.check);
        Ok(message::render(&View {
            incident,
            members: &members,
            fixes: &fixes,
            sent: &sent,
            offered: &offered,
            mute_for: self.settings.mute_for,
            tz: self.tz,
            now: ctx.clock.now(),
        }))
    }

    /// Posts new incidents and rewrites changed ones. Returns how many messages it
    /// posted or rewrote.
    pub async fn announce_once(&self, ctx: &Context) -> anyhow::Result<usize> {
        let _one_at_a_time = self.announcing.lock().await;
        let to = self.destinations(ctx);
        let mut n = 0;
        for incident in ctx.store.call(|c| store::unannounced(c)).await? {
            let msg = self.render(ctx, &incident).await?;
            to.post_tagged(ctx, &msg, &tag(incident.id)).await?;
            let (id, version) = (incident.id, incident.version);
            ctx.store
                .call(move |c| store::mark_announced(c, id, version))
                .await?;
            n += 1;
        }
        let copies =
            usize::from(to.slack_channel.is_some()) + usize::from(to.telegram_chat.is_some());
        for incident in ctx.store.call(|c| store::behind(c)).await? {
            let delivered = ctx.outbox.tagged(&tag(incident.id)).await?.len();
            let waited = ctx.clock.now() - incident.opened_at > DELIVERY_WAIT;
            if delivered < copies && !waited {
                continue;
            }
            let msg = self.render(ctx, &incident).await?;
            rewrite_tagged(ctx, &tag(incident.id), |_| Some(msg.clone())).await?;
            let (id, version) = (incident.id, incident.version);
            ctx.store
                .call(move |c| store::mark_shown(c, id, version))
                .await?;
            n += 1;
        }
        Ok(n)
    }

    /// `/opsmate incidents`: the open ones, each with its buttons.
    pub async fn list(&self, ctx: &Context) -> anyhow::Result<Vec<ChatMessage>> {
        let open = ctx.store.call(|c| store::open_all(c)).await?;
        if open.is_empty() {
            return Ok(vec![ChatMessage::text(
                "No open incidents",
                "Every check that alerted has recovered.",
            )]);
        }
        let mut out = Vec::with_capacity(open.len());
        for incident in &open {
            out.push(self.render(ctx, incident).await?);
        }
        Ok(out)
    }

    /// The overview's section: one line per open incident, with Ack for those
    /// nobody has acknowledged yet.
    pub async fn overview(&self, ctx: &Context) -> anyhow::Result<ChatMessage> {
        let open = ctx.store.call(|c| store::open_all(c)).await?;
        if open.is_empty() {
            return Ok(ChatMessage::text(
                "🚨 Open incidents: none",
                "Every check that alerted has recovered.",
            ));
        }
        let now = ctx.clock.now();
        let lines: Vec<String> = open
            .iter()
            .map(|i| {
                let mut line = format!(
                    "• #{} {} ({}) since {}: {}",
                    i.id,
                    i.check,
                    i.severity,
                    local(i.opened_at, self.tz),
                    i.summary
                );
                if let Some(by) = &i.acked_by {
                    line.push_str(&format!("; acked by {by}"));
                }
                if i.is_muted(now) {
                    line.push_str("; muted");
                }
                line
            })
            .collect();
        let acks: Vec<Press> = open
            .iter()
            .filter(|i| i.acked_by.is_none())
            .map(|i| {
                Press::new(
                    format!("👋 Ack #{} {}", i.id, i.check),
                    message::ACK,
                    i.id.to_string(),
                )
            })
            .collect();
        let mut parts = vec![Part::Text(lines.join("\n"))];
        if !acks.is_empty() {
            parts.push(Part::Presses(acks));
        }
        Ok(ChatMessage {
            title: format!("🚨 Open incidents: {}", open.len()),
            parts,
            footer: None,
        })
    }
}

/// Runs the announcer until `shutdown`.
pub fn spawn(
    ctx: Context,
    incidents: Arc<Incidents>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = incidents.auto_once(&ctx).await {
                tracing::warn!(error = %format!("{e:#}"), "auto remediations could not start");
            }
            if let Err(e) = incidents.escalate_once(&ctx).await {
                tracing::warn!(error = %format!("{e:#}"), "incidents could not be escalated");
            }
            if let Err(e) = incidents.deliver_once(&ctx).await {
                tracing::warn!(error = %format!("{e:#}"), "escalations could not be sent");
            }
            if let Err(e) = incidents.announce_once(&ctx).await {
                tracing::warn!(error = %format!("{e:#}"), "incident messages could not be sent");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = incidents.wake.notified() => {}
                _ = tokio::time::sleep(EVERY) => {}
            }
        }
    })
}
