//! Night Watchman in the REST API: `GET /api/v1/watchman`, its last decision with
//! the reasons, the hold in force, and its recent history (checks, stops and
//! restarts, as audited).

use super::signals::holds;
use crate::approvals::BoxFuture;
use crate::audit::{self, Filter};
use crate::dispatch::Context;
use crate::domain::ActionKind;
use crate::plugin::ApiResource;
use serde_json::{Value, json};

/// History rows returned, newest first.
const HISTORY: usize = 50;

pub const API: &[ApiResource] = &[ApiResource {
    name: "watchman",
    summary: "Night Watchman's last decision and its reasons, the hold in force, its last 50 audited checks, stops and restarts, and this month's stops with their estimated savings.",
    schema,
    read,
}];

pub(super) fn read(ctx: &Context) -> BoxFuture<'_, anyhow::Result<Value>> {
    Box::pin(async move {
        let now = ctx.clock.now();
        let month = crate::clock::to_millis(crate::clock::month_start(now));
        let (last, hold, history, (nights, saved)) = ctx
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
                // The nights stopped this month and what they were estimated to save.
                let savings: (i64, f64) = c.query_row(
                    "SELECT COUNT(*), COALESCE(SUM(json_extract(params, '$.estimated_savings_usd')), 0)
                     FROM proposals WHERE kind = ?1 AND state = 'succeeded' AND created_at >= ?2",
                    rusqlite::params![ActionKind::STOP_INSTANCES.as_str(), month],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                Ok((last, holds::active(c, now)?, history, savings))
            })
            .await?;
        Ok(json!({
            "last_decision": last,
            "hold": hold.map(|h| json!({"until": h.until, "set_by": h.set_by, "reason": h.reason})),
            "history": history,
            "stops_this_month": nights,
            "saved_this_month_usd": (saved * 100.0).round() / 100.0,
        }))
    })
}

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["last_decision", "hold", "history", "stops_this_month", "saved_this_month_usd"],
        "properties": {
            "stops_this_month": {"type": "integer", "minimum": 0},
            "saved_this_month_usd": {"type": "number", "minimum": 0},
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
