//! Liveness and readiness.

use super::HttpState;
use crate::store::migrations;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Liveness: the process answers. Never touches the database, so a slow disk does
/// not get the process killed.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers and every embedded migration is applied.
pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<Value>) {
    let latest = migrations::latest_version();
    let checked = state
        .store
        .call(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            migrations::current_version(c)
        })
        .await;
    match checked {
        Ok(v) if v == latest => (
            StatusCode::OK,
            Json(json!({"status": "ready", "schema_version": v})),
        ),
        Ok(v) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "migrations pending", "schema_version": v, "expected": latest})),
        ),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "database unavailable"})),
            )
        }
    }
}
