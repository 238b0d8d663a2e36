//! The seam between the outbox and a chat platform's API.

use super::{OutboxMessage, Platform};
use crate::approvals::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// A successful delivery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivered {
    /// The platform's id for the message (Slack `ts`, Telegram `message_id`).
    pub remote_id: Option<String>,
}

/// A failed delivery, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Outage, rate limit or timeout: try again, after `after` if the platform said so.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The platform refused the message itself (bad channel, revoked token): retrying
    /// cannot help. The row is kept as `failed` with the reason.
    Permanent(String),
}

/// Sends one outbox row to its platform.
pub trait Transport: Send + Sync + 'static {
    fn deliver<'a>(
        &'a self,
        message: &'a OutboxMessage,
    ) -> BoxFuture<'a, Result<Delivered, DeliveryError>>;
}

/// The transports of the platforms that are switched on.
#[derive(Clone, Default)]
pub struct Transports {
    pub slack: Option<Arc<dyn Transport>>,
    pub telegram: Option<Arc<dyn Transport>>,
}

impl Transports {
    pub fn for_platform(&self, platform: Platform) -> Option<&Arc<dyn Transport>> {
        match platform {
            Platform::Slack => self.slack.as_ref(),
            Platform::Telegram => self.telegram.as_ref(),
        }
    }

    /// Platforms with a transport, as stored in the `platform` column.
    pub fn enabled(&self) -> Vec<&'static str> {
        [Platform::Slack, Platform::Telegram]
            .into_iter()
            .filter(|p| self.for_platform(*p).is_some())
            .map(Platform::as_str)
            .collect()
    }
}
