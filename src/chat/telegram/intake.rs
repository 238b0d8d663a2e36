//! What both Telegram doors (webhook and long polling) do with an update: drop a
//! redelivery, ignore strangers, and queue commands and button presses as events.

use super::commands;
use super::html::{parse_callback_data, parse_press_data};
use super::seen;
use crate::approvals::PostedAt;
use crate::audit::Audit;
use crate::clock::SharedClock;
use crate::domain::{Actor, TelegramUserId};
use crate::events::{
    CommandRequest, DecisionRequest, Event, EventQueue, PressRequest, ReplyTo, TryQueueError,
};
use crate::store::Store;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use teloxide::types::{MaybeInaccessibleMessage, Update, UpdateKind};

/// How often a chat that is not allowed gets an audit row.
const STRANGER_AUDIT_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// The event queue is full. The update is not marked handled, so Telegram's
    /// redelivery (webhook) or the next `getUpdates` (polling) brings it back.
    #[error("the event queue is full")]
    Busy,
}

/// Queues Telegram updates as events.
#[derive(Clone)]
pub struct TelegramIntake {
    pub queue: EventQueue,
    pub store: Store,
    pub audit: Audit,
    pub clock: SharedClock,
    pub allowed_chats: Arc<Vec<i64>>,
    strangers: Arc<Mutex<HashMap<i64, Instant>>>,
}

impl TelegramIntake {
    pub fn new(
        queue: EventQueue,
        store: Store,
        audit: Audit,
        clock: SharedClock,
        allowed_chats: Vec<i64>,
    ) -> Self {
        Self {
            queue,
            store,
            audit,
            clock,
            allowed_chats: Arc::new(allowed_chats),
            strangers: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Handles one update, once per `update_id`. Returns false for a redelivery.
    pub async fn update(&self, update: &Update) -> Result<bool, IntakeError> {
        let id = i64::from(update.id.0);
        let now = self.clock.now();
        let first = self
            .store
            .call(move |c| seen::first_delivery(c, id, now))
            .await
            .map_err(|e| IntakeError::Unavailable(format!("{e:#}")))?;
        if !first {
            return Ok(false);
        }
        let Some(event) = self.event_for(update).await else {
            return Ok(true);
        };
        // Never wait for room: a full queue is answered at once and the update comes
        // back later, so the webhook acknowledges in milliseconds even under load.
        if let Err(e) = self.queue.try_send(event) {
            let _ = self.store.call(move |c| seen::forget(c, id)).await;
            return Err(match e {
                TryQueueError::Full => IntakeError::Busy,
                TryQueueError::Closed => IntakeError::Unavailable(e.to_string()),
            });
        }
        Ok(true)
    }

    async fn event_for(&self, update: &Update) -> Option<Event> {
        match &update.kind {
            UpdateKind::Message(msg) => {
                let chat_id = msg.chat.id.0;
                let parsed = commands::parse(msg.text()?)?;
                let user = msg.from.as_ref()?;
                if !self.is_allowed(chat_id).await {
                    return None;
                }
                Some(Event::Command(CommandRequest {
                    from: Actor::Telegram(TelegramUserId(user.id.0 as i64)),
                    parsed,
                    reply: ReplyTo::TelegramChat { chat_id },
                }))
            }
            UpdateKind::CallbackQuery(q) => {
                let message = match &q.message {
                    Some(MaybeInaccessibleMessage::Regular(m)) => Some((m.chat.id.0, m.id.0)),
                    Some(MaybeInaccessibleMessage::Inaccessible(m)) => {
                        Some((m.chat.id.0, m.message_id.0))
                    }
                    None => None,
                };
                let chat_id = message.map(|(c, _)| c)?;
                if !self.is_allowed(chat_id).await {
                    return None;
                }
                let reply = Some(ReplyTo::TelegramCallback {
                    chat_id,
                    callback_id: q.id.0.clone(),
                });
                let posted = message.map(|(chat, id)| PostedAt {
                    platform: crate::outbox::Platform::Telegram,
                    channel: chat.to_string(),
                    message_id: id.to_string(),
                });
                let presser = Actor::Telegram(TelegramUserId(q.from.id.0 as i64));
                if let Some((action, value)) = q.data.as_deref().and_then(parse_press_data) {
                    return Some(Event::Press(PressRequest {
                        action,
                        value,
                        presser,
                        reply,
                        message: posted,
                    }));
                }
                let (verdict, approval) = q.data.as_deref().and_then(parse_callback_data)?;
                Some(Event::Decision(DecisionRequest {
                    approval,
                    decider: presser,
                    verdict,
                    reply,
                    message: posted,
                    note: None,
                }))
            }
            _ => None,
        }
    }

    /// Allowed chats are served. Others are ignored without a reply, with one audit
    /// row per chat per hour.
    async fn is_allowed(&self, chat_id: i64) -> bool {
        if self.allowed_chats.contains(&chat_id) {
            return true;
        }
        let audit_now = {
            let mut seen = self.strangers.lock().unwrap_or_else(|e| e.into_inner());
            match seen.get(&chat_id) {
                Some(at) if at.elapsed() < STRANGER_AUDIT_EVERY => false,
                _ => {
                    seen.insert(chat_id, Instant::now());
                    true
                }
            }
        };
        if audit_now {
            tracing::warn!(
                chat_id,
                "ignored a Telegram update from a chat that is not allowed"
            );
            if let Err(e) = self
                .audit
                .record(
                    format!("telegram-chat:{chat_id}"),
                    crate::audit::events::TELEGRAM_CHAT_IGNORED,
                    chat_id.to_string(),
                    json!({"note": "chat not in telegram.allowed_chat_ids; ignored, no reply"}),
                )
                .await
            {
                tracing::error!(error = %format!("{e:#}"), "could not audit an ignored Telegram chat");
            }
        }
        false
    }
}
