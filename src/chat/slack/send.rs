//! Queuing Slack messages in the outbox: new posts, updates of a posted message, and
//! private answers through a `response_url`. Rendering happens here, once, so a retry
//! resends exactly the same message.

use super::render::SlackRenderer;
use crate::chat::message::ChatMessage;
use crate::domain::ApprovalId;
use crate::outbox::{Destination, Operation, Outbox, Platform};
use serde_json::Value;
use std::sync::OnceLock;

fn renderer() -> &'static SlackRenderer {
    static RENDERER: OnceLock<SlackRenderer> = OnceLock::new();
    RENDERER.get_or_init(SlackRenderer::new)
}

/// A message's `chat.postMessage` payloads (`{"text", "blocks"}`), one per page.
pub fn render(msg: &ChatMessage) -> anyhow::Result<Vec<Value>> {
    renderer().render(msg)
}

fn slack(channel: &str) -> Destination {
    Destination {
        platform: Platform::Slack,
        channel: channel.to_owned(),
    }
}

fn with(mut payload: Value, key: &str, value: impl Into<Value>) -> Value {
    if let Some(obj) = payload.as_object_mut() {
        obj.insert(key.to_owned(), value.into());
    }
    payload
}

/// Posts a message to a channel. When it presents a proposal, the message id Slack
/// returns is recorded on the proposal (first page).
pub async fn post(
    outbox: &Outbox,
    channel: &str,
    msg: &ChatMessage,
    approval: Option<&ApprovalId>,
) -> anyhow::Result<()> {
    for (i, page) in renderer().render(msg)?.into_iter().enumerate() {
        let link = if i == 0 { approval.cloned() } else { None };
        outbox
            .enqueue_for(slack(channel), Operation::Post, page, link)
            .await?;
    }
    Ok(())
}

/// Posts a message that will be rewritten later: its first page carries `tag`.
pub async fn post_tagged(
    outbox: &Outbox,
    channel: &str,
    msg: &ChatMessage,
    tag: &str,
) -> anyhow::Result<()> {
    for (i, page) in renderer().render(msg)?.into_iter().enumerate() {
        if i == 0 {
            outbox
                .enqueue_tagged(slack(channel), page, tag.to_owned())
                .await?;
        } else {
            outbox
                .enqueue(slack(channel), Operation::Post, page)
                .await?;
        }
    }
    Ok(())
}

/// Replaces a posted message (`chat.update`). An update is one message: only the
/// first page is used.
pub async fn update(
    outbox: &Outbox,
    channel: &str,
    ts: &str,
    msg: &ChatMessage,
) -> anyhow::Result<()> {
    if let Some(page) = renderer().render(msg)?.into_iter().next() {
        outbox
            .enqueue(slack(channel), Operation::Update, with(page, "ts", ts))
            .await?;
    }
    Ok(())
}

/// Answers through a `response_url`: private to the person unless `replace_original`
/// rewrites the message they clicked on.
/// The queue of answers through one `response_url`: its pages stay in order, and
/// answers to other people do not wait behind it. The URL itself (a credential for
/// 30 minutes) is kept only in the payload; the queue is named by its hash.
fn response_queue(channel: &str, response_url: &str) -> Destination {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(response_url.as_bytes()));
    Destination {
        platform: Platform::Slack,
        channel: format!("{channel}/respond-{}", &digest[..16]),
    }
}

pub async fn respond(
    outbox: &Outbox,
    response_url: &str,
    channel: &str,
    msg: &ChatMessage,
    replace_original: bool,
) -> anyhow::Result<()> {
    for (i, page) in renderer().render(msg)?.into_iter().enumerate() {
        let payload = with(
            with(page, "response_url", response_url),
            "replace_original",
            replace_original && i == 0,
        );
        outbox
            .enqueue(
                response_queue(channel, response_url),
                Operation::Respond,
                payload,
            )
            .await?;
    }
    Ok(())
}
