//! Night Watchman's jobs and commands: the evening check (notice or approval request),
//! the notice deadline, the morning start, `watchman status` and `keep-online`.

use super::check::{self, Check};
use super::decide::Verdict;
use super::messages::{keep_message, savings_text, stop_message};
use super::signals::holds::{self, Hold};
use super::{PROPOSER, STOPPED_TAG, Watchman, actions};
use crate::approvals::{NewProposal, Proposal, ProposalState, Proposed};
use crate::chat::answers::{self, local};
use crate::chat::destinations::{Destinations, rewrite_tagged};
use crate::chat::message::{ChatMessage, Part};
use crate::cloud::instances;
use crate::dispatch::Context;
use crate::domain::{ActionKind, ApprovalId};
use crate::events::JobRun;
use crate::features::watchman::config::WatchmanMode;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Tag prefix of notice messages: `watchman:<approval id>`.
const TAG_PREFIX: &str = "watchman:";

/// Who a notice's deadline approval is recorded as.
pub const DEADLINE_DECIDER: &str = "night_watchman:notice-deadline";

fn watchman(ctx: &Context) -> Option<Arc<Watchman>> {
    ctx.features.get::<Watchman>()
}

fn destinations(ctx: &Context, w: &Watchman) -> Destinations {
    Destinations::configured(
        ctx,
        w.settings.slack_channel.as_ref(),
        w.settings.telegram_chat_id,
    )
}

/// The local calendar night a check belongs to, e.g. `night:2026-11-23`.
pub fn night_target(at: DateTime<Utc>, w: &Watchman) -> String {
    format!("night:{}", at.with_timezone(&w.tz).format("%Y-%m-%d"))
}

/// The evening job. A check caught up after a restart runs only while it is still
/// night (before the next morning start).
pub async fn evening(ctx: &Context, run: &JobRun) -> anyhow::Result<()> {
    let Some(w) = watchman(ctx) else {
        return Ok(());
    };
    let w = &*w;
    let now = ctx.clock.now();
    if run.catch_up
        && let Some(morning) = w
            .start
            .as_ref()
            .and_then(|s| s.next_after(run.scheduled_for))
        && now >= morning
    {
        tracing::info!(occurrence = %run.scheduled_for, "missed evening check not run: it is morning already");
        return Ok(());
    }
    evening_now(ctx, w, night_target(run.scheduled_for, w))
        .await
        .map(|_| ())
}

/// Checks now and acts on it: a keep message, or a stop proposal with its notice.
/// Returns the check and the proposal, if one was made.
pub async fn evening_now(
    ctx: &Context,
    w: &Watchman,
    night: String,
) -> anyhow::Result<(Check, Option<Proposal>)> {
    let now = ctx.clock.now();
    let check = check::check(w, &ctx.store, now).await?;
    let to = destinations(ctx, w);
    ctx.audit
        .record(
            PROPOSER,
            crate::audit::events::WATCHMAN_CHECKED,
            &night,
            json!({
                "decision": check.decision, "reasons": check.reasons,
                "instances": check.instances.len(), "stoppable": check.to_stop().count(),
            "estimated_savings_usd": check.estimated_savings_usd, "hours_stopped": check.hours_stopped,
            }),
        )
        .await?;
    if check.decision == Verdict::Keep {
        to.post(ctx, &keep_message(&check)).await?;
        return Ok((check, None));
    }
    let proposed = ctx
        .gate
        .propose(NewProposal {
            kind: ActionKind::STOP_INSTANCES,
            target: night.clone(),
            params: actions::params(&check),
            reason: format!(
                "Stop {} staging instance(s) for the night: {}",
                check.to_stop().count(),
                check.reasons.join("; ")
            ),
            proposed_by: PROPOSER.into(),
        })
        .await?;
    let p = match proposed {
        Proposed::Created(p) => p,
        // Already announced tonight: never twice for the same night.
        Proposed::AlreadyOpen(p) => return Ok((check, Some(p))),
    };
    let deadline = (w.settings.mode == WatchmanMode::Notice)
        .then(|| now + chrono::Duration::minutes(i64::from(w.settings.notice_minutes)));
    if let Some(at) = deadline {
        let id = p.id.clone();
        ctx.store
            .call(move |c| holds::insert_notice(c, &id, at))
            .await?;
    }
    let msg = stop_message(&p, &check, w, deadline, ctx.gate.has_approvers(&p));
    to.post_tagged(ctx, &msg, &format!("{TAG_PREFIX}{}", p.id))
        .await?;
    Ok((check, Some(p)))
}

/// The minute job: notices whose deadline passed with nobody keeping are approved by
/// the deadline rule and run through the gate (which reads the signals once more).
pub async fn deadlines(ctx: &Context) -> anyhow::Result<()> {
    let Some(w) = watchman(ctx) else {
        return Ok(());
    };
    let w = &*w;
    let now = ctx.clock.now();
    let due = ctx
        .store
        .call(move |c| holds::take_due_notices(c, now))
        .await?;
    for id in &due {
        let why = format!(
            "nobody clicked Keep online within {} minutes of the notice",
            w.settings.notice_minutes
        );
        if let Some(p) = ctx
            .gate
            .approve_unattended(id, DEADLINE_DECIDER, &why)
            .await?
        {
            tracing::info!(approval = %p.id, "notice deadline passed; the stop runs now");
            ctx.executor.submit(p.id, Default::default());
        }
    }
    refresh_for(ctx, &due).await
}

