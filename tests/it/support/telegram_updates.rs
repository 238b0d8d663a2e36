//! Telegram updates as the Bot API sends them: a typed command and a button press.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicI64, Ordering};

static UPDATE_ID: AtomicI64 = AtomicI64::new(1000);

/// A fresh `update_id` (Telegram's are increasing).
pub fn next_update_id() -> i64 {
    UPDATE_ID.fetch_add(1, Ordering::SeqCst)
}

pub fn command_update(chat: i64, user: i64, text: &str) -> Value {
    json!({
        "update_id": next_update_id(),
        "message": {
            "message_id": 5,
            "date": 1700000000,
            "chat": if chat < 0 { json!({"id": chat, "type": "supergroup", "title": "ops"}) } else { json!({"id": chat, "type": "private", "first_name": "A"}) },
            "from": {"id": user, "is_bot": false, "first_name": "Alice", "username": "alice"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": text.split(' ').next().unwrap().len()}]
        }
    })
}

pub fn callback_update(chat: i64, user: i64, data: &str, message_id: i64) -> Value {
    json!({
        "update_id": next_update_id(),
        "callback_query": {
            "id": format!("cb{}", next_update_id()),
            "from": {"id": user, "is_bot": false, "first_name": "Someone"},
            "message": {
                "message_id": message_id,
                "date": 1700000000,
                "chat": {"id": chat, "type": "supergroup", "title": "ops"},
                "from": {"id": 777000, "is_bot": true, "first_name": "OpsMate"},
                "text": "proposal"
            },
            "chat_instance": "-123456789",
            "data": data
        }
    })
}

/// The ops group the feature harnesses serve, its approver, and the webhook secret.
pub const TG_CHAT: i64 = -1001234567890;
pub const TG_ALICE: i64 = 42;
pub const TG_SECRET: &str = "webhook-secret-0123456789";

impl super::slack::SlackHarness {
    /// Presses an inline button (`callback_data`) on a Telegram message in
    /// [`TG_CHAT`] as `user`, through the webhook; returns the HTTP status.
    pub async fn press_telegram(&self, user: i64, data: &str, message_id: i64) -> u16 {
        reqwest::Client::new()
            .post(self.app.url("/telegram/webhook"))
            .header("x-telegram-bot-api-secret-token", TG_SECRET)
            .json(&callback_update(TG_CHAT, user, data, message_id))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}
