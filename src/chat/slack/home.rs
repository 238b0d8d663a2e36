//! Slack's App Home tab: what is waiting for the person who opens it (their pending
//! approvals, with the same buttons as in a channel), what is waiting for others,
//! and each running feature's overview (open incidents, check statuses, the last
//! scan's waste). It is drawn from the database each time it is opened
//! (`app_home_opened`) and after each click made on it, with the click's answer on top.

use super::{groups, send};
use crate::approvals::policy::policy_kinds;
use crate::chat::answers;
use crate::chat::message::{ChatMessage, Part};
use crate::dispatch::Context;
use crate::domain::{Actor, SlackUserId};
use serde_json::{Value, json};

/// Slack's limit on the blocks of a Home tab.
const MAX_HOME_BLOCKS: usize = 100;

/// Redraws `user`'s Home tab, with `notice` (the answer to their click) on top.
/// Does nothing when Slack's bot token is not set.
pub async fn publish(
    ctx: &Context,
    user: &SlackUserId,
    notice: Option<&ChatMessage>,
) -> anyhow::Result<()> {
    let Some(views) = ctx.slack_views.as_ref() else {
        return Ok(());
    };
    let view = view(ctx, user, notice).await?;
    views.publish(user, view).await
}

/// The sections of the tab, in order, as neutral messages.
pub async fn sections(
    ctx: &Context,
    user: &SlackUserId,
    notice: Option<&ChatMessage>,
) -> anyhow::Result<Vec<ChatMessage>> {
    let tz = ctx.config.timezone;
    let mut out: Vec<ChatMessage> = notice.cloned().into_iter().collect();
    let actor = Actor::Slack {
        user: user.clone(),
        groups: vec![],
    };
    let mut mine = Vec::new();
    let mut others = Vec::new();
    for p in ctx.gate.pending().await? {
        let kinds = policy_kinds(p.kind, &p.params);
        let as_decider = groups::resolve(ctx, &actor, &kinds).await;
        match ctx.gate.may_decide(&as_decider, &p) {
            Ok(()) => mine.push(answers::proposal(&p, true, tz)),
            Err(_) => others.push(format!(
                "• {} `{}` ({}), expires {}",
                answers::kind_label(p.kind),
                p.target,
                p.id,
                answers::local(p.expires_at, tz)
            )),
        }
    }
    out.push(ChatMessage::text(
        "Waiting for you",
        match mine.len() {
            0 => "Nothing is waiting for your decision.".to_owned(),
            n => format!("{n} proposal(s) wait for your decision."),
        },
    ));
    out.extend(mine);
    if !others.is_empty() {
        out.push(ChatMessage {
            title: "Waiting for others".into(),
            parts: vec![Part::Text(others.join("\n"))],
            footer: None,
        });
    }
    for feature in ctx.features.iter() {
        if let Some(section) = feature.overview(ctx).await? {
            out.push(section);
        }
    }
    Ok(out)
}

/// The `views.publish` view: the sections' blocks with a divider between them,
/// within Slack's block limit (what does not fit is said to be left out).
pub async fn view(
    ctx: &Context,
    user: &SlackUserId,
    notice: Option<&ChatMessage>,
) -> anyhow::Result<Value> {
    let sections = sections(ctx, user, notice).await?;
    Ok(json!({"type": "home", "blocks": blocks(&sections)?}))
}

fn blocks(sections: &[ChatMessage]) -> anyhow::Result<Vec<Value>> {
    let mut blocks: Vec<Value> = Vec::new();
    let mut left_out = 0;
    for section in sections {
        let mut own = Vec::new();
        for page in send::render(section)? {
            if let Some(b) = page.get("blocks").and_then(Value::as_array) {
                own.extend(b.iter().cloned());
            }
        }
        // One block is kept for the divider and one for the note of what is left out.
        if left_out > 0 || blocks.len() + own.len() + 2 > MAX_HOME_BLOCKS {
            left_out += 1;
            continue;
        }
        if !blocks.is_empty() {
            blocks.push(json!({"type": "divider"}));
        }
        blocks.extend(own);
    }
    if left_out > 0 {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": format!("{left_out} more section(s) do not fit here; `/opsmate approvals` lists every pending proposal.")}]}));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_home_stays_within_slacks_block_limit() {
        let many: Vec<ChatMessage> = (0..80)
            .map(|i| ChatMessage::text(format!("section {i}"), "text"))
            .collect();
        let b = blocks(&many).unwrap();
        assert!(b.len() <= MAX_HOME_BLOCKS, "{} blocks", b.len());
        let last = b.last().unwrap().to_string();
        assert!(last.contains("more section(s) do not fit"), "{last}");
        let view: slack_morphism::prelude::SlackView =
            serde_json::from_value(json!({"type": "home", "blocks": b})).unwrap();
        assert!(matches!(view, slack_morphism::prelude::SlackView::Home(_)));
    }
}
