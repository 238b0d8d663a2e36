//! What a feature brings to the core.
//!
//! A feature is a folder under `src/features/` that exposes a [`Plug`]: its name,
//! its on/off report, and a builder that returns the running [`Feature`] when its
//! config section is present (registering its action kinds on the way). The
//! running feature lists its jobs, its chat commands, how it rewrites its messages
//! after a decision, its digest section and its background timers.
//! `crate::features::ALL` is the only place that names the features; nothing in
//! `chat/`, the dispatcher or the app builder does.

use crate::approvals::kinds::KindSpec;
use crate::approvals::{ActionRegistry, BoxFuture};
use crate::audit::Audit;
use crate::chat::answers::Surface;
use crate::chat::command::CommandSpec;
use crate::chat::message::ChatMessage;
use crate::clock::SharedClock;
use crate::cloud::Aws;
use crate::config::{Config, Loaded, Secrets, SectionSpec};
use crate::dispatch::Context;
use crate::domain::{Actor, ApprovalId};
use crate::events::{JobKind, JobRun, ReplyTo};
use crate::scheduler::{CronSchedule, ScheduledJob};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::any::Any;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::features::FeatureStatus;

/// A feature's builder: the running feature when its section is present.
pub type BuildFn = for<'a> fn(Build<'a>) -> BoxFuture<'a, anyhow::Result<Option<Arc<dyn Feature>>>>;

/// How a feature is found and built.
pub struct Plug {
    pub name: &'static str,
    /// Its configuration section; the feature is on when the section is present.
    pub section: Option<SectionSpec>,
    /// On or off, and why, for the start-up log and `opsmate config check`.
    pub status: fn(&Config, &Secrets) -> FeatureStatus,
    /// The running feature when its section is present, else `None`.
    pub build: BuildFn,
    /// Its chat commands: words, help lines, Telegram names. They are listed in the
    /// help whether the feature is on or not.
    pub commands: &'static [CommandSpec],
    /// The action kinds it proposes, with their words in chat. Its builder registers
    /// their handlers.
    pub kinds: &'static [KindSpec],
    /// Its subcommands of `opsmate` (they work whether the feature is on or not).
    pub cli: &'static [CliCommand],
    /// The answer to one of its commands while it is off: how to turn it on.
    pub off: fn() -> ChatMessage,
    /// What it shows through the REST API, read-only, as `GET /api/v1/<name>`.
    pub api: &'static [ApiResource],
    /// Its pages in the web console, as `GET /<path>`.
    pub pages: &'static [ConsolePage],
    /// The signed webhooks it takes, served while it is on and their secret is set.
    pub webhooks: &'static [crate::http::webhooks::WebhookSpec],
}

/// A page of a feature in the web console. The core draws the frame (navigation,
/// sign-in, live updates) and fills `template` with what `data` reads.
pub struct ConsolePage {
    pub path: &'static str,
    /// In the navigation and the page's title.
    pub title: &'static str,
    /// A minijinja template that extends `layout.html` (kept in the feature's
    /// folder, included at build time).
    pub template: &'static str,
    /// What the template is filled with. Only called while the feature is on.
    pub data: for<'a> fn(&'a Context) -> BoxFuture<'a, anyhow::Result<serde_json::Value>>,
}

/// A read-only REST resource of a feature: `GET /api/v1/<name>`, described in the
/// OpenAPI document by `summary` and `schema`. It is read from the database only
/// (never from a cloud API), so a poll of it costs nothing outside OpsMate.
pub struct ApiResource {
    pub name: &'static str,
    pub summary: &'static str,
    /// The JSON Schema of the answer (OpenAPI 3.1, so plain JSON Schema).
    pub schema: fn() -> serde_json::Value,
    /// Reads it. Only called while the feature is on.
    pub read: for<'a> fn(&'a Context) -> BoxFuture<'a, anyhow::Result<serde_json::Value>>,
}

/// A subcommand of `opsmate` that a feature brings.
pub struct CliCommand {
    /// Its definition: name, help and arguments (usually a derived
    /// `clap::Parser`'s `command()`).
    pub command: fn() -> clap::Command,
    /// Runs it with its parsed arguments; returns the exit code.
    pub run: fn(&Loaded, &clap::ArgMatches) -> anyhow::Result<i32>,
}

