//! The dispatcher's handlers for chat events: answering commands, deciding
//! proposals and updating their messages, and keeping the member directory.

use crate::approvals::{Decided, DecisionError, Proposal};
use crate::audit;
use crate::chat::answers::{self, Surface};
use crate::chat::command::Command;
use crate::chat::message::{ChatMessage, Part, Press};
use crate::chat::slack::{groups, home, members, reason, send};
use crate::chat::telegram;
use crate::dispatch::Context;
use crate::domain::Actor;
use crate::events::{
    CommandRequest, DecisionRequest, DirectoryChange, PressRequest, ReasonRequest, ReplyTo,
};
use crate::executor::Hint;
use crate::outbox::Platform;
use crate::plugin::{CommandCall, CommandOwner, PressAnswer, PressCall};
use crate::store;
use serde_json::json;

/// Which platform an answer goes to, for the help and "did you mean".
fn surface(reply: &ReplyTo) -> Surface {
    match reply {
        ReplyTo::SlackResponseUrl { .. } | ReplyTo::SlackHome { .. } => Surface::Slack,
        ReplyTo::TelegramChat { .. } | ReplyTo::TelegramCallback { .. } => Surface::Telegram,
    }
}

/// Sends an answer: privately on Slack, to the chat on Telegram, and as the button
/// press's own answer (a dialog) for a Telegram click.
async fn reply(ctx: &Context, to: &ReplyTo, msg: &ChatMessage) -> anyhow::Result<()> {
    match to {
        ReplyTo::SlackResponseUrl { url, channel } => {
            send::respond(&ctx.outbox, url, channel, msg, false).await
        }
        ReplyTo::TelegramChat { chat_id } => {
            telegram::send::post(&ctx.outbox, *chat_id, msg, None).await
        }
        ReplyTo::TelegramCallback {
            chat_id,
            callback_id,
        } => {
            let text = msg
                .parts
                .iter()
                .find_map(|p| match p {
                    Part::Text(t) => Some(t.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| msg.title.clone());
            telegram::send::answer_callback(&ctx.outbox, *chat_id, callback_id, &text, true).await
        }
        ReplyTo::SlackHome { user } => home::publish(ctx, user, Some(msg)).await,
    }
}

/// Stops a Telegram client's spinner with a short note once the click decided.
async fn acknowledge_click(ctx: &Context, to: &Option<ReplyTo>, text: &str) -> anyhow::Result<()> {
    match to {
        Some(ReplyTo::TelegramCallback {
            chat_id,
            callback_id,
        }) => {
            telegram::send::answer_callback(&ctx.outbox, *chat_id, callback_id, text, false).await
        }
        // The Home tab is drawn again, showing the click's effect.
        Some(ReplyTo::SlackHome { user }) => {
            let notice = ChatMessage {
                title: text.to_owned(),
                ..ChatMessage::default()
            };
            home::publish(ctx, user, Some(&notice)).await
        }
        _ => Ok(()),
    }
}

/// Answers a command where it was typed: the core's own, or the feature's whose word
/// it is (a Telegram command first becomes the words it stands for).
pub async fn command(ctx: &Context, req: CommandRequest) -> anyhow::Result<()> {
    let surface = surface(&req.reply);
    let messages = match &req.parsed {
        Ok(Command::Feature {
            word,
            args,
            telegram,
        }) => {
            let words = if *telegram {
                ctx.commands.expand_telegram(word, args)
            } else {
                Some(
                    std::iter::once(word.clone())
                        .chain(args.iter().cloned())
                        .collect(),
                )
            };
            let owner = words
                .as_ref()
                .and_then(|w| Some((ctx.features.for_word(w.first()?)?, w)));
            match owner {
                None => vec![answers::not_understood(
                    &ctx.commands.unknown(word, *telegram),
                    &ctx.commands,
                    surface,
                )],
                // A mistake in the arguments is explained whether the feature is on.
                Some((_, words)) if let Some(e) = ctx.commands.check(words) => {
                    vec![answers::not_understood(&e, &ctx.commands, surface)]
                }
                Some((CommandOwner::Off(plug), _)) => vec![(plug.off)()],
                Some((CommandOwner::On(feature), words)) => {
                    feature
                        .command(
                            ctx,
                            CommandCall {
                                word: &words[0],
                                args: &words[1..],
                                from: &req.from,
                                reply: &req.reply,
                                surface,
                            },
                        )
                        .await?
                }
            }
        }
        Ok(command) => {
            tracing::info!(from = %req.from, ?command, "command");
            answers::answer(ctx, command, surface).await?
        }
        Err(error) => vec![answers::not_understood(error, &ctx.commands, surface)],
    };
    for msg in &messages {
        reply(ctx, &req.reply, msg).await?;
    }
    Ok(())
}

/// Decides a proposal for the clicker, then updates the proposal's message or
/// answers the clicker privately.
pub async fn decision(ctx: &Context, req: DecisionRequest) -> anyhow::Result<()> {
    let tz = ctx.config.timezone;
    let decider = with_groups(ctx, &req).await;
    let hint = Hint {
        message: req.message.clone(),
        reply: req.reply.clone(),
    };
    match ctx
        .gate
        .decide_noted(&req.approval, &decider, req.verdict, req.note.clone())
        .await
    {
        Ok(Decided::Approved(p)) => {
            acknowledge_click(ctx, &req.reply, "Approved: it runs now").await?;
            // The executor runs it and rewrites its messages when it ends.
            ctx.executor.submit(p.id, hint);
            Ok(())
        }
        Ok(Decided::Rejected(p)) => {
            acknowledge_click(ctx, &req.reply, "Rejected").await?;
            show_outcome(ctx, &p, &hint).await
        }
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

/// A Reject pressed in Slack: opens the reason dialog for someone who may decide
/// the proposal now. Anyone else, or a proposal no longer pending, gets the same
/// answer as a plain click (the gate refuses and audits it); without Slack's bot
/// token the click is decided as it is.
pub async fn ask_reason(ctx: &Context, req: ReasonRequest) -> anyhow::Result<()> {
    let Some(views) = ctx.slack_views.clone() else {
        return decision(ctx, req.decision()).await;
    };
    let Some(p) = ctx.gate.get(&req.approval).await? else {
        return decision(ctx, req.decision()).await;
    };
    let kinds = crate::approvals::policy::policy_kinds(p.kind, &p.params);
    let decider = groups::resolve(ctx, &req.decider, &kinds).await;
    if p.state != crate::approvals::ProposalState::Pending
        || p.expires_at <= ctx.clock.now()
        || ctx.gate.may_decide(&decider, &p).is_err()
    {
        return decision(ctx, req.decision()).await;
    }
    let carried = reason::Carried {
        approval: p.id.clone(),
        verdict: req.verdict,
        message: req.message.clone(),
        reply: req.reply.clone(),
    };
    if let Err(e) = views
        .open(&req.trigger_id, reason::dialog(&p, &carried)?)
        .await
    {
        tracing::warn!(approval = %p.id, error = %format!("{e:#}"), "the reason dialog did not open");
        if let Some(to) = &req.reply {
            let msg = ChatMessage::text(
                "Nothing was decided",
                "Slack did not open the dialog asking why. Press the button again.",
            );
            reply(ctx, to, &msg).await?;
        }
    }
    Ok(())
}

/// Hands a feature's button to its feature and answers the presser.
pub async fn press(ctx: &Context, req: PressRequest) -> anyhow::Result<()> {
    let feature_name = Press::feature_of(&req.action);
    let verb = req.action[feature_name.len()..].trim_start_matches('.');
    let Some(feature) = ctx.features.named(feature_name) else {
        let msg = ChatMessage::text(
            "Not available",
            format!("{feature_name} is off, so this button does nothing now."),
        );
        return match &req.reply {
            Some(to) => reply(ctx, to, &msg).await,
            None => Ok(()),
        };
    };
    let call = PressCall {
        verb,
        value: &req.value,
        presser: &req.presser,
        message: req.message.as_ref(),
    };
    match feature.press(ctx, call).await {
        Ok(PressAnswer::Done(note)) => acknowledge_click(ctx, &req.reply, &note).await,
        Ok(PressAnswer::Private(msg)) => match &req.reply {
            Some(to) => reply(ctx, to, &msg).await,
            None => Ok(()),
        },
        Err(e) => {
            if let Some(to) = &req.reply {
                let msg = ChatMessage::text(
                    "Something went wrong",
                    "OpsMate could not handle that button; the error is logged.",
                );
                reply(ctx, to, &msg).await?;
            }
            Err(e)
        }
    }
}

/// The clicker with the Slack user groups the kind's policy names, resolved now.
async fn with_groups(ctx: &Context, req: &DecisionRequest) -> Actor {
    let Ok(Some(p)) = ctx.gate.get(&req.approval).await else {
        return req.decider.clone();
    };
    let kinds = crate::approvals::policy::policy_kinds(p.kind, &p.params);
    groups::resolve(ctx, &req.decider, &kinds).await
}

/// Shows where a proposal stands now: a feature's report or notice is rewritten by
/// the feature (every copy); any other proposal message is replaced with its outcome.
/// The executor calls this when an action ends or finishes a part.
pub async fn show_outcome(ctx: &Context, p: &Proposal, hint: &Hint) -> anyhow::Result<()> {
    let on_feature_message = match hint.message.as_ref().or(p.posted.as_ref()) {
        Some(at) => ctx
            .outbox
            .tag_of(at.platform.as_str(), &at.channel, &at.message_id)
            .await?
            .is_some(),
        None => false,
    };
    ctx.features
        .refresh(ctx, std::slice::from_ref(&p.id))
        .await?;
    if on_feature_message {
        Ok(())
    } else {
        show_decided(ctx, p, hint).await
    }
}

/// Replaces the proposal's message with its outcome: the message clicked, else the
/// one it was posted as, else through the click's `response_url`.
async fn show_decided(ctx: &Context, p: &Proposal, hint: &Hint) -> anyhow::Result<()> {
    let msg = answers::decided(p, ctx.config.timezone);
    // The clicked message first (the proposal may be posted on both platforms), then
    // the one recorded when it was posted.
    let posted = hint.message.clone().or_else(|| p.posted.clone());
    match (posted, &hint.reply) {
        (Some(at), _) if at.platform == Platform::Telegram => {
            match (at.channel.parse::<i64>(), at.message_id.parse::<i32>()) {
                (Ok(chat), Ok(id)) => telegram::send::update(&ctx.outbox, chat, id, &msg).await,
                _ => anyhow::bail!(
                    "unreadable Telegram message address {}/{}",
                    at.channel,
                    at.message_id
                ),
            }
        }
        (Some(at), _) => send::update(&ctx.outbox, &at.channel, &at.message_id, &msg).await,
        (None, Some(ReplyTo::SlackResponseUrl { url, channel })) => {
            send::respond(&ctx.outbox, url, channel, &msg, true).await
        }
        (None, _) => Ok(()),
    }
}

/// Posts a proposal to a Slack channel, with its buttons (or the reason nobody can
/// approve it). Once Slack answers, the message id is recorded on the proposal.
pub async fn post_proposal_to_slack(
    ctx: &Context,
    p: &Proposal,
    channel: &str,
) -> anyhow::Result<()> {
    let msg = answers::proposal(p, ctx.gate.has_approvers(p), ctx.config.timezone);
    send::post(&ctx.outbox, channel, &msg, Some(&p.id)).await
}

/// Posts a proposal to a Telegram chat, with its inline keyboard.
pub async fn post_proposal_to_telegram(
    ctx: &Context,
    p: &Proposal,
    chat_id: i64,
) -> anyhow::Result<()> {
    let msg = answers::proposal(p, ctx.gate.has_approvers(p), ctx.config.timezone);
    telegram::send::post(&ctx.outbox, chat_id, &msg, Some(&p.id)).await
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
                    (None, false) => Some(crate::audit::events::DIRECTORY_JOINED),
                    (Some(false) | None, true) => Some(crate::audit::events::DIRECTORY_DEACTIVATED),
                    (Some(true), false) => Some(crate::audit::events::DIRECTORY_REACTIVATED),
                    _ => None,
                };
                if let Some(event) = event {
                    audit::append(
                        tx,
                        now,
                        "slack",
                        event,
                        member.user_id.as_str(),
                        &json!({"email": member.email, "name": member.name, "via": member.event}),
                    )?;
                }
                Ok(())
            })
        })
        .await
}
