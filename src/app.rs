//! The app builder: opens the store, wires the gate, outbox, queue, scheduler and HTTP
//! router, and runs them until shutdown. The binary and the tests use the same builder.

use crate::approvals::{ActionRegistry, Gate, Proposal};
use crate::audit::Audit;
use crate::chat::answers;
use crate::chat::command::CommandBook;
use crate::chat::handle;
use crate::chat::message::ChatMessage;
use crate::chat::slack::door::{self, SlackDoor};
use crate::chat::slack::groups::SlackGroups;
use crate::chat::slack::intake::Intake;
use crate::chat::slack::send;
use crate::chat::slack::socket::SocketMode;
use crate::chat::slack::throttled_log::ThrottledLog;
use crate::chat::slack::verify::SlackVerifier;
use crate::chat::slack::views::SlackViews;
use crate::chat::slack::web_api::{self, Slack, SlackWebApi};
use crate::chat::telegram::door::TelegramDoor;
use crate::chat::telegram::intake::TelegramIntake;
use crate::chat::telegram::transport::TelegramTransport;
use crate::chat::telegram::{self, TelegramBot};
use crate::clock::{SharedClock, SystemClock};
use crate::cloud::Aws;
use crate::config::{Config, Loaded, Secret, SlackMode, TelegramMode};
use crate::dispatch::{self, Context, DispatchStats};
use crate::events::{self, EventQueue, EventReceiver};
use crate::executor::Executor;
use crate::features;
use crate::http::rejections::Rejections;
use crate::http::{self, HttpState, webhooks};
use crate::metrics::Metrics;
use crate::outbox::sender::Sender;
use crate::outbox::{Outbox, Transports};
use crate::plugin::Build;
use crate::scheduler::{ScheduledJob, Scheduler};
use crate::standby::Role;
use crate::store::Store;
use anyhow::Context as _;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for background tasks to finish their current step.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How long shutdown keeps sending what is queued in the outbox (the rest stays
/// queued in SQLite and goes out after the restart).
const OUTBOX_FLUSH: Duration = Duration::from_secs(5);

/// Knobs tests turn; production uses [`AppOptions::default`].
pub struct AppOptions {
    pub clock: SharedClock,
    /// Action handlers by kind; features register theirs here.
    pub actions: ActionRegistry,
    /// Replaces the AWS handle built from the config (e.g. static moto credentials).
    pub aws: Option<Aws>,
    /// A one-off command next to a server that may be running on the same database:
    /// no start-up audit row and no crash recovery (the server's actions in flight
    /// are not interrupted ones).
    pub one_shot: bool,
    /// Run the features' own timers (Observatory's checks) while serving. Tests that
    /// drive checks by hand turn them off.
    pub feature_timers: bool,
    /// This machine's part. A replica opens the database read-only, writes nothing
    /// at start-up, and its router sends writes to the primary (see
    /// [`crate::standby`]); it is never [`App::start`]ed.
    pub role: Role,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            actions: ActionRegistry::default(),
            aws: None,
            one_shot: false,
            feature_timers: true,
            role: Role::Primary,
        }
    }
}

/// A built, not yet running, OpsMate.
pub struct App {
    pub ctx: Context,
    queue: EventQueue,
    receiver: EventReceiver,
    scheduler: Scheduler,
    sender: Sender,
    /// The web console's state (its routes are always served; they say when it is off).
    console: crate::web::console::ConsoleState,
    /// Slack's HTTP endpoints, when `slack.mode = "http"` and the signing secret is set.
    slack_door: Option<Arc<SlackDoor>>,
    /// Slack's Socket Mode connection parameters, when `slack.mode = "socket"`.
    slack_socket: Option<(Arc<Slack>, Secret)>,
    /// Telegram's webhook endpoint, in webhook mode.
    telegram_door: Option<Arc<TelegramDoor>>,
    /// Telegram's bot and intake, for long polling or registering the webhook.
    telegram: Option<(TelegramBot, TelegramIntake)>,
    /// Whether Observatory's timers run while serving.
    feature_timers: bool,
    /// The doors' rejected requests, audited per window.
    rejections: Rejections,
    role: Role,
}

