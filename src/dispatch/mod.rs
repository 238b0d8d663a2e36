//! The dispatcher: takes events off the queue and handles them concurrently, each
//! inside a tracing span, keeping the order that matters ([`order_key`]): one run of a
//! job at a time, one proposal's events in order. Nothing here waits on an approved
//! action; the executor runs those. Dispatch is an exhaustive `match`, so a new event
//! or job kind that nobody handles does not compile.

pub mod parked;

use crate::approvals::Gate;
use crate::audit::Audit;
use crate::chat::command::CommandBook;
use crate::chat::handle;
use crate::chat::slack::groups::SlackGroups;
use crate::chat::slack::seen;
use crate::clock::SharedClock;
use crate::cloud::Aws;
use crate::config::{Config, Secrets};
use crate::events::{DirectoryChange, Event, EventReceiver, JobKind, JobRun};
use crate::executor::Executor;
use crate::metrics::{JobLabels, JobNameLabels, Metrics};
use crate::outbox::Outbox;
use crate::plugin::Features;
use crate::scheduler::sql as job_sql;
use crate::store::Store;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Everything a handler may need, passed as one value.
#[derive(Clone)]
pub struct Context {
    pub config: Arc<Config>,
    pub secrets: Arc<Secrets>,
    pub store: Store,
    pub gate: Gate,
    /// Runs approved proposals beside the queue.
    pub executor: Executor,
    /// What the dispatcher is doing.
    pub dispatch: DispatchStats,
    pub outbox: Outbox,
    pub audit: Audit,
    pub metrics: Metrics,
    pub clock: SharedClock,
    pub aws: Aws,
    /// Slack user-group lookups, when Slack is on.
    pub slack_groups: Option<Arc<SlackGroups>>,
    /// Slack's dialogs and Home tab, when the bot token is set.
    pub slack_views: Option<Arc<crate::chat::slack::views::SlackViews>>,
    /// The features that are on; each finds its own state with `features.get`.
    pub features: Features,
    /// Every command word the bot knows, for parsing and the help.
    pub commands: Arc<CommandBook>,
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
        Event::Press(request) => {
            let span =
                tracing::info_span!("press", action = %request.action, presser = %request.presser);
            handle::press(ctx, request).instrument(span).await
        }
        Event::AskReason(request) => {
            let span = tracing::info_span!("ask_reason", approval = %request.approval, decider = %request.decider);
            handle::ask_reason(ctx, request).instrument(span).await
        }
        Event::HomeOpened(user) => crate::chat::slack::home::publish(ctx, &user, None).await,
        Event::Webhook(delivery) => {
            let span =
                tracing::info_span!("webhook", source = %delivery.source, key = %delivery.key);
            crate::http::webhooks::handle(ctx, delivery)
                .instrument(span)
                .await
        }
    }
}

/// Events handled at once, at most. More wait for a place (in arrival order).
const MAX_CONCURRENT_EVENTS: usize = 64;

/// Counts of the dispatcher's work, for `/metrics`, shutdown and the test harness.
#[derive(Clone, Default)]
pub struct DispatchStats(Arc<StatsInner>);

#[derive(Default)]
struct StatsInner {
    /// Events received and not yet handled (waiting in a lane or running).
    in_flight: AtomicUsize,
    /// Handlers that returned an error.
    errors: AtomicUsize,
    changed: Notify,
}

impl DispatchStats {
    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::SeqCst)
    }

    pub fn errors(&self) -> usize {
        self.0.errors.load(Ordering::SeqCst)
    }

    /// Waits until no received event is waiting or running.
    pub async fn idle(&self) {
        loop {
            let changed = self.0.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            changed.await;
        }
    }

    /// Like [`DispatchStats::idle`], giving up at `deadline`; returns what is left.
    async fn idle_by(&self, deadline: tokio::time::Instant) -> usize {
        let _ = tokio::time::timeout_at(deadline, self.idle()).await;
        self.in_flight()
    }
}

