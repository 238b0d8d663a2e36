//! Liveness and readiness.

use super::HttpState;
use crate::audit::heads;
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

/// Readiness: the database answers and every embedded migration is applied. The
/// body carries the audit chain's head (`ID:HASH`), so whatever scrapes it keeps a
/// copy outside the database for `opsmate audit verify --head`.
///
/// It also says this machine's role, and the primary's hostname on a replica.
pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<Value>) {
    let role = state.role.clone();
    let latest = migrations::latest_version();
    let checked = state
        .store
        .call(move |c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            let version = migrations::current_version(c)?;
            let head = if version == latest {
                heads::current(c)?
            } else {
                None
            };
            Ok((version, head))
        })
        .await;
    match checked {
        Ok((v, head)) if v == latest => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "schema_version": v,
                "audit_head": head.map(|h| h.to_string()),
                "role": role.name(),
                "primary": role.primary(),
            })),
        ),
        Ok((v, _)) => (
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
