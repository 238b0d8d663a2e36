//! The dispatcher's handlers for chat events: answering commands, deciding
//! proposals and updating their messages, and keeping the member directory.

use crate::approvals::{Decided, DecisionError, PostedAt, Proposal};
use crate::audit;
use crate::chat::answers;
use crate::chat::message::ChatMessage;
use crate::chat::slack::{members, send};
use crate::dispatch::Context;
use crate::domain::Actor;
use crate::events::{CommandRequest, DecisionRequest, DirectoryChange, ReplyTo};
use crate::store;
use serde_json::json;

/// How commands are typed on each platform, for help and "did you mean".
fn prefix(reply: &ReplyTo) -> &'static str {
    match reply {
        ReplyTo::SlackResponseUrl { .. } => "/opsmate ",
    }
}

/// Sends a private answer.
async fn reply(ctx: &Context, to: &ReplyTo, msg: &ChatMessage) -> anyhow::Result<()> {
    match to {
        ReplyTo::SlackResponseUrl { url, channel } => {
            send::respond(&ctx.outbox, url, channel, msg, false).await
        }
    }
}

/// Answers a command where it was typed.
pub async fn command(ctx: &Context, req: CommandRequest) -> anyhow::Result<()> {
    let prefix = prefix(&req.reply);
    let messages = match &req.parsed {
        Ok(command) => {
            tracing::info!(from = %req.from, ?command, "command");
            answers::answer(ctx, command, prefix).await?
        }
        Err(error) => vec![answers::not_understood(error, prefix)],
    };
    for msg in &messages {
        reply(ctx, &req.reply, msg).await?;
    }
    Ok(())
}

/// Decides a proposal for the clicker, then updates the proposal's message or
/// answers the clicker privately.
pub async fn decision(ctx: &Context, req: DecisionRequest) -> anyhow::Result<()> {
    let decider = with_groups(ctx, &req).await;
    let tz = ctx.config.timezone;
    match ctx.gate.decide(&req.approval, &decider, req.verdict).await {
        Ok(Decided::Executed(p)) | Ok(Decided::Rejected(p)) => show_decided(ctx, &p, &req).await,
        Ok(Decided::NeedsMoreApprovals { have, need, .. }) => {
            let msg = ChatMessage::text(
                "Approval recorded",
                format!(
                    "Your approval is recorded ({have} of {need}). It runs once {need} different people have approved."
                ),
            );
            match &req.reply {
                Some(to) => reply(ctx, to, &msg).await,
                None => Ok(()),
            }
        }
        Err(DecisionError::Internal(e)) => {
            if let Some(to) = &req.reply {
                reply(
                    ctx,
                    to,
                    &answers::refusal(&DecisionError::Internal(anyhow::anyhow!("internal")), tz),
                )
                .await?;
            }
            Err(e)
        }
        Err(refused) => match &req.reply {
            Some(to) => reply(ctx, to, &answers::refusal(&refused, tz)).await,
            None => Ok(()),
        },
    }
}

/// The clicker with the Slack user groups the kind's policy names, resolved now.
async fn with_groups(ctx: &Context, req: &DecisionRequest) -> Actor {
    let (Actor::Slack { user, .. }, Some(slack)) = (&req.decider, &ctx.slack_groups) else {
        return req.decider.clone();
    };
    let Ok(Some(p)) = ctx.gate.get(&req.approval).await else {
        return req.decider.clone();
    };
    let candidates = ctx
        .gate
        .config()
        .policy(p.kind)
        .map(|policy| policy.slack_groups.clone())
        .unwrap_or_default();
    if candidates.is_empty() {
        return req.decider.clone();
    }
    Actor::Slack {
        user: user.clone(),
        groups: slack.memberships(user, &candidates).await,
    }
}

/// Replaces the proposal's message with its outcome: the message it was posted as,
/// else the one clicked, else through the click's `response_url`.
async fn show_decided(ctx: &Context, p: &Proposal, req: &DecisionRequest) -> anyhow::Result<()> {
    let msg = answers::decided(p, ctx.config.timezone);
    let posted = p
        .posted
        .clone()
        .filter(|at| at.platform == "slack")
        .or_else(|| req.message.clone());
    match (posted, &req.reply) {
        (
            Some(PostedAt {
                channel,
                message_id,
                ..
            }),
            _,
        ) => send::update(&ctx.outbox, &channel, &message_id, &msg).await,
        (None, Some(ReplyTo::SlackResponseUrl { url, channel })) => {
            send::respond(&ctx.outbox, url, channel, &msg, true).await
        }
        (None, None) => Ok(()),
    }
}

/// Posts a proposal to a Slack channel, with its buttons (or the reason nobody can
/// approve it). Once Slack answers, the message id is recorded on the proposal.
pub async fn post_proposal_to_slack(
    ctx: &Context,
    p: &Proposal,
    channel: &str,
) -> anyhow::Result<()> {
    let msg = answers::proposal(p, ctx.gate.has_approvers(p.kind), ctx.config.timezone);
    send::post(&ctx.outbox, channel, &msg, Some(&p.id)).await
}

/// Keeps the member directory; a deactivation is audited (Access Guard acts on it).
pub async fn directory(ctx: &Context, change: DirectoryChange) -> anyhow::Result<()> {
    let DirectoryChange::SlackMember(member) = change;
    let now = ctx.clock.now();
    ctx.store
        .call(move |c| {
            store::immediate(c, |tx| {
                let before = members::upsert(tx, &member, now)?;
                let event = match (before, member.deleted) {
                    (None, false) => Some("directory.joined"),
                    (Some(false) | None, true) => Some("directory.deactivated"),
                    (Some(true), false) => Some("directory.reactivated"),
                    _ => None,
                };
                if let Some(event) = event {
                    audit::append(
                        tx,
                        now,
                        "slack",
                        event,
                        &member.user_id,
                        &json!({"email": member.email, "name": member.name, "via": member.event}),
                    )?;
                }
                Ok(())
            })
        })
        .await
}
