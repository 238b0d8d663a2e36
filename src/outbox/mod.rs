//! The outbox: every outgoing chat message is a row before it is sent.
//!
//! A chat outage delays messages and loses none; messages survive a restart. The
//! [`sender`] task delivers them in order per destination, with exponential backoff,
//! honouring `Retry-After`.

pub mod sender;
mod sql;
mod transport;

pub use sql::{OutboxMessage, TaggedMessage};
pub use transport::{Delivered, DeliveryError, Transport, Transports};

use crate::clock::SharedClock;
use crate::domain::ApprovalId;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Notify;

/// Chat platforms OpsMate delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Slack,
    Telegram,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Telegram => "telegram",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "slack" => Some(Platform::Slack),
            "telegram" => Some(Platform::Telegram),
            _ => None,
        }
    }
}

/// Where a message goes: a platform and a channel (Slack channel id, Telegram chat id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub platform: Platform,
    pub channel: String,
}

/// What to do with the payload at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new message.
    Post,
    /// Replace an earlier message (Slack `chat.update`; the payload names it).
    Update,
    /// Answer through a per-interaction reply URL (Slack `response_url`; the payload
    /// names it).
    Respond,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Post => "post",
            Operation::Update => "update",
            Operation::Respond => "respond",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "post" => Some(Operation::Post),
            "update" => Some(Operation::Update),
            "respond" => Some(Operation::Respond),
            _ => None,
        }
    }
}

/// Handle for queuing messages. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    clock: SharedClock,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Queues a message and wakes the sender. Returns the row id.
    pub async fn enqueue(
        &self,
        to: Destination,
        operation: Operation,
        payload: Value,
    ) -> anyhow::Result<i64> {
        self.enqueue_for(to, operation, payload, None).await
    }

    /// Queues a message that presents a proposal: once delivered, the platform's
    /// message id is recorded on the proposal, so a decision can update it.
    pub async fn enqueue_for(
        &self,
        to: Destination,
        operation: Operation,
        payload: Value,
        approval: Option<ApprovalId>,
    ) -> anyhow::Result<i64> {
        let now = self.clock.now();
        let id = self
            .store
            .call(move |c| sql::insert(c, &to, operation, &payload, approval.as_ref(), None, now))
            .await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// Queues a new message with a tag; once delivered, [`Outbox::tagged`] finds where
    /// it landed, so a feature can rewrite it later.
    pub async fn enqueue_tagged(
        &self,
        to: Destination,
        payload: Value,
        tag: String,
    ) -> anyhow::Result<i64> {
        let now = self.clock.now();
        let id = self
            .store
            .call(move |c| sql::insert(c, &to, Operation::Post, &payload, None, Some(&tag), now))
            .await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// The tag of a delivered message (e.g. the one a button was clicked on).
    pub async fn tag_of(
        &self,
        platform: &str,
        channel: &str,
        message_id: &str,
    ) -> anyhow::Result<Option<String>> {
        let (p, c, m) = (
            platform.to_owned(),
            channel.to_owned(),
            message_id.to_owned(),
        );
        self.store
            .call(move |conn| sql::tag_of(conn, &p, &c, &m))
            .await
    }

    /// Delivered messages whose tag starts with `prefix`.
    pub async fn tagged(&self, prefix: &str) -> anyhow::Result<Vec<TaggedMessage>> {
        let prefix = prefix.to_owned();
        self.store
            .call(move |conn| sql::tagged(conn, &prefix))
            .await
    }

    /// Deletes up to `batch` messages delivered before `before` (see
    /// `outbox.retention`); returns how many.
    pub async fn prune_delivered(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        batch: usize,
    ) -> anyhow::Result<usize> {
        self.store
            .call(move |c| sql::prune_delivered(c, before, batch))
            .await
    }

    /// Messages not yet delivered, and the age in seconds of the oldest.
    pub async fn depth(&self) -> anyhow::Result<(i64, i64)> {
        let now = self.clock.now();
        self.store.call(move |c| sql::depth(c, now)).await
    }

    /// Messages given up on for good.
    pub async fn failed_count(&self) -> anyhow::Result<i64> {
        self.store
            .call(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM outbox WHERE state = 'failed'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
    }

    pub async fn get(&self, id: i64) -> anyhow::Result<Option<OutboxMessage>> {
        self.store.call(move |c| sql::get(c, id)).await
    }

    pub(crate) fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }
}
