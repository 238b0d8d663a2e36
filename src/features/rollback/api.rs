//! Rollback Pilot in the REST API: `GET /api/v1/rollbacks`, where every watched
//! Argo CD application stands (the same lines as `opsmate rollback status --json`).

use super::plug::RollbackFeature;
use crate::approvals::BoxFuture;
use crate::dispatch::Context;
use crate::plugin::ApiResource;
use serde_json::{Value, json};

pub const API: &[ApiResource] = &[ApiResource {
    name: "rollbacks",
    summary: "Every watched Argo CD application: its state, since when, its degraded polls, and the rollback pull request, candidate and outcome of its current episode.",
    schema,
    read,
}];

fn read(ctx: &Context) -> BoxFuture<'_, anyhow::Result<Value>> {
    Box::pin(async move {
        let Some(r) = ctx.features.get::<RollbackFeature>() else {
            anyhow::bail!("Rollback Pilot is off");
        };
        Ok(json!({"apps": r.0.statuses(ctx).await?}))
    })
}

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["apps"],
        "properties": {"apps": {"type": "array", "items": {
            "type": "object",
            "required": ["app", "environment", "state", "degraded_polls", "episode"],
            "properties": {
                "app": {"type": "string"},
                "environment": {"type": "string"},
                "state": {"type": "string"},
                "since": {"type": ["string", "null"], "format": "date-time"},
                "degraded_polls": {"type": "integer", "minimum": 0},
                "episode": {"type": "integer"},
                "pull_request": {"type": "string"},
                "candidate": {"type": "string"},
                "outcome": {"type": "string"}
            }
        }}}
    })
}
