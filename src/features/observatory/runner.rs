//! Running the checks: each configured check on its own timer (a hung endpoint costs
//! only its own timeout), the built-in self-checks, recording every result with its
//! alert state in one transaction, and sending queued notices grouped.

use super::alerts::{self, Notice, NoticeKind, Thresholds};
use super::listen::{Heard, Observed};
use super::status::{Outcome, Status};
use super::{Observatory, store};
use crate::chat::answers::local;
use crate::chat::destinations::Destinations;
use crate::chat::message::ChatMessage;
use crate::dispatch::Context;
use crate::features::observatory::config::CheckConfig;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often queued notices are looked at, and self-checks run.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const SELF_CHECK_EVERY: Duration = Duration::from_secs(60);
/// How often log files are read.
const LOG_POLL_EVERY: Duration = Duration::from_secs(1);
/// Thresholds of the built-in checks.
const SELF_THRESHOLDS: Thresholds = Thresholds {
    failure: 2,
    success: 2,
};

pub fn human(d: chrono::Duration) -> String {
    let mins = d.num_minutes().max(0);
    match mins {
        0 => format!("{} s", d.num_seconds().max(0)),
        1..=119 => format!("{mins} min"),
        _ => format!("{} h {} min", mins / 60, mins % 60),
    }
}