/// The typed arguments of a feature's subcommand.
pub fn cli_args<A: clap::FromArgMatches>(matches: &clap::ArgMatches) -> anyhow::Result<A> {
    Ok(A::from_arg_matches(matches)?)
}

/// What a feature is built from.
pub struct Build<'a> {
    pub config: &'a Config,
    pub secrets: &'a Secrets,
    pub aws: &'a Aws,
    pub store: &'a Store,
    pub audit: &'a Audit,
    pub clock: &'a SharedClock,
    pub metrics: &'a crate::metrics::Metrics,
    /// Where the feature registers the handlers of its action kinds.
    pub actions: &'a mut ActionRegistry,
    /// Dry run turned on while running, shared with the gate (billing sets it when
    /// the subscription lapses).
    pub dry_run_switch: &'a crate::approvals::DryRunSwitch,
    /// The jobs scheduled so far (the core's and earlier features').
    pub jobs: &'a [ScheduledJob],
    /// The app writes nothing (a standby replica, a restore drill): its database
    /// is read-only, so a builder skips its start-up upkeep.
    pub read_only: bool,
}

/// A job a feature runs on a schedule.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub kind: JobKind,
    pub schedule: CronSchedule,
    /// A missed occurrence still runs if it is at most this old (else the
    /// scheduler's default window applies).
    pub catch_up_window: Option<Duration>,
}

impl JobSpec {
    pub fn new(kind: JobKind, schedule: CronSchedule) -> Self {
        Self {
            kind,
            schedule,
            catch_up_window: None,
        }
    }
}

/// A command typed to a feature: its word and the words after it.
pub struct CommandCall<'a> {
    pub word: &'a str,
    pub args: &'a [String],
    pub from: &'a Actor,
    pub reply: &'a ReplyTo,
    pub surface: Surface,
}

/// One of its buttons pressed ([`crate::chat::message::Press`]).
pub struct PressCall<'a> {
    /// The verb after the feature's name (`ack` for `incidents.ack`).
    pub verb: &'a str,
    pub value: &'a str,
    pub presser: &'a Actor,
    /// The message the button was on.
    pub message: Option<&'a crate::approvals::PostedAt>,
}

/// What the presser is told.
#[derive(Debug, Clone, PartialEq)]
pub enum PressAnswer {
    /// It worked; the message it was on shows it. A short note for Telegram's
    /// button answer.
    Done(String),
    /// A private answer: a refusal, or something only the presser needs to read.
    Private(ChatMessage),
}

/// A running feature. Every method but `name` has a default meaning "nothing".
pub trait Feature: Any + Send + Sync {
    fn name(&self) -> &'static str;

    /// The jobs it schedules, with their schedules (from its section, in the
    /// configuration's time zone unless the section names its own).
    fn jobs(&self, _config: &Config) -> anyhow::Result<Vec<JobSpec>> {
        Ok(Vec::new())
    }

    /// Runs one of its jobs.
    fn run_job<'a>(
        &'a self,
        _ctx: &'a Context,
        run: &'a JobRun,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        let job = run.job;
        Box::pin(async move { anyhow::bail!("{} has no job {}", self.name(), job.as_str()) })
    }

    /// Answers one of its commands. Its arguments were checked first by the
    /// command's `CommandSpec::check`, so a mistake never reaches here.
    fn command<'a>(
        &'a self,
        _ctx: &'a Context,
        call: CommandCall<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Vec<ChatMessage>>> {
        let word = call.word.to_owned();
        Box::pin(async move { anyhow::bail!("{} has no command {word}", self.name()) })
    }

    /// Handles one of its buttons being pressed.
    fn press<'a>(
        &'a self,
        _ctx: &'a Context,
        call: PressCall<'a>,
    ) -> BoxFuture<'a, anyhow::Result<PressAnswer>> {
        let verb = call.verb.to_owned();
        Box::pin(async move { anyhow::bail!("{} has no button {verb}", self.name()) })
    }

    /// Rewrites its messages that show any of these proposals, after a decision, an
    /// expiry, a finished action or an interruption.
    fn refresh<'a>(
        &'a self,
        _ctx: &'a Context,
        _ids: &'a [ApprovalId],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Its part of the overview (Slack's Home tab, the web console's first page):
    /// what is open or waiting now, as a short neutral message, if it has anything
    /// to show.
    fn overview<'a>(
        &'a self,
        _ctx: &'a Context,
    ) -> BoxFuture<'a, anyhow::Result<Option<ChatMessage>>> {
        Box::pin(async { Ok(None) })
    }

    /// Handles one of its webhooks' deliveries, verified and stored by the door. It
    /// runs once per delivery (a redelivery is not handed over again).
    fn webhook<'a>(
        &'a self,
        _ctx: &'a Context,
        delivery: &'a crate::http::webhooks::Delivery,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        let event = delivery.event.clone();
        Box::pin(async move { anyhow::bail!("{} takes no webhook {event}", self.name()) })
    }

    /// Its section of the daily digest for `[start, end)`, if it has one.
    fn digest<'a>(
        &'a self,
        _ctx: &'a Context,
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async { Ok(None) })
    }

    /// Connects to the other running features once every one is built, whether or
    /// not timers run (a feature that builds on another registers with it here).
    fn connect(&self, _features: &Features) {}

    /// Background timers of its own, running until `shutdown`.
    fn spawn(
        self: Arc<Self>,
        _ctx: &Context,
        _shutdown: &CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        Vec::new()
    }
}

