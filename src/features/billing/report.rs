//! Usage records to Lemon Squeezy: `POST {api_url}/v1/usage-records` for the
//! subscription item, `action = increment`, one queued report at a time in order.
//!
//! Reports are rows ([`super::store`]) written in the same transaction that counted
//! their actions, so a restart or an outage delays them and loses none: a refused
//! one for a reason that may pass (no answer, 429, 5xx, the API key not set yet) is
//! sent again after a doubling wait; one Lemon Squeezy refuses for good (another
//! 4xx) is kept as failed, audited, and shown by `billing status`.

use super::Billing;
use super::config::API_KEY_VAR;
use super::store::{self, Report};
use crate::audit;
use crate::dispatch::Context;
use serde_json::json;
use std::time::Duration;

/// How long one call may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    Retry(String),
    Failed(String),
}

/// The usage record's JSON:API body.
pub fn body(r: &Report) -> serde_json::Value {
    json!({
        "data": {
            "type": "usage-records",
            "attributes": {"quantity": r.quantity, "action": "increment"},
            "relationships": {
                "subscription-item": {"data": {"type": "subscription-items", "id": r.item_id}}
            }
        }
    })
}

/// `first`, doubled per attempt, at most five minutes.
pub fn backoff(first: Duration, attempts: i64) -> Duration {
    first
        .saturating_mul(1u32 << attempts.clamp(0, 16))
        .min(MAX_BACKOFF)
}

impl Billing {
    /// Sends every due report, oldest first, until one does not arrive. Returns how
    /// many arrived.
    pub async fn report_once(&self, ctx: &Context) -> anyhow::Result<usize> {
        let mut arrived = 0;
        loop {
            let now = ctx.clock.now();
            let Some(r) = ctx.store.call(move |c| store::due_report(c, now)).await? else {
                return Ok(arrived);
            };
            let attempt = self.send(ctx, &r).await;
            let now = ctx.clock.now();
            let (id, quantity, item) = (r.id, r.quantity, r.item_id.clone());
            match attempt {
                Attempt::Delivered => {
                    arrived += 1;
                    ctx.store
                        .call(move |c| {
                            crate::store::immediate(c, |tx| {
                                store::delivered(tx, id, now)?;
                                audit::append(
                                    tx,
                                    now,
                                    "billing",
                                    audit::events::BILLING_USAGE_REPORTED,
                                    &format!("subscription-item:{item}"),
                                    &json!({"report": id, "quantity": quantity}),
                                )?;
                                Ok(())
                            })
                        })
                        .await?;
                }
                Attempt::Retry(why) => {
                    let wait = backoff(self.settings.retry_backoff, r.attempts);
                    tracing::warn!(report = id, error = %why, "usage report not delivered; trying again in {}", humantime::format_duration(wait));
                    let next = now + chrono::Duration::from_std(wait)?;
                    ctx.store
                        .call(move |c| store::retry(c, id, &why, next))
                        .await?;
                    return Ok(arrived);
                }
                Attempt::Failed(why) => {
                    tracing::error!(report = id, error = %why, "Lemon Squeezy refused a usage report for good");
                    ctx.store
                        .call(move |c| {
                            crate::store::immediate(c, |tx| {
                                store::failed(tx, id, &why)?;
                                audit::append(
                                    tx,
                                    now,
                                    "billing",
                                    audit::events::BILLING_USAGE_REPORT_FAILED,
                                    &format!("subscription-item:{item}"),
                                    &json!({"report": id, "quantity": quantity, "error": why}),
                                )?;
                                Ok(())
                            })
                        })
                        .await?;
                }
            }
        }
    }

    async fn send(&self, ctx: &Context, r: &Report) -> Attempt {
        let Some(key) = ctx.secrets.named(API_KEY_VAR) else {
            return Attempt::Retry(format!("{API_KEY_VAR} is not set"));
        };
        let url = format!(
            "{}/v1/usage-records",
            self.settings.api_url.trim_end_matches('/')
        );
        let sent = self
            .http
            .post(&url)
            .bearer_auth(key.expose())
            .header("Accept", "application/vnd.api+json")
            .header("Content-Type", "application/vnd.api+json")
            .body(body(r).to_string())
            .send()
            .await;
        match sent {
            Err(e) => Attempt::Retry(format!("Lemon Squeezy did not answer: {e}")),
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    return Attempt::Delivered;
                }
                let text: String = resp
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                let why = format!("Lemon Squeezy answered {status}: {text}");
                if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 401 {
                    // 401: a key being rotated; it is shown as the last error meanwhile.
                    Attempt::Retry(why)
                } else {
                    Attempt::Failed(why)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_lemon_squeezys_usage_record() {
        let b = body(&Report {
            id: 1,
            item_id: "99".into(),
            quantity: 3,
            attempts: 0,
        });
        assert_eq!(b["data"]["type"], "usage-records");
        assert_eq!(b["data"]["attributes"]["quantity"], 3);
        assert_eq!(b["data"]["attributes"]["action"], "increment");
        assert_eq!(
            b["data"]["relationships"]["subscription-item"]["data"]["id"],
            "99"
        );
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let s = Duration::from_secs(1);
        assert_eq!(backoff(s, 0), s);
        assert_eq!(backoff(s, 3), Duration::from_secs(8));
        assert_eq!(backoff(s, 40), MAX_BACKOFF);
    }
}