impl App {
    /// Opens and migrates the database, recovers from an earlier crash, and wires
    /// everything together. Nothing runs until [`App::serve`].
    pub async fn build(loaded: &Loaded, options: AppOptions) -> anyhow::Result<Self> {
        // Two TLS stacks are linked (ring for Slack, aws-lc for the AWS SDK); pick one
        // process-wide default so WebSocket and HTTPS clients agree. Already set is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = Arc::new(loaded.config.clone());
        let secrets = Arc::new(loaded.secrets.clone());
        let clock = options.clock;
        let metrics = Metrics::new();

        let (path, busy) = (config.storage.path.clone(), config.storage.busy_timeout);
        let role = options.role;
        let read_only = !role.is_primary();
        let store = tokio::task::spawn_blocking(move || {
            if read_only {
                Store::open_read_only(&path, busy)
            } else {
                Store::open(&path, busy)
            }
        })
        .await
        .context("opening the database")??;

        let outbox = Outbox::new(store.clone(), clock.clone());
        let audit = Audit::new(store.clone(), clock.clone());
        let aws = match options.aws {
            Some(aws) => aws,
            None => Aws::load(&config.aws).await,
        };
        let mut actions = options.actions;
        let dry_run_switch = crate::approvals::DryRunSwitch::default();
        let (features, jobs) = features::build_all(Build {
            config: &config,
            secrets: &secrets,
            aws: &aws,
            store: &store,
            audit: &audit,
            clock: &clock,
            metrics: &metrics,
            actions: &mut actions,
            dry_run_switch: &dry_run_switch,
            jobs: &core_jobs(&config)?,
            read_only,
        })
        .await?;
        metrics.touch_jobs(jobs.iter().map(|j| j.kind));
        let commands = Arc::new(CommandBook::new(features.command_specs()));
        let gate = Gate::new(
            store.clone(),
            clock.clone(),
            config.approvals.clone(),
            actions,
            metrics.clone(),
            config.dry_run,
        )
        .with_dry_run_switch(dry_run_switch)
        .with_telegram_approvers(config.telegram.approver_user_ids.clone());
        let executor = Executor::new(gate.clone(), config.approvals.workers);

        let mut transports = Transports::default();
        let mut slack_groups = None;
        let mut slack_views = None;
        let slack_client = if secrets.slack_bot_token.is_some() || secrets.slack_app_token.is_some()
        {
            Some(web_api::client(
                &config.slack.api_url,
                config.outbox.delivery_timeout,
            )?)
        } else {
            None
        };
        let telegram_bot = match &secrets.telegram_bot_token {
            Some(token) => Some(telegram::bot(&config.telegram.api_url, token)?),
            None => None,
        };
        if let Some(bot) = &telegram_bot {
            transports.telegram = Some(Arc::new(TelegramTransport::new(bot.clone())));
        }
        if let (Some(client), Some(token)) = (&slack_client, &secrets.slack_bot_token) {
            let webhooks =
                web_api::webhook_client(&config.slack.api_url, config.outbox.delivery_timeout)?;
            transports.slack = Some(Arc::new(SlackWebApi::new(client.clone(), webhooks, token)));
            slack_groups = Some(Arc::new(SlackGroups::new(client.clone(), token)));
            slack_views = Some(Arc::new(SlackViews::new(client.clone(), token)));
        }
        let sender = Sender::new(
            outbox.clone(),
            transports,
            config.outbox.clone(),
            metrics.clone(),
        );

        let scheduler = Scheduler::new(
            jobs,
            store.clone(),
            clock.clone(),
            config.scheduler.catch_up_window,
        );
        let (queue, receiver) = events::queue();
        let intake = Intake {
            queue: queue.clone(),
            store: store.clone(),
            clock: clock.clone(),
        };
        let rejections = Rejections::new(
            audit.clone(),
            metrics.clone(),
            clock.clone(),
            config.http.rejection_window,
        );
        let slack_door = match (config.slack.mode, &secrets.slack_signing_secret) {
            (SlackMode::Http, Some(secret)) => Some(Arc::new(SlackDoor {
                verifier: SlackVerifier::new(secret.clone()),
                intake: intake.clone(),
                clock: clock.clone(),
                rejections: rejections.clone(),
                busy_log: ThrottledLog::default(),
            })),
            _ => None,
        };
        let slack_socket = match (config.slack.mode, &slack_client, &secrets.slack_app_token) {
            (SlackMode::Socket, Some(client), Some(token)) => Some((client.clone(), token.clone())),
            _ => None,
        };
        let telegram_intake = TelegramIntake::new(
            queue.clone(),
            store.clone(),
            audit.clone(),
            clock.clone(),
            config.telegram.allowed_chat_ids.clone(),
        );
        let telegram_door = match (
            &telegram_bot,
            config.telegram.effective_mode(),
            &secrets.telegram_webhook_secret,
        ) {
            (Some(_), TelegramMode::Webhook, Some(secret)) => Some(Arc::new(TelegramDoor {
                secret: secret.clone(),
                intake: telegram_intake.clone(),
                rejections: rejections.clone(),
            })),
            _ => None,
        };
        let telegram = telegram_bot.map(|bot| (bot, telegram_intake));
        let ctx = Context {
            config,
            secrets,
            store,
            gate,
            executor,
            dispatch: DispatchStats::default(),
            outbox,
            audit,
            metrics,
            clock,
            aws,
            slack_groups,
            slack_views,
            features,
            commands,
        };
        let console = crate::web::console::ConsoleState::new(ctx.clone()).await?;
        let app = Self {
            console,
            ctx,
            queue,
            receiver,
            scheduler,
            sender,
            slack_door,
            slack_socket,
            telegram_door,
            telegram,
            feature_timers: options.feature_timers,
            rejections,
            role,
        };
        let hook_ctx = app.ctx.clone();
        app.ctx.executor.on_change(Arc::new(move |p, hint| {
            let ctx = hook_ctx.clone();
            Box::pin(async move { handle::show_outcome(&ctx, &p, &hint).await })
        }));
        if !options.one_shot && !read_only {
            app.announce(loaded).await?;
            app.recover().await?;
        }
        Ok(app)
    }

