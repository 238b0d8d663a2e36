//! The one event type and the one queue. Chat doors and the scheduler produce
//! [`Event`]s; the dispatcher consumes them.

use crate::approvals::Verdict;
use crate::domain::{Actor, ApprovalId};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

/// Capacity of the queue. A full queue makes producers wait, it never drops events.
pub const QUEUE_CAPACITY: usize = 1024;

/// Everything the dispatcher acts on, whatever door it came through.
#[derive(Debug, Clone)]
pub enum Event {
    /// A scheduled occurrence of a job.
    Job(JobRun),
    /// A person decided a proposal (a button click on any platform).
    Decision(DecisionRequest),
}

impl Event {
    /// Short name for spans and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Job(_) => "job",
            Event::Decision(_) => "decision",
        }
    }
}

/// Jobs the scheduler runs. Each feature adds its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Marks pending proposals past their time-to-live as expired.
    ExpireApprovals,
    /// Trims old scheduler bookkeeping.
    PruneJobRuns,
}

impl JobKind {
    pub const ALL: [JobKind; 2] = [JobKind::ExpireApprovals, JobKind::PruneJobRuns];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::ExpireApprovals => "expire_approvals",
            JobKind::PruneJobRuns => "prune_job_runs",
        }
    }

    /// Five-field cron used unless `scheduler.<job>.schedule` says otherwise.
    pub fn default_schedule(self) -> &'static str {
        match self {
            JobKind::ExpireApprovals => "* * * * *",
            JobKind::PruneJobRuns => "17 3 * * *",
        }
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
#[derive(Debug, Clone)]
pub struct DecisionRequest {
    pub approval: ApprovalId,
    pub decider: Actor,
    pub verdict: Verdict,
}

/// Producer side of the queue. Cheap to clone.
#[derive(Clone)]
pub struct EventQueue(mpsc::Sender<Event>);

/// Consumer side, owned by the dispatcher.
pub struct EventReceiver(pub(crate) mpsc::Receiver<Event>);

/// Creates the queue.
pub fn queue() -> (EventQueue, EventReceiver) {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    (EventQueue(tx), EventReceiver(rx))
}

/// The dispatcher has stopped; the event was not queued.
#[derive(Debug, thiserror::Error)]
#[error("the event queue is closed")]
pub struct QueueClosed;

impl EventQueue {
    /// Queues an event, waiting if the queue is full.
    pub async fn send(&self, event: Event) -> Result<(), QueueClosed> {
        self.0.send(event).await.map_err(|_| QueueClosed)
    }

    /// Events waiting to be handled.
    pub fn len(&self) -> usize {
        QUEUE_CAPACITY - self.0.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
