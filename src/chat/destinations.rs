//! Where a feature's messages go (a Slack channel and a Telegram chat), and the
//! tagged messages a feature rewrites as things change (a report, a notice).

use crate::chat::message::ChatMessage;
use crate::chat::slack::send as slack_send;
use crate::chat::telegram::send as telegram_send;
use crate::dispatch::Context;
use crate::outbox::Platform;

/// A Slack channel and a Telegram chat, either or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinations {
    pub slack_channel: Option<String>,
    pub telegram_chat: Option<i64>,
}

impl Destinations {
    /// A feature's own channel and chat, else the alert channel and chat; each only
    /// where that platform's bot token is set.
    pub fn configured(ctx: &Context, slack: Option<&String>, telegram: Option<i64>) -> Self {
        Self::resolve(&ctx.config, &ctx.secrets, slack, telegram)
    }

    /// [`Destinations::configured`] from the configuration alone (start-up report).
    pub fn resolve(
        c: &crate::config::Config,
        s: &crate::config::Secrets,
        slack: Option<&String>,
        telegram: Option<i64>,
    ) -> Self {
        Self {
            slack_channel: s
                .slack_bot_token
                .as_ref()
                .and(slack.or(c.slack.alert_channel.as_ref()).cloned()),
            telegram_chat: s
                .telegram_bot_token
                .as_ref()
                .and(telegram.or(c.telegram.alert_chat_id)),
        }
    }

    /// Where the messages go, e.g. `slack:C0OPS, telegram:-1001`.
    pub fn describe(&self) -> String {
        let mut to: Vec<String> = self
            .slack_channel
            .iter()
            .map(|c| format!("slack:{c}"))
            .collect();
        to.extend(self.telegram_chat.iter().map(|c| format!("telegram:{c}")));
        to.join(", ")
    }

    pub fn is_empty(&self) -> bool {
        self.slack_channel.is_none() && self.telegram_chat.is_none()
    }

    /// Posts to each destination.
    pub async fn post(&self, ctx: &Context, msg: &ChatMessage) -> anyhow::Result<()> {
        if let Some(channel) = &self.slack_channel {
            slack_send::post(&ctx.outbox, channel, msg, None).await?;
        }
        if let Some(chat) = self.telegram_chat {
            telegram_send::post(&ctx.outbox, chat, msg, None).await?;
        }
        Ok(())
    }

    /// Posts to each destination with a tag, so [`rewrite_tagged`] can update it.
    pub async fn post_tagged(
        &self,
        ctx: &Context,
        msg: &ChatMessage,
        tag: &str,
    ) -> anyhow::Result<()> {
        if let Some(channel) = &self.slack_channel {
            slack_send::post_tagged(&ctx.outbox, channel, msg, tag).await?;
        }
        if let Some(chat) = self.telegram_chat {
            telegram_send::post_tagged(&ctx.outbox, chat, msg, tag).await?;
        }
        Ok(())
    }
}

/// Rewrites every delivered message whose tag starts with `prefix`, on every platform,
/// with what `render` says for its tag (`None` leaves it alone).
pub async fn rewrite_tagged(
    ctx: &Context,
    prefix: &str,
    render: impl Fn(&str) -> Option<ChatMessage>,
) -> anyhow::Result<()> {
    for m in ctx.outbox.tagged(prefix).await? {
        let Some(msg) = render(&m.tag) else {
            continue;
        };
        match Platform::parse(&m.platform) {
            Some(Platform::Slack) => {
                slack_send::update(&ctx.outbox, &m.channel, &m.message_id, &msg).await?
            }
            Some(Platform::Telegram) => {
                match (m.channel.parse::<i64>(), m.message_id.parse::<i32>()) {
                    (Ok(chat), Ok(id)) => {
                        telegram_send::update(&ctx.outbox, chat, id, &msg).await?
                    }
                    _ => {
                        tracing::warn!(channel = %m.channel, message = %m.message_id, "unreadable Telegram message address")
                    }
                }
            }
            None => {}
        }
    }
    Ok(())
}
