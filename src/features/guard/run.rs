//! Access Guard's job and commands: the daily scan that asks about people past their
//! grace period, `access` and `access keep`, and what happens after a decision (Keep
//! access is recorded; a revocation cut off part-way is put up again to finish).

use super::details;
use super::messages;
use super::revoke::RevokeParams;
use super::scan::{self, Kept, Revocation, Scan, UserReport};
use super::{Guard, PROPOSER, store};
use crate::approvals::{
    Decided, DecisionError, NewProposal, Proposal, ProposalState, Proposed, Verdict,
};
use crate::chat::answers;
use crate::chat::destinations::{Destinations, rewrite_tagged};
use crate::chat::message::ChatMessage;
use crate::cloud::ids::IamUserName;
use crate::dispatch::Context;
use crate::domain::{ActionKind, Actor, ApprovalId};
use crate::features::guard::config::RevokeStep;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;

/// Tag prefix of revocation requests: `guard:<approval id>`.
const TAG_PREFIX: &str = "guard:";

fn guard(ctx: &Context) -> Option<Arc<Guard>> {
    ctx.features.get::<Guard>()
}

fn destinations(ctx: &Context, g: &Guard) -> Destinations {
    Destinations::configured(
        ctx,
        ctx.config.slack.security_channel.as_ref(),
        g.settings.telegram_chat_id,
    )
}

/// The daily job.
pub async fn scheduled(ctx: &Context) -> anyhow::Result<()> {
    match guard(ctx) {
        Some(g) => scan_and_ask(ctx, &g).await.map(|_| ()),
        None => Ok(()),
    }
}

/// Scans, then asks about everyone departed and not yet asked.
pub async fn scan_and_ask(ctx: &Context, g: &Guard) -> anyhow::Result<Scan> {
    let mut scan = scan::scan(ctx, g).await?;
    let due = scan.users.iter().filter(|u| u.to_propose()).count();
    let limit = g.settings.max_requests_per_scan;
    if due > limit {
        scan.notes.push(format!(
            "{due} departed users are due; {limit} were asked about now (guard.max_requests_per_scan), the rest at the next scans"
        ));
    }
    for u in scan.users.iter_mut().filter(|u| u.to_propose()).take(limit) {
        match ask(ctx, g, u).await {
            Ok(Some(p)) => {
                u.revocation = Some(Revocation {
                    approval: p.id.to_string(),
                    state: p.state,
                })
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(user = %u.user, error = %format!("{e:#}"), "could not ask about a departed user")
            }
        }
    }
    Ok(scan)
}

/// Steps done by an earlier revocation of `user` that did not finish.
async fn done_before(ctx: &Context, user: &str) -> anyhow::Result<Vec<RevokeStep>> {
    let user = user.to_owned();
    let done = ctx.store.call(move |c| store::done_steps(c, &user)).await?;
    Ok(RevokeStep::ALL
        .into_iter()
        .filter(|s| done.contains_key(s.as_str()))
        .collect())
}

/// Proposes the revocation of a departed user and posts the request.
async fn ask(ctx: &Context, g: &Guard, u: &UserReport) -> anyhow::Result<Option<Proposal>> {
    let details = details::gather(&g.aws.iam(), &u.iam).await?;
    let resumes = u
        .revocation
        .as_ref()
        .filter(|r| matches!(r.state, ProposalState::Failed | ProposalState::Interrupted))
        .map(|r| format!("approval {}, {}", r.approval, r.state));
    let params = RevokeParams {
        user: IamUserName::parse(&u.user)?,
        email: u.email.clone(),
        github_login: u.github_login.clone(),
        missing_from: u.missing_from.clone(),
        since: u.since,
        steps: g.settings.steps.clone(),
        delete_user: g.settings.delete_user,
        details,
        done_before: done_before(ctx, &u.user).await?,
        resumes,
    };
    propose(ctx, g, params).await
}