    /// Runs the outbox sender (and nothing else) until every message is delivered or
    /// `wait` passes; returns how many are left. For one-shot commands that send.
    pub async fn deliver_outbox(self, wait: Duration) -> anyhow::Result<i64> {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(self.sender.run(shutdown.clone()));
        let deadline = tokio::time::Instant::now() + wait;
        let left = loop {
            let (left, _) = self.ctx.outbox.depth().await?;
            if left == 0 || tokio::time::Instant::now() >= deadline {
                break left;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        shutdown.cancel();
        let _ = task.await;
        Ok(left)
    }

    /// The app for a one-off command (see [`AppOptions::one_shot`]): everything wired,
    /// nothing served.
    pub async fn one_shot(loaded: &Loaded) -> anyhow::Result<Self> {
        let options = AppOptions {
            one_shot: true,
            ..AppOptions::default()
        };
        Self::build(loaded, options).await
    }

    /// Producer handle of the event queue, for doors and tests.
    pub fn queue(&self) -> EventQueue {
        self.queue.clone()
    }

    /// The HTTP router over this app's state.
    pub fn router(&self) -> axum::Router {
        let mut doors: Vec<axum::Router> = self
            .slack_door
            .clone()
            .map(door::routes)
            .into_iter()
            .collect();
        doors.extend(self.telegram_door.clone().map(telegram::door::routes));
        doors.extend(self.webhook_doors().into_iter().map(webhooks::routes));
        doors.push(crate::web::api::routes(self.ctx.clone()));
        doors.push(crate::web::console::routes(self.console.clone()));
        http::router(
            HttpState {
                store: self.ctx.store.clone(),
                metrics: self.ctx.metrics.clone(),
                gate: self.ctx.gate.clone(),
                outbox: self.ctx.outbox.clone(),
                role: self.role.clone(),
            },
            doors,
            self.ctx.config.http.request_timeout,
        )
    }

    /// The doors of the running features' webhooks whose secret is set.
    fn webhook_doors(&self) -> Vec<Arc<webhooks::WebhookDoor>> {
        let mut doors = Vec::new();
        for plug in self.ctx.features.running_plugs() {
            for spec in plug.webhooks {
                let Some(secret) = self.ctx.secrets.named(spec.secret_var) else {
                    continue;
                };
                doors.push(Arc::new(webhooks::WebhookDoor {
                    spec,
                    feature: plug.name,
                    secret: secret.clone(),
                    store: self.ctx.store.clone(),
                    queue: self.queue.clone(),
                    clock: self.ctx.clock.clone(),
                    rejections: self.rejections.clone(),
                }));
            }
        }
        doors
    }

    /// Serves HTTP on `listener` and runs the dispatcher, outbox sender and scheduler
    /// until `shutdown` fires. Then it stops accepting, lets each task finish its
    /// current step, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let router = self.router();
        let limits = http::serve::Limits::new(&self.ctx.config.http);
        let running = self.start(shutdown.clone());
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "listening; /healthz, /readyz and /metrics are up");
        log_limits(&limits, &running.ctx.config);
        http::serve::serve(listener, router, limits, shutdown.clone()).await;
        running.stop().await
    }

