//! Turning Slack's payloads (as slack-morphism types) into platform-neutral events.
//! The HTTP endpoints and Socket Mode both call these, so both doors behave the same.

use super::reason;
use crate::approvals::{PostedAt, decision_note};
use crate::chat::command;
use crate::chat::message::parse_verdict_word;
use crate::domain::{Actor, ApprovalId, SlackUserId};
use crate::events::{
    CommandRequest, DecisionRequest, DirectoryChange, Event, PressRequest, ReasonRequest, ReplyTo,
};
use slack_morphism::prelude::*;

/// A payload OpsMate cannot act on. Answered with 400 over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPayload(pub String);

fn bad(msg: impl Into<String>) -> BadPayload {
    BadPayload(msg.into())
}

fn slack_actor(user: &str) -> Result<Actor, BadPayload> {
    let user = SlackUserId::parse(user).map_err(|e| bad(e.to_string()))?;
    // User groups are resolved by the dispatcher, only when a policy names groups.
    Ok(Actor::Slack {
        user,
        groups: vec![],
    })
}

/// `/opsmate …` → a command event (parsed here; a parse error is answered later).
pub fn command(ev: &SlackCommandEvent) -> Result<Event, BadPayload> {
    let text = ev.text.as_deref().unwrap_or_default();
    Ok(Event::Command(CommandRequest {
        from: slack_actor(ev.user_id.as_ref())?,
        parsed: command::parse(text),
        reply: ReplyTo::SlackResponseUrl {
            url: ev.response_url.0.to_string(),
            channel: ev.channel_id.to_string(),
        },
    }))
}

/// A button click → a decision event (a Reject first asks why); the reason
/// dialog's submission → the decision with its reason. Other interaction types are
/// not used.
pub fn interaction(ev: &SlackInteractionEvent) -> Result<Option<Event>, BadPayload> {
    let click = match ev {
        SlackInteractionEvent::BlockActions(click) => click,
        SlackInteractionEvent::ViewSubmission(submission) => return reason_given(submission),
        _ => return Ok(None),
    };
    let user = click
        .user
        .as_ref()
        .ok_or_else(|| bad("block_actions without a user"))?;
    let action = click
        .actions
        .as_ref()
        .and_then(|a| a.first())
        .ok_or_else(|| bad("block_actions without an action"))?;
    let action_id = action.action_id.to_string();
    let value = action
        .value
        .as_deref()
        .ok_or_else(|| bad("button without a value"))?;
    let channel = click
        .channel
        .as_ref()
        .map(|c| c.id.to_string())
        .or_else(|| match &click.container {
            SlackInteractionActionContainer::Message(m) => {
                m.channel_id.as_ref().map(|c| c.to_string())
            }
            _ => None,
        });
    let message = match (&click.container, &channel) {
        (SlackInteractionActionContainer::Message(m), Some(channel))
            if m.is_ephemeral != Some(true) =>
        {
            Some(PostedAt {
                platform: crate::outbox::Platform::Slack,
                channel: channel.clone(),
                message_id: m.message_ts.to_string(),
            })
        }
        _ => None,
    };
    let presser = slack_actor(user.id.as_ref())?;
    let reply = match (&click.response_url, &click.container) {
        (Some(url), _) => Some(ReplyTo::SlackResponseUrl {
            url: url.0.to_string(),
            channel: channel.clone().unwrap_or_default(),
        }),
        // OpsMate's only view with buttons is the Home tab.
        (None, SlackInteractionActionContainer::View(_)) => match &presser {
            Actor::Slack { user, .. } => Some(ReplyTo::SlackHome { user: user.clone() }),
            _ => None,
        },
        (None, _) => None,
    };
    let (verb, rest) = action_id
        .split_once(':')
        .ok_or_else(|| bad(format!("unknown action {action_id:?}")))?;
    if verb == PRESS_PREFIX {
        let (action, value) = press(rest, value)?;
        return Ok(Some(Event::Press(PressRequest {
            action,
            value,
            presser,
            reply,
            message,
        })));
    }
    let (verdict, asks_reason) =
        parse_verdict_word(verb).ok_or_else(|| bad(format!("unknown action {action_id:?}")))?;
    if value != rest {
        return Err(bad("button value and action id disagree"));
    }
    let approval = ApprovalId::parse(value).map_err(|e| bad(e.to_string()))?;
    if asks_reason {
        return Ok(Some(Event::AskReason(ReasonRequest {
            approval,
            decider: presser,
            verdict,
            trigger_id: click.trigger_id.to_string(),
            reply,
            message,
        })));
    }
    Ok(Some(Event::Decision(DecisionRequest {
        approval,
        decider: presser,
        verdict,
        reply,
        message,
        note: None,
    })))
}

