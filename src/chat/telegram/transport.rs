//! Delivery of outbox rows through the Bot API with teloxide: `sendMessage`,
//! `editMessageText` and `answerCallbackQuery`, within Telegram's flood limits
//! (about one message a second per chat, twenty a minute per group) and honouring
//! `429 retry_after`.

use super::TelegramBot;
use crate::approvals::BoxFuture;
use crate::outbox::{Delivered, DeliveryError, Operation, OutboxMessage, Transport};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{CallbackQueryId, InlineKeyboardMarkup, MessageId, ParseMode};

/// Telegram's guidance: about one message a second to one chat, and no more than
/// twenty a minute to one group.
const CHAT_SPACING: Duration = Duration::from_secs(1);
const GROUP_WINDOW: Duration = Duration::from_secs(60);
const GROUP_MAX_PER_WINDOW: usize = 20;

/// The outbox payload of a Telegram row.
#[derive(Debug, Deserialize)]
pub struct Payload {
    /// HTML text (send and edit) or the callback answer's text.
    #[serde(default)]
    pub text: String,
    pub keyboard: Option<InlineKeyboardMarkup>,
    /// The message to edit.
    pub message_id: Option<i32>,
    /// The button press to answer.
    pub callback_query_id: Option<String>,
    #[serde(default)]
    pub show_alert: bool,
}

pub struct TelegramTransport {
    bot: TelegramBot,
    /// Recent sends per chat, newest last, within the group window.
    sent: Mutex<HashMap<i64, VecDeque<Instant>>>,
}

impl TelegramTransport {
    pub fn new(bot: TelegramBot) -> Self {
        Self {
            bot,
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves a send slot for the chat, or says how long to wait for one.
    fn flood_slot(&self, chat: i64) -> Result<(), DeliveryError> {
        self.wait_for_slot(chat)
            .map_err(|wait| DeliveryError::Retry {
                after: Some(wait),
                reason: "Telegram flood limit".into(),
            })
    }

    fn wait_for_slot(&self, chat: i64) -> Result<(), Duration> {
        let now = Instant::now();
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let recent = sent.entry(chat).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= GROUP_WINDOW)
        {
            recent.pop_front();
        }
        if let Some(last) = recent.back() {
            let since = now.duration_since(*last);
            if since < CHAT_SPACING {
                return Err(CHAT_SPACING - since);
            }
        }
        // Negative ids are groups and channels.
        if chat < 0
            && recent.len() >= GROUP_MAX_PER_WINDOW
            && let Some(oldest) = recent.front()
        {
            return Err(GROUP_WINDOW - now.duration_since(*oldest));
        }
        recent.push_back(now);
        Ok(())
    }

    async fn send(&self, msg: &OutboxMessage) -> Result<Delivered, DeliveryError> {
        let chat: i64 = msg
            .destination
            .channel
            .parse()
            .map_err(|_| DeliveryError::Permanent("Telegram chat id is not a number".into()))?;
        let payload: Payload = serde_json::from_value(msg.payload.clone())
            .map_err(|e| DeliveryError::Permanent(format!("payload does not fit: {e}")))?;
        match msg.operation {
            Operation::Respond => {
                let id = payload.callback_query_id.ok_or_else(|| {
                    DeliveryError::Permanent("callback answer without its query id".into())
                })?;
                let mut req = self.bot.answer_callback_query(CallbackQueryId(id));
                if !payload.text.is_empty() {
                    req = req.text(payload.text).show_alert(payload.show_alert);
                }
                match req.send().await {
                    Ok(_) => Ok(Delivered::default()),
                    // An answer older than Telegram keeps queries for cannot succeed later.
                    Err(RequestError::Api(e)) => Err(DeliveryError::Permanent(e.to_string())),
                    Err(e) => Err(classify(e)),
                }
            }
            Operation::Post => {
                self.flood_slot(chat)?;
                let mut req = self
                    .bot
                    .send_message(ChatId(chat), payload.text)
                    .parse_mode(ParseMode::Html);
                if let Some(k) = payload.keyboard {
                    req = req.reply_markup(k);
                }
                let sent = req.send().await.map_err(classify)?;
                Ok(Delivered {
                    remote_id: Some(sent.id.0.to_string()),
                })
            }
            Operation::Update => {
                let id = payload
                    .message_id
                    .ok_or_else(|| DeliveryError::Permanent("edit without a message id".into()))?;
                self.flood_slot(chat)?;
                let mut req = self
                    .bot
                    .edit_message_text(ChatId(chat), MessageId(id), payload.text)
                    .parse_mode(ParseMode::Html);
                // No keyboard in the payload removes the buttons.
                req = req.reply_markup(
                    payload
                        .keyboard
                        .unwrap_or_else(|| InlineKeyboardMarkup::new(Vec::<Vec<_>>::new())),
                );
                match req.send().await {
                    Ok(m) => Ok(Delivered {
                        remote_id: Some(m.id.0.to_string()),
                    }),
                    Err(RequestError::Api(teloxide::ApiError::MessageNotModified)) => {
                        Ok(Delivered::default())
                    }
                    Err(e) => Err(classify(e)),
                }
            }
        }
    }
}

fn classify(e: RequestError) -> DeliveryError {
    match e {
        RequestError::RetryAfter(secs) => DeliveryError::Retry {
            after: Some(secs.duration()),
            reason: "Telegram flood control (429)".into(),
        },
        // teloxide strips the URL (which holds the token) from network errors.
        RequestError::Network(e) => DeliveryError::Retry {
            after: None,
            reason: format!("network: {e}"),
        },
        RequestError::Api(e) => DeliveryError::Permanent(e.to_string()),
        RequestError::MigrateToChatId(id) => DeliveryError::Permanent(format!(
            "the group moved to chat {}; update the config",
            id.0
        )),
        // Telegram answered but not in a form teloxide reads: it most likely acted, and
        // retrying could post twice.
        other => DeliveryError::Permanent(other.to_string()),
    }
}

impl Transport for TelegramTransport {
    fn deliver<'a>(
        &'a self,
        message: &'a OutboxMessage,
    ) -> BoxFuture<'a, Result<Delivered, DeliveryError>> {
        Box::pin(self.send(message))
    }
}
