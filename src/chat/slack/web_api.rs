//! Delivery of outbox rows through Slack's Web API with slack-morphism's client:
//! `chat.postMessage`, `chat.update`, and answers through a `response_url`.
//!
//! The client throttles itself to Slack's per-method tiers; it does not retry, so a
//! `429` comes back here with its `Retry-After` and the outbox schedules the retry
//! (durably, across restarts). Each failure is sorted into "try again" or "retrying
//! cannot help", so an outage delays a message and a bad channel does not block the
//! queue forever.

use crate::approvals::BoxFuture;
use crate::config::Secret;
use crate::outbox::{Delivered, DeliveryError, Operation, OutboxMessage, Transport};
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Slack errors after which the same request can succeed later.
const TRANSIENT_ERRORS: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
];

/// Longest wait for a TCP connection to Slack (the whole request is bounded by the
/// outbox's delivery timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP connector: TLS with the system's roots, plain HTTP allowed for local
/// Slack fakes and proxies.
pub type SlackConnector =
    SlackClientHyperConnector<TimeoutConnector<hyper_rustls::HttpsConnector<HttpConnector>>>;
pub type Slack = SlackClient<SlackConnector>;

/// Builds slack-morphism's client against `api_url`, throttled to Slack's per-method
/// tiers. It never retries by itself: a 429 comes back to the outbox, which owns retries.
/// A request that gets no answer within `answer_timeout` fails as a network error.
pub fn client(api_url: &str, answer_timeout: Duration) -> anyhow::Result<Arc<Slack>> {
    build(
        api_url,
        Some(SlackApiRateControlConfig::new().with_max_retries(0)),
        answer_timeout,
    )
}

/// A client without the crate's throttle, for `response_url` answers: the crate keys
/// its webhook limit (one a second) globally, while each `response_url` belongs to one
/// interaction, so one person's answer would wait behind everyone else's.
pub fn webhook_client(api_url: &str, answer_timeout: Duration) -> anyhow::Result<Arc<Slack>> {
    build(api_url, None, answer_timeout)
}

fn build(
    api_url: &str,
    rate_control: Option<SlackApiRateControlConfig>,
    answer_timeout: Duration,
) -> anyhow::Result<Arc<Slack>> {
    // Small requests on kept-alive connections: without TCP_NODELAY, Nagle's
    // algorithm holds each request's last segment until the previous one is
    // acknowledged, and a delayed ACK makes that about 40 ms per message.
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    // The bound is on the connection, not around the call: waiting in the crate's
    // throttle for a turn is not a stuck Slack. A read that waits longer than
    // `answer_timeout` fails; a write restarts the wait, so an idle pooled
    // connection picked for a new request is not cut off by its idle time.
    let mut https = TimeoutConnector::new(https);
    https.set_connect_timeout(Some(CONNECT_TIMEOUT));
    https.set_read_timeout(Some(answer_timeout));
    https.set_write_timeout(Some(answer_timeout));
    https.set_reset_reader_on_write(true);
    let mut connector = SlackClientHyperConnector::with_connector(https)
        .with_slack_api_url(api_url.trim_end_matches('/'));
    if let Some(rc) = rate_control {
        connector = connector.with_rate_control(rc);
    }
    Ok(Arc::new(SlackClient::new(connector)))
}

/// The outbox transport for Slack.
pub struct SlackWebApi {
    client: Arc<Slack>,
    webhooks: Arc<Slack>,
    token: SlackApiToken,
}

impl SlackWebApi {
    pub fn new(client: Arc<Slack>, webhooks: Arc<Slack>, token: &Secret) -> Self {
        Self {
            client,
            webhooks,
            token: SlackApiToken::new(SlackApiTokenValue::new(token.expose().to_owned())),
        }
    }

