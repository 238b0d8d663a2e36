//! Night Watchman in the REST API: `GET /api/v1/watchman`, its last decision with
//! the reasons, the hold in force, and its recent history (checks, stops and
//! restarts, as audited).

use super::signals::holds;
use crate::approvals::BoxFuture;
use crate::audit::{self, Filter};
use crate::dispatch::Context;
use crate::plugin::ApiResource;
use serde_json::{Value, json};

/// History rows returned, newest first.
const HISTORY: usize = 50;

pub const API: &[ApiResource] = &[ApiResource {
    name: "watchman",
    summary: "Night Watchman's last decision and its reasons, the hold in force, and its last 50 audited checks, stops and restarts.",
    schema,
    read,
}];

fn read(ctx: &Context) -> BoxFuture<'_, anyhow::Result<Value>> {
    Box::pin(async move {
        let now = ctx.clock.now();
        let (last, hold, history) = ctx
            .store
            .call(move |c| {
                let checked = Filter {
                    event: Some(audit::events::WATCHMAN_CHECKED.into()),
                    ..Filter::default()
                };
                let last = audit::page(c, &checked, None, 1)?.pop();
                let all = Filter {
                    event: Some("watchman.".into()),
                    ..Filter::default()
                };
                let history = audit::page(c, &all, None, HISTORY)?;
                Ok((last, holds::active(c, now)?, history))
            })
            .await?;
        Ok(json!({
            "last_decision": last,
            "hold": hold.map(|h| json!({"until": h.until, "set_by": h.set_by, "reason": h.reason})),
            "history": history,
        }))
    })
}

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["last_decision", "hold", "history"],
        "properties": {
            "last_decision": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/AuditRecord"}]},
            "hold": {"oneOf": [{"type": "null"}, {
                "type": "object",
                "required": ["until", "set_by"],
                "properties": {
                    "until": {"type": "string", "format": "date-time"},
                    "set_by": {"type": "string"},
                    "reason": {"type": ["string", "null"]}
                }
            }]},
            "history": {"type": "array", "items": {"$ref": "#/components/schemas/AuditRecord"}}
        }
    })
}
