//! The sender task: delivers due outbox rows, one destination queue head at a time.

use super::sql;
use super::{DeliveryError, Destination, Outbox, OutboxMessage, Transports};
use crate::audit;
use crate::config::OutboxConfig;
use crate::metrics::{Metrics, StateLabels};
use crate::store;
use chrono::Utc;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest the sender sleeps without looking at the table again.
const IDLE_POLL: Duration = Duration::from_secs(30);
/// Rows taken per pass.
const BATCH: usize = 64;
/// Queue heads delivered at once. Each head is a different destination, so this
/// keeps order within each queue while one slow destination does not hold up the
/// others' answers.
const CONCURRENT_DELIVERIES: usize = 16;
/// How long a stop waits for deliveries in flight.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Delay before attempt `attempt + 1`, after `attempt` failures: exponential, capped.
pub fn backoff(config: &OutboxConfig, failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    config
        .initial_backoff
        .saturating_mul(1u32 << exp)
        .min(config.max_backoff)
}

/// Delivers outbox rows until shut down. Cheap to clone.
#[derive(Clone)]
pub struct Sender {
    outbox: Outbox,
    transports: Transports,
    config: OutboxConfig,
    metrics: Metrics,
}

impl Sender {
    pub fn new(
        outbox: Outbox,
        transports: Transports,
        config: OutboxConfig,
        metrics: Metrics,
    ) -> Self {
        Self {
            outbox,
            transports,
            config,
            metrics,
        }
    }