/// Rewrites the notices of decided stop proposals with their outcome.
pub async fn refresh_for(ctx: &Context, ids: &[ApprovalId]) -> anyhow::Result<()> {
    for id in ids {
        let Some(p) = ctx.gate.get(id).await? else {
            continue;
        };
        if p.kind != ActionKind::STOP_INSTANCES || p.state == ProposalState::Pending {
            continue;
        }
        let msg = answers::decided(&p, ctx.config.timezone);
        rewrite_tagged(ctx, &format!("{TAG_PREFIX}{id}"), |_| Some(msg.clone())).await?;
    }
    Ok(())
}

/// The morning job: starts the instances OpsMate stopped (tagged), nothing else.
pub async fn morning(ctx: &Context) -> anyhow::Result<()> {
    let Some(w) = watchman(ctx) else {
        return Ok(());
    };
    let w = &*w;
    let lines = start_stopped(ctx, w).await?;
    if !lines.is_empty() {
        let msg = ChatMessage::text(
            format!(
                "☀️ Night Watchman: started {} instance(s) it stopped",
                lines.len()
            ),
            lines.join("\n"),
        );
        destinations(ctx, w).post(ctx, &msg).await?;
    }
    Ok(())
}

/// Starts every instance carrying [`STOPPED_TAG`] in every region and takes the tag
/// off. Returns a line per instance. `dry_run` only lists them.
pub async fn start_stopped(ctx: &Context, w: &Watchman) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for region in &w.regions {
        let client = w.aws.ec2(region);
        let stopped = match instances::with_tag_key(&client, STOPPED_TAG, "stopped").await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), %region, "listing stopped instances failed");
                lines.push(format!("{region}: could not list stopped instances: {e}"));
                continue;
            }
        };
        let ids: Vec<_> = stopped.iter().map(|i| i.id.clone()).collect();
        if ids.is_empty() {
            continue;
        }
        if ctx.config.dry_run {
            lines.extend(
                ids.iter()
                    .map(|id| format!("{id} ({region}): would start (dry run)")),
            );
            continue;
        }
        match instances::start(&client, &ids).await {
            Ok(states) => {
                instances::untag(&client, &ids, STOPPED_TAG).await?;
                for (id, state) in states {
                    ctx.audit
                        .record(
                            "system",
                            crate::audit::events::WATCHMAN_STARTED,
                            format!("{region}/{id}"),
                            json!({"state": state}),
                        )
                        .await?;
                    lines.push(format!("{id} ({region}): {state}"));
                }
            }
            Err(e) => {
                ctx.audit
                    .record(
                        "system",
                        crate::audit::events::WATCHMAN_START_FAILED,
                        region.clone(),
                        json!({"instances": ids, "error": format!("{e:#}")}),
                    )
                    .await?;
                let names: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
                lines.push(format!(
                    "{region}: could not start {}: {e}",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(lines)
}

/// `watchman status`: tonight's decision if the check ran now, and why.
pub async fn status(ctx: &Context) -> anyhow::Result<ChatMessage> {
    let Some(w) = watchman(ctx) else {
        return Ok(off());
    };
    let w = &*w;
    let check = check::check(w, &ctx.store, ctx.clock.now()).await?;
    let verdict = match check.decision {
        Verdict::Stop => format!("would stop {} instance(s)", check.to_stop().count()),
        Verdict::Keep => "would keep staging up".into(),
    };
    let mut msg = keep_message(&check);
    msg.title = format!("🌙 Night Watchman: if the check ran now, it {verdict}");
    msg.parts.push(Part::Text(savings_text(&check, w)));
    Ok(msg)
}

/// `watchman keep-online <duration> [reason]`: a hold until now + duration.
pub async fn keep_online(
    ctx: &Context,
    by: &str,
    duration: Duration,
    reason: Option<String>,
) -> anyhow::Result<ChatMessage> {
    let Some(w) = watchman(ctx) else {
        return Ok(off());
    };
    let w = &*w;
    let now = ctx.clock.now();
    let hold = Hold {
        until: now + chrono::Duration::from_std(duration)?,
        set_by: by.to_owned(),
        reason,
    };
    let stored = hold.clone();
    ctx.store
        .call(move |c| holds::insert(c, &stored, now))
        .await?;
    ctx.audit
        .record(
            by,
            crate::audit::events::WATCHMAN_HOLD,
            "staging",
            json!({"until": hold.until.to_rfc3339(), "reason": hold.reason}),
        )
        .await?;
    Ok(ChatMessage::text(
        "🌙 Staging stays online",
        format!(
            "Night Watchman will not stop staging until {} (set by {}{}). A stop already announced is skipped.",
            local(hold.until, w.tz),
            by,
            hold.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    ))
}

pub(super) fn off() -> ChatMessage {
    ChatMessage::text(
        "Night Watchman is off",
        "Add a [watchman] section to the configuration to turn it on (see the README).",
    )
}
