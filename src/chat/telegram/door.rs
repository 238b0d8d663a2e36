//! `POST /telegram/webhook`: Telegram's webhook, checked against the secret token
//! set with `setWebhook` (compared in constant time), then handed to the intake.

use super::intake::{IntakeError, TelegramIntake};
use crate::config::Secret;
use crate::http::rejections::{Rejected, Rejections};
use crate::http::{Peer, client_address};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use teloxide::types::Update;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
pub const PATH: &str = "/telegram/webhook";

pub struct TelegramDoor {
    pub secret: Secret,
    pub intake: TelegramIntake,
    pub rejections: Rejections,
}

pub fn routes(door: Arc<TelegramDoor>) -> Router {
    Router::new().route(PATH, post(webhook)).with_state(door)
}

impl TelegramDoor {
    async fn reject(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        status: StatusCode,
        reason: &str,
    ) -> Response {
        let source = client_address(headers, peer);
        self.rejections
            .note(Rejected {
                event: crate::audit::events::TELEGRAM_REQUEST_REJECTED,
                source: &source,
                path: PATH,
                reason,
                detail: "",
            })
            .await;
        (status, "refused").into_response()
    }
}

async fn webhook(
    State(door): State<Arc<TelegramDoor>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(door.secret.expose().as_bytes())) {
        let reason = if given.is_empty() {
            "missing_secret"
        } else {
            "wrong_secret"
        };
        return door
            .reject(&headers, &peer, StatusCode::UNAUTHORIZED, reason)
            .await;
    }
    let body = match body {
        Ok(b) => b,
        Err(r) => {
            return door
                .reject(&headers, &peer, r.status(), "unreadable_body")
                .await;
        }
    };
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(_) => {
            return door
                .reject(&headers, &peer, StatusCode::BAD_REQUEST, "malformed_update")
                .await;
        }
    };
    match door.intake.update(&update).await {
        Ok(_) => StatusCode::OK.into_response(),
        // Telegram redelivers an update that did not get a 2xx.
        Err(IntakeError::Busy) => {
            tracing::debug!("event queue full: Telegram will redeliver the update");
            (StatusCode::SERVICE_UNAVAILABLE, "busy, try again").into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not take a Telegram update");
            (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
        }
    }
}