/// The reason dialog submitted: the Reject it was opened for, with the reason.
fn reason_given(
    submission: &SlackInteractionViewSubmissionEvent,
) -> Result<Option<Event>, BadPayload> {
    let SlackView::Modal(modal) = &submission.view.view else {
        return Ok(None);
    };
    if modal.callback_id.as_ref().map(|c| c.as_ref()) != Some(reason::CALLBACK_ID) {
        return Ok(None);
    }
    let carried = modal
        .private_metadata
        .as_deref()
        .ok_or_else(|| bad("reason dialog without its metadata"))
        .and_then(|m| {
            reason::carried(m).map_err(|e| bad(format!("reason dialog metadata: {e}")))
        })?;
    let typed = submission
        .view
        .state_params
        .state
        .as_ref()
        .and_then(|s| s.values.get(&SlackBlockId::new(reason::BLOCK_ID.into())))
        .and_then(|b| b.get(&SlackActionId::new(reason::ACTION_ID.into())))
        .and_then(|v| v.value.as_deref())
        .unwrap_or_default();
    let note = decision_note(typed).map_err(bad)?;
    Ok(Some(Event::Decision(DecisionRequest {
        approval: carried.approval,
        decider: slack_actor(submission.user.id.as_ref())?,
        verdict: carried.verdict,
        reply: carried.reply,
        message: carried.message,
        note,
    })))
}

/// The verb of a feature button's action id: `press:<action>:<value>` (the value
/// repeated, since Slack wants action ids unique within a message).
pub const PRESS_PREFIX: &str = "press";

/// Reads a feature button's action and value, checking they agree.
fn press(rest: &str, value: &str) -> Result<(String, String), BadPayload> {
    let (action, in_id) = rest
        .split_once(':')
        .ok_or_else(|| bad(format!("unknown action press:{rest:?}")))?;
    if in_id != value {
        return Err(bad("button value and action id disagree"));
    }
    if !is_press_action(action) || value.len() > 200 {
        return Err(bad(format!("unknown action {action:?}")));
    }
    Ok((action.to_owned(), value.to_owned()))
}

/// `feature.verb`, lowercase words: what a feature button may name.
pub fn is_press_action(action: &str) -> bool {
    action.split_once('.').is_some_and(|(f, v)| {
        [f, v]
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    })
}

/// An Events API callback → a directory change for `team_join` and `user_change`,
/// a Home tab to draw for `app_home_opened`; other events are acknowledged and
/// ignored.
pub fn push(callback: &SlackPushEventCallback) -> Option<Event> {
    let (user, event) = match &callback.event {
        SlackEventCallbackBody::TeamJoin(e) => (&e.user, "team_join"),
        SlackEventCallbackBody::UserChange(e) => (&e.user, "user_change"),
        SlackEventCallbackBody::AppHomeOpened(e)
            if e.tab.as_deref().unwrap_or("home") == "home" =>
        {
            return SlackUserId::parse(e.user.as_ref())
                .ok()
                .map(Event::HomeOpened);
        }
        _ => return None,
    };
    let mut member = super::members::from_slack(user, event)?;
    member.team_id = member
        .team_id
        .or_else(|| Some(callback.team_id.to_string()));
    Some(Event::Directory(DirectoryChange::SlackMember(member)))
}