    /// Runs until `shutdown` fires. Every due queue head whose destination has no
    /// delivery in flight is started at once (up to [`CONCURRENT_DELIVERIES`]), and
    /// each finished delivery frees its destination: a destination that answers
    /// slowly, or not at all until its transport's timeout, holds back only its own
    /// queue. Attempts still in flight at shutdown get [`STOP_GRACE`] to finish; one
    /// cut off then stays queued and is sent after the restart.
    pub async fn run(self, shutdown: CancellationToken) {
        let wake = self.outbox.wake_handle();
        let platforms = self.transports.enabled();
        if platforms.is_empty() {
            tracing::info!("outbox sender idle: no chat platform is enabled; messages stay queued");
        }
        let mut flight = InFlight::default();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if let Err(e) = self.start_due(&platforms, &mut flight).await {
                tracing::warn!(error = %format!("{e:#}"), "outbox pass failed; will retry");
            }
            // While deliveries are under way, the next one to finish wakes the loop;
            // only an idle sender needs to know when the next retry falls due.
            let sleep_for = if flight.attempts.is_empty() {
                match self.next_due(&platforms).await {
                    Ok(Some(at)) => (at - self.outbox.clock().now())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        .clamp(Duration::from_millis(5), IDLE_POLL),
                    _ => IDLE_POLL,
                }
            } else {
                Duration::from_millis(250)
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(done) = flight.attempts.join_next_with_id(), if !flight.attempts.is_empty() => {
                    flight.finished(done);
                    // Others that finished meanwhile free their queues in the same turn.
                    while let Some(done) = flight.attempts.try_join_next_with_id() {
                        flight.finished(done);
                    }
                }
                _ = wake.notified() => {}
                _ = tokio::time::sleep(sleep_for) => {}
            }
        }
        let grace = tokio::time::timeout(STOP_GRACE, async {
            while let Some(done) = flight.attempts.join_next_with_id().await {
                flight.finished(done);
            }
        });
        if grace.await.is_err() {
            tracing::warn!(
                left = flight.attempts.len(),
                "deliveries still waiting for an answer at the stop stay queued"
            );
            flight.attempts.abort_all();
        }
        tracing::info!("outbox sender stopped");
    }

    async fn next_due(
        &self,
        platforms: &[&'static str],
    ) -> anyhow::Result<Option<chrono::DateTime<Utc>>> {
        let platforms = platforms.to_vec();
        self.outbox
            .store()
            .call(move |c| sql::next_due(c, &platforms))
            .await
    }

    /// Starts a delivery for every due queue head whose destination is free.
    async fn start_due(
        &self,
        platforms: &[&'static str],
        flight: &mut InFlight,
    ) -> anyhow::Result<()> {
        if platforms.is_empty() || flight.attempts.len() >= CONCURRENT_DELIVERIES {
            return Ok(());
        }
        let now = self.outbox.clock().now();
        let p = platforms.to_vec();
        let due = self
            .outbox
            .store()
            .call(move |c| sql::due_heads(c, &p, now, BATCH))
            .await?;
        for msg in due {
            if flight.attempts.len() >= CONCURRENT_DELIVERIES {
                break;
            }
            let this = self.clone();
            let destination = msg.destination.clone();
            flight.start(destination, async move { this.attempt(msg).await });
        }
        Ok(())
    }

    /// Delivers one row and records the result. Returns true if it was sent.
    async fn attempt(&self, msg: OutboxMessage) -> anyhow::Result<bool> {
        let Some(transport) = self.transports.for_platform(msg.destination.platform) else {
            return Ok(false);
        };
        // Every transport bounds its own calls (Slack's connector by
        // `outbox.delivery_timeout`, teloxide's client by its 5 s connect and 17 s
        // total): a platform that never answers fails the attempt, which is retried
        // like any other transient failure, holding only this queue meanwhile.
        let result = transport.deliver(&msg).await;
        let now = self.outbox.clock().now();
        let id = msg.id;
        let label = |s: &str| StateLabels {
            state: s.to_owned(),
        };
        match result {
            Ok(done) => {
                self.metrics
                    .outbox_deliveries
                    .get_or_create(&label("sent"))
                    .inc();
                self.outbox
                    .store()
                    .call(move |c| {
                        store::immediate(c, |tx| {
                            sql::mark_sent(tx, id, done.remote_id.as_deref(), now)
                        })
                    })
                    .await?;
                Ok(true)
            }
            Err(DeliveryError::Retry { after, reason }) => {
                self.metrics
                    .outbox_deliveries
                    .get_or_create(&label("retry"))
                    .inc();
                let wait = after.unwrap_or_else(|| backoff(&self.config, msg.attempts + 1));
                let next =
                    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
                tracing::info!(outbox_id = id, attempts = msg.attempts + 1, wait_ms = wait.as_millis() as u64, %reason, "delivery deferred");
                self.outbox
                    .store()
                    .call(move |c| sql::mark_retry(c, id, next, &reason))
                    .await?;
                Ok(false)
            }
            Err(DeliveryError::Permanent(reason)) => {
                self.metrics
                    .outbox_deliveries
                    .get_or_create(&label("failed"))
                    .inc();
                tracing::warn!(outbox_id = id, %reason, "delivery refused by the platform; kept as failed");
                let dest = msg.destination.clone();
                self.outbox
                    .store()
                    .call(move |c| {
                        store::immediate(c, |tx| {
                            sql::mark_failed(tx, id, &reason)?;
                            audit::append(
                                tx,
                                now,
                                "system",
                                crate::audit::events::OUTBOX_FAILED,
                                &id.to_string(),
                                &json!({"platform": dest.platform, "channel": dest.channel, "error": reason}),
                            )?;
                            Ok(())
                        })
                    })
                    .await?;
                Ok(false)
            }
        }
    }
}

/// The deliveries under way, and the destination each holds.
#[derive(Default)]
struct InFlight {
    attempts: tokio::task::JoinSet<anyhow::Result<bool>>,
    holding: HashMap<tokio::task::Id, Destination>,
}

impl InFlight {
    /// Starts a delivery to `destination` unless one is under way there.
    fn start(
        &mut self,
        destination: Destination,
        attempt: impl std::future::Future<Output = anyhow::Result<bool>> + Send + 'static,
    ) -> bool {
        if self.holding.values().any(|d| *d == destination) {
            return false;
        }
        let id = self.attempts.spawn(attempt).id();
        self.holding.insert(id, destination);
        true
    }

    /// Frees a finished delivery's destination; an error recording it is logged (the
    /// row stays queued and is tried again).
    fn finished(
        &mut self,
        done: Result<(tokio::task::Id, anyhow::Result<bool>), tokio::task::JoinError>,
    ) {
        match done {
            Ok((id, result)) => {
                self.holding.remove(&id);
                if let Err(e) = result {
                    tracing::warn!(error = %format!("{e:#}"), "recording a delivery failed; will retry");
                }
            }
            Err(e) => {
                self.holding.remove(&e.id());
                tracing::error!(error = %e, "a delivery task failed; its message stays queued");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let c = OutboxConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            ..OutboxConfig::default()
        };
        assert_eq!(backoff(&c, 1), Duration::from_secs(1));
        assert_eq!(backoff(&c, 2), Duration::from_secs(2));
        assert_eq!(backoff(&c, 4), Duration::from_secs(8));
        assert_eq!(backoff(&c, 5), Duration::from_secs(10));
        assert_eq!(backoff(&c, 500), Duration::from_secs(10));
    }
}