async fn propose(
    ctx: &Context,
    g: &Guard,
    params: RevokeParams,
) -> anyhow::Result<Option<Proposal>> {
    let reason = format!(
        "{} ({}) has left: missing from {}{}. Revoke their AWS access?",
        params.user,
        params.email.as_deref().unwrap_or("no email"),
        params.missing_from.join(", "),
        params
            .since
            .map(|t| format!(" since {}", answers::local(t, g.tz)))
            .unwrap_or_default()
    );
    let proposed = ctx
        .gate
        .propose(NewProposal {
            kind: ActionKind::REVOKE_ACCESS,
            target: Guard::target(params.user.as_str()),
            params: serde_json::to_value(&params)?,
            reason,
            proposed_by: PROPOSER.into(),
        })
        .await?;
    let Proposed::Created(p) = proposed else {
        return Ok(None);
    };
    let msg = messages::request(
        &p,
        &params,
        g.tz,
        ctx.gate.has_approvers(&p),
        g.settings.keep_days,
    );
    destinations(ctx, g)
        .post_tagged(ctx, &msg, &format!("{TAG_PREFIX}{}", p.id))
        .await?;
    Ok(Some(p))
}

/// The Keep access in force for `user`, if any.
async fn kept(ctx: &Context, user: &str) -> anyhow::Result<Option<Kept>> {
    let now = ctx.clock.now();
    let user = user.to_owned();
    let person = ctx.store.call(move |c| store::get(c, &user)).await?;
    Ok(person.and_then(|p| match (p.kept_until, p.kept_by) {
        (Some(until), Some(by)) if until > now => Some(Kept {
            by,
            until,
            reason: p.kept_reason,
        }),
        _ => None,
    }))
}

fn keep_until(g: &Guard, from: DateTime<Utc>) -> DateTime<Utc> {
    from + chrono::Duration::days(i64::from(g.settings.keep_days))
}

/// After decisions or expiry: records Keep access, rewrites the requests, and puts a
/// revocation that stopped part-way up again to finish.
pub async fn refresh_for(ctx: &Context, ids: &[ApprovalId]) -> anyhow::Result<()> {
    for id in ids {
        let Some(p) = ctx.gate.get(id).await? else {
            continue;
        };
        if p.kind != ActionKind::REVOKE_ACCESS || p.state == ProposalState::Pending {
            continue;
        }
        let params = RevokeParams::of(&p)?;
        if p.state == ProposalState::Rejected
            && let Some(g) = guard(ctx)
        {
            let at = p.decided_at.unwrap_or_else(|| ctx.clock.now());
            record_keep(
                ctx,
                &g,
                params.user.as_str(),
                p.decided_by.as_deref().unwrap_or("unknown"),
                p.decision_note.clone(),
                Some(&p.id),
                at,
            )
            .await?;
        }
        let kept = kept(ctx, params.user.as_str()).await?;
        let msg = messages::decided(&p, ctx.config.timezone, kept.as_ref());
        rewrite_tagged(ctx, &format!("{TAG_PREFIX}{id}"), |_| Some(msg.clone())).await?;
        if matches!(p.state, ProposalState::Failed | ProposalState::Interrupted)
            && let Some(g) = guard(ctx)
        {
            resume(ctx, &g, &p, params).await?;
        }
    }
    Ok(())
}

/// Proposes finishing a revocation that stopped part-way.
async fn resume(
    ctx: &Context,
    g: &Guard,
    p: &Proposal,
    params: RevokeParams,
) -> anyhow::Result<()> {
    // What is left, read now; if that fails too (the error may be the same), the
    // request shows what the first one listed.
    let details = match details::gather_now(&g.aws.iam(), &params.user).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(user = %params.user, error = %format!("{e:#}"), "could not read what is left; showing the first request's list");
            params.details.clone()
        }
    };
    let params = RevokeParams {
        details,
        done_before: done_before(ctx, params.user.as_str()).await?,
        resumes: Some(format!("approval {}, {}", p.id, p.state)),
        ..params
    };
    propose(ctx, g, params).await.map(|_| ())
}

