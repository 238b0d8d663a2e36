//! Signed webhooks from outside services (GitHub, Lemon Squeezy), one door shared by
//! every feature that takes them.
//!
//! A feature lists its webhooks in its plug ([`WebhookSpec`]): the path, the secret's
//! environment variable, how the signature is checked and how a delivery is named.
//! The door checks the signature (401 otherwise, audited per window), names the
//! delivery (400 for a payload that is not one), stores it in SQLite keyed by its
//! source and delivery key, queues it and answers at once. A redelivery of a key
//! already stored is answered without being handled again. The dispatcher hands the
//! stored delivery to its feature ([`handle`]); one the process died before handling
//! is queued again at the next start ([`requeue`]).

pub mod signature;
pub mod sql;

use crate::clock::SharedClock;
use crate::config::Secret;
use crate::dispatch::Context;
use crate::events::{Event, EventQueue};
use crate::http::rejections::{Rejected, Rejections};
use crate::http::{Peer, client_address};
use crate::store::Store;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use signature::BadSignature;
use std::sync::Arc;

/// A webhook a feature takes.
pub struct WebhookSpec {
    /// Where it is served, e.g. `/github/webhook`.
    pub path: &'static str,
    /// Who sends it (`github`); deliveries are unique per source and key.
    pub source: &'static str,
    /// The environment variable with the shared signing secret. The door is served
    /// only while it is set.
    pub secret_var: &'static str,
    /// The audit event of a refused request, e.g. `github.request_rejected`.
    pub rejected_event: &'static str,
    /// Checks the request's signature over the raw body.
    pub verify: fn(&Secret, &HeaderMap, &[u8]) -> Result<(), BadSignature>,
    /// Names a verified delivery, or says why it is not one (a 400).
    pub identify: fn(&HeaderMap, &[u8]) -> Result<Identified, String>,
}

/// What a verified request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identified {
    /// A delivery to handle.
    Take(DeliveryName),
    /// A delivery the feature has no use for (GitHub's `ping`, an event it does not
    /// subscribe to): answered 200 and not stored.
    Ignore(String),
}

/// How a delivery is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryName {
    /// Unique per source: GitHub's `X-GitHub-Delivery`, or a hash of what makes a
    /// Lemon Squeezy event the same event.
    pub key: String,
    /// What the source calls the event (`pull_request`, `subscription_created`).
    pub event: String,
    /// Deliveries with the same lane are handled in arrival order (one pull request's
    /// events); others run side by side.
    pub lane: Option<String>,
}

/// A stored delivery, queued for its feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRef {
    pub source: String,
    pub key: String,
    pub lane: Option<String>,
}

/// A stored delivery, as its feature reads it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub source: String,
    pub key: String,
    pub feature: String,
    pub event: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// One webhook's door.
pub struct WebhookDoor {
    pub spec: &'static WebhookSpec,
    /// The feature it belongs to.
    pub feature: &'static str,
    pub secret: Secret,
    pub store: Store,
    pub queue: EventQueue,
    pub clock: SharedClock,
    pub rejections: Rejections,
}

/// The door's route, to merge into the app's router.
pub fn routes(door: Arc<WebhookDoor>) -> Router {
    Router::new()
        .route(door.spec.path, post(take))
        .with_state(door)
}

impl WebhookDoor {
    async fn refuse(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        status: StatusCode,
        reason: &str,
        detail: &str,
    ) -> Response {
        let source = client_address(headers, peer);
        self.rejections
            .note(Rejected {
                event: self.spec.rejected_event,
                source: &source,
                path: self.spec.path,
                reason,
                detail,
            })
            .await;
        let text = match status {
            StatusCode::UNAUTHORIZED => "invalid signature",
            StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
            _ => "malformed delivery",
        };
        (status, Json(json!({"error": text, "reason": reason}))).into_response()
    }
}

async fn take(
    State(door): State<Arc<WebhookDoor>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) => {
            let reason = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "body_too_large"
            } else {
                "unreadable_body"
            };
            return door
                .refuse(&headers, &peer, r.status(), reason, &r.body_text())
                .await;
        }
    };
    if let Err(bad) = (door.spec.verify)(&door.secret, &headers, &body) {
        return door
            .refuse(
                &headers,
                &peer,
                StatusCode::UNAUTHORIZED,
                bad.code(),
                &bad.to_string(),
            )
            .await;
    }
    let name = match (door.spec.identify)(&headers, &body) {
        Ok(Identified::Take(name)) => name,
        Ok(Identified::Ignore(why)) => {
            tracing::debug!(source = door.spec.source, %why, "webhook delivery ignored");
            return Json(json!({"ok": true, "ignored": why})).into_response();
        }
        Err(why) => {
            return door
                .refuse(
                    &headers,
                    &peer,
                    StatusCode::BAD_REQUEST,
                    "malformed_payload",
                    &why,
                )
                .await;
        }
    };
    let row = sql::NewDelivery {
        source: door.spec.source,
        feature: door.feature,
        name: name.clone(),
        body: body.to_vec(),
        received_at: door.clock.now(),
    };
    let stored = door.store.call(move |c| sql::insert(c, &row)).await;
    match stored {
        Ok(false) => {
            tracing::debug!(source = door.spec.source, key = %name.key, "webhook redelivered; handled once already");
            Json(json!({"ok": true, "duplicate": true})).into_response()
        }
        Ok(true) => {
            let event = Event::Webhook(WebhookRef {
                source: door.spec.source.to_owned(),
                key: name.key.clone(),
                lane: name.lane.clone(),
            });
            // A closed queue means the process is stopping: the delivery is stored and
            // is handled after the next start, so it is taken all the same.
            if door.queue.send(event).await.is_err() {
                tracing::info!(source = door.spec.source, key = %name.key, "stopping: the webhook delivery is handled after the next start");
            }
            (StatusCode::ACCEPTED, Json(json!({"ok": true}))).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), source = door.spec.source, "could not store a webhook delivery");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "try again"})),
            )
                .into_response()
        }
    }
}

/// Handles one queued delivery with its feature, once: a delivery already handled is
/// left alone. A feature's error marks it failed (with the error) and is returned.
pub async fn handle(ctx: &Context, r: WebhookRef) -> anyhow::Result<()> {
    let (source, key) = (r.source.clone(), r.key.clone());
    let Some(delivery) = ctx
        .store
        .call(move |c| sql::queued(c, &source, &key))
        .await?
    else {
        return Ok(());
    };
    let result = match ctx.features.named(&delivery.feature) {
        Some(feature) => feature.webhook(ctx, &delivery).await,
        None => Err(anyhow::anyhow!(
            "{} is off: its {} delivery cannot be handled",
            delivery.feature,
            delivery.source
        )),
    };
    let now = ctx.clock.now();
    let error = result.as_ref().err().map(|e| format!("{e:#}"));
    let (source, key) = (r.source, r.key);
    ctx.store
        .call(move |c| sql::finish(c, &source, &key, error.as_deref(), now))
        .await?;
    result
}

/// Queues every delivery stored but not handled (the process stopped first), oldest
/// first. Runs beside the dispatcher at start, so a long backlog waits for room.
pub async fn requeue(store: Store, queue: EventQueue) -> anyhow::Result<usize> {
    let waiting = store.call(sql::waiting).await?;
    let n = waiting.len();
    if n > 0 {
        tracing::info!(
            deliveries = n,
            "webhook deliveries taken before the last stop are handled now"
        );
    }
    for r in waiting {
        if queue.send(Event::Webhook(r)).await.is_err() {
            break;
        }
    }
    Ok(n)
}