    /// Ends the console's live streams when `shutdown` fires (the HTTP server waits
    /// for open requests, and a stream never ends by itself).
    pub fn close_streams_on(&self, shutdown: &CancellationToken) {
        let closing = self.console.closing.clone();
        let stopping = shutdown.clone();
        tokio::spawn(async move {
            stopping.cancelled().await;
            closing.cancel();
        });
    }

    /// Starts the primary's work, everything but the HTTP server: the dispatcher,
    /// the executor's recovered actions, the outbox sender, the scheduler, Slack's
    /// Socket Mode, Telegram (polling, or registering the webhook) and the
    /// features' timers. They run until `shutdown` fires; then [`Running::stop`]
    /// lets them finish their step, or [`Running::abandon`] cuts them off.
    pub fn start(self, shutdown: CancellationToken) -> Running {
        self.close_streams_on(&shutdown);
        let Self {
            ctx,
            queue,
            receiver,
            scheduler,
            sender,
            slack_door: _,
            console: _,
            slack_socket,
            telegram_door,
            telegram,
            feature_timers,
            rejections,
            role: _,
        } = self;
        let socket = slack_socket.map(|(client, token)| {
            let intake = Intake {
                queue: queue.clone(),
                store: ctx.store.clone(),
                clock: ctx.clock.clone(),
            };
            tokio::spawn(SocketMode::run(client, token, intake, shutdown.clone()))
        });
        let telegram_task = telegram.map(|(bot, intake)| {
            if telegram_door.is_some() {
                let url = format!(
                    "{}{}",
                    ctx.config
                        .telegram
                        .public_url
                        .as_deref()
                        .unwrap_or_default()
                        .trim_end_matches('/'),
                    telegram::door::PATH
                );
                let secret = ctx.secrets.telegram_webhook_secret.clone();
                tokio::spawn(telegram::register_webhook(
                    bot,
                    url,
                    secret,
                    shutdown.clone(),
                ))
            } else if ctx.config.telegram.effective_mode() == TelegramMode::Polling {
                tokio::spawn(telegram::polling::run(bot, intake, shutdown.clone()))
            } else {
                tokio::spawn(async {})
            }
        });
        let dispatcher = tokio::spawn(dispatch::run(ctx.clone(), receiver, shutdown.clone()));
        let requeue = webhooks::requeue(ctx.store.clone(), queue.clone());
        let requeue = tokio::spawn(async move {
            if let Err(e) = requeue.await {
                tracing::warn!(error = %format!("{e:#}"), "could not queue the webhook deliveries left by the last stop");
            }
        });
        // The sender outlives the dispatcher and the executor, so what they queue
        // while stopping still goes out.
        let sender_stop = CancellationToken::new();
        let sender_task = tokio::spawn(sender.run(sender_stop.clone()));
        let mut tasks = vec![tokio::spawn(scheduler.run(queue, shutdown.clone()))];
        // Stopped once the server has answered its last request, so no count is lost.
        let rejections_stop = CancellationToken::new();
        tasks.push(tokio::spawn(rejections.run(rejections_stop.clone())));
        if feature_timers {
            for f in ctx.features.iter() {
                tasks.extend(f.clone().spawn(&ctx, &shutdown));
            }
        }
        Running {
            ctx,
            shutdown,
            socket,
            telegram_task,
            dispatcher,
            requeue,
            tasks,
            sender_stop,
            sender_task,
            rejections_stop,
        }
    }

