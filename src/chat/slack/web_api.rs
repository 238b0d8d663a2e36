//! Delivery of outbox rows through Slack's Web API (`chat.postMessage`, `chat.update`).
//!
//! Slack answers HTTP 200 with `{"ok": false, "error": "…"}` for most failures, and
//! HTTP 429 with `Retry-After` when rate limited. Each answer is sorted into "try again"
//! or "retrying cannot help", so an outage delays a message and a bad channel does not
//! block the queue forever.

use crate::approvals::BoxFuture;
use crate::config::Secret;
use crate::outbox::{Delivered, DeliveryError, Operation, OutboxMessage, Transport};
use reqwest::StatusCode;
use serde::Deserialize;
use std::time::Duration;

/// Errors after which the same request can succeed later.
const TRANSIENT_ERRORS: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
];

/// A Slack Web API client for the outbox.
pub struct SlackWebApi {
    http: reqwest::Client,
    base_url: String,
    token: Secret,
}

impl SlackWebApi {
    pub fn new(base_url: &str, token: Secret) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("opsmate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn send(&self, msg: &OutboxMessage) -> Result<Delivered, DeliveryError> {
        let method = match msg.operation {
            Operation::Post => "chat.postMessage",
            Operation::Update => "chat.update",
        };
        let mut body = msg.payload.clone();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("channel".into(), msg.destination.channel.clone().into());
        } else {
            return Err(DeliveryError::Permanent(
                "payload is not a JSON object".into(),
            ));
        }
        let response = self
            .http
            .post(format!("{}/{method}", self.base_url))
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| DeliveryError::Retry {
                after: None,
                reason: format!("{method}: {}", without_url(&e)),
            })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(DeliveryError::Retry {
                after: retry_after.or(Some(Duration::from_secs(1))),
                reason: format!("{method}: rate limited (HTTP 429)"),
            });
        }
        if status.is_server_error() {
            return Err(DeliveryError::Retry {
                after: retry_after,
                reason: format!("{method}: HTTP {status}"),
            });
        }
        if !status.is_success() {
            return Err(DeliveryError::Permanent(format!("{method}: HTTP {status}")));
        }
        let answer: SlackAnswer = response.json().await.map_err(|e| DeliveryError::Retry {
            after: None,
            reason: format!("{method}: unreadable answer: {}", without_url(&e)),
        })?;
        if answer.ok {
            return Ok(Delivered {
                remote_id: answer.ts,
            });
        }
        let error = answer.error.unwrap_or_else(|| "unknown_error".into());
        if TRANSIENT_ERRORS.contains(&error.as_str()) {
            Err(DeliveryError::Retry {
                after: retry_after,
                reason: format!("{method}: {error}"),
            })
        } else {
            Err(DeliveryError::Permanent(format!("{method}: {error}")))
        }
    }
}

impl Transport for SlackWebApi {
    fn deliver<'a>(
        &'a self,
        message: &'a OutboxMessage,
    ) -> BoxFuture<'a, Result<Delivered, DeliveryError>> {
        Box::pin(self.send(message))
    }
}

#[derive(Deserialize)]
struct SlackAnswer {
    ok: bool,
    error: Option<String>,
    ts: Option<String>,
}

/// reqwest errors print the URL; ours carry no secret, but keep log lines short.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "");
    }
    text.trim().trim_end_matches(['(', ')', ' ']).to_owned()
}
