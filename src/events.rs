//! The one event type and the one queue. Chat doors and the scheduler produce
//! [`Event`]s; the dispatcher consumes them.

use crate::approvals::{PostedAt, Verdict};
use crate::chat::command::{Command, CommandError};
use crate::domain::{Actor, ApprovalId, SlackUserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use tokio::sync::mpsc;

/// Capacity of the queue. A full queue makes producers wait (or, for slash commands,
/// answer "busy" at once); it never drops an event silently.
pub const QUEUE_CAPACITY: usize = 4096;

/// Everything the dispatcher acts on, whatever door it came through.
#[derive(Debug, Clone)]
pub enum Event {
    /// A scheduled occurrence of a job.
    Job(JobRun),
    /// A person decided a proposal (a button click on any platform).
    Decision(DecisionRequest),
    /// A person typed a command.
    Command(CommandRequest),
    /// Someone joined, changed or left the chat workspace.
    Directory(DirectoryChange),
    /// A person pressed a feature's button (not a decision on a proposal).
    Press(PressRequest),
    /// A person pressed Reject (or its kind's equivalent) in Slack: they are asked
    /// why in a dialog before anything is decided.
    AskReason(ReasonRequest),
    /// A person opened OpsMate's Home tab in Slack.
    HomeOpened(SlackUserId),
    /// A signed webhook delivery, stored by its door, for its feature to handle.
    Webhook(crate::http::webhooks::WebhookRef),
}

impl Event {
    /// Short name for spans and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Job(_) => "job",
            Event::Decision(_) => "decision",
            Event::Command(_) => "command",
            Event::Directory(_) => "directory",
            Event::Press(_) => "press",
            Event::AskReason(_) => "ask_reason",
            Event::HomeOpened(_) => "home_opened",
            Event::Webhook(_) => "webhook",
        }
    }
}

/// A job the scheduler runs. The core has two (below); each feature declares its
/// own as associated constants in its folder and schedules them through
/// [`crate::plugin::Feature::jobs`]. The name is what `job_runs` and the metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobKind(&'static str);

impl JobKind {
    /// Marks pending proposals past their time-to-live as expired.
    pub const EXPIRE_APPROVALS: JobKind = JobKind::new("expire_approvals");
    /// Trims old scheduler bookkeeping.
    pub const PRUNE_JOB_RUNS: JobKind = JobKind::new("prune_job_runs");

    /// A job named `name` (lowercase, words joined by `_`).
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// One claimed occurrence of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub job: JobKind,
    pub scheduled_for: DateTime<Utc>,
    /// True when this occurrence was missed while the bot was down.
    pub catch_up: bool,
}

/// A decision on a proposal, already verified by the door it came through.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionRequest {
    pub approval: ApprovalId,
    pub decider: Actor,
    pub verdict: Verdict,
    /// Where to answer the clicker privately.
    pub reply: Option<ReplyTo>,
    /// The message the button was on, to update after the decision.
    pub message: Option<PostedAt>,
    /// Why, when the decider said (Slack's reason dialog).
    #[serde(default)]
    pub note: Option<String>,
}

/// A Reject pressed in Slack, to be asked about in a dialog opened with the click's
/// `trigger_id` (valid for three seconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReasonRequest {
    pub approval: ApprovalId,
    pub decider: Actor,
    pub verdict: Verdict,
    pub trigger_id: String,
    pub reply: Option<ReplyTo>,
    pub message: Option<PostedAt>,
}

impl ReasonRequest {
    /// The decision it stands for, without a reason (when no dialog can open).
    pub fn decision(self) -> DecisionRequest {
        DecisionRequest {
            approval: self.approval,
            decider: self.decider,
            verdict: self.verdict,
            reply: self.reply,
            message: self.message,
            note: None,
        }
    }
}

/// A feature's button pressed, already verified by the door it came through.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PressRequest {
    /// `feature.verb`, e.g. `incidents.ack`.
    pub action: String,
    pub value: String,
    pub presser: Actor,
    /// Where to answer the presser privately.
    pub reply: Option<ReplyTo>,
    /// The message the button was on.
    pub message: Option<PostedAt>,
}

/// A command, parsed at the door (or the reason it could not be parsed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandRequest {
    pub from: Actor,
    pub parsed: Result<Command, CommandError>,
    pub reply: ReplyTo,
}

/// Where an answer goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplyTo {
    /// Slack's per-interaction `response_url` (answers are private to the person),
    /// with the channel it came from.
    SlackResponseUrl { url: String, channel: String },
    /// A Telegram chat (answers are visible to the chat).
    TelegramChat { chat_id: i64 },
    /// A Telegram button press: answered with `answerCallbackQuery`, which also
    /// stops the client's spinner.
    TelegramCallback { chat_id: i64, callback_id: String },
    /// A click on OpsMate's Home tab in Slack: answered by redrawing that person's
    /// tab with the answer on top.
    SlackHome { user: SlackUserId },
}

/// A change in the chat workspace's member directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryChange {
    SlackMember(SlackMember),
}

/// A Slack member as `team_join` or `user_change` reported them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackMember {
    pub user_id: SlackUserId,
    pub team_id: Option<String>,
    pub name: Option<String>,
    pub real_name: Option<String>,
    pub email: Option<String>,
    /// Deactivated.
    pub deleted: bool,
    pub is_bot: bool,
    /// `team_join` or `user_change`.
    pub event: Cow<'static, str>,
}

/// Producer side of the queue. Cheap to clone.
#[derive(Clone)]
pub struct EventQueue(mpsc::Sender<Event>);

/// Consumer side, owned by the dispatcher.
pub struct EventReceiver(pub(crate) mpsc::Receiver<Event>);

impl EventReceiver {
    /// The next event, or `None` once every producer is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.0.recv().await
    }
}

/// Creates the queue.
pub fn queue() -> (EventQueue, EventReceiver) {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    (EventQueue(tx), EventReceiver(rx))
}

/// The dispatcher has stopped; the event was not queued.
#[derive(Debug, thiserror::Error)]
#[error("the event queue is closed")]
pub struct QueueClosed;

/// Why [`EventQueue::try_send`] did not queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryQueueError {
    #[error("the event queue is full")]
    Full,
    #[error("the event queue is closed")]
    Closed,
}

impl EventQueue {
    /// Queues an event, waiting if the queue is full.
    pub async fn send(&self, event: Event) -> Result<(), QueueClosed> {
        self.0.send(event).await.map_err(|_| QueueClosed)
    }

    /// Queues an event only if there is room right now.
    pub fn try_send(&self, event: Event) -> Result<(), TryQueueError> {
        self.0.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TryQueueError::Full,
            mpsc::error::TrySendError::Closed(_) => TryQueueError::Closed,
        })
    }

    /// Events waiting to be handled.
    pub fn len(&self) -> usize {
        QUEUE_CAPACITY - self.0.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
