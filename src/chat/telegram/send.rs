//! Queuing Telegram messages in the outbox. Rendering happens here, once, so a retry
//! resends exactly the same message.

use super::html::{TelegramMessage, render};
use crate::chat::message::ChatMessage;
use crate::domain::ApprovalId;
use crate::outbox::{Destination, Operation, Outbox, Platform};
use serde_json::{Value, json};

/// Longest text `answerCallbackQuery` shows.
pub const MAX_CALLBACK_TEXT: usize = 200;

fn chat(chat_id: i64) -> Destination {
    Destination {
        platform: Platform::Telegram,
        channel: chat_id.to_string(),
    }
}

fn payload(m: &TelegramMessage) -> Value {
    json!({"text": m.html, "keyboard": m.keyboard})
}

/// Sends a message to a chat; if it presents a proposal, the message id Telegram
/// returns is recorded on the proposal (from the part carrying the buttons).
pub async fn post(
    outbox: &Outbox,
    chat_id: i64,
    msg: &ChatMessage,
    approval: Option<&ApprovalId>,
) -> anyhow::Result<()> {
    let parts = render(msg);
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        let link = if i == last { approval.cloned() } else { None };
        outbox
            .enqueue_for(chat(chat_id), Operation::Post, payload(part), link)
            .await?;
    }
    Ok(())
}

/// Sends a message that will be rewritten later: the part with the buttons (the
/// last) carries `tag`.
pub async fn post_tagged(
    outbox: &Outbox,
    chat_id: i64,
    msg: &ChatMessage,
    tag: &str,
) -> anyhow::Result<()> {
    let parts = render(msg);
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        if i == last {
            outbox
                .enqueue_tagged(chat(chat_id), payload(part), tag.to_owned())
                .await?;
        } else {
            outbox
                .enqueue(chat(chat_id), Operation::Post, payload(part))
                .await?;
        }
    }
    Ok(())
}

/// Replaces a sent message's text; the keyboard goes unless the message has buttons.
pub async fn update(
    outbox: &Outbox,
    chat_id: i64,
    message_id: i32,
    msg: &ChatMessage,
) -> anyhow::Result<()> {
    let parts = render(msg);
    let first = &parts[0];
    let mut p = payload(first);
    p["message_id"] = json!(message_id);
    outbox
        .enqueue(chat(chat_id), Operation::Update, p)
        .await
        .map(|_| ())
}

/// Answers a button press (stops the spinner); `alert` shows it as a dialog.
pub async fn answer_callback(
    outbox: &Outbox,
    chat_id: i64,
    callback_id: &str,
    text: &str,
    alert: bool,
) -> anyhow::Result<()> {
    let text: String = text.chars().take(MAX_CALLBACK_TEXT).collect();
    outbox
        .enqueue(
            chat(chat_id),
            Operation::Respond,
            json!({"callback_query_id": callback_id, "text": text, "show_alert": alert}),
        )
        .await
        .map(|_| ())
}
