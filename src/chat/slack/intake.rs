//! What both Slack doors (HTTP endpoints and Socket Mode) do with a parsed payload:
//! turn it into an event, drop a redelivered event, and queue it.

use super::ingest::{self, BadPayload};
use super::seen;
use crate::clock::SharedClock;
use crate::events::{Event, EventQueue, TryQueueError};
use crate::store::Store;
use slack_morphism::prelude::*;

/// Why a payload was not queued.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The payload cannot be acted on (HTTP 400).
    #[error(transparent)]
    Bad(#[from] BadPayload),
    /// OpsMate cannot take it right now (shutting down, database trouble); Slack
    /// retries events answered with 5xx.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// More commands are waiting than OpsMate can take; the person is told at once.
    #[error("busy")]
    Busy,
}

/// What a person sees when their command arrives while the queue is full.
pub const BUSY_TEXT: &str =
    "OpsMate is busy right now and did not run this command. Please try again in a moment.";

/// Queues Slack payloads as events.
#[derive(Clone)]
pub struct Intake {
    pub queue: EventQueue,
    pub store: Store,
    pub clock: SharedClock,
}

impl Intake {
    async fn enqueue(&self, event: Event) -> Result<(), IntakeError> {
        self.queue
            .send(event)
            .await
            .map_err(|e| IntakeError::Unavailable(e.to_string()))
    }

    /// Queues a slash command without waiting: when the queue is full the command is
    /// answered "busy" at once, so the acknowledgement never waits on slow work.
    pub async fn command(&self, ev: &SlackCommandEvent) -> Result<(), IntakeError> {
        match self.queue.try_send(ingest::command(ev)?) {
            Ok(()) => Ok(()),
            Err(TryQueueError::Full) => Err(IntakeError::Busy),
            Err(TryQueueError::Closed) => Err(IntakeError::Unavailable("shutting down".into())),
        }
    }

    pub async fn interaction(&self, ev: &SlackInteractionEvent) -> Result<(), IntakeError> {
        match ingest::interaction(ev)? {
            Some(event) => self.enqueue(event).await,
            None => Ok(()),
        }
    }

    /// Queues an Events API callback once per `event_id`, however often Slack
    /// delivers it. Returns false for a redelivery.
    pub async fn push(&self, callback: &SlackPushEventCallback) -> Result<bool, IntakeError> {
        let event_id = callback.event_id.to_string();
        let now = self.clock.now();
        let id = event_id.clone();
        let first = self
            .store
            .call(move |c| seen::first_delivery(c, &id, now))
            .await
            .map_err(|e| IntakeError::Unavailable(format!("{e:#}")))?;
        if !first {
            return Ok(false);
        }
        if let Some(event) = ingest::push(callback)
            && let Err(e) = self.enqueue(event).await
        {
            // Not queued: forget the id so Slack's retry is handled.
            let _ = self.store.call(move |c| seen::forget(c, &event_id)).await;
            return Err(e);
        }
        Ok(true)
    }
}