/// Who answers a command word.
pub enum CommandOwner<'a> {
    On(&'a Arc<dyn Feature>),
    /// The word's feature is off: answered with how to turn it on.
    Off(&'static Plug),
}

/// Every plugged-in feature, and the running ones. Cheap to clone.
#[derive(Clone, Default)]
pub struct Features(Arc<Inner>);

#[derive(Default)]
struct Inner {
    plugs: &'static [Plug],
    on: Vec<(&'static Plug, Arc<dyn Feature>)>,
    /// Which running feature (its index in `on`) runs each job.
    jobs: Vec<(JobKind, usize)>,
}

/// A feature that is on, with the jobs it runs.
pub struct Running {
    pub plug: &'static Plug,
    pub feature: Arc<dyn Feature>,
    pub jobs: Vec<JobKind>,
}

impl Features {
    pub fn new(plugs: &'static [Plug], running: Vec<Running>) -> Self {
        let mut on = Vec::new();
        let mut jobs = Vec::new();
        for (i, r) in running.into_iter().enumerate() {
            jobs.extend(r.jobs.into_iter().map(|job| (job, i)));
            on.push((r.plug, r.feature));
        }
        Self(Arc::new(Inner { plugs, on, jobs }))
    }

    /// The plugs of the running features, in order.
    pub fn running_plugs(&self) -> impl Iterator<Item = &'static Plug> + '_ {
        self.0.on.iter().map(|(p, _)| *p)
    }

    /// The running features.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Feature>> {
        self.0.on.iter().map(|(_, f)| f)
    }

    /// The running feature of type `T`, for its own code to find its state.
    pub fn get<T: Feature>(&self) -> Option<Arc<T>> {
        self.iter().find_map(|f| {
            let any: Arc<dyn Any + Send + Sync> = f.clone();
            any.downcast::<T>().ok()
        })
    }

    /// The running feature that runs `job`.
    pub fn for_job(&self, job: JobKind) -> Option<&Arc<dyn Feature>> {
        let (_, i) = self.0.jobs.iter().find(|(kind, _)| *kind == job)?;
        self.0.on.get(*i).map(|(_, f)| f)
    }

    /// The running feature called `name`.
    pub fn named(&self, name: &str) -> Option<&Arc<dyn Feature>> {
        self.iter().find(|f| f.name() == name)
    }

    /// Who answers the command word `word`, if any feature has it.
    pub fn for_word(&self, word: &str) -> Option<CommandOwner<'_>> {
        let plug = self
            .0
            .plugs
            .iter()
            .find(|p| p.commands.iter().any(|c| c.word == word))?;
        Some(
            match self.0.on.iter().find(|(p, _)| std::ptr::eq(*p, plug)) {
                Some((_, f)) => CommandOwner::On(f),
                None => CommandOwner::Off(plug),
            },
        )
    }

    /// Every feature's command specs, on or off, in order.
    pub fn command_specs(&self) -> Vec<&'static CommandSpec> {
        self.0
            .plugs
            .iter()
            .flat_map(|p| p.commands.iter())
            .collect()
    }

    /// Every feature's rewrite of the messages showing these proposals.
    pub async fn refresh(&self, ctx: &Context, ids: &[ApprovalId]) -> anyhow::Result<()> {
        for f in self.iter() {
            f.refresh(ctx, ids).await?;
        }
        Ok(())
    }
}