/// The line a notice adds to the grouped message.
fn notice_text(
    check: &str,
    n: &Notice,
    o: &Outcome,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> String {
    let mark = match n.status {
        Status::Ok => "✅",
        Status::Warn => "🟠",
        Status::Critical | Status::Error => "🔴",
    };
    let since = n
        .since
        .map(|t| format!(" since {} ({})", local(t, tz), human(now - t)))
        .unwrap_or_default();
    match n.kind {
        NoticeKind::Alert => format!("{mark} {check} is {}: {}", n.status, o.message),
        NoticeKind::Change => format!("{mark} {check} is now {}{since}: {}", n.status, o.message),
        NoticeKind::Reminder => format!("⏰ {check} is still {}{since}: {}", n.status, o.message),
        NoticeKind::Recovery => match n.since {
            Some(t) => format!(
                "✅ {check} recovered after {}: {}",
                human(now - t),
                o.message
            ),
            None => format!("✅ {check} recovered: {}", o.message),
        },
        NoticeKind::AfterMaintenance if n.open => {
            format!(
                "{mark} {check} is {} after maintenance: {}",
                n.status, o.message
            )
        }
        NoticeKind::AfterMaintenance => format!("✅ {check} is ok after maintenance"),
    }
}

impl Observatory {
    /// Records one result: the sample, the alert state and any notice, together.
    pub async fn record(
        &self,
        ctx: &Context,
        check: &str,
        thresholds: Thresholds,
        outcome: &Outcome,
    ) -> anyhow::Result<Option<Notice>> {
        let now = crate::clock::from_millis(crate::clock::to_millis(ctx.clock.now()));
        let in_maintenance = self.in_maintenance(check, now);
        let reminder = chrono::Duration::from_std(self.settings.reminder_interval)?;
        let interval = self.interval_of(check);
        let (check, outcome, tz) = (check.to_owned(), outcome.clone(), self.tz);
        let listeners = self.listeners.all();
        let heard_by = listeners.clone();
        let notice = ctx
            .store
            .call(move |c| {
                crate::store::immediate(c, |tx| {
                    if let Some(interval) = interval {
                        let latency = outcome.value.filter(|_| outcome.unit == "ms");
                        super::rollups::on_sample(tx, &check, now, latency, interval)?;
                    }
                    store::insert_sample(tx, &check, now, &outcome)?;
                    let mut state = store::alert_state(tx, &check)?;
                    let notice = alerts::observe(
                        &mut state,
                        outcome.status,
                        now,
                        thresholds,
                        reminder,
                        in_maintenance,
                    );
                    store::save_alert_state(tx, &check, &state, now)?;
                    if let Some(n) = &notice {
                        let text = notice_text(&check, n, &outcome, now, tz);
                        let seen = Observed {
                            check: &check,
                            notice: n,
                            outcome: &outcome,
                            text: &text,
                            at: now,
                        };
                        let mut heard = Heard::Announce;
                        for l in &heard_by {
                            if l.observe(tx, &seen)? == Heard::Taken {
                                heard = Heard::Taken;
                            }
                        }
                        if heard == Heard::Announce {
                            store::queue_notice(tx, now, &check, n.kind.as_str(), n.status, &text)?;
                        }
                    }
                    Ok(notice)
                })
            })
            .await?;
        if notice.is_some() {
            listeners.iter().for_each(|l| l.committed());
        }
        Ok(notice)
    }

    /// Rolls up samples stored before rollups existed, once, before any new result
    /// is recorded (a database from an earlier version).
    pub async fn backfill_rollups(&self, store: &crate::store::Store) -> anyhow::Result<()> {
        let checks: Vec<(String, chrono::Duration)> = self
            .settings
            .checks
            .iter()
            .filter_map(|c| Some((c.name.clone(), chrono::Duration::from_std(c.interval).ok()?)))
            .collect();
        let replayed = store
            .call(move |c| {
                crate::store::immediate(c, |tx| {
                    let mut n = 0;
                    for (check, interval) in &checks {
                        n += super::rollups::backfill(tx, check, *interval)?;
                    }
                    Ok(n)
                })
            })
            .await?;
        if replayed > 0 {
            tracing::info!(samples = replayed, "health samples rolled up by the hour");
        }
        Ok(())
    }

    /// How often `check` runs, for its rollups; `None` for a log rule, which has no
    /// schedule and no uptime.
    pub fn interval_of(&self, check: &str) -> Option<chrono::Duration> {
        if check.starts_with("log:") {
            return None;
        }
        let every = self
            .settings
            .checks
            .iter()
            .find(|c| c.name == check)
            .map_or(SELF_CHECK_EVERY, |c| c.interval);
        chrono::Duration::from_std(every).ok()
    }

    /// Runs a configured check once and records it.
    pub async fn check_once(&self, ctx: &Context, check: &CheckConfig) -> anyhow::Result<Outcome> {
        let outcome = self.probes.run(check).await;
        let outcome = self
            .histories
            .apply(&ctx.store, check, outcome, ctx.clock.now())
            .await?;
        let t = Thresholds {
            failure: check.failure_threshold,
            success: check.success_threshold,
        };
        self.record(ctx, &check.name, t, &outcome).await?;
        Ok(outcome)
    }

    /// Runs the built-in checks once and records them.
    pub async fn self_checks_once(&self, ctx: &Context) -> anyhow::Result<Vec<(String, Outcome)>> {
        let results = self.self_outcomes(ctx).await?;
        for (name, outcome) in &results {
            self.record(ctx, name, SELF_THRESHOLDS, outcome).await?;
        }
        Ok(results)
    }

    /// Sends the queued notices as one message once the oldest has waited
    /// `group_wait`. Returns how many went out.
    pub async fn flush(&self, ctx: &Context) -> anyhow::Result<usize> {
        let now = ctx.clock.now();
        let queued = ctx.store.call(|c| store::queued_notices(c)).await?;
        let Some(oldest) = queued.first() else {
            return Ok(0);
        };
        let wait = chrono::Duration::from_std(self.settings.group_wait)?;
        if now - oldest.at < wait {
            return Ok(0);
        }
        let lines: Vec<String> = queued.iter().map(|n| n.text.clone()).collect();
        let worst = queued.iter().map(|n| n.status).max().unwrap_or(Status::Ok);
        let mark = if worst == Status::Ok { "✅" } else { "🚨" };
        let msg = ChatMessage {
            title: match lines.len() {
                1 => format!("{mark} Health: 1 change"),
                n => format!("{mark} Health: {n} changes"),
            },
            parts: vec![crate::chat::message::Part::Text(lines.join("\n"))],
            footer: Some(format!("Observatory, {}", local(now, self.tz))),
        };
        self.destinations(ctx).post(ctx, &msg).await?;
        let ids: Vec<i64> = queued.iter().map(|n| n.id).collect();
        let n = ids.len();
        ctx.store
            .call(move |c| store::delete_notices(c, &ids))
            .await?;
        Ok(n)
    }

    pub fn destinations(&self, ctx: &Context) -> Destinations {
        Destinations::configured(
            ctx,
            self.settings.slack_channel.as_ref(),
            self.settings.telegram_chat_id,
        )
    }
}

/// Starts the timers: one per configured check, one for the self-checks and one that
/// sends grouped notices. They stop with `shutdown`.
pub fn spawn(
    ctx: Context,
    o: Arc<Observatory>,
    shutdown: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for check in o.settings.checks.clone() {
        let (ctx, o, shutdown) = (ctx.clone(), o.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            every(check.interval, &shutdown, || async {
                o.check_once(&ctx, &check).await.map(|_| ())
            })
            .await
        }));
    }
    if !o.settings.logs.is_empty() {
        let (ctx2, o2, shutdown2) = (ctx.clone(), o.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            every(LOG_POLL_EVERY, &shutdown2, || async {
                o2.poll_logs(&ctx2).await.map(|_| ())
            })
            .await
        }));
    }
    if o.settings.self_checks.enabled {
        let (ctx2, o2, shutdown2) = (ctx.clone(), o.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            every(SELF_CHECK_EVERY, &shutdown2, || async {
                o2.self_checks_once(&ctx2).await.map(|_| ())
            })
            .await
        }));
    }
    tasks.push(tokio::spawn(async move {
        every(FLUSH_EVERY, &shutdown, || async {
            o.flush(&ctx).await.map(|_| ())
        })
        .await
    }));
    tasks
}

