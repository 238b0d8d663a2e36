//! The sender task: delivers due outbox rows, one destination queue head at a time.

use super::sql;
use super::{DeliveryError, Outbox, OutboxMessage, Transports};
use crate::audit;
use crate::config::OutboxConfig;
use crate::metrics::{Metrics, StateLabels};
use crate::store;
use chrono::Utc;
use serde_json::json;
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

    /// Runs until `shutdown` fires. An attempt already in flight is finished and
    /// recorded before the task returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let wake = self.outbox.wake_handle();
        let platforms = self.transports.enabled();
        if platforms.is_empty() {
            tracing::info!("outbox sender idle: no chat platform is enabled; messages stay queued");
        }
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if let Err(e) = self.deliver_due(&shutdown).await {
                tracing::warn!(error = %format!("{e:#}"), "outbox pass failed; will retry");
            }
            let sleep_for = match self.next_due(&platforms).await {
                Ok(Some(at)) => (at - self.outbox.clock().now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .clamp(Duration::from_millis(5), IDLE_POLL),
                _ => IDLE_POLL,
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(sleep_for) => {}
            }
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

    /// One pass over every due queue head. Returns how many were delivered.
    pub async fn deliver_due(&self, shutdown: &CancellationToken) -> anyhow::Result<usize> {
        let platforms = self.transports.enabled();
        if platforms.is_empty() {
            return Ok(0);
        }
        let mut delivered = 0;
        loop {
            let now = self.outbox.clock().now();
            let p = platforms.clone();
            let due = self
                .outbox
                .store()
                .call(move |c| sql::due_heads(c, &p, now, BATCH))
                .await?;
            if due.is_empty() {
                return Ok(delivered);
            }
            let mut progressed = false;
            let mut attempts = tokio::task::JoinSet::new();
            let mut failure = None;
            for msg in due {
                if shutdown.is_cancelled() {
                    break;
                }
                let this = self.clone();
                attempts.spawn(async move { this.attempt(msg).await });
                while attempts.len() >= CONCURRENT_DELIVERIES {
                    note(
                        attempts.join_next().await,
                        &mut delivered,
                        &mut progressed,
                        &mut failure,
                    );
                }
            }
            while let Some(done) = attempts.join_next().await {
                note(Some(done), &mut delivered, &mut progressed, &mut failure);
            }
            if let Some(e) = failure {
                return Err(e);
            }
            if !progressed || shutdown.is_cancelled() {
                return Ok(delivered);
            }
        }
    }

    /// Delivers one row and records the result. Returns true if it was sent.
    async fn attempt(&self, msg: OutboxMessage) -> anyhow::Result<bool> {
        let Some(transport) = self.transports.for_platform(msg.destination.platform) else {
            return Ok(false);
        };
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

/// Counts one finished attempt; the first error is kept for the pass to return.
fn note(
    done: Option<Result<anyhow::Result<bool>, tokio::task::JoinError>>,
    delivered: &mut usize,
    progressed: &mut bool,
    failure: &mut Option<anyhow::Error>,
) {
    match done {
        Some(Ok(Ok(true))) => {
            *delivered += 1;
            *progressed = true;
        }
        Some(Ok(Ok(false))) | None => {}
        Some(Ok(Err(e))) => {
            failure.get_or_insert(e);
        }
        Some(Err(e)) => {
            failure.get_or_insert(anyhow::anyhow!("delivery task failed: {e}"));
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
        };
        assert_eq!(backoff(&c, 1), Duration::from_secs(1));
        assert_eq!(backoff(&c, 2), Duration::from_secs(2));
        assert_eq!(backoff(&c, 4), Duration::from_secs(8));
        assert_eq!(backoff(&c, 5), Duration::from_secs(10));
        assert_eq!(backoff(&c, 500), Duration::from_secs(10));
    }
}