/// Stores a Keep access and audits it. A keep already recorded for the same
/// proposal is not recorded twice.
async fn record_keep(
    ctx: &Context,
    g: &Guard,
    user: &str,
    by: &str,
    reason: Option<String>,
    approval: Option<&ApprovalId>,
    at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let until = keep_until(g, at);
    let now = ctx.clock.now();
    let (u, b, r, a) = (
        user.to_owned(),
        by.to_owned(),
        reason.clone(),
        approval.map(|a| a.to_string()),
    );
    let recorded = ctx
        .store
        .call(move |c| store::keep(c, &u, until, &b, r.as_deref(), a.as_deref(), now))
        .await?;
    if recorded {
        ctx.audit
            .record(
                by,
                crate::audit::events::GUARD_KEPT,
                user,
                json!({"until": until.to_rfc3339(), "reason": reason, "approval": approval.map(|a| a.to_string())}),
            )
            .await?;
    }
    Ok(recorded)
}

/// `access [pending]`: scans now (asking about anyone newly departed) and lists.
pub async fn list(ctx: &Context, pending_only: bool) -> anyhow::Result<ChatMessage> {
    let Some(g) = guard(ctx) else {
        return Ok(off());
    };
    let g = &*g;
    let scan = scan_and_ask(ctx, g).await?;
    Ok(messages::listing(&scan, g.tz, pending_only))
}

/// `access keep <user> [reason]`: keeps the user's access for `keep_days`, deciding
/// a waiting request as Keep access. Only people who may decide revocations can.
pub async fn keep(
    ctx: &Context,
    from: &Actor,
    user: &str,
    reason: Option<String>,
) -> anyhow::Result<ChatMessage> {
    let Some(g) = guard(ctx) else {
        return Ok(off());
    };
    let g = &*g;
    let Ok(name) = IamUserName::parse(user) else {
        return Ok(ChatMessage::text(
            "Not done",
            format!("`{user}` is not an IAM user name."),
        ));
    };
    if !crate::cloud::iam::user_exists(&g.aws.iam(), &name).await? {
        return Ok(ChatMessage::text(
            "Not done",
            format!("There is no IAM user `{user}`."),
        ));
    }
    let latest = ctx.gate.latest_by_target(ActionKind::REVOKE_ACCESS).await?;
    let waiting = latest
        .get(&Guard::target(user))
        .filter(|p| p.state == ProposalState::Pending)
        .cloned();
    let decider =
        crate::chat::slack::groups::resolve(ctx, from, &[ActionKind::REVOKE_ACCESS]).await;
    let now = ctx.clock.now();
    match waiting {
        Some(p) => match ctx
            .gate
            .decide_noted(&p.id, &decider, Verdict::Reject, reason.clone())
            .await
        {
            Ok(Decided::Rejected(p)) => {
                record_keep(ctx, g, user, &from.key(), reason, Some(&p.id), now).await?;
                refresh_for(ctx, std::slice::from_ref(&p.id)).await?;
            }
            Ok(_) => {}
            Err(DecisionError::Internal(e)) => return Err(e),
            Err(refused) => return Ok(answers::refusal(&refused, ctx.config.timezone)),
        },
        None => {
            if let Err(refusal) = ctx
                .gate
                .check_decider(&decider, ActionKind::REVOKE_ACCESS, PROPOSER, user)
                .await?
            {
                return Ok(answers::refusal(
                    &DecisionError::Refused {
                        kind: ActionKind::REVOKE_ACCESS,
                        refusal,
                    },
                    ctx.config.timezone,
                ));
            }
            record_keep(ctx, g, user, &from.key(), reason, None, now).await?;
        }
    }
    let until = keep_until(g, now);
    Ok(ChatMessage::text(
        "🔐 Access kept",
        format!(
            "{user} keeps their AWS access. Access Guard will not ask about them again before {}.",
            answers::local(until, g.tz)
        ),
    ))
}

pub(super) fn off() -> ChatMessage {
    ChatMessage::text(
        "Access Guard is off",
        "Add a [guard] section to the configuration to turn it on (see the README).",
    )
}