    async fn send(&self, msg: &OutboxMessage) -> Result<Delivered, DeliveryError> {
        let mut body = msg.payload.clone();
        let Some(obj) = body.as_object_mut() else {
            return Err(DeliveryError::Permanent(
                "payload is not a JSON object".into(),
            ));
        };
        // A post or an update names its channel; an answer through a response_url
        // goes where the URL points (its queue name is not a channel).
        if msg.operation != Operation::Respond {
            obj.insert(
                "channel".into(),
                Value::String(msg.destination.channel.clone()),
            );
        }
        let session = self.client.open_session(&self.token);
        match msg.operation {
            Operation::Post => {
                let req: SlackApiChatPostMessageRequest = decode(body)?;
                let sent = session.chat_post_message(&req).await.map_err(classify)?;
                Ok(Delivered {
                    remote_id: Some(sent.ts.to_string()),
                })
            }
            Operation::Update => {
                let req: SlackApiChatUpdateRequest = decode(body)?;
                let sent = session.chat_update(&req).await.map_err(classify)?;
                Ok(Delivered {
                    remote_id: Some(sent.ts.to_string()),
                })
            }
            Operation::Respond => {
                let url = obj_str(&body, "response_url").ok_or_else(|| {
                    DeliveryError::Permanent("respond payload without response_url".into())
                })?;
                let url: SlackResponseUrl =
                    SlackResponseUrl::new(url.parse().map_err(|_| {
                        DeliveryError::Permanent("response_url is not a URL".into())
                    })?);
                let req: SlackApiPostWebhookMessageRequest = decode(body)?;
                self.webhooks
                    .respond_to_event(&url, &req)
                    .await
                    .map_err(classify)?;
                Ok(Delivered::default())
            }
        }
    }
}

fn obj_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn decode<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, DeliveryError> {
    serde_json::from_value(body).map_err(|e| {
        DeliveryError::Permanent(format!("payload does not fit the Slack request: {e}"))
    })
}

/// Sorts a client error into retry-later or give-up.
fn classify(e: SlackClientError) -> DeliveryError {
    match e {
        SlackClientError::RateLimitError(e) => DeliveryError::Retry {
            after: e.retry_after,
            reason: "rate limited (429)".into(),
        },
        SlackClientError::ApiError(e) if TRANSIENT_ERRORS.contains(&e.code.as_str()) => {
            DeliveryError::Retry {
                after: None,
                reason: e.code,
            }
        }
        SlackClientError::ApiError(e) => DeliveryError::Permanent(e.code),
        SlackClientError::HttpError(e) if e.status_code.is_server_error() => DeliveryError::Retry {
            after: None,
            reason: format!("HTTP {}", e.status_code),
        },
        SlackClientError::HttpError(e) => {
            DeliveryError::Permanent(format!("HTTP {}", e.status_code))
        }
        // Slack answered 200 but the answer does not parse: the message was most
        // likely posted, and retrying would post it twice.
        SlackClientError::ProtocolError(e) => {
            DeliveryError::Permanent(format!("unreadable answer from Slack: {e}"))
        }
        // A connection or answer that took longer than the connector allows.
        other if timed_out(&other) => DeliveryError::Retry {
            after: None,
            reason: "no answer from Slack in time (outbox.delivery_timeout)".into(),
        },
        // Connection refused, reset, unreadable answers: the network.
        other => DeliveryError::Retry {
            after: None,
            reason: other.to_string(),
        },
    }
}

/// True when the error's cause is a timeout of the connection (the connector's own).
fn timed_out(e: &SlackClientError) -> bool {
    let SlackClientError::HttpProtocolError(e) = e else {
        return false;
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e
        .cause
        .as_deref()
        .map(|c| c as &(dyn std::error::Error + 'static));
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

impl Transport for SlackWebApi {
    fn deliver<'a>(
        &'a self,
        message: &'a OutboxMessage,
    ) -> BoxFuture<'a, Result<Delivered, DeliveryError>> {
        Box::pin(self.send(message))
    }
}