/// Which events must not overtake each other: one run of a given job at a time, and
/// the events of one proposal (or one member) in order. Events without a key run as
/// soon as there is a place.
pub fn order_key(event: &Event, commands: &CommandBook) -> Option<String> {
    match event {
        Event::Job(run) => Some(format!("job:{}", run.job.as_str())),
        Event::Decision(d) => Some(format!("proposal:{}", d.approval)),
        // A command that runs a job now (an on-demand scan) waits for that job.
        Event::Command(c) => match &c.parsed {
            Ok(crate::chat::command::Command::Feature {
                word,
                args,
                telegram,
            }) => commands
                .runs_job(word, args, *telegram)
                .map(|job| format!("job:{}", job.as_str())),
            _ => None,
        },
        Event::Directory(DirectoryChange::SlackMember(m)) => {
            Some(format!("directory:{}", m.user_id))
        }
        Event::AskReason(r) => Some(format!("proposal:{}", r.approval)),
        Event::HomeOpened(user) => Some(format!("home:{user}")),
        // One subject's presses in order (an incident's Ack before its Mute).
        Event::Press(p) => Some(format!(
            "press:{}:{}",
            crate::chat::message::Press::feature_of(&p.action),
            p.value.split(':').next().unwrap_or_default()
        )),
        Event::Webhook(w) => w
            .lane
            .as_ref()
            .map(|lane| format!("webhook:{}:{lane}", w.source)),
    }
}

/// Ordered lanes: one queue per key, drained by one task while it has events.
#[derive(Clone)]
struct Lanes {
    ctx: Context,
    lanes: Arc<Mutex<HashMap<String, VecDeque<Event>>>>,
    places: Arc<Semaphore>,
    /// Fired when the drain time is over: events not started yet are kept instead.
    parking: CancellationToken,
    /// Events whose handler is running.
    running: Arc<AtomicUsize>,
}

impl Lanes {
    fn route(&self, event: Event) {
        let stats = &self.ctx.dispatch.0;
        stats.in_flight.fetch_add(1, Ordering::SeqCst);
        let Some(key) = order_key(&event, &self.ctx.commands) else {
            let this = self.clone();
            tokio::spawn(async move { this.handle(event).await });
            return;
        };
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        // A lane's task only leaves under this lock, after finding its queue empty,
        // so an event pushed to a lane in the map always reaches a running task.
        if let Some(lane) = lanes.get_mut(&key) {
            lane.push_back(event);
            return;
        }
        lanes.insert(key.clone(), VecDeque::from([event]));
        drop(lanes);
        let this = self.clone();
        tokio::spawn(async move { this.drain_lane(key).await });
    }

    async fn drain_lane(self, key: String) {
        loop {
            let next = {
                let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
                match lanes.get_mut(&key).and_then(VecDeque::pop_front) {
                    Some(event) => event,
                    None => {
                        lanes.remove(&key);
                        return;
                    }
                }
            };
            self.handle(next).await;
        }
    }

    async fn handle(&self, event: Event) {
        let stats = &self.ctx.dispatch.0;
        let place = tokio::select! {
            biased;
            _ = self.parking.cancelled() => None,
            place = self.places.acquire() => place.ok(),
        };
        match place {
            Some(_place) if !self.parking.is_cancelled() => {
                self.running.fetch_add(1, Ordering::SeqCst);
                let span = tracing::info_span!("event", kind = event.name());
                if let Err(e) = dispatch(&self.ctx, event).instrument(span).await {
                    stats.errors.fetch_add(1, Ordering::SeqCst);
                    tracing::error!(error = %format!("{e:#}"), "event handler failed");
                }
                self.running.fetch_sub(1, Ordering::SeqCst);
            }
            _ => self.park(event).await,
        }
        stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        stats.changed.notify_waiters();
    }

    /// Keeps an event that was not started for the next start.
    async fn park(&self, event: Event) {
        let name = event.name();
        let now = self.ctx.clock.now();
        match self
            .ctx
            .store
            .call(move |c| parked::park(c, now, event))
            .await
        {
            Ok(true) => tracing::info!(kind = name, "kept an event for the next start"),
            Ok(false) => tracing::warn!(kind = name, "a job run was not started before the stop"),
            Err(e) => {
                tracing::error!(kind = name, error = %format!("{e:#}"), "could not keep an event for the next start")
            }
        }
    }