    async fn announce(&self, loaded: &Loaded) -> anyhow::Result<()> {
        tracing::info!(config = %loaded.source, database = %self.ctx.store.path().display(), "starting opsmate {}", env!("CARGO_PKG_VERSION"));
        if !loaded.env_overrides.is_empty() {
            tracing::info!(variables = ?loaded.env_overrides, "configuration keys overridden from the environment");
        }
        let report = features::report(&self.ctx.config, &self.ctx.secrets);
        for f in &report {
            tracing::info!(
                feature = f.name,
                on = f.on,
                "{}: {} ({})",
                f.name,
                if f.on { "on" } else { "off" },
                f.why
            );
        }
        let on: Vec<&str> = report.iter().filter(|f| f.on).map(|f| f.name).collect();
        self.ctx
            .audit
            .record(
                "system",
                crate::audit::events::OPSMATE_STARTED,
                "opsmate",
                json!({"version": env!("CARGO_PKG_VERSION"), "config": loaded.source.to_string(), "on": on, "dry_run": self.ctx.config.dry_run}),
            )
            .await?;
        Ok(())
    }

    /// What the last stop left decided but unfinished: approvals never started and
    /// resumable actions go back to the executor (which re-checks before acting);
    /// actions cut off mid-way become `interrupted` and are surfaced.
    async fn recover(&self) -> anyhow::Result<()> {
        let found = self.ctx.executor.recover().await?;
        for p in &found.queued {
            tracing::info!(approval = %p.id, kind = %p.kind, target = %p.target,
                "an approved action had not started when OpsMate last stopped; it runs now");
            self.announce_recovery(
                format!("⏳ Resuming: {} {}", answers::kind_label(p.kind), p.target),
                format!(
                    "This action was approved (approval {}) but had not started when OpsMate stopped. Its target is checked again now, and it runs only if it still qualifies.",
                    p.id
                ),
            )
            .await?;
        }
        for p in &found.resumed {
            tracing::info!(approval = %p.id, kind = %p.kind, target = %p.target,
                "an action was waiting when OpsMate last stopped; it resumes from its stored steps");
        }
        for p in &found.interrupted {
            tracing::warn!(approval = %p.id, kind = %p.kind, target = %p.target,
                "an action was running when OpsMate last stopped; it is marked interrupted and will not be re-run");
            self.surface_interrupted(p).await?;
        }
        // A feature may offer to finish what was cut off (Access Guard's revocation).
        let ids: Vec<_> = found.interrupted.iter().map(|p| p.id.clone()).collect();
        self.ctx.features.refresh(&self.ctx, &ids).await
    }

    /// Tells the alert channel and alert chat (whichever are configured) about an
    /// action cut off by a stop.
    async fn surface_interrupted(&self, p: &Proposal) -> anyhow::Result<()> {
        self.announce_recovery(
            format!(
                "⚠️ Interrupted: {} {}",
                answers::kind_label(p.kind),
                p.target
            ),
            format!(
                "OpsMate stopped while this action was running (approval {}). It is marked interrupted and will not be re-run; please check the target by hand.",
                p.id
            ),
        )
        .await
    }

    /// Posts what start-up recovery found to the alert channel and alert chat.
    async fn announce_recovery(&self, title: String, text: String) -> anyhow::Result<()> {
        let msg = ChatMessage::text(title, text);
        let (config, secrets) = (&self.ctx.config, &self.ctx.secrets);
        if let (Some(channel), Some(_)) = (&config.slack.alert_channel, &secrets.slack_bot_token) {
            send::post(&self.ctx.outbox, channel, &msg, None).await?;
        }
        if let (Some(chat), Some(_)) = (config.telegram.alert_chat_id, &secrets.telegram_bot_token)
        {
            telegram::send::post(&self.ctx.outbox, chat, &msg, None).await?;
        }
        Ok(())
    }
}