/// Runs `work` now and then every `period` until `shutdown`; a failure is logged and
/// the timer goes on.
async fn every<F, Fut>(period: Duration, shutdown: &CancellationToken, mut work: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(e) = work().await {
            tracing::warn!(error = %format!("{e:#}"), "observatory timer failed");
        }
    }
}

/// The daily digest job: built for the day ending now and posted. The scheduler
/// claims each occurrence once, so a restart never sends a day's digest twice.
pub async fn digest_job(ctx: &Context, o: &Observatory) -> anyhow::Result<()> {
    let digest = super::digest::build(ctx, o, ctx.clock.now()).await?;
    let to = o.destinations(ctx);
    to.post(ctx, &digest.message).await?;
    if !to.is_empty() {
        digest
            .posted(ctx, format!("daily digest to {}", to.describe()))
            .await?;
    }
    Ok(())
}

/// The pruning job: raw samples past `raw_retention_days` and rollups past
/// `retention_days`, in small batches so the write lock is never held long.
/// Returns how many rows went.
pub async fn prune_job(ctx: &Context, o: &Observatory) -> anyhow::Result<usize> {
    let now = ctx.clock.now();
    let raw_before = now - chrono::Duration::days(i64::from(o.settings.raw_retention_days));
    let rollups_before = now - chrono::Duration::days(i64::from(o.settings.retention_days));
    let mut total = 0;
    loop {
        let n = ctx
            .store
            .call(move |c| store::prune_batch(c, raw_before))
            .await?;
        total += n;
        if n < store::PRUNE_BATCH {
            break;
        }
        tokio::task::yield_now().await;
    }
    loop {
        let n = ctx
            .store
            .call(move |c| super::rollups::prune_batch(c, rollups_before, store::PRUNE_BATCH))
            .await?;
        total += n;
        if n < store::PRUNE_BATCH {
            break;
        }
        tokio::task::yield_now().await;
    }
    tracing::debug!(rows = total, "old health samples and rollups pruned");
    Ok(total)
}
