//! Incidents in the REST API: `GET /api/v1/incidents`, the open ones and the last
//! resolved ones.

use super::store::{self, Incident};
use crate::approvals::BoxFuture;
use crate::dispatch::Context;
use crate::plugin::ApiResource;
use serde_json::{Value, json};

/// Resolved incidents listed after the open ones.
const RECENT: usize = 50;

pub const API: &[ApiResource] = &[ApiResource {
    name: "incidents",
    summary: "Open incidents, oldest first, then the 50 most recently resolved.",
    schema,
    read,
}];

fn read(ctx: &Context) -> BoxFuture<'_, anyhow::Result<Value>> {
    Box::pin(async move {
        let (open, resolved) = ctx
            .store
            .call(|c| Ok((store::open_all(c)?, store::recently_resolved(c, RECENT)?)))
            .await?;
        Ok(json!({
            "open": open.iter().map(as_json).collect::<Vec<_>>(),
            "resolved": resolved.iter().map(as_json).collect::<Vec<_>>(),
        }))
    })
}

fn as_json(i: &Incident) -> Value {
    json!({
        "id": i.id,
        "check": i.check,
        "severity": i.severity,
        "summary": i.summary,
        "opened_at": i.opened_at,
        "acked_by": i.acked_by,
        "acked_at": i.acked_at,
        "muted_until": i.muted_until,
        "resolved_at": i.resolved_at,
        "resolved_note": i.resolved_note,
        "escalated_level": i.escalated_level,
    })
}

fn schema() -> Value {
    let incident = json!({
        "type": "object",
        "required": ["id", "check", "severity", "summary", "opened_at", "escalated_level"],
        "properties": {
            "id": {"type": "integer"},
            "check": {"type": "string"},
            "severity": {"enum": ["ok", "warn", "critical", "error"]},
            "summary": {"type": "string"},
            "opened_at": {"type": "string", "format": "date-time"},
            "acked_by": {"type": ["string", "null"]},
            "acked_at": {"type": ["string", "null"], "format": "date-time"},
            "muted_until": {"type": ["string", "null"], "format": "date-time"},
            "resolved_at": {"type": ["string", "null"], "format": "date-time"},
            "resolved_note": {"type": ["string", "null"]},
            "escalated_level": {"type": "integer", "minimum": 0}
        }
    });
    json!({
        "type": "object",
        "required": ["open", "resolved"],
        "properties": {
            "open": {"type": "array", "items": incident},
            "resolved": {"type": "array", "items": incident}
        }
    })
}