    /// Ends the drain: every event not started yet is kept in the database.
    async fn park_the_rest(&self) {
        self.parking.cancel();
        let waiting: Vec<Event> = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            lanes.values_mut().flat_map(|lane| lane.drain(..)).collect()
        };
        let stats = &self.ctx.dispatch.0;
        for event in waiting {
            self.park(event).await;
            stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        stats.changed.notify_waiters();
        // Events that were waiting for a place park themselves; give them a moment.
        let parked = async {
            while stats.in_flight.load(Ordering::SeqCst) > self.running.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), parked).await;
    }
}

/// Consumes the queue until shutdown, handling events concurrently in their order
/// lanes. Events kept at the last stop are handled first. At shutdown the queue is
/// closed and every event already in it, or in a lane, is still handled for at most
/// `shutdown.drain`; the ones not started by then are kept in the database for the
/// next start, so nothing acknowledged to Slack or Telegram is dropped.
pub async fn run(ctx: Context, mut rx: EventReceiver, shutdown: CancellationToken) {
    let lanes = Lanes {
        ctx: ctx.clone(),
        lanes: Arc::default(),
        places: Arc::new(Semaphore::new(MAX_CONCURRENT_EVENTS)),
        parking: CancellationToken::new(),
        running: Arc::default(),
    };
    match ctx.store.call(parked::take_all).await {
        Ok(kept) if !kept.is_empty() => {
            tracing::info!(
                events = kept.len(),
                "handling the events kept at the last stop"
            );
            for event in kept {
                lanes.route(event);
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "reading the events kept at the last stop failed")
        }
    }
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            event = rx.0.recv() => match event {
                Some(e) => lanes.route(e),
                None => break,
            },
        }
    }
    rx.0.close();
    while let Ok(event) = rx.0.try_recv() {
        lanes.route(event);
    }
    let drain = ctx.config.shutdown.drain;
    let left = ctx
        .dispatch
        .idle_by(tokio::time::Instant::now() + drain)
        .await;
    if left > 0 {
        lanes.park_the_rest().await;
        tracing::warn!(
            running = lanes.running.load(Ordering::SeqCst),
            "the drain time passed; events not started are kept for the next start, running ones are cut off"
        );
    }
    tracing::info!("dispatcher stopped");
}

async fn run_job(ctx: &Context, run: JobRun) -> anyhow::Result<()> {
    let name = run.job.as_str();
    let span = tracing::info_span!("job", job = name, scheduled_for = %run.scheduled_for, catch_up = run.catch_up);
    let started = Instant::now();
    let result = async {
        match run.job {
            JobKind::EXPIRE_APPROVALS => expire_approvals(ctx).await,
            JobKind::PRUNE_JOB_RUNS => prune_job_runs(ctx).await,
            feature_job => match ctx.features.for_job(feature_job) {
                Some(feature) => feature.run_job(ctx, &run).await,
                None => anyhow::bail!("no feature that is on runs {}", feature_job.as_str()),
            },
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
    ctx.features.refresh(ctx, &ids).await?;
    Ok(())
}

/// Delivered outbox rows deleted per transaction.
const OUTBOX_PRUNE_BATCH: usize = 5_000;

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
    // GitHub and Lemon Squeezy redeliver within days; a month of keys is plenty.
    let hooks_before = now - chrono::Duration::days(30);
    let w = ctx
        .store
        .call(move |c| crate::http::webhooks::sql::prune(c, hooks_before))
        .await?;
    let delivered_before = now
        - chrono::Duration::from_std(ctx.config.outbox.retention)
            .unwrap_or(chrono::Duration::days(7));
    let mut delivered = 0;
    // In batches, so the sender and the handlers are not kept waiting on the lock.
    loop {
        let pruned = ctx
            .outbox
            .prune_delivered(delivered_before, OUTBOX_PRUNE_BATCH)
            .await?;
        delivered += pruned;
        if pruned < OUTBOX_PRUNE_BATCH {
            break;
        }
    }
    tracing::debug!(
        job_runs = n,
        slack_event_ids = m,
        telegram_update_ids = t,
        webhook_deliveries = w,
        delivered_messages = delivered,
        "old bookkeeping pruned"
    );
    Ok(())
}
