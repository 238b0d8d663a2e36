//! Slack's HTTP endpoints: `/slack/events`, `/slack/commands`, `/slack/interactivity`.
//!
//! Each request is verified (signature and timestamp), parsed, turned into an
//! [`crate::events::Event`] and queued; the answer is sent at once. Slow work happens in the
//! dispatcher and answers through `response_url` or `chat.update`.
//!
//! Rejections: 401 for a missing, forged or stale signature; 400 for a body that does
//! not parse; 413 for a body over 1 MiB. Each is counted and audited per source and
//! reason in windows ([`crate::http::rejections`]), so a flood cannot fill the disk.

use super::ingest::BadPayload;
use super::intake::{BUSY_TEXT, Intake, IntakeError};
use super::throttled_log::ThrottledLog;
use super::verify::{SIGNATURE_HEADER, SlackVerifier, TIMESTAMP_HEADER};
use crate::clock::SharedClock;
use crate::http::rejections::{Rejected, Rejections};
use crate::http::{Peer, client_address};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use slack_morphism::prelude::*;
use std::sync::Arc;

/// Header Slack sets on a redelivered event.
pub const RETRY_HEADER: &str = "x-slack-retry-num";

/// What the endpoints share.
pub struct SlackDoor {
    pub verifier: SlackVerifier,
    pub intake: Intake,
    pub clock: SharedClock,
    pub rejections: Rejections,
    /// One log line a minute while the event queue is full.
    pub busy_log: ThrottledLog,
}

/// The three endpoints, to merge into the app's router.
pub fn routes(door: Arc<SlackDoor>) -> Router {
    Router::new()
        .route("/slack/events", post(events))
        .route("/slack/commands", post(commands))
        .route("/slack/interactivity", post(interactivity))
        .with_state(door)
}

impl SlackDoor {
    /// Verifies the request; on failure records it and returns the response to send.
    async fn admit(
        &self,
        path: &'static str,
        headers: &HeaderMap,
        peer: &Peer,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Bytes, Response> {
        let body = match body {
            Ok(b) => b,
            Err(rejection) => {
                let status = rejection.status();
                let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "body_too_large"
                } else {
                    "unreadable_body"
                };
                self.reject(path, headers, peer, reason, &rejection.body_text())
                    .await;
                return Err((status, "request body refused").into_response());
            }
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let now = self.clock.now().timestamp();
        match self.verifier.verify(
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            &body,
            now,
        ) {
            Ok(()) => Ok(body),
            Err(rejection) => {
                self.reject(
                    path,
                    headers,
                    peer,
                    rejection.code(),
                    &rejection.to_string(),
                )
                .await;
                Err((StatusCode::UNAUTHORIZED, "invalid Slack signature").into_response())
            }
        }
    }

    /// A verified request whose body does not parse.
    async fn malformed(
        &self,
        path: &'static str,
        headers: &HeaderMap,
        peer: &Peer,
        error: &str,
    ) -> Response {
        self.reject(path, headers, peer, "malformed_payload", error)
            .await;
        (StatusCode::BAD_REQUEST, "malformed Slack payload").into_response()
    }

    async fn reject(
        &self,
        path: &'static str,
        headers: &HeaderMap,
        peer: &Peer,
        reason: &str,
        detail: &str,
    ) {
        let source = client_address(headers, peer);
        self.rejections
            .note(Rejected {
                event: crate::audit::events::SLACK_REQUEST_REJECTED,
                source: &source,
                path,
                reason,
                detail,
            })
            .await;
    }

    /// The answer to a payload the intake took (or could not take).
    async fn outcome(
        &self,
        path: &'static str,
        headers: &HeaderMap,
        peer: &Peer,
        result: Result<(), IntakeError>,
    ) -> Response {
        match result {
            Ok(()) => StatusCode::OK.into_response(),
            Err(IntakeError::Bad(e)) => self.malformed(path, headers, peer, &e.0).await,
            Err(IntakeError::Busy) => {
                self.busy_log
                    .note("event-queue", path, "queue full: command answered busy");
                Json(json!({"response_type": "ephemeral", "text": BUSY_TEXT})).into_response()
            }
            Err(IntakeError::Unavailable(why)) => {
                tracing::warn!(%why, "could not take a Slack request");
                (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
            }
        }
    }
}

async fn events(
    State(door): State<Arc<SlackDoor>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    const PATH: &str = "/slack/events";
    let body = match door.admit(PATH, &headers, &peer, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let push: SlackPushEvent = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return door.malformed(PATH, &headers, &peer, &e.to_string()).await,
    };
    match push {
        SlackPushEvent::UrlVerification(v) => {
            Json(json!({"challenge": v.challenge})).into_response()
        }
        SlackPushEvent::AppRateLimited(r) => {
            tracing::warn!(team = %r.team_id, "Slack is rate-limiting event deliveries to this app");
            StatusCode::OK.into_response()
        }
        SlackPushEvent::EventCallback(callback) => {
            let result = door.intake.push(&callback).await.map(|first| {
                if !first {
                    let retry = headers.get(RETRY_HEADER).and_then(|v| v.to_str().ok());
                    tracing::debug!(event_id = %callback.event_id, ?retry, "Slack redelivered an event already handled");
                }
            });
            door.outcome(PATH, &headers, &peer, result).await
        }
    }
}

async fn commands(
    State(door): State<Arc<SlackDoor>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    const PATH: &str = "/slack/commands";
    let body = match door.admit(PATH, &headers, &peer, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // Slack occasionally checks the certificate with `ssl_check=1`; it wants a 200.
    if serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .is_ok_and(|form| form.iter().any(|(k, v)| k == "ssl_check" && v == "1"))
    {
        return StatusCode::OK.into_response();
    }
    let result = match serde_urlencoded::from_bytes::<SlackCommandEvent>(&body) {
        Ok(command) => door.intake.command(&command).await,
        Err(e) => Err(IntakeError::Bad(BadPayload(e.to_string()))),
    };
    door.outcome(PATH, &headers, &peer, result).await
}

#[derive(Deserialize)]
struct InteractionForm {
    payload: String,
}

async fn interactivity(
    State(door): State<Arc<SlackDoor>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    const PATH: &str = "/slack/interactivity";
    let body = match door.admit(PATH, &headers, &peer, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let parsed = serde_urlencoded::from_bytes::<InteractionForm>(&body)
        .map_err(|e| BadPayload(e.to_string()))
        .and_then(|f| {
            serde_json::from_str::<SlackInteractionEvent>(&f.payload)
                .map_err(|e| BadPayload(e.to_string()))
        });
    let result = match parsed {
        Ok(interaction) => door.intake.interaction(&interaction).await,
        Err(e) => Err(IntakeError::Bad(e)),
    };
    door.outcome(PATH, &headers, &peer, result).await
}