/// The primary's work, started by [`App::start`].
pub struct Running {
    pub ctx: Context,
    shutdown: CancellationToken,
    socket: Option<JoinHandle<()>>,
    telegram_task: Option<JoinHandle<()>>,
    dispatcher: JoinHandle<()>,
    requeue: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    sender_stop: CancellationToken,
    sender_task: JoinHandle<()>,
    rejections_stop: CancellationToken,
}

impl Running {
    /// A stop: each task finishes its current step, actions get the shutdown grace,
    /// what is queued in the outbox gets a few seconds to go out, and the stop is
    /// audited. Call it once the HTTP server has answered its last request.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Self {
            ctx,
            shutdown,
            socket,
            telegram_task,
            dispatcher,
            requeue: _,
            tasks,
            sender_stop,
            sender_task,
            rejections_stop,
        } = self;
        if let Some(socket) = socket {
            let _ = socket.await;
        }
        if let Some(task) = telegram_task {
            let _ = task.await;
        }
        shutdown.cancel();
        rejections_stop.cancel();
        let wait_all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, wait_all)
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within {SHUTDOWN_GRACE:?}");
        }
        let _ = dispatcher.await;
        let working = ctx.executor.shutdown(SHUTDOWN_GRACE).await;
        if working > 0 {
            tracing::warn!(
                working,
                "actions were still working when the shutdown grace passed; they are checked at the next start"
            );
        }
        let deadline = tokio::time::Instant::now() + OUTBOX_FLUSH;
        while tokio::time::Instant::now() < deadline {
            match ctx.outbox.depth().await {
                Ok((0, _)) | Err(_) => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        sender_stop.cancel();
        let _ = sender_task.await;
        ctx.audit
            .record(
                "system",
                crate::audit::events::OPSMATE_STOPPED,
                "opsmate",
                json!({}),
            )
            .await?;
        tracing::info!("stopped");
        Ok(())
    }

    /// This machine lost the primary lease: the database is fenced first (every
    /// later use of it fails, and a use under way is waited for), then every task
    /// is cut off. Nothing is flushed and nothing is audited here; the new primary
    /// finds what was cut off and marks it interrupted, as after any crash.
    pub async fn abandon(self) {
        let store = self.ctx.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.fence()).await;
        self.shutdown.cancel();
        self.sender_stop.cancel();
        self.rejections_stop.cancel();
        self.ctx.executor.shutdown(Duration::ZERO).await;
        let handles = self
            .tasks
            .into_iter()
            .chain([self.dispatcher, self.requeue, self.sender_task])
            .chain(self.socket)
            .chain(self.telegram_task);
        for task in handles {
            task.abort();
        }
        tracing::warn!("the primary's work stopped: this machine is no longer the primary");
    }
}

/// Logs the connection limits the server runs with.
pub(crate) fn log_limits(limits: &http::serve::Limits, config: &Config) {
    tracing::info!(
        max_connections = limits.max_connections,
        descriptors = ?limits.descriptors,
        header_read_timeout = ?limits.header_read_timeout,
        "accepting at most {} connections at once",
        limits.max_connections
    );
    if limits.max_connections < config.http.max_connections {
        tracing::warn!(
            configured = config.http.max_connections,
            "http.max_connections lowered to {} to fit the descriptor limit; raise it with `ulimit -n`",
            limits.max_connections
        );
    }
}

/// The core's own jobs; each feature that is on adds its own.
fn core_jobs(config: &Config) -> anyhow::Result<Vec<ScheduledJob>> {
    Config::CORE_JOBS
        .into_iter()
        .map(|(kind, _)| {
            Ok(ScheduledJob {
                kind,
                schedule: config.core_job_schedule(kind)?,
                catch_up_window: None,
            })
        })
        .collect()
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested");
}
