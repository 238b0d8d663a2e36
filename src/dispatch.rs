//! The dispatcher: takes events off the queue one at a time and calls the handler for
//! each, inside a tracing span. Dispatch is an exhaustive `match`, so a new event or
//! job kind that nobody handles does not compile.

use crate::approvals::Gate;
use crate::audit::Audit;
use crate::chat::handle;
use crate::chat::slack::groups::SlackGroups;
use crate::chat::slack::seen;
use crate::clock::SharedClock;
use crate::cloud::Aws;
use crate::config::{Config, Secrets};
use crate::events::{Event, EventReceiver, JobKind, JobRun};
use crate::metrics::{JobLabels, JobNameLabels, Metrics};
use crate::outbox::Outbox;
use crate::scheduler::sql as job_sql;
use crate::store::Store;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Everything a handler may need, passed as one value.
#[derive(Clone)]
pub struct Context {
    pub config: Arc<Config>,
    pub secrets: Arc<Secrets>,
    pub store: Store,
    pub gate: Gate,
    pub outbox: Outbox,
    pub audit: Audit,
    pub metrics: Metrics,
    pub clock: SharedClock,
    pub aws: Aws,
    /// Slack user-group lookups, when Slack is on.
    pub slack_groups: Option<Arc<SlackGroups>>,
    /// Zombie Hunter, when `[hunter]` is set.
    pub hunter: Option<Arc<crate::features::hunter::Hunter>>,
    /// Night Watchman, when `[watchman]` is set.
    pub watchman: Option<Arc<crate::features::watchman::Watchman>>,
    /// Access Guard, when `[guard]` is set.
    pub guard: Option<Arc<crate::features::guard::Guard>>,
    /// Observatory, when `[observatory]` is set.
    pub observatory: Option<Arc<crate::features::observatory::Observatory>>,
}

/// Handles one event.
pub async fn dispatch(ctx: &Context, event: Event) -> anyhow::Result<()> {
    match event {
        Event::Job(run) => run_job(ctx, run).await,
        Event::Decision(request) => {
            let span = tracing::info_span!("decision", approval = %request.approval, decider = %request.decider);
            handle::decision(ctx, request).instrument(span).await
        }
        Event::Command(request) => {
            let span = tracing::info_span!("command", from = %request.from);
            handle::command(ctx, request).instrument(span).await
        }
        Event::Directory(change) => handle::directory(ctx, change).await,
    }
}

/// Consumes the queue until shutdown. The event being handled when shutdown arrives
/// is finished first; the step of an action in flight is never cut off.
pub async fn run(ctx: Context, mut rx: EventReceiver, shutdown: CancellationToken) {
    loop {
        let event = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            event = rx.0.recv() => match event {
                Some(e) => e,
                None => break,
            },
        };
        let span = tracing::info_span!("event", kind = event.name());
        if let Err(e) = dispatch(&ctx, event).instrument(span).await {
            tracing::error!(error = %format!("{e:#}"), "event handler failed");
        }
    }
    tracing::info!("dispatcher stopped");
}

async fn run_job(ctx: &Context, run: JobRun) -> anyhow::Result<()> {
    let name = run.job.as_str();
    let span = tracing::info_span!("job", job = name, scheduled_for = %run.scheduled_for, catch_up = run.catch_up);
    let started = Instant::now();
    let result = async {
        match run.job {
            JobKind::ExpireApprovals => expire_approvals(ctx).await,
            JobKind::PruneJobRuns => prune_job_runs(ctx).await,
            JobKind::HuntZombies => crate::features::hunter::run::scheduled(ctx).await,
            JobKind::WatchmanShutdown => crate::features::watchman::run::evening(ctx, &run).await,
            JobKind::WatchmanStart => crate::features::watchman::run::morning(ctx).await,
            JobKind::WatchmanDeadline => crate::features::watchman::run::deadlines(ctx).await,
            JobKind::GuardScan => crate::features::guard::run::scheduled(ctx).await,
            JobKind::ObservatoryDigest => {
                crate::features::observatory::runner::digest_job(ctx).await
            }
            JobKind::ObservatoryPrune => crate::features::observatory::runner::prune_job(ctx)
                .await
                .map(|_| ()),
        }
    }
    .instrument(span)
    .await;
    let outcome = match &result {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error: {e:#}"),
    };
    ctx.metrics
        .job_runs
        .get_or_create(&JobLabels {
            job: name.into(),
            outcome: if result.is_ok() { "ok" } else { "error" }.into(),
        })
        .inc();
    ctx.metrics
        .job_duration_seconds
        .get_or_create(&JobNameLabels { job: name.into() })
        .observe(started.elapsed().as_secs_f64());
    let now = ctx.clock.now();
    let at = run.scheduled_for;
    ctx.store
        .call(move |c| job_sql::finish(c, name, at, &outcome, now))
        .await?;
    result
}

async fn expire_approvals(ctx: &Context) -> anyhow::Result<()> {
    let expired = ctx.gate.expire_due().await?;
    for p in &expired {
        tracing::info!(approval = %p.id, kind = %p.kind, target = %p.target, "proposal expired");
    }
    // Reports listing them show them expired, without their buttons.
    let ids: Vec<_> = expired.iter().map(|p| p.id.clone()).collect();
    crate::features::refresh_decided(ctx, &ids).await?;
    Ok(())
}

async fn prune_job_runs(ctx: &Context) -> anyhow::Result<()> {
    let now = ctx.clock.now();
    let runs_before = now - chrono::Duration::days(35);
    let n = ctx
        .store
        .call(move |c| job_sql::prune(c, runs_before))
        .await?;
    // Slack stops redelivering an event after about an hour; a day is plenty.
    let seen_before = now - chrono::Duration::days(1);
    let m = ctx.store.call(move |c| seen::prune(c, seen_before)).await?;
    let t = ctx
        .store
        .call(move |c| crate::chat::telegram::seen::prune(c, seen_before))
        .await?;
    tracing::debug!(
        job_runs = n,
        slack_event_ids = m,
        telegram_update_ids = t,
        "old bookkeeping pruned"
    );
    Ok(())
}
